"""HTTP answers shared by every route: JSON and TwiML responses, and the one error shape.

Every JSON error is `{"error": {"code", "message", "field"?}}`, with a 4xx status whenever the
caller can fix the request; `ApiError` carries one from wherever it is found (pure rules,
services, the command line) to the JSON route shell (`switchboard.jsonroutes.shell`) that
answers it. The only 5xx are storage's and Twilio's temporary failures (503 with `Retry-After`:
`storage_unavailable`, `twilio_unavailable`) and the app's own configuration, never a caller's
input. `query_param`, `parse_limit`, `parse_datetime` and `parse_date` read query parameters;
`etag` and `parse_if_match` are the versions a resource's writes name (`"3"`, or `*`).
"""

# Annotations are evaluated here (no `from __future__ import annotations`): a NamedTuple
# compiles each string annotation into a ForwardRef, a cost every cold start paid.
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import azure.functions as func

#: Page size of a listing when the caller gives no `limit`, and the largest page of records.
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
#: Seconds a caller should wait after storage failed, or Twilio failed transiently (429 longer).
STORAGE_RETRY_AFTER = 5
TWILIO_RETRY_AFTER = 5
TWILIO_RETRY_AFTER_RATE_LIMITED = 10

# Compiled on first use (by `re`): a TwiML answer needs neither.
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_ETAG = r'\s*(?:W/)?"([0-9]{1,10})"\s*'


class ApiError(Exception):
    """An operator request that cannot be served: HTTP status, error code, message, field.

    A plain exception with its own `__init__`: every webhook imports this module, and a
    dataclass compiled its methods at import on every cold start, TwiML answers included.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        retry_after: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after
        #: Extra members of the error object (Twilio's `moreInfo`, ...).
        self.extra: Mapping[str, Any] = {} if extra is None else extra

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        """The error body `{"error": {"code", "message", "field"?}}`."""
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


def storage_unavailable(exc: BaseException) -> ApiError:
    """503 with `Retry-After` for a Table or Queue Storage failure, logged by the exception's
    type only (its message may name the account)."""
    from switchboard.logs import get_logger

    get_logger(__name__).error("Storage failed: %s", type(exc).__name__)
    return unavailable(
        "storage_unavailable",
        "Table Storage is not available right now: retry later",
        STORAGE_RETRY_AFTER,
    )


def twilio_unavailable(rate_limited: bool) -> ApiError:
    """503 with `Retry-After` for Twilio's transient failure (longer when it rate-limited us)."""
    return unavailable(
        "twilio_unavailable",
        "Twilio is temporarily unavailable"
        + (" (rate limited)" if rate_limited else "")
        + ": retry later",
        TWILIO_RETRY_AFTER_RATE_LIMITED if rate_limited else TWILIO_RETRY_AFTER,
    )


def etag(version: int) -> str:
    """The ETag of a version: the number, quoted (`"3"`)."""
    return f'"{version}"'


class Precondition(NamedTuple):
    """What `If-Match` asks for: any current version (`*`), or this one."""

    any_version: bool = False
    version: int | None = None


def parse_if_match(header: str | None) -> Precondition | None:
    """`If-Match` as a Precondition (None when absent); 400 when it is not one of our ETags."""
    if header is None or not header.strip():
        return None
    if header.strip() == "*":
        return Precondition(any_version=True)
    found = re.fullmatch(_ETAG, header)
    if not found:
        raise ApiError(
            400, "invalid_header", 'If-Match: must be an ETag of this API ("3") or *', "If-Match"
        )
    return Precondition(version=int(found.group(1)))


def query_param(params: Mapping[str, str], name: str) -> str | None:
    """A query parameter's value (None when absent); given but empty → 400 naming it."""
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.strip():
        raise invalid(name, "must not be empty (leave the parameter out for its default)")
    return raw


def parse_limit(
    params: Mapping[str, str], *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT
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
        if re.fullmatch(_ISO_DATE, text):
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
        if not re.fullmatch(_ISO_DATE, text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(name, "must be a date in the form YYYY-MM-DD") from None


class DuplicateKey(ValueError):
    """A JSON object that names one key twice: which value was meant cannot be told."""

    def __init__(self, key: str) -> None:
        shown = key if len(key) <= 40 else key[:40] + "…"
        super().__init__(f"the key {shown!r} appears twice in one object")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


def loads_json(text: str | bytes) -> Any:
    """JSON text as `json.loads` reads it, except that an object naming a key twice is refused
    (`DuplicateKey`, a ValueError) instead of keeping the last value silently."""
    return json.loads(text, object_pairs_hook=_unique_keys)


def json_bytes(data: Any, *, indent: int | None = None, sort_keys: bool = False) -> bytes:
    """`data` as UTF-8 JSON: non-ASCII text as itself, so it stays readable and small. A string
    holding a lone surrogate (which no UTF-8 encoder takes: a row written by hand, not through
    the checks) turns the whole text into ASCII with `\\u` escapes, still valid JSON, instead of
    failing the answer."""
    options: dict[str, Any] = {"indent": indent, "sort_keys": sort_keys, "default": str}
    if indent is None:
        options["separators"] = (",", ":")
    try:
        return json.dumps(data, ensure_ascii=False, **options).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, **options).encode("ascii")


def json_response(
    data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    """A JSON response (UTF-8, compact)."""
    return func.HttpResponse(
        json_bytes(data),
        status_code=status_code,
        mimetype="application/json",
        charset="utf-8",
        headers=headers,
    )


def twiml_response(xml: str, status_code: int = 200) -> func.HttpResponse:
    """TwiML as Twilio expects it: text/xml."""
    return func.HttpResponse(xml, status_code=status_code, mimetype="text/xml", charset="utf-8")


def plain_response(text: str, status_code: int) -> func.HttpResponse:
    """A short text/plain answer (Twilio callbacks: no detail, no TwiML)."""
    return func.HttpResponse(text, status_code=status_code, mimetype="text/plain")


def no_content() -> func.HttpResponse:
    """204, no body."""
    return func.HttpResponse(status_code=204)


def forbidden() -> func.HttpResponse:
    """403 with no TwiML: the answer to a request without a valid Twilio signature."""
    return func.HttpResponse("Forbidden", status_code=403, mimetype="text/plain")


def api_error_response(error: ApiError) -> func.HttpResponse:
    """The answer for an `ApiError`: its status, body and headers."""
    return json_response(error.body(), error.status, error.headers() or None)
