"""An address book for tests: `count` people as a phone exports them (a vCard file written
with vobject), and ways to import it into the app, directly or over HTTP.

    book = address_book(200)             # [Person(name, number, ...)], the same every run
    text = vcard_file(book)              # vCard 3.0, as iOS and Google Contacts write it
    import_contacts(settings, text)      # through the service (integration tests)
    import_over_http(host, key, text)    # POST /api/contacts/import (end-to-end tests)

Numbers are written as people store them: some in international form, some national
(`(201) 555-0107`, read in the business's region, the US here), with labels; some people
have a second number, a company, notes and tags; names carry accents and apostrophes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

FIRST = ["Dana", "Zoë", "Ana", "Ben", "Chloé", "Omar", "Siobhán", "Li", "José", "Priya", "Mateo"]
LAST = ["Reyes", "O'Neil", "Müller", "Nguyen", "García", "Okafor", "Kowalski", "Smith", "Björk"]
COMPANIES = ["Reyes Plumbing", "ACME, Inc.", "Blue Door Café", "Northwind"]


@dataclass(frozen=True)
class Person:
    """One person of the address book: `number` (E.164) is their first number."""

    name: str
    number: str
    written: str  # the number as the vCard writes it
    label: str
    second: str | None = None
    company: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] = field(default=())


def address_book(count: int = 200, seed: int = 23, area: str = "201") -> list[Person]:
    """`count` people with distinct names and numbers (+1 <area> 55x xxxx), the same for a seed."""
    chooser = random.Random(seed)
    people = []
    for index in range(count):
        name = f"{chooser.choice(FIRST)} {chooser.choice(LAST)} {index + 1}"
        number = f"+1{area}55{index // 1000 + 5}{index % 1000 + 1000:04d}"
        national = f"({area}) {number[5:8]}-{number[8:]}"
        written = national if index % 3 else f"+1 {area} {number[5:8]} {number[8:]}"
        second = (
            f"+1{area}56{index // 1000 + 5}{index % 1000 + 1000:04d}" if index % 4 == 0 else None
        )
        people.append(
            Person(
                name=name,
                number=number,
                written=written,
                label=chooser.choice(["CELL", "WORK", "HOME", "IPHONE"]),
                second=second,
                company=chooser.choice(COMPANIES) if index % 5 == 0 else None,
                notes=f"Customer since {2010 + index % 15}, prefers texts"
                if index % 7 == 0
                else None,
                tags=("VIP",) if index % 10 == 0 else (),
            )
        )
    return people


def vcard_file(people: list[Person]) -> str:
    """The people as one vCard 3.0 file, written with vobject."""
    import vobject

    cards = []
    for person in people:
        card = vobject.vCard()
        card.add("fn").value = person.name
        given, family = person.name.split(" ", 1)
        card.add("n").value = vobject.vcard.Name(family=family, given=given)
        tel = card.add("tel")
        tel.value = person.written
        tel.type_param = person.label
        if person.second:
            other = card.add("tel")
            other.value = person.second
            other.type_param = "WORK"
        if person.company:
            card.add("org").value = [person.company]
        if person.notes:
            card.add("note").value = person.notes
        if person.tags:
            card.add("categories").value = list(person.tags)
        card.add("email").value = f"person{len(cards) + 1}@example.com"
        cards.append(card.serialize())
    return "".join(cards)


def import_contacts(settings: Any, text: str, region: str = "US") -> Any:
    """Import a vCard file through the service (the settings' storage)."""
    from switchboard.contacts import service

    return service.import_file(settings, text, "vcard", region)


def import_over_http(host: Any, key: str, text: str, region: str = "US") -> dict[str, Any]:
    """POST the file to a running host's `/api/contacts/import`; its JSON answer (asserts 200)."""
    answer = host.request(
        "POST",
        f"/api/contacts/import?region={region}",
        headers={"x-functions-key": key, "Content-Type": "text/vcard"},
        body=text.encode("utf-8"),
    )
    assert answer.status == 200, answer.text
    result: dict[str, Any] = json.loads(answer.text)
    return result
