"""The outbound dialer: 500 queued calls through the local host against the Twilio stand-in.

Setup: a fresh Azurite; the Twilio stand-in answering every request after 200 ms; the real app
(`function_app.py`, the project's host.json: batchSize 16) in `python -m devkit host`, whose storage
traffic goes through a counting proxy in front of Azurite. 500 valid messages are enqueued (base64,
directly, not counted) before the host starts; the run ends when the stand-in has created 500
calls and every record says `completed`.

Figures:
- calls/s, from the first record created to the last call placed (record timestamps), against
  the ceiling the host settings allow: batchSize ÷ Twilio latency (16 / 0.2 s = 80/s);
- storage round trips per call: table requests (goal <= 4) and queue requests (GetMessages per
  batch, DeleteMessage per message), counted by the proxy.

Two runs: with the Python worker's default thread pool (min(32, cores + 4) threads, the default of
`PYTHON_THREADPOOL_THREAD_COUNT`) and with `PYTHON_THREADPOOL_THREAD_COUNT=16` (one thread per
message of a batch). Status callbacks go to a closed port, so that only the dialer's own storage
traffic is counted (the status route's writes are the SMS/status issue's).
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

from devkit.azurite import ACCOUNT_KEY, ACCOUNT_NAME, Azurite
from devkit.twilio_standin import TwilioStandin

ROOT = Path(__file__).resolve().parents[1]

CALLS = 500
LATENCY_MS = 200
GOAL_ROUND_TRIPS = 4.0
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


def run_once(
    azurite: Azurite, standin: TwilioStandin, threads: int | None, label: str
) -> dict[str, Any]:
    """One run of CALLS calls; returns its figures."""
    from switchboard.logbook.store import RecordStore
    from switchboard.settings import load_settings
    from switchboard.storage import queues, tables

    suffix = os.urandom(4).hex()
    queue_name = f"bench-calls-{suffix}"
    table_name = f"BenchCalls{suffix}"
    direct = load_settings(
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "TABLE_CALL_LOG": table_name,
            "OUTBOUND_CALL_QUEUE": queue_name,
        }
    )
    client = queues.get_queue(queue_name, direct)
    prefix = f"bench-{suffix}-"
    for n in range(CALLS):
        body = {"id": f"{prefix}{n:04d}", "to": f"+1555{n:07d}", "say": "Reminder"}
        client.send_message(json.dumps(body, separators=(",", ":")))
    table = tables.get_table(table_name, direct)  # created here: the host's first use is free
    store = RecordStore(table)
    standin.clear_requests()

    queue_url = f"http://127.0.0.1:{azurite.ports['queue']}"
    table_url = f"http://127.0.0.1:{azurite.ports['table']}"
    with proxies(queue_url, table_url) as (queue_proxy, table_proxy):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TWILIO_", "AzureWebJobs", "PYTHON_THREADPOOL", "DEVHOST_"))
        }
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "AzureWebJobsStorage": connection_string(
                    queue_proxy.port, table_proxy.port, azurite.ports["blob"]
                ),
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
        host = Host(env)
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
    ceiling = 16 / (LATENCY_MS / 1000)
    # Creating the app's tables happens once per process, not per call: shown apart.
    one_off = {k: v for k, v in counts_table.items() if k.endswith(" Tables")}
    table_total = sum(counts_table.values()) - sum(one_off.values())
    queue_total = sum(counts_queue.values())
    result = {
        "threads": threads or f"default ({min(32, (os.cpu_count() or 1) + 4)})",
        "calls": len(done),
        "twilio_creates": len(placed),
        "duplicates": len(placed) - len(to_numbers),
        "seconds": round(seconds, 2),
        "calls_per_s": round(len(done) / seconds, 1),
        "ceiling_per_s": ceiling,
        "median_claim_to_placed_ms": round(spans[len(spans) // 2]),
        "of_ceiling": round(len(done) / seconds / ceiling, 2),
        "table_round_trips_per_call": round(table_total / CALLS, 2),
        "queue_round_trips_per_call": round(queue_total / CALLS, 2),
        "table_requests": dict(counts_table),
        "table_one_off_requests": sum(one_off.values()),
        "queue_requests": dict(counts_queue),
    }
    print(
        f"{label}: {result['calls']} calls in {seconds:.1f} s = {result['calls_per_s']}/s "
        f"(ceiling {ceiling:.0f}/s = batch 16 / {LATENCY_MS} ms, {result['of_ceiling']:.0%}); "
        f"table round trips/call {result['table_round_trips_per_call']} "
        f"(goal <= {GOAL_ROUND_TRIPS:g}), queue {result['queue_round_trips_per_call']}; "
        f"median claim-to-placed {result['median_claim_to_placed_ms']} ms; "
        f"duplicate calls {result['duplicates']}",
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
        default = run_once(azurite, standin, None, "default thread pool")
        sixteen = run_once(azurite, standin, 16, "PYTHON_THREADPOOL_THREAD_COUNT=16")
    return {
        "latency_ms": LATENCY_MS,
        "default_pool": default,
        "pool_16": sixteen,
        "goal_round_trips": GOAL_ROUND_TRIPS,
        "met": all(
            r["table_round_trips_per_call"] <= GOAL_ROUND_TRIPS and r["duplicates"] == 0
            for r in (default, sixteen)
        ),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, default=str))
