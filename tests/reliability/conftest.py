"""Reliability suite: fuzzed and forged webhooks, queue poison, storage outages, secrets in logs.

Two sizes. `pytest tests` (and `make test`) runs the default size, a few minutes at most;
`make soak` (`pytest tests/reliability -m slow`) runs the long versions. A test with both sizes
is parametrized with `sized(default, soak)`: the `soak` case carries `@pytest.mark.slow`, and
slow tests are deselected here unless a `-m` expression was given.

Every host, Twilio stand-in and Azurite a test starts, it stops. Hosts are started through
`rel_host` / `rel_host_module`, which also keep their output for the log scan of
`test_secrets_in_logs.py` (always run last); in-process log records of the `switchboard`
loggers are captured for the whole session (`app_log`). Every setting that is a secret, and
every phone number, is distinctive, so the scan can look for it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import os
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.functions as func
import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from devkit.azurite import Azurite
from devkit.ports import free_port_block
from devkit.twilio_standin import TwilioStandin
from switchboard.settings import reset_settings_cache
from tests.conftest import SCRUBBED_PREFIXES
from tests.e2e.conftest import PROJECT_ROOT, HostHandle, start_host

HERE = Path(__file__).resolve().parent

# --- distinctive secrets and numbers (the log scan looks for each) ---------------------------

ACCOUNT_SID = "AC" + "7e1ab1e5" * 4
AUTH_TOKEN = "reliabilityAuthTok3n9d41c7e0f2b6a8"
API_KEY_SID = "SK" + "5ec7e75a" * 4
API_KEY_SECRET = "reliabilityApiSecr3tQ8xZ2vN6mK4pL0"
FUNCTION_KEY = "reliabilityFunctionK3y-Hq7Wd2Zr9Tx"
SECRETS = {
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_API_KEY_SECRET": API_KEY_SECRET,
    "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
}
BUSINESS = "+15017120199"
OWNER = "+15005550006"
SALES = "+14155550123"
#: A number only hostile input mentions: it must never become the target of a verb.
INJECTED = "+19995550123"
MENU = {
    "prompt": "For sales press 1 or say sales. For our hours press 2. For voicemail press 3.",
    "options": {
        "1": {"action": "forward", "to": SALES, "words": ["sales"]},
        "2": {"action": "say", "text": "We are open nine to five."},
        "3": {"action": "voicemail", "words": ["message"]},
    },
}
#: Twilio-facing routes (auth level anonymous, signature required), under /api.
TWILIO_ROUTES = (
    "voice/incoming",
    "voice/menu",
    "voice/dial-complete",
    "voice/recording",
    "voice/whisper",
    "voice/queue-wait",
    "voice/queue-result",
    "voice/queue-offer",
    "voice/queue-connect",
    "sms/incoming",
    "status/call",
    "status/message",
)


# --- the size switch --------------------------------------------------------------------------


def sized(default: Any, soak: Any) -> pytest.MarkDecorator:
    """Parametrize `size` with the default case and the soak case (marked slow)."""
    return pytest.mark.parametrize(
        "size",
        [
            pytest.param(default, id="default"),
            pytest.param(soak, id="soak", marks=pytest.mark.slow),
        ],
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests of this folder run only when a `-m` expression asks; the log scan runs last."""
    mine = {id(item) for item in items if HERE in Path(str(item.path)).parents}
    if not config.option.markexpr:
        slow = [i for i in items if id(i) in mine and i.get_closest_marker("slow")]
        if slow:
            dropped = {id(i) for i in slow}
            config.hook.pytest_deselected(items=slow)
            items[:] = [i for i in items if id(i) not in dropped]
    scan = [i for i in items if Path(str(i.path)).name == "test_secrets_in_logs.py"]
    if scan:
        moved = {id(i) for i in scan}
        rest = [i for i in items if id(i) not in moved]
        last = max((n for n, i in enumerate(rest) if id(i) in mine), default=len(rest) - 1)
        items[:] = rest[: last + 1] + scan + rest[last + 1 :]


# --- log capture ------------------------------------------------------------------------------


@dataclass
class CapturedLog:
    """Log records of the `switchboard` loggers emitted in this process (formatted)."""

    records: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _CaptureHandler(logging.Handler):
    def __init__(self, sink: CapturedLog) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # a record that cannot be formatted is itself worth seeing
            text = f"UNFORMATTABLE {record.name} {record.msg!r} {exc!r}"
        with self.sink.lock:
            self.sink.records.append((record.name, text))


