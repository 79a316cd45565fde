"""What an import file does: each entry matched to the contact it is (by id, vCard UID,
number, e-mail, name) or new; unchanged entries write nothing; conflicts named."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import count
from typing import Any

from switchboard.contacts.importing import plan_import
from switchboard.contacts.rules import Contact, Entry, PhoneNumber

DANA = Contact(
    "c00000000000a", name="Dana Reyes", numbers=(PhoneNumber("+12015550123"),), blocked=True
)
BEN = Contact("c00000000000b", name="Ben Ode", emails=("ben@example.com",))
CAFE = Contact("c00000000000c", company="Blue Door", uid="urn:uuid:cafe")
TWINS = [Contact("c00000000000d", name="Sam"), Contact("c00000000000e", name="sam")]


def entry(where: str, fields: Mapping[str, Any], **keys: Any) -> Entry:
    return Entry(where, fields, **keys)


def new_ids() -> Any:
    numbers = count(1)
    return lambda: f"c{next(numbers):012x}"


def test_entries_match_their_contacts_and_the_rest_are_new() -> None:
    plan = plan_import(
        [
            entry("e1", {"name": "Dana R.", "numbers": (PhoneNumber("+12015550123"),)}),
            entry("e2", {"name": "Ben Ode"}),  # unchanged: matched by its name
            entry("e3", {"name": "Cafe", "company": "Blue Door"}, uid="urn:uuid:cafe"),
            entry("e4", {"name": "X", "emails": ("BEN@example.com",)}),
            entry("e5", {"name": "New", "numbers": (PhoneNumber("+12015550199"),)}),
            entry("e6", {"name": "Moved"}, id="c0000000000ff"),
        ],
        [DANA, BEN, CAFE],
        new_ids(),
    )
    assert plan.problems == [
        # e4's address is Ben's: the same contact as e2
        type(plan.problems[0])("e4", "is the same contact as e2")
    ]


def test_an_update_keeps_what_the_file_does_not_carry() -> None:
    plan = plan_import(
        [entry("e1", {"name": "Dana R.", "numbers": (PhoneNumber("+12015550123", "mobile"),)})],
        [DANA],
        new_ids(),
    )
    [change] = plan.changes
    assert change.before == DANA
    assert (change.after.id, change.after.name, change.after.blocked) == (DANA.id, "Dana R.", True)
    assert (plan.created, plan.updated, plan.unchanged) == (0, 1, 0)


def test_the_same_file_again_changes_nothing() -> None:
    entries = [
        entry("e1", {"name": "Dana Reyes", "numbers": (PhoneNumber("+12015550123"),)}),
        entry("e2", {"company": "Blue Door"}, uid="urn:uuid:cafe"),
    ]
    plan = plan_import(entries, [DANA, CAFE], new_ids())
    assert (plan.changes, plan.unchanged, plan.problems) == ([], 2, [])


def test_new_contacts_and_an_unknown_id_kept() -> None:
    plan = plan_import(
        [
            entry("e1", {"name": "New", "numbers": (PhoneNumber("+12015550199"),)}),
            entry("e2", {"name": "Moved"}, id="c0000000000ff"),
        ],
        [],
        new_ids(),
    )
    assert [(c.before, c.after.id) for c in plan.changes] == [
        (None, "c000000000001"),
        (None, "c0000000000ff"),
    ]
    assert plan.created == 2


def test_conflicts_are_named() -> None:
    plan = plan_import(
        [
            entry(
                "e1",
                {
                    "name": "Both",
                    "numbers": (PhoneNumber("+12015550123"), PhoneNumber("+12015550124")),
                },
            ),
            entry("e2", {"name": "Other", "numbers": (PhoneNumber("+12015550124"),)}, id=BEN.id),
            entry("e3", {"name": "Sam"}),
            entry("e4", {"name": "A", "numbers": (PhoneNumber("+12015550555"),)}),
            entry("e5", {"name": "B", "numbers": (PhoneNumber("+12015550555"),)}),
        ],
        [DANA, BEN, Contact("c00000000000f", numbers=(PhoneNumber("+12015550124"),)), *TWINS],
        new_ids(),
    )
    assert [str(p) for p in plan.problems] == [
        "e1: its numbers belong to two contacts: Dana Reyes (c00000000000a) and c00000000000f",
        "e2: +12015550124 is the number of c00000000000f: take it off that contact first, or "
        "put both in one entry",
        "e3: 2 contacts are named 'Sam': give the entry a number or an id",
        "e5: +12015550555 is also in e4",
    ]
