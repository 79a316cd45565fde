"""Missed-call text-back (pure): which callers may get a text, and what the call's CallLog
record says about whether anybody took it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.lines.document import parse_line
from switchboard.lines.model import Line
from switchboard.outbound.windows import Policy, window_words
from switchboard.textback import rules
from switchboard.textback.rules import Verdict

LINE_NUMBER = "+15017122661"
MOBILE = "+447911123456"  # a UK mobile
US_CELL_OR_LANDLINE = "+12015550123"  # North America: the plan cannot tell
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def line(text_back: dict[str, Any] | None = None, **document: Any) -> Line:
    doc: dict[str, Any] = {"name": "Main line", "closed": [{"voicemail": {}}], **document}
    if text_back is not None:
        doc["textBack"] = text_back
    return parse_line(doc, LINE_NUMBER)[1]


LINE = line({"minSeconds": 5, "windowHours": 24})


def missed(**fields: Any) -> dict[str, Any]:
    """The record of an inbound call that ended in voicemail after a ring group nobody took."""
    record: dict[str, Any] = {
        "PartitionKey": "CA" + "1" * 32,
        "Sid": "CA" + "1" * 32,
        "Direction": "inbound",
        "From": MOBILE,
        "To": LINE_NUMBER,
        "Status": "completed",
        "CallDuration": 42,
        "Handling": "voicemail",
        "Reached": False,
        "DialOutcome": "completed",  # legs answered then dropped in their whispers
    }
    return {**record, **fields}


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        (MOBILE, None),
        ("+33612345678", None),
        (US_CELL_OR_LANDLINE, None),
        ("+442079460000", "landline"),
        ("+33123456789", "landline"),
        ("+18005551234", "toll-free number"),
        ("+15558675310", "not a valid number"),
        ("72345", "not a phone number"),
        ("ACMEBANK", "not a phone number"),
        ("anonymous", "withheld number"),
        ("Restricted", "withheld number"),
        ("+266696687", "withheld number"),
        ("", "withheld number"),
        ("client:alice", "not a phone number"),
    ],
)
def test_who_can_get_a_text(number: str, problem: str | None) -> None:
    assert rules.number_problem(number) == problem


def test_a_missed_call_from_a_mobile_gets_a_text() -> None:
    assert rules.decide(missed(), LINE) == rules.SEND
    assert rules.decide(missed(From=US_CELL_OR_LANDLINE), LINE) == rules.SEND
    assert rules.decide(missed(Handling="hangup", RecordingSid=None), LINE) == rules.SEND


@pytest.mark.parametrize(
    "fields",
    [
        {"Reached": True},
        {"Reached": None, "DialOutcome": "answered"},
        {"TakenByJson": '{"name": "Ann", "number": "+15005550010"}'},
        {"Direction": "outbound-api"},
        {"Status": "in-progress"},
        {"TextBack": "sent"},
    ],
)
def test_no_text_when_someone_took_it_or_it_is_not_a_missed_inbound_call(
    fields: dict[str, Any],
) -> None:
    record = missed(**fields)
    assert not rules.may_apply(record)
    assert rules.decide(record, LINE) is None


def test_no_text_without_the_line_option() -> None:
    assert rules.decide(missed(), line()) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"From": "+442079460000"}, "landline"),
        ({"From": "anonymous"}, "withheld number"),
        ({"From": "+15005550006"}, "personal number"),
        ({"Handling": "rejected"}, "blocked caller"),
        ({"Handling": "refused"}, "caller not allowed"),
        ({"Handling": "redirect"}, "handed to another application"),
        ({"Handling": "queue-callback"}, "called back from the queue"),
        ({"CallDuration": 4}, "call shorter than 5 s"),
        ({"CallDuration": None}, "call shorter than 5 s"),
        ({"From": LINE_NUMBER}, "one of our numbers"),
    ],
)
def test_skips_say_why(fields: dict[str, Any], reason: str) -> None:
    assert rules.decide(missed(**fields), LINE) == Verdict(False, reason)


def test_a_call_exactly_the_minimum_length_gets_a_text() -> None:
    """`minSeconds` is the shortest call that counts: one second less is skipped, the minimum
    itself is not (the boundary is where `<` and `<=` differ)."""
    assert rules.decide(missed(CallDuration=5), LINE) == rules.SEND
    assert rules.decide(missed(CallDuration=4), LINE) == rules.skip("call shorter than 5 s")
    assert rules.decide(missed(CallDuration=0), line({"minSeconds": 0})) == rules.SEND


def test_own_blocked_and_not_allowed_callers() -> None:
    assert rules.decide(missed(), LINE, own_numbers={MOBILE}) == rules.skip("one of our numbers")
    blocked = line({}, callers={"blocked": [MOBILE]})
    assert rules.decide(missed(), blocked) == rules.skip("blocked caller")
    allowed = line({}, callers={"allowed": ["+33612345678"]})
    assert rules.decide(missed(), allowed) == rules.skip("blocked caller")


def test_after_a_voicemail_by_the_line_option() -> None:
    voicemail = missed(RecordingSid="RE" + "2" * 32, RecordingDuration=12)
    assert rules.decide(voicemail, LINE) == rules.SEND
    quiet = line({"afterVoicemail": False})
    assert rules.decide(voicemail, quiet) == rules.skip("left a voicemail")
    empty = missed(RecordingSid="RE" + "2" * 32, RecordingDuration=0)
    assert rules.decide(empty, quiet) == rules.SEND


def test_the_record_says_sent_or_skipped_once() -> None:
    schedule = rules.schedule_id("CA" + "1" * 32)
    assert schedule == "sys-textback-CA" + "1" * 32
    sent = rules.record_change({"Status": "completed"}, rules.SEND, schedule, NOW)
    assert sent == {"TextBack": "sent", "TextBackAt": NOW, "TextBackId": schedule}
    skipped = rules.record_change({}, rules.skip("opted out"), None, NOW)
    assert skipped == {"TextBack": "skipped (opted out)", "TextBackAt": NOW}
    assert rules.record_change({"TextBack": "sent"}, rules.SEND, schedule, NOW) is None
    assert rules.record_change(None, rules.SEND, schedule, NOW) is None
    # The window's own words (the outbound policy's) for the line's textBack.windowHours.
    assert LINE.text_back is not None
    window = Policy(1, timedelta(hours=LINE.text_back.window_hours))
    assert window_words(window) == "texted within 24 h"


def test_the_number_called_is_one_of_ours_even_when_the_line_has_none() -> None:
    # A default line knows no number of its own: the record's `To` is the one called.
    assert rules.decide(missed(From=LINE_NUMBER, To=LINE_NUMBER), line({})) == rules.skip(
        "one of our numbers"
    )
    other = missed(From="+447911123457", To="+447911123457")
    assert rules.decide(other, line({})) == rules.skip("one of our numbers")


def test_a_recording_known_by_its_url_alone_is_a_voicemail() -> None:
    quiet = line({"afterVoicemail": False})
    by_url = missed(RecordingUrl="https://api.twilio.com/recordings/RE1", RecordingDuration=9)
    assert rules.left_voicemail(by_url)
    assert rules.decide(by_url, quiet) == rules.skip("left a voicemail")
    assert not rules.left_voicemail(missed())


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("+", "not a phone number"),  # passes the shape check, phonenumbers cannot parse it
        ("+882", "not a phone number"),
        ("+88812345678901", "company number"),  # a UAN of the UN's OCHA
        ("+80812345678", "shared-cost number"),
    ],
)
def test_numbers_that_are_not_mobiles_say_so(number: str, problem: str) -> None:
    assert rules.number_problem(number) == problem


@pytest.mark.parametrize(
    ("taken_by", "reached"),
    [("", False), ("null", False), ("{}", False), ('{"name": "Ann"}', True)],
)
def test_an_empty_taken_by_is_nobody(taken_by: str, reached: bool) -> None:
    record = missed(Reached=None, DialOutcome="no-answer", TakenByJson=taken_by)
    assert rules.reached(record) is reached


def test_a_skipped_text_back_names_no_schedule() -> None:
    change = rules.record_change({}, rules.skip("landline"), "sys-textback-x", NOW)
    assert change == {"TextBack": "skipped (landline)", "TextBackAt": NOW}


def test_the_schedule_id_is_the_call_sid_or_a_hash_of_it() -> None:
    assert rules.schedule_id("CA" + "1" * 32) == "sys-textback-CA" + "1" * 32
    assert rules.schedule_id("A" * 64) == "sys-textback-" + "A" * 64
    assert rules.schedule_id("a" * 64) == "sys-textback-" + "a" * 64
    hashed = rules.schedule_id("A" * 65)
    assert hashed == "sys-textback-" + hashlib.sha256(b"A" * 65).hexdigest()[:32]
    assert rules.schedule_id("CA/1") == "sys-textback-" + hashlib.sha256(b"CA/1").hexdigest()[:32]


def test_the_line_of_a_call_is_its_line_else_the_number_called() -> None:
    assert rules.line_number({"Line": " +15017122662 ", "To": LINE_NUMBER}) == "+15017122662"
    assert rules.line_number({"Line": "", "To": f" {LINE_NUMBER}"}) == LINE_NUMBER
    assert rules.line_number({"To": None}) == ""


def test_a_call_of_unknown_length_counts_as_zero_seconds() -> None:
    one_second = line({"minSeconds": 1})
    assert rules.decide(missed(CallDuration=None), one_second) == rules.skip(
        "call shorter than 1 s"
    )
    assert rules.decide(missed(CallDuration="n/a"), line({"minSeconds": 0})) == rules.SEND


def test_a_number_phonenumbers_cannot_read_is_not_a_phone_number() -> None:
    assert rules.number_problem("+999123456") == "not a phone number"  # no such country code
