"""`POST /api/voice/queue-wait`, the wait URL of a line's queue, in process: what every caller in
a queue costs again and again while they wait (Twilio asks for a new wait document each time
the last one ends).

The design: a warm wait request reads and writes no storage. The line comes from this
instance's cache (`switchboard.lines.lookup`, one read per `LINES_CACHE_SECONDS`), the place in
line from Twilio's own parameters (`QueuePosition`, `QueueTime`, `AvgQueueTime`) plus the
callbacks that arrived before the caller, which the instance remembers for the same TTL
(`switchboard.callqueue.service.callbacks_ahead`, one read per TTL). Both tables are stubs that
count every read and write; the figures:

- `queue.storage_reads_per_warm_wait` (goal 0): reads during the timed rounds sooner than the
  TTL after the one before (the one read per TTL is the design: a change elsewhere is heard),
  per wait request;
- `queue.storage_writes_per_wait` (goal 0): a wait writes nothing (leaving is recorded by the
  `<Enqueue>` action, once);
- `queue.wait_vs_incoming` (shown): the whole wait webhook as the host calls it ÷ the whole
  incoming webhook of the same line (which answers the `<Enqueue>`), side by side, thread CPU
  time; the wait document is the bigger one (the place, the callback offer, the hold prompt).

The queue step's `<Enqueue>` answer also makes the line's Twilio queue ready and asks for a
dispatch: in this benchmark the service's Twilio queue is known and the dispatch request is a
stub, so the incoming side is the voice webhook's own work.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
from twilio.request_validator import RequestValidator

from bench.figures import Figure, Goal, goals, side_by_side
from switchboard import settings as settings_module
from switchboard.callqueue import service as queue_service
from switchboard.lines import lookup
from switchboard.lines.store import LineStore, StoredLine
from switchboard.voice import blueprint as voice_bp
from switchboard.voice import webhooks as voice_webhooks

GOALS = goals(
    {
        "queue.storage_reads_per_warm_wait": Goal("==", 0),
        "queue.storage_writes_per_wait": Goal("==", 0),
    }
)
ROUNDS = 15
CALLS_PER_ROUND = 200
TOKEN = "bench-auth-token-0123456789abcdef"
ORIGIN = "https://voice.contoso.com"
LINE = "+15017122661"
WAIT_URL = f"{ORIGIN}/api/voice/queue-wait?line=%2B15017122661&at=open.0&hop=1"
INCOMING_URL = f"{ORIGIN}/api/voice/incoming"
ENV = {
    "TWILIO_AUTH_TOKEN": TOKEN,
    "PUBLIC_BASE_URL": ORIGIN,
    "LINES_CACHE_SECONDS": "15",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",  # never reached: the stores are stubs
}
DOCUMENT: dict[str, Any] = {
    "name": "Main line",
    "voice": "Polly.Joanna",
    "language": "en-US",
    "timeZone": "America/New_York",
    "hours": {"mon-sun": ["00:00-24:00"]},
    "greeting": {"open": {"say": "Thanks for calling Acme."}},
    "open": [
        {
            "queue": {
                "people": [{"name": "Ana", "number": "+15550000001"}],
                "hold": {"say": "Please hold. Someone will be with you shortly."},
                "announceEvery": 60,
                "callback": True,
            }
        },
        {"voicemail": {}},
    ],
}
CALL = {
    "AccountSid": "AC" + "a" * 32,
    "ApiVersion": "2010-04-01",
    "CallSid": "CA" + "b" * 32,
    "CallStatus": "in-progress",
    "Called": LINE,
    "Caller": "+15558675310",
    "Direction": "inbound",
    "From": "+15558675310",
    "To": LINE,
}
WAITING = {
    **CALL,
    "QueuePosition": "3",
    "QueueSid": "QU" + "c" * 32,
    "QueueTime": "95",
    "AvgQueueTime": "140",
    "CurrentQueueSize": "4",
    "MaxQueueSize": "20",
}


class _Counting:
    """Both tables the wait URL may read (Lines, CallQueue), with no I/O: reads and writes
    counted, and reads sooner than the TTL after the one before counted apart."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.reads = self.writes = self.early = 0
        self._last: dict[str, float] = {}

    def _read(self, table: str) -> None:
        now = time.monotonic()
        last = self._last.get(table)
        if last is not None and now - last < self.ttl:
            self.early += 1
        self._last[table] = now
        self.reads += 1

    # The Lines table as the call path reads it.
    def get(self, number: str) -> StoredLine:
        self._read("Lines")
        return StoredLine(number, 3, DOCUMENT, None, "put")

    # The CallQueue table as the service uses it.
    def callbacks(self, line: str) -> list[Any]:
        self._read("CallQueue")
        return []

    def __getattr__(self, name: str) -> Any:
        def write(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            raise RuntimeError(f"the benchmark's CallQueue stub got {name}")

        return write


class _NoCallLog:
    """The CallLog store: the incoming webhook's record step, counted."""

    def __init__(self, counting: _Counting) -> None:
        self.counting = counting

    def mark_step(self, record_id: str, step: str) -> bool:
        return True

    def update(self, record_id: str, change: Callable[[Any], Any]) -> Any:
        return change(None)


def _requests(url: str, params: dict[str, str], count: int) -> list[func.HttpRequest]:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params),
        "I-Twilio-Idempotency-Token": "bench",
    }
    body = urlencode(params).encode()
    query = url.partition("?")[2]
    return [
        func.HttpRequest(
            method="POST",
            url=url,
            headers=headers,
            params=dict(p.split("=", 1) for p in query.split("&")) if query else {},
            route_params={},
            body=body,
        )
        for _ in range(count)
    ]


