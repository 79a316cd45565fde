"""Phone numbers: E.164 checks, withheld callers, masking for logs, and time zones (pure,
phonenumbers-based)."""

from __future__ import annotations

import re
from functools import lru_cache

# E.164: a plus, a non-zero country digit, 7 to 14 more digits (15 digits at most in all).
# ASCII digits only (`\d` also takes Arabic-Indic and other digits, which phonenumbers reads
# as their values: "+١٥٥..." would pass and then never equal the number Twilio sends).
_E164_SHAPE = re.compile(r"\+[1-9][0-9]{7,14}")

#: What Twilio sends as `From` when the caller withheld their number: words, and the same
#: words typed on a phone keypad (ANONYMOUS, RESTRICTED, UNAVAILABLE, UNKNOWN, BLOCKED). The one
#: list: whoever hears or reads a caller (a whisper, a voicemail notice) and whoever would text
#: one back asks `is_withheld`.
WITHHELD_CALLERS = frozenset(
    {
        "",
        "anonymous",
        "restricted",
        "unavailable",
        "unknown",
        "private",
        "withheld",
        "blocked",
        "+266696687",
        "+7378742833",
        "+86282452253",
        "+8656696",
        "+2562533",
    }
)
#: How a withheld caller is named to a person.
WITHHELD_LABEL = "a withheld number"


class InvalidPhoneNumber(ValueError):
    """A value is not a valid E.164 phone number."""


def is_e164(value: str) -> bool:
    """Whether `value` is written in E.164 and is a possible number (phonenumbers' opinion)."""
    if not _E164_SHAPE.fullmatch(value):
        return False
    # phonenumbers (~20 ms with its metadata) loads on the first check, not at cold start.
    import phonenumbers

    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(parsed))


def require_e164(value: str, field: str) -> str:
    """Return `value` if it is E.164, else raise InvalidPhoneNumber naming `field`."""
    if not isinstance(value, str) or not is_e164(value):
        raise InvalidPhoneNumber(f"{field}: not an E.164 phone number (e.g. +15017122661)")
    return value


def is_withheld(caller: str | None) -> bool:
    """Whether `caller` (a webhook's `From`) is a withheld number rather than a caller's."""
    return (caller or "").strip().lower() in WITHHELD_CALLERS


def mask(value: str | None) -> str:
    """Mask a phone number for logs: `+15558675310` → `+1555***5310`; other text is hidden."""
    if not value:
        return ""
    if value.startswith("+") and len(value) >= 9 and value[1:].isdigit():
        return f"{value[:5]}***{value[-4:]}"
    if value.startswith(("client:", "sip:")):
        return value.split(":", 1)[0] + ":***"
    return "***"


@lru_cache(maxsize=4096)
def time_zones_for(value: str) -> tuple[str, ...]:
    """IANA time zones phonenumbers associates with the number (may be several, or none)."""
    import phonenumbers
    from phonenumbers import timezone as phone_timezone

    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in phone_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
