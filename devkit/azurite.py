"""Azurite, the real Azure Storage emulator, started on loopback for development and tests.

`python -m devkit azurite [--memory | --data DIR] [--free-ports]` installs Azurite from the npm
registry into the project (``node_modules/``) when it is missing, starts it, prints the connection
string and stops it cleanly on Ctrl-C or SIGTERM.

Tests use :class:`Azurite` as a context manager: ``with Azurite(ports=0) as azurite: ...`` gives
free ports (Azurite prints the ports it bound on stdout, even with ``--silent``).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from devkit.npm import NodeMissingError, ensure_npm_packages, node_bin
from devkit.ports import port_in_use
from devkit.processes import stop_process_group

ACCOUNT_NAME = "devstoreaccount1"
# The well-known development storage key, published by Microsoft: not a secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEFAULT_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
_LISTENING = re.compile(
    r"Azurite (Blob|Queue|Table) service is successfully listening at https?://[^:]+:(\d+)"
)


class AzuriteError(RuntimeError):
    """Azurite could not be installed or started; the message says what to do."""


def connection_string(
    blob_port: int, queue_port: int, table_port: int, host: str = "127.0.0.1"
) -> str:
    """The explicit devstoreaccount1 connection string for Azurite on the given ports."""
    base = f"http://{host}"
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{ACCOUNT_NAME};"
        f"QueueEndpoint={base}:{queue_port}/{ACCOUNT_NAME};"
        f"TableEndpoint={base}:{table_port}/{ACCOUNT_NAME};"
    )


class Azurite:
    """One Azurite process on loopback; a context manager that always stops it."""

    def __init__(
        self,
        *,
        ports: int | Mapping[str, int] | None = 0,
        data_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 30.0,
        https: tuple[Path, Path] | None = None,
        oauth: bool = False,
    ) -> None:
        """`ports=0`: free ports; `ports=None`: the default 10000-10002; a mapping: those ports
        (`{"blob": N, "queue": N+1, "table": N+2}`); `data_dir`: persist there.

        `https=(cert, key)` serves HTTPS with that PEM pair; `oauth=True` also accepts bearer
        tokens (`--oauth basic`: Azurite checks their issuer, audience and lifetime, not the
        signature), which is how identity-based connections can be tested offline.
        """
        if oauth and https is None:
            raise AzuriteError("Azurite accepts bearer tokens over HTTPS only: pass https=")
        self.https = https
        self.oauth = oauth
        self.host = host
        self.data_dir = Path(data_dir) if data_dir else None
        if ports is None:
            self.requested = dict(DEFAULT_PORTS)
        elif isinstance(ports, int):
            self.requested = {k: ports for k in DEFAULT_PORTS}
        else:
            self.requested = {k: int(ports[k]) for k in DEFAULT_PORTS}
        self.startup_timeout = startup_timeout
        self.ports: dict[str, int] = {}
        self.process: subprocess.Popen[str] | None = None
        self._output: list[str] = []

    def service_url(self, service: str) -> str:
        """`https://127.0.0.1:PORT/devstoreaccount1` (or http): a `__queueServiceUri` value."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.host}:{self.ports[service]}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """Connection string for the running instance."""
        return connection_string(
            self.ports["blob"], self.ports["queue"], self.ports["table"], self.host
        )

    def start(self) -> Azurite:
        """Install when missing, start, and wait until all three services listen."""
        for service, port in self.requested.items():
            if port and port_in_use(port, self.host):
                raise AzuriteError(
                    f"port {port} ({service}) is already in use: stop what listens there "
                    "(perhaps another Azurite), or use other ports (`make run AZURITE_PORT=20000`; "
                    "`python -m devkit azurite --free-ports`)"
                )
        try:
            ensure_npm_packages()
            binary = node_bin("azurite")
        except NodeMissingError as exc:
            raise AzuriteError(str(exc)) from exc
        args = [
            str(binary),
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
        ]
        for service, port in self.requested.items():
            args += [f"--{service}Host", self.host, f"--{service}Port", str(port)]
        if self.https is not None:
            args += ["--cert", str(self.https[0]), "--key", str(self.https[1])]
        if self.oauth:
            args += ["--oauth", "basic"]
        if self.data_dir is None:
            args.append("--inMemoryPersistence")
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--location", str(self.data_dir)]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()
        threading.Thread(target=self._read_output, args=(ready,), daemon=True).start()
        if not ready.wait(self.startup_timeout) or len(self.ports) < 3:
            output = "".join(self._output[-20:])
            self.stop()
            raise AzuriteError(
                f"Azurite did not start within {self.startup_timeout:.0f}s:\n{output}"
            )
        return self

    def _read_output(self, ready: threading.Event) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._output.append(line)
            match = _LISTENING.search(line)
            if match:
                self.ports[match.group(1).lower()] = int(match.group(2))
                if len(self.ports) == 3:
                    ready.set()
        ready.set()  # the process ended: let start() report what it printed

    def stop(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is not None:
            stop_process_group(process)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m devkit azurite`: start Azurite, print the connection string, wait for a signal."""
    parser = argparse.ArgumentParser(
        prog="python -m devkit azurite", description=__doc__.split("\n")[0]
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--memory", action="store_true", help="keep data in memory (the default)")
    where.add_argument("--data", metavar="DIR", help="persist data in DIR")
    parser.add_argument(
        "--free-ports", action="store_true", help="bind free ports instead of 10000-10002"
    )
    args = parser.parse_args(argv)
    azurite = Azurite(ports=0 if args.free_ports else None, data_dir=args.data)
    try:
        azurite.start()
    except AzuriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    default_ports = azurite.ports == DEFAULT_PORTS
    print(
        f"Azurite listening: blob {azurite.ports['blob']}, queue {azurite.ports['queue']}, "
        f"table {azurite.ports['table']} ({'data in ' + args.data if args.data else 'in memory'})"
    )
    print("AzureWebJobsStorage=" + azurite.connection_string)
    if default_ports:
        print("(on the default ports, UseDevelopmentStorage=true works too)")
    sys.stdout.flush()
    try:
        while not stop.is_set():
            if azurite.process is None or azurite.process.poll() is not None:
                print("error: Azurite exited", file=sys.stderr)
                return 1
            stop.wait(0.5)
    finally:
        azurite.stop()
    print("Azurite stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
