"""The lines routes' pure rules: `If-Match` parsed, and the precondition a write must meet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchboard.http import ApiError
from switchboard.lines import api
from switchboard.lines.api import Precondition
from switchboard.lines.store import StoredLine

NUMBER = "+15017122661"
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def stored(version: int, *, deleted: bool = False) -> StoredLine:
    document = None if deleted else {"name": "Main line"}
    return StoredLine(NUMBER, version, document, WHEN, "delete" if deleted else "put")


def refused(precondition: Precondition | None, current: StoredLine | None) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        api.check_precondition(precondition, current)
    return caught.value.status, caught.value.code


def test_the_current_version_is_accepted() -> None:
    api.check_precondition(Precondition(version=3), stored(3))


@pytest.mark.parametrize("asked", [1, 2, 4])
def test_a_stale_or_unknown_version_is_412(asked: int) -> None:
    """A writer that read version 2 while version 3 is current must not overwrite it."""
    assert refused(Precondition(version=asked), stored(3)) == (412, "precondition_failed")


def test_a_version_of_a_deleted_or_absent_line_is_412() -> None:
    assert refused(Precondition(version=3), stored(3, deleted=True)) == (
        412,
        "precondition_failed",
    )
    assert refused(Precondition(version=3), None) == (412, "precondition_failed")


def test_if_match_star_needs_a_live_line() -> None:
    api.check_precondition(Precondition(any_version=True), stored(3))
    assert refused(Precondition(any_version=True), None) == (412, "precondition_failed")
    assert refused(Precondition(any_version=True), stored(4, deleted=True)) == (
        412,
        "precondition_failed",
    )


def test_no_if_match_creates_but_never_overwrites_blind() -> None:
    api.check_precondition(None, None)
    api.check_precondition(None, stored(2, deleted=True))  # recreating a deleted line
    assert refused(None, stored(2)) == (428, "precondition_required")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("*", Precondition(any_version=True)),
        ('"3"', Precondition(version=3)),
        ('W/"12"', Precondition(version=12)),
        (' "7" ', Precondition(version=7)),
    ],
)
def test_if_match_parsed(header: str | None, expected: Precondition | None) -> None:
    assert api.parse_if_match(header) == expected


@pytest.mark.parametrize("header", ["3", '"abc"', '"3", "4"', "**", '"12345678901"'])
def test_if_match_that_is_not_our_etag_is_400(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        api.parse_if_match(header)
    assert (caught.value.status, caught.value.field) == (400, "If-Match")


def test_etag_is_the_quoted_version() -> None:
    assert api.etag(3) == '"3"'
    assert api.parse_if_match(api.etag(41)) == Precondition(version=41)
