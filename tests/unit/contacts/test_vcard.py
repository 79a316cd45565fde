"""vCard files as phones export them, read into import entries (vobject), and written back."""

from __future__ import annotations

from switchboard.contacts import rules
from switchboard.contacts.rules import Contact, PhoneNumber
from switchboard.contacts.vcard import read_vcards, write_vcards

IPHONE = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "PRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\n"
    "N:Reyes;Dana;;;\r\n"
    "FN:Dana Reyes\r\n"
    "ORG:Reyes Plumbing;\r\n"
    "item1.TEL;type=pref:+1 (201) 555-0123\r\n"
    "item1.X-ABLabel:_$!<Mobile>!$_\r\n"
    "TEL;type=CELL;type=VOICE:(201) 555-0199\r\n"
    "item2.TEL:201.555.0100\r\n"
    "item2.X-ABLabel:Boat\r\n"
    "EMAIL;type=INTERNET;type=HOME;type=pref:dana@example.com\r\n"
    "NOTE:Prefers texts\\, not calls\\nGate code 42\r\n"
    "CATEGORIES:VIP,Plumbing\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD\r\n"
    " /2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8Q\r\n"
    "END:VCARD\r\n"
)
ANDROID_21 = (
    "BEGIN:VCARD\n"
    "VERSION:2.1\n"
    "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=4D=C3=BC=6C=6C=65=72;=4A=C3=BC=72=67=65=6E;;;\n"
    "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=4A=C3=BC=72=67=65=6E=20=4D=C3=BC=6C=6C=65=72=20=\n"
    "=28=42=C3=A4=63=6B=65=72=29\n"
    "TEL;CELL;PREF:+49 170 1234567\n"
    "TEL;HOME:030 7654321\n"
    "END:VCARD\n"
)
GOOGLE_40 = (
    "BEGIN:VCARD\n"
    "VERSION:4.0\n"
    "FN:Zoë Martin\n"
    'TEL;VALUE=uri;TYPE="voice,cell";PREF=1:tel:+33-6-12-34-56-78\n'
    "TEL;TYPE=work:tel:+44-20-7946-0958;ext=12\n"
    "ORG:ACME;Sales\n"
    "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\n"
    "END:VCARD\n"
)
COMPANY = (
    "BEGIN:VCARD\nVERSION:3.0\nN:;;;;\nFN:Blue Door Café\nORG:Blue Door Café\n"
    "X-ABShowAs:COMPANY\nTEL;TYPE=WORK:+1 201 555 0111\nEND:VCARD\n"
)


def entries(text: str, region: str | None = "US") -> list[dict[str, object]]:
    drafts, problems = read_vcards(text)
    assert problems == []
    found = []
    for draft in drafts:
        entry, errors = rules.check_draft(draft, region)
        assert errors == []
        assert entry is not None
        found.append({**entry.fields, "uid": entry.uid, "id": entry.id})
    return found


def test_an_iphone_card() -> None:
    [dana] = entries(IPHONE)
    assert dana == {
        "name": "Dana Reyes",
        "company": "Reyes Plumbing",
        "notes": "Prefers texts, not calls\nGate code 42",
        "tags": ("VIP", "Plumbing"),
        "numbers": (
            PhoneNumber("+12015550123", "mobile"),
            PhoneNumber("+12015550199", "mobile"),
            PhoneNumber("+12015550100", "Boat"),
        ),
        "emails": ("dana@example.com",),
        "uid": None,
        "id": None,
    }


def test_an_android_card_of_vcard_21_quoted_printable_with_a_soft_line_break() -> None:
    [jurgen] = entries(ANDROID_21, region="DE")
    assert jurgen["name"] == "Jürgen Müller (Bäcker)"
    assert jurgen["numbers"] == (
        PhoneNumber("+491701234567", "mobile"),
        PhoneNumber("+49307654321", "home"),
    )


