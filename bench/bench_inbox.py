"""The inbox's first load: what a browser transfers to show the lines list, and what checking a
session costs in storage.

- `inbox.first_load_kb`: the page and every asset it loads (all of the app's modules: the first
  view imports them all), gzipped as the static shell serves them, plus the JSON of the first
  view (the session and a lines list of 20 lines), in KB. A count of bytes, computed from the
  bundle as built from `switchboard/inbox/web/`; the browser tests measure the same first load
  on the wire through the local host (`tests/e2e/test_inbox_browser.py`, headers included).
- `inbox.storage_reads_per_session_check`: table reads to admit one request with a session
  (counted on a table stub): the signature is checked first, then the user's row once.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func

from bench.figures import Figure, Goal, goals

GOALS = goals(
    {
        "inbox.first_load_kb": Goal("<=", 100, " KB"),
        "inbox.storage_reads_per_session_check": Goal("<=", 1),
    }
)

LINES_IN_LIST = 20


def _first_view_json() -> bytes:
    session = {"user": {"id": "u" + "0" * 16, "name": "Olivia Owner", "role": "owner", "lines": []}}
    session["csrf"] = "x" * 43
    lines = {
        "items": [
            {
                "number": f"+1501712{n:04d}",
                "name": f"Line {n}",
                "version": 3,
                "updatedAt": "2026-12-07T09:00:00Z",
                "state": "open",
                "reason": "hours",
            }
            for n in range(LINES_IN_LIST)
        ]
    }
    return json.dumps(session).encode() + json.dumps(lines).encode()


class _Entity(dict[str, Any]):
    """An entity as the SDK returns it: a dict with `metadata`."""

    metadata: dict[str, str]


class _CountingTable:
    def __init__(self, entity: dict[str, Any]) -> None:
        self.entity = entity
        self.reads = 0

    def get_entity(self, partition_key: str, row_key: str) -> Any:
        self.reads += 1

        found = _Entity(self.entity)
        found.metadata = {"etag": 'W/"1"'}
        return found


def _reads_per_check() -> int:
    from switchboard.inbox import authenticator, sessions
    from switchboard.inbox.store import InboxUserStore
    from switchboard.settings import load_settings

    key = "bench-inbox-session-key-0123456789abcdef"
    settings = load_settings({"INBOX_SESSION_KEY": key})
    now = datetime.now(UTC)
    session_id = sessions.new_session_id()
    user_id = "u" + "1" * 16
    entry = sessions.opened((), session_id, now, timedelta(hours=1))[0]
    table = _CountingTable(
        {
            "PartitionKey": user_id,
            "RowKey": "user",
            "Name": "Bench",
            "Role": "owner",
            "Lines": "[]",
            "Sessions": json.dumps(
                [[entry.digest, entry.created_at.isoformat(), entry.expires_at.isoformat()]]
            ),
        }
    )
    original = InboxUserStore.from_settings
    InboxUserStore.from_settings = classmethod(lambda cls, s: cls(table))  # type: ignore[assignment, method-assign, arg-type]
    try:
        cookie = f"{sessions.LOOPBACK_COOKIE}={sessions.cookie_value(key, user_id, session_id)}"
        request = func.HttpRequest(
            "GET",
            "http://127.0.0.1:7071/api/inbox/lines",
            headers={"cookie": cookie},
            params={},
            route_params={},
            body=b"",
        )
        checks = 100
        for _ in range(checks):
            assert authenticator.CookieSessions().principal(request, settings) is not None
        forged = func.HttpRequest(
            "GET",
            request.url,
            headers={"cookie": cookie[:-2] + "AA"},
            params={},
            route_params={},
            body=b"",
        )
        before = table.reads
        assert authenticator.CookieSessions().principal(forged, settings) is None
        assert table.reads == before  # a forged cookie costs no read
        return before // checks
    finally:
        InboxUserStore.from_settings = original  # type: ignore[method-assign]


def main() -> dict[str, object]:
    """The first load's size and the session check's reads."""
    from switchboard.inbox import assets

    bundle = assets.build_bundle()
    static = len(bundle.page.gzipped) + sum(len(a.gzipped) for a in bundle.assets.values())
    raw = len(bundle.page.body) + sum(len(a.body) for a in bundle.assets.values())
    data = len(gzip.compress(_first_view_json()))
    first_load = (static + data) / 1024
    reads = _reads_per_check()
    print(
        f"inbox: first load {first_load:.1f} KB gzipped ({raw / 1024:.1f} KB uncompressed, {len(bundle.assets) + 1} files); {reads} read per session check"
    )
    figures = [
        Figure(
            "inbox.first_load_kb",
            "inbox: first load of the lines list, gzipped (page, every asset, the view's JSON)",
            round(first_load, 1),
            " KB",
            f"{raw / 1024:.1f} KB uncompressed in {len(bundle.assets) + 1} files",
        ),
        Figure(
            "inbox.storage_reads_per_session_check",
            "inbox: table reads to admit a request with a session (a forged cookie: 0)",
            reads,
        ),
    ]
    return {"figures": [f.as_dict() for f in figures]}
