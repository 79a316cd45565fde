"""Operator API requests and responses, without I/O: validation, paging and JSON shapes (pure).

Every route of SPEC "Operator API" (and the command line, which shares the core) turns what a
caller sent into a typed request here, or raises `ApiError` naming the field; and turns what
Twilio or Table Storage answered into the JSON operators see. Nothing here talks to Twilio or
storage, so every rule is unit-tested directly (tests/unit/test_operator_api.py).

Errors have one shape, `{"error": {"code", "message", "field"?}}`; `ApiError.status` is 4xx for
anything the caller can fix. The only 5xx are Twilio's own transient failures (503 with
`Retry-After`) and the app's broken configuration or storage, never a caller's input.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from switchboard import records
from switchboard.phone import is_e164
from switchboard.sms.keywords import MAX_BODY_CHARS, MAX_MEDIA

MAX_URL_CHARS = 2048
#: Listing history: default and largest page.
DEFAULT_LIMIT = 50
MAX_HISTORY_LIMIT = 100
#: Numbers and usage come from Twilio in one page of at most this many.
MAX_TWILIO_LIMIT = 1000
#: `since` defaults to this far back.
DEFAULT_SINCE = timedelta(days=30)
#: One request reads at most this many days of the history index (one partition per day); an
#: older `since` is reached by following `nextCursor`, so no request can ask for a year of scans.
MAX_WINDOW_DAYS = 31
#: Seconds a caller should wait after Twilio's transient failure (429 gets longer).
RETRY_AFTER_SECONDS = 5
RETRY_AFTER_RATE_LIMITED = 10

SEND_FIELDS = frozenset({"to", "body", "from", "mediaUrl"})
# Twilio's usage categories are lowercase words joined by hyphens (`sms-outbound`,
# `calls-inbound`, `totalprice`, `a2p-registration-fees`); Twilio's list has hundreds and grows,
# so the shape is checked here and an unknown category simply lists nothing.
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Index RowKeys (`records.index_row`): inverted milliseconds (14+ digits), a hyphen, the id.
_INDEX_ROW = re.compile(r"^(\d{14,16})-(.+)$", re.DOTALL)
_CURSOR_PREFIX = "v1:"
# The index row of the epoch holds the inversion constant: inverted ms + real ms = this.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INVERSION = int(records.index_row(_EPOCH, "").split("-", 1)[0])

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


@dataclass(eq=False)
class ApiError(Exception):
    """An operator request that cannot be served: HTTP status, error code, message, field."""

    status: int
    code: str
    message: str
    field: str | None = None
    retry_after: int | None = None
    #: Extra members of the error object (Twilio's `moreInfo`, ...).
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        """The SPEC error body `{"error": {"code", "message", "field"?}}`."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        error.update(self.extra)
        return {"error": error}

    def headers(self) -> dict[str, str]:
        """Response headers: `Retry-After` for a temporary failure."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


def invalid(field_name: str, message: str, code: str = "invalid_field") -> ApiError:
    """400 naming the field."""
    return ApiError(400, code, f"{field_name}: {message}", field_name)


def not_found(kind: str, key: str) -> ApiError:
    """404 for an unknown record (the key is echoed only when short and printable)."""
    shown = key if len(key) <= 64 and key.isprintable() else "(given)"
    return ApiError(404, "not_found", f"no {kind} with id {shown}")


def unavailable(code: str, message: str, retry_after: int | None = None) -> ApiError:
    """503: a dependency (Twilio, storage) or the app's configuration is not available."""
    return ApiError(503, code, message, retry_after=retry_after)


# --------------------------------------------------------------------------------------------
# Field checks
# --------------------------------------------------------------------------------------------


def parse_json_object(raw: bytes | str | None) -> dict[str, Any]:
    """The request body as a JSON object, or 400 `invalid_json`."""
    if raw is None or raw in (b"", ""):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and undecodable bytes (UnicodeDecodeError).
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return value


