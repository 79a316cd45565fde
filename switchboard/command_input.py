"""What a command is given, read once and refused in one way (the command line only; click).

Whatever a command reads (a JSON file, a CSV file, a `--json` option) it reads through here,
and whatever it cannot take (not UTF-8, not JSON, nested past any document's depth, a document
the API would refuse) ends the same way: every problem printed, one a line (a JSON pointer
first for a document), and exit status 2. Never a traceback.

- `InvalidInput`: the click error of input a command cannot take (exit 2), with its problems.
- `read_json_file(path)` / `parse_json_text(text, name)`: JSON in, or `InvalidInput`.
- `api_failure(error)`: an `ApiError` as the command line says it: a request error (4xx:
  what was given is wrong) is `InvalidInput` listing `errors` with their pointers; anything
  else (storage or Twilio unavailable) is a failure, exit 1.
- `CommandGroup`: the `click.Group` whose commands end that way even when an error escapes
  them (an `ApiError`, input nested too deeply for Python's recursion, bytes that are not text).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from switchboard.http import ApiError


class InvalidInput(click.ClickException):
    """Input a command cannot take: each problem on its own line, exit status 2."""

    exit_code = 2

    def __init__(self, problems: Sequence[str], heading: str | None = None) -> None:
        self.problems = [str(p) for p in problems] or ["invalid input"]
        self.heading = heading
        super().__init__(self.format_message())

    def format_message(self) -> str:
        """The heading (when given) and every problem, indented under it."""
        if self.heading is None and len(self.problems) == 1:
            return self.problems[0]
        lines = [self.heading or "invalid input:"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


def parse_json_text(text: str, name: str) -> Any:
    """JSON text given as `name` (a file, an option), or `InvalidInput` saying why not."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            [f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]
        ) from None
    except RecursionError:
        raise InvalidInput([f"{name}: nested too deeply to be read"]) from None
    except ValueError as exc:  # numbers too long to convert, ...
        raise InvalidInput([f"{name}: not valid JSON ({exc})"]) from None


def read_text_file(path: Path, what: str = "a text file") -> str:
    """A file's text: UTF-8 (a byte-order mark allowed), or `InvalidInput` saying why not."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            [f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"]
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            [f"{path}: not UTF-8 text (byte {exc.start + 1}): save it as UTF-8 ({what})"]
        ) from None


def read_json_file(path: Path) -> Any:
    """A JSON file's content, or `InvalidInput` saying why it cannot be read."""
    return parse_json_text(read_text_file(path, "a JSON file"), str(path))


def api_problems(error: ApiError) -> list[str]:
    """Every problem an API error names: its `errors` (pointer: message) when it lists them,
    else its message."""
    errors = error.extra.get("errors") if error.extra else None
    if isinstance(errors, list) and errors:
        return [
            f"{e.get('field') or '/'}: {e.get('message')}" for e in errors if isinstance(e, dict)
        ]
    return [error.message]


def api_failure(error: ApiError, heading: str | None = None) -> click.ClickException:
    """The command line's error for an `ApiError`: `InvalidInput` (exit 2) for a request error,
    else a failure (exit 1) with the message and when to retry."""
    if 400 <= error.status < 500:
        return InvalidInput(api_problems(error), heading)
    detail = error.message
    if error.retry_after is not None:
        detail += f" (retry in {error.retry_after} s)"
    return click.ClickException(detail)


class CommandGroup(click.Group):
    """A command group whose commands never end in a traceback for what they were given."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; input errors that escape it become `InvalidInput`."""
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise api_failure(exc) from None
        except RecursionError:
            raise InvalidInput(["the input is nested too deeply to be read"]) from None
        except UnicodeError as exc:
            raise InvalidInput([f"the input is not valid text ({type(exc).__name__})"]) from None
