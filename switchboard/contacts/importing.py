"""What an import file does to the contacts (pure): each entry matched to the contact it is,
or a new one, and every reason it cannot be imported.

An entry is the contact it names by id (Switchboard's own export: a CSV `id`, a vCard UID
`urn:switchboard:contact:<id>`; an id not known here creates the contact under that id, so an
export moves between two installations), else the contact imported from the same vCard UID,
else the contact holding one of its numbers, else (an entry without numbers) the contact with
one of its e-mail addresses, else (neither) the one contact of the same name. Anything else is
a new contact. So importing the same file again updates the contacts it created and never
adds them twice; an entry that changes nothing writes nothing.

The entry's fields replace the contact's (`rules.build`); a field its file does not carry is
kept (a vCard never says whether a contact is blocked: blocking survives a re-import).

An import is all or nothing: every problem of every entry is named (`entry 3 (line 45), TEL
(line 47): ...`, `row 7 (line 8), phones: ...`), and while there is one nothing is written.
Problems besides those of single fields: an entry whose numbers belong to two contacts, a
number that belongs to a contact the entry is not (take it off that contact first, or put
both in one entry), a number or a contact two entries of the file claim, a name that several
contacts share (give the entry a number or an id).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from switchboard.contacts import rules
from switchboard.contacts.rules import Contact, Entry, Problem

#: The most entries one file may hold (a small business's address book, with room to spare).
MAX_ENTRIES = 5000


@dataclass(frozen=True)
class Change:
    """One contact to write: as it is now (None: new) and as the entry makes it."""

    where: str
    before: Contact | None
    after: Contact


@dataclass
class ImportPlan:
    """What a file does: the writes, how many entries change nothing, and every problem."""

    entries: int = 0
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def created(self) -> int:
        """New contacts."""
        return sum(1 for c in self.changes if c.before is None)

    @property
    def updated(self) -> int:
        """Contacts changed."""
        return sum(1 for c in self.changes if c.before is not None)


@dataclass
class _Known:
    """The existing contacts, by each thing an entry may match them by."""

    by_id: dict[str, Contact]
    by_uid: dict[str, Contact]
    owner: dict[str, str]
    by_email: dict[str, str]
    by_label: dict[str, list[str]]

    @classmethod
    def of(cls, contacts: Sequence[Contact]) -> _Known:
        known = cls({}, {}, {}, {}, {})
        for contact in contacts:
            known.by_id[contact.id] = contact
            if contact.uid:
                known.by_uid.setdefault(contact.uid, contact)
            for number in contact.numbers:
                known.owner.setdefault(number.number, contact.id)
            for email in contact.emails:
                known.by_email.setdefault(email.casefold(), contact.id)
            if contact.label:
                known.by_label.setdefault(rules.fold(contact.label), []).append(contact.id)
        return known

    def describe(self, contact_id: str) -> str:
        contact = self.by_id.get(contact_id)
        label = contact.label if contact is not None else None
        return f"{label} ({contact_id})" if label else contact_id


def _match(entry: Entry, known: _Known) -> tuple[Contact | None, list[Problem]]:
    """The existing contact an entry is (None: a new one), or why it cannot be told."""
    if entry.id is not None:
        return known.by_id.get(entry.id), []
    if entry.uid is not None and entry.uid in known.by_uid:
        return known.by_uid[entry.uid], []
    numbers = entry.fields.get("numbers") or ()
    owners = sorted({known.owner[n.number] for n in numbers if n.number in known.owner})
    if len(owners) > 1:
        names = " and ".join(known.describe(o) for o in owners)
        return None, [Problem(entry.where, f"its numbers belong to two contacts: {names}")]
    if owners:
        return known.by_id[owners[0]], []
    if numbers:
        return None, []
    for email in entry.fields.get("emails") or ():
        found = known.by_email.get(email.casefold())
        if found:
            return known.by_id[found], []
    label = entry.fields.get("name") or entry.fields.get("company")
    same = known.by_label.get(rules.fold(label), []) if label else []
    if len(same) > 1:
        return None, [
            Problem(
                entry.where,
                f"{len(same)} contacts are named {label!r}: give the entry a number or an id",
            )
        ]
    return (known.by_id[same[0]] if same else None), []


def plan_import(
    entries: Sequence[Entry], existing: Sequence[Contact], new_id: Callable[[], str]
) -> ImportPlan:
    """Match each checked entry to its contact and say what changes (see the module doc)."""
    plan = ImportPlan(entries=len(entries))
    known = _Known.of(existing)
    claimed: dict[str, str] = {}  # contact id → the entry that is it
    numbers_of_file: dict[str, str] = {}  # number → the entry that has it
    for entry in entries:
        target, problems = _match(entry, known)
        if problems:
            plan.problems += problems
            continue
        contact_id = target.id if target is not None else (entry.id or new_id())
        if contact_id in claimed:
            problems.append(Problem(entry.where, f"is the same contact as {claimed[contact_id]}"))
        uid = entry.uid or (target.uid if target is not None else None)
        after = rules.build(contact_id, entry.fields, target, uid=uid)
        for number in after.numbers:
            owner = known.owner.get(number.number)
            if owner is not None and owner != contact_id:
                problems.append(
                    Problem(
                        entry.where,
                        f"{number.number} is the number of {known.describe(owner)}: take it "
                        "off that contact first, or put both in one entry",
                    )
                )
            first = numbers_of_file.get(number.number)
            if first is not None and first != entry.where:
                problems.append(Problem(entry.where, f"{number.number} is also in {first}"))
        if problems:
            plan.problems += problems
            continue
        claimed[contact_id] = entry.where
        for number in after.numbers:
            numbers_of_file.setdefault(number.number, entry.where)
        if target is not None and after.content() == target.content():
            plan.unchanged += 1
        else:
            plan.changes.append(Change(entry.where, target, after))
    return plan
