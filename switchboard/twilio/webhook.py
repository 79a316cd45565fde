"""The shell every Twilio-facing route shares: settings, signature check, form parsing.

A route calls `twilio_webhook(req, respond)`; `respond` gets a plain `TwilioRequest` and the
settings and returns the HTTP response. A request without a valid signature gets 403, no TwiML,
and `respond` is never called, so nothing is written. Broken settings answer 503 with no detail
(the problem is logged once by `get_settings`), never a stack trace.

Junk is refused before it costs anything: parsing a form and hashing it for the
signature check is the expensive part (a million parameters took seconds), so each refusal
below costs O(1) or one byte scan, in this order:

1. settings (cached);
2. no `X-Twilio-Signature` header (or one longer than any signature): 403, nothing else read;
3. a URL longer than `MAX_WEBHOOK_URL`: 414;
4. a body longer than `MAX_WEBHOOK_BYTES`, or with more parameters than `MAX_WEBHOOK_PARAMS`
   (counted as `&` separators, without parsing): 413;
5. parse (one pass, `parse_form`) and check the signature: 403 when wrong.

Twilio publishes no maximum webhook size; the caps sit far above what it can send. Its largest
webhooks are bounded by its own limits: an SMS/MMS of 1,600 characters (6,400 UTF-8 bytes for
emoji, 19,200 once percent-encoded) with 10 media and ~30 other parameters is ~25 KB and ~60
parameters; a voice webhook with a SHAKEN PASSporT, a CallToken, SIP headers and Marketplace
add-on results (`AddOns` JSON) runs to tens of KB and ~100 parameters; Twilio's own callback
URLs are at most 4,000 characters (error 21609). So 256 KiB is 10x the largest SMS and ~5x a
call with 48 KB of add-on results, 1,000 parameters is 10x the longest list, and 8 KiB of URL is
twice Twilio's limit. Twilio adds parameters without notice, hence the wide margins.

Refusals are logged as one summary line per route and reason per minute at most: a flood of
junk must not become a flood of log lines.
"""

# Annotations are evaluated here (no `from __future__ import annotations`): a NamedTuple
# compiles each string annotation into a ForwardRef, a cost every cold start paid.
import functools
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple
from urllib.parse import unquote, unquote_plus, urlsplit

import azure.functions as func

from switchboard.http import forbidden
from switchboard.logs import get_logger
from switchboard.settings import Settings, SettingsError, get_settings
from switchboard.twilio.signature import SIGNATURE_HEADER, is_valid_signature, public_url

logger = get_logger(__name__)

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"

#: Largest body accepted (bytes): 10x Twilio's largest SMS webhook (see the module doc).
MAX_WEBHOOK_BYTES = 256 * 1024
#: Most form parameters accepted: 10x the longest list Twilio sends.
MAX_WEBHOOK_PARAMS = 1000
#: Longest request URL accepted (characters): twice Twilio's limit on callback URLs.
MAX_WEBHOOK_URL = 8 * 1024
#: Longest `X-Twilio-Signature` accepted: base64 of HMAC-SHA1 is 28 characters, of SHA-256 44.
MAX_SIGNATURE_CHARS = 128
#: At most one summary line per route and reason in this many seconds.
REFUSAL_LOG_INTERVAL = 60.0
#: Routes and reasons the refusal log counts apart (the app has a dozen webhook routes and a
#: handful of reasons); beyond that, refusals share one entry per reason, so a flood of
#: made-up paths grows neither the log nor the memory.
MAX_REFUSAL_KEYS = 128
OTHER_PATHS = "(other paths)"


class TwilioRequest(NamedTuple):
    """A verified webhook: the public URL, form parameters (the first value of each), those
    sent more than once (every value), and Twilio's retry token.

    A NamedTuple: immutable and compared by value as a frozen dataclass, at a fifth of its cost
    to define on every cold start.
    """

    url: str
    params: dict[str, str]
    repeated: Mapping[str, list[str]] = MappingProxyType({})
    idempotency_token: str | None = None

    def get(self, name: str, default: str = "") -> str:
        """A parameter's (first) value."""
        return self.params.get(name, default)


