"""Contract: every REST operation of the adapter, sent by the real twilio client, is valid for
Twilio's own OpenAPI description (served by Prism), as the npm package `@twilio-alpha/mcp`
pinned in package.json / package-lock.json installs it into node_modules/.

Prism answers with the spec's examples, so this checks requests, not behaviour. A checking
proxy in front of Prism (devkit.prism.CheckingProxy) also rejects unknown parameters and checks
array fields, which Prism 5.14 cannot parse in form bodies (see devkit/prism.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from devkit.npm import PROJECT_ROOT
from devkit.prism import CheckingProxy, Prism, PrismError, require_spec, spec_path
from switchboard.settings import Settings
from switchboard.twilio import client as tc

pytestmark = pytest.mark.contract

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "fake-auth-token-for-contract-tests"
KEY_SID = "SK" + "6" * 32
KEY_SECRET = "fake-api-key-secret-for-contract-tests"
SERVICE_SID = "MG" + "7" * 32
FROM = "+15017122661"
TO = "+15558675310"
APP = "https://switchboard.example.net"


@pytest.fixture(scope="session")
def prism() -> Iterator[Prism]:
    """Prism on Twilio's OpenAPI file for the session (fails, never skips, without the file)."""
    with Prism() as instance:
        yield instance


@pytest.fixture(scope="session")
def proxy(prism: Prism) -> Iterator[CheckingProxy]:
    with CheckingProxy(prism.base_url) as instance:
        yield instance


@pytest.fixture
def checked(proxy: CheckingProxy) -> Iterator[CheckingProxy]:
    """The proxy, emptied before the test; after it, no request may have broken the contract."""
    proxy.clear()
    yield proxy
    assert proxy.problems() == []
    assert proxy.requests(), "the test sent nothing"
    assert all(200 <= r.status < 300 for r in proxy.requests())


