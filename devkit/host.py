"""`python -m devkit host`: run `function_app.py` without Core Tools, like `func start`.

    python -m devkit host [--port 7071] [--app-dir DIR] [--bind 127.0.0.1] [--no-local-settings]

The host reads `local.settings.json` (its `Values` become environment variables unless already
set) and `host.json`, imports `function_app.py`, discovers the functions from the `FunctionApp`
itself (`get_functions()`, no second routing table) and serves them:

- HTTP triggers under the route prefix (host.json `extensions.http.routePrefix`, default `api`),
  with route templates, methods (404/405) and auth levels: function and admin routes need a key
  (`x-functions-key` header or `code` query parameter) when DEVHOST_FUNCTION_KEY is set (admin:
  DEVHOST_MASTER_KEY, else the function key); unset, keys are not enforced, as Core Tools does;
- timer triggers on their NCRONTAB schedule, with `past_due` and `run_on_startup`;
- queue triggers polling Azure Storage (Azurite) with host.json `extensions.queues` settings and
  the poison queue, and queue output bindings.

It prints the functions and `Host listening on http://127.0.0.1:PORT` when ready (port 0 picks a
free port), logs every invocation like `func start`, and on SIGINT/SIGTERM stops polling, lets
running invocations finish (bounded by --shutdown-timeout) and exits 0. Startup errors (malformed
settings, unresolved `%NAME%`, unsupported bindings, a busy port) are one `error:` line, exit 1.

In-process use (tests, tools): ``host = Host(HostOptions(app_dir=..., port=0)); host.prepare();
await host.start(); ...; await host.stop()``; ``host.url`` is the origin.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from devkit.host_config import HostConfig, load_host_config, thread_pool_size
from devkit.host_functions import (
    HTTP_TRIGGER,
    QUEUE_TRIGGER,
    TIMER_TRIGGER,
    FunctionSpec,
    HostStartupError,
    discover_functions,
    load_function_app,
)
from devkit.host_http import FunctionKeys, HttpDispatcher
from devkit.host_invoke import InvocationIdFilter, Invoker
from devkit.host_queues import QueuePoller, QueueService
from devkit.host_timers import TimerRunner, build_schedule, timer_zone
from devkit.localsettings import LocalSettingsError, apply_local_settings, local_http_port

logger = logging.getLogger("devkit.host")
DEFAULT_PORT = 7071
DEFAULT_BIND = "127.0.0.1"
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
READY_PREFIX = "Host listening on "


@dataclass
class HostOptions:
    """How to run the host; `port=0` picks a free port."""

    app_dir: Path
    port: int = DEFAULT_PORT
    bind: str = DEFAULT_BIND
    load_local_settings: bool = True
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT


class ConsoleFormatter(logging.Formatter):
    """`[2026-11-23T03:20:00.123Z] message`, like `func start`; warnings and errors say so."""

    def format(self, record: logging.LogRecord) -> str:
        """One console line (plus the traceback, if any)."""
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        level = f"{record.levelname}: " if record.levelno >= logging.WARNING else ""
        text = f"[{stamp.replace('+00:00', 'Z')}] {level}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(level: int = logging.INFO) -> None:
    """Console logging for the host and the app (which logs through `logging` too)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ConsoleFormatter())
    handler.addFilter(InvocationIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # The Azure SDK logs every HTTP request at INFO: far too much for a console.
    for noisy in ("azure", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket; a busy port is a HostStartupError naming it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT after a restart
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise HostStartupError(
                f"port {port} is already in use on {host}: stop what listens there (another "
                "host?) or pass --port with another port (--port 0 picks a free one)"
            ) from None
        raise HostStartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class Host:
    """The local Functions host: prepare() (sync), then start()/stop() on an event loop."""

    def __init__(
        self, options: HostOptions, environ: MutableMapping[str, str] | None = None
    ) -> None:
        """`environ` defaults to os.environ, which the app reads its settings from."""
        self.options = options
        self.app_dir = options.app_dir.resolve()
        self.environ = os.environ if environ is None else environ
        self.config = HostConfig()
        self.functions: list[FunctionSpec] = []
        self.url = ""
        self.stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._invoker: Invoker | None = None
        self._queues: QueueService | None = None
        self._timers: list[TimerRunner] = []
        self._pollers: list[QueuePoller] = []
        self._keys = FunctionKeys()

    def prepare(self) -> None:
        """Settings, host.json, import and discovery; raises LocalSettingsError/HostStartupError."""
        if not self.app_dir.is_dir():
            raise HostStartupError(f"app directory {self.app_dir} does not exist")
        if self.options.load_local_settings:
            apply_local_settings(self.app_dir, self.environ)
        self.config = load_host_config(self.app_dir)
        logging.getLogger().setLevel(self.config.log_level)
        threads = thread_pool_size(self.environ)
        zone = timer_zone(self.environ)
        os.chdir(self.app_dir)  # the worker runs with the script root as working directory
        app = load_function_app(self.app_dir)
        self.functions = discover_functions(app, self.environ, self.config.route_prefix)
        self._keys = FunctionKeys.from_environ(self.environ)
        self._queues = QueueService(self.environ, self.config.queues)
        self._invoker = Invoker(
            app_dir=self.app_dir,
            threads=threads,
            function_timeout=self.config.function_timeout,
            output_sink=self._queues,
        )
        for spec in self.functions:
            if spec.trigger_type == TIMER_TRIGGER:
                self._timers.append(TimerRunner(spec, build_schedule(spec, zone), self._invoker))
            elif spec.trigger_type == QUEUE_TRIGGER:
                self._pollers.append(
                    QueuePoller(spec, self._queues, self.config.queues, self._invoker)
                )
            for output in spec.outputs:
                if output.type == "queue":
                    assert output.connection is not None
                    assert output.queue_name is not None
                    self._queues.client(output.connection, output.queue_name)  # checks the setting
        for poller in self._pollers:
            self._queues.register(poller.connection, poller.queue, poller)

    async def start(self) -> None:
        """Listen, create the trigger queues, start pollers and timers."""
        assert self._invoker is not None, "call prepare() first"
        sock = bind_socket(self.options.bind, self.options.port)
        port = sock.getsockname()[1]
        host = f"[{self.options.bind}]" if ":" in self.options.bind else self.options.bind
        self.url = f"http://{host}:{port}"
        dispatcher = HttpDispatcher(self.functions, self._invoker, self._keys)
        self._runner = web.AppRunner(
            dispatcher.build_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.options.shutdown_timeout,
            # The Functions host hands a function the body's bytes as sent: it does not inflate
            # a `Content-Encoding: gzip` body (nor fail on one that is not gzip).
            auto_decompress=False,
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        await asyncio.gather(*(poller.start() for poller in self._pollers))
        for poller in self._pollers:
            self._tasks.append(asyncio.create_task(poller.run(self.stopping)))
        for timer in self._timers:
            self._tasks.append(asyncio.create_task(timer.run(self.stopping)))

    def describe(self) -> list[str]:
        """The function list `func start` prints."""
        lines = ["Functions:", ""]
        for spec in self.functions:
            if spec.trigger_type == HTTP_TRIGGER:
                assert spec.route is not None
                methods = f"[{','.join(sorted(spec.methods))}] " if spec.methods else ""
                lines.append(f"        {spec.name}: {methods}{self.url}{spec.route.display}")
            elif spec.trigger_type == TIMER_TRIGGER:
                timer = next(t for t in self._timers if t.spec is spec)
                startup = ", runOnStartup" if spec.run_on_startup else ""
                lines.append(
                    f"        {spec.name}: timerTrigger ({timer.schedule.description}{startup})"
                )
            else:
                lines.append(
                    f"        {spec.name}: queueTrigger (queue '{spec.queue_name}', "
                    f"connection '{spec.connection}')"
                )
        enforced = (
            "enforced" if self._keys.enforced else "not enforced (DEVHOST_FUNCTION_KEY unset)"
        )
        lines += ["", f"Function keys: {enforced}"]
        return lines

    async def stop(self) -> None:
        """Stop listening and polling, let running invocations finish (bounded), release all."""
        self.stopping.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.shutdown_timeout
        waits: list[asyncio.Task[Any]] = list(self._tasks)
        if self._runner is not None:
            # Stops accepting connections and waits for running handlers (shutdown_timeout).
            waits.append(asyncio.create_task(self._runner.cleanup()))
        if waits:
            _, pending = await asyncio.wait(waits, timeout=max(0.0, deadline - loop.time()))
            for task in pending:
                task.cancel()
            if pending:
                logger.warning(f"{len(pending)} task(s) did not finish in time and were cancelled")
                await asyncio.wait(pending, timeout=2.0)
        if self._queues is not None:
            await self._queues.close()
        if self._invoker is not None:
            self._invoker.shutdown()

    @property
    def abandoned_threads(self) -> int:
        """Sync invocations still running after stop() (threads cannot be cancelled)."""
        return self._invoker.running_sync_invocations if self._invoker else 0


async def serve(host: Host) -> int:
    """Start, print the functions and the ready line, run until SIGINT/SIGTERM, stop."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if not host.stopping.is_set():
            logger.info("Stopping the host (Ctrl-C again to force)...")
            host.stopping.set()
        elif signum == signal.SIGINT:
            # Only a second Ctrl-C forces: supervisors (timeout, process groups) often deliver
            # SIGTERM twice, and the graceful stop is bounded anyway.
            logger.warning("Forced exit")
            sys.stdout.flush()
            os._exit(1)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await host.start()
    except BaseException:
        await host.stop()
        raise
    if not host.stopping.is_set():  # a signal during startup: no ready line
        print("\n".join(host.describe()), flush=True)
        print(f"\n{READY_PREFIX}{host.url}", flush=True)
    await host.stopping.wait()
    await host.stop()
    logger.info("Host stopped")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m devkit host`."""
    parser = argparse.ArgumentParser(
        prog="python -m devkit host",
        description="Run function_app.py without Core Tools, like `func start`.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="HTTP port (default: local.settings.json Host.LocalHttpPort, else 7071; 0: free port)",
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=Path.cwd(),
        help="folder with function_app.py, host.json, local.settings.json (default: current)",
    )
    parser.add_argument("--bind", default=DEFAULT_BIND, help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--no-local-settings",
        action="store_true",
        help="ignore local.settings.json (settings come from the environment only)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        help="seconds running invocations get to finish on SIGINT/SIGTERM (10)",
    )
    return parser


def _options(args: argparse.Namespace) -> HostOptions:
    app_dir = Path(args.app_dir).resolve()
    port = args.port
    if port is None:
        settings_port = None if args.no_local_settings else local_http_port(app_dir)
        port = settings_port or DEFAULT_PORT
    if not 0 <= port < 65536:
        raise HostStartupError(f"--port {port} is not a port number")
    return HostOptions(
        app_dir=app_dir,
        port=port,
        bind=args.bind,
        load_local_settings=not args.no_local_settings,
        shutdown_timeout=args.shutdown_timeout,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m devkit host`; returns the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        host = Host(_options(args))
        host.prepare()
        code = asyncio.run(serve(host))
    except (LocalSettingsError, HostStartupError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:
        # The app's own code failed (at import, typically): its traceback is what helps.
        print("error: the function app failed to start:", file=sys.stderr)
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    if host.abandoned_threads:
        logger.warning(
            f"{host.abandoned_threads} sync invocation(s) still running after "
            f"{host.options.shutdown_timeout:g}s; exiting without them"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # a worker thread would otherwise keep the interpreter alive
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
