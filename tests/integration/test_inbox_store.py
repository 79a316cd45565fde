"""Inbox users, codes and sessions against Azurite: addresses unique and re-indexed on change,
a code good once, the hourly allowance across requests, sessions opened, found and ended."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.http import ApiError
from switchboard.inbox import delivery, service, sessions
from switchboard.inbox.store import InboxUserStore
from switchboard.settings import Settings, load_settings

NOW = datetime.now(UTC).replace(microsecond=0)  # sessions are checked against the real clock


@pytest.fixture
def settings(storage_connection_string: str, unique_name: str) -> Settings:
    return load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            "TABLE_INBOX_USERS": unique_name,
            "INBOX_SESSION_KEY": "integration-inbox-session-key-0123456789",
        }
    )


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str]]]:
    codes: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        delivery,
        "send_code",
        lambda settings, kind, address, code: codes.append((kind, address, code)),
    )
    return codes


def test_addresses_are_unique_and_follow_a_change(settings: Settings) -> None:
    ana = service.create_user(settings, {"name": "Ana", "phone": "+15550001111", "role": "owner"})
    with pytest.raises(ApiError) as taken:
        service.create_user(
            settings, {"name": "Impostor", "phone": "+15550001111", "role": "staff"}
        )
    assert (taken.value.status, taken.value.field) == (409, "phone")
    service.update_user(settings, ana["id"], {"phone": "+15550002222", "email": "Ana@Example.com"})
    users = InboxUserStore.from_settings(settings)
    assert users.user_for("phone", "+15550001111") is None
    assert users.user_for("phone", "+15550002222") == ana["id"]
    assert users.user_for("email", "ana@example.com") == ana["id"]
    ben = service.create_user(settings, {"name": "Ben", "phone": "+15550001111", "role": "staff"})
    assert [u["name"] for u in service.list_users(settings)["items"]] == ["Ana", "Ben"]
    service.delete_user(settings, ben["id"])
    assert users.user_for("phone", "+15550001111") is None


def test_a_code_opens_one_session_and_codes_are_limited(
    settings: Settings, sent: list[tuple[str, str, str]]
) -> None:
    user = service.create_user(
        settings, {"name": "Ana", "email": "ana@example.com", "role": "owner"}
    )
    service.request_code(settings, "nobody@example.com", NOW)
    assert sent == []
    service.request_code(settings, "ANA@example.com ", NOW)
    assert [(k, a) for k, a, _ in sent] == [("email", "ana@example.com")]
    code = sent[-1][2]
    with pytest.raises(ApiError) as wrong:
        service.verify_code(
            settings, "ana@example.com", "000000" if code != "000000" else "111111", NOW
        )
    assert wrong.value.status == 401
    opened = service.verify_code(settings, "ana@example.com", code, NOW + timedelta(minutes=1))
    assert opened.user.id == user["id"]
    with pytest.raises(ApiError):
        service.verify_code(settings, "ana@example.com", code, NOW + timedelta(minutes=1))
    stored = InboxUserStore.from_settings(settings).get(user["id"])
    assert stored is not None
    assert sessions.find(stored.user.sessions, opened.session_id, datetime.now(UTC)) is not None
    for minute in range(10):
        service.request_code(settings, "ana@example.com", NOW + timedelta(minutes=2 + minute))
    assert len(sent) == 5
    service.request_code(settings, "ana@example.com", NOW + timedelta(minutes=61))
    assert len(sent) == 6
    assert service.end_sessions(settings, user["id"])["ended"] == 1
    stored = InboxUserStore.from_settings(settings).get(user["id"])
    assert stored is not None
    assert stored.user.sessions == ()
