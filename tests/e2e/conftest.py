"""End-to-end fixtures: a real `python -m devkit host` process against the session's Azurite.

Use the `run_host` factory (function scope) or `run_host_module` (module scope: one host shared by
a test module's tests). Both start the host, wait for its ready line and always stop it:

    def test_voice(run_host):
        host = run_host(PROJECT_ROOT, {"TWILIO_AUTH_TOKEN": "...", "DEVHOST_FUNCTION_KEY": "k"})
        response = host.request("POST", "/api/voice/incoming", form={"From": "+15558675310"})
        assert response.status == 200
        host.wait_for_log("Executed 'Functions.voice_incoming' (Succeeded")

`run_host(app_dir, env=None, *, local_settings=False, port=0, timeout=30.0) -> HostHandle`:
- `app_dir`: the folder with function_app.py and host.json (the project root for the real app);
- `env`: settings for the host process, over a copy of this environment from which Switchboard,
  Twilio and DEVHOST_ settings are removed; `AzureWebJobsStorage` is the session Azurite unless
  `env` sets it; a value of None removes a variable;
- `local_settings`: read `app_dir/local.settings.json` too (off by default, so a developer's own
  settings, such as real Twilio credentials, never leak into tests).

`HostHandle`: `.url` (origin, e.g. http://127.0.0.1:41234), `.api(path)` (URL under /api),
`.request(method, path, ...)` (never raises on 4xx/5xx), `.lines` / `.log_text()` (captured stdout
and stderr), `.wait_for_log(pattern)`, `.stop()` (SIGTERM, then kill; returns the exit code).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCRUBBED_PREFIXES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"Host listening on (http://\S+)")
_INVOCATION = re.compile(r"(Executing|Executed) 'Functions\.[^']+' \(.*?Id=([0-9a-f-]+)")


class HostStartError(RuntimeError):
    """The host exited or did not print its ready line in time; the message has its output."""


@dataclass
class HttpResult:
    """A response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class HostHandle:
    """A running `python -m devkit host` process."""

    process: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)
    returncode: int | None = None
    _new_line: threading.Condition = field(default_factory=threading.Condition)
    _output_closed: bool = False

    def api(self, path: str) -> str:
        """The URL of `path` under the default route prefix (`/api`)."""
        return f"{self.url}/api/{path.lstrip('/')}"

    def log_text(self) -> str:
        """Everything the host printed so far."""
        with self._new_line:
            return "\n".join(self.lines)

    def wait_for_log(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """The first output line matching `pattern` (a regex or a literal string), waiting."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                for line in self.lines:
                    found = regex.search(line)
                    if found:
                        return found
                remaining = deadline - time.monotonic()
                # A host that exited prints nothing more: fail now, not after the timeout.
                if remaining <= 0 or self._output_closed:
                    tail = "\n".join(self.lines[-40:])
                    raise AssertionError(
                        f"no log line matches {regex.pattern!r}; last lines:\n{tail}"
                    )
                self._new_line.wait(remaining)

    def finished_runs(self, function: str) -> int:
        """How many invocations of `function` have finished so far (succeeded or failed)."""
        with self._new_line:
            return self._finished(function)

    def running(self) -> set[str]:
        """The ids of the invocations that started and have not finished yet."""
        started: set[str] = set()
        with self._new_line:
            for line in self.lines:
                found = _INVOCATION.search(line)
                if found is not None:
                    if found.group(1) == "Executing":
                        started.add(found.group(2))
                    else:
                        started.discard(found.group(2))
        return started

    def wait_for_runs(self, function: str, count: int, timeout: float = 30.0) -> None:
        """Wait until `function` has finished at least `count` times in all."""
        deadline = time.monotonic() + timeout
        with self._new_line:
            while (done := self._finished(function)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._output_closed:
                    tail = "\n".join(self.lines[-40:])
                    raise AssertionError(
                        f"{function} finished {done} times, not {count}; last lines:\n{tail}"
                    )
                self._new_line.wait(remaining)

    def _finished(self, function: str) -> int:
        marker = f"Executed 'Functions.{function}' ("
        return sum(marker in line for line in self.lines)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        form: Mapping[str, str] | None = None,
        timeout: float = 15.0,
    ) -> HttpResult:
        """An HTTP request to `path` (absolute URL, or a path on the host such as /api/x)."""
        url = path if path.startswith("http") else f"{self.url}/{path.lstrip('/')}"
        send_headers = dict(headers or {})
        data = body.encode() if isinstance(body, str) else body
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(url, data=data, method=method, headers=send_headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return HttpResult(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    response.read(),
                )
        except urllib.error.HTTPError as error:
            return HttpResult(
                error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
            )

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait up to `timeout`, then SIGKILL; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.returncode = self.process.returncode
        return self.returncode

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._new_line:
                self.lines.append(raw.rstrip("\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._output_closed = True
            self._new_line.notify_all()


def host_environment(
    env: Mapping[str, str | None] | None, storage_connection_string: str
) -> dict[str, str]:
    """This process's environment without app settings, plus Azurite and `env`."""
    result = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    result["PYTHONUNBUFFERED"] = "1"
    result["AzureWebJobsStorage"] = storage_connection_string
    # `%OUTBOUND_CALL_QUEUE%` must resolve for the host to start (as in Azure, where the app
    # setting must exist); a queue of its own per host keeps tests from consuming each other's.
    result["OUTBOUND_CALL_QUEUE"] = "calls-" + uuid.uuid4().hex[:16]
    for key, value in (env or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def start_host(
    app_dir: Path,
    env: Mapping[str, str | None] | None,
    *,
    storage_connection_string: str,
    local_settings: bool = False,
    port: int = 0,
    timeout: float = 30.0,
    extra_args: list[str] | None = None,
) -> HostHandle:
    """Start the host and wait (bounded) for its ready line; stop it yourself (see run_host)."""
    command = [
        sys.executable,
        "-m",
        "devkit",
        "host",
        "--port",
        str(port),
        "--app-dir",
        str(app_dir),
        *([] if local_settings else ["--no-local-settings"]),
        *(extra_args or []),
    ]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=host_environment(env, storage_connection_string),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    handle = HostHandle(process)
    threading.Thread(target=handle._read, daemon=True).start()
    try:
        handle.url = handle.wait_for_log(READY, timeout).group(1)
    except AssertionError:
        handle.stop(timeout=5)
        raise HostStartError(
            f"the host did not become ready (exit code {handle.returncode}):\n{handle.log_text()}"
        ) from None
    return handle


HostFactory = Callable[..., HostHandle]


def wait_until_settled(
    hosts: Iterable[HostHandle],
    timer: str = "sms_schedule_timer",
    queues: Iterable[Any] = (),
    timeout: float = 60.0,
) -> None:
    """Wait until nothing more can go out: the queues (QueueClients) show no message and no
    invocation is running, then every host's `timer` has finished two more runs, the second of
    which started after the first ended, so after this call began: whatever was due by then
    has been sent. Proves "nothing else was sent" by waiting on the hosts' own log lines,
    never on a guess of how long that takes."""
    hosts, queues = list(hosts), list(queues)
    deadline = time.monotonic() + timeout

    def quiet() -> tuple[bool, str]:
        # Visible messages only: one sent with a delay (a fallback due later) is not due yet.
        waiting = [q.queue_name for q in queues if q.peek_messages(max_messages=1)]
        running = [run for host in hosts for run in host.running()]
        return not waiting and not running, f"queues {waiting}, invocations {running}"

    while not (found := quiet())[0]:
        if time.monotonic() > deadline:
            raise AssertionError(f"the hosts did not settle: {found[1]}")
        time.sleep(0.05)
    for host in hosts:
        host.wait_for_runs(
            timer, host.finished_runs(timer) + 2, max(1.0, deadline - time.monotonic())
        )


def clear_shared_queues(connection_string: str) -> None:
    """Empty the fixed-name queues every host of the session consumes (`voicemail-email`,
    `call-queue-dispatch`, `inbox-sign-in-codes`).

    Every host factory calls it before its first host starts.

    Earlier tests can leave e-mail notices there (waiting out a backoff); a host started here
    would deliver them, and a snapshot would see the count fall for reasons that are not this
    test's. Clearing deletes invisible messages too.
    """
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueClient

    for name in (
        "voicemail-email",
        "voicemail-email-poison",
        "call-queue-dispatch",
        "call-queue-dispatch-poison",
        "inbox-sign-in-codes",
        "inbox-sign-in-codes-poison",
    ):
        queue = QueueClient.from_connection_string(connection_string, name)
        with queue, contextlib.suppress(ResourceNotFoundError):
            queue.clear_messages()


def _factory(storage_connection_string: str) -> tuple[HostFactory, list[HostHandle]]:
    started: list[HostHandle] = []

    def run_host(
        app_dir: Path | str,
        env: Mapping[str, str | None] | None = None,
        **options: Any,
    ) -> HostHandle:
        if not started:
            # A host consumes the fixed-name queues: what earlier modules left there (e-mails
            # waiting out a backoff) would run here and be counted as this module's.
            clear_shared_queues(storage_connection_string)
        handle = start_host(
            Path(app_dir), env, storage_connection_string=storage_connection_string, **options
        )
        started.append(handle)
        return handle

    return run_host, started


@pytest.fixture
def run_host(storage_connection_string: str) -> Iterator[HostFactory]:
    """Factory `run_host(app_dir, env=None, *, local_settings=False) -> HostHandle`; all stopped
    when the test ends."""
    factory, started = _factory(storage_connection_string)
    yield factory
    for handle in started:
        handle.stop()


@pytest.fixture(scope="module")
def run_host_module(storage_connection_string: str) -> Iterator[HostFactory]:
    """Like `run_host`, for hosts shared by a module's tests (stopped after the module)."""
    factory, started = _factory(storage_connection_string)
    yield factory
    for handle in started:
        handle.stop()
