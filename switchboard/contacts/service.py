"""The operator's reads and writes of contacts, shared by the routes and the command line.

Every function raises `ApiError` (the one error shape) for what the caller can fix (400 naming
the field, 404, 409 a number another contact holds, 412/428 the version) and 503 when storage
is down. A write on this instance is heard by its webhooks at once (`lookup.remember`).

- `list_contacts`: a page in the order of names; `q` searches the start of any word of the
  name or company (`dana rey`), or a number (`+1201555`, or a whole national number read in
  the region); `blocked` keeps the blocked ones. A page reads the index rows of its contacts
  (a search at most `MAX_SCAN` rows), never the whole table.
- `get`, `create`, `replace` (PUT, `If-Match` required), `patch` (the fields given; `If-Match`
  checked when sent), `delete`, `set_blocked` (blocking a number that is nobody's creates a
  contact of that number, blocked). A contact is named by its id or by any of its numbers.
- `import_file` and `export_file`: vCard and CSV (`switchboard.contacts.vcard`, `csvfile`),
  all or nothing per file (`switchboard.contacts.importing`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from typing import Any

from switchboard import records
from switchboard.contacts import importing, lookup, rules
from switchboard.contacts.refs import NUMBER_PREFIX, ContactRef, number_row
from switchboard.contacts.rules import Contact, Problem
from switchboard.contacts.store import (
    LIST_PREFIX,
    WORD_PREFIX,
    ContactStore,
    NumberTaken,
    Stored,
    VersionConflict,
)
from switchboard.http import ApiError, invalid, not_found, parse_if_match, storage_unavailable
from switchboard.logs import get_logger
from switchboard.settings import Settings

logger = get_logger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: Index rows one search request reads at most before it answers with what it found (and a
#: cursor to read on).
MAX_SCAN = 1000
#: Problems an import names at most (the count of the rest is said).
MAX_PROBLEMS = 500
#: The longest search.
MAX_QUERY = 200
#: Formats of import and export files.
FORMATS = ("vcard", "csv")
_CURSOR_PREFIX = "v1:"
_NUMBERISH = re.compile(r"[+0-9(][0-9 ().\-]*")
_WRITE_ATTEMPTS = 5


def default_region(settings: Settings) -> str | None:
    """Where local numbers are: the country of `TWILIO_FROM_NUMBER`, the business's own."""
    if not settings.twilio_from_number:
        return None
    from switchboard.phone import region_of

    region = region_of(settings.twilio_from_number)
    return region if region and region != "001" else None


def region_for(settings: Settings, given: str | None) -> str | None:
    """The region an import or a document reads local numbers in: `given`, else the default;
    400 naming `region` when it is not one."""
    try:
        return rules.check_region(given) or default_region(settings)
    except ValueError as exc:
        raise invalid("region", str(exc)) from None


def _store(settings: Settings) -> ContactStore:
    return ContactStore.from_settings(settings)


def _storage(exc: Exception) -> ApiError:
    return exc if isinstance(exc, ApiError) else storage_unavailable(exc)


# --------------------------------------------------------------------------------------------
# Reads


def encode_cursor(key: str) -> str:
    """The opaque cursor of a page that ended at index row `key`."""
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + key).encode()).decode().rstrip("=")


def decode_cursor(raw: str, prefix: str) -> str:
    """The index row a cursor continues after; 400 when it is not a cursor of this listing."""
    try:
        text = base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4)).decode()
    except (binascii.Error, ValueError):
        text = ""
    key = text[len(_CURSOR_PREFIX) :]
    if not (
        text.startswith(_CURSOR_PREFIX) and key.startswith(prefix) and records.is_valid_key(key)
    ):
        raise invalid("cursor", "is not a cursor of this listing")
    return key


def _search(q: str, region: str | None) -> tuple[str, list[str]]:
    """(the index prefix a search reads, the words every contact found must start)."""
    if len(q) > MAX_QUERY:
        raise invalid("q", f"must be at most {MAX_QUERY} characters")
    text = q.strip()
    if _NUMBERISH.fullmatch(text) and sum(c.isdigit() for c in text) >= 3:
        digits = "".join(c for c in text if c.isdigit())
        if text.startswith("+"):
            return NUMBER_PREFIX + "+" + digits, []
        try:
            return number_row(rules.normalise_number(text, region)), []
        except ValueError:
            return NUMBER_PREFIX + "+" + digits, []
    found = rules.words_of(text)
    if not found:
        raise invalid("q", "give a name, a word of one, or a number")
    return WORD_PREFIX + found[0], found