def main() -> dict[str, object]:
    """Measure the warm wait URL's storage round trips and its cost beside the incoming call."""
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    settings_module.reset_settings_cache()
    ttl = float(ENV["LINES_CACHE_SECONDS"])
    counting = _Counting(ttl)
    saved_for_calls = LineStore.__dict__["for_calls"]
    saved_line, saved_store = voice_webhooks.line_factory, voice_webhooks.store_factory
    saved_queue_store = queue_service.store_factory
    saved_dispatch = queue_service.request_dispatch
    try:
        LineStore.for_calls = classmethod(lambda cls, settings: counting)  # type: ignore[method-assign, assignment]
        voice_webhooks.line_factory = lookup.line_for
        voice_webhooks.store_factory = lambda settings: _NoCallLog(counting)
        queue_service.store_factory = lambda settings: counting  # type: ignore[assignment, return-value]
        queue_service.request_dispatch = lambda settings, line: None
        queue_service.forget()
        with queue_service._known_lock:
            queue_service._known[LINE] = queue_service._Known("QU" + "c" * 32, 20)
        lookup.forget_cached_lines()

        first = voice_bp.voice_queue_wait(_requests(WAIT_URL, WAITING, 1)[0])
        text = first.get_body().decode()
        if first.status_code != 200 or "You are number 3 in line" not in text:
            raise RuntimeError(f"the wait URL did not answer its document: {text[:300]}")
        entered = voice_bp.voice_incoming(_requests(INCOMING_URL, CALL, 1)[0]).get_body()
        if b"<Enqueue" not in entered:
            raise RuntimeError("the incoming call was not queued: fix the benchmark")
        batches = {
            "wait": [_requests(WAIT_URL, WAITING, CALLS_PER_ROUND) for _ in range(ROUNDS + 1)],
            "incoming": [_requests(INCOMING_URL, CALL, CALLS_PER_ROUND) for _ in range(ROUNDS + 1)],
        }

        def round_of(kind: str) -> Callable[[], int]:
            route = voice_bp.voice_queue_wait if kind == "wait" else voice_bp.voice_incoming

            def one_round() -> int:
                for request in batches[kind].pop():
                    if route(request).status_code != 200:
                        raise RuntimeError(f"{kind} did not answer 200")
                return CALLS_PER_ROUND

            return one_round

        wait_round, incoming_round = round_of("wait"), round_of("incoming")
        wait_round()
        incoming_round()
        reads, early, writes = counting.reads, counting.early, counting.writes
        times = side_by_side(ROUNDS, wait=wait_round, incoming=incoming_round)
        timed = ROUNDS * CALLS_PER_ROUND
        warm_reads = counting.reads - reads
        early_reads = counting.early - early
        wait_writes = counting.writes - writes
    finally:
        LineStore.for_calls = saved_for_calls  # type: ignore[method-assign]
        voice_webhooks.line_factory, voice_webhooks.store_factory = saved_line, saved_store
        queue_service.store_factory = saved_queue_store
        queue_service.request_dispatch = saved_dispatch
        queue_service.forget()
        lookup.forget_cached_lines()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings_module.reset_settings_cache()
    wait, incoming = times["wait"], times["incoming"]
    rounds = f"medians of {ROUNDS} alternating rounds × {CALLS_PER_ROUND} requests, thread CPU"
    figures = [
        Figure(
            "queue.storage_reads_per_warm_wait",
            "storage reads per warm wait URL request (Lines and CallQueue, counted on the"
            " stubs), beyond the one per cache TTL",
            early_reads / timed,
            "",
            f"{warm_reads} reads in {timed} timed waits (and as many incoming calls), "
            f"{early_reads} sooner than the {ttl:g} s TTL after the one before",
        ),
        Figure(
            "queue.storage_writes_per_wait",
            "storage writes per wait URL request",
            wait_writes / timed,
            "",
            f"{wait_writes} writes in {timed} timed waits",
        ),
        Figure(
            "queue.wait_vs_incoming",
            "the whole wait webhook ÷ the whole incoming webhook of the same line (its"
            " <Enqueue>), as the host calls them",
            round(wait / incoming, 2),
            "×",
            f"{wait * 1e6:.0f} µs vs {incoming * 1e6:.0f} µs per request; {rounds}",
        ),
    ]
    for figure in figures:
        print(figure.line())
    return {"figures": [f.as_dict() for f in figures], "wait_us": round(wait * 1e6, 1)}


if __name__ == "__main__":
    main()
