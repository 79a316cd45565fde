"""What a conversation's JSON shows (pure): an event's fields by name, and a customer's name from
the contacts, best effort."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.contacts import lookup
from switchboard.contacts.rules import ContactRef
from switchboard.conversations import service
from switchboard.settings import load_settings

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_an_event_shows_what_its_row_says_under_its_json_names() -> None:
    call = service.event_json(
        {
            "Id": "CA1",
            "At": AT,
            "Kind": "call",
            "Direction": "inbound",
            "Event": "answered",
            "TakenBy": "Ana",
            "QueueTime": 42,
            "Callback": "answered",
            "Status": "completed",
        },
        "completed",
    )
    assert call == {
        "id": "CA1",
        "at": "2026-12-01T15:00:00.000Z",
        "kind": "call",
        "media": 0,
        "direction": "inbound",
        "event": "answered",
        "takenBy": "Ana",
        "queueTime": 42,
        "callback": "answered",
        "status": "completed",
    }
    text = service.event_json(
        {"Id": "SM1", "Body": "c", "Reminder": "appt-42", "Response": "confirmed", "Author": ""},
        "received",
    )
    assert (text["kind"], text["reminder"], text["response"]) == ("text", "appt-42", "confirmed")
    assert "author" not in text  # empty fields are left out
    blocked = service.event_json({"Id": "SM2", "BlockedContact": "c00000000000a"}, None)
    assert blocked["blockedContact"] == "c00000000000a"


def test_names_come_from_the_contacts_name_else_company(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({"LINES_CACHE_SECONDS": "60"})
    lookup.forget_cached_contacts()
    lookup.remember(
        settings,
        {
            "+15557770101": ContactRef("c1", name="Dana Reyes"),
            "+15557770102": ContactRef("c2", company="Reyes Plumbing"),
            "+15557770103": ContactRef("c3"),
            "+15557770104": None,
        },
    )
    try:
        numbers = ["+15557770101", "+15557770102", "+15557770103", "+15557770104"]
        assert service.contact_names(settings, numbers) == {
            "+15557770101": "Dana Reyes",
            "+15557770102": "Reyes Plumbing",
        }
        assert service.name_lookup(settings, "+15557770102") == "Reyes Plumbing"
        assert service.name_lookup(settings, "+15557770104") is None
    finally:
        lookup.forget_cached_contacts()


def test_contacts_that_cannot_be_read_leave_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(settings: Any, numbers: Any) -> Any:
        raise RuntimeError("no contacts table client")

    monkeypatch.setattr(lookup, "contacts_for", broken)
    settings = load_settings({})
    assert service.contact_names(settings, ["+15557770101"]) == {}
    assert service.name_lookup(settings, "+15557770101") is None