@pytest.fixture(scope="session")
def app_log() -> CapturedLog:
    """Every record of `switchboard.*` (DEBUG and up) emitted during the reliability tests."""
    return CapturedLog()


@pytest.fixture(autouse=True)
def _capture_app_log(app_log: CapturedLog) -> Iterator[None]:
    """Capture around each reliability test only (other folders may log fake data freely)."""
    handler = _CaptureHandler(app_log)
    root = logging.getLogger("switchboard")
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


# --- hosts --------------------------------------------------------------------------------------


@dataclass
class HostOutputs:
    """Every host the reliability tests started (their output outlives them)."""

    hosts: list[HostHandle] = field(default_factory=list)


@pytest.fixture(scope="session")
def host_outputs() -> HostOutputs:
    """The registry the log scan reads."""
    return HostOutputs()


HostFactory = Callable[..., HostHandle]


@contextlib.contextmanager
def _host_factory(registry: HostOutputs, storage_connection_string: str) -> Iterator[HostFactory]:
    started: list[HostHandle] = []

    def run(app_dir: Path | str, env: Mapping[str, str | None], **options: Any) -> HostHandle:
        connection = str(env.get("AzureWebJobsStorage") or storage_connection_string)
        handle = start_host(Path(app_dir), env, storage_connection_string=connection, **options)
        started.append(handle)
        registry.hosts.append(handle)
        return handle

    try:
        yield run
    finally:
        for handle in started:
            # Hosts whose storage was stopped keep a poller retrying: stop them briskly.
            handle.stop(timeout=5)


@pytest.fixture
def rel_host(host_outputs: HostOutputs, storage_connection_string: str) -> Iterator[HostFactory]:
    """`rel_host(app_dir, env, **start_host options) -> HostHandle`, stopped after the test."""
    with _host_factory(host_outputs, storage_connection_string) as factory:
        yield factory


@pytest.fixture(scope="module")
def rel_host_module(
    host_outputs: HostOutputs, storage_connection_string: str
) -> Iterator[HostFactory]:
    """Like `rel_host`, stopped after the module."""
    with _host_factory(host_outputs, storage_connection_string) as factory:
        yield factory


@pytest.fixture(scope="session")
def standin() -> Iterator[TwilioStandin]:
    """The Twilio stand-in, knowing the suite's account, auth token and API key."""
    with TwilioStandin(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_keys={API_KEY_SID: API_KEY_SECRET},
        callback_delay_ms=5,
    ) as running:
        yield running


def suffix() -> str:
    """A fresh lowercase alphanumeric suffix for table and queue names."""
    return uuid.uuid4().hex[:10]


def app_env(name: str, **overrides: str | None) -> dict[str, str | None]:
    """The settings of an app under test: every secret set (and distinctive), fresh tables
    (every one) and queue named after `name`, voice menu with forwarding and voicemail, SMS auto-reply
    and forwarding to the owner, the timer once a year unless overridden."""
    tag = name + suffix()
    env: dict[str, str | None] = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_KEY_SID": API_KEY_SID,
        "TWILIO_API_KEY_SECRET": API_KEY_SECRET,
        "TWILIO_FROM_NUMBER": BUSINESS,
        # No Twilio unless the test brings a stand-in (port 9 refuses at once): the app asks
        # Twilio for the account's numbers (the loop guard) and must never reach the internet.
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
        "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
        "TABLE_CALL_LOG": "relcall" + tag,
        "TABLE_MESSAGE_LOG": "relmsg" + tag,
        "TABLE_SMS_SCHEDULE": "relsched" + tag,
        "TABLE_OPT_OUT": "relopt" + tag,
        # Every table of its own: a row one test stores (a line that cannot be evaluated, say)
        # must not show up in another's health report or listing.
        "TABLE_LINES": "rellines" + tag,
        "TABLE_CONTACTS": "relcontacts" + tag,
        "TABLE_CONVERSATIONS": "relconv" + tag,
        "TABLE_INBOX_USERS": "relinbox" + tag,
        "TABLE_CALL_QUEUE": "relcallq" + tag,
        "OUTBOUND_CALL_QUEUE": "rel-calls-" + tag,
        "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        "WEBSITE_SITE_NAME": "switchboard-reliability",
        "VOICE_TTS_VOICE": "Polly.Joanna",
        "VOICE_LANGUAGE": "en-US",
        "VOICE_MENU": json.dumps(MENU),
        "VOICE_VOICEMAIL": "true",
        "VOICE_BLOCKED_CALLERS": "+15558670001",
        "SMS_AUTO_REPLY": "Thanks, we will text you back soon.",
        "OWNER_NUMBER": OWNER,
    }
    env.update(overrides)
    return env


