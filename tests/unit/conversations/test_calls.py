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
        {"Direction": "outbound-api"},
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
