"""Identity-based storage (`AzureWebJobsStorage__*`, no connection string) against a real Azurite.

Azurite runs over HTTPS with a self-signed certificate made here and `--oauth basic`: it accepts
a bearer token whose issuer, audience and lifetime are right and refuses the rest (it does not
check the signature). The app's own table and queue code (sync tables, async tables, queue send,
the health probes) runs with the endpoints in the settings and a static `TokenCredential` in
place of the managed identity: the only substitution is where the token comes from.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from switchboard.logbook.store import RecordStore
from switchboard.schedules import rules as schedules
from switchboard.schedules import store as schedule_store
from switchboard.settings import Settings, load_settings
from switchboard.storage import connection as storage_connection
from switchboard.storage import queues, tables
from tests.storage_identity import (
    STORAGE_SCOPE,
    SecureAzurite,
    StaticCredential,
    bearer_token,
)


@pytest.fixture
def credential(
    secure_azurite: SecureAzurite, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StaticCredential]:
    """The app's storage code trusts the test certificate and gets its token from here."""
    static = StaticCredential(bearer_token())
    monkeypatch.setattr(storage_connection, "credential_factory", lambda *_: static)
    # requests (the sync clients) honours REQUESTS_CA_BUNDLE; the async clients take the CA file
    # as the SDK's `connection_verify` option (aiohttp fixes its default context at import).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(secure_azurite.ca_file))
    monkeypatch.setitem(tables.CLIENT_OPTIONS, "connection_verify", str(secure_azurite.ca_file))
    storage_connection.forget_credentials()
    tables.forget_created_tables()
    queues.forget_clients()
    schedule_store.forget_created_tables()
    yield static
    storage_connection.forget_credentials()
    tables.forget_created_tables()
    queues.forget_clients()
    schedule_store.forget_created_tables()


@pytest.fixture
def settings(secure_azurite: SecureAzurite, unique_name: str) -> Settings:
    return load_settings(
        secure_azurite.identity_settings(
            TABLE_CALL_LOG="calls" + unique_name,
            TABLE_MESSAGE_LOG="msgs" + unique_name,
            TABLE_SMS_SCHEDULE="sched" + unique_name,
            TABLE_OPT_OUT="opt" + unique_name,
            OUTBOUND_CALL_QUEUE="q" + unique_name,
        )
    )


def test_sync_tables_use_the_token(
    settings: Settings, credential: StaticCredential, unique_name: str
) -> None:
    assert settings.storage_uses_identity
    store = RecordStore(tables.get_table(settings.table_call_log, settings))
    store.create("CA" + unique_name, {"Status": "ringing", "From": "+15558675310"})
    found = store.get("CA" + unique_name)
    assert found is not None
    assert found["Status"] == "ringing"
    assert credential.scopes
    assert set(credential.scopes) == {(STORAGE_SCOPE,)}
    assert tables.storage_reachable(settings) == (True, "ok")


def test_async_tables_use_the_token(settings: Settings, credential: StaticCredential) -> None:
    send_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    schedule = schedules.NewSchedule("reminder-7", "+15558675310", "See you at 9", send_at)

    async def main() -> tuple[schedule_store.CreateResult, Any, Any]:
        async with schedule_store.open_tables(settings) as opened:
            store = schedule_store.ScheduleStore(opened.schedules)
            created, _ = await store.create(schedule, dt.datetime.now(dt.UTC))
            again, _ = await store.create(schedule, dt.datetime.now(dt.UTC))
            row = await store.get("reminder-7", "schedule")
            return created, again, row

    created, again, row = asyncio.run(main())
    assert (created, again) == (
        schedule_store.CreateResult.CREATED,
        schedule_store.CreateResult.SAME,
    )
    assert row is not None
    assert credential.scopes


def test_queue_send_uses_the_token(
    settings: Settings, credential: StaticCredential, secure_azurite: SecureAzurite
) -> None:
    message_id = queues.enqueue_json(
        settings.outbound_call_queue, {"id": "c-1", "to": "+1555"}, settings
    )
    assert message_id
    reader = QueueClient(
        secure_azurite.azurite.service_url("queue"),
        settings.outbound_call_queue,
        credential=credential,
        message_decode_policy=TextBase64DecodePolicy(),
        connection_verify=str(secure_azurite.ca_file),
    )
    received = [m.content for m in reader.receive_messages(max_messages=5)]
    assert [json.loads(text) for text in received] == [{"id": "c-1", "to": "+1555"}]
    assert queues.queue_depths([settings.outbound_call_queue, "never-created"], settings) == {
        settings.outbound_call_queue: 1,
        "never-created": 0,
    }


def test_a_token_azurite_refuses_fails_the_probe(
    settings: Settings, credential: StaticCredential
) -> None:
    """The check can fail: a token for another audience is refused, and health says so."""
    credential.token = bearer_token(aud="https://vault.azure.net")
    ok, detail = tables.storage_reachable(settings)
    assert ok is False
    assert detail == "ClientAuthenticationError"
    credential.token = bearer_token(lifetime=-120)  # expired
    assert tables.storage_reachable(settings)[0] is False
    assert queues.queue_depths([settings.outbound_call_queue], settings) == {
        settings.outbound_call_queue: None
    }


def test_connection_string_wins_and_plain_azurite_still_works(
    storage_connection_string: str, secure_azurite: SecureAzurite
) -> None:
    settings = load_settings(
        {"AzureWebJobsStorage": storage_connection_string, **secure_azurite.identity_settings()}
    )
    assert not settings.storage_uses_identity
    assert tables.storage_reachable(settings) == (True, "ok")
