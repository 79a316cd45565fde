"""Count the Table Storage requests the app's own clients send: a transport-level hook.

`counting_table_requests()` installs a `raw_request_hook` (azure-core's `CustomHookPolicy`,
which sits after the retry policy: it runs once per HTTP request actually sent, retries
included, and once per transaction) in `switchboard.storage.tables.CLIENT_OPTIONS`, the options
every table client of the app is built with, sync and async. Tests and benchmarks read the
counts by kind: `POST Tables` (create table), `POST $batch` (a transaction), `POST <table>`
(insert), `PUT`/`PATCH`/`MERGE entity` (upsert, update), `DELETE entity`, `GET entity` (point
read), `GET query` (a page of a query).

It also counts the entities read (a `raw_response_hook` beside it): each point read that found
its entity is one, each page of a query as many as it returned (`RequestCounter.entities`).
Azurite, like Table Storage, answers a query page by page, so what a query costs is the pages
it asked for, however many rows it then keeps.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

#: Request kinds that are per-process setup, not per-operation cost.
SETUP_KINDS = frozenset({"POST Tables"})


def classify(method: str, url: str) -> str:
    """The kind of one Table Storage request (see the module doc)."""
    path = unquote(urlsplit(url).path).rstrip("/")
    tail = path.rsplit("/", 1)[-1]
    if tail == "$batch":
        return f"{method} $batch"
    if tail.startswith("Tables"):
        return f"{method} Tables"
    if "(" in tail and tail.endswith(")") and "PartitionKey=" in tail:
        return f"{method} entity"
    if method == "GET":
        return "GET query"
    return f"{method} {tail}"


class RequestCounter:
    """A `raw_request_hook` that counts requests by kind (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._entities = 0

    def __call__(self, request: Any) -> None:
        http = request.http_request
        kind = classify(http.method, http.url)
        with self._lock:
            self._counts[kind] += 1

    def response(self, pipeline_response: Any) -> None:
        """The `raw_response_hook`: count the entities a read returned."""
        http = pipeline_response.http_request
        answer = pipeline_response.http_response
        if http.method != "GET" or answer.status_code != 200:
            return
        kind = classify(http.method, http.url)
        found = 0
        if kind == "GET entity":
            found = 1
        elif kind == "GET query":
            try:
                found = len(json.loads(answer.body()).get("value", []))
            except (ValueError, AttributeError, TypeError):
                found = 0
        with self._lock:
            self._entities += found

    def entities(self) -> int:
        """Entities read so far (point reads that found one, rows of query pages)."""
        with self._lock:
            return self._entities

    def snapshot(self) -> Counter[str]:
        """The counts so far, by kind."""
        with self._lock:
            return Counter(self._counts)

    def total(self, *, setup: bool = False) -> int:
        """How many requests were sent (without table creation unless `setup`)."""
        counts = self.snapshot()
        return sum(n for kind, n in counts.items() if setup or kind not in SETUP_KINDS)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._counts.clear()
            self._entities = 0


@contextmanager
def counting_table_requests() -> Iterator[RequestCounter]:
    """Count every table request of the app's clients built inside the block.

    Cached sync clients and the created-tables registry are dropped on entry and exit, so the
    clients of the block carry the hook and table creation is counted as the app meets it.
    """
    from switchboard.storage import tables

    counter = RequestCounter()
    saved = tables.CLIENT_OPTIONS
    tables.CLIENT_OPTIONS = {
        **saved,
        "raw_request_hook": counter,
        "raw_response_hook": counter.response,
    }
    tables.forget_created_tables()
    try:
        yield counter
    finally:
        tables.CLIENT_OPTIONS = saved
        tables.forget_created_tables()
