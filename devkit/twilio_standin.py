"""A local stand-in for Twilio's REST API (2010-04-01), for development and tests.

``python -m devkit twilio [--port 4010] [--latency-ms N] [--fail-rate R] ...`` serves on
127.0.0.1, at Twilio's paths ``/2010-04-01/Accounts/{AccountSid}/...``:

- ``Messages.json`` (POST create, GET list with ``To``, ``From``, ``DateSent``, ``DateSent<``,
  ``DateSent>``, ``PageSize``; paging ends with ``next_page_uri: null``), ``Messages/{Sid}.json``;
- ``Calls.json`` (POST, GET), ``Calls/{Sid}.json`` (GET, POST ``Status=canceled|completed``,
  ``Twiml``, ``Url``);
- ``IncomingPhoneNumbers.json`` (seeded, configurable), ``Usage/Records.json`` (``StartDate``,
  ``EndDate``, ``Category``; seeded), ``{AccountSid}.json``;
- ``Recordings/{Sid}.json`` and the recording's audio: ``Recordings/{Sid}`` and ``.wav`` (WAV),
  ``.mp3`` (small generated files, ``devkit.twilio_standin_media``), for the recordings added with
  ``POST /_standin/recordings`` (or ``TwilioStandin.add_recording``); 404 (20404) for others;
  a ``Range`` request answered as Twilio does (206 with ``Content-Range``, 416 past the end,
  ``Accept-Ranges: bytes``), the range kept with the recorded request. A
  recording added with ``external`` is kept in External Storage: its ``media_url`` is
  ``http://localhost:<port>/_external/Recordings/{Sid}.mp3`` (another host name for the same
  server), served without Twilio's auth and recorded with every header it receives.

It checks basic auth (AccountSid:AuthToken, or API key SID:secret; 401 code 20003 otherwise),
answers Twilio's validation errors and documented magic numbers with Twilio's error JSON,
returns unique SIDs, records every request, adds latency and transient faults on demand (a
seeded rate of 429/20429, 500, 503; per-number rules), and sends status callbacks signed with
``X-Twilio-Signature`` (messages: queued → sent → delivered, or the outcome set for the
recipient or the sender, such as ``undelivered`` with 30034 for a sender that is not
registered or 30007 for a filtered text; calls: initiated → ringing →
in-progress → completed, filtered by ``StatusCallbackEvent``), optionally duplicated and
shuffled. For a call with ``Url`` it fetches the TwiML as Twilio does.

Tests use :class:`TwilioStandin`::

    with TwilioStandin(account_sid=SID, auth_token=TOKEN) as standin:
        ... standin.base_url, standin.requests(resource="Messages"), standin.wait_idle() ...

HTTP control endpoints (no auth; loopback only): ``GET|DELETE /_standin/requests``,
``GET|DELETE /_standin/callbacks``, ``GET|POST|DELETE /_standin/faults``,
``GET|POST|DELETE /_standin/outcomes``, ``GET|POST /_standin/config``,
``GET|POST /_standin/numbers``, ``GET|POST /_standin/recordings``, ``GET|DELETE
/_standin/external`` (what the External Storage host of recordings received),
``GET /_standin/state``, ``POST /_standin/reset``, ``GET /_standin/idle?timeout=S``.

Call queues (``devkit.twilio_standin_queues``): ``Queues.json`` (POST, GET), ``Queues/{Sid}.json``
(GET, POST ``MaxSize``/``FriendlyName``, DELETE), ``Queues/{Sid}/Members.json`` and
``Members/{CallSid|Front}.json``; ``GET|POST /_standin/queues`` moves calls through them as the
simulator plays ``<Enqueue>``, ``<Leave>`` and ``<Dial><Queue>`` (and moves their clock forward).
A call to a number whose outcome has ``answer: manual`` rings until ``POST
/_standin/calls/{sid}/answer`` (then ``.../hangup``); ``GET /_standin/calls?to=&status=`` lists
calls with their TwiML. ``routes`` in ``/_standin/config`` sends requests for the app's public
origin to several hosts in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from devkit.localsettings import LocalSettingsError, load_local_settings
from devkit.loop_thread import LoopThread
from devkit.twilio_standin_media import mp3_bytes, wav_bytes
from devkit.twilio_standin_model import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_APP_URL,
    DEFAULT_AUTH_TOKEN,
    CallbackDelivery,
    CallOutcome,
    FaultRule,
    MessageOutcome,
    RecordedRequest,
    StandinConfig,
    StandinStore,
    TwilioApiError,
    external_media_url,
    new_sid,
)
from devkit.twilio_standin_server import Runtime, build_app

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 4010

__all__ = [
    "CallOutcome",
    "CallbackDelivery",
    "FaultRule",
    "MessageOutcome",
    "RecordedRequest",
    "StandinError",
    "TwilioApiError",
    "TwilioStandin",
    "main",
]


class StandinError(RuntimeError):
    """The stand-in could not start (port in use, bad option); the message says why."""


class TwilioStandin:
    """The Twilio stand-in, in-process.

    ``await start()`` / ``await stop()`` run it on the current event loop; as a (sync) context
    manager it runs on its own loop in a background thread. ``port=0`` picks a free port.
    Everything below is safe to call from any thread.
    """

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        api_keys: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        fault_statuses: Sequence[int] = (429, 500, 503),
        seed: int | None = None,
        callback_delay_ms: float = 20.0,
        callback_duplicates: int = 0,
        callback_shuffle: bool = False,
        callback_timeout_s: float = 15.0,
        numbers: Sequence[Mapping[str, Any]] | None = None,
        app_url: str = DEFAULT_APP_URL,
    ) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        config = StandinConfig(
            account_sid=account_sid,
            auth_token=auth_token,
            api_keys=dict(api_keys or {}),
            latency_ms=float(latency_ms),
            fail_rate=float(fail_rate),
            fault_statuses=tuple(fault_statuses),
            seed=seed,
            callback_delay_ms=float(callback_delay_ms),
            callback_timeout_s=float(callback_timeout_s),
            callback_duplicates=int(callback_duplicates),
            callback_shuffle=bool(callback_shuffle),
            app_url=app_url,
        )
        self.store = StandinStore(config, numbers)
        self.runtime = Runtime(self.store, shuffle_rng=random.Random(seed))
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._background: LoopThread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the value of ``TWILIO_API_BASE_URL``."""
        if self.port is None:
            raise StandinError("the stand-in is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def account_sid(self) -> str:
        """The configured account SID."""
        return self.store.config.account_sid

    @property
    def auth_token(self) -> str:
        """The configured auth token (also the key of X-Twilio-Signature)."""
        return self.store.config.auth_token

    def settings(self) -> dict[str, str]:
        """The app settings that point Switchboard at this stand-in."""
        return {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_API_BASE_URL": self.base_url,
        }

    async def start(self) -> None:
        """Listen (on the running loop)."""
        if self._runner is not None:
            raise StandinError("already started")
        self._loop = asyncio.get_running_loop()
        runner = web.AppRunner(
            build_app(self.store, self.runtime), access_log=None, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise StandinError(
                    f"port {self.requested_port} is already in use on {self.host}: stop what "
                    "listens there or choose another --port"
                ) from exc
            raise StandinError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc}"
            ) from exc
        addresses = runner.addresses  # the bound port, also when port=0 was asked for
        self.port = int(addresses[0][1]) if addresses else self.requested_port
        self._runner = runner

    async def stop(self) -> None:
        """Stop callbacks in flight and the server."""
        runner, self._runner = self._runner, None
        await self.runtime.close()
        if runner is not None:
            await runner.cleanup()

    async def wait_idle_async(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
        """Wait (on the stand-in's loop) until no message/call lifecycle is running."""
        return await self.runtime.idle(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """From another thread: wait until every lifecycle (and its callbacks) is done."""
        loop = self._loop
        if loop is None:
            return True
        if self._thread is None:
            raise StandinError("wait_idle() needs the threaded stand-in; use wait_idle_async()")
        future = asyncio.run_coroutine_threadsafe(self.runtime.idle(timeout), loop)
        return bool(future.result(timeout + 5))

    def __enter__(self) -> TwilioStandin:
        background = LoopThread("twilio-standin")
        try:
            background.start(self.start, timeout=30)
        except TimeoutError as exc:
            raise StandinError(str(exc)) from None
        self._background, self._thread = background, background.thread
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        background, self._background = self._background, None
        if background is not None:
            background.stop(self.stop)
        self._thread = None
        self._loop = None

    # -- what tests read -----------------------------------------------------------------------

    def requests(
        self, method: str | None = None, path: str | None = None, resource: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded REST requests, oldest first (`resource`: Messages, Calls, Records...)."""
        return self.store.requests(method=method, path=path, resource=resource)

    def clear_requests(self) -> None:
        """Forget recorded requests."""
        self.store.clear_requests()

    def callbacks(self, sid: str | None = None, kind: str | None = None) -> list[CallbackDelivery]:
        """Status callbacks and TwiML fetches sent, in order (`kind`: message-status,
        call-status, twiml)."""
        return self.store.callbacks(sid, kind)

    def clear_callbacks(self) -> None:
        """Forget recorded deliveries."""
        self.store.clear_callbacks()

    def message(self, sid: str) -> dict[str, Any] | None:
        """A message's current JSON."""
        message = self.store.get_message(sid)
        return message.to_json() if message else None

    def call(self, sid: str) -> dict[str, Any] | None:
        """A call's current JSON."""
        call = self.store.get_call(sid)
        return call.to_json() if call else None

    def recording_audio(self, sid: str, extension: str = "mp3") -> bytes:
        """The audio the stand-in serves for a recording (`mp3` or `wav`)."""
        recording = self.store.get_recording(sid)
        if recording is None:
            raise KeyError(sid)
        make = mp3_bytes if extension == "mp3" else wav_bytes
        return make(recording.sid, recording.duration)

    def reset(self) -> None:
        """Resources, outcomes, faults and logs back to the initial state."""
        self.store.reset()

    # -- what tests configure --------------------------------------------------------------------

    def set_faults(
        self,
        *,
        fail_rate: float | None = None,
        statuses: Iterable[int] | None = None,
        latency_ms: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Change the global fault rate (and its statuses), latency, and the seed."""
        self.store.configure_faults(
            fail_rate=fail_rate, statuses=statuses, latency_ms=latency_ms, seed=seed
        )

    def add_fault(self, rule: FaultRule | None = None, **fields: Any) -> FaultRule:
        """Add a fault rule, e.g. ``add_fault(to="+1555...", status=503, times=2)``."""
        rule = rule or FaultRule.from_json(fields)
        self.store.configure_faults(rules=[rule])
        return rule

    def clear_faults(self) -> None:
        """No fault rate, no rules, no latency."""
        self.store.clear_faults()

    def set_message_outcome(
        self, to: str, status: str = "delivered", error_code: int | None = None
    ) -> None:
        """Messages to `to` end ``delivered``, ``sent``, ``undelivered`` or ``failed``."""
        self.store.set_message_outcome(to, MessageOutcome(status, error_code))

    def set_sender_outcome(
        self, sender: str, status: str = "delivered", error_code: int | None = None
    ) -> None:
        """Messages from `sender` (a number or a Messaging Service SID) end ``undelivered`` or
        ``failed`` with `error_code` (30034: not registered; 30007: filtered), whoever the
        recipient, unless the recipient has an outcome of its own."""
        self.store.set_sender_outcome(sender, MessageOutcome(status, error_code))

    def set_call_outcome(
        self,
        to: str,
        status: str = "completed",
        *,
        duration: int = 5,
        answered_by: str | None = None,
        hold: bool = False,
        answer: str = "auto",
    ) -> None:
        """Calls to `to` end ``completed``, ``busy``, ``no-answer`` or ``failed``; `hold`
        keeps an answered call in progress until it is updated; ``answer="manual"``: calls to
        `to` ring until someone answers them (the simulator's `AnsweredCall`), or their
        `Timeout` passes (no-answer)."""
        self.store.set_call_outcome(to, CallOutcome(status, duration, answered_by, hold, answer))

    def set_routes(self, routes: Mapping[str, Sequence[str]]) -> None:
        """Requests to the app's public origin go to these origins in turn (a load balancer
        in front of several hosts); they stay signed over the public URL."""
        with self.store.lock:
            self.store.config.routes = {k: list(v) for k, v in routes.items()}

    def calls_to(self, to: str, status: str | None = None) -> list[dict[str, Any]]:
        """The calls placed to `to` (Twilio's JSON), oldest first, optionally in one status."""
        with self.store.lock:
            calls = sorted(self.store.calls.values(), key=lambda c: c.sequence)
            return [c.to_json() for c in calls if c.to == to and status in (None, c.status)]

    def wait_for_call(
        self,
        to: str,
        *,
        status: str = "ringing",
        exclude: Sequence[str] = (),
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        """The first call to `to` in `status` (not one of `exclude`), waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_to(to, status) if c["sid"] not in exclude]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {status} call to {to} within {timeout} s")
            time.sleep(0.02)

    def advance_queues(self, seconds: float) -> None:
        """Move the queues' clock forward: every waiting call has waited `seconds` more."""
        self.store.queues.advance(seconds)

    def queue_snapshot(self) -> dict[str, Any]:
        """Every queue and its waiting calls (what ``GET /_standin/queues`` answers)."""
        return self.store.queues.snapshot()

    def configure_callbacks(
        self,
        *,
        delay_ms: float | None = None,
        duplicates: int | None = None,
        shuffle: bool | None = None,
    ) -> None:
        """Delay between callbacks, extra copies of each, shuffled (out-of-order) delivery."""
        with self.store.lock:
            config = self.store.config
            if delay_ms is not None:
                config.callback_delay_ms = float(delay_ms)
            if duplicates is not None:
                config.callback_duplicates = int(duplicates)
            if shuffle is not None:
                config.callback_shuffle = bool(shuffle)

    def set_numbers(self, numbers: Sequence[Mapping[str, Any]]) -> None:
        """Replace the account's IncomingPhoneNumbers."""
        self.store.set_numbers(numbers)

    def add_recording(
        self,
        *,
        sid: str | None = None,
        call_sid: str | None = None,
        duration: int = 7,
        status: str = "completed",
        external: bool = False,
    ) -> dict[str, Any]:
        """A recording of the account (what a simulated ``<Record>`` made); its JSON. Its audio
        is served at ``Recordings/{sid}`` (WAV), ``.wav`` and ``.mp3``; with `external`, the
        account keeps it in External Storage: its ``media_url`` names another loopback host
        name (this server's, `/_external/Recordings/{sid}.mp3`), which records what it
        receives (`external_requests`)."""
        sid = sid or new_sid("RE")
        media_url = None
        if external:
            if self.port is None:
                raise RuntimeError("the stand-in is not running")
            media_url = external_media_url(self.host, self.port, sid)
        return self.store.add_recording(
            sid=sid, call_sid=call_sid, duration=duration, status=status, media_url=media_url
        ).to_json()

    def external_requests(self) -> list[dict[str, Any]]:
        """What the External Storage host received: method, path and headers of each request."""
        return self.store.external_log()


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _setting(name: str, local: Mapping[str, str]) -> str | None:
    value = os.environ.get(name) or local.get(name)
    return value.strip() if value and value.strip() else None


def _outcome_arg(raw: str) -> tuple[str, str, str | None]:
    number, sep, rest = raw.partition("=")
    if not sep or not number.startswith("+"):
        raise argparse.ArgumentTypeError("expected +E164=STATUS[:VALUE]")
    status, _, value = rest.partition(":")
    return number, status, value or None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devkit twilio",
        description="A local Twilio REST API stand-in (see devkit/twilio_standin.py).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every request")
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        help="fraction of REST requests answered 429 (20429), 500 or 503",
    )
    parser.add_argument(
        "--fail-statuses", default="429,500,503", help="statuses drawn by --fail-rate"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of faults and shuffling")
    parser.add_argument("--account-sid", help="default: TWILIO_ACCOUNT_SID (env, local.settings)")
    parser.add_argument("--auth-token", help="default: TWILIO_AUTH_TOKEN (env, local.settings)")
    parser.add_argument("--api-key-sid", help="default: TWILIO_API_KEY_SID (env, local.settings)")
    parser.add_argument(
        "--api-key-secret", help="default: TWILIO_API_KEY_SECRET (env, local.settings)"
    )
    parser.add_argument(
        "--callback-delay-ms", type=float, default=50.0, help="pause between callbacks"
    )
    parser.add_argument(
        "--callback-duplicates", type=int, default=0, help="extra copies of every callback"
    )
    parser.add_argument(
        "--callback-shuffle", action="store_true", help="deliver callbacks out of order"
    )
    parser.add_argument(
        "--app-url",
        default=None,
        help="origin of the app for the seeded numbers' webhooks (default PUBLIC_BASE_URL "
        f"or {DEFAULT_APP_URL})",
    )
    parser.add_argument(
        "--message-outcome",
        action="append",
        type=_outcome_arg,
        default=[],
        metavar="+E164=STATUS[:CODE]",
        help="e.g. +15558675310=undelivered:30003",
    )
    parser.add_argument(
        "--sender-outcome",
        action="append",
        type=_outcome_arg,
        default=[],
        metavar="+E164=STATUS[:CODE]",
        help="messages from this sender, e.g. +15017122661=undelivered:30034 (not registered)",
    )
    parser.add_argument(
        "--call-outcome",
        action="append",
        type=_outcome_arg,
        default=[],
        metavar="+E164=STATUS[:SECONDS]",
        help="e.g. +15558675310=busy",
    )
    return parser


def build_from_args(args: argparse.Namespace, local: Mapping[str, str]) -> TwilioStandin:
    """A stand-in configured from the command line, the environment and local.settings.json."""
    account_sid = args.account_sid or _setting("TWILIO_ACCOUNT_SID", local) or DEFAULT_ACCOUNT_SID
    auth_token = args.auth_token or _setting("TWILIO_AUTH_TOKEN", local) or DEFAULT_AUTH_TOKEN
    key_sid = args.api_key_sid or _setting("TWILIO_API_KEY_SID", local)
    key_secret = args.api_key_secret or _setting("TWILIO_API_KEY_SECRET", local)
    if bool(key_sid) != bool(key_secret):
        raise StandinError("an API key needs both its SID and its secret")
    try:
        statuses = [int(s) for s in args.fail_statuses.split(",") if s.strip()]
    except ValueError:
        raise StandinError("--fail-statuses must be comma-separated HTTP statuses") from None
    if not 0.0 <= args.fail_rate <= 1.0:
        raise StandinError("--fail-rate must be between 0 and 1")
    app_url = args.app_url or _setting("PUBLIC_BASE_URL", local) or DEFAULT_APP_URL
    standin = TwilioStandin(
        account_sid=account_sid,
        auth_token=auth_token,
        api_keys={key_sid: key_secret} if key_sid and key_secret else None,
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        fault_statuses=statuses,
        seed=args.seed,
        callback_delay_ms=args.callback_delay_ms,
        callback_duplicates=args.callback_duplicates,
        callback_shuffle=args.callback_shuffle,
        app_url=app_url,
    )
    try:
        for number, status, value in args.message_outcome:
            standin.set_message_outcome(number, status, int(value) if value else None)
        for number, status, value in args.sender_outcome:
            standin.set_sender_outcome(number, status, int(value) if value else None)
        for number, status, value in args.call_outcome:
            standin.set_call_outcome(number, status, duration=int(value) if value else 5)
    except ValueError as exc:
        raise StandinError(str(exc)) from exc
    return standin


async def _serve(standin: TwilioStandin, credentials_source: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await standin.start()
    try:
        config = standin.store.config
        print(
            f"Twilio stand-in ready at {standin.base_url} (account {config.account_sid}, "
            f"credentials {credentials_source})"
        )
        print("Point Switchboard at it with these settings:")
        print(f"  TWILIO_API_BASE_URL={standin.base_url}")
        print(f"  TWILIO_ACCOUNT_SID={config.account_sid}")
        if config.auth_token == DEFAULT_AUTH_TOKEN:
            print(f"  TWILIO_AUTH_TOKEN={DEFAULT_AUTH_TOKEN}")
        else:
            print("  TWILIO_AUTH_TOKEN=(the token of local.settings.json / the environment)")
        if config.api_keys:
            print(f"  API key accepted: {', '.join(sorted(config.api_keys))}")
        faults = f"latency {config.latency_ms:g} ms, fail rate {config.fail_rate:g}"
        print(f"  ({faults}; requests at {standin.base_url}/_standin/requests)")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await standin.stop()
        print("Twilio stand-in stopped")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """`python -m devkit twilio ...`: serve until SIGINT/SIGTERM."""
    args = _parser().parse_args(argv)
    try:
        local = load_local_settings(PROJECT_ROOT)
    except LocalSettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    source = "from the command line / environment / local.settings.json"
    if not (args.account_sid or _setting("TWILIO_ACCOUNT_SID", local)):
        source = "the development defaults of local.settings.sample.json"
    try:
        standin = build_from_args(args, local)
        asyncio.run(_serve(standin, source))
    except StandinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 130
    return 0


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    """Whether something accepts connections on host:port within `timeout` seconds."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
