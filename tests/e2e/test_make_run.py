"""`make run`'s stack (`python -m devkit run`): Azurite on the default ports, the Twilio stand-in
on the port of a loopback `TWILIO_API_BASE_URL`, the host; `/api/health` answers through it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devkit.azurite import DEFAULT_PORTS, port_in_use
from tests.e2e.conftest import PROJECT_ROOT, SCRUBBED_PREFIXES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_devkit_run_brings_up_the_stack(tmp_path: Path) -> None:
    if any(port_in_use(p) for p in DEFAULT_PORTS.values()) and not all(
        port_in_use(p) for p in DEFAULT_PORTS.values()
    ):
        pytest.fail("some of Azurite's default ports 10000-10002 are taken by something else")
    app_port, twilio_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "TWILIO_ACCOUNT_SID": "AC" + "d" * 32,
            "TWILIO_AUTH_TOKEN": "make-run-test-token",
            "TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_port}",
            "OUTBOUND_CALL_QUEUE": "outbound-calls",
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devkit",
            "run",
            "--port",
            str(app_port),
            "--azurite-data",
            str(tmp_path / "azurite"),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        output: list[str] = []
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C to stop" in line:
                break
        text = "".join(output)
        assert "Switchboard is running" in text, text
        assert f"Twilio stand-in: http://127.0.0.1:{twilio_port}" in text
        assert "/api/voice/incoming" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/api/health", timeout=20) as r:
            body = json.loads(r.read())
        assert body["storage"]["ok"] is True
        assert body["twilio"]["ok"] is True
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
    assert process.returncode == 0
    assert not port_in_use(app_port)
    assert not port_in_use(twilio_port)
