"""The local Twilio stand-in, driven through Switchboard's adapter (the real twilio client).

A small aiohttp receiver plays the app: it records status callbacks and TwiML fetches, and every
one is verified with twilio's own RequestValidator.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from devkit.twilio_standin import TwilioStandin
from switchboard.settings import Settings
from switchboard.twilio import client as tc
from switchboard.twilio.errors import TwilioFailure, classify_twilio_error

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-auth-token-for-tests"
KEY_SID = "SK" + "2" * 32
KEY_SECRET = "fake-api-key-secret-for-tests"
FROM = "+15017122661"
TO = "+15558675310"
OTHER = "+15558675311"
SID = re.compile(r"^(SM|CA|PN)[0-9a-f]{32}$")
ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------
# The app's side: a receiver for callbacks and TwiML fetches
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    url: str
    params: dict[str, str]
    signature: str
    token: str


class Receiver:
    """An aiohttp server on a free loopback port, in its own thread."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.port = 0
        ready = threading.Event()

        async def handle(request: web.Request) -> web.Response:
            form = await request.post() if request.method == "POST" else {}
            params = {k: str(v) for k, v in form.items()}
            with self.lock:
                self.received.append(
                    Received(
                        request.method,
                        str(request.url),
                        params,
                        request.headers.get("X-Twilio-Signature", ""),
                        request.headers.get("I-Twilio-Idempotency-Token", ""),
                    )
                )
            if request.path.endswith("/twiml"):
                return web.Response(
                    text="<Response><Say>Hello from the app</Say></Response>",
                    content_type="text/xml",
                )
            return web.Response(text="")

        async def start() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = int(self.runner.addresses[0][1])

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(start())
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def for_sid(self, key: str, sid: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.params.get(key) == sid]

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def close(self) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def assert_signed(received: list[Received]) -> None:
    validator = RequestValidator(AUTH_TOKEN)
    assert received
    for r in received:
        assert validator.validate(r.url, r.params, r.signature), r


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_keys={KEY_SID: KEY_SECRET},
        callback_delay_ms=5,
        seed=1234,
    ) as instance:
        yield instance


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


@pytest.fixture(autouse=True)
def _clean(standin: TwilioStandin, receiver: Receiver) -> Iterator[None]:
    standin.reset()
    standin.configure_callbacks(delay_ms=5, duplicates=0, shuffle=False)
    receiver.clear()
    yield
    assert standin.wait_idle(10)


def make_settings(standin: TwilioStandin, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_api_base_url": standin.base_url,
        "sms_send_concurrency": 16,
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture(scope="module")
def client(standin: TwilioStandin) -> Any:
    return tc.build_client(make_settings(standin))


def api(standin: TwilioStandin, resource: str) -> str:
    return f"{standin.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/{resource}"


def twilio_error(call: Callable[[], object]) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


# --------------------------------------------------------------------------------------------
# Auth
# --------------------------------------------------------------------------------------------


def test_auth_token_and_api_key_are_accepted(standin: TwilioStandin, client: Any) -> None:
    tc.send_sms(client, to=TO, body="token", from_=FROM)
    key_client = tc.build_client(
        make_settings(standin, twilio_api_key_sid=KEY_SID, twilio_api_key_secret=KEY_SECRET)
    )
    tc.send_sms(key_client, to=TO, body="key", from_=FROM)
    identities = [r.identity for r in standin.requests(method="POST", resource="Messages")]
    assert identities == [ACCOUNT_SID, KEY_SID]
    assert all(KEY_SECRET not in str(r.to_json()) for r in standin.requests())


@pytest.mark.parametrize(
    "changes",
    [
        {"twilio_auth_token": "wrong-token"},
        {"twilio_api_key_sid": KEY_SID, "twilio_api_key_secret": "wrong-secret"},
        {"twilio_api_key_sid": "SK" + "9" * 32, "twilio_api_key_secret": KEY_SECRET},
    ],
)
def test_bad_credentials_get_401_20003(standin: TwilioStandin, changes: dict[str, str]) -> None:
    bad = tc.build_client(make_settings(standin, **changes))
    error = twilio_error(lambda: tc.send_sms(bad, to=TO, body="x", from_=FROM))
    assert (error.status, error.code) == (401, 20003)
    failure = classify_twilio_error(error)
    assert not failure.transient
    assert failure.code == 20003
    assert standin.requests()[-1].authenticated is False


def test_no_auth_and_foreign_account(standin: TwilioStandin) -> None:
    response = requests.get(api(standin, "Messages.json"), timeout=5)
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    other = api(standin, "Messages.json").replace(ACCOUNT_SID, "AC" + "3" * 32)
    response = requests.get(other, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert (response.status_code, response.json()["code"]) == (401, 20003)


# --------------------------------------------------------------------------------------------
# Validation, magic numbers, SIDs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "form", "code"),
    [
        ("Messages.json", {"From": FROM, "Body": "x"}, 21604),
        ("Messages.json", {"To": TO, "Body": "x"}, 21603),
        ("Messages.json", {"To": TO, "From": FROM}, 21602),
        ("Messages.json", {"To": "5558675310", "From": FROM, "Body": "x"}, 21211),
        ("Messages.json", {"To": TO, "From": "+1-not-e164!", "Body": "x"}, 21212),
        ("Calls.json", {"From": FROM, "Twiml": "<Response/>"}, 21201),
        ("Calls.json", {"To": TO, "Twiml": "<Response/>"}, 21213),
        ("Calls.json", {"To": TO, "From": FROM}, 21205),
        (
            "Calls.json",
            {"To": TO, "From": FROM, "Twiml": "<Response/>", "Url": "https://a/b"},
            21205,
        ),
        ("Calls.json", {"To": "12345", "From": FROM, "Twiml": "<Response/>"}, 21211),
        ("Calls.json", {"To": TO, "From": "nope", "Twiml": "<Response/>"}, 21212),
    ],
)
def test_validation_errors_use_twilio_codes_and_json(
    standin: TwilioStandin, resource: str, form: dict[str, str], code: int
) -> None:
    response = requests.post(
        api(standin, resource), data=form, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert (body["code"], body["status"]) == (code, 400)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21211),
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("+15005550009", 21614),
    ],
)
def test_sms_magic_numbers(client: Any, to: str, code: int) -> None:
    error = twilio_error(lambda: tc.send_sms(client, to=to, body="x", from_=FROM))
    failure = classify_twilio_error(error)
    assert (failure.transient, failure.status, failure.code) == (False, 400, code)
    assert failure.message
    assert not failure.message.startswith("Unable to")


