"""Twilio webhook signatures: the one module that decides whether a request came from Twilio.

Twilio signs `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + sorted POST parameters)),
over the URL exactly as *it* called it: scheme, host, port, path and query string (including a
function key in `code`). Behind ngrok, Azure Front Door or App Service's own front end the app
sees another scheme, host or port, so the URL is rebuilt in this order:

1. `PUBLIC_BASE_URL` (the https origin Twilio uses) + the request's path and query;
2. else `X-Forwarded-Proto` / `X-Forwarded-Host` (first value of each; the forwarded host may
   carry a port) + path and query;
3. else the request URL as received.

twilio's `RequestValidator` then checks the signature with and without the default port, as
Twilio's own helpers do. The query string is kept byte for byte: re-encoding it would change what
was signed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

from switchboard.logs import get_logger

logger = get_logger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


def _first(value: str | None) -> str | None:
    """First entry of a comma-separated forwarded header (proxies append theirs)."""
    if not value:
        return None
    first = value.split(",")[0].strip()
    return first or None


def public_url(request_url: str, headers: Mapping[str, str], public_base_url: str | None) -> str:
    """The URL Twilio called, rebuilt from the request as the app received it."""
    if public_base_url:
        return _rebuilt(request_url, None, None, public_base_url)
    return _rebuilt(
        request_url, headers.get("x-forwarded-proto"), headers.get("x-forwarded-host"), None
    )


@functools.lru_cache(maxsize=256)
def _rebuilt(
    request_url: str, forwarded_proto: str | None, forwarded_host: str | None, base_url: str | None
) -> str:
    # A pure function of its arguments, and a webhook route sees the same few of them again and
    # again (same URL, same proxy): remembered, the rebuild costs a lookup.
    parts = urlsplit(request_url)
    if base_url:
        base = urlsplit(base_url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
    scheme = _first(forwarded_proto) or parts.scheme
    host = _first(forwarded_host) or parts.netloc
    return urlunsplit((scheme.lower(), host, parts.path, parts.query, ""))


def is_valid_signature(
    auth_token: str,
    url: str,
    params: Any,
    signature: str | None,
) -> bool:
    """Whether `signature` is Twilio's for this URL and form parameters.

    `params` is a mapping; a multi-dict (werkzeug's, as `HttpRequest.form` returns) keeps
    repeated keys, which Twilio signs value by value.
    """
    if not signature or not auth_token:
        return False
    try:
        return bool(RequestValidator(auth_token).validate(url, params, signature))
    except ValueError:
        # A URL the validator cannot parse (a forged X-Forwarded-Host such as `host:abc` or
        # `[::1`): not Twilio's, so refused, never a 500.
        return False


def sign(auth_token: str, url: str, params: Mapping[str, Any]) -> str:
    """The signature Twilio would send for this URL and parameters (status callbacks, tests)."""
    return str(RequestValidator(auth_token).compute_signature(url, params))
