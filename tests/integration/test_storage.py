"""Storage adapters against a real Azurite: tables and queues created once, ETags, base64 queues."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time

import pytest
from azure.storage.queue import QueueClient

from devkit.azurite import connection_string
from devkit.storage_counter import counting_table_requests
from switchboard.schedules import store as schedule_store
from switchboard.settings import Settings, load_settings
from switchboard.storage import queues, tables


@pytest.fixture
def settings(storage_connection_string: str) -> Settings:
    return load_settings({"AzureWebJobsStorage": storage_connection_string})


def test_table_is_created_on_first_use_once_per_process(
    settings: Settings, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    service = tables._service(settings)
    original = service.create_table

    def counting_create(name: str) -> object:
        calls.append(name)
        return original(name)

    monkeypatch.setattr(service, "create_table", counting_create)
    first = tables.get_table(unique_name, settings)
    first.create_entity({"PartitionKey": "p", "RowKey": "r", "Value": 1})
    second = tables.get_table(unique_name, settings)
    assert calls == [unique_name]
    assert second.get_entity("p", "r")["Value"] == 1
    names = [t.name for t in service.list_tables()]
    assert unique_name in names


def test_a_table_is_created_once_under_concurrent_first_use(
    settings: Settings, unique_name: str
) -> None:
    # A queue batch starts many invocations at once, each opening CallLog first: one
    # create-table request in all, however many threads meet the table at the same moment.
    threads = 16
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def first_use() -> None:
        try:
            start.wait(10)
            tables.get_table(unique_name, settings).upsert_entity(
                {"PartitionKey": "p", "RowKey": threading.current_thread().name}
            )
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    with counting_table_requests() as counter:
        workers = [threading.Thread(target=first_use, name=f"w{i}") for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        counts = counter.snapshot()
    assert errors == []
    assert counts["POST Tables"] == 1, counts
    assert counts["PATCH entity"] == threads, counts


def test_an_async_table_is_created_once_under_concurrent_first_use(
    settings: Settings, unique_name: str
) -> None:
    # Concurrent schedule requests (or timer runs) open SmsSchedule, MessageLog and OptOut at
    # once: each table is created by one of them, the others wait for it.
    named = load_settings(
        {
            "AzureWebJobsStorage": settings.azure_web_jobs_storage,
            "TABLE_SMS_SCHEDULE": unique_name + "s",
            "TABLE_MESSAGE_LOG": unique_name + "m",
            "TABLE_OPT_OUT": unique_name + "o",
        }
    )

    async def first_use() -> None:
        async with schedule_store.open_tables(named) as opened:
            await opened.schedules.upsert_entity({"PartitionKey": "p", "RowKey": "r"})

    async def many() -> None:
        await asyncio.gather(*(first_use() for _ in range(12)))

    with counting_table_requests() as counter:
        asyncio.run(many())
        asyncio.run(first_use())  # another event loop, later: created already
        counts = counter.snapshot()
    assert counts["POST Tables"] == 3, counts
    assert counts["PATCH entity"] == 13, counts


def test_existing_table_is_not_an_error(settings: Settings, unique_name: str) -> None:
    tables._service(settings).create_table(unique_name)
    table = tables.get_table(unique_name, settings)
    assert tables.insert_if_absent(table, {"PartitionKey": "a", "RowKey": "b"})


def test_insert_if_absent_and_etag_updates(settings: Settings, unique_name: str) -> None:
    table = tables.get_table(unique_name, settings)
    entity = {"PartitionKey": "p", "RowKey": "r", "Status": "queued"}
    assert tables.insert_if_absent(table, entity) is True
    assert tables.insert_if_absent(table, {**entity, "Status": "other"}) is False
    stored = tables.get_or_none(table, "p", "r")
    assert stored is not None
    assert stored["Status"] == "queued"
    etag = tables.etag_of(stored)
    assert tables.update_if_unchanged(table, {**entity, "Status": "sent"}, etag) is True
    # The first writer changed the ETag: a second writer holding the old one loses, cleanly.
    assert tables.update_if_unchanged(table, {**entity, "Status": "stale"}, etag) is False
    final = tables.get_or_none(table, "p", "r")
    assert final is not None
    assert final["Status"] == "sent"
    assert tables.get_or_none(table, "p", "missing") is None


def test_query_binds_parameters(settings: Settings, unique_name: str) -> None:
    table = tables.get_table(unique_name, settings)
    for i in range(5):
        table.create_entity(
            {"PartitionKey": "p", "RowKey": f"{i:03d}", "Who": "O'Brien" if i % 2 else "x"}
        )
    found = list(tables.query(table, "Who eq @who", {"who": "O'Brien"}))
    assert sorted(e["RowKey"] for e in found) == ["001", "003"]


def test_queue_created_on_first_use_and_messages_are_base64(
    settings: Settings, unique_name: str
) -> None:
    payload = {"id": "reminder-42", "to": "+15558675310", "say": "héllo <&>"}
    message_id = queues.enqueue_json(unique_name, payload, settings)
    assert message_id
    raw = QueueClient.from_connection_string(settings.azure_web_jobs_storage, unique_name)
    received = raw.receive_message()
    assert received is not None
    # What the Functions host reads: base64 text that decodes to the JSON document.
    assert json.loads(base64.b64decode(received.content).decode("utf-8")) == payload
    assert queues.get_queue(unique_name, settings) is queues.get_queue(unique_name, settings)


def test_storage_reachable(settings: Settings) -> None:
    assert tables.storage_reachable(settings) == (True, "ok")


def test_storage_unreachable_fails_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = load_settings({"AzureWebJobsStorage": connection_string(port, port, port)})
    started = time.monotonic()
    ok, detail = tables.storage_reachable(dead)
    assert ok is False
    assert detail
    assert time.monotonic() - started < 10


def test_development_storage_shortcut_resolves_to_default_ports() -> None:
    settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    service = tables._service(settings)
    assert service.url.startswith("http://127.0.0.1:10002/devstoreaccount1")
    queue = QueueClient.from_connection_string(settings.azure_web_jobs_storage, "q-name")
    assert queue.url.startswith("http://127.0.0.1:10001/devstoreaccount1")