@pytest.mark.parametrize(
    ("to", "code"), [("+15005550001", 21217), ("+15005550002", 21214), ("+15005550003", 21215)]
)
def test_call_magic_numbers(client: Any, to: str, code: int) -> None:
    error = twilio_error(lambda: tc.create_call(client, to=to, from_=FROM, twiml="<Response/>"))
    assert classify_twilio_error(error).code == code


def test_sids_are_unique_under_concurrency(standin: TwilioStandin, client: Any) -> None:
    with ThreadPoolExecutor(8) as pool:
        messages = list(
            pool.map(lambda i: tc.send_sms(client, to=TO, body=f"m{i}", from_=FROM), range(40))
        )
        calls = list(
            pool.map(
                lambda i: tc.create_call(client, to=TO, from_=FROM, twiml="<Response/>"), range(10)
            )
        )
    sids = [m.sid for m in messages] + [c.sid for c in calls]
    assert len(set(sids)) == 50
    assert all(SID.match(s) for s in sids)
    assert {m.status for m in messages} == {"queued"}
    assert {c.status for c in calls} == {"queued"}
    numbers = tc.list_incoming_numbers(client, 10)
    assert all(SID.match(n.sid) for n in numbers)


# --------------------------------------------------------------------------------------------
# Resources, lists and paging
# --------------------------------------------------------------------------------------------


def test_message_json_shape_and_fetch(standin: TwilioStandin, client: Any) -> None:
    created = tc.send_sms(
        client, to=TO, body="with media", from_=FROM, media_urls=["https://e.example/a.png"] * 2
    )
    body = standin.requests(method="POST")[-1].response
    assert body is not None
    for key in (
        "sid",
        "account_sid",
        "to",
        "from",
        "body",
        "status",
        "date_created",
        "num_media",
        "error_code",
        "error_message",
        "uri",
        "direction",
        "api_version",
        "date_sent",
    ):
        assert key in body
    assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$", body["date_created"])
    assert body["num_media"] == "2"
    assert standin.requests(method="POST")[-1].form["MediaUrl"] == ["https://e.example/a.png"] * 2
    standin.wait_idle(5)
    fetched = tc.fetch_message(client, created.sid)
    assert (fetched.status, fetched.to, fetched.from_, fetched.num_media) == (
        "delivered",
        TO,
        FROM,
        2,
    )
    assert fetched.date_sent is not None
    error = twilio_error(lambda: tc.fetch_message(client, "SM" + "0" * 32))
    assert (error.status, error.code) == (404, 20404)


def test_messaging_service_sends_without_from(standin: TwilioStandin, client: Any) -> None:
    service = "MG" + "4" * 32
    created = tc.send_sms(client, to=TO, body="via service", messaging_service_sid=service)
    assert standin.requests(method="POST")[-1].response["from"] is None  # type: ignore[index]
    standin.wait_idle(5)
    fetched = tc.fetch_message(client, created.sid)
    assert fetched.messaging_service_sid == service
    assert fetched.from_ == FROM


def test_list_filters_and_paging_that_ends(standin: TwilioStandin, client: Any) -> None:
    for i in range(7):
        tc.send_sms(client, to=TO, body=f"a{i}", from_=FROM)
    for i in range(3):
        tc.send_sms(client, to=OTHER, body=f"b{i}", from_="+15005550006")
    standin.wait_idle(5)
    # raw paging: 3 + 3 + 1, next_page_uri null on the last page
    url: str | None = api(standin, "Messages.json") + f"?To=%2B{TO[1:]}&PageSize=3"
    sizes = []
    while url:
        page = requests.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5).json()
        sizes.append(len(page["messages"]))
        assert all(m["to"] == TO for m in page["messages"])
        url = standin.base_url + page["next_page_uri"] if page["next_page_uri"] else None
        assert len(sizes) < 10
    assert sizes == [3, 3, 1]
    # the twilio library's own paging ends, and reads every page once
    standin.clear_requests()
    streamed = list(client.messages.stream(page_size=4))
    assert len(streamed) == 10
    assert len({m.sid for m in streamed}) == 10
    assert len(standin.requests(method="GET", resource="Messages")) == 3
    # newest first
    bodies = [m.body for m in tc.list_messages(client, to=TO, limit=100)]
    assert bodies == [f"a{i}" for i in reversed(range(7))]
    assert len(tc.list_messages(client, from_="+15005550006", limit=100)) == 3
    assert len(tc.list_messages(client, limit=4)) == 4


