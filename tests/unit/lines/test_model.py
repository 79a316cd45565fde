"""The line model's own rules: a hang-up step is one value, and a line changes by copy."""

from __future__ import annotations

from datetime import UTC

from switchboard.lines.hours import Schedule
from switchboard.lines.model import HangupStep, Line, PauseStep, RedirectStep


def test_every_hangup_step_is_the_same_step() -> None:
    assert HangupStep() == HangupStep()
    assert hash(HangupStep()) == hash(HangupStep())
    assert len({HangupStep(), HangupStep()}) == 1
    assert HangupStep()  # a step is never falsy (an empty tuple would be)
    assert HangupStep() != RedirectStep("https://example.com/twiml")
    assert HangupStep() != PauseStep(1)
    assert HangupStep() != ()
    assert repr(HangupStep()) == "HangupStep()"


def test_a_line_changes_by_copy_and_compares_by_value() -> None:
    line = Line(number="+15017122661", schedule=Schedule(zone=UTC), flows={"open": (HangupStep(),)})
    moved = line._replace(number="+15017122662")
    assert line.number == "+15017122661"
    assert moved.number == "+15017122662"
    assert moved._replace(number=line.number) == line
    assert Line(number=None, schedule=Schedule(zone=UTC)).greetings == {}
