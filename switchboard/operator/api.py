"""Operator API requests and responses, without I/O: validation and JSON shapes (pure).

Every route of the operator API (and the command line, which shares the core) turns what a
caller sent into a typed request here, or raises `ApiError` naming the field; and turns what
Twilio answered into the JSON operators see. Nothing here talks to Twilio or storage, so every
rule is unit-tested directly (tests/unit/operator/test_api.py). The error shape and the query
parameters every listing shares are `switchboard.http`; paging through CallLog and MessageLog is
`switchboard.logbook.listing`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from switchboard.fields import media_urls, phone_field, require_text
from switchboard.http import (
    ApiError,
    invalid,
    parse_date,
    parse_limit,
    query_param,
    twilio_unavailable,
)
from switchboard.twilio.text import MAX_BODY_CHARS

#: Numbers and usage come from Twilio in one page of at most this many.
MAX_TWILIO_LIMIT = 1000

SEND_FIELDS = frozenset({"to", "body", "from", "mediaUrl"})
# Twilio's usage categories are lowercase words joined by hyphens (`sms-outbound`,
# `calls-inbound`, `totalprice`, `a2p-registration-fees`); Twilio's list has hundreds and grows,
# so the shape is checked here and an unknown category simply lists nothing.
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")

# Twilio error codes that name a field of POST /api/messages.
_TWILIO_CODE_FIELDS: dict[int, str] = {
    21211: "to",
    21401: "to",
    21408: "to",
    21610: "to",
    21612: "to",
    21614: "to",
    21212: "from",
    21606: "from",
    21659: "from",
    21660: "from",
    21602: "body",
    21617: "body",
    21619: "body",
    21620: "mediaUrl",
    21623: "mediaUrl",
}
#: Twilio's error code for "the recipient has opted out"; the app refuses with the same code.
OPTED_OUT_CODE = 21610


# --------------------------------------------------------------------------------------------
# POST /api/messages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendRequest:
    """A validated "send now" request."""

    to: str
    body: str
    from_: str | None = None
    media_urls: tuple[str, ...] = ()


def parse_send_request(data: Mapping[str, Any]) -> SendRequest:
    """`{"to", "body", "from"?, "mediaUrl"?}` → SendRequest, or 400 naming the field.

    Unknown fields are refused (a typo such as `"From"` would otherwise be silently ignored).
    """
    for name in sorted(data):
        if name not in SEND_FIELDS:
            raise invalid(
                name, "is not a field of a message (to, body, from, mediaUrl)", "unknown_field"
            )
    to = phone_field(data, "to", required=True)
    body = require_text(data, "body", max_chars=MAX_BODY_CHARS)
    from_ = phone_field(data, "from", required=False)
    assert to is not None  # required=True
    return SendRequest(to=to, body=body, from_=from_, media_urls=media_urls(data, "mediaUrl"))


# --------------------------------------------------------------------------------------------
# Query parameters
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# GET /api/usage and GET /api/numbers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageQuery:
    """A validated usage query: period (GMT dates), category, limit."""

    start: date | None
    end: date | None
    category: str | None
    limit: int


def parse_usage_query(params: Mapping[str, str]) -> UsageQuery:
    """start/end `YYYY-MM-DD` (end not before start), category (Twilio's form), limit 1..1000."""
    raw_start, raw_end = query_param(params, "start"), query_param(params, "end")
    start = parse_date(raw_start, "start") if raw_start else None
    end = parse_date(raw_end, "end") if raw_end else None
    if start and end and end < start:
        raise invalid("end", "must not be before start")
    raw_category = query_param(params, "category")
    category = None
    if raw_category:
        category = raw_category.strip()
        if not _CATEGORY.fullmatch(category):
            raise invalid(
                "category",
                "must be a Twilio usage category such as sms-outbound, calls or totalprice",
            )
    limit = parse_limit(params, maximum=MAX_TWILIO_LIMIT)
    return UsageQuery(start=start, end=end, category=category, limit=limit)


def parse_numbers_query(params: Mapping[str, str]) -> int:
    """The `limit` of GET /api/numbers (1..1000, default 50)."""
    return parse_limit(params, maximum=MAX_TWILIO_LIMIT)


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def points_here(url: str | None, app_base_url: str | None, route: str) -> bool | None:
    """Whether a number's webhook URL is this app's `route` (None when the app's URL is unknown).

    Same scheme, host and port as the app's public URL, and the route's path (the query, such
    as a function key, does not matter).
    """
    if not app_base_url:
        return None
    if not url:
        return False
    origin = _origin(url)
    if origin is None or origin != _origin(app_base_url):
        return False
    base_path = urlsplit(app_base_url).path.rstrip("/")
    return urlsplit(url.strip()).path.rstrip("/") == f"{base_path}/api/{route}"


def number_json(number: Any, app_base_url: str | None) -> dict[str, Any]:
    """An IncomingPhoneNumber (`twilio_client.IncomingNumber`) as operator JSON."""
    caps = {str(k): bool(v) for k, v in dict(number.capabilities or {}).items()}
    for name in ("voice", "sms", "mms", "fax"):
        caps.setdefault(name, False)
    return {
        "sid": number.sid,
        "phoneNumber": number.phone_number,
        "friendlyName": number.friendly_name,
        "capabilities": caps,
        "voiceUrl": number.voice_url,
        "voiceMethod": number.voice_method,
        "smsUrl": number.sms_url,
        "smsMethod": number.sms_method,
        "statusCallback": number.status_callback,
        "voiceUrlPointsHere": points_here(number.voice_url, app_base_url, "voice/incoming"),
        "smsUrlPointsHere": points_here(number.sms_url, app_base_url, "sms/incoming"),
    }


def usage_json(record: Any) -> dict[str, Any]:
    """A usage record (`twilio_client.UsageRecord`) as operator JSON."""
    return {
        "category": record.category,
        "description": record.description,
        "usage": record.usage,
        "usageUnit": record.usage_unit,
        "count": record.count,
        "countUnit": record.count_unit,
        "price": record.price,
        "priceUnit": record.price_unit,
        "startDate": record.start_date.isoformat() if record.start_date else None,
        "endDate": record.end_date.isoformat() if record.end_date else None,
    }


# --------------------------------------------------------------------------------------------
# Twilio failures
# --------------------------------------------------------------------------------------------


def twilio_error(failure: Any) -> ApiError:
    """The operator's answer to a failed Twilio request (`twilio_client.TwilioFailure`).

    Transient (429, 5xx, timeouts) → 503 with Retry-After: the same request may succeed later.
    Permanent with Twilio's code → 400 with that code (as a string), Twilio's message and, when
    the code names one, the field. Twilio refusing the app's own credentials or account (401,
    403, 404) is the app's configuration, not the caller's request → 502.
    """
    if failure.transient:
        return twilio_unavailable(failure.status == 429 or failure.code == 20429)
    status = failure.status
    code = failure.code
    message = str(failure.message or "Twilio refused the request")
    if status in (401, 403, 404) or status is None or not 400 <= status < 500:
        return ApiError(
            502,
            "twilio_rejected",
            "Twilio refused the app's request"
            + (f" (HTTP {status})" if status else "")
            + ": check the TWILIO_* settings",
        )
    extra: dict[str, Any] = {}
    if code is not None:
        extra["moreInfo"] = f"https://www.twilio.com/docs/errors/{code}"
    return ApiError(
        400,
        str(code) if code is not None else "twilio_error",
        message,
        _TWILIO_CODE_FIELDS.get(code) if code is not None else None,
        extra=extra,
    )


def opted_out_error() -> ApiError:
    """400 with Twilio's code 21610: the recipient replied STOP (the app checks before sending)."""
    return ApiError(
        400,
        str(OPTED_OUT_CODE),
        "the recipient has opted out (replied STOP); they must reply START before they can "
        "receive messages again",
        "to",
        extra={"moreInfo": f"https://www.twilio.com/docs/errors/{OPTED_OUT_CODE}"},
    )
