"""Callback host: URLs the app gives Twilio come from trusted configuration.

Unguarded, with `PUBLIC_BASE_URL` unset, `POST /api/messages` builds the message's `StatusCallback`
from the request: `X-Forwarded-Host: evil.example.org` (or a `Host` header) makes Twilio post
every status of that message, with both numbers, to `https://evil.example.org/...`; `GET
/api/numbers` reports that origin as the app's. In Azure the scheduled-SMS timer sends without
any `StatusCallback` unless `PUBLIC_BASE_URL` is set, although the host name is known.

After the fix the origin is `PUBLIC_BASE_URL`, else in Azure `https://$WEBSITE_HOSTNAME` (set by
the platform: the app's default `*.azurewebsites.net` name), never a request header. Outside
Azure without `PUBLIC_BASE_URL` (a laptop) the origin the request reached is used only when it is
a loopback address (`func start`, `python -m devkit host`); otherwise the message goes without
`StatusCallback` and a warning says to set `PUBLIC_BASE_URL`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.app_clients import operator_api as api
from tests.reliability.conftest import HostFactory, app_env, wait_until

EVIL = "evil.example.org"
AZURE_HOST = "switchboard-rel.azurewebsites.net"
HOSTILE_HEADERS = {
    "x-forwarded-host": {"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"},
    "host": {"Host": EVIL},
}


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def callback_of(standin: TwilioStandin, to: str) -> str | None:
    (sent,) = [r for r in standin.requests("POST", resource="Messages") if r.param("To") == to]
    return sent.param("StatusCallback")


@pytest.fixture(scope="module")
def local(rel_host_module: HostFactory, standin: TwilioStandin) -> HostHandle:
    """The app on a laptop: no PUBLIC_BASE_URL, not in Azure."""
    env = app_env("cbhost", TWILIO_API_BASE_URL=standin.base_url, PUBLIC_BASE_URL=None)
    return rel_host_module(PROJECT_ROOT, env)


@pytest.fixture(scope="module")
def azure(rel_host_module: HostFactory, standin: TwilioStandin) -> HostHandle:
    """The app as in Azure: WEBSITE_INSTANCE_ID and WEBSITE_HOSTNAME set by the platform, no
    PUBLIC_BASE_URL; the timer every 2 s."""
    env = app_env(
        "cbazure",
        TWILIO_API_BASE_URL=standin.base_url,
        PUBLIC_BASE_URL=None,
        WEBSITE_INSTANCE_ID="0123456789abcdef-rel",
        WEBSITE_HOSTNAME=AZURE_HOST,
        SMS_TIMER_SCHEDULE="*/2 * * * * *",
        SMS_QUIET_HOURS=None,
    )
    return rel_host_module(PROJECT_ROOT, env)


@pytest.mark.parametrize("kind", sorted(HOSTILE_HEADERS))
def test_a_request_header_never_becomes_the_status_callback(
    local: HostHandle, standin: TwilioStandin, kind: str
) -> None:
    """`POST /api/messages` with a forged forwarded host or Host header. Unguarded the
    StatusCallback Twilio gets is `https://evil.example.org/api/status/message`."""
    to = new_number()
    status, answer = api(
        local, "POST", "messages", {"to": to, "body": "Your order shipped"}, HOSTILE_HEADERS[kind]
    )
    assert status == 201, answer
    callback = callback_of(standin, to)
    assert callback is None or EVIL not in callback, callback
    assert callback in (None, f"{local.url}/api/status/message"), callback


@pytest.mark.parametrize("kind", sorted(HOSTILE_HEADERS))
def test_a_request_header_never_becomes_the_apps_origin(local: HostHandle, kind: str) -> None:
    """`GET /api/numbers` tells whether each number's webhooks point at this app, by
    comparing with the app's origin. Unguarded that origin is taken from the forged header."""
    status, answer = api(local, "GET", "numbers", headers=HOSTILE_HEADERS[kind])
    assert status == 200, answer
    assert EVIL not in str(answer.get("appBaseUrl")), answer.get("appBaseUrl")


def test_in_azure_callbacks_go_to_the_sites_host_name(
    azure: HostHandle, standin: TwilioStandin
) -> None:
    """In Azure without PUBLIC_BASE_URL, `https://$WEBSITE_HOSTNAME`, whatever the
    request says. Unguarded: the request's own origin (here `http://127.0.0.1:<port>`), or the
    forged one."""
    for headers in [{}, HOSTILE_HEADERS["x-forwarded-host"]]:
        to = new_number()
        status, answer = api(azure, "POST", "messages", {"to": to, "body": "Shipped"}, headers)
        assert status == 201, answer
        assert callback_of(standin, to) == f"https://{AZURE_HOST}/api/status/message"


def test_in_azure_scheduled_sms_get_a_status_callback(
    azure: HostHandle, standin: TwilioStandin
) -> None:
    """The timer uses the same trusted origin. Unguarded it sends scheduled SMS without a
    StatusCallback when PUBLIC_BASE_URL is unset, so their records never follow Twilio."""
    to = new_number()
    send_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")
    status, answer = api(
        azure, "POST", "sms/schedules", {"to": to, "body": "Reminder", "sendAt": send_at}
    )
    assert status == 201, answer
    wait_until(
        lambda: [r for r in standin.requests("POST", resource="Messages") if r.param("To") == to],
        30,
        "the scheduled SMS sent",
    )
    assert callback_of(standin, to) == f"https://{AZURE_HOST}/api/status/message"