def settings(base_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_api_base_url": base_url,
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture
def client(checked: CheckingProxy) -> Any:
    return tc.build_client(settings(checked.base_url))


def test_sms_with_from_status_callback_and_media(client: Any, checked: CheckingProxy) -> None:
    created = tc.send_sms(
        client,
        to=TO,
        body="Your appointment is tomorrow at 9.",
        from_=FROM,
        status_callback=f"{APP}/api/status/message",
        media_urls=["https://media.example.net/a.png", "https://media.example.net/b.jpg"],
    )
    assert created.sid.startswith("SM")
    form = checked.requests()[-1].form
    assert form["MediaUrl"] == [
        "https://media.example.net/a.png",
        "https://media.example.net/b.jpg",
    ]
    assert form["StatusCallback"] == [f"{APP}/api/status/message"]


def test_sms_with_messaging_service(client: Any, checked: CheckingProxy) -> None:
    created = tc.send_sms(
        client,
        to=TO,
        body="via the service",
        messaging_service_sid=SERVICE_SID,
        status_callback=f"{APP}/api/status/message",
    )
    assert created.sid.startswith("SM")
    assert "From" not in checked.requests()[-1].form


def test_call_with_twiml_machine_detection_and_status_callback(
    client: Any, checked: CheckingProxy
) -> None:
    created = tc.create_call(
        client,
        to=TO,
        from_=FROM,
        twiml="<Response><Say>Hello</Say></Response>",
        status_callback=f"{APP}/api/status/call",
        machine_detection="Enable",
        timeout=30,
        record=False,
    )
    assert created.sid.startswith("CA")
    form = checked.requests()[-1].form
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert form["MachineDetection"] == ["Enable"]


def test_call_with_url(client: Any, checked: CheckingProxy) -> None:
    created = tc.create_call(
        client,
        to=TO,
        from_=FROM,
        url=f"{APP}/api/voice/outbound?id=reminder-42",
        status_callback=f"{APP}/api/status/call",
        status_callback_events=["completed"],
        machine_detection="DetectMessageEnd",
        record=True,
    )
    assert created.sid.startswith("CA")


def test_fetches(client: Any, checked: CheckingProxy) -> None:
    assert tc.fetch_message(client, "SM" + "a" * 32).sid.startswith("SM")
    assert tc.fetch_call(client, "CA" + "a" * 32).sid.startswith("CA")
    assert tc.fetch_account_status(client)
    recording = tc.fetch_recording(client, "RE" + "a" * 32)
    assert recording.sid.startswith("RE")
    assert recording.duration is not None


def test_the_call_queues_requests(client: Any, checked: CheckingProxy) -> None:
    """Every request the queue step makes of the Queue resource: made with its size, resized,
    read (its size and average wait), its front member, listed (to find one made on demand),
    deleted when idle."""
    sid = "QU" + "a" * 32
    made = tc.create_queue(client, friendly_name="sb-line-15017122661", max_size=20)
    assert made.sid.startswith("QU")
    assert checked.requests()[-1].form == {
        "FriendlyName": ["sb-line-15017122661"],
        "MaxSize": ["20"],
    }
    assert tc.update_queue(client, sid, max_size=25).sid.startswith("QU")
    assert checked.requests()[-1].form == {"MaxSize": ["25"]}
    fetched = tc.fetch_queue(client, sid)
    assert fetched.current_size is not None
    assert fetched.average_wait_time is not None
    front = tc.fetch_queue_front(client, sid)
    assert front.call_sid.startswith("CA")
    assert front.wait_time is not None
    assert checked.requests()[-1].path.endswith(f"/Queues/{sid}/Members/Front.json")
    assert all(q.sid.startswith("QU") for q in tc.list_queues(client, limit=1))
    assert tc.delete_queue(client, sid) is True
    assert checked.requests()[-1].method == "DELETE"


def test_list_messages_with_filters_and_limit(client: Any, checked: CheckingProxy) -> None:
    messages = tc.list_messages(
        client,
        to=TO,
        from_=FROM,
        date_sent_after=datetime.now(UTC) - timedelta(days=1),
        limit=3,
    )
    assert len(messages) == 3
    tc.list_messages(client, date_sent=date(2026, 1, 2), limit=1)
    tc.list_messages(client, date_sent_before=date(2026, 1, 2), limit=1)


def test_list_calls_with_filters_and_limit(client: Any, checked: CheckingProxy) -> None:
    """The queue function's check for a call an attempt in doubt created (two requests).

    The limit stays within the spec's example page: its next_page_uri carries a day-only
    StartTime that the spec's own date-time format refuses.
    """
    since = datetime.now(UTC) - timedelta(minutes=6)
    calls = tc.list_calls(client, to=TO, from_=FROM, start_time_after=since, limit=2)
    assert len(calls) == 2
    assert all(c.sid.startswith("CA") and c.date_created for c in calls)
    query = checked.requests()[-1].query
    assert sorted(query) == ["From", "PageSize", "StartTime>", "To"]
    assert query["StartTime>"] == [since.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert tc.list_calls(client, to=TO, from_=FROM, limit=1)[0].from_
    assert checked.requests()[-1].query["PageSize"] == ["1"]


def test_list_numbers_with_limit(client: Any, checked: CheckingProxy) -> None:
    numbers = tc.list_incoming_numbers(client, 2)  # the spec's example page is the last one
    assert len(numbers) == 1
    assert numbers[0].phone_number.startswith("+")
    assert checked.requests()[-1].query["PageSize"] == ["2"]


def test_update_number_webhooks_and_fallbacks(client: Any, checked: CheckingProxy) -> None:
    sid = "PN" + "8" * 32
    fallback = "https://stfb.blob.core.windows.net/fallback/voice-15017122661-0a1b.xml"
    number = tc.update_incoming_number(
        client,
        sid,
        {
            "VoiceUrl": f"{APP}/api/voice/incoming",
            "VoiceMethod": "POST",
            "VoiceFallbackUrl": fallback,
            "VoiceFallbackMethod": "GET",
            "SmsUrl": f"{APP}/api/sms/incoming",
            "SmsMethod": "POST",
            "SmsFallbackUrl": fallback.replace("voice-", "sms-"),
            "SmsFallbackMethod": "GET",
            "StatusCallback": f"{APP}/api/status/call",
            "StatusCallbackMethod": "POST",
        },
    )
    assert number.phone_number.startswith("+")
    sent = checked.requests()[-1]
    assert sent.method == "POST"
    assert sent.path.endswith(f"/IncomingPhoneNumbers/{sid}.json")
    assert sent.form["VoiceFallbackMethod"] == ["GET"]
    tc.update_incoming_number(client, sid, {"StatusCallback": f"{APP}/api/status/call"})
    assert set(checked.requests()[-1].form) == {"StatusCallback"}  # only what changes
    with pytest.raises(ValueError, match="empty"):  # the spec types them as URIs: never sent
        tc.update_incoming_number(client, sid, {"SmsFallbackUrl": ""})


def test_list_usage_with_period_category_and_limit(client: Any, checked: CheckingProxy) -> None:
    records = tc.list_usage_records(client, date(2026, 1, 1), date(2026, 1, 31), "sms", 2)
    assert len(records) == 2
    tc.list_usage_records(client, limit=1)


def test_api_key_auth(checked: CheckingProxy) -> None:
    key_client = tc.build_client(
        settings(checked.base_url, twilio_api_key_sid=KEY_SID, twilio_api_key_secret=KEY_SECRET)
    )
    tc.send_sms(key_client, to=TO, body="key", from_=FROM)


def test_async_operations(checked: CheckingProxy) -> None:
    async def main() -> None:
        async with tc.async_client(settings(checked.base_url)) as client:
            await tc.send_sms_async(
                client,
                to=TO,
                body="async",
                from_=FROM,
                status_callback=f"{APP}/api/status/message",
                media_urls=["https://media.example.net/a.png"],
            )
            await tc.create_call_async(
                client,
                to=TO,
                from_=FROM,
                url=f"{APP}/api/voice/outbound",
                status_callback=f"{APP}/api/status/call",
                machine_detection="Enable",
            )

    asyncio.run(main())
    assert [r.method for r in checked.requests()] == ["POST", "POST"]


def test_the_checks_catch_what_prism_lets_through(proxy: CheckingProxy) -> None:
    proxy.clear()
    client = tc.build_client(settings(proxy.base_url))
    with pytest.raises(TwilioRestException) as caught:
        client.calls.create(
            to=TO, from_=FROM, twiml="<Response/>", status_callback_method="PUT", timeout=30
        )
    assert "StatusCallbackMethod" in str(caught.value.msg)
    response = client.request(  # an unknown parameter: Prism alone accepts it
        "POST",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "x", "NoSuchParameter": "1"},
    )
    assert response.status_code == 400
    problems = proxy.problems()
    assert any("StatusCallbackMethod" in p for p in problems)
    assert any("NoSuchParameter" in p for p in problems)
    proxy.clear()


def test_missing_spec_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "twilio_api_v2010.json"
    monkeypatch.setenv("TWILIO_OAI_SPEC", str(missing))
    assert spec_path() == missing
    with pytest.raises(PrismError, match=str(missing)):
        require_spec()
    with pytest.raises(PrismError, match="TWILIO_OAI_SPEC"):
        Prism().start()


def test_the_spec_is_the_pinned_npm_package_inside_the_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing outside the project's tree: the file is the one npm installed at the locked version."""
    monkeypatch.delenv("TWILIO_OAI_SPEC", raising=False)
    path = require_spec()
    assert path.is_relative_to(PROJECT_ROOT / "node_modules" / "@twilio-alpha" / "mcp")
    package = "@twilio-alpha/mcp"
    pinned = json.loads((PROJECT_ROOT / "package.json").read_text())["devDependencies"][package]
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    locked = lock["packages"][f"node_modules/{package}"]["version"]
    installed = json.loads((PROJECT_ROOT / "node_modules" / package / "package.json").read_text())
    assert pinned == locked == installed["version"] == "0.7.0"
    assert json.loads(path.read_text())["openapi"].startswith("3.")
