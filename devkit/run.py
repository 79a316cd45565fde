"""`python -m devkit run` (what `make run` starts): Azurite, the Twilio stand-in and the app.

- Azurite on the default ports (10000-10002, so `UseDevelopmentStorage=true` works), data kept in
  `.azurite/` between runs; skipped when `AzureWebJobsStorage` points at a real account, reused
  when an Azurite already listens on all three ports.
- The Twilio stand-in, unless `local.settings.json` holds real Twilio credentials: it starts when
  `TWILIO_API_BASE_URL` is a loopback URL (the sample's `http://127.0.0.1:4010`), on that port.
- The function app with `func start` when Azure Functions Core Tools is on PATH, otherwise with
  `python -m devkit host`.

It prints the URLs to point a Twilio number (or the simulator) at, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from devkit.azurite import DEFAULT_PORTS, Azurite, AzuriteError, port_in_use
from devkit.localsettings import LocalSettingsError, apply_local_settings, local_http_port
from devkit.npm import PROJECT_ROOT
from devkit.processes import stop_process_group

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def uses_local_storage(connection_string: str) -> bool:
    """Whether the storage setting points at the emulator rather than an Azure account."""
    text = connection_string.replace(" ", "").lower()
    return "usedevelopmentstorage=true" in text or "accountname=devstoreaccount1" in text


def standin_port(base_url: str) -> int | None:
    """The port to start the Twilio stand-in on, or None when the base URL is not loopback."""
    parts = urlsplit(base_url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return None
    return parts.port or (443 if parts.scheme == "https" else 80)


def webhook_lines(origin: str) -> list[str]:
    """What to configure on a Twilio number, for a public origin (a tunnel) or the local one."""
    return [
        f"  Voice webhook (A call comes in, POST):  {origin}/api/voice/incoming",
        f"  Messaging webhook (A message comes in): {origin}/api/sms/incoming",
        f"  Call status callback:                   {origin}/api/status/call",
        f"  Health:                                 {origin}/api/health",
        f"  The owner's inbox (a browser):          {origin}/inbox/",
    ]


def venv_environment() -> dict[str, str]:
    """This environment with the project's virtual environment active.

    `make` runs `.venv/bin/python` without activating the venv; `func start` would then give
    its Python worker the system `python3`, which lacks the app's packages. With the venv's
    `bin` first on PATH (and VIRTUAL_ENV set, as `activate` does) the worker uses the venv.
    """
    env = dict(os.environ)
    venv_bin = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(venv_bin), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv_bin.parent)
    return env


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if port_in_use(port):
            return True
        time.sleep(0.1)
    return False


def main(argv: list[str] | None = None) -> int:
    """Start the local stack and wait for Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m devkit run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--app-dir", type=Path, default=PROJECT_ROOT)
    parser.add_argument("--port", type=int, default=None, help="app port (default 7071)")
    parser.add_argument(
        "--azurite-data", type=Path, default=None, help="Azurite's data folder (default .azurite/)"
    )
    args = parser.parse_args(argv)
    app_dir: Path = args.app_dir.resolve()
    try:
        apply_local_settings(app_dir)
        port = args.port or local_http_port(app_dir) or 7071
    except LocalSettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if port_in_use(port):
        print(
            f"error: port {port} is already in use (another host?): stop it or pass --port",
            file=sys.stderr,
        )
        return 1

    azurite: Azurite | None = None
    children: list[subprocess.Popen[bytes]] = []
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        storage = os.environ.get("AzureWebJobsStorage", "UseDevelopmentStorage=true")
        if uses_local_storage(storage):
            if all(port_in_use(p) for p in DEFAULT_PORTS.values()):
                print("Azurite: already listening on 10000-10002, reusing it")
            else:
                data_dir = args.azurite_data or app_dir / ".azurite"
                azurite = Azurite(ports=None, data_dir=data_dir)
                azurite.start()
                print(f"Azurite: blob 10000, queue 10001, table 10002 (data in {data_dir})")
        else:
            print("Azurite: not started (AzureWebJobsStorage points at an Azure account)")

        base_url = os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com")
        twilio_port = standin_port(base_url)
        if twilio_port is not None:
            if port_in_use(twilio_port):
                print(
                    f"error: port {twilio_port} (TWILIO_API_BASE_URL) is already in use",
                    file=sys.stderr,
                )
                return 1
            standin = subprocess.Popen(
                [sys.executable, "-m", "devkit", "twilio", "--port", str(twilio_port)],
                cwd=app_dir,
                start_new_session=True,
            )
            children.append(standin)
            if not _wait_for_port(twilio_port, standin, 20):
                print("error: the Twilio stand-in did not start", file=sys.stderr)
                return 1
            print(f"Twilio stand-in: {base_url} (no Twilio account needed)")
        else:
            print(f"Twilio: real API at {base_url}")

        func_binary = shutil.which("func")
        if func_binary:
            command = [func_binary, "start", "--port", str(port)]
            print("Function app: func start (Azure Functions Core Tools)")
        else:
            command = [
                sys.executable,
                "-m",
                "devkit",
                "host",
                "--port",
                str(port),
                "--app-dir",
                str(app_dir),
            ]
            print("Function app: python -m devkit host (Core Tools not found on PATH)")
        host = subprocess.Popen(
            command, cwd=app_dir, env=venv_environment(), start_new_session=True
        )
        children.append(host)
        if not _wait_for_port(port, host, 60):
            print("error: the function app did not start", file=sys.stderr)
            return 1
        origin = f"http://localhost:{port}"
        public = os.environ.get("PUBLIC_BASE_URL") or ""
        print(f"\nSwitchboard is running at {origin}")
        print("\n".join(webhook_lines(public or "https://<your-tunnel>")))
        print(f"  Try: curl {origin}/api/health")
        print(
            "       .venv/bin/python -m devkit call --from +15558675310 --to +15017122661 --digits 3"
        )
        print("Press Ctrl-C to stop.\n")
        sys.stdout.flush()
        while not stop_requested:
            if any(child.poll() is not None for child in children):
                print("error: a process of the local stack exited; stopping", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except AzuriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            stop_process_group(child, timeout=10)
        if azurite is not None:
            azurite.stop()
        print("Stopped.")


if __name__ == "__main__":
    sys.exit(main())
