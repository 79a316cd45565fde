"""Contacts imported, found, exported and imported again, against Azurite: a phone's vCard of
200 people (written by vobject), idempotent re-imports (nothing twice, blocking kept), files
refused whole with every problem named, listing and search pages that read only their rows,
and what a write on this instance makes the lookup say at once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from azure.data.tables import UpdateMode

from devkit.storage_counter import counting_table_requests
from switchboard.contacts import lookup, service
from switchboard.contacts.store import ContactStore
from switchboard.http import ApiError
from switchboard.settings import Settings, load_settings
from tests.contacts import Person, address_book, import_contacts, vcard_file


@pytest.fixture(scope="module")
def book() -> list[Person]:
    return address_book(200)


@pytest.fixture
def settings(storage_connection_string: str, unique_name: str) -> Iterator[Settings]:
    loaded = load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            "TABLE_CONTACTS": unique_name,
            "TWILIO_FROM_NUMBER": "+15017122661",  # the business is in the US: local numbers too
            "LINES_CACHE_SECONDS": "60",
        }
    )
    lookup.forget_cached_contacts()
    yield loaded
    lookup.forget_cached_contacts()


def test_a_vcard_of_200_people_imported_once_however_often(
    settings: Settings, book: list[Person]
) -> None:
    text = vcard_file(book)
    with counting_table_requests() as counter:
        first = import_contacts(settings, text, region="US")
        writes = counter.snapshot()["POST $batch"]
    assert (first.entries, first.created, first.updated, first.unchanged) == (200, 200, 0, 0)
    # Rows of several contacts share a transaction (at most 100 operations each).
    assert writes <= 20, writes
    lookup.forget_cached_contacts()  # another instance: it reads what was written
    for person in book[::37]:
        found = lookup.contact_for(settings, person.number)
        assert found is not None
        assert found.name == person.name
        if person.second:
            assert lookup.label_for(settings, person.second) == person.name
    again = service.import_file(settings, text)  # the format and region found by themselves
    assert (again.created, again.updated, again.unchanged) == (0, 0, 200)
    assert len(ContactStore.from_settings(settings).all_contacts()) == 200

    # Blocked here, renamed on the phone: the re-import renames and keeps the block.
    service.set_blocked(settings, book[5].number, True)
    renamed = [*book]
    renamed[5] = Person(**{**book[5].__dict__, "name": "Dana Cruz"})
    third = service.import_file(settings, vcard_file(renamed), "vcard", "US")
    assert (third.created, third.updated, third.unchanged) == (0, 1, 199)
    contact = service.get(settings, book[5].number).contact
    assert (contact.name, contact.blocked) == ("Dana Cruz", True)
    assert lookup.label_for(settings, book[5].number) == "Dana Cruz"  # this instance: at once


def test_a_file_with_problems_writes_nothing_and_names_each(settings: Settings) -> None:
    text = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:Good One\nTEL:+12015550100\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nFN:Bad Number\nTEL;TYPE=CELL:call me\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nthis is no vCard line\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:3.0\nFN:Twice\nTEL:+12015550100\nEMAIL:not-an-address\nEND:VCARD\n"
    )
    with pytest.raises(ApiError) as refused:
        service.import_file(settings, text, region="US")
    error = refused.value
    assert (error.status, error.code) == (400, "invalid_import")
    fields = [(e["field"], e["message"]) for e in error.extra["errors"]]
    assert fields == [
        (
            "entry 3 (line 13)",
            "cannot be read as vCard (Failed to parse line: this is no vCard line)",
        ),
        ("entry 2 (line 6), TEL (line 9)", "'call me' is not a phone number"),
        (
            "entry 4 (line 15), EMAIL (line 19)",
            "'not-an-address' is not an e-mail address (name@example.com)",
        ),
    ]
    assert ContactStore.from_settings(settings).all_contacts() == []
    # Once each entry reads, the file still cannot give one number to two entries.
    duplicate = (
        text.replace("TEL;TYPE=CELL:call me", "TEL:+12015550101")
        .replace("this is no vCard line", "FN:Third")
        .replace("EMAIL:not-an-address", "EMAIL:twice@example.com")
    )
    with pytest.raises(ApiError) as twice:
        service.import_file(settings, duplicate, region="US")
    assert [e["message"] for e in twice.value.extra["errors"]] == [
        "+12015550100 is also in entry 1 (line 1)"
    ]
    assert ContactStore.from_settings(settings).all_contacts() == []


def test_local_numbers_need_a_region(storage_connection_string: str, unique_name: str) -> None:
    bare = load_settings(
        {"AzureWebJobsStorage": storage_connection_string, "TABLE_CONTACTS": unique_name}
    )
    text = "name,numbers\nDana,(201) 555-0123\n"
    with pytest.raises(ApiError) as refused:
        service.import_file(bare, text)
    assert refused.value.extra["errors"][0]["field"] == "row 1 (line 2), numbers"
    assert "has no country code" in refused.value.extra["errors"][0]["message"]
    done = service.import_file(bare, text, region="us")
    assert done.created == 1
    assert service.get(bare, "+12015550123").contact.name == "Dana"


def test_listing_and_search_read_their_page(settings: Settings, book: list[Person]) -> None:
    import_contacts(settings, vcard_file(book), region="US")
    with counting_table_requests() as counter:
        page = service.list_contacts(settings, limit=20)
        assert counter.total() == 1  # one page of the listing's rows
    names = [item["name"] for item in page["items"]]
    assert len(names) == 20
    assert names == sorted(names, key=lambda n: n.casefold().replace("ë", "e").replace("é", "e"))
    following = service.list_contacts(settings, limit=20, cursor=page["nextCursor"])
    assert following["items"][0]["name"] >= names[-1]
    assert not {i["id"] for i in following["items"]} & {i["id"] for i in page["items"]}

    # A word's start, accents folded: every "Zoë ..." once, and nobody else, in the order of
    # names across pages (a word's rows are keyed by the name after the word).
    zoe = service.list_contacts(settings, q="zoe", limit=200)["items"]
    assert {i["name"] for i in zoe} == {p.name for p in book if p.name.startswith("Zoë ")}
    paged: list[str] = []
    cursor = None
    while True:
        found = service.list_contacts(settings, q="zoe", limit=3, cursor=cursor)
        paged += [i["name"] for i in found["items"]]
        if not (cursor := found["nextCursor"]):
            break
    assert paged == [i["name"] for i in zoe]
    assert len(paged) > 3
    assert paged == sorted(paged, key=lambda n: n.casefold().replace("'", " "))
    two_words = service.list_contacts(settings, q="zoë o'neil", limit=200)["items"]
    assert {i["name"] for i in two_words} == {
        p.name for p in book if p.name.startswith("Zoë O'Neil ")
    }
    by_number = service.list_contacts(settings, q=book[7].written)["items"]
    assert [i["name"] for i in by_number] == [book[7].name]
    prefix = service.list_contacts(settings, q="+1201555119", limit=200)["items"]
    assert sorted(i["name"] for i in prefix) == sorted(
        p.name for p in book if p.number.startswith("+1201555119")
    )
    with pytest.raises(ApiError):
        service.list_contacts(settings, cursor=page["nextCursor"], q="zoe")  # not its cursor


def test_a_word_row_in_the_earlier_layout_is_found_once_and_rewritten_on_change(
    settings: Settings,
) -> None:
    made = service.create(settings, {"name": "Ola Quist", "numbers": ["+12015550777"]})
    contact_id = made.contact.id
    table = ContactStore.from_settings(settings).table
    stored = table.get_entity("contacts", f"c-{contact_id}")
    new_rows = json.loads(stored["Rows"])
    earlier = []
    for key in new_rows:  # as a contact written before the name was part of a word's key
        if key.startswith("w-"):
            row = table.get_entity("contacts", key)
            table.delete_entity("contacts", key)
            word = key.split(" ")[0]
            table.create_entity({**row, "RowKey": f"{word} {contact_id}"})
            earlier.append(f"{word} {contact_id}")
        else:
            earlier.append(key)
    assert earlier != new_rows
    table.update_entity({**stored, "Rows": json.dumps(earlier)}, mode=UpdateMode.MERGE)

    for q in ("ola", "quist", "ola qu"):
        found = service.list_contacts(settings, q=q)["items"]
        assert [i["id"] for i in found] == [contact_id], q
    service.set_blocked(settings, contact_id, True)  # a change: every index row is rewritten
    keys = {e["RowKey"] for e in table.query_entities("RowKey ge 'w-' and RowKey lt 'w.'")}
    assert keys == {f"w-ola ola quist {contact_id}", f"w-quist ola quist {contact_id}"}
    assert [i["id"] for i in service.list_contacts(settings, q="quist")["items"]] == [contact_id]


def test_exports_import_again_unchanged(settings: Settings, book: list[Person]) -> None:
    import_contacts(settings, vcard_file(book[:30]), region="US")
    service.set_blocked(settings, book[3].number, True)
    for kind in ("vcard", "csv"):
        exported = service.export_file(settings, kind)
        again = service.import_file(settings, exported, kind)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 30), kind
    before = {
        s.contact.id: s.contact.content()
        for s in ContactStore.from_settings(settings).all_contacts()
    }
    csv_text = service.export_file(settings, "csv")
    assert csv_text.startswith("\ufeffid,name,company,numbers,emails,tags,blocked,notes\r\n")
    # Into another installation: the same ids, numbers and names, blocked still blocked.
    other = load_settings(
        {
            "AzureWebJobsStorage": settings.azure_web_jobs_storage,
            "TABLE_CONTACTS": settings.table_contacts + "x",
        }
    )
    moved = service.import_file(other, service.export_file(settings, "vcard"))
    assert moved.created == 30
    after = {
        s.contact.id: s.contact.content() for s in ContactStore.from_settings(other).all_contacts()
    }
    assert after == before
    assert service.get(other, book[3].number).contact.blocked
