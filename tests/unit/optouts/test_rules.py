"""The one opt-out check every outbound SMS path makes (pure, with a lookup stub)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchboard.optouts import rules
from switchboard.optouts.journal import Journal, PendingChange
from switchboard.optouts.rules import (
    How,
    OptedOut,
    OptOutCheckFailed,
    OptOutRecord,
    ensure_can_text,
)
from switchboard.records import utcnow


class _Lookup:
    def __init__(self, records: dict[str, OptOutRecord], broken: bool = False) -> None:
        self.records = records
        self.broken = broken

    def get(self, number: str) -> OptOutRecord | None:
        if self.broken:
            raise ConnectionError("storage down")
        return self.records.get(number)


def test_ensure_can_text() -> None:
    stopped = OptOutRecord("+15558675310", utcnow(), "keyword", keyword="STOP")
    lookup = _Lookup({stopped.number: stopped})
    ensure_can_text("+15551230000", lookup)
    with pytest.raises(OptedOut) as info:
        ensure_can_text(" +15558675310 ", lookup)
    assert "+1555***5310 has opted out: replied STOP" in str(info.value)
    assert "8675310" not in str(info.value)
    assert info.value.record is stopped
    with pytest.raises(OptOutCheckFailed):
        ensure_can_text("+15551230000", _Lookup({}, broken=True))


AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_the_entity_of_an_opt_out_holds_every_field_and_reads_back_the_same() -> None:
    full = OptOutRecord("+15558675310", AT, How.KEYWORD, "STOP", "+15017122661", "SM" + "1" * 32)
    assert rules.to_entity(full) == {
        "PartitionKey": "+15558675310",
        "RowKey": "optout",
        "Number": "+15558675310",
        "OptedOutAt": AT,
        "How": "keyword",
        "Keyword": "STOP",
        "BusinessNumber": "+15017122661",
        "MessageSid": "SM" + "1" * 32,
    }
    assert rules.from_entity(rules.to_entity(full)) == full
    bare = OptOutRecord("+15558675310", AT, How.OPERATOR)
    assert rules.to_entity(bare) == {
        "PartitionKey": "+15558675310",
        "RowKey": "optout",
        "Number": "+15558675310",
        "OptedOutAt": AT,
        "How": "operator",
    }
    read = rules.from_entity(rules.to_entity(bare))
    assert read == bare
    assert read.how is How.OPERATOR


def test_an_entity_written_by_hand_or_by_an_older_version_is_read_safely() -> None:
    older = rules.from_entity(
        {"PartitionKey": "+15558675310", "How": "imported", "Timestamp": LATER, "Keyword": ""}
    )
    assert older == OptOutRecord("+15558675310", LATER, "imported")
    assert not isinstance(older.how, How)
    # No time at all: now (the safe side: the opt-out holds from the moment it is read).
    before = utcnow()
    undated = rules.from_entity({"PartitionKey": "+15558675310", "Number": "", "How": None})
    assert undated.number == "+15558675310"
    assert undated.how == ""
    assert before <= undated.opted_out_at <= utcnow()
    assert (undated.keyword, undated.business_number, undated.message_sid) == (None, None, None)
    # A time that is not a datetime (a string written by hand) is not trusted either.
    text_time = rules.from_entity(
        {"PartitionKey": "+1", "Number": "+15558675310", "OptedOutAt": "2026-12-01", "How": "x"}
    )
    assert text_time.number == "+15558675310"
    assert text_time.opted_out_at != "2026-12-01"
    stamped = rules.from_entity(
        {"PartitionKey": "+15558675310", "OptedOutAt": "x", "Timestamp": LATER, "How": "keyword"}
    )
    assert stamped.opted_out_at == LATER
    assert stamped.how is How.KEYWORD


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            OptOutRecord("+15558675310", AT, How.KEYWORD, "STOPALL"),
            "+1555***5310 has opted out: replied STOPALL on 2026-12-01T09:30:00.000Z",
        ),
        (
            OptOutRecord("+15558675310", AT, How.KEYWORD),
            "+1555***5310 has opted out: replied with an opt-out keyword on 2026-12-01T09:30:00.000Z",
        ),
        (
            OptOutRecord("+15558675310", AT, How.TWILIO_21610),
            "+1555***5310 has opted out: Twilio reported error 21610 (unsubscribed recipient) on "
            "2026-12-01T09:30:00.000Z",
        ),
        (
            OptOutRecord("+15558675310", AT, How.OPERATOR),
            "+1555***5310 has opted out: an operator recorded the opt-out on 2026-12-01T09:30:00.000Z",
        ),
        (
            OptOutRecord("+15558675310", AT, "imported"),
            "+1555***5310 has opted out: opted out (imported) on 2026-12-01T09:30:00.000Z",
        ),
    ],
)
def test_the_reason_says_how_and_when(record: OptOutRecord, reason: str) -> None:
    assert record.reason() == reason
    error = OptedOut(record)
    assert (str(error), error.code, error.record) == (reason, "opted_out", record)


def test_a_failed_check_names_the_masked_number_and_the_error() -> None:
    with pytest.raises(OptOutCheckFailed) as info:
        ensure_can_text("+15551230000", _Lookup({}, broken=True))
    assert str(info.value) == "cannot check the opt-out list for +1555***0000: ConnectionError"


def test_a_stop_not_written_yet_is_an_opt_out_already() -> None:
    pending = Journal()
    pending.add(PendingChange("+15558675310", True, "STOP", "SM" + "2" * 32, AT, "+15017122661"))
    with pytest.raises(OptedOut) as info:
        ensure_can_text(" +15558675310 ", _Lookup({}, broken=True), pending)
    assert info.value.record == OptOutRecord(
        "+15558675310", AT, How.KEYWORD, "STOP", "+15017122661", "SM" + "2" * 32
    )
    # A START not written yet changes nothing until it is (the safe side): storage decides.
    started = Journal()
    started.add(PendingChange("+15558675310", False, "START", "SM3", AT, "+15017122661"))
    ensure_can_text("+15558675310", _Lookup({}), started)


def test_a_timestamp_that_is_not_a_time_is_not_used() -> None:
    before = utcnow()
    read = rules.from_entity({"PartitionKey": "+15558675310", "How": "x", "Timestamp": "today"})
    assert isinstance(read.opted_out_at, datetime)
    assert read.opted_out_at >= before
