"""A call's event in its conversation, from its CallLog record (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.conversations import calls
from switchboard.conversations.rules import KIND_CALL

START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def record(**fields: Any) -> dict[str, Any]:
    return {
        "Id": "CA1",
        "Direction": "inbound",
        "From": "+15557770101",
        "To": "+15017122661",
        "Status": "completed",
        "CreatedAt": START,
        **fields,
    }


def test_a_missed_call_is_the_customers_event() -> None:
    found = calls.call_event(record(CallDuration="12"))
    assert found is not None
    assert (found.line, found.customer, found.call_sid, found.at) == (
        "+15017122661",
        "+15557770101",
        "CA1",
        START,
    )
    assert found.fields["Event"] == "missed"
    assert found.fields["Duration"] == 12
    event = found.event()
    assert (event.kind, event.summary, event.from_customer) == (KIND_CALL, "missed call", True)


def test_a_voicemail_with_its_length_and_transcript() -> None:
    found = calls.call_event(
        record(RecordingUrl="https://x/RE1", RecordingDuration=37, TranscriptionText="Call me")
    )
    assert found is not None
    assert found.outcome == "voicemail"
    assert found.summary == "voicemail (0:37): Call me"
    assert found.event().from_customer


def test_an_answered_call_says_by_whom_and_is_not_unread() -> None:
    found = calls.call_event(record(Reached=True, TakenByJson='{"name": "Ana", "number": "+1"}'))
    assert found is not None
    assert (found.outcome, found.summary, found.fields["TakenBy"]) == (
        "answered",
        "call answered by Ana",
        "Ana",
    )
    assert not found.event().from_customer
    plain = calls.call_event(record(DialOutcome="completed"))
    assert plain is not None
    assert plain.summary == "call answered"


def test_before_the_call_ends_a_recording_still_completes_its_row() -> None:
    found = calls.call_event(record(Status="in-progress", RecordingUrl="https://x/RE1"))
    assert found is not None
    assert found.outcome is None
    assert found.fields["Event"] == "voicemail"
    assert "Event" not in calls.call_event(record(Status="ringing")).fields  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "changes",
    [
        {"Direction": "outbound-dial"},  # a leg a <Dial> placed: its parent call is the event
        {"From": "anonymous"},
        {"Handling": "rejected"},
        {"Handling": "redirect"},
        {"CreatedAt": None},
        {"Line": "", "To": ""},
    ],
)
def test_what_is_no_event_of_a_conversation(changes: dict[str, Any]) -> None:
    assert calls.call_event(record(**changes)) is None
    assert calls.call_event(None) is None


def test_a_stored_line_wins_over_the_number_called() -> None:
    found = calls.call_event(record(Line="+15005550010"))
    assert found is not None
    assert found.line == "+15005550010"


def test_a_caller_taken_off_a_queue_is_answered_by_that_person() -> None:
    found = calls.call_event(
        record(
            Reached=True,
            TakenByJson='{"name":"Ana","number":"+15550000001"}',
            QueueOutcome="taken",
            QueueResult="bridged",
            QueueTime=42,
            Handling="queue-taken",
        )
    )
    assert found is not None
    assert (found.outcome, found.summary, found.fields["QueueTime"]) == (
        "answered",
        "call answered by Ana",
        42,
    )
    assert not found.event().from_customer
    assert not found.resolved  # no call back to decide


def test_a_call_back_still_to_come_is_not_unread_and_its_outcome_decides_later() -> None:
    asked = record(Callback="waiting", Handling="queue-callback", QueueTime=30)
    waiting = calls.call_event(asked)
    assert waiting is not None
    assert (waiting.outcome, waiting.summary, waiting.fields["Callback"]) == (
        "callback",
        "asked to be called back",
        "waiting",
    )
    assert not waiting.event().from_customer  # the app answers it by itself
    assert not waiting.resolved
    assert calls.call_event(asked | {"Callback": "connecting"}).outcome == "callback"  # type: ignore[union-attr]

    answered = calls.call_event(
        asked | {"Callback": "answered", "CallbackBy": '{"name":"Ana","number":"+15550000001"}'}
    )
    assert answered is not None
    assert (answered.outcome, answered.summary, answered.fields["TakenBy"]) == (
        "answered",
        "called back by Ana",
        "Ana",
    )
    later = datetime(2026, 12, 1, 15, 9, tzinfo=UTC)
    resolution = answered.resolution(later)
    assert (resolution.id, resolution.at, resolution.from_customer) == (
        "CA1-callback",
        later,
        False,
    )
    assert answered.resolved

    for word in ("unanswered", "dropped (older than 24 h)"):
        missed = calls.call_event(asked | {"Callback": word})
        assert missed is not None
        assert (missed.outcome, missed.summary) == ("missed", f"missed call (call back {word})")
        assert missed.resolved
        assert missed.resolution(START).from_customer  # theirs again: unread, reopens
        assert missed.event().from_customer


def test_a_refused_call_back_leaves_the_call_to_its_other_outcome() -> None:
    """The outbound policy refused the call back: the caller stayed in line (then a voicemail,
    or a plain missed call)."""
    refused = record(Callback="skipped (daily limit)")
    assert calls.call_event(refused).summary == "missed call"  # type: ignore[union-attr]
    assert not calls.call_event(refused).resolved  # type: ignore[union-attr]
    left = calls.call_event(refused | {"RecordingUrl": "https://x/RE1", "RecordingDuration": 5})
    assert left is not None
    assert left.outcome == "voicemail"


def test_a_call_back_decided_before_its_call_ended_is_counted_once() -> None:
    """The call's end and its call back's decision race: each hook may see the other's write.
    The end of a call whose call back is decided applies the decision's event, so whichever
    hooks run, the missed call is unread once."""
    from switchboard.conversations.rules import apply_event, new_conversation

    asked = record(Callback="waiting", Handling="queue-callback", QueueTime=30)
    decided = calls.call_event(asked | {"Callback": "unanswered"})
    assert decided is not None
    assert decided.ended_event().id == decided.resolution(START).id == "CA1-callback"
    later = datetime(2026, 12, 1, 15, 9, tzinfo=UTC)
    state = new_conversation("+15017122661", "+15557770101", "a", START)
    after_end = apply_event(state, decided.ended_event())
    assert after_end is not None
    assert after_end.unread == 1
    assert apply_event(after_end, decided.resolution(later)) is None  # applied already
    # In the usual order the end comes first (a call back still to come: not unread), then
    # the decision: one unread all the same.
    waiting = calls.call_event(asked)
    assert waiting is not None
    assert waiting.ended_event() == waiting.event()
    first = apply_event(state, waiting.ended_event())
    assert first is not None
    assert first.unread == 0
    second = apply_event(first, decided.resolution(later))
    assert second is not None
    assert second.unread == 1


# --------------------------------------------------------------------------------------------
# Calls the app placed through the outbound-call queue


LINE = "+15017122661"
CUSTOMER = "+15557770101"


def placed(**fields: Any) -> dict[str, Any]:
    return {
        "PartitionKey": "reminder-42",
        "Id": "reminder-42",
        "Direction": "outbound-api",
        "From": LINE,
        "To": CUSTOMER,
        "Sid": "CA" + "7" * 32,
        "RequestJson": '{"to":"+15557770101","say":"Your table is ready."}',
        "Status": "completed",
        "CallDuration": "14",
        "CreatedAt": START,
        **fields,
    }


def test_a_placed_call_answered_is_the_businesss_event_with_what_it_said() -> None:
    found = calls.call_event(placed())
    assert found is not None
    assert (found.line, found.customer, found.call_sid, found.at, found.direction) == (
        LINE,
        CUSTOMER,
        "CA" + "7" * 32,
        START,
        "outbound",
    )
    assert found.fields == {
        "Status": "completed",
        "Duration": 14,
        "Body": "Your table is ready.",
        "Event": "answered",
    }
    event = found.ended_event()
    assert (event.kind, event.direction, event.summary) == (
        KIND_CALL,
        "outbound",
        "automated call answered",
    )
    assert not event.from_customer  # the business's own event: never unread
    assert not event.by_staff


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_a_placed_call_nobody_answered_says_why(status: str) -> None:
    found = calls.call_event(placed(Status=status, CallDuration="0"))
    assert found is not None
    assert found.outcome == "unanswered"
    assert found.summary == f"automated call not answered ({status})"
    assert not found.event().from_customer


def test_a_placed_call_in_progress_has_no_outcome_yet() -> None:
    found = calls.call_event(placed(Status="ringing"))
    assert found is not None
    assert found.outcome is None
    assert found.fields["Event"] is None


@pytest.mark.parametrize(
    "request_json",
    ['{"to":"+15557770101","twiml":"<Response/>"}', "not json", '["say"]', None, '{"say":""}'],
)
def test_a_placed_call_says_nothing_when_its_request_has_no_words(
    request_json: str | None,
) -> None:
    found = calls.call_event(placed(RequestJson=request_json))
    assert found is not None
    assert found.fields["Body"] is None


@pytest.mark.parametrize(
    "changes",
    [
        {"Id": "sys-queue-offer-15017122661-1-2", "PartitionKey": "sys-queue-offer-1"},
        {"Id": "sys-callback-CA1", "PartitionKey": "sys-callback-CA1"},
        {"Id": "", "PartitionKey": "sys-callback-CA2"},
        {"Sid": ""},  # never reached Twilio: no call to show
        {"To": "client:ana"},
        {"From": ""},
        {"CreatedAt": None},
    ],
)
def test_what_a_placed_call_that_is_no_event_looks_like(changes: dict[str, Any]) -> None:
    assert calls.call_event(placed(**changes)) is None