def test_date_sent_filters(standin: TwilioStandin, client: Any) -> None:
    tc.send_sms(client, to=TO, body="dated", from_=FROM)
    standin.wait_idle(5)
    today = datetime.now(UTC).date()
    assert len(tc.list_messages(client, date_sent=today, limit=10)) == 1
    assert len(tc.list_messages(client, date_sent_after=today, limit=10)) == 1
    assert len(tc.list_messages(client, date_sent_after=today + timedelta(days=1), limit=10)) == 0
    assert len(tc.list_messages(client, date_sent_before=today, limit=10)) == 1
    assert len(tc.list_messages(client, date_sent_before=today - timedelta(days=1), limit=10)) == 0
    just_now = datetime.now(UTC) - timedelta(minutes=5)
    assert len(tc.list_messages(client, date_sent_after=just_now, limit=10)) == 1
    query = standin.requests(method="GET", resource="Messages")[-1].query
    assert list(query) == ["DateSent>", "PageSize"]


def test_call_list_filters(standin: TwilioStandin, client: Any, receiver: Receiver) -> None:
    standin.set_call_outcome(OTHER, "busy")
    answered = tc.create_call(client, to=TO, from_=FROM, url=receiver.url("/twiml"))
    tc.create_call(client, to=TO, from_="+15005550006", url=receiver.url("/twiml"))
    busy = tc.create_call(client, to=OTHER, from_=FROM, url=receiver.url("/twiml"))
    assert standin.wait_idle(5)
    assert [c.sid for c in tc.list_calls(client, to=TO, from_=FROM)] == [answered.sid]
    assert len(tc.list_calls(client, to=TO)) == 2
    assert [c.sid for c in tc.list_calls(client, from_=FROM)] == [busy.sid, answered.sid]
    # StartTime filters: a call never answered here has no start time and matches none.
    just_now = datetime.now(UTC) - timedelta(minutes=5)
    started = tc.list_calls(client, from_=FROM, start_time_after=just_now)
    assert [c.sid for c in started] == [answered.sid]
    assert started[0].start_time is not None
    assert tc.list_calls(client, from_=FROM, start_time_after=just_now + timedelta(days=1)) == []
    query = standin.requests(method="GET", resource="Calls")[-1].query
    assert list(query) == ["From", "StartTime>", "PageSize"]
    today = datetime.now(UTC).date()
    for filters, expected in (
        ({"StartTime": today.isoformat()}, 1),
        ({"StartTime": (today - timedelta(days=1)).isoformat()}, 0),
        ({"StartTime<": today.isoformat()}, 1),
        ({"StartTime<": just_now.strftime("%Y-%m-%dT%H:%M:%SZ")}, 0),
        ({"StartTime>": today.isoformat(), "Status": "completed"}, 1),
    ):
        page = requests.get(
            api(standin, "Calls.json"),
            params={"From": FROM, **filters},
            auth=(ACCOUNT_SID, AUTH_TOKEN),
            timeout=5,
        ).json()
        assert len(page["calls"]) == expected, filters
    bad = requests.get(
        api(standin, "Calls.json"),
        params={"StartTime>": "yesterday"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert bad.status_code == 400


def test_incoming_numbers_and_usage(standin: TwilioStandin, client: Any) -> None:
    numbers = tc.list_incoming_numbers(client, 10)
    assert [n.phone_number for n in numbers] == ["+15017122661", "+15005550010"]
    assert numbers[0].capabilities == {"voice": True, "sms": True, "mms": True, "fax": False}
    assert numbers[0].voice_url
    assert numbers[0].voice_url.endswith("/api/voice/incoming")
    assert numbers[0].sms_url
    assert numbers[0].sms_url.endswith("/api/sms/incoming")
    assert len(tc.list_incoming_numbers(client, 1)) == 1
    standin.set_numbers([{"phone_number": "+15550001111", "friendly_name": "Only"}])
    assert [n.friendly_name for n in tc.list_incoming_numbers(client, 10)] == ["Only"]

    start, end = date.today() - timedelta(days=30), date.today()
    records = tc.list_usage_records(client, start, end, "sms", 10)
    assert len(records) == 1
    record = records[0]
    assert (record.category, record.start_date, record.end_date) == ("sms", start, end)
    assert record.usage_unit == "messages"
    assert float(record.price or 0) > 0
    everything = tc.list_usage_records(client, start, end, None, 100)
    assert {"calls", "sms", "totalprice", "phonenumbers"} <= {r.category for r in everything}
    assert len(tc.list_usage_records(client, start, end, None, 2)) == 2
    assert tc.list_usage_records(client, start, end, "no-such-category", 5) == []
    query = standin.requests(resource="Records")[0].query
    assert query["StartDate"] == [start.isoformat()]
    assert query["Category"] == ["sms"]


def test_recordings_and_their_audio_with_auth(standin: TwilioStandin, client: Any) -> None:
    call_sid = "CA" + "3" * 32
    added = requests.post(
        f"{standin.base_url}/_standin/recordings",
        json={"callSid": call_sid, "duration": 37},
        timeout=5,
    )
    assert added.status_code == 201
    sid = added.json()["sid"]
    recording = tc.fetch_recording(client, sid)
    assert (recording.sid, recording.call_sid, recording.duration) == (sid, call_sid, 37)
    assert (recording.status, recording.channels, recording.source) == (
        "completed",
        1,
        "RecordVerb",
    )
    assert (
        recording.media_url
        == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
    )
    settings = make_settings(standin)
    mp3 = tc.download_media(settings, tc.recording_media_url(recording.media_url), max_bytes=10**6)
    assert mp3.content_type == "audio/mpeg"
    assert mp3.content.startswith(b"ID3")
    assert mp3.content == standin.recording_audio(sid, "mp3")
    for suffix in ("", ".wav"):
        wav = tc.download_media(settings, recording.media_url + suffix, max_bytes=10**6)
        assert wav.content_type == "audio/x-wav"
        assert wav.content[:4] == b"RIFF"
        assert wav.content[8:12] == b"WAVE"
    with pytest.raises(tc.MediaTooLarge):
        tc.download_media(settings, recording.media_url + ".wav", max_bytes=1000)
    unauthenticated = requests.get(api(standin, f"Recordings/{sid}.mp3"), timeout=5)
    assert (unauthenticated.status_code, unauthenticated.json()["code"]) == (401, 20003)
    missing = twilio_error(lambda: tc.fetch_recording(client, "RE" + "0" * 32))
    assert (missing.status, missing.code) == (404, 20404)
    with pytest.raises(requests.HTTPError) as gone:
        tc.download_media(settings, recording.media_url.replace(sid, "RE" + "0" * 32), max_bytes=10)
    assert classify_twilio_error(gone.value).status == 404
    listed = requests.get(f"{standin.base_url}/_standin/recordings", timeout=5).json()
    assert [r["sid"] for r in listed] == [sid]
    bad = requests.post(f"{standin.base_url}/_standin/recordings", json={"sid": "x"}, timeout=5)
    assert bad.status_code == 400


def test_a_recordings_audio_in_ranges_as_twilio_serves_it(standin: TwilioStandin) -> None:
    sid = standin.add_recording(call_sid="CA" + "4" * 32, duration=2)["sid"]
    whole = standin.recording_audio(sid, "mp3")
    settings = make_settings(standin)
    url = api(standin, f"Recordings/{sid}.mp3")
    first = tc.download_media_range(settings, url, "bytes=0-99", max_bytes=10**6)
    assert (first.status, first.content) == (206, whole[:100])
    assert first.content_range == f"bytes 0-99/{len(whole)}"
    rest = tc.download_media_range(settings, url, "bytes=100-", max_bytes=10**6)
    assert (rest.status, rest.content) == (206, whole[100:])
    tail = tc.download_media_range(settings, url, "bytes=-10", max_bytes=10**6)
    assert tail.content == whole[-10:]
    assert tail.content_range == f"bytes {len(whole) - 10}-{len(whole) - 1}/{len(whole)}"
    plain = tc.download_media_range(settings, url, None, max_bytes=10**6)
    assert (plain.status, plain.content, plain.content_range) == (200, whole, None)
    with pytest.raises(requests.HTTPError) as past:
        tc.download_media_range(settings, url, f"bytes={len(whole)}-", max_bytes=10**6)
    assert past.value.response.status_code == 416
    assert past.value.response.headers["Content-Range"] == f"bytes */{len(whole)}"
    asked = [r for r in standin.requests("GET") if r.path.endswith(f"{sid}.mp3")]
    assert [(r.range, r.status) for r in asked] == [
        ("bytes=0-99", 206),
        ("bytes=100-", 206),
        ("bytes=-10", 206),
        (None, 200),
        (f"bytes={len(whole)}-", 416),
    ]


# --------------------------------------------------------------------------------------------
# Status callbacks and TwiML fetches
# --------------------------------------------------------------------------------------------


def test_message_status_callbacks_in_order_and_signed(
    standin: TwilioStandin, client: Any, receiver: Receiver
) -> None:
    callback = receiver.url("/api/status/message?code=fn-key&x=1")
    created = tc.send_sms(client, to=TO, body="hi", from_=FROM, status_callback=callback)
    assert standin.wait_idle(5)
    got = receiver.for_sid("MessageSid", created.sid)
    assert [r.params["MessageStatus"] for r in got] == ["queued", "sent", "delivered"]
    assert_signed(got)
    first = got[0].params
    assert first["SmsSid"] == created.sid
    assert first["SmsStatus"] == "queued"
    assert (first["AccountSid"], first["From"], first["To"]) == (ACCOUNT_SID, FROM, TO)
    assert first["ApiVersion"] == "2010-04-01"
    assert "ErrorCode" not in first
    assert got[0].url == callback
    assert len({r.token for r in got}) == 3
    assert all(d.status == 200 for d in standin.callbacks(created.sid))


@pytest.mark.parametrize(
    ("outcome", "code", "statuses"),
    [
        ("undelivered", 30003, ["queued", "sent", "undelivered"]),
        ("failed", 30008, ["queued", "failed"]),
    ],
)
def test_message_failure_outcomes(
    standin: TwilioStandin,
    client: Any,
    receiver: Receiver,
    outcome: str,
    code: int,
    statuses: list[str],
) -> None:
    standin.set_message_outcome(OTHER, outcome, code)
    created = tc.send_sms(
        client, to=OTHER, body="x", from_=FROM, status_callback=receiver.url("/status")
    )
    assert standin.wait_idle(5)
    got = receiver.for_sid("MessageSid", created.sid)
    assert [r.params["MessageStatus"] for r in got] == statuses
    assert got[-1].params["ErrorCode"] == str(code)
    assert_signed(got)
    fetched = tc.fetch_message(client, created.sid)
    assert (fetched.status, fetched.error_code) == (outcome, code)


def test_a_sender_that_is_not_registered_fails_every_text_with_twilios_code(
    standin: TwilioStandin, client: Any, receiver: Receiver
) -> None:
    """As Twilio answers for a 10DLC number on no campaign: whoever the recipient, every text
    from it ends undelivered with 30034 and Twilio's words; a recipient's own outcome wins; the
    outcome is set and cleared over HTTP too."""
    standin.set_sender_outcome(FROM, "undelivered", 30034)
    standin.set_message_outcome(OTHER, "delivered")
    sent = {
        to: tc.send_sms(client, to=to, body="x", from_=FROM, status_callback=receiver.url("/s"))
        for to in (TO, OTHER)
    }
    other_sender = tc.send_sms(
        client, to=TO, body="x", from_="+15005550010", status_callback=receiver.url("/s")
    )
    assert standin.wait_idle(5)
    blocked = receiver.for_sid("MessageSid", sent[TO].sid)
    assert [r.params["MessageStatus"] for r in blocked] == ["queued", "sent", "undelivered"]
    assert blocked[-1].params["ErrorCode"] == "30034"
    assert_signed(blocked)
    fetched = tc.fetch_message(client, sent[TO].sid)
    assert (fetched.status, fetched.error_code, fetched.error_message) == (
        "undelivered",
        30034,
        "US A2P 10DLC - Message from an Unregistered Number",
    )
    for sid in (sent[OTHER].sid, other_sender.sid):
        assert receiver.for_sid("MessageSid", sid)[-1].params["MessageStatus"] == "delivered"
    control = f"{standin.base_url}/_standin/outcomes"
    assert requests.get(control, timeout=5).json()["senders"] == {
        FROM: {"status": "undelivered", "error_code": 30034}
    }
    changed = requests.post(
        control, json={"senders": {FROM: {"status": "failed", "error_code": 30007}}}, timeout=5
    )
    assert changed.json()["senders"][FROM] == {"status": "failed", "error_code": 30007}
    filtered = tc.send_sms(client, to=TO, body="x", from_=FROM, status_callback=receiver.url("/s"))
    assert standin.wait_idle(5)
    last = receiver.for_sid("MessageSid", filtered.sid)[-1].params
    assert (last["MessageStatus"], last["ErrorCode"]) == ("failed", "30007")
    assert requests.delete(control, timeout=5).json()["senders"] == {}


def test_call_progress_callbacks_and_twiml_fetch(
    standin: TwilioStandin, client: Any, receiver: Receiver
) -> None:
    created = tc.create_call(
        client,
        to=TO,
        from_=FROM,
        url=receiver.url("/api/voice/twiml"),
        status_callback=receiver.url("/api/status/call"),
        machine_detection="Enable",
    )
    assert standin.wait_idle(5)
    got = receiver.for_sid("CallSid", created.sid)
    fetches = [r for r in got if r.url.endswith("/twiml")]
    statuses = [r for r in got if "/status/call" in r.url]
    assert [r.params["CallStatus"] for r in statuses] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [r.params["SequenceNumber"] for r in statuses] == ["0", "1", "2", "3"]
    assert all(r.params["Direction"] == "outbound-api" for r in statuses)
    assert statuses[-1].params["CallDuration"] == "5"
    assert len(fetches) == 1
    assert fetches[0].method == "POST"
    assert fetches[0].params["CallStatus"] == "in-progress"
    assert fetches[0].params["AnsweredBy"] == "human"
    assert_signed(got)
    twiml = standin.callbacks(created.sid, kind="twiml")
    assert twiml[0].status == 200
    assert "<Say>Hello from the app</Say>" in (twiml[0].response_body or "")
    call = tc.fetch_call(client, created.sid)
    assert (call.status, call.duration, call.answered_by, call.from_) == (
        "completed",
        5,
        "human",
        FROM,
    )


def test_status_callback_events_filter(
    standin: TwilioStandin, client: Any, receiver: Receiver
) -> None:
    only_completed = tc.create_call(
        client,
        to=TO,
        from_=FROM,
        twiml="<Response/>",
        status_callback=receiver.url("/a"),
        status_callback_events=["completed"],
    )
    none_asked = requests.post(
        api(standin, "Calls.json"),
        data={"To": TO, "From": FROM, "Twiml": "<Response/>", "StatusCallback": receiver.url("/b")},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    ).json()["sid"]
    assert standin.wait_idle(5)
    for sid in (only_completed.sid, none_asked):
        assert [r.params["CallStatus"] for r in receiver.for_sid("CallSid", sid)] == ["completed"]


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
def test_unanswered_call_outcomes(
    standin: TwilioStandin, client: Any, receiver: Receiver, outcome: str
) -> None:
    standin.set_call_outcome(OTHER, outcome)
    created = tc.create_call(
        client, to=OTHER, from_=FROM, url=receiver.url("/twiml"), status_callback=receiver.url("/s")
    )
    assert standin.wait_idle(5)
    got = receiver.for_sid("CallSid", created.sid)
    assert got[-1].params["CallStatus"] == outcome
    assert not [r for r in got if r.url.endswith("/twiml")]  # never answered: no TwiML fetch
    assert tc.fetch_call(client, created.sid).status == outcome


def test_call_update_hangs_up_cancels_and_redirects(
    standin: TwilioStandin, client: Any, receiver: Receiver
) -> None:
    standin.set_call_outcome(TO, hold=True)
    held = tc.create_call(
        client, to=TO, from_=FROM, twiml="<Response/>", status_callback=receiver.url("/s")
    )
    deadline = time.monotonic() + 5
    while tc.fetch_call(client, held.sid).status != "in-progress":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.calls(held.sid).update(url=receiver.url("/twiml"))
    client.calls(held.sid).update(status="completed")
    assert standin.wait_idle(5)
    got = receiver.for_sid("CallSid", held.sid)
    assert got[-1].params["CallStatus"] == "completed"
    assert [r for r in got if r.url.endswith("/twiml")]  # the redirect fetched TwiML
    error = twilio_error(lambda: client.calls(held.sid).update(status="completed"))
    assert (error.status, error.code) == (400, 21220)

    standin.configure_callbacks(delay_ms=300)
    ringing = tc.create_call(
        client, to=OTHER, from_=FROM, twiml="<Response/>", status_callback=receiver.url("/s")
    )
    client.calls(ringing.sid).update(status="canceled")
    assert standin.wait_idle(5)
    assert tc.fetch_call(client, ringing.sid).status == "canceled"
    assert receiver.for_sid("CallSid", ringing.sid)[-1].params["CallStatus"] == "canceled"


def test_duplicated_and_shuffled_callbacks(
    standin: TwilioStandin, client: Any, receiver: Receiver
) -> None:
    standin.configure_callbacks(duplicates=1, shuffle=True)
    created = tc.send_sms(client, to=TO, body="x", from_=FROM, status_callback=receiver.url("/m"))
    assert standin.wait_idle(5)
    got = receiver.for_sid("MessageSid", created.sid)
    statuses = [r.params["MessageStatus"] for r in got]
    assert sorted(statuses) == sorted(["queued", "sent", "delivered"] * 2)
    assert statuses != ["queued", "queued", "sent", "sent", "delivered", "delivered"]
    assert_signed(got)
    by_status: dict[str, set[str]] = {}
    for r in got:
        by_status.setdefault(r.params["MessageStatus"], set()).add(r.token)
    assert all(len(tokens) == 1 for tokens in by_status.values())  # a retry keeps its token
    assert sum(d.duplicate for d in standin.callbacks(created.sid)) == 3


# --------------------------------------------------------------------------------------------
# Faults and latency
# --------------------------------------------------------------------------------------------


def test_fault_rate_is_close_to_the_asked_rate_and_deterministic(standin: TwilioStandin) -> None:
    url = api(standin, "IncomingPhoneNumbers.json")

    def run(count: int) -> list[int]:
        with requests.Session() as session:
            session.auth = (ACCOUNT_SID, AUTH_TOKEN)
            return [session.get(url, timeout=5).status_code for _ in range(count)]

    standin.set_faults(fail_rate=0.25, seed=99)
    statuses = run(400)
    failures = [s for s in statuses if s != 200]
    assert 70 <= len(failures) <= 130  # 100 expected; ±3.5 standard deviations
    assert set(failures) <= {429, 500, 503}
    assert len(set(failures)) == 3
    bodies = [r.response for r in standin.requests() if r.status != 200]
    assert {(b or {}).get("code") for b in bodies} == {20429, 20500, 20503}
    standin.set_faults(seed=99)
    assert run(60) == statuses[:60]
    standin.set_faults(fail_rate=0.0)
    assert set(run(20)) == {200}


def test_fault_rate_through_the_client_is_transient(standin: TwilioStandin, client: Any) -> None:
    standin.set_faults(fail_rate=1.0, statuses=[429])
    error = twilio_error(lambda: tc.send_sms(client, to=TO, body="x", from_=FROM))
    failure = classify_twilio_error(error)
    assert (failure.transient, failure.status, failure.code) == (True, 429, 20429)


def test_per_number_rules(standin: TwilioStandin, client: Any) -> None:
    standin.add_fault(to=TO, status=503, times=2)
    standin.add_fault(to=OTHER, status=429)
    for _ in range(2):
        error = twilio_error(lambda: tc.send_sms(client, to=TO, body="x", from_=FROM))
        assert classify_twilio_error(error) == TwilioFailure(
            True, 503, 20503, "Service Unavailable"
        )
    assert tc.send_sms(client, to=TO, body="x", from_=FROM).status == "queued"
    for _ in range(3):
        error = twilio_error(lambda: tc.send_sms(client, to=OTHER, body="x", from_=FROM))
        assert (error.status, error.code) == (429, 20429)
    assert tc.send_sms(client, to="+15558675399", body="x", from_=FROM).status == "queued"


def test_latency_and_client_timeout(standin: TwilioStandin) -> None:
    standin.set_faults(latency_ms=150)
    fast_client = tc.build_client(make_settings(standin))
    started = time.monotonic()
    tc.list_incoming_numbers(fast_client, 5)
    assert time.monotonic() - started >= 0.15
    assert standin.requests()[-1].duration_ms >= 150
    standin.clear_faults()
    standin.add_fault(status=None, delay_ms=1500, resource="Messages")
    impatient = tc.build_client(make_settings(standin), timeout=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout) as caught:
        tc.send_sms(impatient, to=TO, body="x", from_=FROM)
    assert classify_twilio_error(caught.value).transient


# --------------------------------------------------------------------------------------------
# Async adapter, HTTP control API, command line
# --------------------------------------------------------------------------------------------


def test_async_sends_with_bounded_concurrency(standin: TwilioStandin, receiver: Receiver) -> None:
    standin.set_faults(latency_ms=20)

    async def main() -> tuple[list[tc.Created], tc.Created]:
        limit = asyncio.Semaphore(8)
        async with tc.async_client(make_settings(standin, sms_send_concurrency=8)) as client:

            async def one(i: int) -> tc.Created:
                async with limit:
                    return await tc.send_sms_async(
                        client,
                        to=TO,
                        body=f"async {i}",
                        from_=FROM,
                        media_urls=["https://e.example/1.png", "https://e.example/2.png"],
                    )

            sent = await asyncio.gather(*(one(i) for i in range(40)))
            call = await tc.create_call_async(
                client,
                to=TO,
                from_=FROM,
                twiml="<Response/>",
                status_callback=receiver.url("/s"),
                timeout=20,
                record=True,
            )
            return list(sent), call

    sent, call = asyncio.run(main())
    assert len({s.sid for s in sent}) == 40
    message_forms = [r.form for r in standin.requests(method="POST", resource="Messages")]
    assert all(
        f["MediaUrl"] == ["https://e.example/1.png", "https://e.example/2.png"]
        for f in message_forms
    )
    call_form = standin.requests(method="POST", resource="Calls")[-1].form
    assert call_form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert (call_form["Timeout"], call_form["Record"]) == (["20"], ["true"])
    assert call.status == "queued"


def test_async_errors_classify_like_sync(standin: TwilioStandin) -> None:
    async def main() -> BaseException:
        async with tc.async_client(make_settings(standin)) as client:
            try:
                await tc.send_sms_async(client, to="+15005550004", body="x", from_=FROM)
            except Exception as exc:
                return exc
        raise AssertionError("no error")

    failure = classify_twilio_error(asyncio.run(main()))
    assert (failure.transient, failure.code) == (False, 21610)


# --------------------------------------------------------------------------------------------
# Call queues: the Queue resource, and calls moving through queues (what the simulator plays)
# --------------------------------------------------------------------------------------------


def test_the_queue_resource_as_twilio_serves_it(standin: TwilioStandin, client: Any) -> None:
    made = tc.create_queue(client, friendly_name="sb-line-15017122661", max_size=2)
    assert re.fullmatch(r"QU[0-9a-f]{32}", made.sid)
    assert (made.friendly_name, made.max_size, made.current_size) == ("sb-line-15017122661", 2, 0)
    taken = twilio_error(
        lambda: tc.create_queue(client, friendly_name=made.friendly_name or "", max_size=3)
    )
    assert (taken.status, taken.code) == (400, 20001)
    assert tc.update_queue(client, made.sid, max_size=3).max_size == 3
    empty = twilio_error(lambda: tc.fetch_queue_front(client, made.sid))
    assert (empty.status, empty.code) == (404, 20404)
    queues = standin.store.queues
    first, second = "CA" + "a" * 32, "CA" + "b" * 32
    assert queues.enqueue(made.friendly_name or "", first, {"From": TO})["position"] == 1
    standin.advance_queues(30)
    assert queues.enqueue(made.friendly_name or "", second, {"From": OTHER})["position"] == 2
    fetched = tc.fetch_queue(client, made.sid)
    assert (fetched.current_size, fetched.average_wait_time) == (2, 15)
    front = tc.fetch_queue_front(client, made.sid)
    assert (front.call_sid, front.position, front.wait_time) == (first, 1, 30)
    assert [q.sid for q in tc.list_queues(client)] == [made.sid]
    assert tc.delete_queue(client, made.sid) is True
    gone = twilio_error(lambda: tc.fetch_queue(client, made.sid))
    assert gone.status == 404


def test_calls_move_through_a_queue_as_on_twilio(standin: TwilioStandin) -> None:
    queues = standin.store.queues
    caller, other, agent = "CA" + "1" * 32, "CA" + "2" * 32, "CA" + "3" * 32
    joined = queues.enqueue("support", caller, {"From": TO})  # made on demand
    assert (joined["result"], joined["position"], joined["maxSize"]) == ("queued", 1, 1000)
    queues.enqueue("support", other, {"From": OTHER})
    seen = queues.view(other)
    assert (seen["position"], seen["size"]) == (2, 2)
    # Taken off the front by another call: bridged; the others move up (a new version).
    taken = queues.dequeue("support", agent, timeout=0)
    assert taken is not None
    assert (taken["callSid"], taken["state"], taken["dequeuedBy"]) == (caller, "bridged", agent)
    moved = queues.wait_change(other, after=seen["version"], timeout=1)
    assert moved["position"] == 1
    ended = queues.end_bridge(caller)
    assert (ended["state"], ended["result"]) == ("ended", "bridged")
    # The clock moves; `<Leave>` takes a call out at once.
    standin.advance_queues(90)
    assert queues.wait_change(other, after=moved["version"], timeout=1)["queueTime"] >= 90
    left = queues.leave(other)
    assert (left["state"], left["result"]) == ("left", "leave")
    assert queues.dequeue("support", agent, timeout=0) is None  # empty: the Dial times out
    assert queues.dequeue("nowhere", agent, timeout=0) == {"error": "no such queue"}
    # A full queue refuses the next call.
    full = tc.create_queue(
        tc.build_client(make_settings(standin)), friendly_name="tiny", max_size=1
    )
    queues.enqueue(full.friendly_name or "", "CA" + "4" * 32, {})
    assert queues.enqueue("tiny", "CA" + "5" * 32, {})["result"] == "queue-full"


def test_a_call_answered_by_hand_rings_until_answered(
    standin: TwilioStandin, client: Any, receiver: Receiver
) -> None:
    standin.set_call_outcome(TO, answer="manual")
    created = tc.create_call(
        client,
        to=TO,
        from_=FROM,
        twiml="<Response><Say>Press 1.</Say></Response>",
        status_callback=receiver.url("/api/status/call"),
    )
    ringing = standin.wait_for_call(TO, timeout=5)
    assert ringing["sid"] == created.sid
    control = f"{standin.base_url}/_standin/calls/{created.sid}"
    answered = requests.post(control + "/answer", timeout=5).json()
    assert (answered["status"], answered["twiml"]) == (
        "in-progress",
        "<Response><Say>Press 1.</Say></Response>",
    )
    assert requests.post(control + "/answer", timeout=5).status_code == 409  # not ringing
    requests.post(control + "/hangup", timeout=5)
    assert standin.wait_idle(5)
    statuses = [r.params["CallStatus"] for r in receiver.for_sid("CallSid", created.sid)]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert standin.calls_to(TO, "completed")[0]["sid"] == created.sid


def test_requests_for_the_public_origin_reach_each_host_in_turn(
    standin: TwilioStandin, client: Any, receiver: Receiver
) -> None:
    public = "https://app.example.com"
    standin.set_routes({public: [receiver.url(""), receiver.url("/")]})
    try:
        created = tc.send_sms(
            client, to=TO, body="hi", from_=FROM, status_callback=f"{public}/api/status/message"
        )
        assert standin.wait_idle(5)
        got = receiver.for_sid("MessageSid", created.sid)
        assert got
        # Signed over the public URL, as Twilio signs what it was given.
        assert all(r.url.startswith(receiver.url("")) for r in got)
        validator = RequestValidator(standin.auth_token)
        assert all(
            validator.validate(f"{public}/api/status/message", r.params, r.signature) for r in got
        )
    finally:
        standin.set_routes({})


def test_http_control_endpoints(standin: TwilioStandin, client: Any) -> None:
    base = standin.base_url + "/_standin"
    rules = {"rules": [{"to": TO, "status": 500, "times": 1}], "latency_ms": 0}
    assert requests.post(base + "/faults", json=rules, timeout=5).json()["rules"][0]["to"] == TO
    error = twilio_error(lambda: tc.send_sms(client, to=TO, body="x", from_=FROM))
    assert (error.status, error.code) == (500, 20500)
    tc.send_sms(client, to=TO, body="x", from_=FROM)
    recorded = requests.get(base + "/requests", params={"method": "POST"}, timeout=5).json()
    assert [r["status"] for r in recorded] == [500, 201]
    assert recorded[0]["fault"]
    assert recorded[1]["form"]["To"] == [TO]
    assert requests.delete(base + "/requests", timeout=5).ok
    assert requests.get(base + "/requests", timeout=5).json() == []
    outcomes = {"calls": {OTHER: {"status": "busy"}}, "messages": {OTHER: {"status": "failed"}}}
    assert requests.post(base + "/outcomes", json=outcomes, timeout=5).json()["calls"][OTHER]
    assert requests.get(base + "/idle", params={"timeout": 5}, timeout=10).json() == {"idle": True}
    state = requests.get(base + "/state", timeout=5).json()
    assert len(state["messages"]) == 1
    bad = requests.post(base + "/faults", json={"rules": [{"bogus": 1}]}, timeout=5)
    assert bad.status_code == 400
    assert requests.post(base + "/reset", timeout=5).ok
    assert requests.get(base + "/state", timeout=5).json() == {
        "messages": [],
        "calls": [],
        "recordings": [],
    }


def test_command_line_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env.update({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN})
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "twilio", "--port", "0", "--latency-ms", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "TWILIO_API_BASE_URL=" in line:
                break
        output = "".join(lines)
        match = re.search(r"TWILIO_API_BASE_URL=(http://127\.0\.0\.1:\d+)", output)
        assert match, output
        assert AUTH_TOKEN not in output
        url = f"{match.group(1)}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"
        response = requests.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
