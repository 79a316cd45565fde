"""The Contacts table against Azurite: a contact and its index rows in one transaction, a
number held by one contact only, racing writers, the listing and search read only their
rows, and the webhook's lookup: one point read cold, none warm."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from devkit.storage_counter import counting_table_requests
from switchboard.contacts import lookup
from switchboard.contacts.rules import Contact, PhoneNumber, new_contact_id
from switchboard.contacts.store import ContactStore, NumberTaken, VersionConflict, index_rows
from switchboard.settings import Settings, load_settings

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
DANA = "+12015550123"


@pytest.fixture
def settings(storage_connection_string: str, unique_name: str) -> Iterator[Settings]:
    loaded = load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            "TABLE_CONTACTS": unique_name,
            "LINES_CACHE_SECONDS": "60",
        }
    )
    lookup.forget_cached_contacts()
    yield loaded
    lookup.forget_cached_contacts()


def dana(**changes: object) -> Contact:
    fields: dict[str, object] = {
        "id": new_contact_id(),
        "name": "Dana Reyes",
        "company": "Reyes Plumbing",
        "numbers": (PhoneNumber(DANA, "mobile"),),
        **changes,
    }
    return Contact(**fields)  # type: ignore[arg-type]


def test_a_contact_and_its_index_rows_are_written_and_replaced_together(
    settings: Settings,
) -> None:
    store = ContactStore.from_settings(settings)
    written = store.write(dana(), None, NOW)
    assert written.contact.version == 1
    read = store.get(written.contact.id)
    assert read is not None
    assert read.contact.content() == written.contact.content()
    assert set(read.rows) == set(index_rows(written.contact))
    ref = store.ref_for(DANA)
    assert ref is not None
    assert (ref.id, ref.name, ref.blocked) == (written.contact.id, "Dana Reyes", False)

    renamed = Contact(
        **{
            **read.contact.__dict__,
            "name": "Dana Cruz",
            "numbers": (PhoneNumber("+12015550199", "work"),),
            "blocked": True,
        }
    )
    second = store.write(renamed, read, NOW)
    assert second.contact.version == 2
    assert store.ref_for(DANA) is None  # the number it no longer has: its row is gone
    ref = store.ref_for("+12015550199")
    assert ref is not None
    assert (ref.name, ref.blocked) == ("Dana Cruz", True)
    words = [hit.key for hit in store.index_range("w-", None, 100)]
    assert words == [
        f"w-{w} dana cruz {read.contact.id}" for w in ("cruz", "dana", "plumbing", "reyes")
    ]
    with pytest.raises(VersionConflict):  # the version read first is stale now
        store.write(read.contact, read, NOW)
    current = store.get(read.contact.id)
    assert current is not None
    store.delete(current)
    assert store.get(read.contact.id) is None
    for prefix in ("n-", "l-", "w-", "c-"):
        assert list(store.index_range(prefix, None, 100)) == []


def test_a_number_belongs_to_one_contact(settings: Settings) -> None:
    store = ContactStore.from_settings(settings)
    store.write(dana(), None, NOW)
    other = dana(name="Someone Else", company=None)
    with pytest.raises(NumberTaken) as taken:
        store.write(other, None, NOW)
    assert taken.value.number == DANA
    assert store.get(other.id) is None  # nothing of it was written


def test_the_lookup_reads_one_row_cold_and_nothing_warm(settings: Settings) -> None:
    store = ContactStore.from_settings(settings)
    store.write(dana(blocked=True), None, NOW)
    with counting_table_requests() as counter:
        first = lookup.contact_for(settings, DANA)
        assert counter.snapshot() == {"GET entity": 1}
        assert first is not None
        assert first.blocked
        assert lookup.label_for(settings, DANA) == "Dana Reyes"
        assert lookup.is_blocked(settings, DANA)
        assert lookup.contact_for(settings, "+12015550100") is None  # nobody: one read
        assert lookup.contact_for(settings, "+12015550100") is None  # nobody, remembered
        assert lookup.contact_for(settings, "anonymous") is None  # never read
        assert counter.snapshot() == {"GET entity": 2}
    assert lookup.display_name(None, "+12015550100") == "+1201***0100"
    assert lookup.display_name(None, "anonymous") == "a withheld number"


def test_the_lookup_of_a_table_never_written_is_nobody_without_creating_it(
    settings: Settings,
) -> None:
    assert lookup.contact_for(settings, DANA) is None
    from switchboard.storage import tables

    names = {t.name for t in tables._service(settings).list_tables()}
    assert settings.table_contacts not in names
