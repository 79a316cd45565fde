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

from devkit.ports import free_ports, port_in_use
from tests.e2e.conftest import PROJECT_ROOT, SCRUBBED_PREFIXES


def stack_environment(twilio_port: int) -> dict[str, str]:
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
    return env


def test_func_start_gets_the_projects_virtual_environment(tmp_path: Path) -> None:
    # A stand-in for Core Tools' `func` on PATH: it records which python3 its worker would use,
    # then serves the app with it (so the run fails if that python lacks the app's packages).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "python3-seen"
    fake = bin_dir / "func"
    fake.write_text(
        "#!/bin/sh\n"
        f'command -v python3 > "{seen}"\n'
        'exec python3 -m devkit host --port "$3" --no-local-settings\n'
    )
    fake.chmod(0o755)
    base, _, _, app_port, twilio_port = free_ports(5)
    env = stack_environment(twilio_port)
    env["PATH"] = os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])
    process = start_stack(tmp_path, app_port, env, base)
    try:
        text = read_until(process, "Press Ctrl-C to stop", 90)
        assert "Function app: func start (Azure Functions Core Tools)" in text, text
        with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/api/health", timeout=20) as r:
            assert json.loads(r.read())["storage"]["ok"] is True
    finally:
        stop(process)
    assert Path(seen.read_text().strip()).parent == Path(sys.executable).parent


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    output: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if marker in line:
            break
    return "".join(output)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def start_stack(
    tmp_path: Path, app_port: int, env: dict[str, str], azurite_base: int
) -> subprocess.Popen[str]:
    """`python -m devkit run` with Azurite on `azurite_base` and the next two ports (ports of
    its own, chosen with the others: helpers and CI may run other stacks at the same time)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devkit",
            "run",
            "--port",
            str(app_port),
            "--azurite-data",
            str(tmp_path / "azurite"),
            "--azurite-port",
            str(azurite_base),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_devkit_run_brings_up_the_stack(tmp_path: Path) -> None:
    # Azurite's three ports, the app's, the stand-in's and a second run's app: chosen together.
    base, _, _, app_port, twilio_port, second_app = free_ports(6)
    env = stack_environment(twilio_port)
    del env["AzureWebJobsStorage"]  # the sample's UseDevelopmentStorage=true, moved by the run
    process = start_stack(tmp_path, app_port, env, base)
    try:
        text = read_until(process, "Press Ctrl-C to stop", 90)
        assert "Switchboard is running" in text, text
        assert f"Azurite: blob {base}, queue {base + 1}, table {base + 2}" in text
        assert f"BlobEndpoint=http://127.0.0.1:{base}/devstoreaccount1" in text  # for the CLI
        assert f"Twilio stand-in: http://127.0.0.1:{twilio_port}" in text
        assert "/api/voice/incoming" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/api/health", timeout=20) as r:
            body = json.loads(r.read())
        assert body["storage"]["ok"] is True
        assert body["twilio"]["ok"] is True
        # Ours and still running: a second run reuses it rather than failing on its ports.
        again = start_stack(tmp_path, second_app, env, base)
        try:
            text = read_until(again, "Press Ctrl-C to stop", 90)
            assert "Azurite: this project's, already running" in text, text
        finally:
            stop(again)
    finally:
        stop(process)
    assert process.returncode == 0
    assert not port_in_use(app_port)
    assert not port_in_use(twilio_port)
    assert not port_in_use(base)


def test_ports_taken_by_something_else_say_what_to_run(tmp_path: Path) -> None:
    base, _, _, app_port, twilio_port, other_twilio_port = free_ports(6)
    with socket.socket() as squatter:  # not an Azurite of ours
        squatter.bind(("127.0.0.1", base + 2))
        squatter.listen()
        process = start_stack(tmp_path, app_port, stack_environment(twilio_port), base)
        text = read_until(process, "never printed", 60)
        process.wait(timeout=30)
    assert process.returncode == 1
    assert f"{base + 2} (table)" in text
    assert "not this project's Azurite" in text
    assert "make run AZURITE_PORT=" in text
    with socket.socket() as host:
        host.bind(("127.0.0.1", app_port))
        host.listen()
        process = start_stack(tmp_path, app_port, stack_environment(other_twilio_port), base)
        text = read_until(process, "never printed", 60)
        process.wait(timeout=30)
    assert process.returncode == 1
    assert f"make run PORT={app_port + 1}" in text
