"""Who a number is, as a webhook reads it from the number row's summary: only values of the
right type are taken, anything else reads as absent."""

from __future__ import annotations

from switchboard.contacts.refs import ContactRef, number_row, ref_from_summary, summary_of


def test_a_summary_read_as_the_lookup_needs_it() -> None:
    assert ref_from_summary(
        {"id": "c1", "name": "Dana", "company": "ACME", "blocked": True, "tags": ["VIP", 3]}
    ) == ContactRef("c1", "Dana", "ACME", True, ("VIP",))
    assert (ref_from_summary({"id": "c1", "company": "ACME"}).label) == "ACME"


def test_values_of_another_type_read_as_absent() -> None:
    assert ref_from_summary({}) == ContactRef("")
    assert ref_from_summary(
        {"id": "c1", "name": 5, "company": ["ACME"], "blocked": "yes", "tags": "VIP"}
    ) == ContactRef("c1")


def test_the_row_and_its_summary() -> None:
    assert number_row("+12015550123") == "n-+12015550123"
    assert summary_of('{"id": "c1"}') == {"id": "c1"}
    assert summary_of("[1]") == {}
    assert summary_of("{") == {}
    assert summary_of(None) == {}
