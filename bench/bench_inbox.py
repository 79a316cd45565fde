"""The inbox's first load: what a browser transfers to show the conversation list, what
checking a session costs in storage, and what a poll that finds nothing new costs.

- `inbox.first_load_kb`: the page and every asset it loads (all of the app's modules: the first
  view imports them all), gzipped as the static shell serves them, plus the JSON of the first
  view (the session, the lines' names for the filter: 20 lines, and a page of 20
  conversations), in KB. A count of bytes, computed from the bundle as built from
  `switchboard/inbox/web/`; the browser tests measure the same first load on the wire through
  the local host (`tests/e2e/test_inbox_conversations_browser.py`, headers included).
- `inbox.storage_reads_per_session_check`: table reads to admit one request with a session
  (counted on a table stub): the signature is checked first, then the user's row once.
- `inbox.poll_reads_beyond_session`: table requests of a poll of one line's conversation list
  that finds nothing new (304), beside the session's own read, counted against Azurite: the
  line's change marker, one point read.
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
        "inbox.poll_reads_beyond_session": Goal("<=", 1),
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
    conversations = {
        "conversations": [
            {
                "line": "+15017122661",
                "customer": f"+1555867{n:04d}",
                "tag": f"A{n + 1}",
                "state": "open",
                "unread": n % 3,
                "lastActivityAt": "2026-12-07T09:00:00.000000Z",
                "preview": "Hi, is the shop open on Saturday? I would like to bring my bike in "
                "for a service before the trip next week.",
                "lastDirection": "inbound",
                "lastKind": "text",
                "assignedTo": "Olivia Owner",
                "name": f"Customer {n}",
            }
            for n in range(20)
        ],
        "nextBefore": "MDAwMDAwMDAwMDAwMDAtKzE1NTU4Njc1MzEwfCsxNTAxNzEyMjY2MQ",
    }
    return b"".join(json.dumps(part).encode() for part in (session, lines, conversations))


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


def _count_polls(settings: Any, line: str, polls: int = 20) -> int:
    """Table requests per poll of `line`'s list that finds nothing new (a fresh owner)."""
    from devkit.storage_counter import counting_table_requests
    from switchboard.conversations import rules
    from switchboard.conversations.store import ConversationStore
    from switchboard.inbox import conversation_routes, service, sessions

    user = service.create_user(
        settings, {"name": "Bench", "phone": "+15550001111", "role": "owner"}
    )
    cookie = f"{sessions.LOOPBACK_COOKIE}={service.open_session(settings, user['id']).cookie}"
    now = datetime.now(UTC)
    event = rules.Event("SM" + "1" * 32, now, rules.KIND_TEXT, rules.INBOUND, "hi", True)
    ConversationStore.from_settings(settings).record(line, "+15558675310", event, now=now)

    def poll(etag: str | None) -> func.HttpResponse:
        headers = {"cookie": cookie, **({"if-none-match": etag} if etag else {})}
        request = func.HttpRequest(
            "GET",
            "http://127.0.0.1:7071/api/inbox/conversations",
            headers=headers,
            params={"line": line},
            route_params={},
            body=b"",
        )
        answer: func.HttpResponse = conversation_routes.conversation_list(request)
        return answer

    etag = poll(None).headers["ETag"]
    with counting_table_requests() as counter:
        assert poll(etag).status_code == 304  # the clients warm
        counter.reset()
        for _ in range(polls):
            assert poll(etag).status_code == 304
        return counter.total() // polls


def _poll_reads() -> int:
    """Table requests of a poll that finds nothing new, beside the session's (Azurite)."""
    import os
    import uuid
    from unittest import mock

    from devkit.azurite import Azurite
    from switchboard import settings as settings_module
    from switchboard.conversations.store import REGISTERED
    from switchboard.inbox.conversations import KNOWN_LINES

    suffix = uuid.uuid4().hex[:8]
    with Azurite(ports=0) as azurite:
        values = {
            "AzureWebJobsStorage": azurite.connection_string,
            "INBOX_SESSION_KEY": "bench-inbox-session-key-0123456789abcdef",
            "TABLE_CONVERSATIONS": "bipconv" + suffix,
            "TABLE_INBOX_USERS": "bipusers" + suffix,
        }
        with mock.patch.dict(os.environ, values):
            settings_module.reset_settings_cache()
            try:
                return _count_polls(settings_module.get_settings(), "+15017122661") - 1
            finally:
                settings_module.reset_settings_cache()
                REGISTERED.clear()
                KNOWN_LINES.clear()


def main() -> dict[str, object]:
    """The first load's size, the session check's reads and a poll's."""
    from switchboard.inbox import assets

    bundle = assets.build_bundle()
    static = len(bundle.page.gzipped) + sum(len(a.gzipped) for a in bundle.assets.values())
    raw = len(bundle.page.body) + sum(len(a.body) for a in bundle.assets.values())
    data = len(gzip.compress(_first_view_json()))
    first_load = (static + data) / 1024
    reads = _reads_per_check()
    polled = _poll_reads()
    print(
        f"inbox: first load {first_load:.1f} KB gzipped ({raw / 1024:.1f} KB uncompressed, {len(bundle.assets) + 1} files); {reads} read per session check; a poll finding nothing new {polled} read beside it"
    )
    figures = [
        Figure(
            "inbox.first_load_kb",
            "inbox: first load of the conversation list, gzipped (page, every asset, the view's JSON)",
            round(first_load, 1),
            " KB",
            f"{raw / 1024:.1f} KB uncompressed in {len(bundle.assets) + 1} files",
        ),
        Figure(
            "inbox.storage_reads_per_session_check",
            "inbox: table reads to admit a request with a session (a forged cookie: 0)",
            reads,
        ),
        Figure(
            "inbox.poll_reads_beyond_session",
            "inbox: table requests of a poll of a line's conversations that finds nothing new "
            "(304), beside the session's read (Azurite)",
            polled,
        ),
    ]
    return {"figures": [f.as_dict() for f in figures]}
