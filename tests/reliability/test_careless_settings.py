"""Careless settings: settings that leak secrets or invite loops are refused
clearly, naming the setting (never its value), and URLs are normalised as Twilio normalises them.

- `TWILIO_API_BASE_URL` over plain `http://` in Azure would send the auth token (basic auth) in
  clear text: refused unless the host is a loopback address (a local stand-in or Prism).
- `OWNER_NUMBER`, `VOICE_FORWARD_TO` or a `VOICE_MENU` forward equal to one of the app's own
  numbers invite loops (a text forwarded to ourselves, a call dialling ourselves): refused when it
  is `TWILIO_FROM_NUMBER` (known from settings alone); `GET /api/health` also reports it when it is
  any number of the account (IncomingPhoneNumbers).
- `PUBLIC_BASE_URL` with an upper-case host was once kept as written, so the URL the signature
  is checked over differs from the one Twilio signed (Twilio requests, and signs, the host in
  lower case): scheme and host are normalised to lower case, a default port is dropped.

Through the local host, the public face of a setting problem: `GET /api/health` lists it under
`settings.invalid` (and answers 503), webhooks answer 503. A few direct checks of
`switchboard.settings` (the one owner of settings) pin the parser itself.
"""

from __future__ import annotations

import json

import pytest

from devkit.simulator import sign_and_post
from devkit.twilio_standin import TwilioStandin
from switchboard.settings import SettingsError, load_settings
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.app_clients import sms_params
from tests.reliability.conftest import (
    AUTH_TOKEN,
    BUSINESS,
    FUNCTION_KEY,
    MENU,
    HostFactory,
    app_env,
)

IN_AZURE = {"WEBSITE_INSTANCE_ID": "0123456789abcdef-rel", "WEBSITE_SITE_NAME": "sb-rel"}
#: A number the Twilio stand-in lists among the account's IncomingPhoneNumbers (seeded), and
#: that is not TWILIO_FROM_NUMBER.
ACCOUNT_NUMBER = "+15017122661"


def invalid_settings(host: HostHandle) -> list[str]:
    answer = host.request("GET", "/api/health", headers={"x-functions-key": FUNCTION_KEY})
    body = answer.json()
    return [str(problem) for problem in body["settings"]["invalid"]]


def named(problems: list[str], name: str) -> bool:
    return any(problem.startswith(name + ":") for problem in problems)


def test_plain_http_to_twilio_is_refused_in_azure(
    rel_host: HostFactory, standin: TwilioStandin
) -> None:
    """`TWILIO_API_BASE_URL=http://...` in Azure (the auth token would travel in clear
    text). Unguarded: accepted."""
    env = app_env("httpapi", TWILIO_API_BASE_URL="http://api.twilio.com", **IN_AZURE)
    host = rel_host(PROJECT_ROOT, env)
    problems = invalid_settings(host)
    assert named(problems, "TWILIO_API_BASE_URL"), problems
    assert "http://api.twilio.com" not in json.dumps(problems)


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("OWNER_NUMBER", {"OWNER_NUMBER": BUSINESS}),
        ("VOICE_FORWARD_TO", {"VOICE_FORWARD_TO": BUSINESS, "VOICE_MENU": None}),
        (
            "VOICE_MENU",
            {
                "VOICE_MENU": json.dumps(
                    {
                        **MENU,
                        "options": {**MENU["options"], "1": {"action": "forward", "to": BUSINESS}},
                    }
                )
            },
        ),
    ],
    ids=["owner", "forward", "menu-forward"],
)
def test_a_number_that_is_our_own_sender_is_refused(
    rel_host: HostFactory, standin: TwilioStandin, name: str, overrides: dict[str, str | None]
) -> None:
    """Forwarding texts or calls to `TWILIO_FROM_NUMBER` (BUSINESS) loops. Unguarded:
    accepted."""
    env = app_env("ownnum", TWILIO_API_BASE_URL=standin.base_url, **overrides)
    host = rel_host(PROJECT_ROOT, env)
    problems = invalid_settings(host)
    assert named(problems, name), problems


def test_an_owner_number_of_the_account_is_reported_by_health(
    rel_host: HostFactory, standin: TwilioStandin
) -> None:
    """`OWNER_NUMBER` on another number of the same Twilio account (only Twilio knows
    it): `GET /api/health` says so, naming the setting. Unguarded: health is `ok`."""
    env = app_env("acctnum", TWILIO_API_BASE_URL=standin.base_url, OWNER_NUMBER=ACCOUNT_NUMBER)
    host = rel_host(PROJECT_ROOT, env)
    problems = invalid_settings(host)
    assert named(problems, "OWNER_NUMBER"), problems


def test_a_public_base_url_in_upper_case_still_validates_twilios_signature(
    rel_host: HostFactory, standin: TwilioStandin
) -> None:
    """`PUBLIC_BASE_URL=https://Switchboard-Rel.Example.COM` while Twilio requests and
    signs `https://switchboard-rel.example.com/...`. Unguarded: every webhook answers 403."""
    env = app_env(
        "casebase",
        TWILIO_API_BASE_URL=standin.base_url,
        PUBLIC_BASE_URL="https://Switchboard-Rel.Example.COM",
    )
    host = rel_host(PROJECT_ROOT, env)
    answer = sign_and_post(
        host.api("sms/incoming"),
        sms_params("+15557770170", BUSINESS, "hello"),
        auth_token=AUTH_TOKEN,
        signed_url="https://switchboard-rel.example.com/api/sms/incoming",
    )
    assert answer.status == 200, (answer.status, answer.body)


# --- the parser itself (switchboard/settings.py) -------------------


def base(**values: str) -> dict[str, str]:
    return {"TWILIO_FROM_NUMBER": BUSINESS, **values}


def problems_of(environ: dict[str, str]) -> list[str]:
    try:
        load_settings(environ)
    except SettingsError as exc:
        return [p.name for p in exc.problems]
    return []


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        (base(TWILIO_API_BASE_URL="http://api.twilio.com", **IN_AZURE), "TWILIO_API_BASE_URL"),
        (base(TWILIO_API_BASE_URL="http://10.0.0.7:4010", **IN_AZURE), "TWILIO_API_BASE_URL"),
        (base(OWNER_NUMBER=BUSINESS), "OWNER_NUMBER"),
        (base(VOICE_FORWARD_TO=BUSINESS), "VOICE_FORWARD_TO"),
    ],
    ids=["http-in-azure", "http-private-address", "owner-is-sender", "forward-is-sender"],
)
def test_the_parser_refuses_careless_values(environ: dict[str, str], name: str) -> None:
    """The same rules, one setting each. Unguarded: all accepted."""
    assert problems_of(environ) == [name]


def test_the_parser_normalises_the_public_origin_and_keeps_loopback_http() -> None:
    """Host and scheme in lower case, default port dropped; `http://127.0.0.1` (a
    local stand-in) stays allowed in Azure. Unguarded the case is kept as written."""
    settings = load_settings(
        base(
            PUBLIC_BASE_URL="HTTPS://Switchboard-Rel.Example.COM:443/",
            TWILIO_API_BASE_URL="http://127.0.0.1:4010",
            **IN_AZURE,
        )
    )
    assert settings.public_base_url == "https://switchboard-rel.example.com"
    assert settings.twilio_api_base_url == "http://127.0.0.1:4010"
