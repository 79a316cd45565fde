"""How an import entry finds its contact, one way at a time: by its id, by its vCard UID, by its
company when it has no name, or not at all (a new contact); and what each change carries (its
entry, the UID, the count of entries)."""

from __future__ import annotations

from itertools import count
from typing import Any

from switchboard.contacts.importing import plan_import
from switchboard.contacts.rules import Contact, Entry, PhoneNumber

DANA = Contact("c00000000000a", name="Dana Reyes", numbers=(PhoneNumber("+12015550123"),))
ACME = Contact("c00000000000c", company="ACME Plumbing", uid="urn:uuid:acme")


def new_ids() -> Any:
    numbers = count(1)
    return lambda: f"c{next(numbers):012x}"


def test_an_entry_naming_an_id_updates_that_contact() -> None:
    plan = plan_import([Entry("e1", {"name": "Dana Cruz"}, id=DANA.id)], [DANA, ACME], new_ids())
    [change] = plan.changes
    assert (change.where, change.before, change.after.name) == ("e1", DANA, "Dana Cruz")
    assert plan.entries == 1


def test_an_entry_is_its_contact_by_uid_whatever_its_name() -> None:
    plan = plan_import(
        [Entry("e1", {"name": "Someone Else"}, uid="urn:uuid:acme")], [DANA, ACME], new_ids()
    )
    [change] = plan.changes
    assert (change.before, change.after.id, change.after.uid) == (ACME, ACME.id, "urn:uuid:acme")


def test_an_unknown_uid_makes_a_new_contact_that_keeps_it() -> None:
    plan = plan_import(
        [Entry("e1", {"name": "Newcomer"}, uid="urn:uuid:new")], [DANA, ACME], new_ids()
    )
    [change] = plan.changes
    assert change.before is None
    assert (change.after.id, change.after.uid) == ("c000000000001", "urn:uuid:new")


def test_an_update_without_a_uid_keeps_the_contacts_uid() -> None:
    acme = Contact(
        ACME.id, company="ACME Plumbing", numbers=(PhoneNumber("+12015550150"),), uid="u1"
    )
    plan = plan_import(
        [Entry("e1", {"company": "ACME", "numbers": (PhoneNumber("+12015550150"),)})],
        [acme],
        new_ids(),
    )
    [change] = plan.changes
    assert (change.before, change.after.uid, change.after.company) == (acme, "u1", "ACME")


def test_a_company_alone_finds_the_contact_of_that_company() -> None:
    plan = plan_import(
        [Entry("e1", {"company": "acme plumbing", "notes": "new"})], [ACME], new_ids()
    )
    [change] = plan.changes
    assert (change.before, change.after.notes) == (ACME, "new")


def test_an_entry_nothing_matches_is_new() -> None:
    plan = plan_import(
        [
            Entry("e1", {"name": "Nobody Known"}),
            Entry("e2", {"emails": ("new@example.com",)}),  # neither name nor company
        ],
        [DANA, ACME],
        new_ids(),
    )
    assert [(c.where, c.before) for c in plan.changes] == [("e1", None), ("e2", None)]
    assert (plan.entries, plan.created, plan.problems) == (2, 2, [])