LOADER = '''"""Test-only: serve the project's function_app.py with this folder's host.json."""
import importlib.util

_spec = importlib.util.spec_from_file_location("switchboard_function_app", {path!r})
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
app = _module.app
'''


def fast_app_dir(root: Path) -> Path:
    """An app folder serving the project's app with host.json's queue timings shortened
    (visibilityTimeout 1 s, polling ≤ 0.5 s); maxDequeueCount stays the project's 5."""
    host_json = json.loads((PROJECT_ROOT / "host.json").read_text())
    host_json["extensions"]["queues"]["visibilityTimeout"] = "00:00:01"
    host_json["extensions"]["queues"]["maxPollingInterval"] = "00:00:00.500"
    (root / "host.json").write_text(json.dumps(host_json))
    (root / "function_app.py").write_text(LOADER.format(path=str(PROJECT_ROOT / "function_app.py")))
    return root


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll `predicate` until it returns something truthy (returned), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- a dedicated Azurite that can be stopped and restarted with its data -----------------------


class RestartableAzurite(Azurite):
    """Azurite persisting to `data_dir` on three fixed ports, so a restart keeps everything."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(ports=0, data_dir=data_dir)
        # Three distinct ports below the kernel's ephemeral range: a restart binds them again,
        # and meanwhile no outgoing connection or port-0 bind can be handed one of them.
        first = free_port_block(3)
        self.requested = {"blob": first, "queue": first + 1, "table": first + 2}

    def restart(self) -> None:
        """Start again on the same ports with the same data."""
        self.stop()
        self.ports = {}
        self.start()
        assert self.ports == self.requested


# --- storage snapshots ----------------------------------------------------------------------


@dataclass(frozen=True)
class StorageSnapshot:
    """Every entity (table, PartitionKey, RowKey → ETag) and every queue's message count."""

    entities: dict[tuple[str, str, str], str]
    queues: dict[str, int]

    def diff(self, other: StorageSnapshot) -> list[str]:
        """What changed from this snapshot to `other`, one line each."""
        lines = []
        for key in sorted(set(self.entities) | set(other.entities)):
            if self.entities.get(key) != other.entities.get(key):
                lines.append(f"entity {key}: {self.entities.get(key)} -> {other.entities.get(key)}")
        for name in sorted(set(self.queues) | set(other.queues)):
            if self.queues.get(name, 0) != other.queues.get(name, 0):
                lines.append(f"queue {name}: {self.queues.get(name)} -> {other.queues.get(name)}")
        return lines


def snapshot_storage(connection_string: str) -> StorageSnapshot:
    """Read every table and queue of the account (Azurite)."""
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    entities: dict[tuple[str, str, str], str] = {}
    with TableServiceClient.from_connection_string(connection_string) as service:
        for table in service.list_tables():
            client = service.get_table_client(table.name)
            for entity in client.list_entities(select=["PartitionKey", "RowKey"]):
                key = (table.name, str(entity["PartitionKey"]), str(entity["RowKey"]))
                entities[key] = str(entity.metadata.get("etag"))
    queues: dict[str, int] = {}
    with QueueServiceClient.from_connection_string(connection_string) as service:
        for queue in service.list_queues():
            properties = service.get_queue_client(queue.name).get_queue_properties()
            queues[queue.name] = int(properties.approximate_message_count or 0)
    return StorageSnapshot(entities, queues)


# --- TwiML -----------------------------------------------------------------------------------

#: Every TwiML element Switchboard produces.
TWIML_TAGS = frozenset(
    {"Response", "Say", "Pause", "Gather", "Redirect", "Dial", "Number", "Record", "Hangup"}
    | {"Reject", "Message", "Body", "Media"}
    | {"Enqueue", "Queue", "Leave"}
)


