"""The twilio Client factory: credentials, base URL rewriting, pool, timeout, cache, cold start."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from switchboard.settings import MissingSettingError, Settings
from switchboard.twilio import client as tc

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-token-for-unit-tests"
KEY_SID = "SK" + "0" * 31 + "2"
KEY_SECRET = "fake-key-secret-for-unit-tests"
ROOT = Path(__file__).resolve().parents[3]


def settings(**changes: object) -> Settings:
    values: dict[str, object] = {
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_api_base_url": "http://127.0.0.1:4010",
        "sms_send_concurrency": 48,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    tc.reset_client_cache()


def test_import_does_not_load_the_twilio_client_or_http_stacks() -> None:
    code = (
        "import sys, switchboard.twilio.client\n"
        "heavy = [m for m in ('twilio.rest', 'twilio.http.http_client', 'requests', 'aiohttp')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=2",
            "http://127.0.0.1:4010",
            "http://127.0.0.1:4010/2010-04-01/Accounts/AC1/Messages.json?PageSize=2",
        ),
        (
            "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts.json",
            "http://localhost:9999",
            "http://localhost:9999/2010-04-01/Accounts.json",
        ),
        (
            "https://api.twilio.com/2010-04-01/x.json",
            "https://gateway.example/twilio/",
            "https://gateway.example/twilio/2010-04-01/x.json",
        ),
        (
            "https://example.com/media/1.png",
            "http://127.0.0.1:4010",
            "https://example.com/media/1.png",
        ),
        (
            "https://api.twilio.com/2010-04-01/x.json",
            "https://api.twilio.com",
            "https://api.twilio.com/2010-04-01/x.json",
        ),
    ],
)
def test_rewrite_api_url(url: str, base: str, expected: str) -> None:
    assert tc.rewrite_api_url(url, base) == expected


def test_auth_token_credentials() -> None:
    client = tc.build_client(settings())
    assert client.username == ACCOUNT_SID
    assert client.password == AUTH_TOKEN
    assert client.account_sid == ACCOUNT_SID


def test_api_key_wins_when_set() -> None:
    client = tc.build_client(settings(twilio_api_key_sid=KEY_SID, twilio_api_key_secret=KEY_SECRET))
    assert (client.username, client.password) == (KEY_SID, KEY_SECRET)
    assert client.account_sid == ACCOUNT_SID


def test_api_key_without_account_token_is_enough() -> None:
    client = tc.build_client(
        settings(
            twilio_auth_token=None, twilio_api_key_sid=KEY_SID, twilio_api_key_secret=KEY_SECRET
        )
    )
    assert client.username == KEY_SID


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"twilio_account_sid": None}, "TWILIO_ACCOUNT_SID"),
        ({"twilio_auth_token": None}, "TWILIO_AUTH_TOKEN"),
        ({"twilio_auth_token": None, "twilio_api_key_sid": KEY_SID}, "TWILIO_AUTH_TOKEN"),
    ],
)
def test_missing_credentials_name_the_setting_never_the_value(
    changes: dict[str, object], name: str
) -> None:
    with pytest.raises(MissingSettingError) as caught:
        tc.build_client(settings(**changes))
    assert caught.value.name == name
    assert AUTH_TOKEN not in str(caught.value)


def test_pool_sized_to_concurrency_on_http_and_https_with_a_timeout() -> None:
    client = tc.build_client(settings(sms_send_concurrency=48), timeout=7.5)
    http = client.http_client
    assert http.timeout == 7.5
    for url in ("http://127.0.0.1:4010/x", "https://api.twilio.com/x"):
        adapter = http.session.get_adapter(url)
        assert adapter._pool_maxsize == 48
        assert adapter.max_retries.total == 0


def test_cached_client_is_shared_and_thread_safe() -> None:
    seen: list[object] = []
    barrier = threading.Barrier(16)

    def grab() -> None:
        barrier.wait()
        seen.append(tc.get_client(settings()))

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 16
    assert len({id(c) for c in seen}) == 1
    # other settings → another client; same settings again → the cached one
    other = tc.get_client(settings(twilio_api_base_url="http://127.0.0.1:4011"))
    assert other is not seen[0]
    assert tc.get_client(settings()) is seen[0]


def test_async_client_uses_the_rewriting_async_http_client() -> None:
    client = tc.build_async_client(settings(), timeout=3)
    assert client.http_client.is_async
    assert client.http_client.base_url == "http://127.0.0.1:4010"
    assert client.http_client.timeout == 3


def test_operation_arguments_are_checked_before_any_request() -> None:
    client = tc.build_client(settings())
    with pytest.raises(ValueError, match="from_ or messaging_service_sid"):
        tc.send_sms(client, to="+15558675310", body="hi")
    with pytest.raises(ValueError, match="body or media_urls"):
        tc.send_sms(client, to="+15558675310", body="", from_="+15017122661")
    with pytest.raises(ValueError, match="exactly one of twiml and url"):
        tc.create_call(client, to="+15558675310", from_="+15017122661")
    with pytest.raises(ValueError, match="exactly one of twiml and url"):
        tc.create_call(
            client, to="+15558675310", from_="+15017122661", twiml="<Response/>", url="https://x"
        )
    with pytest.raises(ValueError, match="limit"):
        tc.list_incoming_numbers(client, 0)


def test_credentials_go_only_to_twilios_api_host_and_the_configured_base() -> None:
    from switchboard.twilio.client import credentials_go_to

    stand_in = "http://127.0.0.1:4010"
    assert credentials_go_to(
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", stand_in
    )
    assert credentials_go_to("https://api.dublin.ie1.twilio.com/x", stand_in)
    assert credentials_go_to("http://127.0.0.1:4010/2010-04-01/x", stand_in)
    assert credentials_go_to("https://api.twilio.com/x", "https://api.twilio.com")
    for elsewhere in (
        "https://storage.example.com/recordings/RE1.mp3",
        "http://api.twilio.com/x",  # plain http: not Twilio's API as it serves it
        "https://api.twilio.com.evil.org/x",
        "https://api.twilio.com:8443/x",
        "http://localhost:4010/_external/Recordings/RE1.mp3",  # another host name
        "http://127.0.0.1:4011/x",  # another port
        "https://media.twiliocdn.com/x",
    ):
        assert not credentials_go_to(elsewhere, stand_in), elsewhere