def test_a_vcard_40_with_tel_uris() -> None:
    [zoe] = entries(GOOGLE_40, region=None)
    assert zoe["numbers"] == (
        PhoneNumber("+33612345678", "mobile"),
        PhoneNumber("+442079460958", "work"),
    )
    assert (zoe["company"], zoe["uid"]) == ("ACME", "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1")


def test_a_card_shown_as_a_company_has_no_name() -> None:
    [cafe] = entries(COMPANY)
    assert "name" not in cafe
    assert cafe["company"] == "Blue Door Café"


def test_a_card_without_fn_takes_its_name_from_n() -> None:
    [card] = entries(
        "BEGIN:VCARD\nVERSION:3.0\nN:Reyes;Dana;Maria;Dr.;Jr.\nTEL:+12015550123\nEND:VCARD\n"
    )
    assert card["name"] == "Dr. Dana Maria Reyes Jr."


def test_every_unreadable_line_is_named_and_reading_goes_on() -> None:
    text = (
        IPHONE
        + "BEGIN:VCARD\nVERSION:3.0\nFN:Broken\nthis is not a property\nEND:VCARD\n"
        + "BEGIN:VCARD\nVERSION:2.1\nFN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:=FF=FE\nEND:VCARD\n"
        + GOOGLE_40
    )
    drafts, problems = read_vcards(text)
    assert [str(p) for p in problems] == [
        "entry 2 (line 21): cannot be read as vCard (Failed to parse line: this is not a property)",
        "entry 3 (line 25): cannot be read as vCard (UnicodeDecodeError)",
    ]
    assert [d.where for d in drafts] == ["entry 1 (line 1)", "entry 4 (line 27)"]
    _, none = read_vcards("BEGIN:VCARD\nVERSION:3.0\nFN:Never closed\n")
    assert [p.message for p in none] == [
        "cannot be read as vCard (Component VCARD was never closed)"
    ]
    nothing, calendar = read_vcards("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    assert (nothing, [str(p) for p in calendar]) == ([], ["entry 1: is a VCALENDAR, not a vCard"])
    assert read_vcards("") == ([], [])


def test_a_value_that_is_not_text_is_named() -> None:
    drafts, _ = read_vcards("BEGIN:VCARD\nVERSION:2.1\nFN;ENCODING=BASE64:SGVsbG8=\nEND:VCARD\n")
    [draft] = drafts
    assert [str(p) for p in draft.problems] == ["entry 1 (line 1), FN (line 3): is not text"]


def test_written_as_vcard_30_and_read_back_the_same() -> None:
    contacts = [
        Contact(
            "c0123456789ab",
            name="Zoë O'Neil",
            company="ACME; Inc",
            notes="line one\nline two, with a comma",
            tags=("VIP", "plumbing"),
            numbers=(
                PhoneNumber("+12015550123", "mobile"),
                PhoneNumber("+12015550100", "Boat"),
                PhoneNumber("+12015550101"),
            ),
            emails=("zoe@example.com",),
            blocked=True,
        ),
        Contact(
            "c0123456789ac",
            company="Blue Door Café",
            numbers=(PhoneNumber("+12015550111", "work"),),
        ),
        Contact("c0123456789ad", name="Phone", uid="urn:uuid:from-the-phone"),
    ]
    text = write_vcards(contacts)
    assert text.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n")
    assert "X-SWITCHBOARD-BLOCKED:TRUE" in text
    back = entries(text)
    assert back[0] == {
        "name": "Zoë O'Neil",
        "company": "ACME; Inc",
        "notes": "line one\nline two, with a comma",
        "tags": ("VIP", "plumbing"),
        "numbers": contacts[0].numbers,
        "emails": ("zoe@example.com",),
        "blocked": True,
        "uid": None,
        "id": "c0123456789ab",
    }
    assert ("name" not in back[1], back[1]["company"], back[1]["id"]) == (
        True,
        "Blue Door Café",
        "c0123456789ac",
    )
    assert (back[2]["uid"], back[2]["id"]) == ("urn:uuid:from-the-phone", None)
