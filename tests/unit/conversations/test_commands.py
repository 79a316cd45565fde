"""`python -m switchboard conversations ...`: input it cannot take ends with exit 2 naming it,
before anything is read or sent."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from switchboard import cli
from switchboard.conversations.commands import event_line


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["show", "15017122661", "+15557770101"], "line: must be an E.164"),
        (["reply", "+15017122661", "5557770101", "Hi"], "customer: must be an E.164"),
        (["reply", "+15017122661", "+15557770101"], "body: is required"),
        (["reply", "+15017122661", "+15557770101", "Hi", "--media", "http://x"], "mediaUrl"),
        (["list", "--before", "yesterday"], "before: must be"),
        (["list", "--line", "+1"], "line: must be an E.164"),
        (["done", "+15017122661", "x"], "customer: must be an E.164"),
    ],
)
def test_input_it_cannot_take(args: list[str], named: str) -> None:
    result = CliRunner().invoke(cli.cli, ["conversations", *args], env={"TWILIO_FROM_NUMBER": ""})
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "Traceback" not in result.output


AT = "2026-12-07T09:30:00.000Z"


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            {"at": AT, "kind": "text", "direction": "inbound", "body": "Open today?"},
            f"{AT} < Open today?",
        ),
        (
            {
                "at": AT,
                "kind": "text",
                "direction": "outbound",
                "body": "Yes",
                "author": "ana",
                "status": "delivered",
            },
            f"{AT} > Yes (ana) [delivered]",
        ),
        (
            {
                "at": AT,
                "kind": "call",
                "direction": "outbound",
                "event": "answered",
                "duration": 74,
                "body": "Your appointment is tomorrow at 9.",
            },
            f"{AT} > call: answered (1:14): Your appointment is tomorrow at 9.",
        ),
        (
            {
                "at": AT,
                "kind": "call",
                "direction": "outbound",
                "event": "unanswered",
                "status": "busy",
                "duration": 0,
            },
            f"{AT} > call: unanswered [busy]",
        ),
        (
            {
                "at": AT,
                "kind": "call",
                "direction": "inbound",
                "event": "voicemail",
                "duration": 40,
                "recordingDuration": 31,
                "transcript": "Call me back",
            },
            f"{AT} < call: voicemail (0:31): Call me back",
        ),
        (
            {
                "at": AT,
                "kind": "call",
                "direction": "inbound",
                "event": "answered",
                "takenBy": "Ana",
                "callback": "answered",
            },
            f"{AT} < call: answered by Ana (call back: answered)",
        ),
    ],
    ids=["text-in", "text-out", "placed-answered", "placed-busy", "voicemail", "taken"],
)
def test_each_event_is_one_line_with_what_it_said(event: dict[str, object], line: str) -> None:
    """`conversations show`: a placed call shows its length and the words it said."""
    assert event_line(event) == line
