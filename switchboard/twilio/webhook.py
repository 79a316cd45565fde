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
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
from werkzeug.datastructures import ImmutableMultiDict

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


class _FormParams(ImmutableMultiDict[str, str]):
    """werkzeug's multi-dict (what `req.form` returns) plus `getall`, the method twilio's
    RequestValidator tries first: without it the validator pays two caught AttributeErrors per
    parameter, which doubles the cost of a signature check."""

    getall = ImmutableMultiDict.getlist


def form_params(req: func.HttpRequest) -> Any:
    """The form parameters, as `req.form` has them (repeated keys kept, blank values kept).

    Twilio posts `application/x-www-form-urlencoded` UTF-8: parsed here directly, as werkzeug
    does but without its general form machinery (as costly as the signature check itself).
    A body that is not UTF-8 is decoded with replacement characters, so it fails the signature
    check (403) instead of raising. Other content types go through `req.form`.
    """
    content_type = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return req.form
    text = req.get_body().decode("utf-8", "replace")
    return _FormParams(parse_qsl(text, keep_blank_values=True, errors="replace"))


def verify(req: func.HttpRequest, settings: Settings) -> TwilioRequest | None:
    """The verified request, or None when the signature is missing or wrong."""
    url = public_url(req.url, req.headers, settings.public_base_url)
    form = form_params(req)
    if settings.signature_validation_enabled:
        token = settings.twilio_auth_token or ""
        if not is_valid_signature(token, url, form, req.headers.get(SIGNATURE_HEADER)):
            logger.warning(
                "Rejected a webhook without a valid Twilio signature: %s %s (from %s)",
                req.method,
                req.url.split("?", 1)[0],
                mask(form.get("From")),
            )
            return None
    repeated = {key: form.getlist(key) for key in form}
    return TwilioRequest(
        url=url,
        params={key: values[0] for key, values in repeated.items()},
        repeated={key: values for key, values in repeated.items() if len(values) > 1},
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
