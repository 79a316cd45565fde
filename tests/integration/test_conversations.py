"""Conversations against the session Azurite and the Twilio stand-in: the activity index moved
under ETags (no stale row, no lost event, no tag given twice across racing instances), a page
of conversations and a page of events reading entities in proportion to the page with 10,000
stored events (counted on the clients' own responses), a text sent at most once per key across
racing instances and after a sender vanished, and the SMS webhook's relay: tags, replies from
a relay person's phone, `list`, `done`, opt-outs, a relay person's own STOP, the relay
ceiling, and what each costs in storage round trips."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from azure.data.tables import TableClient
from twilio.request_validator import RequestValidator

from devkit.conversation_history import seed_history
from devkit.storage_counter import counting_table_requests
from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.conversations import rules
from switchboard.conversations import service as conversations
from switchboard.conversations.api import ListQuery
from switchboard.conversations.rules import Change, Event
from switchboard.conversations.store import ConversationStore
from switchboard.jsonroutes.auth import OPERATOR, Role, inbox_user
from switchboard.lines import lookup as lines
from switchboard.lines.document import validate
from switchboard.lines.store import LineStore
from switchboard.logbook.store import RecordStore
from switchboard.optouts.rules import How
from switchboard.optouts.store import OptOutStore
from switchboard.outbound import messagelog
from switchboard.outbound.purposes import Purpose
from switchboard.outbound.service import LineRef, Message, Outbound
from switchboard.settings import Settings, get_settings, reset_settings_cache
from switchboard.sms import blueprint as sms_bp
from switchboard.storage import tables

STANDIN_SEED = 23
URL = "http://localhost:7071/api/sms/incoming"
LINE = "+15017122661"  # one of the stand-in account's numbers
OTHER_LINE = "+15005550010"  # the account's other number
ANA = "+15550000001"
BEN = "+15550000002"
DANA = "+15557770101"
ERIN = "+15557770102"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def settings(
    storage_connection_string: str,
    twilio: TwilioStandin,
    unique_name: str,
    clean_env: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """The app's settings in the environment (as the host has them), fresh tables, a stored
    line relaying to Ana and Ben."""
    values = {
        "AzureWebJobsStorage": storage_connection_string,
        **twilio.settings(),
        "TWILIO_FROM_NUMBER": LINE,
        "TABLE_CALL_LOG": unique_name + "c",
        "TABLE_MESSAGE_LOG": unique_name + "m",
        "TABLE_OPT_OUT": unique_name + "o",
        "TABLE_LINES": unique_name + "l",
        "TABLE_CONVERSATIONS": unique_name + "v",
        "SMS_FORWARD_DAILY_CAP": "3",
        "SMS_RELAY_DAILY_LIMIT": "9",
    }
    for name, value in values.items():
        clean_env.setenv(name, value)
    reset_settings_cache()
    found = get_settings()
    document = validate(
        {
            "name": "Main line",
            "sms": {
                "relay": [{"name": "Ana", "number": ANA}, {"name": "Ben", "number": BEN}],
            },
        },
        LINE,
    )
    LineStore.from_settings(found).write(
        LINE, document, change="put", now=records.utcnow(), expected=None
    )
    for name in ("table_message_log", "table_opt_out", "table_conversations", "table_call_log"):
        tables.get_table(getattr(found, name), found)
    lines.forget_cached_lines()
    yield found
    lines.forget_cached_lines()  # the next module's line of this number is not this one
    reset_settings_cache()


def texts_to(twilio: TwilioStandin, number: str) -> list[str]:
    return [
        str(r.param("Body"))
        for r in twilio.requests(method="POST", resource="Messages")
        if r.param("To") == number
    ]


def text(
    sender: str,
    body: str,
    *,
    sid: str | None = None,
    media: tuple[str, ...] = (),
    to: str = LINE,
) -> tuple[str, str]:
    """Post one signed text (to LINE) through the function the host calls: (TwiML, sid)."""
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": str(len(media)),
    }
    for n, url in enumerate(media):
        params[f"MediaUrl{n}"] = url
        params[f"MediaContentType{n}"] = "image/jpeg"
    token = get_settings().twilio_auth_token or ""
    signature = str(RequestValidator(token).compute_signature(URL, params))
    request = func.HttpRequest(
        method="POST",
        url=URL,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        body=urlencode(params).encode(),
    )
    response = sms_bp.sms_incoming(request)
    assert response.status_code == 200
    return response.get_body().decode(), params["MessageSid"]


def event(n: int, at: datetime, *, customer: bool = True) -> Event:
    return Event(
        f"SM{n:032d}", at, rules.KIND_TEXT, rules.INBOUND, f"text {n}", from_customer=customer
    )


def index_rows(store: ConversationStore, line: str) -> list[dict[str, Any]]:
    rows = tables.query(store.table, "PartitionKey eq @pk", {"pk": rules.PARTITION})
    return [
        dict(r)
        for r in rows
        if rules.is_activity_key(str(r["RowKey"])) and rules.line_of(str(r["RowKey"])) == line
    ]


# --------------------------------------------------------------------------------------------
# The store: one index row per conversation, moved under ETags


def test_events_move_one_index_row_and_done_conversations_open_again(settings: Settings) -> None:
    store = ConversationStore.from_settings(settings)
    first = store.record(LINE, DANA, event(1, NOW), now=NOW)
    assert (first.created, first.conversation.tag, first.conversation.unread) == (True, "A1", 1)
    store.record(LINE, ERIN, event(2, NOW + timedelta(seconds=1)), now=NOW)
    store.record(LINE, DANA, event(3, NOW + timedelta(seconds=2)), now=NOW)
    again = store.record(LINE, DANA, event(3, NOW + timedelta(seconds=2)), now=NOW)
    assert not again.written  # a retry: nothing written, nothing counted
    rows = index_rows(store, LINE)
    assert [(r["Customer"], r["Tag"], r["Unread"]) for r in rows] == [
        (DANA, "A1", 2),
        (ERIN, "B1", 1),
    ]
    closed = store.change(LINE, DANA, Change(state=rules.DONE, read=True), now=NOW)
    assert closed is not None
    assert (closed.state, closed.unread) == (rules.DONE, 0)
    assert {
        (r["Customer"], r["RowKey"].partition("|")[2][:2]) for r in index_rows(store, LINE)
    } == {
        (DANA, "d-"),
        (ERIN, "o-"),
    }
    reply = Event(
        "api-1", NOW + timedelta(seconds=3), rules.KIND_TEXT, rules.OUTBOUND, "hi", by_staff=True
    )
    assert store.record(LINE, DANA, reply, now=NOW).conversation.state == rules.DONE
    reopened = store.record(LINE, DANA, event(4, NOW + timedelta(seconds=4)), now=NOW)
    assert (reopened.conversation.state, reopened.conversation.unread) == (rules.OPEN, 1)
    assert len(index_rows(store, LINE)) == 2
    assert store.customer_of_tag(LINE, "B1") == ERIN
    assert store.known_lines() == [LINE]


def test_every_write_moves_its_lines_marker_and_the_accounts_at_no_extra_round_trip(
    settings: Settings,
) -> None:
    store = ConversationStore.from_settings(settings)
    store.record(LINE, DANA, event(1, NOW), now=NOW)
    store.record(OTHER_LINE, ERIN, event(2, NOW), now=NOW)
    keys = [rules.ACCOUNT_MARKER, rules.line_marker_key(LINE), rules.line_marker_key(OTHER_LINE)]
    before = [store.marker(k) for k in keys]
    assert None not in before
    third = "+15017122662"
    with counting_table_requests() as counter:
        counted = ConversationStore.from_settings(settings)
        counted.record(LINE, DANA, event(1, NOW), now=NOW)  # a retry: one read, no write
        counter.reset()
        counted.record(LINE, DANA, event(3, NOW), now=NOW)
        # The state row and the line's counter in one query, then one transaction.
        assert counter.snapshot() == {"GET query": 1, "POST $batch": 1}
        counter.reset()
        counted.record(third, DANA, event(4, NOW), now=NOW)  # the line's first conversation
        assert counter.snapshot() == {"GET query": 1, "POST $batch": 1}
    after = [store.marker(k) for k in keys]
    # The account's marker and the line's moved; another line's did not.
    assert [a != b for a, b in zip(after, before, strict=True)] == [True, True, False]
    assert store.known_lines() == sorted([LINE, OTHER_LINE, third])
    # Every row of every line is in the one partition.
    assert not list(tables.query(store.table, "PartitionKey ne @pk", {"pk": rules.PARTITION}))
    # What ends or narrows a session moves the markers of the lines named (and the
    # account's), or every line's.
    store.touch_markers([OTHER_LINE], now=NOW)
    moved = [store.marker(k) for k in keys]
    assert [m != a for m, a in zip(moved, after, strict=True)] == [True, False, True]
    third_marker = store.marker(rules.line_marker_key(third))
    assert store.touch_markers(None, now=NOW) == 4
    assert all(store.marker(k) != m for k, m in zip(keys, moved, strict=True))
    assert store.marker(rules.line_marker_key(third)) != third_marker


def test_racing_instances_lose_no_event_and_give_no_tag_twice(
    settings: Settings, storage_connection_string: str
) -> None:
    name = settings.table_conversations
    instances = 8
    barrier = threading.Barrier(instances)
    errors: list[BaseException] = []

    def instance(n: int) -> None:
        store = ConversationStore(
            TableClient.from_connection_string(storage_connection_string, name)
        )
        barrier.wait()
        try:
            for k in range(3):
                store.record(
                    LINE,
                    DANA,
                    event(100 * n + k, NOW + timedelta(milliseconds=n * 10 + k)),
                    now=NOW,
                )
                store.record(LINE, f"+1555888{n:02d}{k:02d}", event(900 + 10 * n + k, NOW), now=NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=instance, args=(n,)) for n in range(instances)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    store = ConversationStore.from_settings(settings)
    dana = store.get(LINE, DANA)
    assert dana is not None
    assert dana.unread == instances * 3
    rows = index_rows(store, LINE)
    assert len(rows) == 1 + instances * 3  # one index row per conversation, none stale
    tags = [r["Tag"] for r in rows]
    assert len(set(tags)) == len(tags)


# --------------------------------------------------------------------------------------------
# Pages in proportion to the page, with 10,000 stored events


def test_a_page_of_conversations_reads_in_proportion_to_the_page(settings: Settings) -> None:
    """10,000 events: 125 conversations of 40 events on each of two lines (a third of them
    done), then real events on top (the index moved by the store itself)."""
    seed_history(settings, [LINE, OTHER_LINE], per_line=125, events_each=40, now=NOW)
    store = ConversationStore.from_settings(settings)
    for n in range(40):
        store.record(
            LINE, f"+1555{n * 3:07d}", event(5000 + n, NOW + timedelta(seconds=n)), now=NOW
        )
    limit = 20
    with counting_table_requests() as counter:
        counter.reset()
        first = conversations.list_conversations(settings, OPERATOR, ListQuery(limit=limit))
        read_all = counter.entities()
        counter.reset()
        second = conversations.list_conversations(
            settings,
            OPERATOR,
            ListQuery(before=rules.decode_cursor(first["nextBefore"]), limit=limit),
        )
        read_second = counter.entities()
        counter.reset()
        open_page = conversations.list_conversations(
            settings, OPERATOR, ListQuery(line=LINE, state=rules.OPEN, limit=limit)
        )
        read_open = counter.entities()
        counter.reset()
        shown = conversations.show_conversation(settings, OPERATOR, LINE, "+15550000004", limit=5)
        read_events = counter.entities()
    page = first["conversations"]
    assert len(page) == limit
    assert len(second["conversations"]) == limit
    stamps = [c["lastActivityAt"] for c in page + second["conversations"]]
    assert stamps == sorted(stamps, reverse=True)  # newest activity first, across the pages
    assert page[0]["customer"] == f"+1555{39 * 3:07d}"  # the latest real event
    assert {c["customer"] for c in page}.isdisjoint(c["customer"] for c in second["conversations"])
    assert all(c["state"] == "open" and c["line"] == LINE for c in open_page["conversations"])
    # Every line's two ranges merged (4 ranges), each read in pages of its share, plus the
    # list of lines (2 rows): about the page, nowhere near the 250 conversations and their
    # 10,000 events.
    assert read_all <= 2 * (limit + 1) + 2 + 4 * 2, read_all
    assert read_second <= 2 * (limit + 1) + 2 + 4 * 2, read_second
    assert read_open <= limit + 1, read_open
    # A conversation's page of events: its state row and the rows of the page.
    assert len(shown["events"]) == 5
    assert read_events <= 1 + 6, read_events


def test_a_staff_user_sees_only_their_lines(settings: Settings) -> None:
    store = ConversationStore.from_settings(settings)
    store.record(LINE, DANA, event(1, NOW), now=NOW)
    store.record(OTHER_LINE, ERIN, event(2, NOW), now=NOW)
    staff = inbox_user("u1", Role.STAFF, [OTHER_LINE])
    found = conversations.list_conversations(settings, staff, ListQuery())
    assert [c["customer"] for c in found["conversations"]] == [ERIN]
    with pytest.raises(Exception, match="no conversation"):
        conversations.show_conversation(settings, staff, LINE, DANA)


# --------------------------------------------------------------------------------------------
# At most once per key


def test_a_key_is_sent_once_across_racing_instances(
    settings: Settings, twilio: TwilioStandin, storage_connection_string: str
) -> None:
    policy = Outbound(settings)
    message = Message(
        Purpose.STAFF_REPLY, LineRef(LINE), DANA, key="reply-SM" + "1" * 32, body="See you at 9."
    )
    barrier = threading.Barrier(6)
    words: list[str] = []

    def instance() -> None:
        store = RecordStore(
            TableClient.from_connection_string(
                storage_connection_string, settings.table_message_log
            )
        )
        barrier.wait()
        words.append(policy.send_once(message, store=store).word)

    threads = [threading.Thread(target=instance) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert texts_to(twilio, DANA) == ["See you at 9."]
    assert words.count("sent") >= 1
    assert set(words) <= {"sent", "sending"}
    record = RecordStore.messages(settings).get(message.key or "")
    assert record is not None
    assert record["Sid"]
    assert record["Status"] == "queued"


def test_a_claim_left_in_doubt_asks_twilio_before_sending(
    settings: Settings, twilio: TwilioStandin
) -> None:
    store = RecordStore.messages(settings)
    policy = Outbound(settings)
    long_ago = records.utcnow() - timedelta(minutes=5)
    fields = {"To": DANA, "From": LINE, "Body": "Your order is ready."}
    # A sender vanished after Twilio took its text: found there, recorded, not sent again.
    first = Message(Purpose.STAFF_REPLY, LineRef(LINE), DANA, key="api-gone", body=fields["Body"])
    messagelog.claim_outbound(store, "api-gone", fields, long_ago)
    policy.send_once(
        Message(Purpose.STAFF_REPLY, LineRef(LINE), DANA, key="api-x", body=fields["Body"])
    )
    assert texts_to(twilio, DANA) == [fields["Body"]]
    sent = policy.send_once(first)
    assert sent.repeat
    assert texts_to(twilio, DANA) == [fields["Body"]]
    # One that vanished before Twilio: not found there, taken over, sent once.
    second = Message(Purpose.STAFF_REPLY, LineRef(LINE), ERIN, key="api-lost", body="Hello Erin")
    messagelog.claim_outbound(store, "api-lost", {**fields, "To": ERIN}, long_ago)
    assert policy.send_once(second).word == "sent"
    assert policy.send_once(second).repeat
    assert texts_to(twilio, ERIN) == ["Hello Erin"]


# --------------------------------------------------------------------------------------------
# The relay through the SMS webhook


def test_a_customer_text_reaches_both_relay_people_with_its_tag(
    settings: Settings, twilio: TwilioStandin
) -> None:
    photo = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    _, sid = text(DANA, "Is my bike ready?", media=(photo,))
    for person in (ANA, BEN):
        assert texts_to(twilio, person) == ["[+1555***0101 #A1] Is my bike ready?"]
    relayed = [
        r for r in twilio.requests(method="POST", resource="Messages") if r.param("To") == ANA
    ]
    assert relayed[0].params.get("MediaUrl") == [photo]
    assert relayed[0].param("From") == LINE
    text(DANA, "Is my bike ready?", sid=sid)  # Twilio retries the webhook
    assert len(texts_to(twilio, ANA)) == 1
    assert len(texts_to(twilio, BEN)) == 1
    record = RecordStore.messages(settings).get(sid)
    assert record is not None
    assert record["Relay"] == "sent"
    found = conversations.show_conversation(settings, OPERATOR, LINE, DANA)
    assert found["conversation"]["tag"] == "A1"
    assert found["conversation"]["unread"] == 1


def test_replies_from_a_relay_persons_phone(settings: Settings, twilio: TwilioStandin) -> None:
    text(DANA, "Is my bike ready?")
    text(ERIN, "Do you sell helmets?")  # B1: now the last relayed to Ana and Ben
    answer, sid = text(ANA, "Yes, we do.")
    assert "<Message" not in answer  # a reply that went out is not answered
    text(ANA, "Yes, we do.", sid=sid)  # a retry sends nothing again
    assert texts_to(twilio, ERIN) == ["Yes, we do."]
    assert all(r.param("From") == LINE for r in twilio.requests(method="POST", resource="Messages"))
    text(BEN, "#a1 Ready at 5.")  # an older conversation, by its tag
    assert texts_to(twilio, DANA) == ["Ready at 5."]
    listing, _ = text(ANA, "list")
    assert "#A1" in listing
    assert "#B1" in listing
    closed, _ = text(ANA, "#A1 done")
    assert "#A1 closed" in closed
    assert ConversationStore.from_settings(settings).get(LINE, DANA).state == "done"  # type: ignore[union-attr]
    unknown, _ = text(ANA, "#Z9 hello")
    assert "No conversation #Z9" in unknown
    helped, _ = text(BEN, "help")
    assert "#A7 done" in helped
    shown = conversations.show_conversation(settings, OPERATOR, LINE, ERIN)
    reply = next(e for e in shown["events"] if e.get("purpose") == "staff-reply")
    assert (reply["author"], reply["status"]) == ("Ana", "queued")
    assert shown["conversation"]["unread"] == 0


def test_an_opted_out_customer_is_not_texted_and_a_relay_persons_stop_is_theirs(
    settings: Settings, twilio: TwilioStandin
) -> None:
    text(DANA, "Hi")
    text(DANA, "STOP")
    answer, _ = text(ANA, "Thanks!")
    assert "opted out" in answer
    assert texts_to(twilio, DANA) == []
    text(BEN, "stop")  # Ben's own STOP: his relays stop, nobody else's, nothing reaches Dana
    text(ERIN, "Hello?")
    assert texts_to(twilio, ANA)[-1] == "[+1555***0102 #B1] Hello?"
    assert len(texts_to(twilio, BEN)) == 1  # only Dana's first text
    assert OptOutStore.from_settings(settings).get(BEN) is not None
    assert texts_to(twilio, DANA) == []


def test_the_relay_has_its_own_ceiling_and_window(
    settings: Settings, twilio: TwilioStandin
) -> None:
    # SMS_FORWARD_DAILY_CAP=3: a texter nobody answered gets 3 texts relayed, then one digest.
    for n in range(5):
        text(DANA, f"text {n}")
    assert texts_to(twilio, ANA)[:3] == [
        "[+1555***0101 #A1] text 0",
        "[+1555***0101 #A1] text 1",
        "[+1555***0101 #A1] text 2",
    ]
    assert "relayed today" in texts_to(twilio, ANA)[3]
    assert len(texts_to(twilio, ANA)) == 4
    # Answered, the conversation is relayed in full, within SMS_RELAY_DAILY_LIMIT=9 copies (8
    # so far): the next text's two copies would pass it, so it is skipped, and counted.
    text(ANA, "Hi Dana")
    _, sid = text(DANA, "text 5")
    assert len(texts_to(twilio, ANA)) == 4
    record = RecordStore.messages(settings).get(sid)
    assert record is not None
    assert record["Relay"] == "skipped (daily relay limit)"
    assert Outbound(settings).budgets()[LINE].relays_skipped == 2


def test_round_trips_of_a_text_with_and_without_the_relay(settings: Settings) -> None:
    OptOutStore.from_settings(settings).opt_out(BEN, How.OPERATOR)
    text(DANA, "warm up")  # the instance's tables, lines, numbers and rows known
    text(DANA, "warm up", to=OTHER_LINE)
    with counting_table_requests() as counter:
        text(ERIN, "warm up too")
        text(ERIN, "warm up too", to=OTHER_LINE)
        counter.reset()
        text(ERIN, "a second text", to=OTHER_LINE)
        plain = counter.total()
        counter.reset()
        text(ERIN, "a second text")
        relayed = counter.total()
    # A line without relay people, nothing automatic: the record, its day index row, its
    # conversation row, and the conversation (its state read, one transaction).
    assert plain == 3 + 2
    # With two relay people: the sender's state read and written (the relay's window), the
    # conversation (2), the relay ceiling (one write), Ana (her opt-out read, the claim and its
    # day index row, the record completed, its SID alias, its conversation row: 6), Ben, who
    # opted out (his opt-out read, the claim and its index row, the record skipped: 4, and its
    # conversation row), and the text's record, index row and conversation row.
    assert relayed == 2 + 2 + 1 + 6 + 5 + 3