def _unavailable() -> func.HttpResponse:
    return func.HttpResponse("Service unavailable", status_code=503, mimetype="text/plain")


def _plain(status: int, text: str) -> func.HttpResponse:
    return func.HttpResponse(text, status_code=status, mimetype="text/plain")


class RefusalLog:
    """Counts refused requests per (route, reason) and logs a summary at most once per
    `interval` seconds for each: the first refusal at once, then "N more" lines."""

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._logged_at: dict[tuple[str, str], float] = {}

    def refused(self, route: str, reason: str) -> None:
        """Count one refusal; log the summary when the interval has passed."""
        key = (route, reason)
        now = time.monotonic()
        with self._lock:
            if key not in self._counts and len(self._counts) >= MAX_REFUSAL_KEYS:
                key = (OTHER_PATHS, reason)
            count = self._counts.get(key, 0) + 1
            last = self._logged_at.get(key)
            if last is not None and now - last < self.interval:
                self._counts[key] = count
                return
            self._counts[key] = 0
            self._logged_at[key] = now
        logger.warning(
            "Refused %d webhook request(s) to %s%s: %s",
            count,
            key[0],
            "" if last is None else f" in the last {now - last:.0f} s",
            reason,
        )


refusals = RefusalLog()


def _route(req: func.HttpRequest) -> str:
    """The request's route for the refusal log: its path as routing matches it (letter case,
    escapes and a trailing slash make no other route), bounded: the URL is not checked yet."""
    try:
        path = urlsplit(req.url[:1024]).path
    except ValueError:
        return "(unparsable URL)"
    return unquote(path).lower().rstrip("/")[:80] or "/"


def junk_refusal(req: func.HttpRequest, settings: Settings) -> func.HttpResponse | None:
    """The answer to a request that is refused before any parsing, or None to go on.

    Only the signature header, the URL's length and the raw body (its length and a count of
    `&`) are looked at: each check costs at most one scan of the bytes.
    """
    if settings.signature_validation_enabled:
        signature = req.headers.get(SIGNATURE_HEADER)
        if not signature or len(signature) > MAX_SIGNATURE_CHARS:
            refusals.refused(_route(req), "no X-Twilio-Signature (403)")
            return forbidden()
    if len(req.url) > MAX_WEBHOOK_URL:
        refusals.refused(_route(req), f"URL longer than {MAX_WEBHOOK_URL} characters (414)")
        return _plain(414, "URI too long")
    body = req.get_body() or b""
    if len(body) > MAX_WEBHOOK_BYTES:
        refusals.refused(_route(req), f"body larger than {MAX_WEBHOOK_BYTES} bytes (413)")
        return _plain(413, "Payload too large")
    if body.count(b"&") + 1 > MAX_WEBHOOK_PARAMS:
        refusals.refused(_route(req), f"more than {MAX_WEBHOOK_PARAMS} parameters (413)")
        return _plain(413, "Payload too large")
    return None


class FormParams(dict[str, list[str]]):
    """Form parameters: each name with all its values, in the order Twilio sent them.

    `getall` is the method twilio's RequestValidator tries first: here a plain dict lookup, the
    validator's fast path (a mapping without it costs two caught AttributeErrors per parameter;
    werkzeug's `getlist` copies the values every time it is asked).
    """

    getall = dict.__getitem__

    def first(self, name: str, default: str = "") -> str:
        """A parameter's first value."""
        values = self.get(name)
        return values[0] if values else default


def _decoded(text: str) -> str:
    # What parse_qsl does to each name and value ('+' is a space, then %-escapes, invalid UTF-8
    # replaced), skipped for the many pieces that hold neither.
    if "%" in text or "+" in text:
        return unquote_plus(text, errors="replace")
    return text


#: Escaped `&` and `=`: decoded before the split, each would cut a name or value in two.
_ESCAPED_SEPARATORS = ("%26", "%3D", "%3d")


