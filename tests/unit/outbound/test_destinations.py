"""Destinations (pure): addresses, countries, kinds of number, our own numbers."""

from __future__ import annotations

import pytest

from switchboard.outbound import destinations
from switchboard.outbound.destinations import (
    COUNTRY_NOT_ALLOWED,
    INTERNATIONAL,
    OWN_NUMBER,
    AddressKind,
    Destinations,
    address_kind,
    bare_number,
    countries_of,
    country_of,
    explain,
    is_reachable,
    resolve,
)
from switchboard.outbound.purposes import Channel

OURS = frozenset({"+15017122661", "+15017120288"})
US = Destinations(OURS, frozenset({"US"}))


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("+15558675310", AddressKind.NUMBER),
        ("72345", AddressKind.SHORT_CODE),
        ("898", AddressKind.SHORT_CODE),
        ("ACMEBANK", AddressKind.ALPHANUMERIC),
        ("Acme-Bank", AddressKind.ALPHANUMERIC),
        ("Acme Bank&Co", AddressKind.OTHER),  # 12 characters: longer than a sender ID
        ("whatsapp:+15558675310", AddressKind.CHANNEL),
        ("messenger:123456789", AddressKind.CHANNEL),
        ("5558675310", AddressKind.OTHER),
        ("72345\n", AddressKind.SHORT_CODE),  # Twilio's `From` is trimmed first
        ("", AddressKind.OTHER),
    ],
)
def test_addresses_are_told_apart(address: str, kind: AddressKind) -> None:
    assert address_kind(address) is kind


def test_only_numbers_and_channels_wrapping_one_can_be_texted() -> None:
    assert is_reachable("+15558675310")
    assert is_reachable("whatsapp:+15558675310")
    assert bare_number("whatsapp:+15558675310") == "+15558675310"
    for address in ("72345", "ACMEBANK", "messenger:123456789", "whatsapp:abc"):
        assert not is_reachable(address)


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("+15017122661", "US"),
        ("+14165550123", "CA"),  # North America: every country its own, as Geo Permissions
        ("+447911123456", "GG"),  # Guernsey is not GB
        ("+447400123456", "GB"),
        ("+998901234567", "UZ"),
        ("+15558675310", "US"),  # 555 fiction: judged by its prefix, as Geo Permissions are
        ("+881612345678", "001"),
        ("not a number", None),
    ],
)
def test_the_country_of_a_number(number: str, country: str | None) -> None:
    assert country_of(number) == country


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("+15558675310", None),
        ("whatsapp:+15558675310", None),
        ("+15017122661", OWN_NUMBER),
        ("whatsapp:+15017120288", OWN_NUMBER),
        ("+998901234567", COUNTRY_NOT_ALLOWED),
        ("+14165550123", COUNTRY_NOT_ALLOWED),
        ("+19005550123", "premium-rate number"),
        ("+881612345678", INTERNATIONAL),  # satellite
        ("+870772001899", INTERNATIONAL),  # Inmarsat
        ("+8821612345678", INTERNATIONAL),
        ("+883510012345", INTERNATIONAL),
        ("+80012345678", INTERNATIONAL),  # international freephone: no country
        ("72345", "short code"),
        ("ACMEBANK", "alphanumeric sender"),
        ("", "not a phone number"),
    ],
)
def test_what_the_app_never_texts(address: str, reason: str | None) -> None:
    assert US.problem(address) == reason


def test_the_number_a_text_was_sent_to_is_ours_too() -> None:
    assert US.problem("+15557770101", also_own=["+15557770101"]) == OWN_NUMBER
    assert US.is_ours("+15557770101", ["+15557770101"])
    assert not US.is_ours(None)


def test_calls_follow_the_countries_and_kinds_but_not_our_own_numbers() -> None:
    assert US.problem("+15017122661", channel=Channel.CALL) is None
    assert US.problem("+998901234567", channel=Channel.CALL) == COUNTRY_NOT_ALLOWED
    assert US.problem("+19005550123", channel=Channel.CALL) == "premium-rate number"


def test_the_default_countries_are_those_of_our_own_numbers() -> None:
    ours = frozenset({"+15017122661", "+447400123456", "+881612345678", "72345"})
    assert countries_of(ours) == {"US", "GB"}
    assert resolve(ours, None).allowed == {"US", "GB"}
    assert resolve(ours, ("CA",)).allowed == {"CA"}
    assert resolve(ours, ("*",)).allowed is None
    assert resolve(ours, ("*",)).problem("+998901234567") is None
    assert resolve(ours, ("*",)).problem("+19005550123") == "premium-rate number"
    assert resolve(frozenset(), None).problem("+15558675310") == COUNTRY_NOT_ALLOWED


def test_refusals_read_as_rules_an_operator_can_act_on() -> None:
    assert "OUTBOUND_ALLOWED_COUNTRIES" in explain(COUNTRY_NOT_ALLOWED, "US")
    assert "(allowed: US)" in explain(COUNTRY_NOT_ALLOWED, "US")
    assert "own numbers" in explain(OWN_NUMBER, "US")
    assert "premium-rate number" in explain("premium-rate number", "US")


def test_the_allowed_countries_in_words() -> None:
    assert Destinations(frozenset(), frozenset({"US", "CA"})).describe() == "CA, US"
    assert Destinations(frozenset(), None).describe() == "every country"


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (
            "country not allowed",
            "is in a country OUTBOUND_ALLOWED_COUNTRIES does not allow (allowed: US); add the "
            "country to that setting to reach it",
        ),
        ("short code", "is a short code: nothing the app can text"),
        ("alphanumeric sender", "is a alphanumeric sender: nothing the app can text"),
        ("not a phone number", "is a not a phone number: nothing the app can text"),
        ("premium-rate number", "is a premium-rate number: the app never texts or calls one"),
    ],
)
def test_each_refusal_in_words(reason: str, words: str) -> None:
    assert destinations.explain(reason, "US") == words
    assert destinations.explain(destinations.OWN_NUMBER, "US") == (
        "is one of this app's own numbers: a text sent there comes straight back"
    )


def test_a_channel_address_wrapping_no_number_and_a_call_to_no_number_are_refused_by_name() -> None:
    assert US.problem("messenger:123456789") == "not a phone number"
    assert US.problem("5558675310", channel=Channel.CALL) == "not a phone number"
    assert destinations.number_problem("5558675310", None) == "not a phone number"


def test_a_number_a_request_shows_is_ours_adds_its_country_to_the_default_ones() -> None:
    # The countries of our numbers by default: the US. A text came to our British number.
    by_default = resolve(frozenset({"+15017122661"}), None)
    also = ["+447400123499"]
    assert by_default.problem("+447400123456", also_own=also) is None
    assert by_default.problem("+998901234567", also_own=also) == COUNTRY_NOT_ALLOWED
    assert by_default.problem("+447400123456") == COUNTRY_NOT_ALLOWED
    # Countries the setting names are those, whatever number a request shows.
    named = resolve(frozenset({"+15017122661"}), ("US",))
    assert named.problem("+447400123456", also_own=also) == COUNTRY_NOT_ALLOWED
    assert named.problem("+15017122661") == OWN_NUMBER
