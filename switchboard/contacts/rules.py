"""Contacts as plain data, and every rule about them (pure, no I/O).

A contact has a name, a company, notes, tags, whether it is blocked, its phone numbers (each
E.164, with a label such as `mobile` or `work`) and its e-mail addresses. A number belongs to
one contact at most: "who is +12015550123?" has one answer. It needs a name, a company or a
number; everything else is optional.

Numbers are normalised to E.164 with phonenumbers. One written without a country code
(`(201) 555-0123`, as phones store local numbers) is read in a *region* (ISO 3166, `US`): the
one an import names (`--region`, `?region=`), else the country of `TWILIO_FROM_NUMBER`, the
business's own number (its customers' local numbers are local to it). Without either such a
number is refused, naming where it is.

Every check names the field it refuses: a JSON pointer for the API's documents
(`/numbers/1/number`), the file's own field for an import (`entry 3 (line 45) TEL`, `row 7
phones`). An import entry (`Draft`) carries only what its file says; a field it does not carry
is kept from the contact it updates (`merge`).

Names, companies and tags are also folded for search (`fold`: lower case, accents removed):
each contact is found by the start of any word of its name or company (`words`) and listed in
the order of its name (`sort_key`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from switchboard.contacts.refs import ContactRef as ContactRef
from switchboard.contacts.refs import ref_from_summary as ref_from_summary
from switchboard.http import ApiError, Precondition
from switchboard.patterns import MAX_EMAIL_ADDRESS, has_control, is_email_address
from switchboard.records import iso
from switchboard.twilio.text import is_valid_unicode

MAX_NAME = 200
MAX_COMPANY = 200
MAX_NOTES = 4000
MAX_TAGS = 20
MAX_TAG = 40
MAX_LABEL = 30
MAX_NUMBERS = 10
MAX_EMAILS = 10
#: Words of a name and company a contact is found by (each at most `MAX_WORD` characters).
MAX_WORDS = 12
MAX_WORD = 40

#: A contact's id: `c` and 12 hex digits (random: an id says nothing about the contact).
CONTACT_ID = re.compile(r"c[0-9a-f]{12}")
#: The labels phones give numbers, in the words used here (see `label_of`).
LABELS = ("mobile", "work", "home", "main", "fax", "pager", "other")
#: What the JSON API takes; the rest (`id`, `version`, ...) is read-only and ignored.
FIELDS = ("name", "company", "notes", "tags", "numbers", "emails", "blocked")
READ_ONLY = frozenset({"id", "version", "createdAt", "updatedAt"})

# phonenumbers' and the vCard TYPE words for the labels (vCard 2.1, 3.0, 4.0; iOS, Android).
_LABEL_WORDS = {
    "cell": "mobile",
    "mobile": "mobile",
    "iphone": "mobile",
    "work": "work",
    "home": "home",
    "main": "main",
    "fax": "fax",
    "pager": "pager",
    "other": "other",
}
_WORD = re.compile(r"[^\W_]+")
_TAG_SEPARATORS = re.compile(r"[,;]")


def new_contact_id() -> str:
    """A fresh random contact id."""
    return "c" + secrets.token_hex(6)


# --------------------------------------------------------------------------------------------
# Plain data


@dataclass(frozen=True)
class PhoneNumber:
    """One number of a contact: E.164, and its label (None: none given)."""

    number: str
    label: str | None = None


@dataclass(frozen=True)
class Contact:
    """A contact as stored (`version` counts its writes; 0 before the first)."""

    id: str
    name: str | None = None
    company: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] = ()
    numbers: tuple[PhoneNumber, ...] = ()
    emails: tuple[str, ...] = ()
    blocked: bool = False
    #: The UID of the vCard it was imported from (matched again on the next import).
    uid: str | None = None
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def label(self) -> str | None:
        """How people name it: its name, else its company."""
        return self.name or self.company

    @property
    def number_set(self) -> frozenset[str]:
        """Its numbers (E.164)."""
        return frozenset(n.number for n in self.numbers)

    def content(self) -> tuple[Any, ...]:
        """What a write changes (two contacts with equal content need no write)."""
        return (
            self.name,
            self.company,
            self.notes,
            self.tags,
            self.numbers,
            self.emails,
            self.blocked,
            self.uid,
        )


def ref_of(contact: Contact) -> ContactRef:
    """The lookup's view of a contact."""
    return ContactRef(contact.id, contact.name, contact.company, contact.blocked, contact.tags)