def parse_form(text: str) -> tuple[FormParams, dict[str, str]]:
    """An `application/x-www-form-urlencoded` body: every value of each name, and the first.

    The same pairs as ``parse_qsl(text, keep_blank_values=True, errors="replace")`` (a property
    test holds them equal), in one pass: parse_qsl costs a third of a signature check on a
    21-parameter webhook, and every call pays it. A body whose escapes hold no `&` or `=` (what
    Twilio sends: `%2B` in numbers, `+` for spaces) is decoded once as a whole, which is the
    same as decoding each name and value (an escape never spans a separator); otherwise only
    the pieces that hold an escape are decoded, each on its own.
    """
    decode_each = False
    if "%" in text or "+" in text:
        if not any(escaped in text for escaped in _ESCAPED_SEPARATORS):
            text = unquote_plus(text, errors="replace")
        else:
            decode_each = True
    params = FormParams()
    first: dict[str, str] = {}
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if decode_each:
            name, value = _decoded(name), _decoded(value)
        values = params.get(name)
        if values is None:
            params[name] = [value]
            first[name] = value
        else:
            values.append(value)
    return params, first


def form_params(req: func.HttpRequest) -> FormParams:
    """The form parameters, as `req.form` has them (repeated keys kept, blank values kept)."""
    return _form_of(req)[0]


def _form_of(req: func.HttpRequest) -> tuple[FormParams, dict[str, str]]:
    """(every value of each name, the first value of each name) of the request's form.

    Twilio posts `application/x-www-form-urlencoded` UTF-8: parsed here directly
    (`parse_form`), without werkzeug's general form machinery, which costs as much as the
    signature check itself. A body that is not UTF-8 is decoded with replacement characters,
    so it fails the signature check (403) instead of raising. Other content types go through
    `req.form`.
    """
    content_type = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        form = req.form
        params = FormParams({name: form.getlist(name) for name in form})
        return params, {name: values[0] for name, values in params.items()}
    return parse_form(req.get_body().decode("utf-8", "replace"))


def verify(req: func.HttpRequest, settings: Settings) -> TwilioRequest | None:
    """The verified request, or None when the signature is missing or wrong."""
    url = public_url(req.url, req.headers, settings.public_base_url)
    form, first = _form_of(req)
    if settings.signature_validation_enabled:
        token = settings.twilio_auth_token or ""
        if not is_valid_signature(token, url, form, req.headers.get(SIGNATURE_HEADER)):
            refusals.refused(_route(req), "invalid X-Twilio-Signature (403)")
            return None
    return TwilioRequest(
        url=url,
        params=first,
        repeated={name: values for name, values in form.items() if len(values) > 1}
        if len(first) != sum(map(len, form.values()))
        else {},
        idempotency_token=req.headers.get(IDEMPOTENCY_HEADER),
    )


@functools.cache
def _report_missing_token_once() -> None:
    # Reported once per process (a missing setting is reported once, clearly: not on every request).
    logger.error("TWILIO_AUTH_TOKEN is not set: webhook signatures cannot be validated")


def twilio_webhook(
    req: func.HttpRequest,
    respond: Callable[[TwilioRequest, Settings], func.HttpResponse],
) -> func.HttpResponse:
    """Run `respond` for a verified Twilio request; 403, 413, 414 or 503 otherwise."""
    try:
        settings = get_settings()
    except SettingsError:
        return _unavailable()
    if settings.signature_validation_enabled and not settings.twilio_auth_token:
        _report_missing_token_once()
        return _unavailable()
    refused = junk_refusal(req, settings)
    if refused is not None:
        return refused
    try:
        verified = verify(req, settings)
    except ValueError:
        # werkzeug's own bounds on a body that is not form-encoded (`req.form`).
        refusals.refused(_route(req), "too many parameters (413)")
        return _plain(413, "Payload too large")
    if verified is None:
        return forbidden()
    return respond(verified, settings)
