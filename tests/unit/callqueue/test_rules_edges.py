"""The call queue's rules at their edges: the state's last activity on every change, a lapsed
person pruned even when nobody is rung, the busy not counted as ringing, ties in the order of
arrival, and a callback exactly at its maximum age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from switchboard.callqueue import rules
from switchboard.callqueue.rules import Callback, Engaged, QueueState
from switchboard.lines.document import parse_line
from switchboard.lines.model import Line

LINE = "+15017122661"
ANA, BEN = "+15550000001", "+15550000002"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)


def queue_line() -> Line:
    return parse_line(
        {
            "open": [
                {
                    "queue": {
                        "people": [{"name": "Ana", "number": ANA}, {"name": "Ben", "number": BEN}]
                    }
                }
            ]
        },
        LINE,
        version=1,
    )[1]


def step() -> rules.QueueStep:
    found = rules.find_queue(queue_line())
    assert found is not None
    return found[1]


def test_only_a_stored_lines_open_steps_hold_its_queue() -> None:
    line = queue_line()
    assert rules.find_queue(line) is not None
    assert rules.find_queue(line._replace(number=None)) is None
    no_open = line._replace(flows=MappingProxyType({}))
    assert rules.find_queue(no_open) is None


def test_accepting_and_releasing_mark_the_queue_active() -> None:
    _, state = rules.plan_offers(LINE, step(), QueueState(), waiting=1, now=NOW)
    offer = state.people[ANA].offer
    busy = rules.accept(state, ANA, offer, LATER)
    assert busy is not None
    assert busy.active_at == LATER
    assert rules.release(busy, ANA, offer, LATER + timedelta(minutes=5)).active_at == (
        LATER + timedelta(minutes=5)
    )


def test_nobody_rung_still_prunes_the_lapsed() -> None:
    state = QueueState(
        people={
            ANA: Engaged(rules.RINGING, "o-1", LATER),
            BEN: Engaged(rules.BUSY, "o-0", NOW),  # its end was missed: free again now
        },
        offers=1,
    )
    offers, pruned = rules.plan_offers(LINE, step(), state, waiting=1, now=NOW)
    assert offers == []
    assert dict(pruned.people) == {ANA: Engaged(rules.RINGING, "o-1", LATER)}
    assert (pruned.offers, pruned.active_at) == (1, None)


def test_a_busy_person_does_not_count_as_ringing() -> None:
    state = QueueState(people={BEN: Engaged(rules.BUSY, "o-0", LATER)})
    offers, _ = rules.plan_offers(LINE, step(), state, waiting=1, now=NOW)
    assert [o.person.number for o in offers] == [ANA]


def test_a_callback_within_twilios_second_of_a_live_caller_is_not_ahead_of_them() -> None:
    assert rules.place_in_line(1, NOW, [NOW]) == 1
    assert rules.place_in_line(1, NOW, [NOW - rules.ARRIVAL_SLACK]) == 1
    assert rules.place_in_line(1, NOW, [NOW - rules.ARRIVAL_SLACK - timedelta(milliseconds=1)]) == 2


def test_a_callback_at_exactly_its_maximum_age_is_kept() -> None:
    callback = Callback("CA" + "1" * 32, "+15558675310", NOW, NOW)
    assert not rules.too_old(callback, NOW + timedelta(hours=1), timedelta(hours=1))
    assert rules.too_old(callback, NOW + timedelta(hours=1, seconds=1), timedelta(hours=1))
