"""The lookup's memory: one read per number and TTL, the last known answer while storage is
down, at most `size` numbers; and how a person is named."""

from __future__ import annotations

import pytest

from switchboard.contacts import lookup
from switchboard.contacts.lookup import ContactCache, display_name
from switchboard.contacts.rules import ContactRef
from switchboard.settings import load_settings

DANA = ContactRef("c00000000000a", name="Dana Reyes", blocked=True)


def test_one_read_per_number_and_ttl() -> None:
    clock = [0.0]
    cache = ContactCache(15, clock=lambda: clock[0])
    reads: list[str] = []

    def load(number: str) -> ContactRef | None:
        reads.append(number)
        return DANA if number == "+12015550123" else None

    for _ in range(3):
        assert cache.get("+12015550123", load) is DANA
        assert cache.get("+12015550100", load) is None  # nobody is remembered too
    assert reads == ["+12015550123", "+12015550100"]
    clock[0] = 15.0
    cache.get("+12015550123", load)
    assert reads[-1] == "+12015550123"
    assert cache.loads == 3


def test_storage_down_keeps_the_last_known_answer_and_asks_once_per_ttl() -> None:
    clock = [0.0]
    cache = ContactCache(15, clock=lambda: clock[0])
    cache.put("+12015550123", DANA)
    calls = []

    def down(number: str) -> ContactRef | None:
        calls.append(number)
        raise ConnectionError("storage down")

    clock[0] = 20.0
    assert cache.get("+12015550123", down) is DANA
    assert cache.get("+12015550123", down) is DANA
    assert cache.get("+12015550100", down) is None
    assert calls == ["+12015550123", "+12015550100"]


def test_the_least_recently_used_numbers_go_first() -> None:
    cache = ContactCache(60, size=2)
    cache.put("+1", DANA)
    cache.put("+2", None)
    cache.get("+1", lambda n: pytest.fail("remembered"))
    cache.put("+3", None)  # +2 goes: +1 was used since
    reads: list[str] = []
    cache.get("+2", lambda n: reads.append(n) or None)
    assert reads == ["+2"]


def test_only_e164_numbers_are_looked_up() -> None:
    settings = load_settings({"LINES_CACHE_SECONDS": "60"})
    lookup.forget_cached_contacts()
    before = lookup.cache(settings).loads  # the process's cache: other tests read through it
    for caller in ("anonymous", "", None, "12345", "Acme", "+1 201 555 0123"):
        assert lookup.contact_for(settings, caller) is None
    assert lookup.cache(settings).loads == before
    lookup.remember(settings, {"+12015550123": DANA, "+12015550100": None})
    assert lookup.contact_for(settings, " +12015550123 ") is DANA
    assert lookup.is_blocked(settings, "+12015550123")
    assert not lookup.is_blocked(settings, "+12015550100")
    assert lookup.contacts_for(settings, ["+12015550123", "+12015550123", None]) == {
        "+12015550123": DANA
    }
    assert lookup.cache(settings).loads == before
    lookup.forget_cached_contacts()


def test_how_a_person_is_named() -> None:
    assert display_name(DANA, "+12015550123") == "Dana Reyes"
    assert display_name(ContactRef("c1", company="ACME"), "+12015550123") == "ACME"
    assert display_name(ContactRef("c1"), "+12015550123") == "+1201***0123"
    assert display_name(None, "+12015550123") == "+1201***0123"
    assert display_name(None, "anonymous") == "a withheld number"


def test_a_listing_reads_the_numbers_it_does_not_remember_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cold numbers are read side by side (all four reads are in flight together), each once;
    a remembered one is not read again."""
    import threading

    settings = load_settings({"LINES_CACHE_SECONDS": "60"})
    lookup.forget_cached_contacts()
    lookup.cache(settings).put("+12015550100", None)
    together = threading.Barrier(4, timeout=5)
    reads: list[str] = []

    def load(number: str, _settings: object) -> ContactRef | None:
        reads.append(number)
        together.wait()  # breaks (and fails the test) unless the four reads overlap
        return DANA if number == "+12015550123" else None

    monkeypatch.setattr(lookup, "load", load)
    numbers = ["+12015550123", "+12015550100", "+12015550101", "+12015550102", "+12015550103"]
    found = lookup.contacts_for(settings, [*numbers, "+12015550123", "anonymous", None])
    assert found == {
        "+12015550123": DANA,
        "+12015550100": None,
        "+12015550101": None,
        "+12015550102": None,
        "+12015550103": None,
        "anonymous": None,
    }
    assert sorted(reads) == sorted(numbers[:1] + numbers[2:])
    lookup.forget_cached_contacts()


def test_a_note_names_the_number_as_the_contacts_do() -> None:
    """A note to the business's people (a reminder's reply, a missed call back) names the
    customer with the number; a number nobody names is the number alone."""
    settings = load_settings({"LINES_CACHE_SECONDS": "60"})
    lookup.forget_cached_contacts()
    lookup.remember(settings, {"+15558675310": DANA, "+15558675311": None})
    try:
        assert lookup.with_name(settings, "+15558675310") == "Dana Reyes (+15558675310)"
        assert lookup.with_name(settings, "+15558675311") == "+15558675311"
        assert lookup.with_name(settings, "anonymous") == "anonymous"
    finally:
        lookup.forget_cached_contacts()
