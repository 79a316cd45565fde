"""The `Contacts` table: every contact and its index rows in one partition.

Layout (PartitionKey `contacts`; RowKeys by kind):

- `c-<id>`: the contact: `Name`, `Company`, `Notes`, `Tags`, `Numbers` and `Emails` (JSON),
  `Blocked`, `Uid`, `Version`, `CreatedAt`, `UpdatedAt`, and `Rows` (the index rows written for
  it, so that a change removes exactly those);
- `n-<E.164 number>`: one row per number: "who is +12015550123?" is one point read
  (`lookup`), and a number cannot belong to two contacts (the row is created, never
  overwritten, when a contact gains the number);
- `l-<name, folded> <id>`: one row per contact, the listing in the order of names;
- `w-<word> <name, folded> <id>`: one row per word of the name and company, a search by the
  start of a word reads only the rows of that start, each word's contacts in the order of names
  (rows written before the name was part of the key, `w-<word> <id>`, are still found: the
  word is the key's first part in both, and the next change of the contact rewrites them).

Index rows carry `ContactId`, `Blocked` and `Summary` (the contact without its notes, as the
listing shows it), so a listing page, a search page and a lookup read nothing else.

A write is one transaction of the partition: the contact row replaced under its ETag (created
when new), the index rows it no longer has deleted, the others written; so the contact and its
index never disagree, and of two writers racing on one contact the loser writes nothing
(`VersionConflict`). A number another contact holds fails the transaction too
(`NumberTaken`). One partition keeps every change atomic; its throughput (about 2,000
entities a second) is far above what a business's phone numbers make of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.data.tables import TableClient, UpdateMode

from switchboard import records
from switchboard.contacts import rules
from switchboard.contacts.refs import (
    NUMBER_PREFIX,
    PARTITION,
    ContactRef,
    NumberRows,
    number_row,
)
from switchboard.contacts.rules import Contact, PhoneNumber
from switchboard.settings import Settings
from switchboard.storage import tables

CONTACT_PREFIX = "c-"
LIST_PREFIX = "l-"
WORD_PREFIX = "w-"
_INDEX_SELECT = ["RowKey", "ContactId", "Summary"]
#: Operations one transaction of Table Storage takes at most.
MAX_TRANSACTION = 100


class VersionConflict(Exception):
    """The contact was changed (or created, or deleted) by someone else first."""


class NumberTaken(Exception):
    """A number of the contact already belongs to another contact."""

    def __init__(self, number: str | None) -> None:
        self.number = number
        super().__init__(f"{number or 'a number'} belongs to another contact")


@dataclass(frozen=True)
class Stored:
    """A contact as read: with the ETag of its row and the index rows written for it."""

    contact: Contact
    etag: str
    rows: tuple[str, ...]


def upper_bound(prefix: str) -> str:
    """The first key after every key that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def contact_row(contact_id: str) -> str:
    """The RowKey of a contact."""
    return CONTACT_PREFIX + contact_id


def index_rows(contact: Contact) -> tuple[str, ...]:
    """The RowKeys of a contact's index rows (its numbers, its place in the list, its words)."""
    keys = [number_row(n.number) for n in contact.numbers]
    order = rules.sort_key(contact)
    keys.append(f"{LIST_PREFIX}{order} {contact.id}")
    keys += [f"{WORD_PREFIX}{word} {order} {contact.id}" for word in rules.words(contact)]
    return tuple(keys)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _loads(raw: Any, default: Any) -> Any:
    if not isinstance(raw, str):
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def contact_entity(contact: Contact, rows: tuple[str, ...]) -> dict[str, Any]:
    """The contact's row."""
    return {
        "PartitionKey": PARTITION,
        "RowKey": contact_row(contact.id),
        "Name": contact.name,
        "Company": contact.company,
        "Notes": contact.notes,
        "Tags": _dumps(list(contact.tags)),
        "Numbers": _dumps([rules.number_json(n) for n in contact.numbers]),
        "Emails": _dumps(list(contact.emails)),
        "Blocked": contact.blocked,
        "Uid": contact.uid,
        "Version": contact.version,
        "CreatedAt": contact.created_at,
        "UpdatedAt": contact.updated_at,
        "Rows": _dumps(list(rows)),
    }


