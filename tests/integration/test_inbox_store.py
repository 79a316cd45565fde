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


def test_a_wrong_code_is_the_same_reads_for_a_user_and_an_outsider(settings: Settings) -> None:
    """Refusing a code for an address that is no user's reads as many rows as refusing one for a
    user's address with no live code (before: one read against three, a gap an outsider could
    time to learn who the users are)."""
    from devkit.storage_counter import SETUP_KINDS, counting_table_requests

    service.create_user(settings, {"name": "Ana", "email": "ana@example.com", "role": "owner"})
    reads: dict[str, dict[str, int]] = {}
    for address in ("ana@example.com", "outsider@example.com"):
        with counting_table_requests() as counter:
            with pytest.raises(ApiError) as refused:
                service.verify_code(settings, address, "123456", NOW)
            reads[address] = {
                kind: n for kind, n in counter.snapshot().items() if kind not in SETUP_KINDS
            }
        assert refused.value.status == 401
        assert refused.value.code == "code_rejected"
    assert reads["ana@example.com"] == reads["outsider@example.com"] == {"GET entity": 3}


def test_asking_for_a_code_is_the_same_work_for_a_user_and_an_outsider(
    settings: Settings,
    sent: list[tuple[str, str, str]],
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answer to the sign-in form costs one queue write whoever asks, and no table read:
    nothing it does depends on whether the address is a user's, so nothing in how long it takes
    can tell. The queue's function then sends the user's code, and nothing to the outsider."""
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    from devkit.storage_counter import counting_table_requests
    from switchboard.storage import queues

    service.create_user(settings, {"name": "Ana", "email": "ana@example.com", "role": "owner"})
    monkeypatch.setattr(service, "CODE_QUEUE", unique_name)
    written: list[tuple[str, dict[str, str]]] = []
    enqueue = queues.enqueue_json

    def recorded(name: str, payload: dict[str, str], *args: object, **kwargs: object) -> str:
        written.append((name, payload))
        return enqueue(name, payload, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(queues, "enqueue_json", recorded)
    work: dict[str, tuple[int, list[str]]] = {}
    for address in ("ana@example.com", "outsider@example.com", "ana@example.com"):
        before = len(written)
        with counting_table_requests() as counter:
            service.ask_for_code(settings, address)
        work[address] = (counter.total(setup=True), [n for n, _ in written[before:]])
    assert work == {
        "ana@example.com": (0, [unique_name]),
        "outsider@example.com": (0, [unique_name]),
    }
    assert [sorted(p) for _, p in written] == [["address", "at", "kind"]] * 3
    assert sent == []  # nothing is sent while answering

    queue = QueueClient.from_connection_string(
        settings.azure_web_jobs_storage or "",
        unique_name,
        message_decode_policy=TextBase64DecodePolicy(),
    )
    with queue:
        bodies = [str(m.content) for m in queue.receive_messages(max_messages=10)]
    outcomes = sorted(service.handle_code_request(b, settings) for b in bodies)
    assert outcomes == ["nobody", "sent", "sent"]
    assert [(kind, address) for kind, address, _ in sent] == [("email", "ana@example.com")] * 2
    later = datetime.now(UTC) + service.CODE_REQUEST_MAX_AGE + timedelta(seconds=1)
    assert service.handle_code_request(bodies[0], settings, later) == "stale"
    assert service.handle_code_request("not json", settings) == "malformed"
    assert service.handle_code_request('{"address": "x", "at": "2026"}', settings) == "malformed"