def check_twiml(body: bytes, *, hostile: Sequence[str] = ()) -> ET.Element:
    """Parse a TwiML answer and check that nothing in it came from hostile input as markup.

    Well-formed, root `<Response>`, only elements Switchboard produces; a `<Dial>` calls only a
    configured number and a `<Message to=...>` goes only to the owner; at most one `<Hangup>` or
    `<Reject>`, and only as the last verb; no element or attribute equals the number hostile input
    tried to inject; every text that carries a marker from `hostile` carries it as text.
    """
    root = ET.fromstring(body)  # noqa: S314 (our own app's answer, bounded)
    assert root.tag == "Response", body[:300]
    elements = list(root.iter())
    tags = [e.tag for e in elements]
    assert set(tags) <= TWIML_TAGS, (sorted(set(tags) - TWIML_TAGS), body[:300])
    verbs = [child.tag for child in root]
    for final in ("Hangup", "Reject"):
        assert tags.count(final) <= 1, body[:500]
        if final in verbs:
            assert verbs[-1] == final, (verbs, body[:500])
    configured = {SALES, OWNER}
    for element in elements:
        values = [(element.text or "").strip(), *element.attrib.values()]
        assert INJECTED not in values, body[:500]
        if element.tag in ("Dial", "Number") and (element.text or "").strip():
            assert element.text.strip() in configured, body[:500]
        if element.tag == "Message" and "to" in element.attrib:
            assert element.attrib["to"] == OWNER, body[:500]
        for name in element.attrib:
            assert name.isidentifier(), body[:500]
    for marker in hostile:
        for element in elements:
            for value in element.attrib.values():
                assert marker not in value, (marker, body[:500])
    return root


# --- the app, in process ----------------------------------------------------------------------


@functools.cache
def app_functions() -> dict[str, Any]:
    """The app's functions by name, discovered from `function_app.app` as the host does."""
    import function_app

    app = function_app.app
    app.functions_bindings = None  # get_functions() may already have run in this process
    return {fn.get_function_name(): fn for fn in app.get_functions()}


def twilio_functions() -> dict[str, Callable[[func.HttpRequest], func.HttpResponse]]:
    """route → user function, for every anonymous HTTP route that Twilio calls (the inbox's
    routes are anonymous too, behind its own session: they are not Twilio's)."""
    found = {}
    for fn in app_functions().values():
        trigger = fn.get_trigger()
        if trigger.type == "httpTrigger" and str(trigger.auth_level).endswith("ANONYMOUS"):
            route = str(trigger.route).removeprefix("api/")
            if not route.startswith("inbox"):
                found[route] = fn.get_user_function()
    return found


def sign(url: str, pairs: Sequence[tuple[str, str]], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for a POST of `pairs` (repeated names kept) to `url`."""
    return str(RequestValidator(token).compute_signature(url, MultiDict(list(pairs))))


def form_body(pairs: Sequence[tuple[str, str]]) -> bytes:
    """application/x-www-form-urlencoded UTF-8, as Twilio posts."""
    return urlencode(list(pairs)).encode("utf-8")


@dataclass
class InProcessApp:
    """The Twilio-facing functions called directly with `func.HttpRequest` objects."""

    base_url: str
    functions: dict[str, Callable[[func.HttpRequest], func.HttpResponse]]

    def url(self, route: str, query: str = "") -> str:
        """The URL a route is called at (the public one: no proxy in between)."""
        return f"{self.base_url}/api/{route}" + (f"?{query}" if query else "")

    def post(
        self,
        route: str,
        pairs: Sequence[tuple[str, str]],
        *,
        url: str | None = None,
        signed_url: str | None = None,
        token: str = AUTH_TOKEN,
        signature: str | None = None,
        unsigned: bool = False,
        signed_pairs: Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = "application/x-www-form-urlencoded",
        body: bytes | None = None,
    ) -> func.HttpResponse:
        """POST `pairs` to `route`, signed over `signed_url` (default: the URL) and
        `signed_pairs` (default: `pairs`) with `token`, unless `signature` is given or the
        request is `unsigned` (no header at all)."""
        target = url or self.url(route)
        if signature is None:
            signature = sign(signed_url or target, signed_pairs or pairs, token)
        sent: dict[str, str] = {} if unsigned else {"X-Twilio-Signature": signature}
        if content_type is not None:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        query = urlsplit(target).query
        request = func.HttpRequest(
            method="POST",
            url=target,
            headers=sent,
            params=dict(parse_qsl(query, keep_blank_values=True)),
            route_params={},
            body=form_body(pairs) if body is None else body,
        )
        return self.functions[route](request)


@contextlib.contextmanager
def in_process_settings(env: Mapping[str, str | None]) -> Iterator[None]:
    """The app's settings as environment variables for in-process calls (restored after)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(SCRUBBED_PREFIXES):
                patch.delenv(name, raising=False)
        for name, value in env.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        reset_settings_cache()
        try:
            yield
        finally:
            reset_settings_cache()
    reset_settings_cache()


def b64(data: bytes) -> str:
    """Base64 text, as the Functions host expects queue messages."""
    return base64.b64encode(data).decode("ascii")