# --------------------------------------------------------------------------------------------
# Checking one field (ValueError: the message; the caller names the field)


class Problem(NamedTuple):
    """One thing wrong with what was given: where (a pointer, an entry's field) and what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def one_line(value: Any, limit: int, what: str = "text") -> str | None:
    """A one-line text: whitespace collapsed, None when empty; ValueError when it is not a
    string, holds a control character or is longer than `limit`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be {what} (a string)")
    if not is_valid_unicode(value):
        raise ValueError("is not valid Unicode text")
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    text = " ".join(value.split())
    if has_control(text):
        raise ValueError("must be one line without control characters")
    return text or None


def clean_notes(value: Any) -> str | None:
    """Notes: several lines allowed, trimmed, at most `MAX_NOTES` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be text (a string)")
    if not is_valid_unicode(value):
        raise ValueError("is not valid Unicode text")
    if len(value) > MAX_NOTES:
        raise ValueError(f"must be at most {MAX_NOTES} characters")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if has_control(text, multiline=True):
        raise ValueError("must not hold control characters (line breaks and tabs are fine)")
    return text or None


def clean_tag(value: Any) -> str | None:
    """One tag: a short line without commas or semicolons (they separate tags in files)."""
    text = one_line(value, MAX_TAG, "a tag")
    if text is not None and _TAG_SEPARATORS.search(text):
        raise ValueError("must not hold a comma or a semicolon")
    return text


def clean_label(value: Any) -> str | None:
    """A number's label: a known word (`label_of`) or a short line of its own."""
    text = one_line(value, MAX_LABEL, "a label")
    if text is None:
        return None
    return _LABEL_WORDS.get(text.lower(), text)


def clean_email(value: Any) -> str:
    """An e-mail address, trimmed; ValueError when it is not one."""
    text = one_line(value, MAX_EMAIL_ADDRESS, "an e-mail address")
    if text is None:
        raise ValueError("must not be empty")
    if not is_email_address(text):
        raise ValueError(f"{text!r} is not an e-mail address (name@example.com)")
    return text


def label_of(types: Iterable[str]) -> str | None:
    """The label of a number from its vCard TYPEs (`CELL`, `WORK,VOICE`, `iPhone`, ...):
    the first known one; `voice`, `pref`, `text`, `internet` say nothing of where it rings."""
    for raw in types:
        for word in raw.split(","):
            found = _LABEL_WORDS.get(word.strip().strip('"').lower())
            if found:
                return found
    return None


