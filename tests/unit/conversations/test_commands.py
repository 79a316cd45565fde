"""`python -m switchboard conversations ...`: input it cannot take ends with exit 2 naming it,
before anything is read or sent."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from switchboard import cli


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
