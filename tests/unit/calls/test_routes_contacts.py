"""Calls listed with their contact's name: the other party of each call, looked up once."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.calls import routes
from switchboard.contacts.rules import ContactRef
from switchboard.settings import load_settings


def test_each_call_names_its_other_partys_contact(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def contacts_for(settings: Any, numbers: Any) -> dict[str, ContactRef | None]:
        wanted = list(numbers)
        asked.append(wanted)
        return {"+12015550123": ContactRef("c1", name="Dana"), "+12015550100": None}

    monkeypatch.setattr(routes.contacts, "contacts_for", contacts_for)
    calls = [
        {"direction": "inbound", "from": "+12015550123", "to": "+15017122661"},
        {"direction": "outbound-api", "from": "+15017122661", "to": "+12015550123"},
        {"direction": "inbound", "from": "+12015550100", "to": "+15017122661"},
        {"direction": "inbound", "from": "anonymous", "to": "+15017122661"},
    ]
    named = routes.with_contact_names(load_settings({}), calls)
    assert [call["contactName"] for call in named] == ["Dana", "Dana", None, None]
    assert asked == [["+12015550123", "+12015550123", "+12015550100", "anonymous"]]
