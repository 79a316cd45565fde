"""`python -m devkit run` (what `make run` starts): Azurite, the Twilio stand-in and the app.

- Azurite on the default ports (10000-10002, so `UseDevelopmentStorage=true` works) or on
  `--azurite-port N` (N, N+1, N+2: `make run AZURITE_PORT=N`), data kept in `.azurite/` between
  runs; skipped when `AzureWebJobsStorage` points at a real account. An Azurite already
  listening there is reused only when it is this project's (the one a previous `make run`
  started from the same data folder, still running); anything else on those ports is named as
  not ours, with the command that moves ours.
- The Twilio stand-in, unless `local.settings.json` holds real Twilio credentials: it starts when
  `TWILIO_API_BASE_URL` is a loopback URL (the sample's `http://127.0.0.1:4010`), on that port.
- The function app with `func start` when Azure Functions Core Tools is on PATH, otherwise with
  `python -m devkit host`, on `--port` (`make run PORT=N`; default `Host.LocalHttpPort`, 7071).
  With the local stand-in and no `PUBLIC_BASE_URL`, the app gets `PUBLIC_BASE_URL` set to its
  own local origin, so every text and call it sends (the timer's too) carries a status
  callback the stand-in can reach and moves past `queued`, as in Azure.

It prints the URLs to point a Twilio number (or the simulator) at, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from devkit.azurite import DEFAULT_PORTS, Azurite, AzuriteError, connection_string
from devkit.localsettings import LocalSettingsError, apply_local_settings, local_http_port
from devkit.npm import PROJECT_ROOT
from devkit.ports import port_in_use
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


OWNER_FILE = "devkit-azurite.json"


def azurite_ports(base: int | None) -> dict[str, int]:
    """Azurite's three ports: the defaults, or base, base+1, base+2 (blob, queue, table)."""
    if base is None:
        return dict(DEFAULT_PORTS)
    return {"blob": base, "queue": base + 1, "table": base + 2}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    except OSError:
        return False
    return True


def running_azurite_is_ours(data_dir: Path, ports: dict[str, int]) -> bool:
    """Whether what listens on `ports` is the Azurite a previous run started from `data_dir`
    (its owner file names a live process and the same ports)."""
    try:
        owner = json.loads((data_dir / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(owner, dict)
        and owner.get("ports") == ports
        and isinstance(owner.get("pid"), int)
        and _alive(owner["pid"])
    )


def mark_azurite_ours(data_dir: Path, azurite: Azurite) -> None:
    """Write the owner file of the Azurite this run started (its process and ports)."""
    if azurite.process is None:
        return
    record = {"pid": azurite.process.pid, "ports": azurite.ports}
    (data_dir / OWNER_FILE).write_text(json.dumps(record), encoding="utf-8")


def taken_message(ports: dict[str, int], data_dir: Path) -> str:
    """What to say when Azurite's ports are taken by something that is not ours."""
    shown = ", ".join(f"{port} ({name})" for name, port in ports.items() if port_in_use(port))
    return (
        f"Azurite's ports are taken: {shown}, by another program (not this project's Azurite "
        f"from {data_dir}). Stop it, or run this project's Azurite on other ports: "
        "`make run AZURITE_PORT=20000` (20000-20002)"
    )


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
    parser.add_argument(
        "--azurite-port",
        type=int,
        default=None,
        help="Azurite's blob port; queue and table on the next two (default 10000-10002)",
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
            f"error: port {port} is already in use (another Switchboard or Functions host?): "
            f"stop it, or run the app on another port: `make run PORT={port + 1}`",
            file=sys.stderr,
        )
        return 1
    child_env = venv_environment()

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
            ports = azurite_ports(args.azurite_port)
            data_dir = (args.azurite_data or app_dir / ".azurite").resolve()
            shown = f"blob {ports['blob']}, queue {ports['queue']}, table {ports['table']}"
            if any(port_in_use(p) for p in ports.values()):
                if not running_azurite_is_ours(data_dir, ports):
                    print(f"error: {taken_message(ports, data_dir)}", file=sys.stderr)
                    return 1
                print(f"Azurite: this project's, already running ({shown}): reusing it")
            else:
                azurite = Azurite(ports=ports, data_dir=data_dir)
                azurite.start()
                mark_azurite_ours(data_dir, azurite)
                print(f"Azurite: {shown} (data in {data_dir})")
            if ports != DEFAULT_PORTS:
                moved = connection_string(ports["blob"], ports["queue"], ports["table"])
                child_env["AzureWebJobsStorage"] = moved
                fallback = f"http://127.0.0.1:{ports['blob']}/devstoreaccount1/fallback"
                child_env["FALLBACK_CONTAINER_URL"] = fallback
                print(
                    "  (not the default ports: the command line needs, in local.settings.json,\n"
                    f'   "AzureWebJobsStorage": "{moved}",\n'
                    f'   "FALLBACK_CONTAINER_URL": "{fallback}")'
                )
        else:
            print("Azurite: not started (AzureWebJobsStorage points at an Azure account)")

        base_url = os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com")
        twilio_port = standin_port(base_url)
        if twilio_port is not None:
            if port_in_use(twilio_port):
                print(
                    f"error: port {twilio_port} (the Twilio stand-in, from TWILIO_API_BASE_URL) "
                    "is already in use: stop what listens there, or set TWILIO_API_BASE_URL to "
                    f"http://127.0.0.1:{twilio_port + 1} in local.settings.json",
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
            if not os.environ.get("PUBLIC_BASE_URL"):
                # Status callbacks of what the app sends reach it here, as they do in Azure.
                child_env["PUBLIC_BASE_URL"] = f"http://localhost:{port}"
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
        host = subprocess.Popen(command, cwd=app_dir, env=child_env, start_new_session=True)
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