def contact_of(entity: Mapping[str, Any]) -> Contact:
    """A contact from its row."""
    numbers = _loads(entity.get("Numbers"), [])
    return Contact(
        id=str(entity["RowKey"])[len(CONTACT_PREFIX) :],
        name=entity.get("Name") or None,
        company=entity.get("Company") or None,
        notes=entity.get("Notes") or None,
        tags=tuple(t for t in _loads(entity.get("Tags"), []) if isinstance(t, str)),
        numbers=tuple(
            PhoneNumber(str(n["number"]), n.get("label"))
            for n in numbers
            if isinstance(n, dict) and isinstance(n.get("number"), str)
        ),
        emails=tuple(e for e in _loads(entity.get("Emails"), []) if isinstance(e, str)),
        blocked=entity.get("Blocked") is True,
        uid=entity.get("Uid") or None,
        version=int(entity.get("Version") or 0),
        created_at=entity.get("CreatedAt"),
        updated_at=entity.get("UpdatedAt"),
    )


def _stored(entity: Any) -> Stored:
    rows = _loads(entity.get("Rows"), None)
    contact = contact_of(entity)
    known = tuple(r for r in rows if isinstance(r, str)) if isinstance(rows, list) else None
    return Stored(contact, tables.etag_of(entity), known or index_rows(contact))


def _index_entity(key: str, contact: Contact, summary: str) -> dict[str, Any]:
    return {
        "PartitionKey": PARTITION,
        "RowKey": key,
        "ContactId": contact.id,
        "Blocked": contact.blocked,
        "Summary": summary,
    }


@dataclass(frozen=True)
class IndexHit:
    """One index row read by a listing or a search: its key and the contact's summary."""

    key: str
    summary: dict[str, Any]


