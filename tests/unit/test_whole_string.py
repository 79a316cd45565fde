"""Every validation matches the whole string: a trailing newline (or any tail) never passes.

Python's `$` also matches just before a final newline, so `re.match(r"^\\+[0-9]{8,15}$", v)`
accepts "+15017122661\\n", which then reaches TwiML, a table key or a comparison that fails (a
blocked caller who is not blocked). Three nets keep it out:

- a scan of every regular expression written in `switchboard/` and `devkit/`: none may use `$`
  (use `re.fullmatch` or `\\Z`), and a compiled pattern whose end is not anchored may be used
  with `.match` only where a prefix is what is meant (listed here);
- every end-anchored `pattern` of the JSON Schemas the app serves and validates with
  (`lines/schema.json`, `operator/openapi.json`) run the way the app runs it (ECMA-262 `$`,
  `switchboard.patterns.ecma_search`): any string it accepts, plus a newline, is refused;
- every validator of a value from outside, fed a valid value and then the same with a newline
  (and a few other tails) appended.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.patterns import ecma_search, ecma_to_python

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("switchboard", "devkit")
_RE_FUNCTIONS = {"compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall"}
#: Compiled patterns used with `.match` on purpose: a prefix, not a whole value (none today: the
#: one there was, the shape of the app's forwards, went when echoes came to be found by record).
PREFIX_MATCHES: set[tuple[str, str]] = set()


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            yield relative, ast.parse(path.read_text(encoding="utf-8"), relative)


def _string(node: ast.AST, constants: dict[str, str]) -> str | None:
    """The text of a literal, an f-string's literal parts, a concatenation, or a module
    constant named by `node`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string(node.left, constants), _string(node.right, constants)
        return (left or "") + (right or "") if left is not None or right is not None else None
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return constants.get(node.value.id)
    return None


def _constants(module: ast.Module) -> dict[str, str]:
    """Module-level names bound to a string (or a dict of strings: joined)."""
    found: dict[str, str] = {}
    for statement in module.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            value = statement.value
            for target in targets:
                if not isinstance(target, ast.Name) or value is None:
                    continue
                text = _string(value, found)
                if text is None and isinstance(value, ast.Dict):
                    parts = [_string(v, found) for v in value.values if v is not None]
                    text = "\n".join(p for p in parts if p) or None
                if text is not None:
                    found[target.id] = text
    return found


def _regex_uses(module: ast.Module) -> Iterator[tuple[int, ast.AST]]:
    """(line, pattern argument) of every call of a `re` function."""
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.func.attr in _RE_FUNCTIONS
            and node.args
        ):
            yield node.lineno, node.args[0]


def _dollar_anchor(pattern: str) -> bool:
    """Whether `pattern` uses `$` as an anchor (not escaped, not in a character class)."""
    return ecma_to_python(pattern) != pattern


def test_no_regular_expression_of_the_tree_uses_a_dollar_anchor() -> None:
    found = []
    for path, module in _sources():
        constants = _constants(module)
        for line, argument in _regex_uses(module):
            pattern = _string(argument, constants)
            if pattern is not None and _dollar_anchor(pattern):
                found.append(f"{path}:{line}: {pattern!r}")
    assert not found, "use re.fullmatch or \\Z, never $:\n" + "\n".join(found)


def test_compiled_patterns_without_an_end_are_not_matched_as_whole_values() -> None:
    """`NAME = re.compile(...)` without `\\Z`, then `NAME.match(value)`: a prefix check, which
    is what a validation almost never means (`fullmatch` is)."""
    found = []
    for path, module in _sources():
        unanchored = set()
        constants = _constants(module)
        for statement in module.body:
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call):
                call = statement.value
                if (
                    isinstance(call.func, ast.Attribute)
                    and call.func.attr == "compile"
                    and call.args
                    and isinstance(statement.targets[0], ast.Name)
                ):
                    pattern = _string(call.args[0], constants) or ""
                    if not pattern.endswith("\\Z"):
                        unanchored.add(statement.targets[0].id)
        for node in ast.walk(module):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "match"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in unanchored
                and (path, node.func.value.id) not in PREFIX_MATCHES
            ):
                found.append(f"{path}:{node.lineno}: {node.func.value.id}.match")
    assert not found, "use .fullmatch for a whole value:\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for() -> None:
    """The scan is not vacuous: the mistake it hunts, written out, is caught."""
    module = ast.parse('import re\nE164 = r"^\\+[1-9][0-9]{7,14}$"\nre.match(E164, value)\n')
    constants = _constants(module)
    patterns = [_string(argument, constants) for _, argument in _regex_uses(module)]
    assert patterns == ["^\\+[1-9][0-9]{7,14}$"]
    assert _dollar_anchor(patterns[0] or "")
    assert not _dollar_anchor(r"[$]\$\Z")


