"""The call queue's service in process, on Azurite and the Twilio stand-in: the line's Twilio
queue made once with its size, people rung while callers wait, two people pressing 1 at once
never taking the same callback, callbacks waiting through a closure (or dropped when too old),
an unanswered call back texting the caller and the people once, the wait URL's memory."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.callqueue import rules, service
from switchboard.callqueue.rules import Callback
from switchboard.callqueue.store import CallQueueStore
from switchboard.lines.document import parse_line
from switchboard.lines.model import Line
from switchboard.logbook.store import RecordStore
from switchboard.schedules import store as schedule_store
from switchboard.schedules.rules import ID_ROW
from switchboard.schedules.store import ScheduleStore
from switchboard.settings import Settings, load_settings
from switchboard.storage import queues

STANDIN_SEED = 27
LINE_NUMBER = "+15017122661"
ANA, BEN = "+15550000001", "+15550000002"
CALLER = "+15558675310"
#: The records' time (every call of the service here is given it).
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
#: The line's clock (`LINES_CLOCK` as the service sees it): Tuesday 10:00 or 22:00 in New York.
OPEN_HOURS = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
NIGHT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
#: The line's clock (`LINES_CLOCK` as the service sees it), moved by the tests.
CLOCK: dict[str, datetime] = {}

LINE: Line = parse_line(
    {
        "name": "Main line",
        "timeZone": "America/New_York",
        "hours": {"mon-fri": ["08:30-17:30"]},
        "open": [
            {
                "queue": {
                    "people": [{"name": "Ana", "number": ANA}, {"name": "Ben", "number": BEN}],
                    "maxSize": 7,
                    "callback": True,
                }
            },
            {"voicemail": {}},
        ],
        "closed": [{"voicemail": {}}],
    },
    LINE_NUMBER,
    version=1,
)[1]


@pytest.fixture
def settings(
    storage_connection_string: str,
    twilio: TwilioStandin,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    loaded = load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            **twilio.settings(),
            "TWILIO_FROM_NUMBER": LINE_NUMBER,
            "PUBLIC_BASE_URL": "https://switchboard.example.com",
            "TABLE_CALL_QUEUE": unique_name + "q",
            "TABLE_CALL_LOG": unique_name + "c",
            "TABLE_OPT_OUT": unique_name + "o",
            "TABLE_SMS_SCHEDULE": unique_name + "s",
            "TABLE_MESSAGE_LOG": unique_name + "m",
            "TABLE_CONVERSATIONS": unique_name + "v",
            "TABLE_CONTACTS": unique_name + "k",
            "OUTBOUND_CALL_QUEUE": unique_name + "-calls",
        }
    )
    CLOCK["now"] = OPEN_HOURS
    monkeypatch.setattr(service, "line_factory", lambda number, _: LINE)
    monkeypatch.setattr(service, "line_clock", lambda _: CLOCK["now"])
    monkeypatch.setattr(service, "request_dispatch", lambda *_: None)  # dispatched by hand here
    service.forget()
    yield loaded
    service.forget()


def placed(settings: Settings) -> list[dict[str, Any]]:
    """The calls queued on the outbound-call queue (peeked, not taken)."""
    queue = queues.get_queue(settings.outbound_call_queue, settings)
    return [json.loads(m.content) for m in queue.peek_messages(max_messages=32)]


def caller_record(settings: Settings, call_sid: str, **fields: Any) -> None:
    RecordStore.calls(settings).create(
        call_sid,
        {"Sid": call_sid, "Direction": "inbound", "From": CALLER, "To": LINE_NUMBER, **fields},
    )


def test_the_lines_twilio_queue_is_made_once_with_the_steps_size(
    settings: Settings, twilio: TwilioStandin
) -> None:
    step = LINE.flows["open"][0]
    sid = service.ensure_queue(settings, LINE_NUMBER, step)  # type: ignore[arg-type]
    assert sid is not None
    assert service.ensure_queue(settings, LINE_NUMBER, step) == sid  # type: ignore[arg-type]
    service.forget()  # another instance: the row knows the queue, Twilio is not asked
    assert service.ensure_queue(settings, LINE_NUMBER, step) == sid  # type: ignore[arg-type]
    made = twilio.requests(resource="Queues")
    assert [(r.method, r.param("FriendlyName"), r.param("MaxSize")) for r in made] == [
        ("POST", "sb-line-15017122661", "7")
    ]
    # A new size is set on the same queue.
    bigger = step._replace(max_size=9)  # type: ignore[union-attr]
    assert service.ensure_queue(settings, LINE_NUMBER, bigger) == sid
    assert twilio.store.queues.fetch(sid)["max_size"] == 9


def test_a_queue_made_before_by_enqueue_is_found_and_sized(
    settings: Settings, twilio: TwilioStandin
) -> None:
    twilio.store.queues.enqueue("sb-line-15017122661", "CA" + "1" * 32, {})  # on demand: 1000
    sid = service.ensure_queue(settings, LINE_NUMBER, LINE.flows["open"][0])  # type: ignore[arg-type]
    assert sid is not None
    assert twilio.store.queues.fetch(sid)["max_size"] == 7


def test_people_are_rung_while_callers_wait_and_not_twice(
    settings: Settings, twilio: TwilioStandin
) -> None:
    service.ensure_queue(settings, LINE_NUMBER, LINE.flows["open"][0])  # type: ignore[arg-type]
    assert service.dispatch(settings, LINE_NUMBER, NOW).rung == ()  # nobody waits
    twilio.store.queues.enqueue("sb-line-15017122661", "CA" + "1" * 32, {})
    first = service.dispatch(settings, LINE_NUMBER, NOW)
    assert (first.waiting, first.rung) == (1, (ANA, BEN))
    assert service.dispatch(settings, LINE_NUMBER, NOW).rung == ()  # both already ringing
    messages = placed(settings)
    assert sorted(m["id"] for m in messages) == [
        "sys-queue-offer-15017122661-1-0",
        "sys-queue-offer-15017122661-1-1",
    ]
    assert {m["to"] for m in messages} == {ANA, BEN}
    assert all(
        m["from"] == LINE_NUMBER and m["timeout"] == rules.OFFER_RING_SECONDS for m in messages
    )
    # Ben's phone rings out (his offer call's status callback): he rests; Ana still rings.
    service.offer_call_ended(settings, "sys-queue-offer-15017122661-1-1", "no-answer", NOW)
    state, _ = CallQueueStore.from_settings(settings).state(LINE_NUMBER)
    assert {n: e.state for n, e in state.people.items()} == {ANA: "ringing", BEN: "resting"}
    service.offer_call_ended(settings, "sys-queue-offer-15017122661-1-0", "completed", NOW)
    assert (
        CallQueueStore.from_settings(settings).state(LINE_NUMBER)[0].people[ANA].state == "ringing"
    )


def keep_callback(settings: Settings, sid: str, arrived: datetime) -> Callback:
    found = service.request_callback(settings, LINE, "open.0", sid, CALLER, arrived, now=NOW)
    assert found == service.Requested(True, "kept")
    got = service.callback_of(settings, LINE_NUMBER, sid)
    assert got is not None
    return got


def test_a_callback_keeps_its_place_once(settings: Settings) -> None:
    sid = "CA" + "2" * 32
    caller_record(settings, sid)
    kept = keep_callback(settings, sid, NOW - timedelta(minutes=3))
    assert kept.arrived_at == NOW - timedelta(minutes=3)
    again = service.request_callback(settings, LINE, "open.0", sid, CALLER, NOW, now=NOW)
    assert again.allowed  # a retried request: the first place holds
    assert service.callback_of(settings, LINE_NUMBER, sid) == kept
    record = RecordStore.calls(settings).get(sid)
    assert record is not None
    assert record["Callback"] == "waiting"
    # The wait URL's memory: one read per TTL, none while warm.
    before = service.pending_loads()
    assert service.callbacks_ahead(settings, LINE_NUMBER) == (kept.arrived_at,)
    assert service.callbacks_ahead(settings, LINE_NUMBER) == (kept.arrived_at,)
    assert service.pending_loads() == before + 1


def test_a_callback_is_refused_where_the_policy_refuses_a_call(settings: Settings) -> None:
    sid = "CA" + "3" * 32
    caller_record(settings, sid)
    refused = service.request_callback(settings, LINE, "open.0", sid, "+998901234567", NOW)
    assert refused == service.Requested(False, "skipped (country not allowed)")
    ours = service.request_callback(settings, LINE, "open.0", sid, "+15005550010", NOW)
    assert not ours.allowed
    assert service.callback_of(settings, LINE_NUMBER, sid) is None
    record = RecordStore.calls(settings).get(sid)
    assert record is not None
    assert str(record["Callback"]).startswith("skipped (")


def test_two_people_pressing_1_at_once_never_take_the_same_callback(settings: Settings) -> None:
    sid = "CA" + "4" * 32
    caller_record(settings, sid)
    keep_callback(settings, sid, NOW - timedelta(minutes=1))
    taken: list[service.Take] = []
    start = threading.Barrier(2)

    def press(person: str, offer: str) -> None:
        start.wait()
        person_ = LINE.flows["open"][0].people[0 if person == ANA else 1]  # type: ignore[union-attr]
        taken.append(service.take(settings, LINE, person_, offer, NOW))

    threads = [
        threading.Thread(target=press, args=(ANA, "sys-queue-offer-15017122661-9-0")),
        threading.Thread(target=press, args=(BEN, "sys-queue-offer-15017122661-9-1")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(t.kind for t in taken) == ["callback", "none"]
    winner = next(t for t in taken if t.callback is not None)
    assert winner.callback is not None
    assert winner.callback.status == rules.CONNECTING
    # Its call back goes on the outbound-call queue; placed twice, it is one id.
    service.call_back(settings, LINE, winner.callback, 0, "sys-queue-offer-15017122661-9-0")
    service.call_back(settings, LINE, winner.callback, 0, "sys-queue-offer-15017122661-9-0")
    ids = {m["id"] for m in placed(settings)}
    assert ids == {"sys-callback-" + sid}


def test_a_callback_due_while_closed_waits_for_the_opening(settings: Settings) -> None:
    sid = "CA" + "5" * 32
    caller_record(settings, sid)
    keep_callback(settings, sid, NOW - timedelta(minutes=1))
    CLOCK["now"] = NIGHT
    assert service.dispatch(settings, LINE_NUMBER, NOW).waiting == 0
    assert service.take(settings, LINE, LINE.flows["open"][0].people[0], "o", NOW).kind == "none"  # type: ignore[union-attr]
    CLOCK["now"] = OPEN_HOURS + timedelta(days=1)
    opened = service.dispatch(settings, LINE_NUMBER, NOW)
    assert (opened.waiting, opened.rung) == (1, (ANA, BEN))


def test_a_callback_past_the_maximum_age_is_dropped_and_recorded(settings: Settings) -> None:
    sid = "CA" + "6" * 32
    caller_record(settings, sid)
    keep_callback(settings, sid, NOW - timedelta(minutes=1))
    later = NOW + settings.queue_callback_max_age + timedelta(seconds=1)
    done = service.dispatch(settings, LINE_NUMBER, later)
    assert done.dropped == (sid,)
    assert done.rung == ()
    assert service.callback_of(settings, LINE_NUMBER, sid) is None
    record = RecordStore.calls(settings).get(sid)
    assert record is not None
    assert record["Callback"] == "dropped (older than 24 h)"


def schedules(settings: Settings, ids: list[str]) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with schedule_store.open_tables(settings) as opened:
            store = ScheduleStore(opened.schedules)
            found = {}
            for schedule_id in ids:
                row = await store.get(schedule_id, ID_ROW)
                if row is not None:
                    found[schedule_id] = dict(row)
            return found

    return asyncio.run(read())


def test_an_unanswered_call_back_texts_the_caller_and_the_people_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    told: list[str] = []
    unanswered = service._unanswered

    def counted(*args: Any) -> None:
        told.append(args[2].call_sid)
        unanswered(*args)

    monkeypatch.setattr(service, "_unanswered", counted)
    sid = "CA" + "7" * 32
    caller_record(settings, sid, Status="completed")  # they hung up after pressing 1
    keep_callback(settings, sid, NOW - timedelta(minutes=4))
    took = service.take(
        settings, LINE, LINE.flows["open"][0].people[0], "sys-queue-offer-15017122661-2-0", NOW
    )  # type: ignore[union-attr]
    assert took.kind == "callback"
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def left() -> None:  # two instances hear the person leave the callback's queue at once
        start.wait()
        outcomes.append(
            service.callback_ended(
                settings, LINE, sid, ANA, "sys-queue-offer-15017122661-2-0", bridged=False, now=NOW
            )
        )

    threads = [threading.Thread(target=left) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert "unanswered" in outcomes
    assert set(outcomes) <= {"unanswered", "decided elsewhere"}
    assert told == [sid]  # only the instance whose write won sent the texts
    texts = [
        f"sys-callback-missed-{sid}",
        f"sys-callback-notice-{sid}-15550000001",
        f"sys-callback-notice-{sid}-15550000002",
    ]
    found = schedules(settings, texts)
    assert sorted(found) == sorted(texts)
    missed = found[f"sys-callback-missed-{sid}"]
    assert missed["To"] == CALLER
    assert "called you back as you asked" in missed["Body"]
    assert "waited 4:00 in line" in found[f"sys-callback-notice-{sid}-15550000001"]["Body"]
    record = RecordStore.calls(settings).get(sid)
    assert record is not None
    assert record["Callback"] == "unanswered"
    assert service.callback_of(settings, LINE_NUMBER, sid) is None
    state, _ = CallQueueStore.from_settings(settings).state(LINE_NUMBER)
    assert ANA not in state.people  # free again
    # In the caller's conversation: a missed call, theirs (unread), once.
    from switchboard.conversations.service import show_conversation
    from switchboard.jsonroutes.auth import OPERATOR

    shown = show_conversation(settings, OPERATOR, LINE_NUMBER, CALLER)
    assert [(e["event"], e["callback"]) for e in shown["events"]] == [("missed", "unanswered")]
    assert (shown["conversation"]["preview"], shown["conversation"]["unread"]) == (
        "missed call (call back unanswered)",
        1,
    )
    # The call's end heard again now (its status callback racing the decision, each seeing
    # the other's write): the same event, still one unread.
    from switchboard.conversations.service import on_call_ended

    on_call_ended(RecordStore.calls(settings).get(sid), settings)
    again = show_conversation(settings, OPERATOR, LINE_NUMBER, CALLER)
    assert again["conversation"]["unread"] == 1
    assert len(again["events"]) == 1


def test_the_timer_closes_a_lapsed_connection_and_deletes_an_idle_queue(
    settings: Settings, twilio: TwilioStandin
) -> None:
    sid = "CA" + "8" * 32
    caller_record(settings, sid)
    keep_callback(settings, sid, NOW - timedelta(minutes=1))
    service.take(
        settings, LINE, LINE.flows["open"][0].people[0], "sys-queue-offer-15017122661-3-0", NOW
    )  # type: ignore[union-attr]
    queue_sid = service.ensure_queue(settings, LINE_NUMBER, LINE.flows["open"][0])  # type: ignore[arg-type]
    lapsed = NOW + timedelta(seconds=2 * rules.CONNECT_WAIT + 1)
    first = service.tick(settings, lapsed)
    assert (first.lines, first.lapsed) == (1, 1)
    record = RecordStore.calls(settings).get(sid)
    assert record is not None
    assert record["Callback"] == "unanswered"
    idle = lapsed + rules.IDLE_QUEUE + timedelta(seconds=1)
    assert service.tick(settings, idle).deleted == 1
    assert queue_sid not in twilio.store.queues.queues
    assert CallQueueStore.from_settings(settings).state(LINE_NUMBER)[1] is None
    assert service.tick(settings, idle).lines == 0
    assert records.is_valid_record_id(sid)
