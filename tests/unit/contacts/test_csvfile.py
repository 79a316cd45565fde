"""CSV files of contacts: Switchboard's columns, Google Contacts' and Outlook's exports, read
into import entries; Switchboard's written back, safe to open in a spreadsheet."""

from __future__ import annotations

import pytest

from switchboard.contacts import rules
from switchboard.contacts.csvfile import CsvFileError, read_csv, write_csv
from switchboard.contacts.rules import Contact, PhoneNumber

GOOGLE = (
    "First Name,Middle Name,Last Name,Organization Name,Notes,Labels,E-mail 1 - Label,"
    "E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value\n"
    'Dana,,Reyes,Reyes Plumbing,"Line one\nline two",* myContacts ::: VIP,* Home,'
    "dana@example.com,Mobile,+1 201-555-0123 ::: (201) 555-0199,Work,201.555.0100\n"
    ",,,,,,,,,,,\n"
)
OUTLOOK = (
    "First Name;Last Name;Company;Mobile Phone;Business Phone;E-mail Address;Categories\n"
    "Ann;Lee;;+44 7911 123456;;ann@example.co.uk;Friends\n"
)


def entries(text: str, region: str | None = "US") -> list[rules.Entry]:
    drafts, problems = read_csv(text)
    assert problems == []
    found = []
    for draft in drafts:
        entry, errors = rules.check_draft(draft, region)
        assert errors == [], errors
        assert entry is not None
        found.append(entry)
    return found


def test_a_google_contacts_export() -> None:
    [dana] = entries(GOOGLE)
    assert dana.where == "row 1 (line 2)"
    assert dana.fields == {
        "name": "Dana Reyes",
        "company": "Reyes Plumbing",
        "notes": "Line one\nline two",
        "tags": ("VIP",),  # Google's own "* myContacts" is no tag
        "emails": ("dana@example.com",),
        "numbers": (
            PhoneNumber("+12015550123", "mobile"),
            PhoneNumber("+12015550199", "mobile"),
            PhoneNumber("+12015550100", "work"),
        ),
    }


def test_an_outlook_export_with_semicolons() -> None:
    [ann] = entries(OUTLOOK)
    assert ann.fields["name"] == "Ann Lee"
    assert ann.fields["company"] is None  # its column is there, empty: the field emptied
    assert ann.fields["numbers"] == (PhoneNumber("+447911123456", "mobile"),)
    assert (ann.fields["emails"], ann.fields["tags"]) == (("ann@example.co.uk",), ("Friends",))


def test_switchboard_columns_and_problems_by_row_and_column() -> None:
    text = (
        "id,name,numbers,blocked\n"
        'c0123456789ab,Dana Reyes,"mobile: +12015550123; work: 2015550100",yes\n'
        "\n"
        ",No One,12,maybe\n"
    )
    drafts, _ = read_csv(text)
    first, errors = rules.check_draft(drafts[0], "US")
    assert errors == []
    assert first is not None
    assert (first.id, first.fields["blocked"], first.fields["numbers"]) == (
        "c0123456789ab",
        True,
        (PhoneNumber("+12015550123", "mobile"), PhoneNumber("+12015550100", "work")),
    )
    _, problems = rules.check_draft(drafts[1], "US")
    assert [str(p) for p in problems] == [
        "row 2 (line 4), blocked: 'maybe' is neither yes nor no (true/false, 1/0)",
        "row 2 (line 4), numbers: '12' is not a possible phone number (read in US)",
    ]


def test_a_file_that_names_no_contact_column_is_refused() -> None:
    with pytest.raises(CsvFileError, match="no column of a contact"):
        read_csv("colour,size\nred,3\n")
    with pytest.raises(CsvFileError, match="empty"):
        read_csv("")


def test_written_with_a_bom_and_read_back_the_same() -> None:
    contacts = [
        Contact(
            "c0123456789ab",
            name='=HYPERLINK("http://evil")',
            company="ACME, Inc.",
            notes="two\nlines",
            tags=("VIP", "plumbing"),
            numbers=(PhoneNumber("+12015550123", "mobile"), PhoneNumber("+12015550100")),
            emails=("a@example.com", "b@example.com"),
            blocked=True,
        )
    ]
    text = write_csv(contacts)
    assert text.startswith("\ufeffid,name,company,numbers,emails,tags,blocked,notes\r\n")
    assert "'=HYPERLINK" in text  # a spreadsheet shows it, never runs it
    [back] = entries(text.lstrip("\ufeff"))
    assert back.id == "c0123456789ab"
    assert back.fields == {
        "name": '=HYPERLINK("http://evil")',
        "company": "ACME, Inc.",
        "notes": "two\nlines",
        "tags": ("VIP", "plumbing"),
        "numbers": contacts[0].numbers,
        "emails": ("a@example.com", "b@example.com"),
        "blocked": True,
    }
