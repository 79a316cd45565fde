"""The shell every Twilio-facing route shares: settings, signature check, form parsing.

A route calls `twilio_webhook(req, respond)`; `respond` gets a plain `TwilioRequest` and the
settings and returns the HTTP response. A request without a valid signature gets 403, no TwiML,
and `respond` is never called, so nothing is written. Broken settings answer 503 with no detail
(the problem is logged once by `get_settings`), never a stack trace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

import azure.functions as func

from switchboard.http import forbidden
from switchboard.logs import get_logger
from switchboard.phone import mask
from switchboard.settings import Settings, SettingsError, get_settings
from switchboard.twilio.signature import SIGNATURE_HEADER, is_valid_signature, public_url

logger = get_logger(__name__)

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


@dataclass(frozen=True)
class TwilioRequest:
    """A verified webhook: the public URL, form parameters, and Twilio's retry token."""

    url: str
    params: dict[str, str]
    repeated: dict[str, list[str]] = field(default_factory=dict)
    idempotency_token: str | None = None

    def get(self, name: str, default: str = "") -> str:
        """A parameter's (first) value."""
        return self.params.get(name, default)


def _unavailable() -> func.HttpResponse:
    return func.HttpResponse("Service unavailable", status_code=503, mimetype="text/plain")


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


def parse_form(text: str) -> tuple[FormParams, dict[str, str]]:
    """An `application/x-www-form-urlencoded` body: every value of each name, and the first.

    The same pairs as ``parse_qsl(text, keep_blank_values=True, errors="replace")`` (a property
    test holds them equal), in one pass that decodes only the pieces that need it: parse_qsl
    costs a third of a signature check on a 21-parameter webhook, and every call pays it.
    """
    params = FormParams()
    first: dict[str, str] = {}
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
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
            logger.warning(
                "Rejected a webhook without a valid Twilio signature: %s %s (from %s)",
                req.method,
                req.url.split("?", 1)[0],
                mask(form.first("From")),
            )
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
    # Reported once per process (SPEC: a missing setting is reported once, clearly).
    logger.error("TWILIO_AUTH_TOKEN is not set: webhook signatures cannot be validated")


def twilio_webhook(
    req: func.HttpRequest,
    respond: Callable[[TwilioRequest, Settings], func.HttpResponse],
) -> func.HttpResponse:
    """Run `respond` for a verified Twilio request; 403 or 503 otherwise."""
    try:
        settings = get_settings()
    except SettingsError:
        return _unavailable()
    if settings.signature_validation_enabled and not settings.twilio_auth_token:
        _report_missing_token_once()
        return _unavailable()
    verified = verify(req, settings)
    if verified is None:
        return forbidden()
    return respond(verified, settings)
