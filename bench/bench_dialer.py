"""The outbound dialer: 500 queued calls through the local host against the Twilio stand-in.

Setup: a fresh Azurite; the Twilio stand-in answering every request after 200 ms; the real app
(`function_app.py`, the project's host.json) in `python -m devkit host`, whose storage traffic
goes through a counting proxy in front of Azurite. 500 valid messages are enqueued (base64,
directly, not counted) before the host starts; the run ends when the stand-in has created 500
calls and the queue is empty.

Figures, per run:
- storage round trips per placed call: table requests (goal <= 3) and queue requests
  (GetMessages per batch, DeleteMessage per message), counted by the proxy; creating the table
  is once per process and shown apart (it was once per thread racing on first use);
- duplicates: calls the stand-in created beyond one per id (goal 0);
- the host process's CPU per placed call (from /proc: the app and the devkit host that runs it,
  from the moment it listens) ÷ that of a hand-written worker (`bench.dialer_floor`) doing the
  same requests on as many threads: receive, insert the record, its index row, create the
  call, merge the outcome, delete the message. Goal <= 1.5x;
- throughput as a ratio to a peer run beside it: the same worker taking one message at a time
  (the one-by-one way). The ceiling the host settings allow is shown for context, computed
  from host.json: (batchSize + newBatchThreshold) in flight ÷ the stand-in's latency.

Two runs: with the Python worker's default thread pool (min(32, cores + 4) threads, the default
of `PYTHON_THREADPOOL_THREAD_COUNT`) and with `PYTHON_THREADPOOL_THREAD_COUNT=16` (one thread per
message of a batch). Status callbacks go to a closed port, so that only the dialer's own storage
traffic is counted (what callbacks cost is `tests/integration/test_idempotency_store.py`'s
count: the first writes the SID alias, three requests; the others two).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from bench.figures import Figure, Goal, goals
from devkit.azurite import ACCOUNT_KEY, ACCOUNT_NAME, Azurite
from devkit.twilio_standin import TwilioStandin

ROOT = Path(__file__).resolve().parents[1]

GOALS = goals(
    {
        "dialer.round_trips_per_placed_call": Goal("<=", 3.0),
        "dialer.duplicates": Goal("==", 0),
        "dialer.cpu_per_call_vs_floor": Goal("<=", 1.5, "×"),
    }
)
CALLS = 500
PEER_CALLS = 40
LATENCY_MS = 200
ACCOUNT_SID = "AC" + "be" * 16
TOKEN = "bench-dialer-auth-token-0123456"
FROM = "+15017122661"
READY = re.compile(r"Host listening on (http://\S+)")
_HOP_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "content-encoding",
}


class CountingProxy:
    """A loopback HTTP proxy to one Azurite service that counts requests by kind."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.port = 0
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None

    def classify(self, method: str, path: str) -> str:
        tail = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if tail == "messages":
            return f"{method} messages"
        if "messages/" in path:
            return f"{method} message"
        if tail.startswith("Tables"):
            return f"{method} Tables"
        if "(" in tail:
            return f"{method} entity"
        return f"{method} {tail or path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        with self.lock:
            self.counts[self.classify(request.method, request.path_qs)] += 1
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            headers=headers,
            data=body,
            allow_redirects=False,
            # Content-Type is signed (Shared Key): never add one the client did not send.
            skip_auto_headers=("Content-Type",),
        ) as upstream:
            data = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=upstream.status, body=data, headers=out)

    async def start(self) -> None:
        self._session = ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.counts)

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()


@contextmanager
def proxies(queue_url: str, table_url: str) -> Iterator[tuple[CountingProxy, CountingProxy]]:
    """Both proxies, served on a background event loop; always stopped."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="storage-proxy", daemon=True)
    thread.start()
    queue, table = CountingProxy(queue_url), CountingProxy(table_url)
    try:
        for proxy in (queue, table):
            asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
        yield queue, table
    finally:
        for proxy in (queue, table):
            asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def connection_string(queue_port: int, table_port: int, blob_port: int) -> str:
    base = "http://127.0.0.1"
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{ACCOUNT_NAME};"
        f"QueueEndpoint={base}:{queue_port}/{ACCOUNT_NAME};"
        f"TableEndpoint={base}:{table_port}/{ACCOUNT_NAME};"
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on exit: connections are refused


class Host:
    """`python -m devkit host` over the project, output captured; always stopped."""

    def __init__(self, env: dict[str, str]) -> None:
        import subprocess

        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devkit",
                "host",
                "--port",
                "0",
                "--app-dir",
                str(ROOT),
                "--no-local-settings",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(60):
            self.stop()
            raise RuntimeError("the host did not start:\n" + "\n".join(self.lines[-30:]))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY.search(line):
                self.ready.set()

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _host_ceiling() -> tuple[int, int]:
    """host.json's (batchSize, newBatchThreshold): what one instance takes in at once."""
    queues = json.loads((ROOT / "host.json").read_text(encoding="utf-8-sig"))["extensions"][
        "queues"
    ]
    return int(queues["batchSize"]), int(queues["newBatchThreshold"])


