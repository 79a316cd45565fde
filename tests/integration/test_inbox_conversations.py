"""The inbox's conversation routes against Azurite, called as the host calls them (with a
session cookie): a poll of the list that finds nothing new is answered 304 and reads one entity
(its view's change marker: one line's, or the account's for the owner's every line and a staff
user's lines), counted on the clients' own requests; ending or narrowing a session (the command
line in another process, the owner's and the operator's routes, sign-out) and its expiry are
seen by the next poll (401); new activity and a change move the validators; staff see only
their lines; a reply is signed with the user's name.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devkit.storage_counter import SETUP_KINDS, RequestCounter, counting_table_requests
from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.conversations import rules
from switchboard.conversations.rules import Event
from switchboard.conversations.store import ConversationStore
from switchboard.inbox import conversation_routes, routes, service
from switchboard.inbox.remembered import REMEMBERED
from switchboard.inbox.sessions import (
    CSRF_HEADER,
    LOOPBACK_COOKIE,
    MAX_SESSIONS_PER_USER,
    csrf_token,
)
from switchboard.settings import Settings, get_settings, reset_settings_cache

STANDIN_SEED = 24
LINE = "+15017122661"
OTHER_LINE = "+15005550010"
THIRD_LINE = "+15017122662"
DANA = "+15557770101"
ERIN = "+15557770102"
SESSION_KEY = "integration-inbox-session-key-0123456789abcdef"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def settings(
    storage_connection_string: str,
    twilio: TwilioStandin,
    unique_name: str,
    clean_env: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    values = {
        "AzureWebJobsStorage": storage_connection_string,
        **twilio.settings(),
        "TWILIO_FROM_NUMBER": LINE,
        "TABLE_CALL_LOG": unique_name + "c",
        "TABLE_MESSAGE_LOG": unique_name + "m",
        "TABLE_OPT_OUT": unique_name + "o",
        "TABLE_LINES": unique_name + "l",
        "TABLE_CONVERSATIONS": unique_name + "v",
        "TABLE_INBOX_USERS": unique_name + "u",
        "TABLE_CONTACTS": unique_name + "k",
        "INBOX_SESSION_KEY": SESSION_KEY,
    }
    for name, value in values.items():
        clean_env.setenv(name, value)
    reset_settings_cache()
    yield get_settings()
    reset_settings_cache()


class Session:
    """A signed-in user, calling the routes as the host would."""

    def __init__(self, settings: Settings, user: dict[str, Any]) -> None:
        self.user, self.user_id = user, str(user["id"])
        opened = service.open_session(settings, user["id"])
        self.cookie = f"{LOOPBACK_COOKIE}={opened.cookie}"
        self.csrf = csrf_token(SESSION_KEY, opened.session_id)

    def call(
        self,
        route: Any,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        route_params: dict[str, str] | None = None,
        body: bytes = b"",
        **headers: str,
    ) -> func.HttpResponse:
        sent = {"Cookie": self.cookie, **{k.replace("_", "-"): v for k, v in headers.items()}}
        if method != "GET":
            sent[CSRF_HEADER] = self.csrf
            sent["Content-Type"] = "application/json"
        request = func.HttpRequest(
            method=method,
            url=f"http://127.0.0.1:7071/api/inbox/{path}",
            headers=sent,
            params=params or {},
            route_params=route_params or {},
            body=body,
        )
        response: func.HttpResponse = route(request)
        return response


def users(settings: Settings, staff_lines: list[str] | None = None) -> tuple[Session, Session]:
    owner = service.create_user(
        settings, {"name": "Olivia", "phone": "+15550001111", "role": "owner"}
    )
    staff = service.create_user(
        settings,
        {
            "name": "Sam",
            "email": "sam@example.com",
            "role": "staff",
            "lines": staff_lines or [OTHER_LINE],
        },
    )
    return Session(settings, owner), Session(settings, staff)


def sent(counter: RequestCounter) -> dict[str, int]:
    """The requests counted, by kind, without the tables' creation (a client's first use)."""
    return {kind: n for kind, n in counter.snapshot().items() if kind not in SETUP_KINDS}


def text(store: ConversationStore, line: str, customer: str, n: int) -> None:
    at = NOW + timedelta(minutes=n)
    event = Event(
        f"SM{n:032d}", at, rules.KIND_TEXT, rules.INBOUND, f"text {n}", from_customer=True
    )
    store.record(line, customer, event, now=at)


def test_a_poll_that_finds_nothing_new_is_304_and_reads_one_entity(settings: Settings) -> None:
    owner, _ = users(settings)
    store = ConversationStore.from_settings(settings)
    text(store, LINE, DANA, 1)
    text(store, OTHER_LINE, ERIN, 2)
    text(store, THIRD_LINE, DANA, 3)
    route = conversation_routes.conversation_list
    one_line = {"line": LINE, "state": "open"}
    first = owner.call(route, "GET", "conversations", params=one_line)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    with counting_table_requests() as counter:
        # The first poll is checked against storage (the user's row, then the marker) and
        # remembered: the next ones rest on it.
        counter.reset()
        checked = owner.call(route, "GET", "conversations", params=one_line, If_None_Match=etag)
        assert checked.status_code == 304
        assert sent(counter) == {"GET entity": 2}
        counter.reset()
        again = owner.call(route, "GET", "conversations", params=one_line, If_None_Match=etag)
        assert again.status_code == 304
        assert again.get_body() == b""
        # The line's change marker: nothing else, not even the session's row.
        assert sent(counter) == {"GET entity": 1}
        assert counter.entities() == 1
        every = owner.call(route, "GET", "conversations")
        assert len(json(every)["conversations"]) == 3
        owner.call(route, "GET", "conversations", If_None_Match=every.headers["ETag"])
        counter.reset()
        polled = owner.call(route, "GET", "conversations", If_None_Match=every.headers["ETag"])
        assert polled.status_code == 304
        # Every line the owner sees (three): the account's marker, one read.
        assert sent(counter) == {"GET entity": 1}
        assert counter.entities() == 1
    # New activity on the line moves the validator; the list then has it.
    text(store, LINE, ERIN, 4)
    moved = owner.call(route, "GET", "conversations", params=one_line, If_None_Match=etag)
    assert moved.status_code == 200
    assert moved.headers["ETag"] != etag
    listed = [c["customer"] for c in json(moved)["conversations"]]
    assert listed == [ERIN, DANA]
    # Activity on another line does not move a view of this one; it moves every line's.
    etag = moved.headers["ETag"]
    text(store, OTHER_LINE, DANA, 5)
    still = owner.call(route, "GET", "conversations", params=one_line, If_None_Match=etag)
    assert still.status_code == 304
    every_moved = owner.call(route, "GET", "conversations", If_None_Match=every.headers["ETag"])
    assert every_moved.status_code == 200


def test_a_staff_users_lines_poll_one_marker_and_a_narrowed_session_sees_it(
    settings: Settings,
) -> None:
    _, staff = users(settings, staff_lines=[OTHER_LINE, THIRD_LINE])
    store = ConversationStore.from_settings(settings)
    text(store, LINE, DANA, 1)
    text(store, OTHER_LINE, ERIN, 2)
    text(store, THIRD_LINE, DANA, 3)
    route = conversation_routes.conversation_list
    first = staff.call(route, "GET", "conversations")
    assert [c["line"] for c in json(first)["conversations"]] == [THIRD_LINE, OTHER_LINE]
    etag = first.headers["ETag"]
    staff.call(route, "GET", "conversations", If_None_Match=etag)  # checked, remembered
    with counting_table_requests() as counter:
        counter.reset()
        assert staff.call(route, "GET", "conversations", If_None_Match=etag).status_code == 304
        assert sent(counter) == {"GET entity": 1}
    # The owner takes a line away: the next poll is checked again and sees only the other.
    service.update_user(settings, staff.user_id, {"lines": [THIRD_LINE]})
    narrowed = staff.call(route, "GET", "conversations", If_None_Match=etag)
    assert narrowed.status_code == 200
    assert [c["line"] for c in json(narrowed)["conversations"]] == [THIRD_LINE]


def poll_twice(session: Session, params: dict[str, str]) -> str:
    """A list's validator, and a poll with it checked and remembered (a 304)."""
    route = conversation_routes.conversation_list
    etag = session.call(route, "GET", "conversations", params=params).headers["ETag"]
    again = session.call(route, "GET", "conversations", params=params, If_None_Match=etag)
    assert again.status_code == 304
    return etag


