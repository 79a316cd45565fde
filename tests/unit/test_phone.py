"""`switchboard.phone.number_facts`: what phonenumbers says of a number, in one cached call."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from switchboard.phone import number_facts

NAMES = {v: n for n, v in vars(PhoneNumberType).items() if not n.startswith("_")}


@pytest.mark.parametrize(
    "number",
    [
        "+12025550100",  # US, a region's plan holds it
        "+33612345678",  # FR mobile
        "+15555550100",  # +1 555: no region's plan holds it
        "+447700900123",  # a UK drama number: no region either
        "+88160000000",  # non-geographic (001)
        "+80012345678",  # freephone, non-geographic
    ],
)
def test_facts_are_phonenumbers_own_answers(number: str) -> None:
    # A number no region holds is answered without asking its type: the answer must be the one
    # phonenumbers would have given (UNKNOWN), as for every other number.
    parsed = phonenumbers.parse(number, None)
    expected = (
        phonenumbers.region_code_for_number(parsed),
        parsed.country_code,
        NAMES[phonenumbers.number_type(parsed)],
    )
    assert number_facts(number) == expected


def test_what_cannot_be_parsed_is_invalid() -> None:
    assert number_facts("abc") == (None, None, "INVALID")