def normalise_number(raw: Any, region: str | None) -> str:
    """A phone number as E.164, read in `region` (ISO 3166) when it has no country code;
    ValueError saying why it cannot be one (`tel:` URIs and extensions are read: the
    extension is dropped, calls and texts come from the main number)."""
    if not isinstance(raw, str):
        raise ValueError("must be a phone number (a string)")
    text = raw.strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > 64 or has_control(text) or not is_valid_unicode(text):
        raise ValueError("is not a phone number")
    import phonenumbers

    international = text.startswith("+") or text.lower().startswith("tel:+")
    if not international and region is None:
        raise ValueError(
            f"{text!r} has no country code: write it +<country code>..., or give the region "
            "its local numbers are in (--region US, ?region=US)"
        )
    try:
        parsed = phonenumbers.parse(text, None if international else region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{text!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        where = "" if international else f" (read in {region})"
        raise ValueError(f"{text!r} is not a possible phone number{where}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def check_region(raw: str | None) -> str | None:
    """A region as given (`us` → `US`); ValueError when phonenumbers knows no such region."""
    if raw is None or not raw.strip():
        return None
    from switchboard.phone import known_regions

    region = raw.strip().upper()
    if region not in known_regions():
        raise ValueError(f"{raw.strip()!r} is not a region (an ISO 3166 code such as US or GB)")
    return region


# --------------------------------------------------------------------------------------------
# A document of the API


def _distinct(values: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    found = []
    for value in values:
        key = value.casefold()
        if key not in seen:
            seen.add(key)
            found.append(value)
    return tuple(found)


def _distinct_numbers(numbers: Iterable[PhoneNumber]) -> tuple[PhoneNumber, ...]:
    seen: set[str] = set()
    found = []
    for number in numbers:
        if number.number not in seen:
            seen.add(number.number)
            found.append(number)
    return tuple(found)


class ContactInvalid(Exception):
    """What was given cannot be a contact: every problem, each naming its field."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self.problems[0]) if self.problems else "invalid contact")


def invalid_contact(problems: Sequence[Problem]) -> ApiError:
    """400 `invalid_contact`: the first problem as the message, every one in `errors`."""
    first = problems[0]
    return ApiError(
        400,
        "invalid_contact",
        str(first),
        first.field,
        extra={"errors": [{"field": p.field, "message": p.message} for p in problems]},
    )


def parse_document(body: Any, region: str | None, *, partial: bool = False) -> dict[str, Any]:
    """The fields of a contact from a JSON document (all of them, those left out empty; or
    only those given when `partial`: a PATCH); `ApiError` 400 naming every bad field by its
    JSON pointer. The read-only fields a GET answers (`id`, `version`, ...) may come back
    and are ignored, if they have their types."""
    if not isinstance(body, Mapping):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    problems: list[Problem] = []
    for name, value in body.items():
        if name in READ_ONLY:
            expected = int if name == "version" else str
            if not (isinstance(value, expected) and not isinstance(value, bool)) and not (
                value is None and name != "id"
            ):
                problems.append(Problem(f"/{name}", "is read-only, and not of its type"))
        elif name not in FIELDS:
            problems.append(Problem(f"/{name}", "is not a field of a contact"))
    fields: dict[str, Any] = {}
    for name in FIELDS:
        if name not in body:
            if not partial:
                fields[name] = False if name == "blocked" else () if name in _LISTS else None
            continue
        try:
            fields[name] = _document_field(name, body[name], region, problems)
        except ValueError as exc:
            problems.append(Problem(f"/{name}", str(exc)))
    if not partial and not problems:
        problems += missing_identity(fields)
    if problems:
        raise invalid_contact(problems)
    return fields


_LISTS = frozenset({"tags", "numbers", "emails"})


def _document_field(name: str, value: Any, region: str | None, problems: list[Problem]) -> Any:
    if name == "name":
        return one_line(value, MAX_NAME, "a name")
    if name == "company":
        return one_line(value, MAX_COMPANY, "a company name")
    if name == "notes":
        return clean_notes(value)
    if name == "blocked":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if not isinstance(value, list):
        raise ValueError(f"must be a list of {name}")
    if name == "tags":
        return _checked_items(value, "/tags", clean_tag, MAX_TAGS, problems)
    if name == "emails":
        return _distinct(_checked_items(value, "/emails", clean_email, MAX_EMAILS, problems))
    return _document_numbers(value, region, problems)


def _checked_items(
    items: list[Any], pointer: str, check: Any, limit: int, problems: list[Problem]
) -> tuple[str, ...]:
    if len(items) > limit:
        problems.append(Problem(pointer, f"at most {limit}"))
        return ()
    found = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            problems.append(Problem(f"{pointer}/{index}", "must be a string"))
            continue
        try:
            cleaned = check(item)
        except ValueError as exc:
            problems.append(Problem(f"{pointer}/{index}", str(exc)))
            continue
        if cleaned is not None:
            found.append(cleaned)
    return _distinct(found)


def _document_numbers(
    items: list[Any], region: str | None, problems: list[Problem]
) -> tuple[PhoneNumber, ...]:
    if len(items) > MAX_NUMBERS:
        problems.append(Problem("/numbers", f"at most {MAX_NUMBERS} numbers"))
        return ()
    found = []
    for index, item in enumerate(items):
        where = f"/numbers/{index}"
        raw, label = item, None
        if isinstance(item, Mapping):
            unknown = sorted(set(item) - {"number", "label"})
            if unknown:
                problems.append(Problem(f"{where}/{unknown[0]}", "is not a field of a number"))
                continue
            raw = item.get("number")
            where += "/number"
            try:
                label = clean_label(item.get("label"))
            except ValueError as exc:
                problems.append(Problem(f"/numbers/{index}/label", str(exc)))
                continue
        try:
            found.append(PhoneNumber(normalise_number(raw, region), label))
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
    return _distinct_numbers(found)


def missing_identity(fields: Mapping[str, Any], where: str = "/") -> list[Problem]:
    """A contact needs a name, a company or a number to be told apart."""
    if fields.get("name") or fields.get("company") or fields.get("numbers"):
        return []
    return [Problem(where, "a contact needs a name, a company or a phone number")]


def build(
    contact_id: str, fields: Mapping[str, Any], base: Contact | None = None, **extra: Any
) -> Contact:
    """The contact with `fields` over `base` (a new contact when None): only the fields given
    change, the rest is kept."""
    current = base or Contact(id=contact_id)
    changes = {name: fields[name] for name in FIELDS if name in fields}
    if "blocked" in changes:
        changes["blocked"] = bool(changes["blocked"])
    return replace(current, **changes, **extra)


# --------------------------------------------------------------------------------------------
# An entry of an import file


class Raw(NamedTuple):
    """A value as a file has it, and the file's name of where it is (`TEL (line 47)`)."""

    value: Any
    source: str


@dataclass
class Draft:
    """One entry of an import file as read: only what the file carries (None: not carried,
    so kept on update). `where` names the entry (`entry 3 (line 45)`, `row 7`)."""

    where: str
    name: Raw | None = None
    company: Raw | None = None
    notes: Raw | None = None
    tags: list[Raw] | None = None
    numbers: list[tuple[Raw, str | None]] | None = None
    emails: list[Raw] | None = None
    blocked: Raw | None = None
    id: Raw | None = None
    uid: str | None = None
    #: Problems found while reading it (a field that is not text, ...).
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    """An import entry, checked: its fields (only those the file carries), its id and UID."""

    where: str
    fields: Mapping[str, Any]
    id: str | None = None
    uid: str | None = None


def check_draft(draft: Draft, region: str | None) -> tuple[Entry | None, list[Problem]]:
    """The entry's fields, checked and normalised, or every problem naming its field."""
    problems = list(draft.problems)
    fields: dict[str, Any] = {}

    def named(raw: Raw) -> str:
        return f"{draft.where}, {raw.source}"

    def one(raw: Raw | None, name: str, check: Any) -> None:
        if raw is None:
            return
        try:
            fields[name] = check(raw.value)
        except ValueError as exc:
            problems.append(Problem(named(raw), str(exc)))

    one(draft.name, "name", lambda v: one_line(v, MAX_NAME, "a name"))
    one(draft.company, "company", lambda v: one_line(v, MAX_COMPANY, "a company name"))
    one(draft.notes, "notes", clean_notes)
    one(draft.blocked, "blocked", parse_flag)
    if draft.tags is not None:
        tags = []
        for raw in draft.tags:
            try:
                tag = clean_tag(raw.value)
            except ValueError as exc:
                problems.append(Problem(named(raw), str(exc)))
                continue
            if tag:
                tags.append(tag)
        fields["tags"] = _distinct(tags)
        if len(fields["tags"]) > MAX_TAGS:
            problems.append(Problem(named(draft.tags[0]), f"at most {MAX_TAGS} tags"))
    if draft.emails is not None:
        emails = []
        for raw in draft.emails:
            try:
                emails.append(clean_email(raw.value))
            except ValueError as exc:
                problems.append(Problem(named(raw), str(exc)))
        fields["emails"] = _distinct(emails)
        if len(fields["emails"]) > MAX_EMAILS:
            problems.append(Problem(named(draft.emails[0]), f"at most {MAX_EMAILS} addresses"))
    if draft.numbers is not None:
        numbers = []
        for raw, label in draft.numbers:
            try:
                numbers.append(PhoneNumber(normalise_number(raw.value, region), label))
            except ValueError as exc:
                problems.append(Problem(named(raw), str(exc)))
        fields["numbers"] = _distinct_numbers(numbers)
        if len(fields["numbers"]) > MAX_NUMBERS:
            problems.append(Problem(named(draft.numbers[0][0]), f"at most {MAX_NUMBERS} numbers"))
    contact_id = None
    if draft.id is not None and draft.id.value:
        contact_id = str(draft.id.value).strip()
        if not CONTACT_ID.fullmatch(contact_id):
            problems.append(Problem(named(draft.id), f"{contact_id!r} is not a contact id"))
    if not problems:
        problems += missing_identity(fields, draft.where)
    if problems:
        return None, problems
    return Entry(draft.where, fields, contact_id, draft.uid), []


_TRUE = frozenset({"true", "yes", "y", "1", "blocked", "x"})
_FALSE = frozenset({"false", "no", "n", "0", ""})


def parse_flag(value: Any) -> bool:
    """`true`/`yes`/`1`/`x` or `false`/`no`/`0`/empty, in any case; ValueError otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{str(value)[:20]!r} is neither yes nor no (true/false, 1/0)")


# --------------------------------------------------------------------------------------------
# Search and order


def fold(text: str) -> str:
    """Text as search compares it: accents removed, case folded (`Zoë` → `zoe`)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words_of(text: str) -> list[str]:
    """The folded words of a text (letters and digits; punctuation separates)."""
    return [w[:MAX_WORD] for w in _WORD.findall(fold(text))]


def words(contact: Contact) -> tuple[str, ...]:
    """The words a contact is found by: those of its name and company, each once."""
    found: list[str] = []
    for text in (contact.name, contact.company):
        for word in words_of(text or ""):
            if word not in found:
                found.append(word)
    return tuple(found[:MAX_WORDS])


def sort_key(contact: Contact) -> str:
    """Where a contact stands in the listing: by its name (else company), folded; one with
    neither after every named one, by its first number."""
    label = " ".join(words_of(contact.label or ""))[:100]
    if label:
        return label
    first = contact.numbers[0].number if contact.numbers else ""
    return "~" + first


def matches(contact_words: Sequence[str], query_words: Sequence[str]) -> bool:
    """Whether every word of a search starts some word of the contact."""
    return all(any(w.startswith(q) for w in contact_words) for q in query_words)


# --------------------------------------------------------------------------------------------
# Versions (ETags, as the lines API has them)


def check_precondition(
    precondition: Precondition | None, current: Contact, *, required: bool
) -> None:
    """428 when `required` and no If-Match was sent; 412 when it names another version."""
    if precondition is None:
        if required:
            raise ApiError(
                428,
                "precondition_required",
                "send If-Match with the contact's ETag (GET it first), or If-Match: *",
                "If-Match",
            )
        return
    if not precondition.any_version and precondition.version != current.version:
        raise ApiError(
            412,
            "precondition_failed",
            "the contact was changed since that version: GET it again and retry",
            "If-Match",
        )


# --------------------------------------------------------------------------------------------
# JSON


def number_json(number: PhoneNumber) -> dict[str, Any]:
    """`{"number", "label"}`."""
    return {"number": number.number, "label": number.label}


def summary_json(contact: Contact) -> dict[str, Any]:
    """A contact in a listing (and on its index rows): everything but its notes."""
    return {
        "id": contact.id,
        "name": contact.name,
        "company": contact.company,
        "numbers": [number_json(n) for n in contact.numbers],
        "emails": list(contact.emails),
        "tags": list(contact.tags),
        "blocked": contact.blocked,
        "version": contact.version,
        "updatedAt": iso(contact.updated_at) if contact.updated_at else None,
    }


def contact_json(contact: Contact) -> dict[str, Any]:
    """A contact in full (`GET /api/contacts/{id}`)."""
    return {
        **summary_json(contact),
        "notes": contact.notes,
        "createdAt": iso(contact.created_at) if contact.created_at else None,
    }
