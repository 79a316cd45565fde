"""What a number's webhooks must be to reach this app, and what differs (pure).

Twilio calls a number's `VoiceUrl` for each call, its `SmsUrl` for each text and its
`StatusCallback` when a call ends (the missed-call text-back needs it). When the app fails or
times out, Twilio fetches `VoiceFallbackUrl` / `SmsFallbackUrl` instead: those point at static
documents outside the app (README "Calls survive the app's own outage"), which a blob endpoint
serves only to GET, hence their methods.

The fallback documents of a number are named after its digits and a random token, so nobody can
guess the URL of a document that names the owner's phone; the token of a number already wired
is kept, so wiring again rewrites the same documents and changes nothing at Twilio.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import NamedTuple

VOICE_ROUTE = "/api/voice/incoming"
SMS_ROUTE = "/api/sms/incoming"
CALL_STATUS_ROUTE = "/api/status/call"

_TOKEN = re.compile(r"voice-(\d{1,15})-([0-9a-f]{32})\.xml")


class FallbackNames(NamedTuple):
    """The blob names of one number's fallback documents."""

    voice: str
    voicemail_done: str
    sms: str


def new_token() -> str:
    """A fresh unguessable token (128 bits) for a number's fallback documents."""
    return secrets.token_hex(16)


def fallback_names(number: str, token: str) -> FallbackNames:
    """`voice-<digits>-<token>.xml`, its `-done` companion and `sms-<digits>-<token>.xml`."""
    digits = number.lstrip("+")
    return FallbackNames(
        f"voice-{digits}-{token}.xml",
        f"voice-{digits}-{token}-done.xml",
        f"sms-{digits}-{token}.xml",
    )


def blob_url(container_url: str, name: str) -> str:
    """The URL of a blob of the container."""
    return f"{container_url.rstrip('/')}/{name}"


def existing_token(number: str, voice_fallback_url: str | None, container_url: str) -> str | None:
    """The token of the number's current fallback document in this container, if it has one."""
    if not voice_fallback_url:
        return None
    prefix = container_url.rstrip("/") + "/"
    if not voice_fallback_url.startswith(prefix):
        return None
    match = _TOKEN.fullmatch(voice_fallback_url[len(prefix) :].split("?", 1)[0])
    if match is None or match.group(1) != number.lstrip("+"):
        return None
    return match.group(2)


def desired_webhooks(
    app_origin: str, voice_fallback_url: str | None, sms_fallback_url: str | None
) -> dict[str, str]:
    """Every webhook field a number needs for the app at `app_origin` (Twilio's names)."""
    app = app_origin.rstrip("/")
    wanted = {
        "VoiceUrl": app + VOICE_ROUTE,
        "VoiceMethod": "POST",
        "SmsUrl": app + SMS_ROUTE,
        "SmsMethod": "POST",
        "StatusCallback": app + CALL_STATUS_ROUTE,
        "StatusCallbackMethod": "POST",
    }
    if voice_fallback_url:
        wanted |= {"VoiceFallbackUrl": voice_fallback_url, "VoiceFallbackMethod": "GET"}
    if sms_fallback_url:
        wanted |= {"SmsFallbackUrl": sms_fallback_url, "SmsFallbackMethod": "GET"}
    return wanted


def _same(field: str, current: str | None, wanted: str) -> bool:
    if field.endswith("Method"):  # Twilio's default method is POST
        return (current or "POST").upper() == wanted.upper()
    return (current or "").strip() == wanted


def differences(
    current: Mapping[str, str | None], wanted: Mapping[str, str]
) -> dict[str, tuple[str | None, str]]:
    """{field: (what Twilio has, what it should be)} for every field that differs."""
    return {
        field: (current.get(field), value)
        for field, value in wanted.items()
        if not _same(field, current.get(field), value)
    }
