"""A line document, a recording or a command can never take a number down.

Each case was found by trying the landed tree as a careless operator and an outsider would;
each test here failed before the fix (what it did then is said on the test) and passes after.
They run against one local host (`python -m devkit host`) with signed webhooks, the operator
API with the function key, Azurite, and the Twilio stand-in where Twilio is involved; the
command-line cases run `python -m switchboard` as a user would.

- instants: an override `setAt` in year 1 or 1800, an `until` in year 9999 (before: accepted,
  then every call, text and listing answered 500, or every call took seconds);
- a line stored before those checks (written to the table directly): calls and texts answered
  by its last good version or the default line, one error logged, listed as unusable, reported
  by health;
- a redirect into the app's own webhooks (before: accepted; a call went round and round), and
  the hop limit of a call's flow;
- a trailing newline in a number, a blocked caller, a language (before: accepted, and
  `<Dial>+1501...\\n</Dial>` dialled our own number, the blocked caller was not blocked);
- 17-21k emoji (before: 412 "changed meanwhile" every time, nothing logged);
- menus three levels deep (before: refused); withheld callers heard and read as withheld;
  `LINES_CLOCK` stamping nothing; an open-ended override's status saying when it ends;
- the account's credentials never sent to a recording's External Storage host;
- the command line: every error with its pointer and exit 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from devkit.simulator import Callee, CallSession, Transcript, sign_and_post
from devkit.twilio_standin import TwilioStandin
from switchboard import cli
from switchboard.lines.store import LineStore, StorageRefused
from switchboard.settings import Settings, load_settings
from switchboard.voice.flow import MAX_HOPS, TOO_LONG
from tests.conftest import SCRUBBED_PREFIXES
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.app_clients import operator_api, text
from tests.reliability.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS,
    CapturedLog,
    HostFactory,
    app_env,
)

PUBLIC = "https://lines-reliability.example.com"
CALLER = "+15558670042"
OFFICE: dict[str, Any] = {
    "name": "Reliability office",
    "timeZone": "America/New_York",
    "hours": {"mon-fri": ["09:00-17:00"]},
    "greeting": {"open": {"say": "Office open."}, "closed": {"say": "Office closed."}},
    "open": [{"hangup": {}}],
    "closed": [{"hangup": {}}],
}
WITHHELD_FORMS = ("anonymous", "+266696687")


def fresh_number() -> str:
    """A number no other test of the module uses (the lines table is shared)."""
    return "+1501" + str(uuid.uuid4().int)[:7]


@dataclass
class Stack:
    host: HostHandle
    env: dict[str, str | None]
    settings: Settings
    settings_file: Path

    def put(self, number: str, document: Any, *, exists: bool = False) -> tuple[int, Any]:
        headers = {"If-Match": "*"} if exists else {}
        return operator_api(self.host, "PUT", f"lines/{number}?force=true", document, headers)

    def call(self, to: str, from_: str = CALLER, **run: Any) -> Transcript:
        session = CallSession(
            self.host.url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            public_base_url=PUBLIC,
            from_=from_,
            to=to,
        )
        return session.run(**run)

    def store(self) -> LineStore:
        return LineStore.from_settings(self.settings)

    def write_directly(self, number: str, document: dict[str, Any]) -> None:
        """Store a document as an older version of the app could have: no validation."""
        store = self.store()
        store.write(
            number,
            {"number": number, **document},
            change="put",
            now=datetime.now(UTC),
            expected=store.get(number),
        )

    def cli(self, *args: str) -> Any:
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(SCRUBBED_PREFIXES)
        }
        return CliRunner().invoke(
            cli.cli, ["--settings", str(self.settings_file), *args], env=scrubbed
        )


@pytest.fixture(scope="module")
def stack(
    rel_host_module: HostFactory,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Stack:
    tag = uuid.uuid4().hex[:10]
    env = app_env(
        "lines",
        TABLE_LINES="rellines" + tag,
        PUBLIC_BASE_URL=PUBLIC,
        LINES_CACHE_SECONDS="0",
    )
    host = rel_host_module(PROJECT_ROOT, env)
    values = {**env, "AzureWebJobsStorage": storage_connection_string}
    folder = tmp_path_factory.mktemp("lines-cli")
    settings_file = folder / "local.settings.json"
    settings_file.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return Stack(host, env, load_settings(values), settings_file)


def twiml(transcript: Transcript) -> str:
    return "\n".join(step.body for step in transcript.webhooks)


# --- instants -----------------------------------------------------------------------------------


def test_an_override_set_in_year_one_is_refused_and_the_line_keeps_answering(stack: Stack) -> None:
    """Before: 200, then every call and text to the line and `GET /api/lines` answered 500
    (OverflowError in the line's hours)."""
    number = fresh_number()
    assert stack.put(number, OFFICE)[0] == 201
    year_one = {**OFFICE, "override": {"state": "closed", "setAt": "0001-01-01T00:00:00+14:00"}}
    status, body = stack.put(number, year_one, exists=True)
    assert status == 400, body
    assert body["error"]["field"] == "/override/setAt"
    assert stack.call(number).ok
    assert text(stack.host, CALLER, number, "hello", public_base_url=PUBLIC).status == 200
    assert operator_api(stack.host, "GET", "lines")[0] == 200


def test_an_until_in_year_9999_is_refused(stack: Stack) -> None:
    """Before: `POST .../override` with this until answered 500."""
    number = fresh_number()
    assert stack.put(number, OFFICE)[0] == 201
    status, body = operator_api(
        stack.host,
        "POST",
        f"lines/{number}/override",
        {"state": "closed", "until": "9999-12-31T23:59:59-14:00"},
    )
    assert status == 400, body
    assert body["error"]["field"] == "until"
    late = {**OFFICE, "override": {"state": "closed", "until": "9999-12-31T23:59:59-14:00"}}
    status, body = stack.put(number, late, exists=True)
    assert (status, body["error"]["field"]) == (400, "/override/until")


def test_an_old_set_at_is_refused(stack: Stack) -> None:
    """Before: accepted, and each call walked the hours from then: 1.6-3.4 s a call with a
    setAt in 2000, 8.5-27.8 s in 1800 (Twilio gives a webhook 15 s)."""
    number = fresh_number()
    for year in ("2000", "1800"):
        old = {**OFFICE, "override": {"state": "closed", "setAt": f"{year}-01-03T10:00:00Z"}}
        status, body = stack.put(number, old)
        assert status == 400, body
        assert body["error"]["field"] == "/override/setAt"
        assert "400 days" in body["error"]["message"]


def test_a_stored_line_that_cannot_be_evaluated_never_answers_5xx(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Documents stored before the instants were bounded: the call gets the last good version
    (or the default line), one error is logged, the listing and the status mark the version,
    health reports it. Before: 500 for every call, text and listing."""
    number = fresh_number()
    assert (
        stack.put(number, {**OFFICE, "open": [{"say": "Good version."}, {"hangup": {}}]})[0] == 201
    )
    broken = {**OFFICE, "override": {"state": "closed", "setAt": "0001-01-01T00:00:00+14:00"}}
    stack.write_directly(number, broken)
    for _ in range(3):
        transcript = stack.call(number)
        assert transcript.ok, transcript.text()
        assert all(step.status == 200 for step in transcript.webhooks)
    sent = [v.text for v in transcript.verbs if v.name == "Say"]
    assert "Good version." in sent or "Office closed." in sent  # version 1 answers
    assert text(stack.host, CALLER, number, "hello", public_base_url=PUBLIC).status == 200
    status, listing = operator_api(stack.host, "GET", "lines")
    assert status == 200
    item = next(i for i in listing["items"] if i["number"] == number)
    assert item["unusable"]["version"] == 2
    assert item["state"] is None
    status, line_status = operator_api(stack.host, "GET", f"lines/{number}/status")
    assert status == 200
    assert line_status["unusable"]["version"] == 2
    assert line_status["version"] == 1  # the last good version answers
    status, health = operator_api(stack.host, "GET", "health")
    assert {"number": number, "version": 2} in health["lines"]["unusable"]
    assert health["lines"]["ok"] is False
    errors = [
        line
        for line in stack.host.lines
        if "cannot be evaluated" in line and f"version 2 of the line of {number[:5]}" in line
    ]
    assert len(errors) == 1, errors
    # A stored line with no good version at all: the default line (the VOICE_* settings).
    alone = fresh_number()
    stack.write_directly(alone, broken)
    transcript = stack.call(alone)
    assert transcript.ok
    assert "switchboard-reliability" in twiml(transcript)  # the default greeting's site name
    # Writing the line again replaces the unusable version.
    assert stack.put(number, OFFICE, exists=True)[0] == 200
    listing = operator_api(stack.host, "GET", "lines")[1]
    assert "unusable" not in next(i for i in listing["items"] if i["number"] == number)


def test_an_open_ended_override_says_when_it_ends(stack: Stack) -> None:
    """Before: `"until": null` in the status of an override without until."""
    number = fresh_number()
    assert stack.put(number, OFFICE)[0] == 201
    status, body = operator_api(stack.host, "POST", f"lines/{number}/override", {"state": "closed"})
    assert status == 200, body
    assert body["reason"] == "override"
    until = body["override"]["until"]
    assert until is not None
    assert until == body["nextChange"]["at"] or until < body["nextChange"]["at"]
    document = operator_api(stack.host, "GET", f"lines/{number}")[1]
    assert document["override"]["until"] == until


# --- loops --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"{PUBLIC}/api/voice/incoming",
        "https://LINES-reliability.example.COM:443/API/Voice/../voice/incoming",
        f"{PUBLIC}/api/lines",  # any route of the app's own origin
        "https://another-switchboard.example.net/api/voice/incoming",
        "https://example.org/api/sms/%69ncoming",
    ],
)
def test_a_redirect_into_the_apps_own_webhooks_is_refused(stack: Stack, url: str) -> None:
    """Before: 201, and 12 signed hops came back with the same redirect."""
    document = {"open": [{"say": "One moment."}, {"redirect": {"url": url}}]}
    status, body = stack.put(fresh_number(), document)
    assert status == 400, body
    assert body["error"]["code"] == "redirects_to_this_app"
    assert body["error"]["field"] == "/open/1/redirect/url"


def test_a_stored_self_redirect_is_never_followed(stack: Stack) -> None:
    number = fresh_number()
    stack.write_directly(number, {"open": [{"redirect": {"url": f"{PUBLIC}/api/voice/incoming"}}]})
    transcript = stack.call(number)
    assert transcript.ok, transcript.text()
    assert len(transcript.webhooks) == 1
    assert "Redirect" not in [v.name for v in transcript.verbs]
    assert transcript.ended_by == "hangup"


def test_a_calls_flow_ends_at_its_hop_limit(stack: Stack) -> None:
    """Every action URL carries its hop; a request past MAX_HOPS says goodbye."""
    number = fresh_number()
    menu = {"prompt": {"say": "Press 1."}, "options": {"1": {"steps": [{"say": "One."}]}}}
    assert stack.put(number, {"open": [{"menu": menu}]})[0] == 201
    transcript = stack.call(number, digits=["", "1"])
    hops = [step.url.rsplit("hop=", 1)[-1] for step in transcript.webhooks[1:]]
    assert hops == ["1", "2"]  # each request of the flow one further
    params = {"AccountSid": ACCOUNT_SID, "CallSid": "CA" + uuid.uuid4().hex, "To": number}
    params |= {"From": CALLER, "Digits": "1", "CallStatus": "in-progress"}
    for hop, served in ((MAX_HOPS - 1, True), (MAX_HOPS, False)):
        url = stack.host.api(f"voice/menu?attempt=1&at=open.0&hop={hop}")
        answer = sign_and_post(url, params, auth_token=AUTH_TOKEN, public_base_url=PUBLIC)
        assert answer.status == 200
        root = ET.fromstring(answer.body)  # noqa: S314 (our own answer)
        said = [e.text for e in root.iter("Say")]
        assert ("One." in said) is served
        assert (TOO_LONG in said) is not served


# --- whole strings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"open": [{"forward": {"to": BUSINESS + "\n"}}]}, "/open/0/forward/to"),
        ({"callers": {"blocked": ["+15558670001\n"]}}, "/callers/blocked/0"),
        ({"language": "en-US\n"}, "/language"),
        ({"voice": "Polly.Joanna\n"}, "/voice"),
        ({"hours": {"mon\n": ["09:00-17:00"]}, "timeZone": "UTC"}, "/hours"),
        ({"hours": {"mon": ["09:00-17:00\n"]}, "timeZone": "UTC"}, "/hours/mon/0"),
        ({"holidays": [{"date": "12-25\n"}], "timeZone": "UTC"}, "/holidays/0/date"),
        ({"timeZone": "UTC\n"}, "/timeZone"),
        ({"name": "Main\nBcc: evil@example.org"}, "/name"),
        ({"open": [{"say": "Hi\x1b[31m"}]}, "/open/0/say"),
    ],
)
def test_a_trailing_newline_or_a_control_character_is_refused(
    stack: Stack, change: dict[str, Any], pointer: str
) -> None:
    """Before: a forward to our own number plus `\\n` was accepted and dialled
    (`<Dial>+15017120199\\n</Dial>`), a blocked caller written with `\\n` was not blocked,
    `"language": "en-US\\n"` was accepted."""
    status, body = stack.put(fresh_number(), change)
    assert status == 400, body
    assert pointer in {e["field"] for e in body["error"]["errors"]}


def test_a_blocked_caller_is_blocked(stack: Stack) -> None:
    number = fresh_number()
    assert stack.put(number, {"callers": {"blocked": [CALLER]}})[0] == 201
    transcript = stack.call(number)
    assert [v.name for v in transcript.verbs] == ["Reject"]


# --- size ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("characters", [17_000, 21_000])
def test_a_document_larger_than_table_storage_stores_is_413(stack: Stack, characters: int) -> None:
    """Before: 412 "the line was changed meanwhile" every time, even with the current ETag,
    and nothing logged (Table Storage refused a 69-84 KB property)."""
    number = fresh_number()
    assert stack.put(number, OFFICE)[0] == 201
    emoji = "\U0001f4de" * (characters // 6)  # 4 bytes each in UTF-16: 68-84 KB in all
    document = {**OFFICE, "open": [{"say": emoji} for _ in range(6)] + [{"hangup": {}}]}
    status, body = stack.put(number, document, exists=True)
    assert status == 413, body
    assert body["error"]["code"] == "too_large"
    assert "65,536 bytes" in body["error"]["message"]


def test_a_storage_refusal_is_not_a_version_conflict(stack: Stack, app_log: CapturedLog) -> None:
    """The store under the API: Table Storage's own refusal of a property over 64 KiB is
    `StorageRefused` (logged), never the `VersionConflict` the API says 412 for."""
    number = fresh_number()
    store = stack.store()
    too_big = {"number": number, "open": [{"say": "\U0001f4de" * 17_000}]}
    with pytest.raises(StorageRefused) as refused:
        store.write(number, too_big, change="put", now=datetime.now(UTC), expected=None)
    assert refused.value.too_large
    assert store.get(number) is None
    assert any("Table Storage refused" in text for _, text in app_log.records)


# --- what people hear and read -------------------------------------------------------------------


def test_menus_nest_three_levels_deep(stack: Stack) -> None:
    """Before: refused ("menus nest at most 3 deep") although the README allows three."""
    step: dict[str, Any] = {"say": "Deepest option."}
    for level in range(3):
        step = {
            "menu": {"prompt": {"say": f"Level {3 - level}."}, "options": {"1": {"steps": [step]}}}
        }
    number = fresh_number()
    status, body = stack.put(number, {"open": [step]})
    assert status == 201, body
    transcript = stack.call(number, digits=["1", "1", "1"])
    assert "Deepest option." in [v.text for v in transcript.verbs]


@pytest.mark.parametrize("withheld", WITHHELD_FORMS)
def test_a_withheld_caller_is_named_as_withheld_in_the_whisper(stack: Stack, withheld: str) -> None:
    """Before: "from a n o n y m o u s", "from 2 6 6, 6 9 6 6 8 7"."""
    person = "+15005550009"
    number = fresh_number()
    ring = {"ring": {"people": [{"name": "Ana", "number": person}], "confirm": True}}
    assert stack.put(number, {"name": "Front desk", "open": [ring]})[0] == 201
    transcript = stack.call(number, from_=withheld, callees={person: Callee(digits="1")})
    said = [v.text for step in transcript.steps if step.kind == "whisper" for v in _says(step)]
    assert "Call for Front desk from a withheld number. Press 1 to accept." in said, said


def _says(step: Any) -> list[Any]:
    return [c for v in step.verbs for c in [v, *v.children] if c.name == "Say"]


def test_a_withheld_caller_is_named_as_withheld_in_the_voicemail_text(stack: Stack) -> None:
    """Before: "Voicemail on Main line from +266 696687"."""
    number = fresh_number()
    notify = {"sms": ["+15005550010"]}
    document = {"name": "Main line", "open": [{"voicemail": {"notify": notify}}]}
    assert stack.put(number, document)[0] == 201
    transcript = stack.call(number, from_="+266696687")
    assert transcript.ok, transcript.text()
    bodies = _schedule_bodies(stack.settings)
    notices = [b for b in bodies if b.startswith("Voicemail on Main line")]
    assert notices, bodies
    assert all("from a withheld number" in b for b in notices), notices


def _schedule_bodies(settings: Settings) -> list[str]:
    from azure.data.tables import TableClient

    table = TableClient.from_connection_string(
        str(settings.azure_web_jobs_storage), settings.table_sms_schedule
    )
    with table:
        rows = table.query_entities("RowKey eq 'schedule'")
        return [str(row.get("Body") or "") for row in rows]


def test_lines_clock_changes_evaluation_only(
    rel_host: HostFactory, storage_connection_string: str
) -> None:
    """Before: a host with `LINES_CLOCK` stamped `updatedAt` and an override's `setAt` with
    the test clock."""
    env = app_env(
        "clock",
        TABLE_LINES="relclock" + uuid.uuid4().hex[:10],
        PUBLIC_BASE_URL=PUBLIC,
        LINES_CLOCK="2026-12-24T09:00:00-05:00",  # a Thursday morning in New York
    )
    host = rel_host(PROJECT_ROOT, env)
    number = fresh_number()
    before = datetime.now(UTC) - timedelta(minutes=1)
    put = operator_api(host, "PUT", f"lines/{number}?force=true", OFFICE)
    assert put[0] == 201
    status, body = operator_api(host, "POST", f"lines/{number}/override", {"state": "closed"})
    assert status == 200, body
    assert body["override"]["until"].startswith("2026-12-24T17:00:00")  # the test clock's day
    set_at = datetime.fromisoformat(body["override"]["setAt"])
    assert before <= set_at <= datetime.now(UTC) + timedelta(minutes=1)  # the real time
    history = operator_api(host, "GET", f"lines/{number}/history")[1]["items"]
    for version in history:
        updated = datetime.fromisoformat(version["updatedAt"].replace("Z", "+00:00"))
        assert before <= updated <= datetime.now(UTC) + timedelta(minutes=1)


# --- credentials ----------------------------------------------------------------------------------


def test_a_recording_in_external_storage_is_fetched_without_credentials(
    storage_connection_string: str,
) -> None:
    """Before: `download_media` sent `Authorization: Basic <account SID:auth token>` (the token
    that signs every webhook) to the External Storage host of the recording."""
    from switchboard.voicemail.mailing import fetch_audio

    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as standin:
        settings = load_settings(
            {
                "AzureWebJobsStorage": storage_connection_string,
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_API_BASE_URL": standin.base_url,
            }
        )
        kept = standin.add_recording(external=True, duration=3)
        assert not kept["media_url"].startswith(standin.base_url)
        audio, missing = fetch_audio({"RecordingSid": kept["sid"]}, settings)
        assert missing is None
        assert audio is not None
        assert audio.content_type == "audio/mpeg"
        received = standin.external_requests()
        assert len(received) == 1
        assert not {k.lower() for k in received[0]["headers"]} & {"authorization", "cookie"}
        # The resource itself is read from Twilio's API, with the credentials.
        fetched = standin.requests(resource="Recordings")
        assert fetched
        own = standin.add_recording(duration=3)
        assert fetch_audio({"RecordingSid": own["sid"]}, settings)[0] is not None
        assert len(standin.external_requests()) == 1  # Twilio-kept media never goes there
        # In Azure, plain http to another host is refused (the audio is linked instead).
        azure = load_settings(
            {
                **{k: str(v) for k, v in _env_of(settings).items()},
                "TWILIO_API_BASE_URL": standin.base_url,
                "WEBSITE_INSTANCE_ID": "rel-instance",
            }
        )
        audio, missing = fetch_audio({"RecordingSid": kept["sid"]}, azure)
        assert audio is None
        assert missing is not None
        assert "not one the app fetches" in missing
        assert len(standin.external_requests()) == 1


def _env_of(settings: Settings) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": str(settings.azure_web_jobs_storage),
        "TWILIO_ACCOUNT_SID": str(settings.twilio_account_sid),
        "TWILIO_AUTH_TOKEN": str(settings.twilio_auth_token),
    }


# --- the command line -----------------------------------------------------------------------------

THREE_ERRORS: dict[str, Any] = {
    "timeZone": "Mars/Base",
    "open": [{"forward": {"to": "555-1234"}}],
    "language": "en-US\n",
}


@pytest.mark.parametrize("existing", [False, True])
def test_lines_set_prints_every_error_with_its_pointer(
    stack: Stack, tmp_path: Path, existing: bool
) -> None:
    """Before: over an existing line, a traceback (an uncaught LineError) and only the first of
    three errors; a new line got a clean list."""
    number = fresh_number()
    if existing:
        assert stack.put(number, OFFICE)[0] == 201
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(THREE_ERRORS))
    result = stack.cli("lines", "set", number, str(bad), "--force")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for pointer in ("/timeZone", "/open/0/forward/to", "/language"):
        assert pointer in result.output, result.output


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ('{"name": "caf\u00e9"}'.encode("latin-1"), "not UTF-8"),
        (b"{'name': 'single quotes'}", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_lines_set_refuses_any_file_without_a_traceback(
    stack: Stack, tmp_path: Path, content: bytes, says: str
) -> None:
    """Before: a file nested 100,000 deep gave a RecursionError traceback."""
    path = tmp_path / "line.json"
    path.write_bytes(content)
    command = [sys.executable, "-m", "switchboard", "--settings", str(stack.settings_file)]
    result = subprocess.run(
        [*command, "lines", "set", fresh_number(), str(path), "--force"],
        cwd=PROJECT_ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert says in result.stderr


def test_lines_import_checks_everything_before_writing(stack: Stack, tmp_path: Path) -> None:
    """Before: it wrote the first file, then failed on the second's forward to one of our
    numbers (the check pass skipped the loop check)."""
    first, second = sorted([fresh_number(), fresh_number()])
    (tmp_path / f"{first}.json").write_text(json.dumps(OFFICE))
    looping = {"open": [{"forward": {"to": BUSINESS}}]}
    (tmp_path / f"{second}.json").write_text(json.dumps(looping))
    result = stack.cli("lines", "import", str(tmp_path), "--force")
    assert result.exit_code == 2, result.output
    assert "nothing imported" in result.output
    assert f"{second}.json: /open/0/forward/to" in result.output
    assert stack.store().get(first) is None  # nothing written
    redirecting = {"open": [{"redirect": {"url": f"{PUBLIC}/api/voice/incoming"}}]}
    (tmp_path / f"{second}.json").write_text(json.dumps(redirecting))
    result = stack.cli("lines", "import", str(tmp_path), "--force")
    assert result.exit_code == 2
    assert f"{second}.json: /open/0/redirect/url" in result.output
    huge = {"open": [{"say": "\U0001f4de" * 4000} for _ in range(5)]}
    (tmp_path / f"{second}.json").write_text(json.dumps(huge))
    result = stack.cli("lines", "import", str(tmp_path), "--force")
    assert result.exit_code == 2
    assert "65,536 bytes" in result.output
    assert stack.store().get(first) is None


def test_sms_import_and_call_json_refuse_bad_input_with_exit_2(
    stack: Stack, tmp_path: Path
) -> None:
    latin = tmp_path / "reminders.csv"
    latin.write_bytes(
        "to,body,sendAt\n+15558670001,caf\u00e9,2027-01-01T09:00Z\n".encode("latin-1")
    )
    result = stack.cli("sms", "import", str(latin))
    assert result.exit_code == 2, result.output
    assert "not UTF-8" in result.output
    deep = "[" * 100_000 + "]" * 100_000
    result = stack.cli("call", "--json", deep)
    assert result.exit_code == 2, result.output
    assert "nested too deeply" in result.output
    result = stack.cli("call", "--json", "{not json")
    assert result.exit_code == 2
    assert "--json: not valid JSON" in result.output
    # An id in the namespace of the calls the app places by itself: nothing enqueued.
    result = stack.cli("call", "--to", "+15558670001", "--say", "hi", "--id", "sys-callback-1")
    assert result.exit_code == 2, result.output
    assert "id: ids starting with sys- are reserved" in result.output