def _enqueue(settings: Any, prefix: str, count: int) -> None:
    from switchboard.storage import queues

    client = queues.get_queue(settings.outbound_call_queue, settings)
    for n in range(count):
        body = {"id": f"{prefix}{n:04d}", "to": f"+1555{n:07d}", "say": "Reminder"}
        client.send_message(json.dumps(body, separators=(",", ":")))


def _worker(env: dict[str, str], count: int, threads: int) -> dict[str, Any]:
    """`bench.dialer_floor` in a process of its own: its figures."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "bench.dialer_floor", str(count), str(threads)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_once(
    azurite: Azurite, standin: TwilioStandin, threads: int | None, label: str
) -> dict[str, Any]:
    """One run of CALLS calls through the host, then the floor and the peer beside it."""
    from switchboard.logbook.store import RecordStore
    from switchboard.settings import load_settings
    from switchboard.storage import queues, tables

    suffix = os.urandom(4).hex()
    names = {
        "app": (f"bench-calls-{suffix}", f"BenchCalls{suffix}"),
        "floor": (f"bench-floor-{suffix}", f"BenchFloor{suffix}"),
        "peer": (f"bench-peer-{suffix}", f"BenchPeer{suffix}"),
    }
    pool = threads or min(32, (os.cpu_count() or 1) + 4)

    def direct(kind: str) -> Any:
        queue_name, table_name = names[kind]
        return load_settings(
            {
                "AzureWebJobsStorage": azurite.connection_string,
                "TABLE_CALL_LOG": table_name,
                "OUTBOUND_CALL_QUEUE": queue_name,
            }
        )

    prefix = f"bench-{suffix}-"
    for kind, count in (("app", CALLS), ("floor", CALLS), ("peer", PEER_CALLS)):
        settings = direct(kind)
        _enqueue(settings, prefix if kind == "app" else f"{kind}-{suffix}-", count)
        tables.get_table(settings.table_call_log, settings)  # created here, not by the runs
    app_settings = direct("app")
    client = queues.get_queue(app_settings.outbound_call_queue, app_settings)
    store = RecordStore(tables.get_table(app_settings.table_call_log, app_settings))
    standin.clear_requests()

    def environment(kind: str, storage: str) -> dict[str, str]:
        queue_name, table_name = names[kind]
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TWILIO_", "AzureWebJobs", "PYTHON_THREADPOOL", "DEVHOST_"))
        }
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "AzureWebJobsStorage": storage,
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_API_BASE_URL": standin.base_url,
                "TWILIO_FROM_NUMBER": FROM,
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{closed_port()}",
                "OUTBOUND_CALL_QUEUE": queue_name,
                "TABLE_CALL_LOG": table_name,
                # Required by the scheduled-SMS timer's %SMS_TIMER_SCHEDULE%; once a year, so
                # that its storage traffic stays out of the counts.
                "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
            }
        )
        if threads:
            env["PYTHON_THREADPOOL_THREAD_COUNT"] = str(threads)
        return env

    queue_url = f"http://127.0.0.1:{azurite.ports['queue']}"
    table_url = f"http://127.0.0.1:{azurite.ports['table']}"
    with proxies(queue_url, table_url) as (queue_proxy, table_proxy):
        proxied = connection_string(queue_proxy.port, table_proxy.port, azurite.ports["blob"])
        host = Host(environment("app", proxied))
        host_cpu = _cpu_seconds(host.process.pid)
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                created = [
                    r for r in standin.requests(method="POST", resource="Calls") if r.status == 201
                ]
                if len(created) >= CALLS:
                    break
                time.sleep(0.2)
            # Let the last outcomes and the last deletes land before counting.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if not client.get_queue_properties().approximate_message_count:
                    break
                time.sleep(0.2)
            time.sleep(0.5)
            host_cpu = _cpu_seconds(host.process.pid) - host_cpu
            counts_table = table_proxy.snapshot()
            counts_queue = queue_proxy.snapshot()
        finally:
            host.stop()
    records = [store.get(f"{prefix}{n:04d}") for n in range(CALLS)]
    done = [r for r in records if r is not None and r.get("IdempotencyStatus") == "completed"]
    requests = standin.requests(method="POST", resource="Calls")
    placed = [r for r in requests if r.status == 201]
    to_numbers = {r.param("To") for r in placed}
    start = min(r["CreatedAt"] for r in done)
    end = max(r["PlacedAt"] for r in done)
    seconds = (end - start).total_seconds()
    # One message's time in the function: record created (claim) to call placed (outcome).
    spans = sorted((r["PlacedAt"] - r["CreatedAt"]).total_seconds() * 1000 for r in done)
    floor = _worker(environment("floor", azurite.connection_string), CALLS, pool)
    peer = _worker(environment("peer", azurite.connection_string), PEER_CALLS, 1)
    batch_size, threshold = _host_ceiling()
    ceiling = (batch_size + threshold) / (LATENCY_MS / 1000)
    # Creating the app's tables happens once per process, not per call: shown apart.
    one_off = {k: v for k, v in counts_table.items() if k.endswith(" Tables")}
    table_total = sum(counts_table.values()) - sum(one_off.values())
    queue_total = sum(counts_queue.values())
    rate = len(done) / seconds
    peer_rate = peer["calls"] / peer["seconds"]
    result = {
        "threads": pool,
        "calls": len(done),
        "twilio_creates": len(placed),
        "duplicates": len(placed) - len(to_numbers),
        "seconds": round(seconds, 2),
        "calls_per_s": round(rate, 1),
        "one_by_one_calls_per_s": round(peer_rate, 2),
        "vs_one_by_one": round(rate / peer_rate, 1),
        "ceiling_per_s": ceiling,
        "of_ceiling": round(rate / ceiling, 2),
        "median_claim_to_placed_ms": round(spans[len(spans) // 2]),
        "table_round_trips_per_call": round(table_total / CALLS, 2),
        "queue_round_trips_per_call": round(queue_total / CALLS, 2),
        "table_requests": dict(counts_table),
        "table_create_requests": sum(one_off.values()),
        "queue_requests": dict(counts_queue),
        "host_cpu_ms_per_call": round(host_cpu / len(done) * 1000, 2),
        "floor_cpu_ms_per_call": round(floor["cpu"] / floor["calls"] * 1000, 2),
    }
    print(
        f"{label} ({pool} threads): {result['calls']} calls in {seconds:.1f} s = {rate:.1f}/s "
        f"({rate / peer_rate:.1f}x the one-by-one worker's {peer_rate:.2f}/s; host.json allows "
        f"({batch_size} + {threshold}) / {LATENCY_MS} ms = {ceiling:.0f}/s); table round trips "
        f"per call {result['table_round_trips_per_call']}, queue "
        f"{result['queue_round_trips_per_call']}; CPU {result['host_cpu_ms_per_call']} ms per "
        f"call vs the floor's {result['floor_cpu_ms_per_call']} ms; duplicates "
        f"{result['duplicates']}",
        flush=True,
    )
    print(f"  table requests: {dict(counts_table)}", flush=True)
    print(f"  queue requests: {dict(counts_queue)}", flush=True)
    return result


def main() -> dict[str, Any]:
    """Run both configurations; returns the figures."""
    with (
        Azurite(ports=0) as azurite,
        TwilioStandin(
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            latency_ms=LATENCY_MS,
            callback_delay_ms=0,
            callback_timeout_s=1,
        ) as standin,
    ):
        runs = {
            "default thread pool": run_once(azurite, standin, None, "default thread pool"),
            "PYTHON_THREADPOOL_THREAD_COUNT=16": run_once(
                azurite, standin, 16, "PYTHON_THREADPOOL_THREAD_COUNT=16"
            ),
        }
    worst = max(runs.values(), key=lambda r: r["table_round_trips_per_call"])
    cpu = max(runs.values(), key=lambda r: r["host_cpu_ms_per_call"] / r["floor_cpu_ms_per_call"])
    per_run = "; ".join(
        f"{label}: {r['table_round_trips_per_call']} table + {r['queue_round_trips_per_call']} "
        f"queue, {r['calls_per_s']}/s = {r['of_ceiling']:.0%} of {r['ceiling_per_s']:.0f}/s"
        for label, r in runs.items()
    )
    figures = [
        Figure(
            "dialer.round_trips_per_placed_call",
            "outbound calls: table round trips per placed call (counted by a proxy; the worse run)",
            worst["table_round_trips_per_call"],
            "",
            f"{per_run}; create-table requests per process: "
            + ", ".join(str(r["table_create_requests"]) for r in runs.values()),
        ),
        Figure(
            "dialer.duplicates",
            "outbound calls: calls created beyond one per id",
            sum(r["duplicates"] for r in runs.values()),
            "",
            f"{sum(r['twilio_creates'] for r in runs.values())} creates for "
            f"{sum(r['calls'] for r in runs.values())} ids",
        ),
        Figure(
            "dialer.cpu_per_call_vs_floor",
            "outbound calls: the host process's CPU per placed call ÷ a hand-written worker doing"
            " the same requests (the worse run)",
            round(cpu["host_cpu_ms_per_call"] / cpu["floor_cpu_ms_per_call"], 2),
            "×",
            "; ".join(
                f"{label}: {r['host_cpu_ms_per_call']} vs {r['floor_cpu_ms_per_call']} ms"
                for label, r in runs.items()
            ),
        ),
        Figure(
            "dialer.vs_one_by_one",
            "outbound calls: calls/s ÷ the same worker taking one message at a time",
            min(r["vs_one_by_one"] for r in runs.values()),
            "×",
            "; ".join(
                f"{label}: {r['calls_per_s']}/s vs {r['one_by_one_calls_per_s']}/s"
                for label, r in runs.items()
            ),
        ),
    ]
    for figure in figures:
        print(figure.line(), flush=True)
    return {"figures": [f.as_dict() for f in figures], "latency_ms": LATENCY_MS, "runs": runs}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, default=str))
