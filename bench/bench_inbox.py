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
- `inbox.poll_reads_one_line` and `inbox.poll_reads_every_line`: every table request of a
  poll of the conversation list that finds nothing new (304), the session's included, counted
  against Azurite on the app's own clients: a view of one line, and the owner's view of every
  line with three lines that have conversations. Each is one point read, the view's change
  marker (the line's, the account's): the session rests on this instance's check of it for
  the same validator (`switchboard.inbox.remembered`), and the first poll after a list is
  not counted (it reads the user's row too, and is remembered).
- `inbox.poll_requests_conversation`: the same for an open conversation's poll: one query (its
  state row and its line's marker; the first two polls after it is shown, which check the
  session, not counted).
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
        "inbox.poll_reads_one_line": Goal("<=", 1),
        "inbox.poll_reads_every_line": Goal("<=", 1),
        "inbox.poll_requests_conversation": Goal("<=", 1),
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


POLL_LINES = ["+15017122661", "+15017122662", "+15017122663"]


def _count_polls(settings: Any, polls: int = 20) -> tuple[float, float, float]:
    """Table requests per poll that finds nothing new, of one line's list, of every line's
    (a fresh owner, three lines with a conversation each) and of a conversation, all of them
    counted."""
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
    for line in POLL_LINES:
        ConversationStore.from_settings(settings).record(line, "+15558675310", event, now=now)

    conversation = {"line": POLL_LINES[0], "customer": "+15558675310"}

    def poll(params: dict[str, str] | None, etag: str | None) -> func.HttpResponse:
        """A poll of the list (`params`), or of the conversation (None)."""
        headers = {"cookie": cookie, **({"if-none-match": etag} if etag else {})}
        request = func.HttpRequest(
            "GET",
            "http://127.0.0.1:7071/api/inbox/conversations",
            headers=headers,
            params=params or {},
            route_params=conversation if params is None else {},
            body=b"",
        )
        if params is None:
            shown: func.HttpResponse = conversation_routes.conversation_item(request)
            return shown
        listed: func.HttpResponse = conversation_routes.conversation_list(request)
        return listed

    found = []
    with counting_table_requests() as counter:
        for params in ({"line": POLL_LINES[0]}, {}, None):
            etag = poll(params, None).headers["ETag"]
            for _ in range(2):  # checked, remembered (witnessed); the clients warm
                assert poll(params, etag).status_code == 304
            counter.reset()
            for _ in range(polls):
                assert poll(params, etag).status_code == 304
            found.append(round(counter.total() / polls, 2))
    return found[0], found[1], found[2]


def _poll_reads() -> tuple[float, float, float]:
    """Table requests of a poll that finds nothing new: one line's, every line's, a
    conversation's (Azurite)."""
    import os
    import uuid
    from unittest import mock

    from devkit.azurite import Azurite
    from switchboard import settings as settings_module
    from switchboard.inbox.remembered import REMEMBERED

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
                return _count_polls(settings_module.get_settings())
            finally:
                settings_module.reset_settings_cache()
                REMEMBERED.clear()


def main() -> dict[str, object]:
    """The first load's size, the session check's reads and a poll's."""
    from switchboard.inbox import assets

    bundle = assets.build_bundle()
    static = len(bundle.page.gzipped) + sum(len(a.gzipped) for a in bundle.assets.values())
    raw = len(bundle.page.body) + sum(len(a.body) for a in bundle.assets.values())
    data = len(gzip.compress(_first_view_json()))
    first_load = (static + data) / 1024
    reads = _reads_per_check()
    one_line, every_line, conversation = _poll_reads()
    print(
        f"inbox: first load {first_load:.1f} KB gzipped ({raw / 1024:.1f} KB uncompressed, {len(bundle.assets) + 1} files); {reads} read per session check; a poll finding nothing new: {one_line} read (one line), {every_line} (every line, {len(POLL_LINES)} lines), {conversation} (a conversation)"
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
            "inbox.poll_reads_one_line",
            "inbox: table requests of a poll of a line's conversations that finds nothing new "
            "(304), the session's included (Azurite)",
            one_line,
        ),
        Figure(
            "inbox.poll_reads_every_line",
            f"inbox: the same for the owner's every-line view ({len(POLL_LINES)} lines)",
            every_line,
        ),
        Figure(
            "inbox.poll_requests_conversation",
            "inbox: the same for an open conversation (one query: its state row and its "
            "line's change marker)",
            conversation,
        ),
    ]
    return {"figures": [f.as_dict() for f in figures]}