def _first_match(summary: dict[str, Any], first: str) -> str | None:
    """The first of a contact's words (in key order) that the search's first word starts."""
    contact = Contact(id="", name=summary.get("name"), company=summary.get("company"))
    starting = sorted(w for w in rules.words(contact) if w.startswith(first))
    return starting[0] if starting else None


def list_contacts(
    settings: Settings,
    *,
    q: str | None = None,
    blocked: bool = False,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A page of contacts: `{"items": [summary...], "nextCursor"}` (see the module doc)."""
    prefix, query_words = (LIST_PREFIX, []) if not q else _search(q, default_region(settings))
    after = decode_cursor(cursor, prefix) if cursor else None
    items: list[dict[str, Any]] = []
    seen: set[Any] = set()  # a contact two of whose numbers start the same, listed once a page
    last: str | None = None
    more = False
    scanned = 0
    try:
        hits = _store(settings).index_range(
            prefix, after, limit + 1, blocked_only=blocked and not q
        )
        for hit in hits:
            scanned += 1
            if (q and not _wanted(hit.key, hit.summary, query_words, blocked)) or (
                hit.summary.get("id") in seen
            ):
                last = hit.key
                if scanned >= MAX_SCAN:
                    more = True
                    break
                continue
            if len(items) == limit:
                more = True
                break
            items.append(hit.summary)
            seen.add(hit.summary.get("id"))
            last = hit.key
            if scanned >= MAX_SCAN:
                more = True
                break
    except Exception as exc:
        raise _storage(exc) from exc
    return {"items": items, "nextCursor": encode_cursor(last) if more and last else None}


def _wanted(key: str, summary: dict[str, Any], query_words: list[str], blocked: bool) -> bool:
    if blocked and summary.get("blocked") is not True:
        return False
    if not query_words:
        return True  # a number's row
    word = key[len(WORD_PREFIX) :].partition(" ")[0]  # a word has no space; the name may
    contact = Contact(id="", name=summary.get("name"), company=summary.get("company"))
    # Once per contact: at the first of its words the search starts (not at every one).
    return rules.matches(rules.words(contact), query_words) and word == _first_match(
        summary, query_words[0]
    )


def _find(settings: Settings, key: str) -> Stored:
    """The contact named by `key` (its id, or one of its numbers); 404 otherwise."""
    text = (key or "").strip()
    try:
        store = _store(settings)
        if rules.CONTACT_ID.fullmatch(text):
            found = store.get(text)
        else:
            try:
                number = rules.normalise_number(text, default_region(settings))
            except ValueError:
                raise not_found("contact", text) from None
            owner = store.owner_of(number)
            found = store.get(owner) if owner else None
    except ApiError:
        raise
    except Exception as exc:
        raise storage_unavailable(exc) from exc
    if found is None:
        raise not_found("contact", text)
    return found


def get(settings: Settings, key: str) -> Stored:
    """A contact by id or number (404 when none)."""
    return _find(settings, key)


# --------------------------------------------------------------------------------------------
# Writes


def _refs(before: Contact | None, after: Contact | None) -> dict[str, ContactRef | None]:
    found: dict[str, ContactRef | None] = {}
    for number in before.number_set if before else ():
        found[number] = None
    if after is not None:
        for number in after.number_set:
            found[number] = rules.ref_of(after)
    return found


def _check_numbers(store: ContactStore, contact: Contact, before: Contact | None) -> None:
    """409 `number_taken` naming a number another contact holds (its id in the message)."""
    old = before.number_set if before else frozenset()
    for index, number in enumerate(contact.numbers):
        if number.number in old:
            continue
        owner = store.owner_of(number.number)
        if owner is not None and owner != contact.id:
            raise _taken(number.number, owner, index)


def _taken(number: str | None, owner: str | None, index: int | None = None) -> ApiError:
    whose = f"contact {owner}" if owner else "another contact"
    return ApiError(
        409,
        "number_taken",
        f"{number or 'a number'} is already the number of {whose}: a number belongs to one contact",
        f"/numbers/{index}/number" if index is not None else "/numbers",
    )


def write(settings: Settings, contact: Contact, before: Stored | None) -> Stored:
    """Write a contact after `before` (None: new), checking its numbers first; heard by this
    instance's lookups at once."""
    try:
        store = _store(settings)  # (its table made on first use: storage may fail here too)
        _check_numbers(store, contact, before.contact if before else None)
        written = store.write(contact, before, records.utcnow())
    except NumberTaken as exc:
        raise _taken(exc.number, _owner_or_none(store, exc.number)) from None
    except VersionConflict:
        raise ApiError(
            412, "precondition_failed", "the contact was changed meanwhile: GET it and retry"
        ) from None
    except Exception as exc:
        raise _storage(exc) from exc
    lookup.remember(settings, _refs(before.contact if before else None, written.contact))
    return written


def _owner_or_none(store: ContactStore, number: str | None) -> str | None:
    """Who holds a number another write just found taken (None when storage cannot say now:
    the refusal is worth more than the name in it)."""
    try:
        return store.owner_of(number) if number else None
    except Exception:
        return None


def create(settings: Settings, body: Any) -> Stored:
    """A new contact from a JSON document (201)."""
    fields = rules.parse_document(body, default_region(settings))
    return write(settings, rules.build(rules.new_contact_id(), fields), None)


def replace_contact(settings: Settings, key: str, body: Any, if_match: str | None) -> Stored:
    """PUT: every field from the document (`If-Match` required)."""
    precondition = parse_if_match(if_match)
    fields = rules.parse_document(body, default_region(settings))
    current = _find(settings, key)
    rules.check_precondition(precondition, current.contact, required=True)
    base = Contact(id=current.contact.id, uid=current.contact.uid)
    return write(settings, rules.build(current.contact.id, fields, base), current)


def patch(settings: Settings, key: str, body: Any, if_match: str | None) -> Stored:
    """PATCH: the fields given change, the others stay (`If-Match` checked when sent)."""
    precondition = parse_if_match(if_match)
    fields = rules.parse_document(body, default_region(settings), partial=True)
    current = _find(settings, key)
    rules.check_precondition(precondition, current.contact, required=False)
    changed = rules.build(current.contact.id, fields, current.contact)
    problems = rules.missing_identity(
        {"name": changed.name, "company": changed.company, "numbers": changed.numbers}
    )
    if problems:
        raise rules.invalid_contact(problems)
    if changed.content() == current.contact.content():
        return current
    return write(settings, changed, current)


def delete(settings: Settings, key: str, if_match: str | None) -> Contact:
    """Delete a contact and its numbers' rows (`If-Match` checked when sent)."""
    precondition = parse_if_match(if_match)
    current = _find(settings, key)
    rules.check_precondition(precondition, current.contact, required=False)
    try:
        _store(settings).delete(current)
    except VersionConflict:
        raise ApiError(
            412, "precondition_failed", "the contact was changed meanwhile: GET it and retry"
        ) from None
    except Exception as exc:
        raise _storage(exc) from exc
    lookup.remember(settings, _refs(current.contact, None))
    return current.contact


@dataclass(frozen=True)
class Blocking:
    """What `set_blocked` did: the contact, and whether it was created for the number."""

    contact: Contact
    created: bool
    changed: bool


def set_blocked(settings: Settings, key: str, blocked: bool) -> Blocking:
    """Block or unblock a contact (by id or number). Blocking a number that is nobody's
    creates a contact of that number alone, blocked."""
    for _ in range(_WRITE_ATTEMPTS):
        try:
            current = _find(settings, key)
        except ApiError as exc:
            if exc.status != 404 or not blocked or rules.CONTACT_ID.fullmatch(key.strip()):
                raise
            try:
                number = rules.normalise_number(key, default_region(settings))
            except ValueError as bad:
                raise invalid("number", str(bad)) from None
            contact = Contact(
                rules.new_contact_id(), numbers=(rules.PhoneNumber(number),), blocked=True
            )
            try:
                return Blocking(write(settings, contact, None).contact, True, True)
            except ApiError as lost:
                if lost.status in (409, 412):
                    continue  # someone wrote that number meanwhile: block theirs
                raise
        if current.contact.blocked == blocked:
            return Blocking(current.contact, False, False)
        try:
            written = write(settings, replace(current.contact, blocked=blocked), current)
        except ApiError as lost:
            if lost.status == 412:
                continue
            raise
        return Blocking(written.contact, False, True)
    raise ApiError(409, "conflict", "the contact keeps changing: try again")


# --------------------------------------------------------------------------------------------
# Import and export


@dataclass(frozen=True)
class ImportResult:
    """What an import did (or would do, for a dry run)."""

    entries: int
    created: int
    updated: int
    unchanged: int
    dry_run: bool = False

    def json(self) -> dict[str, Any]:
        """The route's answer."""
        return {
            "entries": self.entries,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "dryRun": self.dry_run,
        }


def format_of(text: str, given: str | None = None) -> str:
    """`vcard` or `csv`: as given, else what the text starts with."""
    if given:
        kind = given.strip().lower().removeprefix("text/").removeprefix("x-")
        kind = {"vcf": "vcard", "vcard": "vcard", "csv": "csv"}.get(kind, kind)
        if kind not in FORMATS:
            raise invalid("format", "must be vcard or csv")
        return kind
    return "vcard" if text.lstrip("\ufeff \r\n\t").upper().startswith("BEGIN:VCARD") else "csv"


def read_file(text: str, kind: str) -> tuple[list[rules.Draft], list[Problem]]:
    """The entries of a vCard or CSV file; 400 for a file that is not one at all."""
    if kind == "vcard":
        from switchboard.contacts.vcard import read_vcards

        return read_vcards(text)
    from switchboard.contacts.csvfile import CsvFileError, read_csv

    try:
        return read_csv(text)
    except CsvFileError as exc:
        raise ApiError(400, "invalid_import", str(exc), "file") from None


def invalid_import(problems: list[Problem]) -> ApiError:
    """400 `invalid_import`: every problem in `errors` (at most `MAX_PROBLEMS`, then a count)."""
    listed = [{"field": p.field, "message": p.message} for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        listed.append({"field": "file", "message": f"and {len(problems) - MAX_PROBLEMS} more"})
    first = problems[0]
    return ApiError(
        400,
        "invalid_import",
        f"nothing imported: {len(problems)} problem(s), the first: {first}",
        first.field,
        extra={"errors": listed},
    )


def plan_file(
    settings: Settings, text: str, kind: str | None = None, region: str | None = None
) -> tuple[importing.ImportPlan, dict[str, Stored]]:
    """Read and check a whole file and match it to the contacts (read once: returned by id),
    writing nothing; 400 `invalid_import` naming every problem."""
    kind = format_of(text, kind)
    local = region_for(settings, region)
    drafts, problems = read_file(text, kind)
    if len(drafts) > importing.MAX_ENTRIES:
        raise ApiError(
            400,
            "invalid_import",
            f"the file has {len(drafts):,} entries: at most {importing.MAX_ENTRIES:,} per file",
            "file",
        )
    entries = []
    for draft in drafts:
        entry, found = rules.check_draft(draft, local)
        problems += found
        if entry is not None:
            entries.append(entry)
    if not drafts and not problems:
        problems.append(Problem("file", f"holds no contact ({kind})"))
    if problems:
        raise invalid_import(problems)
    try:
        current = {s.contact.id: s for s in _store(settings).all_contacts()}
    except Exception as exc:
        raise _storage(exc) from exc
    plan = importing.plan_import(
        entries, [s.contact for s in current.values()], rules.new_contact_id
    )
    if plan.problems:
        raise invalid_import(plan.problems)
    return plan, current


def import_file(
    settings: Settings,
    text: str,
    kind: str | None = None,
    region: str | None = None,
    *,
    dry_run: bool = False,
) -> ImportResult:
    """Import a vCard or CSV file: checked whole first (nothing is written while any entry has
    a problem), then written in as few transactions as Table Storage allows (up to 100 rows
    each). A storage failure midway leaves the transactions written so far: the same import
    again writes the rest (it is idempotent)."""
    plan, current = plan_file(settings, text, kind, region)
    result = ImportResult(plan.entries, plan.created, plan.updated, plan.unchanged, dry_run)
    if dry_run or not plan.changes:
        return result
    changes = [(change.after, current.get(change.after.id)) for change in plan.changes]
    try:
        written = _store(settings).write_many(changes, records.utcnow())
    except (VersionConflict, NumberTaken):
        raise ApiError(
            409, "conflict", "the contacts changed during the import: run it again"
        ) from None
    except Exception as exc:
        raise _storage(exc) from exc
    refs: dict[str, ContactRef | None] = {}
    for (_, before), stored in zip(changes, written, strict=True):
        refs.update(_refs(before.contact if before else None, stored.contact))
    lookup.remember(settings, refs)
    logger.info(
        "contacts: imported %d entries: %d created, %d updated, %d unchanged",
        result.entries,
        result.created,
        result.updated,
        result.unchanged,
    )
    return result


def export_file(settings: Settings, kind: str) -> str:
    """Every contact as a vCard 3.0 or CSV file, in the order of names."""
    kind = format_of("", kind)
    try:
        found = [s.contact for s in _store(settings).all_contacts()]
    except Exception as exc:
        raise _storage(exc) from exc
    found.sort(key=lambda c: (rules.sort_key(c), c.id))
    if kind == "vcard":
        from switchboard.contacts.vcard import write_vcards

        return write_vcards(found)
    from switchboard.contacts.csvfile import write_csv

    return write_csv(found)
