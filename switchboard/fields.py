"""The checks of a JSON request's fields every route shares (pure): text, phone numbers, https
URLs, each failing with 400 naming the field (`switchboard.http.invalid`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from switchboard.http import invalid
from switchboard.phone import is_e164
from switchboard.twilio.text import MAX_MEDIA, is_valid_unicode

MAX_URL_CHARS = 2048


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
    if not is_valid_unicode(value):
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
    if any(c.isspace() for c in value) or not value.isprintable() or not is_valid_unicode(value):
        raise invalid(name, "must be an https URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise invalid(name, "must be an https URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise invalid(name, "must be an absolute https URL")
    return value


def media_urls(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """An optional list of at most `MAX_MEDIA` https media URLs (absent: none)."""
    if name not in data:
        return ()
    raw = data[name]
    if not isinstance(raw, list):
        raise invalid(name, "must be a list of https URLs")
    if len(raw) > MAX_MEDIA:
        raise invalid(name, f"must hold at most {MAX_MEDIA} URLs")
    return tuple(https_url(item, name) for item in raw)
