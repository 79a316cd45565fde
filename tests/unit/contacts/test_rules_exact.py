"""The contact rules to the letter: each refusal's exact words and pointer, each limit at its
edge (the last value accepted, the first refused), and every member of the JSON a contact is
answered as."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.contacts import rules
from switchboard.contacts.rules import Contact, ContactInvalid, Draft, PhoneNumber, Problem, Raw
from switchboard.http import ApiError, Precondition

DANA = "+12015550123"


def refusal(check: Any, *args: Any) -> str:
    try:
        check(*args)
    except ValueError as refused:
        return str(refused)
    raise AssertionError(f"{args!r} was accepted")


def document_problems(body: Any, *, partial: bool = False) -> list[str]:
    with pytest.raises(ApiError) as refused:
        rules.parse_document(body, "US", partial=partial)
    return [f"{e['field']}: {e['message']}" for e in refused.value.extra["errors"]]


def test_one_line_names_what_it_wanted_and_stops_at_its_limit() -> None:
    assert refusal(rules.one_line, 5, 10) == "must be text (a string)"
    assert refusal(rules.one_line, "\ud800", 10) == "is not valid Unicode text"
    assert rules.one_line("x" * 10, 10) == "x" * 10
    assert refusal(rules.one_line, "x" * 11, 10) == "must be at most 10 characters"
    assert refusal(rules.one_line, "a\x07b", 10) == "must be one line without control characters"
    assert rules.one_line("  a \t b  ", 10) == "a b"
    assert rules.one_line("   ", 10) is None


def test_each_field_says_what_it_must_be() -> None:
    assert refusal(rules.clean_tag, 5) == "must be a tag (a string)"
    assert refusal(rules.clean_label, 5) == "must be a label (a string)"
    assert refusal(rules.clean_email, 5) == "must be an e-mail address (a string)"
    assert refusal(rules.clean_email, "   ") == "must not be empty"
    assert document_problems({"name": 5}, partial=True) == ["/name: must be a name (a string)"]
    assert document_problems({"company": "x" * 201}, partial=True) == [
        "/company: must be at most 200 characters"
    ]
    assert rules.parse_document({"company": "x" * 200}, None, partial=True) == {
        "company": "x" * 200
    }


def test_notes_keep_their_lines_up_to_the_limit() -> None:
    assert refusal(rules.clean_notes, 5) == "must be text (a string)"
    assert refusal(rules.clean_notes, "\ud800") == "is not valid Unicode text"
    assert rules.clean_notes("x" * rules.MAX_NOTES) == "x" * rules.MAX_NOTES
    assert refusal(rules.clean_notes, "x" * (rules.MAX_NOTES + 1)) == (
        f"must be at most {rules.MAX_NOTES} characters"
    )
    assert rules.clean_notes("one\rtwo\r\nthree") == "one\ntwo\nthree"
    assert rules.clean_notes(" \n ") is None


def test_a_number_refused_says_exactly_why() -> None:
    assert refusal(rules.normalise_number, "  ", "US") == "must not be empty"
    # Control characters are refused before phonenumbers, which would read past them.
    assert refusal(rules.normalise_number, DANA + "\x07", None) == "is not a phone number"
    spaced = "+1" + " " * 52 + "2015550123"  # 64 characters: still read
    assert rules.normalise_number(spaced, None) == DANA
    assert refusal(rules.normalise_number, spaced[:2] + " " + spaced[2:], None) == (
        "is not a phone number"
    )
    assert refusal(rules.normalise_number, "(201) 555-0123", None) == (
        "'(201) 555-0123' has no country code: write it +<country code>..., or give the "
        "region its local numbers are in (--region US, ?region=US)"
    )
    # Written with its country code, a number is not read in a region: none is named.
    assert refusal(rules.normalise_number, "+1 555", "US") == (
        "'+1 555' is not a possible phone number"
    )


def test_a_label_word_loses_only_its_quotes() -> None:
    assert rules.label_of(["FAX"]) == "fax"
    assert rules.label_of(['"fax"', "work"]) == "fax"


def test_lists_stop_at_their_limits_and_name_every_bad_entry() -> None:
    tags = [f"t{i}" for i in range(rules.MAX_TAGS)]
    assert rules.parse_document({"tags": tags}, None, partial=True)["tags"] == tuple(tags)
    assert document_problems({"tags": [*tags, "one more"]}, partial=True) == [
        f"/tags: at most {rules.MAX_TAGS}"
    ]
    emails = [f"a{i}@example.com" for i in range(rules.MAX_EMAILS + 1)]
    assert document_problems({"emails": emails}, partial=True) == [
        f"/emails: at most {rules.MAX_EMAILS}"
    ]
    assert document_problems({"tags": ["a,b", "c;d"]}, partial=True) == [
        "/tags/0: must not hold a comma or a semicolon",
        "/tags/1: must not hold a comma or a semicolon",
    ]
    numbers = [f"+1201555{i:04d}" for i in range(rules.MAX_NUMBERS)]
    assert len(rules.parse_document({"numbers": numbers}, None, partial=True)["numbers"]) == 10
    assert document_problems(
        {"numbers": [{"number": DANA, "label": 5}, {"number": DANA, "label": "x" * 31}]},
        partial=True,
    ) == [
        "/numbers/0/label: must be a label (a string)",
        "/numbers/1/label: must be at most 30 characters",
    ]


def test_read_only_fields_may_come_back_empty_but_the_id() -> None:
    fields = rules.parse_document(
        {"name": "Dana", "version": None, "createdAt": None, "updatedAt": None}, None
    )
    assert fields["tags"] == ()
    assert fields["numbers"] == ()
    assert fields["emails"] == ()
    assert fields["blocked"] is False
    assert fields["notes"] is None
    assert document_problems({"name": "Dana", "id": None}) == [
        "/id: is read-only, and not of its type"
    ]
    with pytest.raises(ApiError) as not_object:
        rules.parse_document("Dana", "US")
    assert (not_object.value.status, not_object.value.code, not_object.value.message) == (
        400,
        "invalid_json",
        "the request body must be a JSON object",
    )


def test_the_api_error_carries_the_first_problem_and_every_one() -> None:
    error = rules.invalid_contact([Problem("/name", "is bad"), Problem("/tags/0", "too")])
    assert (error.status, error.code, error.message, error.field) == (
        400,
        "invalid_contact",
        "/name: is bad",
        "/name",
    )
    assert error.extra == {
        "errors": [
            {"field": "/name", "message": "is bad"},
            {"field": "/tags/0", "message": "too"},
        ]
    }
    invalid = ContactInvalid([Problem("/name", "is bad")])
    assert (str(invalid), invalid.problems) == ("/name: is bad", [Problem("/name", "is bad")])
    assert str(ContactInvalid([])) == "invalid contact"


def test_build_stores_blocked_as_a_flag_and_keeps_the_extras() -> None:
    built = rules.build("c0123456789ab", {"name": "Dana", "blocked": 1}, uid="vcard-1")
    assert built.blocked is True
    assert built.uid == "vcard-1"
    assert rules.build("c0123456789ab", {"blocked": 0}).blocked is False


def test_an_import_entry_names_each_problem_by_entry_and_field() -> None:
    draft = Draft(
        "entry 1",
        name=Raw(5, "FN (line 2)"),
        company=Raw(6, "ORG (line 3)"),
        tags=[Raw("a,b", "CATEGORIES (line 4)"), Raw("c;d", "CATEGORIES (line 4)")],
    )
    _, problems = rules.check_draft(draft, None)
    assert [str(p) for p in problems] == [
        "entry 1, FN (line 2): must be a name (a string)",
        "entry 1, ORG (line 3): must be a company name (a string)",
        "entry 1, CATEGORIES (line 4): must not hold a comma or a semicolon",
        "entry 1, CATEGORIES (line 4): must not hold a comma or a semicolon",
    ]


@pytest.mark.parametrize(
    ("field", "limit", "make", "words"),
    [
        ("tags", rules.MAX_TAGS, lambda i: Raw(f"tag{i}", f"tag {i}"), "tags"),
        ("emails", rules.MAX_EMAILS, lambda i: Raw(f"a{i}@example.com", f"mail {i}"), "addresses"),
        (
            "numbers",
            rules.MAX_NUMBERS,
            lambda i: (Raw(f"+1201555{i:04d}", f"tel {i}"), None),
            "numbers",
        ),
    ],
)
def test_an_import_entry_stops_at_each_limit(field: str, limit: int, make: Any, words: str) -> None:
    at_limit = Draft("row 1", name=Raw("Dana", "name"), **{field: [make(i) for i in range(limit)]})
    entry, none = rules.check_draft(at_limit, None)
    assert none == []
    assert entry is not None
    assert len(entry.fields[field]) == limit
    over = Draft("row 1", name=Raw("Dana", "name"), **{field: [make(i) for i in range(limit + 1)]})
    _, problems = rules.check_draft(over, None)
    first = "tag 0" if field == "tags" else "mail 0" if field == "emails" else "tel 0"
    assert [str(p) for p in problems] == [f"row 1, {first}: at most {limit} {words}"]


def test_a_flag_refused_quotes_twenty_characters_at_most() -> None:
    assert refusal(rules.parse_flag, "abcdefghijklmnopqrstuvwxyz") == (
        "'abcdefghijklmnopqrst' is neither yes nor no (true/false, 1/0)"
    )
    assert rules.parse_flag(True) is True


def test_versions_refused_in_full() -> None:
    current = Contact("c1", version=3)
    with pytest.raises(ApiError) as blind:
        rules.check_precondition(None, current, required=True)
    assert (blind.value.status, blind.value.code, blind.value.message, blind.value.field) == (
        428,
        "precondition_required",
        "send If-Match with the contact's ETag (GET it first), or If-Match: *",
        "If-Match",
    )
    with pytest.raises(ApiError) as stale:
        rules.check_precondition(Precondition(version=2), current, required=True)
    assert (stale.value.status, stale.value.code, stale.value.message, stale.value.field) == (
        412,
        "precondition_failed",
        "the contact was changed since that version: GET it again and retry",
        "If-Match",
    )


def test_a_contact_as_json_member_by_member() -> None:
    created = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    updated = datetime(2026, 12, 2, 10, 45, 1, 500000, tzinfo=UTC)
    contact = Contact(
        "c0123456789ab",
        name="Dana",
        notes="gate code 4411",
        tags=("VIP",),
        numbers=(PhoneNumber(DANA, "mobile"),),
        emails=("dana@example.com",),
        version=4,
        created_at=created,
        updated_at=updated,
    )
    summary = {
        "id": "c0123456789ab",
        "name": "Dana",
        "company": None,
        "numbers": [{"number": DANA, "label": "mobile"}],
        "emails": ["dana@example.com"],
        "tags": ["VIP"],
        "blocked": False,
        "version": 4,
        "updatedAt": "2026-12-02T10:45:01.500Z",
    }
    assert rules.summary_json(contact) == summary
    assert rules.contact_json(contact) == {
        **summary,
        "notes": "gate code 4411",
        "createdAt": "2026-12-01T09:30:00.000Z",
    }
    new = rules.contact_json(Contact("c1", name="New"))
    assert (new["createdAt"], new["updatedAt"]) == (None, None)


def test_search_words_and_order_at_their_edges() -> None:
    assert rules.words(Contact("c1", company="ACME")) == ("acme",)
    long_name = " ".join(["abcdefghij"] * 12)  # 131 characters
    assert rules.sort_key(Contact("c1", name=long_name)) == long_name[:100]
    assert rules.sort_key(Contact("c1")) == "~"
    assert rules.missing_identity({"numbers": (PhoneNumber(DANA),)}) == []
    assert rules.missing_identity({}, "row 3") == [
        Problem("row 3", "a contact needs a name, a company or a phone number")
    ]


def test_every_entry_of_a_list_that_is_no_string_is_named() -> None:
    assert document_problems({"tags": [7, 8], "emails": [None, "a@example.com"]}, partial=True) == [
        "/tags/0: must be a string",
        "/tags/1: must be a string",
        "/emails/0: must be a string",
    ]
