"""Inbox users (pure): the fields, the errors that name them, what staff may see."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.http import ApiError
from switchboard.inbox.users import USER_ID, address_kind, parse_user, user_json, visible_lines
from switchboard.jsonroutes.auth import Role


def test_a_staff_user_with_lines() -> None:
    user = parse_user(
        {"name": " Ben ", "email": "Ben@Example.COM", "role": "staff", "lines": ["+15017122661"]}
    )
    assert USER_ID.fullmatch(user.id)
    assert (user.name, user.email, user.phone, user.role) == (
        "Ben",
        "ben@example.com",
        None,
        Role.STAFF,
    )
    assert visible_lines(user, ["+15017122661", "+15017122662"]) == ["+15017122661"]
    assert user_json(user)["lines"] == ["+15017122661"]


def test_an_owner_sees_every_line_and_keeps_none() -> None:
    owner = parse_user(
        {"name": "Ana", "phone": "+15550001111", "role": "owner", "lines": ["+15017122661"]}
    )
    assert owner.lines == ()
    assert visible_lines(owner, ["+1", "+2"]) == ["+1", "+2"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "phone": "+15550001111", "role": "owner"}, "name"),
        (
            {
                "name": b"A\\u0000".decode("unicode_escape"),
                "phone": "+15550001111",
                "role": "owner",
            },
            "name",
        ),
        ({"name": "A", "phone": "555-1234", "role": "owner"}, "phone"),
        ({"name": "A", "email": "not-an-address", "role": "owner"}, "email"),
        ({"name": "A", "email": "a@b.exa\nmple", "role": "owner"}, "email"),
        ({"name": "A", "phone": "+15550001111", "role": "admin"}, "role"),
        ({"name": "A", "role": "owner"}, "phone"),
        ({"name": "A", "phone": "+15550001111", "role": "staff", "lines": ["+1555x"]}, "lines/0"),
        ({"name": "A", "phone": "+15550001111", "role": "staff", "extra": 1}, "extra"),
    ],
)
def test_each_bad_field_is_named(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_user(data)
    assert caught.value.status == 400
    assert caught.value.field == field


def test_a_change_keeps_what_it_does_not_name() -> None:
    user = parse_user({"name": "Ben", "phone": "+15550001111", "role": "staff"})
    changed = parse_user({"lines": ["+15017122661"], "email": "ben@example.com"}, current=user)
    assert (changed.id, changed.name, changed.phone) == (user.id, "Ben", "+15550001111")
    assert changed.lines == ("+15017122661",)
    with pytest.raises(ApiError):
        parse_user({"phone": None}, current=user)  # no address left


def test_address_kinds() -> None:
    assert address_kind("+15550001111") == "phone"
    assert address_kind("ana@example.com") == "email"
    for bad in ("ana@example", "ana example.com", "<ana@example.com>", "", "15550001111"):
        assert address_kind(bad) is None
    # Nothing that cannot be mailed, hashed or stored as UTF-8 (a sign-in form's 500 before).
    for bad in ("\ud800@b.co", "a\udfff\ud800@b.co", "a\x00@b.co", "a\x85b@b.co", "a\u2028@b.co"):
        assert address_kind(bad) is None, repr(bad)
    assert address_kind("zoë.o'neil+inbox@example.com") == "email"  # non-ASCII letters stay
