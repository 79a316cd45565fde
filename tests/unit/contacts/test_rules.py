"""The rules of a contact: documents checked field by field (every problem by its pointer),
numbers to E.164 in a region, import entries, search words and order, versions, JSON."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.contacts import rules
from switchboard.contacts.rules import Contact, Draft, PhoneNumber, Raw
from switchboard.http import ApiError, Precondition


def problems(body: Any, *, partial: bool = False, region: str | None = "US") -> list[str]:
    with pytest.raises(ApiError) as refused:
        rules.parse_document(body, region, partial=partial)
    assert (refused.value.status, refused.value.code) == (400, "invalid_contact")
    return [f"{e['field']}: {e['message']}" for e in refused.value.extra["errors"]]


def test_a_document_normalised() -> None:
    fields = rules.parse_document(
        {
            "name": "  Dana   Reyes ",
            "numbers": [
                "(201) 555-0123",
                {"number": "+1 201 555 0199", "label": "CELL"},
                {"number": "+12015550123", "label": "work"},  # the same number again: once
            ],
            "emails": ["dana@example.com", "DANA@example.com"],
            "tags": ["VIP", "vip", "plumbing"],
            "notes": "first line\r\nsecond line\n",
            "id": "c0123456789ab",  # read-only fields sent back are ignored
            "version": 3,
        },
        "US",
    )
    assert fields == {
        "name": "Dana Reyes",
        "company": None,
        "notes": "first line\nsecond line",
        "tags": ("VIP", "plumbing"),
        "numbers": (PhoneNumber("+12015550123"), PhoneNumber("+12015550199", "mobile")),
        "emails": ("dana@example.com",),
        "blocked": False,
    }


def test_every_bad_field_is_named_by_its_pointer() -> None:
    assert problems(
        {
            "name": "x" * 201,
            "company": 5,
            "notes": "bell\x07",
            "tags": ["a,b", 7],
            "numbers": ["12", {"number": "+12015550100", "extra": 1}, {"label": "work"}],
            "emails": ["not an address"],
            "blocked": "yes",
            "colour": "red",
            "version": "3",
        }
    ) == [
        "/colour: is not a field of a contact",
        "/version: is read-only, and not of its type",
        "/name: must be at most 200 characters",
        "/company: must be a company name (a string)",
        "/notes: must not hold control characters (line breaks and tabs are fine)",
        "/tags/0: must not hold a comma or a semicolon",
        "/tags/1: must be a string",
        "/numbers/0: '12' is not a possible phone number (read in US)",
        "/numbers/1/extra: is not a field of a number",
        "/numbers/2/number: must be a phone number (a string)",
        "/emails/0: 'not an address' is not an e-mail address (name@example.com)",
        "/blocked: must be true or false",
    ]
    assert problems({"notes": "only notes"}) == [
        "/: a contact needs a name, a company or a phone number"
    ]
    assert problems({"numbers": "+12015550100"}) == ["/numbers: must be a list of numbers"]
    assert problems({"blocked": None}, partial=True) == ["/blocked: must be true or false"]
    assert problems({"numbers": ["+1"] * 11}) == ["/numbers: at most 10 numbers"]
    with pytest.raises(ApiError) as not_object:
        rules.parse_document(["Dana"], "US")
    assert not_object.value.code == "invalid_json"


def test_a_patch_carries_only_what_it_names() -> None:
    assert rules.parse_document({"blocked": True}, None, partial=True) == {"blocked": True}
    assert rules.parse_document({"name": None}, None, partial=True) == {"name": None}


@pytest.mark.parametrize(
    ("raw", "region", "number"),
    [
        ("+1 (201) 555-0123", None, "+12015550123"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("201.555.0123", "US", "+12015550123"),
        ("030 7654321", "DE", "+49307654321"),
        ("00 44 7911 123456", "DE", "+447911123456"),
        ("tel:+33-6-12-34-56-78", None, "+33612345678"),
        ("tel:+44-20-7946-0958;ext=12", None, "+442079460958"),  # the extension dropped
    ],
)
def test_numbers_as_phones_store_them_become_e164(
    raw: str, region: str | None, number: str
) -> None:
    assert rules.normalise_number(raw, region) == number


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("(201) 555-0123", None, "has no country code"),
        ("call me", "US", "is not a phone number"),
        ("12345", "US", "is not a possible phone number (read in US)"),
        ("+1555\n0123", None, "is not a phone number"),
        ("", "US", "must not be empty"),
        (None, "US", "must be a phone number"),
    ],
)
def test_what_is_no_number_says_why(raw: Any, region: str | None, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        rules.normalise_number(raw, region)


def test_regions_are_iso_codes_phonenumbers_knows() -> None:
    assert rules.check_region(" gb ") == "GB"
    assert rules.check_region(None) is None
    with pytest.raises(ValueError, match="is not a region"):
        rules.check_region("ZZ")


def test_labels_from_vcard_types() -> None:
    assert rules.label_of(["voice,cell", "pref"]) == "mobile"
    assert rules.label_of(['"WORK"']) == "work"
    assert rules.label_of(["IPHONE"]) == "mobile"
    assert rules.label_of(["VOICE", "PREF"]) is None
    assert rules.clean_label("Boat") == "Boat"
    assert rules.clean_label("Mobile") == "mobile"


def test_an_import_entry_names_its_field_problems_where_the_file_has_them() -> None:
    draft = Draft(
        "entry 3 (line 45)",
        name=Raw("Dana Reyes", "FN (line 46)"),
        numbers=[
            (Raw("+12015550123", "TEL (line 47)"), "mobile"),
            (Raw("nope", "TEL (line 48)"), None),
        ],
        emails=[Raw("x@", "EMAIL (line 49)")],
        blocked=Raw("maybe", "blocked"),
        id=Raw("c123", "id"),
    )
    entry, found = rules.check_draft(draft, "US")
    assert entry is None
    assert [str(p) for p in found] == [
        "entry 3 (line 45), blocked: 'maybe' is neither yes nor no (true/false, 1/0)",
        "entry 3 (line 45), EMAIL (line 49): 'x@' is not an e-mail address (name@example.com)",
        "entry 3 (line 45), TEL (line 48): 'nope' is not a phone number",
        "entry 3 (line 45), id: 'c123' is not a contact id",
    ]
    good, none = rules.check_draft(Draft("row 1", company=Raw("ACME", "company")), None)
    assert none == []
    assert good is not None
    assert good.fields == {"company": "ACME"}  # only what the file carries
    _, empty = rules.check_draft(Draft("row 2", notes=Raw("hi", "notes")), None)
    assert [str(p) for p in empty] == ["row 2: a contact needs a name, a company or a phone number"]


@pytest.mark.parametrize(
    ("text", "flag"),
    [("yes", True), ("TRUE", True), ("1", True), ("x", True), ("no", False), ("", False)],
)
def test_flags(text: str, flag: bool) -> None:
    assert rules.parse_flag(text) is flag


def test_build_keeps_what_the_fields_leave_out() -> None:
    base = Contact("c0123456789ab", name="Dana", notes="kept", blocked=True, version=4)
    changed = rules.build(base.id, {"name": "Dana Cruz"}, base)
    assert (changed.name, changed.notes, changed.blocked, changed.version) == (
        "Dana Cruz",
        "kept",
        True,
        4,
    )
    assert rules.build("c0000000000aa", {"company": "ACME"}).company == "ACME"


def test_search_words_and_order_fold_accents_and_case() -> None:
    zoe = Contact("c1", name="Zoë O'Neil-Martin", company="Blue Door Café")
    assert rules.words(zoe) == ("zoe", "o", "neil", "martin", "blue", "door", "cafe")
    assert rules.sort_key(zoe) == "zoe o neil martin"
    assert rules.sort_key(Contact("c2", numbers=(PhoneNumber("+12015550123"),))) == "~+12015550123"
    assert rules.sort_key(Contact("c3", company="ACME")) == "acme"
    assert rules.matches(rules.words(zoe), ["zo", "mar"])
    assert not rules.matches(rules.words(zoe), ["zo", "smith"])
    assert rules.words_of("Ana-María, 3rd") == ["ana", "maria", "3rd"]


def test_versions_as_the_lines_have_them() -> None:
    current = Contact("c1", version=3)
    rules.check_precondition(Precondition(version=3), current, required=True)
    rules.check_precondition(Precondition(any_version=True), current, required=True)
    rules.check_precondition(None, current, required=False)
    with pytest.raises(ApiError) as stale:
        rules.check_precondition(Precondition(version=2), current, required=False)
    assert stale.value.status == 412
    with pytest.raises(ApiError) as blind:
        rules.check_precondition(None, current, required=True)
    assert blind.value.status == 428


def test_json_and_the_lookups_view() -> None:
    contact = Contact(
        "c0123456789ab",
        name="Dana",
        company="ACME",
        notes="private",
        tags=("VIP",),
        numbers=(PhoneNumber("+12015550123", "mobile"),),
        blocked=True,
        version=2,
    )
    summary = rules.summary_json(contact)
    assert "notes" not in summary
    assert summary["numbers"] == [{"number": "+12015550123", "label": "mobile"}]
    assert rules.contact_json(contact)["notes"] == "private"
    ref = rules.ref_from_summary(summary)
    assert ref == rules.ref_of(contact)
    assert (ref.label, ref.blocked, ref.tags) == ("Dana", True, ("VIP",))
    assert rules.ref_from_summary({"id": "c1", "blocked": "yes", "tags": "VIP"}).blocked is False
    assert rules.CONTACT_ID.fullmatch(rules.new_contact_id())
