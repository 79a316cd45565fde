"""RecordStore against Azurite: create once, SID aliases, ETag-guarded updates, newest-first lists."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.logbook.store import RecordStore
from switchboard.settings import Settings, load_settings
from switchboard.storage import tables


@pytest.fixture
def store(storage_connection_string: str, unique_name: str) -> RecordStore:
    settings: Settings = load_settings({"AzureWebJobsStorage": storage_connection_string})
    return RecordStore(tables.get_table(unique_name, settings))


def test_create_is_insert_if_absent_with_alias(store: RecordStore) -> None:
    assert store.create(
        "reminder-1", {"Status": "queued", "To": "+15558675310"}, sid="CA" + "1" * 32
    )
    assert not store.create("reminder-1", {"Status": "other"})
    record = store.get("reminder-1")
    assert record is not None
    assert record["Status"] == "queued"
    assert record["Sid"] == "CA" + "1" * 32
    assert store.resolve("CA" + "1" * 32) == "reminder-1"
    assert store.resolve("reminder-1") == "reminder-1"
    assert store.resolve("CAunknown") is None
    found = store.find("CA" + "1" * 32)  # by the SID: the record it points at
    assert found is not None
    assert found["Id"] == "reminder-1"
    assert store.find("reminder-1") == record
    assert store.find("CAunknown") is None
    assert store.get("bad/key") is None


def test_update_creates_when_absent_and_merges(store: RecordStore) -> None:
    def set_status(status: str) -> Any:
        def change(current: dict[str, Any] | None) -> dict[str, Any] | None:
            if current is not None and current.get("Status") == status:
                return None
            return {"Status": status}

        return change

    created = store.update("CAnew", set_status("ringing"))
    assert created is not None
    assert created["Status"] == "ringing"
    updated = store.update("CAnew", set_status("completed"))
    assert updated is not None
    assert updated["Status"] == "completed"
    unchanged = store.update("CAnew", set_status("completed"))
    assert unchanged is not None
    assert unchanged["Status"] == "completed"


def test_concurrent_updates_lose_nothing(store: RecordStore) -> None:
    store.create("counter", {"Seen": ""})
    workers = 8

    def add(mark: str) -> None:
        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            seen = (current or {}).get("Seen", "")
            return {"Seen": seen + mark}

        store.update("counter", change)

    threads = [threading.Thread(target=add, args=(chr(65 + i),)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    record = store.get("counter")
    assert record is not None
    assert sorted(record["Seen"]) == [chr(65 + i) for i in range(workers)]


def test_list_recent_newest_first_within_window(store: RecordStore) -> None:
    now = datetime.now(UTC)
    for i in range(6):
        store.create(f"m{i}", {"Status": "sent"}, created=now - timedelta(hours=10 * i))
    listed = store.list_recent(
        now - timedelta(hours=35), limit=10, until=now + timedelta(seconds=1)
    )
    assert [r["Id"] for r in listed] == ["m0", "m1", "m2", "m3"]
    assert [r["Id"] for r in store.list_recent(now - timedelta(days=3), limit=2)] == ["m0", "m1"]


def test_mark_step_is_once(store: RecordStore) -> None:
    assert store.mark_step("CA1", "incoming") is True
    assert store.mark_step("CA1", "incoming") is False
    assert store.mark_step("CA1", "menu-1") is True