def poll(session: Session, params: dict[str, str], etag: str) -> int:
    route = conversation_routes.conversation_list
    answer = session.call(route, "GET", "conversations", params=params, If_None_Match=etag)
    return answer.status_code


def test_sessions_ended_from_the_command_line_or_http_are_refused_at_the_next_poll(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, staff = users(settings)
    store = ConversationStore.from_settings(settings)
    text(store, LINE, DANA, 1)
    text(store, OTHER_LINE, ERIN, 2)
    views = [{"line": LINE}, {}]
    owner_etags = [poll_twice(owner, view) for view in views]
    staff_etag = poll_twice(staff, {})
    item = conversation_routes.conversation_item
    where = {"line": LINE, "customer": DANA}
    shown = owner.call(item, "GET", "conversation", route_params=where).headers["ETag"]
    for _ in range(3):  # seeded, witnessed, resting on memory
        answer = owner.call(item, "GET", "conversation", route_params=where, If_None_Match=shown)
        assert answer.status_code == 304
    # The command line, in a process of its own (this instance's memory is not told).
    ended = subprocess.run(
        [sys.executable, "-m", "switchboard", "inbox", "users", "signout", owner.user_id],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ended.returncode == 0, ended.stderr
    for view, etag in zip(views, owner_etags, strict=True):
        assert poll(owner, view, etag) == 401
    answer = owner.call(item, "GET", "conversation", route_params=where, If_None_Match=shown)
    assert answer.status_code == 401
    # An owner's sessions ending moves every line's marker: another user's next poll is
    # checked against storage once, and their session is theirs still.
    assert poll(staff, {}, staff_etag) == 200
    # Over HTTP, on another instance: this one's memory is not told (it would forget them at
    # once), so only the moved markers can refuse the polls.
    monkeypatch.setattr(REMEMBERED, "forget_user", lambda user_id: None)
    monkeypatch.setattr(REMEMBERED, "forget_session", lambda session_id: None)
    boss = Session(settings, owner.user)
    staff_etag = poll_twice(staff, {})
    answer = boss.call(
        routes.end_user_sessions,
        "POST",
        f"users/{staff.user_id}/signout",
        route_params={"id": staff.user_id},
    )
    assert answer.status_code == 200, answer.get_body()
    assert json(answer)["ended"] == 1
    assert poll(staff, {}, staff_etag) == 401
    # Signing out over HTTP.
    etag = poll_twice(boss, {"line": LINE})
    assert boss.call(routes.signout, "POST", "signout").status_code == 200
    assert poll(boss, {"line": LINE}, etag) == 401


def test_a_remembered_session_lasts_ten_minutes_and_never_past_its_expiry(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, _ = users(settings)
    text(ConversationStore.from_settings(settings), LINE, DANA, 1)
    view = {"line": LINE}
    etag = poll_twice(owner, view)
    start = records.utcnow()
    with counting_table_requests() as counter:
        monkeypatch.setattr(records, "utcnow", lambda: start + timedelta(minutes=11))
        counter.reset()
        assert poll(owner, view, etag) == 304
        assert sent(counter) == {"GET entity": 2}  # checked again, remembered again
        counter.reset()
        assert poll(owner, view, etag) == 304
        assert sent(counter) == {"GET entity": 1}
    expired = start + timedelta(hours=settings.inbox_session_hours, seconds=1)
    monkeypatch.setattr(records, "utcnow", lambda: expired)
    assert poll(owner, view, etag) == 401


def json(response: func.HttpResponse) -> Any:
    import json as json_module

    return json_module.loads(response.get_body())


def test_reading_a_conversation_moves_its_validator_and_staff_see_only_their_lines(
    settings: Settings,
) -> None:
    owner, staff = users(settings)
    store = ConversationStore.from_settings(settings)
    text(store, LINE, DANA, 1)
    text(store, OTHER_LINE, ERIN, 2)
    item = conversation_routes.conversation_item
    where = {"line": LINE, "customer": DANA}
    shown = owner.call(item, "GET", f"conversations/{LINE}/{DANA}", route_params=where)
    assert shown.status_code == 200, shown.get_body()
    found = json(shown)
    assert found["conversation"]["unread"] == 1
    assert found["reply"] == {"allowed": True, "maxChars": 1600, "optedOut": False}
    assert found["assignees"] == ["Olivia"]  # Sam does not see this line
    etag = shown.headers["ETag"]
    with counting_table_requests() as counter:

        def poll_it() -> func.HttpResponse:
            counter.reset()
            return owner.call(item, "GET", "conversation", route_params=where, If_None_Match=etag)

        # Checked against storage: the user's row, then the state row and the line's marker
        # (one query); then checked once more with the marker read before the row, which
        # witnesses the session; then the query alone.
        for reads in ({"GET entity": 1, "GET query": 1},) * 2 + ({"GET query": 1},) * 2:
            same = poll_it()
            assert same.status_code == 304
            assert sent(counter) == reads
        # Activity on another conversation of the line moves the marker: checked once more.
        text(store, LINE, "+15550009999", 9)
        assert poll_it().status_code == 304
        assert sent(counter) == {"GET entity": 1, "GET query": 1}
        assert poll_it().status_code == 304
        assert sent(counter) == {"GET query": 1}
    read = owner.call(
        item, "PATCH", f"conversations/{LINE}/{DANA}", route_params=where, body=b'{"read": true}'
    )
    assert read.status_code == 200, read.get_body()
    assert json(read)["unread"] == 0
    moved = owner.call(
        item, "GET", f"conversations/{LINE}/{DANA}", route_params=where, If_None_Match=etag
    )
    assert moved.status_code == 200
    refused = owner.call(
        item,
        "PATCH",
        f"conversations/{LINE}/{DANA}",
        route_params=where,
        body=b'{"assignedTo": "Sam"}',
    )
    assert refused.status_code == 400
    assert json(refused)["error"]["field"] == "assignedTo"
    # Staff: their line's conversations only; another line's is not found, whatever is asked.
    listed = staff.call(conversation_routes.conversation_list, "GET", "conversations")
    assert [c["customer"] for c in json(listed)["conversations"]] == [ERIN]
    assert (
        staff.call(item, "GET", f"conversations/{LINE}/{DANA}", route_params=where).status_code
        == 404
    )
    # Nor does a change to it tell staff who may see it: 404 whichever name is asked (400 for
    # a name that may not, 404 for one that may, told them before).
    for name in ("Olivia", "Sam", "Nobody"):
        assigned = staff.call(
            item,
            "PATCH",
            f"conversations/{LINE}/{DANA}",
            route_params=where,
            body=f'{{"assignedTo": "{name}"}}'.encode(),
        )
        assert assigned.status_code == 404, (name, assigned.get_body())
    mine = staff.call(
        conversation_routes.conversation_list, "GET", "conversations", params={"line": LINE}
    )
    assert json(mine)["conversations"] == []
    audio = staff.call(
        conversation_routes.conversation_audio,
        "GET",
        "audio",
        route_params={**where, "sid": "CA" + "0" * 32},
    )
    assert audio.status_code == 404
    searched = owner.call(
        conversation_routes.conversation_list, "GET", "conversations", params={"q": "777 0102"}
    )
    assert [c["customer"] for c in json(searched)["conversations"]] == [ERIN]
    from switchboard.contacts import service as contacts

    contacts.create(settings, {"name": "Dana Reyes", "company": "Reyes Bikes", "numbers": [DANA]})
    for words in ("dana", "REY", "reyes bikes"):
        named = owner.call(
            conversation_routes.conversation_list, "GET", "conversations", params={"q": words}
        )
        found = json(named)["conversations"]
        assert [(c["customer"], c["name"]) for c in found] == [(DANA, "Dana Reyes")], words
    nobody = owner.call(
        conversation_routes.conversation_list, "GET", "conversations", params={"q": "zed"}
    )
    assert json(nobody)["conversations"] == []


def test_a_reply_from_the_inbox_is_signed_with_the_users_name(
    settings: Settings, twilio: TwilioStandin
) -> None:
    owner, _ = users(settings)
    store = ConversationStore.from_settings(settings)
    text(store, LINE, DANA, 1)
    where = {"line": LINE, "customer": DANA}
    route = conversation_routes.conversation_reply
    body = b'{"body": "Ready at 5", "key": "k1"}'
    sent = owner.call(route, "POST", "messages", route_params=where, body=body)
    assert sent.status_code == 201, sent.get_body()
    again = owner.call(route, "POST", "messages", route_params=where, body=body)
    assert again.status_code == 200
    posted = [r for r in twilio.requests("POST", resource="Messages") if r.param("To") == DANA]
    assert [(r.param("From"), r.param("Body")) for r in posted] == [(LINE, "Ready at 5")]
    shown = owner.call(
        conversation_routes.conversation_item,
        "GET",
        "conversation",
        route_params=where,
    )
    newest = json(shown)["events"][0]
    assert (newest["direction"], newest["body"], newest["author"]) == (
        "outbound",
        "Ready at 5",
        "Olivia",
    )
    media = owner.call(
        route,
        "POST",
        "messages",
        route_params=where,
        body=b'{"body": "x", "mediaUrl": "https://a.example/x.jpg"}',
    )
    assert media.status_code == 400


def test_a_session_dropped_for_a_newer_one_is_refused_at_its_next_poll(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, _ = users(settings)
    text(ConversationStore.from_settings(settings), LINE, DANA, 1)
    etag = poll_twice(owner, {"line": LINE})
    monkeypatch.setattr(REMEMBERED, "forget_user", lambda user_id: None)  # another instance
    for _ in range(MAX_SESSIONS_PER_USER):
        service.open_session(settings, owner.user_id)  # the tenth newer one drops the first
    assert poll(owner, {"line": LINE}, etag) == 401