class ContactStore:
    """Contacts on Table Storage."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings) -> ContactStore:
        """The store of the `Contacts` table (`TABLE_CONTACTS`), created on first use."""
        return cls(tables.get_table(settings.table_contacts, settings))

    # --- reads ---

    def ref_for(self, number: str) -> ContactRef | None:
        """The contact of a number, from its number row (one point read), or None (a
        webhook reads it through `switchboard.contacts.refs.NumberRows`)."""
        return NumberRows(self.table).ref_for(number)

    def get(self, contact_id: str) -> Stored | None:
        """A contact by id, or None."""
        if not rules.CONTACT_ID.fullmatch(contact_id):
            return None
        entity = tables.get_or_none(self.table, PARTITION, contact_row(contact_id))
        return _stored(entity) if entity is not None else None

    def owner_of(self, number: str) -> str | None:
        """The id of the contact a number belongs to, or None."""
        key = number_row(number)
        if not records.is_valid_key(key):
            return None
        entity = tables.get_or_none(self.table, PARTITION, key)
        return str(entity.get("ContactId")) if entity is not None else None

    def all_contacts(self) -> list[Stored]:
        """Every contact (an import matches against them; an export writes them)."""
        rows = tables.query(
            self.table,
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": PARTITION, "low": CONTACT_PREFIX, "high": upper_bound(CONTACT_PREFIX)},
            page_size=1000,
        )
        return [_stored(row) for row in rows]

    def index_range(
        self,
        prefix: str,
        after: str | None,
        limit: int,
        *,
        blocked_only: bool = False,
    ) -> Iterator[IndexHit]:
        """Index rows whose key starts with `prefix`, in key order after `after`, read a page
        of `limit` at a time (the caller stops reading when it has enough)."""
        low = after if after is not None and after >= prefix else prefix
        filter_text = "PartitionKey eq @pk and RowKey {} @low and RowKey lt @high".format(
            "gt" if after is not None and after >= prefix else "ge"
        )
        if blocked_only:
            filter_text += " and Blocked eq true"
        rows = tables.query(
            self.table,
            filter_text,
            {"pk": PARTITION, "low": low, "high": upper_bound(prefix)},
            select=_INDEX_SELECT,
            page_size=max(1, min(limit, 1000)),
        )
        for row in rows:
            summary = _loads(row.get("Summary"), {})
            if isinstance(summary, dict):
                yield IndexHit(str(row["RowKey"]), summary)

    # --- writes ---

    def write(self, contact: Contact, expected: Stored | None, now: datetime) -> Stored:
        """Write `contact` as the next version after `expected` (None: a new contact), with its
        index rows, in one transaction. VersionConflict when `expected` is no longer current
        (or a new contact's id exists); NumberTaken when another contact holds one of its
        numbers: nothing is written then."""
        operations, written = _operations(contact, expected, now)
        self._submit(operations)
        return written

    def write_many(
        self, changes: list[tuple[Contact, Stored | None]], now: datetime
    ) -> list[Stored]:
        """Write several contacts (an import), as few transactions as the 100 operations of
        one allow; each contact's rows in one. A transaction refused (VersionConflict,
        NumberTaken) writes none of its contacts; those before it stay written."""
        written: list[Stored] = []
        batch: list[Any] = []
        for contact, expected in changes:
            operations, stored = _operations(contact, expected, now)
            if len(batch) + len(operations) > MAX_TRANSACTION:
                self._submit(batch)
                batch = []
            batch += operations
            written.append(stored)
        if batch:
            self._submit(batch)
        return written

    def delete(self, expected: Stored) -> None:
        """Delete a contact and its index rows (VersionConflict when it changed meanwhile)."""
        operations: list[Any] = [
            (
                "delete",
                {"PartitionKey": PARTITION, "RowKey": contact_row(expected.contact.id)},
                _if_unchanged(expected.etag),
            )
        ]
        operations += [
            ("delete", {"PartitionKey": PARTITION, "RowKey": key}) for key in expected.rows
        ]
        self._submit(operations)

    def _submit(self, operations: list[Any]) -> None:
        try:
            self.table.submit_transaction(operations)
        except ResourceExistsError as exc:
            raise self._conflict(exc, operations) from exc
        except HttpResponseError as exc:
            if exc.status_code in (404, 409, 412):
                raise self._conflict(exc, operations) from exc
            raise

    @staticmethod
    def _conflict(exc: HttpResponseError, operations: list[Any]) -> Exception:
        """What a refused transaction means: a number taken, or someone else's write first."""
        index = getattr(exc, "index", None)
        if exc.status_code == 409 and isinstance(index, int) and 0 < index < len(operations):
            key = str(operations[index][1]["RowKey"])
            if key.startswith(NUMBER_PREFIX):
                return NumberTaken(key[len(NUMBER_PREFIX) :])
        return VersionConflict()


def _operations(
    contact: Contact, expected: Stored | None, now: datetime
) -> tuple[list[Any], Stored]:
    """The transaction's operations that write `contact` after `expected`, and what it writes."""
    version = (expected.contact.version if expected else 0) + 1
    created = expected.contact.created_at if expected else now
    written = rules.build(
        contact.id, {}, contact, version=version, created_at=created, updated_at=now
    )
    rows = index_rows(written)
    old = set(expected.rows) if expected else set()
    entity = contact_entity(written, rows)
    operations: list[Any] = []
    if expected is None:
        operations.append(("create", entity))
    else:
        operations.append(("update", entity, _if_unchanged(expected.etag)))
    for key in sorted(old - set(rows)):
        operations.append(("delete", {"PartitionKey": PARTITION, "RowKey": key}))
    summary = _dumps(rules.summary_json(written))
    for key in rows:
        row = _index_entity(key, written, summary)
        if key.startswith(NUMBER_PREFIX) and key not in old:
            operations.append(("create", row))
        else:
            operations.append(("upsert", row, {"mode": UpdateMode.REPLACE}))
    return operations, Stored(written, "", rows)


def _if_unchanged(etag: str) -> dict[str, Any]:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}