def _encodable(value: str) -> bool:
    # A lone surrogate ("\ud800" in JSON) cannot be sent to Twilio or stored: refuse it here.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_text(data: Mapping[str, Any], name: str, *, max_chars: int) -> str:
    """A required non-blank string field of at most `max_chars` characters."""
    if name not in data or data[name] is None:
        raise invalid(name, "is required", "missing_field")
    return optional_text(data, name, max_chars=max_chars) or ""


def optional_text(data: Mapping[str, Any], name: str, *, max_chars: int) -> str | None:
    """An optional string field (absent → None); blank, too long or not text → 400."""
    if name not in data:
        return None
    value = data[name]
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if not value.strip():
        raise invalid(name, "must not be blank")
    if len(value) > max_chars:
        raise invalid(name, f"must be at most {max_chars} characters")
    if not _encodable(value):
        raise invalid(name, "must be valid Unicode text")
    return value


def phone_field(data: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    """An E.164 phone number field."""
    if required and (name not in data or data[name] is None):
        raise invalid(name, "is required", "missing_field")
    if name not in data:
        return None
    value = data[name]
    if not isinstance(value, str) or not is_e164(value.strip()):
        raise invalid(name, "must be an E.164 phone number such as +15017122661")
    return value.strip()


def https_url(value: object, name: str) -> str:
    """An absolute https URL (Twilio fetches media over the internet)."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_CHARS:
        raise invalid(name, f"must be an https URL of at most {MAX_URL_CHARS} characters")
    if any(c.isspace() for c in value) or not value.isprintable() or not _encodable(value):
        raise invalid(name, "must be an https URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise invalid(name, "must be an https URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise invalid(name, "must be an absolute https URL")
    return value


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
    media: list[str] = []
    if "mediaUrl" in data:
        raw = data["mediaUrl"]
        if not isinstance(raw, list):
            raise invalid("mediaUrl", "must be a list of https URLs")
        if len(raw) > MAX_MEDIA:
            raise invalid("mediaUrl", f"must hold at most {MAX_MEDIA} URLs")
        media = [https_url(item, "mediaUrl") for item in raw]
    assert to is not None  # required=True
    return SendRequest(to=to, body=body, from_=from_, media_urls=tuple(media))


# --------------------------------------------------------------------------------------------
# Query parameters
# --------------------------------------------------------------------------------------------


def query_param(params: Mapping[str, str], name: str) -> str | None:
    """A query parameter's value (None when absent); given but empty → 400 naming it."""
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.strip():
        raise invalid(name, "must not be empty (leave the parameter out for its default)")
    return raw


def parse_limit(
    params: Mapping[str, str], *, default: int = DEFAULT_LIMIT, maximum: int = MAX_HISTORY_LIMIT
) -> int:
    """`limit`: a whole number in 1..maximum (default `default`)."""
    raw = query_param(params, "limit")
    if raw is None:
        return default
    text = raw.strip()
    if not text.isdigit() or not text.isascii() or len(text) > 6 or not 1 <= int(text) <= maximum:
        raise invalid("limit", f"must be a whole number between 1 and {maximum}")
    return int(text)


def parse_datetime(raw: str, name: str) -> datetime:
    """ISO-8601 date-time (UTC when it has no offset) or date (its midnight UTC), in UTC."""
    text = raw.strip()
    try:
        if _ISO_DATE.match(text):
            value = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        # Year 1 with a positive offset (or 9999 with a negative one) leaves datetime's range.
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid(name, "must be an ISO-8601 date-time such as 2026-11-01T09:00:00Z") from None


def parse_date(raw: str, name: str) -> date:
    """A calendar date `YYYY-MM-DD` (Twilio's usage dates are GMT days)."""
    text = raw.strip()
    try:
        if not _ISO_DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(name, "must be a date in the form YYYY-MM-DD") from None


def encode_cursor(index_row: str) -> str:
    """The opaque `nextCursor` for a listing that continues after an index row."""
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + index_row).encode("utf-8")).decode("ascii")


