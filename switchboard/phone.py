"""Phone numbers: E.164 checks, withheld callers, masking for logs, and time zones (pure,
phonenumbers-based)."""

from __future__ import annotations

import re
from functools import lru_cache

# E.164: a plus, a non-zero country digit, 7 to 14 more digits (15 digits at most in all).
# ASCII digits only (`\d` also takes Arabic-Indic and other digits, which phonenumbers reads
# as their values: "+١٥٥..." would pass and then never equal the number Twilio sends).
# Compiled on first use (`re` keeps it).
_E164_SHAPE = r"\+[1-9][0-9]{7,14}"

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
    if not re.fullmatch(_E164_SHAPE, value):
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


#: phonenumbers' `PhoneNumberType` members by value (filled on first use).
_TYPE_NAMES: dict[int, str] = {}


@lru_cache(maxsize=8192)
def number_facts(value: str) -> tuple[str | None, int | None, str]:
    """(ISO 3166 region, country calling code, phonenumbers' number type name) of an E.164
    number: ``("US", 1, "FIXED_LINE_OR_MOBILE")``; ``(None, None, "INVALID")`` when it cannot be
    parsed. Non-geographic numbers (international networks, satellite, +800 freephone) have
    the region ``"001"``."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    if not _TYPE_NAMES:
        _TYPE_NAMES.update(
            {v: n for n, v in vars(PhoneNumberType).items() if not n.startswith("_")}
        )
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None, None, "INVALID"
    region = phonenumbers.region_code_for_number(parsed)
    if region is None:
        # No region's plan holds it, so it has no type either: `number_type` would only walk
        # every region of its calling code again (25 for +1) to answer UNKNOWN.
        return None, parsed.country_code, "UNKNOWN"
    kind = _TYPE_NAMES.get(phonenumbers.number_type(parsed), "UNKNOWN")
    return region, parsed.country_code, kind


def region_of(value: str) -> str | None:
    """The ISO 3166 alpha-2 region of an E.164 number (``"001"`` for non-geographic ones)."""
    return number_facts(value)[0]


def known_regions() -> frozenset[str]:
    """Every ISO 3166 alpha-2 region phonenumbers knows a numbering plan for."""
    import phonenumbers

    return frozenset(phonenumbers.SUPPORTED_REGIONS)
