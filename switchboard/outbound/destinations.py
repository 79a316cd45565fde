"""Where the app may send a text or place a call (pure): the addresses, the countries, the
kinds of number, and our own numbers.

What an address is (`address_kind`): an E.164 number, a channel address wrapping one
(`whatsapp:+1...`), a short code (3-8 digits: Twilio cannot text one, error 21265), an
alphanumeric sender ID (1-11 letters, digits, space and ``+ - _ &`` with at least one letter:
one-way) or something else. Only numbers, and channel addresses wrapping one, can be texted.

Where a number is (`country_of`): its ISO 3166 region as phonenumbers knows it (``GB``, ``GG``
for Guernsey, ``CA`` for Canada: every region its own, as Twilio's Geo Permissions list them),
else the main region of its country calling code (a number phonenumbers cannot place, such as
+1 555 fiction, is judged by its prefix, as Twilio's Geo Permissions are).

Refused destinations (`Destinations.problem`, the reason word a record keeps):

- ``one of our numbers``: the account's numbers, every line, `TWILIO_FROM_NUMBER` (a text to
  ourselves comes straight back; `switchboard.outbound.own_numbers`);
- ``country not allowed``: outside `OUTBOUND_ALLOWED_COUNTRIES` (default: the countries of our
  own numbers; ``*``: every country);
- ``premium-rate number``, ``shared-cost number``: paid by the sender, the whole point of SMS
  pumping;
- ``satellite or international network``: +870 (Inmarsat), +881 (satellite), +882 and +883
  (international networks) and every other number without a country (+800 freephone, ...);
- ``short code``, ``alphanumeric sender``, ``not a phone number``: nothing to text.

Calls (`Channel.CALL`) follow the same rules but our own numbers: dialling one of them is a
loop only for a forward, which the line checks itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from switchboard.outbound.purposes import Channel
from switchboard.phone import is_e164, number_facts

#: Country calling codes of satellite services and international networks (region "001").
INTERNATIONAL_CODES = frozenset({870, 881, 882, 883})
#: Number types nobody should be made to pay for by an outsider.
PAID_TYPES = {"PREMIUM_RATE": "premium-rate number", "SHARED_COST": "shared-cost number"}

OWN_NUMBER = "one of our numbers"
COUNTRY_NOT_ALLOWED = "country not allowed"
INTERNATIONAL = "satellite or international network"


class AddressKind(StrEnum):
    """What a `From` / `To` address is."""

    NUMBER = "number"
    CHANNEL = "channel"
    SHORT_CODE = "short-code"
    ALPHANUMERIC = "alphanumeric"
    OTHER = "other"


_SHORT_CODE = re.compile(r"[0-9]{3,8}")  # ASCII digits: \\d would take any script's
_ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 +&_-]{1,11}")
_CHANNEL = re.compile(r"[a-z][a-z0-9-]*:(.+)")
_KIND_WORDS = {
    AddressKind.SHORT_CODE: "short code",
    AddressKind.ALPHANUMERIC: "alphanumeric sender",
    AddressKind.OTHER: "not a phone number",
}


@lru_cache(maxsize=4096)
def address_kind(address: str) -> AddressKind:
    """Whether `address` is an E.164 number, a channel address, a short code, an alphanumeric
    sender ID or something else (cached: phonenumbers' check costs ~90 µs)."""
    value = address.strip()
    if is_e164(value):
        return AddressKind.NUMBER
    if _SHORT_CODE.fullmatch(value):
        return AddressKind.SHORT_CODE
    if _ALPHANUMERIC.fullmatch(value):
        return AddressKind.ALPHANUMERIC
    if _CHANNEL.fullmatch(value):
        return AddressKind.CHANNEL
    return AddressKind.OTHER


def bare_number(address: str) -> str:
    """The number an address stands for: `whatsapp:+1555...` → `+1555...` (else as given)."""
    value = address.strip()
    match = _CHANNEL.fullmatch(value)
    if match and address_kind(match.group(1)) is AddressKind.NUMBER:
        return match.group(1)
    return value


def is_reachable(address: str) -> bool:
    """Whether a text can usefully go to `address`: a number, or a channel address wrapping
    one (never a short code, an alphanumeric sender ID or anything else)."""
    kind = address_kind(address)
    if kind is AddressKind.NUMBER:
        return True
    return kind is AddressKind.CHANNEL and address_kind(bare_number(address)) is AddressKind.NUMBER


@lru_cache(maxsize=4096)
def country_of(number: str) -> str | None:
    """The ISO 3166 region of a number (see the module doc), ``001`` for one without a country,
    None when it is no number at all."""
    import phonenumbers

    region, code, _ = number_facts(number)
    if region is None and code is not None:
        region = phonenumbers.region_code_for_country_code(code)
        if region == phonenumbers.UNKNOWN_REGION:
            region = None
    return region


def countries_of(numbers: Iterable[str]) -> frozenset[str]:
    """The regions of `numbers` (the default of `OUTBOUND_ALLOWED_COUNTRIES`)."""
    found = {country_of(bare_number(n)) for n in numbers if n}
    return frozenset(r for r in found if r and r != "001")


def number_problem(number: str, allowed: frozenset[str] | None) -> str | None:
    """Why `number` is no destination by country or kind (None: it is one); `allowed` None
    allows every country."""
    _, code, kind = number_facts(number)
    if code in INTERNATIONAL_CODES:
        return INTERNATIONAL
    if kind in PAID_TYPES:
        return PAID_TYPES[kind]
    region = country_of(number)
    if region == "001":
        return INTERNATIONAL
    if region is None:
        return "not a phone number"
    if allowed is not None and region not in allowed:
        return COUNTRY_NOT_ALLOWED
    return None


@dataclass(frozen=True)
class Destinations:
    """The facts every destination check needs, resolved once: our own numbers and the allowed
    countries (None: every country). `by_default`: the countries are those of our own numbers
    (`OUTBOUND_ALLOWED_COUNTRIES` unset), so a number a request shows is ours adds its own."""

    own: frozenset[str]
    allowed: frozenset[str] | None
    by_default: bool = False

    def problem(
        self, address: str, *, channel: Channel = Channel.SMS, also_own: Iterable[str] = ()
    ) -> str | None:
        """Why the app may not text (or call) `address` (None: it may). `also_own`: numbers
        known to be ours from the request itself (the number a text was sent to)."""
        if not address or not address.strip():
            return "not a phone number"
        if channel is not Channel.CALL and not is_reachable(address):
            return _KIND_WORDS.get(address_kind(address), "not a phone number")
        number = bare_number(address)
        also = [n for n in also_own if n]
        if channel is not Channel.CALL and (number in self.own or number in also):
            return OWN_NUMBER
        allowed = self.allowed
        if self.by_default and allowed is not None and also:
            allowed = allowed | countries_of(also)
        return number_problem(number, allowed)

    def is_ours(self, address: str | None, also_own: Iterable[str] = ()) -> bool:
        """Whether `address` is one of our own numbers."""
        if not address:
            return False
        number = bare_number(address)
        return number in self.own or number in set(also_own)

    def describe(self) -> str:
        """`US, CA` or `every country`, for messages."""
        return "every country" if self.allowed is None else ", ".join(sorted(self.allowed))


def explain(reason: str, allowed: str) -> str:
    """A refusal in words an operator can act on (`allowed`: `Destinations.describe`)."""
    if reason == COUNTRY_NOT_ALLOWED:
        return (
            f"is in a country OUTBOUND_ALLOWED_COUNTRIES does not allow (allowed: {allowed}); "
            "add the country to that setting to reach it"
        )
    if reason == OWN_NUMBER:
        return "is one of this app's own numbers: a text sent there comes straight back"
    if reason in ("short code", "alphanumeric sender", "not a phone number"):
        return f"is a {reason}: nothing the app can text"
    return f"is a {reason}: the app never texts or calls one"


def resolve(own: frozenset[str], setting: tuple[str, ...] | None) -> Destinations:
    """The destinations of `OUTBOUND_ALLOWED_COUNTRIES` (`setting`: None = the countries of
    `own`, ``("*",)`` = every country) and our own numbers."""
    if setting == ("*",):
        return Destinations(own, None)
    if setting:
        return Destinations(own, frozenset(setting))
    return Destinations(own, countries_of(own), by_default=True)