def decode_cursor(raw: str) -> str:
    """The index row a cursor from `encode_cursor` holds, or 400 naming `cursor`."""
    try:
        text = base64.urlsafe_b64decode(raw.strip().encode("ascii")).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid("cursor", "is not a cursor this API returned") from None
    row = text.removeprefix(_CURSOR_PREFIX)
    if (
        not text.startswith(_CURSOR_PREFIX)
        or not _INDEX_ROW.match(row)
        or not records.is_valid_key(row)
    ):
        raise invalid("cursor", "is not a cursor this API returned")
    try:
        index_row_time(row)
    except (ValueError, OverflowError):
        raise invalid("cursor", "is not a cursor this API returned") from None
    return row


def index_row_time(row: str) -> datetime:
    """The creation time (ms) an index RowKey encodes."""
    match = _INDEX_ROW.match(row)
    if match is None:
        raise ValueError("not an index row")
    ms = _INVERSION - int(match.group(1))
    if not 0 <= ms <= _INVERSION:
        raise ValueError("index row time out of range")
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class HistoryQuery:
    """`GET /api/messages`: since, until, limit, and the cursor of the previous page."""

    since: datetime
    limit: int
    until: datetime | None = None
    after: str | None = None


def parse_history_query(params: Mapping[str, str], now: datetime) -> HistoryQuery:
    """since (ISO-8601, default 30 days before until), until (default now), limit (1..100),
    cursor (a `nextCursor`)."""
    raw_until = query_param(params, "until")
    # Nothing was recorded before 1970; clamping keeps date arithmetic far from year 1.
    until = max(parse_datetime(raw_until, "until"), _EPOCH) if raw_until else None
    raw_since = query_param(params, "since")
    if raw_since:
        since = parse_datetime(raw_since, "since")
    else:
        since = min(until or now, now) - DEFAULT_SINCE
    since = max(since, _EPOCH)
    limit = parse_limit(params)
    raw_cursor = query_param(params, "cursor")
    after = decode_cursor(raw_cursor) if raw_cursor else None
    return HistoryQuery(since=since, limit=limit, until=until, after=after)


@dataclass(frozen=True)
class HistoryWindow:
    """What one listing request reads: records created in [since, until] after `after`.

    `older` is the cursor to continue below `since` when the window was cut short of the
    caller's `since` (MAX_WINDOW_DAYS), whatever this page finds.
    """

    since: datetime
    until: datetime
    after: str | None
    older: str | None


def plan_window(query: HistoryQuery, now: datetime) -> HistoryWindow | None:
    """The window of one listing request, or None when nothing can match (cursor below since)."""
    until = min(query.until or now, now)
    if query.after:
        until = min(until, index_row_time(query.after))
    if until < query.since:
        return None
    first_day = until.astimezone(UTC).date() - timedelta(days=MAX_WINDOW_DAYS - 1)
    window_start = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    if query.since >= window_start:
        return HistoryWindow(query.since, until, query.after, None)
    # "~" sorts after any id made of printable ASCII: the next page starts below window_start.
    return HistoryWindow(window_start, until, query.after, records.index_row(window_start, "~"))


def history_page(
    entities: Sequence[Mapping[str, Any]],
    query: HistoryQuery,
    window: HistoryWindow | None,
    key: str = "messages",
) -> dict[str, Any]:
    """`{key: [...], "nextCursor", "since", "limit"}` from up to limit+1 records read newest
    first in `window` (None: nothing could match)."""
    limit = query.limit
    items = list(entities[:limit])
    cursor: str | None = None
    if len(entities) > limit:
        last = items[-1]
        created = last.get("CreatedAt")
        if isinstance(created, datetime):
            cursor = encode_cursor(records.index_row(created, str(last["Id"])))
    elif window is not None and window.older is not None:
        cursor = encode_cursor(window.older)
    return {
        key: [records.to_json(dict(e)) for e in items],
        "nextCursor": cursor,
        "since": records.iso(query.since),
        "limit": limit,
    }


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
        if not _CATEGORY.match(category):
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
        rate_limited = failure.status == 429 or failure.code == 20429
        return unavailable(
            "twilio_unavailable",
            "Twilio is temporarily unavailable"
            + (" (rate limited)" if rate_limited else "")
            + ": retry later",
            RETRY_AFTER_RATE_LIMITED if rate_limited else RETRY_AFTER_SECONDS,
        )
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
