"""Identity-based storage (`AzureWebJobsStorage__*`, no connection string) against a real Azurite.

Azurite runs over HTTPS with a self-signed certificate made here and `--oauth basic`: it accepts
a bearer token whose issuer, audience and lifetime are right and refuses the rest (it does not
check the signature). The app's own table and queue code (sync tables, async tables, queue send,
the health probes) runs with the endpoints in the settings and a static `TokenCredential` in
place of the managed identity: the only substitution is where the token comes from.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.storage.queue import QueueClient, TextBase64DecodePolicy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devkit.azurite import Azurite
from switchboard import schedules
from switchboard.adapters import queues, schedule_store, storage_connection, tables
from switchboard.adapters.record_store import RecordStore
from switchboard.settings import Settings, load_settings

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
STORAGE_SCOPE = "https://storage.azure.com/.default"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A PEM certificate and key for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "azurite-cert.pem", directory / "azurite-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def bearer_token(lifetime: int = 3600, **claims: Any) -> str:
    """An unsigned JWT with the claims Azurite checks (issuer, audience, iat/nbf/exp)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    body = {
        "aud": "https://storage.azure.com",
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime,
        "oid": "00000000-0000-0000-0000-000000000001",
        "tid": TENANT,
        **claims,
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(body)}.c2lnbmF0dXJl"


@dataclass
class StaticCredential:
    """A `TokenCredential` handing out one token; records the scopes it was asked for."""

    token: str
    scopes: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass
class SecureAzurite:
    azurite: Azurite
    ca_file: Path

    def identity_settings(self, **extra: str) -> dict[str, str]:
        return {
            "AzureWebJobsStorage__tableServiceUri": self.azurite.service_url("table"),
            "AzureWebJobsStorage__queueServiceUri": self.azurite.service_url("queue"),
            **extra,
        }


@pytest.fixture(scope="module")
def secure_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureAzurite]:
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("azurite-tls"))
    with Azurite(ports=0, https=(cert, key), oauth=True) as azurite:
        yield SecureAzurite(azurite, cert)


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
