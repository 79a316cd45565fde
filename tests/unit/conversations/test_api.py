"""Conversation requests checked, or 400 naming the field (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.conversations import api, rules
from switchboard.conversations.rules import Change, Cursor
from switchboard.http import ApiError

LINE = "+15017122661"


def error_of(call: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


def test_a_listing_query() -> None:
    cursor = Cursor(rules.sort_suffix(None, "+15557770101"), LINE)
    query = api.list_query({"line": LINE, "state": "done", "before": cursor.encode(), "limit": "5"})
    assert query == api.ListQuery(LINE, "done", cursor, 5)
    assert api.list_query({}) == api.ListQuery()
    assert api.list_query({"line": " 15017122661"}).line == LINE  # a + sent unencoded


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"line": "15017122661"}, "line"),
        ({"state": "closed"}, "state"),
        ({"before": "yesterday"}, "before"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"line": ""}, "line"),
    ],
)
def test_a_listing_query_refused(params: dict[str, str], field: str) -> None:
    assert error_of(lambda: api.list_query(params)).field == field


def test_a_conversations_path() -> None:
    assert api.conversation_path({"line": LINE, "customer": "+15557770101"}) == (
        LINE,
        "+15557770101",
    )
    assert error_of(lambda: api.conversation_path({"line": LINE, "customer": "x"})).field == (
        "customer"
    )


def test_an_events_query() -> None:
    assert api.events_query({}) == (50, None)
    row = "253402300799999-SM1"
    assert api.events_query({"before": row, "limit": "3"}) == (3, row)
    assert error_of(lambda: api.events_query({"before": "SM1"})).field == "before"


def test_a_reply() -> None:
    assert api.reply_request({"body": "Hi", "key": "k-1"}) == api.ReplyRequest("Hi", (), "k-1")
    media = api.reply_request({"mediaUrl": ["https://example.com/a.jpg"]})
    assert media == api.ReplyRequest("", ("https://example.com/a.jpg",))


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({}, "body", "missing_field"),
        ({"body": "  "}, "body", "invalid_field"),
        ({"body": "x" * 1601}, "body", "invalid_field"),
        ({"body": "Hi", "to": LINE}, "to", "unknown_field"),
        ({"body": "Hi", "key": "a b"}, "key", "invalid_field"),
        ({"body": "Hi", "key": 7}, "key", "invalid_field"),
        ({"mediaUrl": ["http://example.com/a.jpg"]}, "mediaUrl", "invalid_field"),
        ({"mediaUrl": "https://example.com"}, "mediaUrl", "invalid_field"),
    ],
)
def test_a_reply_refused(body: dict[str, Any], field: str, code: str) -> None:
    error = error_of(lambda: api.reply_request(body))
    assert (error.field, error.code) == (field, code)


def test_a_change() -> None:
    assert api.change_request({"state": "done"}) == Change(state="done")
    assert api.change_request({"assignedTo": " Ana ", "read": True}) == Change(
        assigned_to="Ana", read=True
    )
    assert api.change_request({"assignedTo": None}) == Change(assigned_to="")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "state"),
        ({"state": "archived"}, "state"),
        ({"assignedTo": ""}, "assignedTo"),
        ({"assignedTo": "A\nB"}, "assignedTo"),
        ({"assignedTo": "x" * 101}, "assignedTo"),
        ({"assignedTo": 3}, "assignedTo"),
        ({"read": "yes"}, "read"),
        ({"unread": 0}, "unread"),
    ],
)
def test_a_change_refused(body: dict[str, Any], field: str) -> None:
    assert error_of(lambda: api.change_request(body)).field == field