# --- JSON Schema patterns -----------------------------------------------------------------------


def _schema_patterns() -> list[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            pattern = value.get("pattern")
            if isinstance(pattern, str):
                found.add(pattern)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in ("switchboard/lines/schema.json", "switchboard/operator/openapi.json"):
        walk(json.loads((ROOT / path).read_text(encoding="utf-8")))
    return sorted(p for p in found if p.endswith("$"))


ANCHORED = _schema_patterns()


def test_the_schemas_have_end_anchored_patterns() -> None:
    assert len(ANCHORED) >= 10


@pytest.mark.parametrize("pattern", ANCHORED)
def test_a_schema_pattern_refuses_a_trailing_newline(pattern: str) -> None:
    @settings(max_examples=25, deadline=None)
    @given(st.from_regex(ecma_to_python(pattern), fullmatch=True))
    def check(value: str) -> None:
        assert ecma_search(pattern, value)
        for tail in ("\n", "\r\n", "\nx"):
            assert not ecma_search(pattern, value + tail), repr(value + tail)

    check()


def test_ecma_dollar_is_the_end_of_the_text() -> None:
    assert ecma_to_python(r"^\+[0-9]+$") == r"^\+[0-9]+\Z"
    assert ecma_to_python(r"^[$]+\$$") == r"^[$]+\$\Z"
    assert ecma_search(r"^a$", "a")
    assert not ecma_search(r"^a$", "a\n")
    assert ecma_search(r"^https://", "https://x\n")  # a prefix pattern says nothing of the end


# --- every validator of a value from outside --------------------------------------------------


def _validators() -> list[tuple[str, Callable[[str], Any], str]]:
    """(name, validator raising ValueError or returning falsy for a bad value, a valid value)."""
    from switchboard import http, settings
    from switchboard.calls import request as calls
    from switchboard.lines import api as lines_api
    from switchboard.lines import document, hours
    from switchboard.menu import MenuError, parse_menu
    from switchboard.operator import api as operator_api
    from switchboard.phone import is_e164
    from switchboard.schedules import rules as schedules

    def truthy(check: Callable[[str], Any]) -> Callable[[str], Any]:
        def run(value: str) -> Any:
            if not check(value):
                raise ValueError(value)
            return True

        return run

    def menu_key(key: str) -> Any:
        try:
            return parse_menu({"prompt": "p", "options": {key: {"action": "hangup"}}})
        except MenuError as exc:
            raise ValueError(str(exc)) from None

    def field(parse: Callable[[dict[str, Any]], Any], name: str, base: dict[str, Any]) -> Any:
        return lambda value: parse({**base, name: value})

    call = {"to": "+15558675310", "say": "Hi"}
    return [
        ("phone.is_e164", truthy(is_e164), "+15017122661"),
        ("hours.parse_clock_range", hours.parse_clock_range, "08:30-17:30"),
        ("hours.parse_calendar_day", hours.parse_calendar_day, "2026-12-25"),
        ("document.parse_instant", document.parse_instant, "2026-12-24T17:00:00-05:00"),
        ("settings.parse_sid", settings.parse_sid("TWILIO_ACCOUNT_SID"), "AC" + "a" * 32),
        ("settings.parse_table_name", settings.parse_table_name, "CallLog"),
        ("settings.parse_queue_name", settings.parse_queue_name, "outbound-calls"),
        ("settings.parse_iso_duration", settings.parse_iso_duration, "PT24H"),
        ("settings.parse_quiet_hours", settings.parse_quiet_hours, "21:00-08:00"),
        ("settings.parse_host_name", settings.parse_host_name, "app.azurewebsites.net"),
        ("settings.parse_guid", settings.parse_guid, "0f8fad5b-d9cb-469f-a165-70867728950e"),
        ("settings.parse_account_name", settings.parse_account_name, "switchboardst01"),
        ("settings.parse_e164", settings.parse_e164, "+15017122661"),
        ("http.parse_date", lambda v: http.parse_date(v, "start"), "2026-11-01"),
        ("calls id", field(calls.parse_call_request, "id", call), "reminder-42"),
        ("calls voice", field(calls.parse_call_request, "voice", call), "Polly.Joanna"),
        ("calls language", field(calls.parse_call_request, "language", call), "en-US"),
        ("schedules.validate_id", schedules.validate_id, "invoice-7"),
        (
            "operator usage category",
            lambda v: operator_api.parse_usage_query({"category": v}),
            "sms-outbound",
        ),
        ("menu key", menu_key, "1"),
        ("lines If-Match", truthy(lambda v: lines_api.parse_if_match(v)), '"3"'),
    ]


VALIDATORS = _validators()
TAILS = ("\n", "\r\n", "\n\n", "\x00", "\nX")


@pytest.mark.parametrize(("name", "check", "valid"), VALIDATORS, ids=[v[0] for v in VALIDATORS])
def test_a_validator_refuses_a_trailing_newline(
    name: str, check: Callable[[str], Any], valid: str
) -> None:
    from switchboard.calls.request import InvalidCallRequest
    from switchboard.http import ApiError
    from switchboard.schedules.rules import ScheduleInputError

    accepted = check(valid)  # the sample itself passes
    refused = (ValueError, ApiError, InvalidCallRequest, ScheduleInputError)
    for tail in TAILS:
        try:
            result = check(valid + tail)
        except refused:
            continue
        # Only a value trimmed before it is checked may pass, and then nothing of it is kept.
        assert tail.strip() == "", f"{name} accepted {valid + tail!r}"
        assert result == accepted, f"{name} kept the tail of {valid + tail!r}"


@pytest.mark.parametrize(
    ("pointer", "document"),
    [
        ("/open/0/forward/to", {"open": [{"forward": {"to": "+15017122661\n"}}]}),
        ("/callers/blocked/0", {"callers": {"blocked": ["+15558670001\n"]}}),
        ("/language", {"language": "en-US\n"}),
        ("/voice", {"voice": "Polly.Joanna\n"}),
        ("/name", {"name": "Main line\n"}),
        (
            "/open/0/menu/options",
            {"open": [{"menu": {"prompt": {"say": "p"}, "options": {"1\n": {"steps": []}}}}]},
        ),
        ("/hours/mon/0", {"timeZone": "UTC", "hours": {"mon": ["09:00-17:00\n"]}}),
        ("/holidays/0/date", {"timeZone": "UTC", "holidays": [{"date": "12-25\n"}]}),
        ("/timeZone", {"timeZone": "UTC\n"}),
        (
            "/override/until",
            {"timeZone": "UTC", "override": {"state": "closed", "until": "2026-12-24T17:00:00Z\n"}},
        ),
        (
            "/open/0/voicemail/notify/email/0",
            {"open": [{"voicemail": {"notify": {"email": ["a@example.com\n"]}}}]},
        ),
        (
            "/open/0/menu/options/1/words/0",
            {
                "open": [
                    {
                        "menu": {
                            "prompt": {"say": "p"},
                            "options": {"1": {"words": ["sales\n"], "steps": []}},
                        }
                    }
                ]
            },
        ),
    ],
)
def test_a_line_document_refuses_a_trailing_newline(pointer: str, document: dict[str, Any]) -> None:
    from switchboard.lines import document as d

    with pytest.raises(d.LineError) as refused:
        d.validate(document, "+15017122662")
    assert pointer in [p.pointer for p in refused.value.problems]
