"""`python -m devkit host` end to end: a real host process, real HTTP, real Azurite queues.

Most tests share one host (module scope) serving tests/e2e/host_app, whose functions record what
they received in files under a temporary folder.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle, host_environment

HOST_APP = Path(__file__).resolve().parent / "host_app"
FUNCTION_KEY = "test-function-key"
MASTER_KEY = "test-master-key"


@dataclass
class AppUnderTest:
    """The shared host and what the tests need to observe it."""

    host: HostHandle
    out: Path
    app_dir: Path
    queue: str
    fail_queue: str
    connection_string: str

    def records(self, function: str) -> list[dict[str, Any]]:
        """What a function recorded so far."""
        path = self.out / f"{function}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def queue_client(self, name: str, *, base64_text: bool = True) -> QueueClient:
        """A client sending text the way the Functions host expects it (base64)."""
        policy = TextBase64EncodePolicy() if base64_text else None
        return QueueClient.from_connection_string(
            self.connection_string, name, message_encode_policy=policy
        )


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def peek(client: QueueClient) -> list[Any]:
    """Visible messages of a queue that may not exist yet."""
    try:
        return list(client.peek_messages(max_messages=32))
    except ResourceNotFoundError:
        return []


def copy_app(target: Path) -> Path:
    """A private copy of the test app (tests may add or break files in it)."""
    shutil.copytree(HOST_APP, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def app_env(out: Path, queue: str, fail_queue: str) -> dict[str, str]:
    """The settings the test app needs."""
    return {
        "HOST_TEST_OUT": str(out),
        "TEST_QUEUE": queue,
        "TEST_FAIL_QUEUE": fail_queue,
        "TEST_TIMER_SCHEDULE": "*/1 * * * * *",
        "TEST_TIMER_SLEEP": "0",
    }


@pytest.fixture(scope="module")
def app(
    run_host_module: HostFactory,
    tmp_path_factory: pytest.TempPathFactory,
    storage_connection_string: str,
) -> AppUnderTest:
    """One host for the module, with keys enforced and a local.settings.json of its own."""
    root = tmp_path_factory.mktemp("host")
    out = root / "out"
    out.mkdir()
    app_dir = copy_app(root / "app")
    (app_dir / "local.settings.json").write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {"TEST_FROM_LOCAL_SETTINGS": "yes", "TEST_OVERRIDDEN": "from-file"},
            }
        )
    )
    suffix = uuid.uuid4().hex[:10]
    queue, fail_queue = f"ok-{suffix}", f"fail-{suffix}"
    env = app_env(out, queue, fail_queue) | {
        # Each run outlasts its three-second schedule by more than the past-due tolerance (1 s):
        # the next occurrence is missed, then caught up; the one after is still ahead.
        "TEST_TIMER_SCHEDULE": "*/3 * * * * *",
        "TEST_TIMER_SLEEP": "4.2",
        "TEST_OVERRIDDEN": "from-env",
        "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
        "DEVHOST_MASTER_KEY": MASTER_KEY,
    }
    host = run_host_module(app_dir, env, local_settings=True)
    return AppUnderTest(host, out, app_dir, queue, fail_queue, storage_connection_string)


# --- startup ---------------------------------------------------------------------------------


def test_lists_the_functions_and_listens_on_loopback(app: AppUnderTest) -> None:
    assert app.host.url.startswith("http://127.0.0.1:")
    log = app.host.log_text()
    assert f"echo: [GET,POST] {app.host.url}/api/echo" in log
    assert f"item: [GET] {app.host.url}/api/items/{{id:int}}/{{name?}}" in log
    assert "ticker: timerTrigger (Cron: '*/3 * * * * *')" in log
    assert f"consume: queueTrigger (queue '{app.queue}'" in log
    assert "Function keys: enforced" in log
    assert MASTER_KEY not in log
    assert FUNCTION_KEY not in log


def test_run_on_startup_fires_once_at_start(app: AppUnderTest) -> None:
    records = wait_until(lambda: app.records("on_startup"), 5, "the run_on_startup timer")
    assert records == [{"past_due": False}]


# --- HTTP ------------------------------------------------------------------------------------


def test_request_reaches_the_function_as_sent(app: AppUnderTest) -> None:
    target = "/api/echo?b=2&a=%20x&a=y&code=ignored&empty=&blank=%20"
    response = app.host.request(
        "POST", target, headers={"X-Test": "1", "Content-Type": "text/plain"}, body="hi there"
    )
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    seen = response.json()
    assert seen["url"] == app.host.url + target  # exactly, query included
    assert seen["method"] == "POST"
    # As the Functions host: repeated names joined, an empty value dropped (a blank one kept).
    assert seen["params"] == {"b": "2", "a": " x,y", "code": "ignored", "blank": " "}
    assert seen["headers"]["x-test"] == "1"
    assert seen["body"] == "hi there"
    assert seen["route_params"] == {}
    # local.settings.json Values reach the app; the environment wins over the file.
    assert seen["from_local_settings"] == "yes"
    assert seen["overridden"] == "from-env"
    assert seen["thread"].startswith("devhost-worker")


def test_an_encoded_body_reaches_the_function_as_sent(app: AppUnderTest) -> None:
    """As the Functions host, the body is not inflated: a `Content-Encoding: gzip` that is not
    gzip is the function's to refuse (aiohttp's own inflating answered 500 before), and a gzip
    bomb costs its compressed bytes, not what it would inflate to."""
    response = app.host.request(
        "POST",
        "/api/echo",
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
        body="not gzip at all",
    )
    assert response.status == 200, response.text
    assert response.json()["body"] == "not gzip at all"
    assert response.json()["headers"]["content-encoding"] == "gzip"
    bomb = gzip.compress(b"\0" * 20_000_000)  # 20 MB of zeros in about 20 KB
    inflated = app.host.request(
        "POST", "/api/echo", headers={"Content-Encoding": "gzip"}, body=bomb
    )
    assert inflated.status == 200, inflated.text
    assert inflated.json()["body_length"] == len(bomb) < 100_000  # its own bytes, not 20 MB


def test_function_and_admin_keys(app: AppUnderTest) -> None:
    assert app.host.request("GET", "/api/secure").status == 401
    assert (
        app.host.request("GET", "/api/secure", headers={"x-functions-key": "wrong"}).status == 401
    )
    by_header = app.host.request("GET", "/api/secure", headers={"x-functions-key": FUNCTION_KEY})
    assert (by_header.status, by_header.text) == (200, "secret stuff")
    assert by_header.headers["content-type"] == "text/plain; charset=utf-8"
    assert app.host.request("GET", f"/api/secure?code={FUNCTION_KEY}").status == 200
    assert app.host.request("GET", f"/api/secure?code={MASTER_KEY}").status == 200
    assert app.host.request("GET", f"/api/admin-only?code={FUNCTION_KEY}").status == 401
    admin = app.host.request("GET", "/api/admin-only", headers={"x-functions-key": MASTER_KEY})
    assert (admin.status, admin.text) == (200, "admin stuff")
    assert app.host.request("GET", "/api/echo").status == 200  # anonymous needs no key


def test_route_templates(app: AppUnderTest) -> None:
    assert app.host.request("GET", "/api/items/42").json() == {"route_params": {"id": "42"}}
    assert app.host.request("GET", "/api/items/42/widget").json() == {
        "route_params": {"id": "42", "name": "widget"}
    }
    assert app.host.request("GET", "/api/items/latest").json() == {"latest": True}
    assert app.host.request("GET", "/API/Items/7/").status == 200  # case and trailing slash
    assert app.host.request("GET", "/api/items/abc").status == 404  # {id:int}
    not_allowed = app.host.request("POST", "/api/items/42")
    assert (not_allowed.status, not_allowed.headers.get("allow")) == (405, "GET")
    assert app.host.request("GET", "/api/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}
    # Any decoded character reaches the function, control characters and newlines included.
    assert app.host.request("GET", "/api/files/x%C2%80%0Ay").json() == {"path": "x\x80\ny"}
    assert app.host.request("GET", "/api/nothing-here").status == 404
    assert app.host.request("GET", "/echo").status == 404  # outside the route prefix


def test_http_response_conversion(app: AppUnderTest) -> None:
    response = app.host.request("GET", "/api/custom")
    assert response.status == 201
    assert response.headers["x-custom"] == "yes"
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.text == "<Response/>"


def test_failure_is_a_bare_500_and_logged(app: AppUnderTest) -> None:
    response = app.host.request("GET", "/api/boom")
    assert response.status == 500
    assert b"kaboom" not in response.body
    assert b"Traceback" not in response.body
    app.host.wait_for_log("Executed 'Functions.boom' (Failed, Id=")
    app.host.wait_for_log("RuntimeError: kaboom-internal-detail")  # on the console instead


def test_async_function_gets_the_context(app: AppUnderTest) -> None:
    trace_parent = f"00-{'1' * 32}-{'2' * 16}-01"
    response = app.host.request("GET", "/api/whoami", headers={"traceparent": trace_parent})
    seen = response.json()
    assert seen["function_name"] == "whoami"
    assert seen["thread"] == "MainThread"  # async functions run on the event loop
    assert seen["function_directory"] == str(app.app_dir.resolve())
    assert seen["trace_parent"] == trace_parent
    assert seen["retry_count"] == 0
    app.host.wait_for_log(f"Executed 'Functions.whoami' (Succeeded, Id={seen['invocation_id']}, ")


def test_sync_functions_run_concurrently_in_the_pool(app: AppUnderTest) -> None:
    results: list[dict[str, float]] = []

    def call() -> None:
        results.append(app.host.request("GET", "/api/slow?s=0.8").json())

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 2
    first, second = sorted(results, key=lambda r: r["started"])
    assert second["started"] < first["ended"]  # they overlapped


# --- queues ----------------------------------------------------------------------------------


def test_queue_message_is_processed_once_and_deleted(app: AppUnderTest) -> None:
    body = f"hello {uuid.uuid4()}"
    with app.queue_client(app.queue) as client:
        sent = client.send_message(body)
        mine = wait_until(
            lambda: [r for r in app.records("consume") if r["body"] == body], 10, "the message"
        )
        # Deleted, not only invisible (the count has invisible messages too): no second
        # delivery can come.
        wait_until(
            lambda: client.get_queue_properties().approximate_message_count == 0, 10, "the delete"
        )
        assert [r for r in app.records("consume") if r["body"] == body] == mine
        assert len(mine) == 1
        assert mine[0]["id"] == sent.id
        assert mine[0]["dequeue_count"] == 1
        assert mine[0]["has_pop_receipt"]
        assert mine[0]["insertion_time"]
        assert client.peek_messages(max_messages=32) == []
        assert client.get_queue_properties().approximate_message_count == 0


def test_queue_output_binding_feeds_the_queue_trigger(app: AppUnderTest) -> None:
    body = f"via output binding {uuid.uuid4()}"
    assert app.host.request("POST", "/api/enqueue", body=body).status == 202
    wait_until(
        lambda: [r for r in app.records("consume") if r["body"] == body], 10, "the chained message"
    )


def test_failing_message_ends_in_the_poison_queue(app: AppUnderTest) -> None:
    body = f"poison {uuid.uuid4()}"
    with (
        app.queue_client(app.fail_queue) as client,
        app.queue_client(f"{app.fail_queue}-poison", base64_text=False) as poison,
    ):
        client.send_message(body)
        moved = wait_until(lambda: peek(poison), 15, "the poison queue")
        assert [base64.b64decode(m.content).decode() for m in moved] == [body]  # as stored
        assert client.peek_messages() == []
    counts = [r["dequeue_count"] for r in app.records("always_fails")]
    assert counts == [1, 2, 3]  # host.json maxDequeueCount: 3
    app.host.wait_for_log(f"Moving message to queue '{app.fail_queue}-poison'")


def test_undecodable_message_fails_and_ends_in_the_poison_queue(app: AppUnderTest) -> None:
    raw = f"not base64! {uuid.uuid4()}"
    with (
        app.queue_client(app.queue, base64_text=False) as client,
        app.queue_client(f"{app.queue}-poison", base64_text=False) as poison,
    ):
        client.send_message(raw)
        moved = wait_until(lambda: peek(poison), 15, "the poison queue")
        assert [m.content for m in moved] == [raw]
    assert not [r for r in app.records("consume") if raw in r["body"]]
    app.host.wait_for_log("is not valid base64")


# --- timers (last: the schedule has been running meanwhile) ---------------------------------


def test_timer_fires_on_schedule_one_run_at_a_time_with_past_due(app: AppUnderTest) -> None:
    runs = wait_until(
        lambda: app.records("ticker")[:3] if len(app.records("ticker")) >= 3 else None,
        40,
        "three timer runs",
    )
    for previous, current in itertools.pairwise(runs):
        assert current["start"] >= previous["end"]  # never concurrent with itself
    # Each run lasts 4.2 s on a three-second schedule: the missed occurrence fires at once,
    # late and past due; the next one is on time again. "At once" is an order of events, not
    # a time bound: the catch-up starts after the run that missed it ended and before the
    # occurrence that follows the missed one (`next`), which a host that waited for the
    # schedule would fire instead.
    past_due = [run["past_due"] for run in runs]
    assert True in past_due
    assert False in past_due
    catch_up = past_due.index(True)
    assert catch_up > 0
    following = datetime.fromisoformat(runs[catch_up]["next"]).timestamp()
    assert runs[catch_up - 1]["end"] <= runs[catch_up]["start"] < following


# --- lifecycle and startup errors ------------------------------------------------------------


def test_sigterm_lets_running_invocations_finish_then_exits_0(
    run_host: HostFactory, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    env = app_env(out, f"ok-{uuid.uuid4().hex[:10]}", f"fail-{uuid.uuid4().hex[:10]}")
    env["TEST_TIMER_SCHEDULE"] = "0 0 0 1 1 *"
    host = run_host(HOST_APP, env)
    result: list[int] = []
    caller = threading.Thread(
        target=lambda: result.append(host.request("GET", "/api/slow?s=1.5").status)
    )
    caller.start()
    host.wait_for_log("Executing 'Functions.slow'")
    started = time.monotonic()
    assert host.stop(timeout=15) == 0
    caller.join(5)
    assert result == [200]
    assert time.monotonic() - started < 10
    host.wait_for_log("Host stopped")


def run_failing_host(
    app_dir: Path, env: dict[str, str], connection_string: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run a host expected to refuse to start; bounded."""
    return subprocess.run(
        [sys.executable, "-m", "devkit", "host", "--port", "0", "--app-dir", str(app_dir), *args],
        cwd=PROJECT_ROOT,
        env=host_environment(env, connection_string),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


BLOB_APP = """
import azure.functions as func

app = func.FunctionApp()


@app.blob_trigger(arg_name="blob", path="samples/{name}", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream) -> None:
    pass
"""


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("host.json syntax", ["host.json", "not valid JSON"]),
        ("host.json key", ["host.json", "'extensions.queues.maxDequeueCount'"]),
        ("local.settings.json", ["local.settings.json", "not valid JSON"]),
        ("unsupported binding", ["function 'on_blob'", "blobTrigger"]),
    ],
)
def test_startup_errors_name_the_file_and_key(
    case: str, expected: list[str], tmp_path: Path, storage_connection_string: str
) -> None:
    app_dir = copy_app(tmp_path / "app")
    env = app_env(tmp_path, "ok-queue", "fail-queue")
    args: list[str] = []
    if case == "host.json syntax":
        (app_dir / "host.json").write_text('{"version": "2.0", "extensions": {')
    elif case == "host.json key":
        host_json = json.loads((app_dir / "host.json").read_text())
        host_json["extensions"]["queues"]["maxDequeueCount"] = "three"
        (app_dir / "host.json").write_text(json.dumps(host_json))
    elif case == "local.settings.json":
        (app_dir / "local.settings.json").write_text('{"Values": {"A": "1",}}')
    else:
        (app_dir / "function_app.py").write_text(BLOB_APP)
    completed = run_failing_host(app_dir, env, storage_connection_string, *args)
    assert completed.returncode == 1
    for text in expected:
        assert text in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout


def test_port_in_use_is_named(tmp_path: Path, storage_connection_string: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        completed = run_failing_host(
            HOST_APP,
            app_env(tmp_path, "ok-queue", "fail-queue"),
            storage_connection_string,
            "--port",
            str(port),
        )
    assert completed.returncode == 1
    assert f"port {port} is already in use" in completed.stderr
