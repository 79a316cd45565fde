"""Whole-string matching and control characters (pure, standard library only).

Python's `$` matches at the end of the text *and just before a final newline*, so
`re.match(r"^\\+[0-9]{8,15}$", "+15017122661\\n")` succeeds and the newline travels on into
TwiML, a table key or a comparison that then fails (a blocked caller who is not blocked). Every
validation in this project matches the whole string: `re.fullmatch`, or `\\Z` where a pattern
must be used with `match` (a unit test scans the tree for a `$` in a regular expression).

JSON Schema `pattern`s are ECMA-262 regular expressions, where `$` (without the multiline flag)
is the end of the input and nothing else; the `jsonschema` library runs them with Python's
`re.search`, where it is not. `ecma_search` runs a schema pattern with its ECMA meaning, so a
schema keeps its ordinary, portable `^...$` form and still refuses a trailing newline here.

`CONTROL_CHARACTERS` are the characters no one-line value may hold (C0, DEL, C1, and the
Unicode line and paragraph separators); `has_control` and `without_controls` test and remove
them (a log line, a header, a spoken label).

`EMAIL_ADDRESS` is an address as people write one (`name@example.com`), matched whole: the one
check of an inbox user's and a contact's address (`is_email_address`).

The patterns are kept as source and compiled on first use (`re`'s own cache keeps them): a
character class over the C1 range costs ~0.3 ms to compile, and a cold start that logs nothing
and checks no address would pay for all three.
"""

from __future__ import annotations

import functools
import re

#: C0 controls, DEL, C1 controls and the Unicode line/paragraph separators (a pattern's source).
CONTROL_CHARACTERS = "[\x00-\x1f\x7f-\x9f\u2028\u2029]"
#: The same, except the three a multi-line text may hold (tab, line feed, carriage return).
CONTROLS_OUTSIDE_TEXT = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]"
#: An e-mail address as people write one: something@domain.tld, no spaces or angle brackets,
#: no control character and no lone surrogate (neither can be mailed, hashed or stored as UTF-8)
#: (a pattern's source, matched whole by `is_email_address`).
EMAIL_ADDRESS = r"[^@\s<>\"(),;:\\\[\]\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
MAX_EMAIL_ADDRESS = 254


def has_control(text: str, *, multiline: bool = False) -> bool:
    """Whether `text` holds a control character (tab and line breaks allowed when `multiline`)."""
    if text.isprintable():  # nearly always; every control character is unprintable
        return False
    return re.search(CONTROLS_OUTSIDE_TEXT if multiline else CONTROL_CHARACTERS, text) is not None


def without_controls(text: str, replacement: str = " ") -> str:
    """`text` with every run of control characters replaced (one line, nothing hidden in it)."""
    if text.isprintable():
        return text
    return re.sub(CONTROL_CHARACTERS, replacement, text)


def is_email_address(text: str) -> bool:
    """Whether the whole of `text` is an e-mail address as people write one (`EMAIL_ADDRESS`)."""
    return re.fullmatch(EMAIL_ADDRESS, text) is not None


def ecma_to_python(pattern: str) -> str:
    """An ECMA-262 pattern rewritten for Python's `re` with the same meaning of `$`: every `$`
    that is an anchor (not escaped, not inside a character class) becomes `\\Z`."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append(r"\Z")
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_to_python(pattern))


def ecma_search(pattern: str, text: str) -> bool:
    """Whether the JSON Schema `pattern` matches somewhere in `text`, `$` meaning the end."""
    return _compiled(pattern).search(text) is not None
