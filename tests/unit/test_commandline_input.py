"""What a command is given (`switchboard.commandline`): every problem printed, exit 2, never a
traceback."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from switchboard.commandline import (
    InvalidInput,
    SwitchboardGroup,
    api_failure,
    parse_json_text,
    read_json_file,
)
from switchboard.http import ApiError


def test_json_that_cannot_be_read(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    cases = {
        deep: "nested too deeply",
        latin: "not UTF-8 text (byte 14)",
        tmp_path / "missing.json": "cannot be read",
    }
    for path, says in cases.items():
        with pytest.raises(InvalidInput) as refused:
            read_json_file(path)
        assert refused.value.exit_code == 2
        assert says in refused.value.format_message()
    with pytest.raises(InvalidInput) as refused:
        parse_json_text('{"a": }', "--json")
    assert refused.value.problems == ["--json: not valid JSON (line 1, column 7: Expecting value)"]
    twice = tmp_path / "twice.json"  # a line file naming its zone twice: which one was meant?
    twice.write_text('{"timeZone": "Mars/X", "timeZone": "America/New_York"}', encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        read_json_file(twice)
    assert refused.value.problems == [
        f"{twice}: not valid JSON (the key 'timeZone' appears twice in one object)"
    ]
    bom = tmp_path / "bom.json"
    bom.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert read_json_file(bom) == {"a": 1}


def test_api_errors_as_the_command_line_says_them() -> None:
    invalid = ApiError(
        400,
        "invalid_line",
        "/a: x",
        "/a",
        extra={"errors": [{"field": "/a", "message": "x"}, {"field": "/b", "message": "y"}]},
    )
    refused = api_failure(invalid, "line.json: not written:")
    assert isinstance(refused, InvalidInput)
    assert refused.format_message() == "line.json: not written:\n  /a: x\n  /b: y"
    down = api_failure(ApiError(503, "storage_unavailable", "storage is down", retry_after=5))
    assert not isinstance(down, InvalidInput)
    assert down.exit_code == 1
    assert down.format_message() == "storage is down (retry in 5 s)"


def test_a_command_group_never_ends_in_a_traceback() -> None:
    @click.group(cls=SwitchboardGroup)
    def group() -> None:
        pass

    @group.command()
    def deep() -> None:
        raise RecursionError

    @group.command()
    def api() -> None:
        raise ApiError(413, "too_large", "the line document is too large")

    runner = CliRunner()
    result = runner.invoke(group, ["deep"])
    assert (result.exit_code, "nested too deeply" in result.output) == (2, True)
    result = runner.invoke(group, ["api"])
    assert result.exit_code == 2
    assert "the line document is too large" in result.output
