"""The whole app with identity-based storage, served by the local host, on Azurite over HTTPS.

Configured as on Flex Consumption with a managed identity: no `AzureWebJobsStorage`, only
`AzureWebJobsStorage__tableServiceUri` / `__queueServiceUri`. An outbound call goes the whole way:
`POST /api/calls` (the app enqueues with a token), the host's queue trigger polls with a token,
the call function writes CallLog with a token and places the call at the Twilio stand-in, and
`GET /api/calls/{id}` and `GET /api/health` read it back. The host runs in this process so that
the app and the host get their tokens from the test (Azurite checks claims, not signatures).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devkit import host_queues
from devkit.host import Host, HostOptions
from devkit.loop_thread import LoopThread
from devkit.twilio_standin import TwilioStandin
from switchboard import settings as settings_module
from switchboard.schedules import store as schedule_store
from switchboard.storage import connection as storage_connection
from switchboard.storage import queues, tables
from tests.e2e.test_calls_e2e import fast_app_dir
from tests.storage_identity import (
    AsyncStaticCredential,
    SecureAzurite,
    StaticCredential,
    bearer_token,
)

ACCOUNT_SID = "AC" + "1d" * 16
TOKEN = "identity-e2e-auth-token-0123456789"
BUSINESS = "+15017122661"
WAIT = 20.0


@dataclass
class App:
    url: str
    standin: TwilioStandin
    credential: StaticCredential

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + "/api/" + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def _forget_clients() -> None:
    storage_connection.forget_credentials()
    tables.forget_created_tables()
    queues.forget_clients()
    schedule_store.forget_created_tables()
    settings_module.reset_settings_cache()


@pytest.fixture
def app(
    secure_azurite: SecureAzurite,
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[App]:
    suffix = uuid.uuid4().hex[:10]
    ca_file = str(secure_azurite.ca_file)
    static = StaticCredential(bearer_token())
    monkeypatch = clean_env
    # Where the tokens come from: the app's sync clients and the host's async queue clients.
    monkeypatch.setattr(storage_connection, "credential_factory", lambda *_: static)
    monkeypatch.setattr(host_queues, "credential_factory", lambda *_: AsyncStaticCredential(static))
    # Trust the test certificate: requests reads REQUESTS_CA_BUNDLE, the host its SSL_CERT_FILE.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    monkeypatch.setitem(tables.CLIENT_OPTIONS, "connection_verify", ca_file)
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=5) as standin:
        for name, value in {
            **secure_azurite.identity_settings(),
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "TABLE_CALL_LOG": "idcalls" + suffix,
            "TABLE_MESSAGE_LOG": "idmsgs" + suffix,
            "TABLE_SMS_SCHEDULE": "idsched" + suffix,
            "TABLE_OPT_OUT": "idopt" + suffix,
            "OUTBOUND_CALL_QUEUE": "id-calls-" + suffix,
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }.items():
            monkeypatch.setenv(name, value)
        _forget_clients()
        app_dir = fast_app_dir(tmp_path)
        monkeypatch.chdir(app_dir)  # the host works from the app folder; restored afterwards
        host = Host(HostOptions(app_dir=app_dir, port=0, load_local_settings=False))
        host.prepare()
        background = LoopThread("identity-e2e-host")
        background.start(host.start, timeout=30)
        try:
            yield App(host.url, standin, static)
        finally:
            background.stop(host.stop)
            _forget_clients()


def test_a_call_goes_through_with_tokens_only(app: App) -> None:
    to = "+1555" + str(uuid.uuid4().int)[:7]
    status, body = app.call("POST", "calls", {"id": "id-e2e-1", "to": to, "say": "Hello"})
    assert status == 202, body
    deadline = time.monotonic() + WAIT
    record: Any = None
    while time.monotonic() < deadline:
        status, record = app.call("GET", "calls/id-e2e-1")
        if status == 200 and record.get("sid"):
            break
        time.sleep(0.2)
    assert status == 200, record
    assert str(record.get("sid")).startswith("CA"), record
    placed = [
        r for r in app.standin.requests(method="POST", resource="Calls") if r.param("To") == to
    ]
    assert len(placed) == 1
    status, health = app.call("GET", "health")
    assert health["storage"] == {"ok": True, "detail": "ok"}, health
    assert "AzureWebJobsStorage__tableServiceUri" in health["settings"]["present"]
    assert app.credential.scopes  # every storage request carried a bearer token
