"""The inbox's conversation routes against Azurite, called as the host calls them (with a
session cookie): a poll that finds nothing new is answered 304 and costs the session's read
and one point read per line in view, counted on the clients' own requests; new activity and a
change move the validators; staff see only their lines; a reply is signed with the user's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devkit.storage_counter import counting_table_requests
from devkit.twilio_standin import TwilioStandin
from switchboard.conversations import rules
from switchboard.conversations.rules import Event
from switchboard.conversations.store import ConversationStore
from switchboard.inbox import conversation_routes, service
from switchboard.inbox.conversations import KNOWN_LINES
from switchboard.inbox.sessions import CSRF_HEADER, LOOPBACK_COOKIE, csrf_token
from switchboard.settings import Settings, get_settings, reset_settings_cache

STANDIN_SEED = 24
LINE = "+15017122661"
OTHER_LINE = "+15005550010"
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
    KNOWN_LINES.clear()
    yield get_settings()
    KNOWN_LINES.clear()
    reset_settings_cache()


class Session:
    """A signed-in user, calling the routes as the host would."""

    def __init__(self, settings: Settings, user: dict[str, Any]) -> None:
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


def users(settings: Settings) -> tuple[Session, Session]:
    owner = service.create_user(
        settings, {"name": "Olivia", "phone": "+15550001111", "role": "owner"}
    )
    staff = service.create_user(
        settings,
        {"name": "Sam", "email": "sam@example.com", "role": "staff", "lines": [OTHER_LINE]},
    )
    return Session(settings, owner), Session(settings, staff)


def text(store: ConversationStore, line: str, customer: str, n: int) -> None:
    at = NOW + timedelta(minutes=n)
    event = Event(
        f"SM{n:032d}", at, rules.KIND_TEXT, rules.INBOUND, f"text {n}", from_customer=True
    )
    store.record(line, customer, event, now=at)


def test_a_poll_that_finds_nothing_new_is_304_and_reads_one_marker(settings: Settings) -> None:
    owner, _ = users(settings)
    store = ConversationStore.from_settings(settings)
    text(store, LINE, DANA, 1)
    text(store, OTHER_LINE, ERIN, 2)
    route = conversation_routes.conversation_list
    one_line = {"line": LINE, "state": "open"}
    first = owner.call(route, "GET", "conversations", params=one_line)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    with counting_table_requests() as counter:
        owner.call(route, "GET", "conversations", params=one_line, If_None_Match=etag)  # warm
        counter.reset()
        again = owner.call(route, "GET", "conversations", params=one_line, If_None_Match=etag)
        assert again.status_code == 304
        assert again.get_body() == b""
        # The session's user row, and the line's change marker: nothing else.
        assert counter.snapshot() == {"GET entity": 2}
        assert counter.entities() == 2
        every = owner.call(route, "GET", "conversations")
        counter.reset()
        polled = owner.call(route, "GET", "conversations", If_None_Match=every.headers["ETag"])
        assert polled.status_code == 304
        # Every line the owner sees: one marker each (the lines that have conversations are
        # known to the instance from the listing).
        assert counter.snapshot() == {"GET entity": 1 + 2}
    # New activity on the line moves the validator; the list then has it.
    text(store, LINE, ERIN, 3)
    moved = owner.call(route, "GET", "conversations", params=one_line, If_None_Match=etag)
    assert moved.status_code == 200
    assert moved.headers["ETag"] != etag
    listed = [c["customer"] for c in json(moved)["conversations"]]
    assert listed == [ERIN, DANA]
    # Activity on another line does not move a view of this one.
    etag = moved.headers["ETag"]
    text(store, OTHER_LINE, DANA, 4)
    still = owner.call(route, "GET", "conversations", params=one_line, If_None_Match=etag)
    assert still.status_code == 304


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
        owner.call(item, "GET", "conversation", route_params=where, If_None_Match=etag)  # warm
        counter.reset()
        same = owner.call(item, "GET", "conversation", route_params=where, If_None_Match=etag)
        assert same.status_code == 304
        assert counter.snapshot() == {"GET entity": 2}  # the session, the state row
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
