"""The call queue's pure rules: whom to ring, who takes whom (order of arrival, callbacks only
while open, ties to the live caller), the people's states, the names and ids, the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.callqueue import rules, store
from switchboard.callqueue.placing import callback_message, offer_message
from switchboard.callqueue.rules import Callback, Engaged, QueueState
from switchboard.calls.request import parse_call_request
from switchboard.lines.document import parse_line
from switchboard.lines.model import QueueStep
from switchboard.settings import Settings

LINE = "+15017122661"
ANA, BEN, CEC = "+15550000001", "+15550000002", "+15550000003"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
SID = "CA" + "1" * 32


def queue_line(**queue: Any) -> Any:
    body = {"people": [{"name": "Ana", "number": ANA}, {"name": "Ben", "number": BEN}], **queue}
    return parse_line(
        {
            "name": "Main line",
            "open": [
                {"say": "Hello."},
                {
                    "menu": {
                        "prompt": {"say": "Sales press 1."},
                        "options": {"1": {"steps": [{"queue": body}, {"voicemail": {}}]}},
                    }
                },
            ],
        },
        LINE,
        version=3,
    )[1]


def step() -> QueueStep:
    found = rules.find_queue(queue_line())
    assert found is not None
    return found[1]


def callback(sid: str = SID, arrived: datetime = NOW, **changes: Any) -> Callback:
    return Callback(sid, "+15558675310", arrived, changes.pop("requested", NOW), **changes)


def test_names_and_ids_are_derived_from_the_line_and_the_call() -> None:
    assert rules.queue_name(LINE) == "sb-line-15017122661"
    assert rules.connect_queue_name(SID) == "sb-cb-" + SID
    assert len(rules.connect_queue_name(SID)) <= 64
    assert rules.callback_call_id(SID) == "sys-callback-" + SID
    assert rules.offer_call_id(LINE, 3, 1) == "sys-queue-offer-15017122661-3-1"
    assert rules.is_call_sid(SID)
    assert not rules.is_call_sid(SID + "0")
    assert not rules.is_call_sid("CA" + "g" * 32)


def test_a_lines_queue_is_found_inside_a_menu_and_only_in_the_open_steps() -> None:
    found = rules.find_queue(queue_line())
    assert found is not None
    assert found[0] == "open.1.1.0"
    assert [p.number for p in found[1].people] == [ANA, BEN]
    plain = parse_line({"open": [{"say": "Hi"}]}, LINE)[1]
    assert rules.find_queue(plain) is None


def test_every_free_person_is_rung_at_once_while_callers_wait() -> None:
    offers, state = rules.plan_offers(LINE, step(), QueueState(), waiting=1, now=NOW)
    assert [(o.id, o.person_index, o.person.number) for o in offers] == [
        ("sys-queue-offer-15017122661-1-0", 0, ANA),
        ("sys-queue-offer-15017122661-1-1", 1, BEN),
    ]
    assert state.offers == 1
    assert state.active_at == NOW
    assert {n: e.state for n, e in state.people.items()} == {ANA: "ringing", BEN: "ringing"}
    assert state.people[ANA].until == NOW + timedelta(seconds=rules.OFFER_SECONDS)


def test_nobody_is_rung_while_enough_people_ring_or_nobody_waits() -> None:
    _, ringing = rules.plan_offers(LINE, step(), QueueState(), waiting=2, now=NOW)
    assert rules.plan_offers(LINE, step(), ringing, waiting=2, now=NOW)[0] == []
    assert rules.plan_offers(LINE, step(), QueueState(), waiting=0, now=NOW)[0] == []
    # A third caller: more wait than ring, but nobody is free.
    assert rules.plan_offers(LINE, step(), ringing, waiting=3, now=NOW)[0] == []


def test_a_free_person_is_rung_when_more_wait_than_ring() -> None:
    busy = QueueState(
        people={ANA: Engaged(rules.RINGING, "o-1", NOW + timedelta(seconds=30))}, offers=4
    )
    offers, state = rules.plan_offers(LINE, step(), busy, waiting=2, now=NOW)
    assert [o.person.number for o in offers] == [BEN]
    assert offers[0].id == "sys-queue-offer-15017122661-5-1"
    assert state.people[ANA].offer == "o-1"


def test_a_lapsed_offer_frees_its_person() -> None:
    lapsed = QueueState(people={ANA: Engaged(rules.RINGING, "o-1", NOW)})
    offers, _ = rules.plan_offers(LINE, step(), lapsed, waiting=1, now=NOW)
    assert [o.person.number for o in offers] == [ANA, BEN]


def test_pressing_1_makes_a_person_busy_until_their_call_ends() -> None:
    _, state = rules.plan_offers(LINE, step(), QueueState(), waiting=1, now=NOW)
    offer = state.people[ANA].offer
    busy = rules.accept(state, ANA, offer, NOW)
    assert busy is not None
    assert busy.people[ANA] == Engaged(rules.BUSY, offer, NOW + rules.MAX_TALK)
    assert rules.accept(busy, ANA, "another offer", NOW) is None
    assert rules.accept(busy, ANA, offer, NOW) is not None  # the same key twice: a retry
    freed = rules.release(busy, ANA, offer, NOW)
    assert ANA not in freed.people
    # A later offer to them is left alone by the end of an earlier call.
    assert rules.release(busy, ANA, "older offer", NOW).people[ANA].offer == offer


def test_a_person_who_lets_an_offer_ring_out_rests() -> None:
    _, state = rules.plan_offers(LINE, step(), QueueState(), waiting=2, now=NOW)
    offer = state.people[BEN].offer
    rested = rules.rest(state, offer, NOW)
    assert rested.people[BEN] == Engaged(rules.RESTING, offer, NOW + rules.REST)
    assert rested.people[ANA].state == rules.RINGING
    assert rules.plan_offers(LINE, step(), rested, waiting=3, now=NOW)[0] == []
    later = NOW + rules.REST + timedelta(seconds=1)
    again = rules.plan_offers(LINE, step(), rested, waiting=3, now=later)[0]
    assert [o.person.number for o in again] == [ANA, BEN]
    # A busy person's call is not an offer to rest.
    busy = rules.accept(state, ANA, state.people[ANA].offer, NOW)
    assert busy is not None
    assert rules.rest(busy, state.people[ANA].offer, NOW).people[ANA].state == rules.BUSY


def test_whoever_arrived_first_is_taken_first() -> None:
    early = callback("CA" + "2" * 32, NOW - timedelta(minutes=5))
    late = callback("CA" + "3" * 32, NOW - timedelta(minutes=1))
    front = NOW - timedelta(minutes=3)
    assert rules.next_in_line(front, [late, early], True) == rules.Next("callback", early)
    assert rules.next_in_line(front, [late], True) == rules.CALLER
    assert rules.next_in_line(None, [late], True) == rules.Next("callback", late)
    assert rules.next_in_line(None, [], True) == rules.NOBODY


def test_callbacks_wait_while_the_line_is_closed() -> None:
    early = callback(arrived=NOW - timedelta(hours=1))
    assert rules.next_in_line(NOW, [early], False) == rules.CALLER
    assert rules.next_in_line(None, [early], False) == rules.NOBODY
    assert rules.due_callbacks([early], False) == 0
    assert rules.due_callbacks([early], True) == 1


def test_a_tie_within_twilios_second_goes_to_the_live_caller() -> None:
    front = NOW - timedelta(seconds=10)
    tie = callback(arrived=front - rules.ARRIVAL_SLACK)
    assert rules.next_in_line(front, [tie], True) == rules.CALLER
    earlier = callback(arrived=front - rules.ARRIVAL_SLACK - timedelta(seconds=1))
    assert rules.next_in_line(front, [earlier], True).kind == "callback"


def test_a_callback_being_connected_is_not_taken_again() -> None:
    connecting = callback(status=rules.CONNECTING)
    assert rules.next_in_line(None, [connecting], True) == rules.NOBODY
    assert rules.due_callbacks([connecting], True) == 0


@given(
    caller=st.integers(min_value=0, max_value=600),
    apart=st.integers(min_value=-5, max_value=5),
)
def test_the_place_said_is_the_order_people_take_callers_in(caller: int, apart: int) -> None:
    """A live caller at the front is told a callback is ahead of them exactly when the next
    person who presses 1 takes that callback first (arrivals `apart` whole seconds, as Twilio
    counts waits: the ties are where the two could disagree)."""
    front = NOW - timedelta(seconds=caller)
    waiting = callback(arrived=front - timedelta(seconds=apart))
    taken_first = rules.next_in_line(front, [waiting], True).kind == "callback"
    assert rules.place_in_line(1, front, [waiting.arrived_at]) == (2 if taken_first else 1)


def test_a_live_callers_place_counts_the_callbacks_that_arrived_before_them() -> None:
    arrived = NOW - timedelta(seconds=30)
    before = [NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)]
    after = [NOW - timedelta(seconds=10)]
    assert rules.place_in_line(1, arrived, [*before, *after]) == 3
    assert rules.place_in_line(2, arrived, []) == 2
    assert rules.place_in_line(0, arrived, []) == 1
    assert rules.callback_arrival(NOW, 30) == arrived
    assert rules.callback_arrival(NOW, -5) == NOW


def test_old_callbacks_are_dropped_and_lapsed_connections_closed() -> None:
    max_age = timedelta(hours=24)
    fresh = callback(requested=NOW - timedelta(hours=23))
    old = callback(requested=NOW - timedelta(hours=24, seconds=1))
    assert not rules.too_old(fresh, NOW, max_age)
    assert rules.too_old(old, NOW, max_age)
    assert not rules.too_old(
        callback(requested=old.requested_at, status=rules.CONNECTING), NOW, max_age
    )
    limit = timedelta(seconds=2 * rules.CONNECT_WAIT)
    connecting = callback(status=rules.CONNECTING, accepted_at=NOW - limit)
    assert not rules.connect_lapsed(connecting, NOW)
    assert rules.connect_lapsed(connecting, NOW + timedelta(seconds=1))
    assert not rules.connect_lapsed(callback(accepted_at=NOW - 2 * limit), NOW)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "less than a minute"),
        (59, "less than a minute"),
        (60, "about 1 minute"),
        (61, "about 2 minutes"),
        (600, "about 10 minutes"),
    ],
)
def test_the_expected_wait_in_words(seconds: int, words: str) -> None:
    assert rules.expected_wait(seconds) == words


def test_the_rows_keep_what_they_are_given() -> None:
    _, state = rules.plan_offers(LINE, step(), QueueState(queue_sid="QU" + "a" * 32), 1, NOW)
    state = rules.rest(state, state.people[BEN].offer, NOW)
    entity = store.state_entity(LINE, state)
    assert entity["PartitionKey"] == LINE
    assert entity["RowKey"] == "line"
    back = store.state_from(entity)
    assert back.queue_sid == state.queue_sid
    assert back.offers == state.offers
    assert {n: (e.state, e.offer) for n, e in back.people.items()} == {
        n: (e.state, e.offer) for n, e in state.people.items()
    }
    kept = callback(
        status=rules.CONNECTING, person=ANA, person_name="Ana", accepted_at=NOW, at="open.0"
    )
    assert store.callback_from(store.callback_entity(LINE, kept)) == kept
    assert store.callback_from({"RowKey": "cb-not-a-sid", "ArrivedAt": NOW}) is None
    assert store.state_from({"PeopleJson": "not json"}).people == {}
    odd = '{"+1": {"state": "sleeping", "offer": "x", "until": "2026-12-01T15:00:00+00:00"}}'
    assert store.state_from({"PeopleJson": odd}).people == {}


def test_the_calls_the_queue_places_are_valid_outbound_call_messages() -> None:
    settings = Settings(public_base_url="https://switchboard.example.com")
    line = queue_line()
    offers, _ = rules.plan_offers(LINE, step(), QueueState(), 1, NOW)
    message = offer_message(settings, line, offers[1])
    request = parse_call_request(message, derived_id_allowed=True)
    assert request.id == "sys-queue-offer-15017122661-1-1"
    assert (request.to, request.from_) == (BEN, LINE)
    assert request.timeout == rules.OFFER_RING_SECONDS
    assert (
        "https://switchboard.example.com/api/voice/queue-offer?line=%2B15017122661&amp;person=1"
        "&amp;offer=sys-queue-offer-15017122661-1-1" in (request.twiml or "")
    )
    back = callback_message(settings, line, callback(person=ANA), 0, offers[0].id)
    request = parse_call_request(back, derived_id_allowed=True)
    assert request.id == "sys-callback-" + SID
    assert request.to == "+15558675310"
    assert (
        f'<Queue method="POST" url="https://switchboard.example.com/api/voice/queue-connect?line=%2B15017122661&amp;cb={SID}'
        in (request.twiml or "")
    )
    assert f">sb-cb-{SID}</Queue>" in (request.twiml or "")
    assert request.twiml is not None
    assert not request.twiml.startswith("<?xml")
    # Without a trusted origin: the local host's.
    local = offer_message(Settings(), line, offers[0])
    assert "http://localhost:7071/api/voice/queue-offer?" in local["twiml"]
