"""vCard files, read into import entries and written from contacts (vobject).

Read: what phones and address books export: vCard 3.0 (iOS, Google Contacts, macOS), 4.0
(RFC 6350: `TEL;VALUE=uri:tel:+1-201-555-0123`, `TYPE="voice,cell"`) and the 2.1 older Android
phones still write (bare types `TEL;CELL;PREF:`, quoted-printable names in any charset, soft
line breaks). From each card:

| vCard | contact |
| --- | --- |
| `FN` (else `N`'s parts in reading order) | name (none for a card iOS shows as a company: `X-ABShowAs:COMPANY`) |
| `ORG` (its first unit) | company |
| `NOTE` (several joined by a line break) | notes |
| `CATEGORIES` | tags |
| each `TEL`, its `TYPE`s or an iOS `X-ABLabel` of its group | numbers and their labels |
| each `EMAIL` | e-mail addresses |
| `UID` | matched again by the next import (`urn:switchboard:contact:<id>`: that contact) |
| `X-SWITCHBOARD-BLOCKED` | blocked (`TRUE`/`FALSE`; only Switchboard's own export writes it) |

Everything else (photos, addresses, birthdays, ...) is ignored. A card that does not carry a
field (no `NOTE`) leaves that field of the contact it updates as it is.

A line vobject cannot parse (or a value it cannot decode) is named by its line, and reading
goes on at the next `BEGIN:VCARD`, so one import names every problem of a file.

Written: vCard 3.0, which every phone and address book imports: `FN`, `N` (the name's last word
as the family name), `ORG`, `NOTE`, `CATEGORIES`, a `TEL` per number (`TYPE=CELL`, `WORK`,
`HOME`, `MAIN`, `FAX`, `PAGER`; another label as an iOS `X-ABLabel`), `EMAIL`, `UID` and
`X-SWITCHBOARD-BLOCKED:TRUE` for a blocked contact.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

from switchboard.contacts import rules
from switchboard.contacts.rules import Contact, Draft, Problem, Raw

#: The UID a contact exported by Switchboard carries: its id, matched on import.
UID_PREFIX = "urn:switchboard:contact:"
BLOCKED_PROPERTY = "X-SWITCHBOARD-BLOCKED"
MEDIA_TYPE = "text/vcard"

_TYPE_OF_LABEL = {
    "mobile": "CELL",
    "work": "WORK",
    "home": "HOME",
    "main": "MAIN",
    "fax": "FAX",
    "pager": "PAGER",
}
#: iOS writes its own labels as `_$!<Mobile>!$_`.
_APPLE_LABEL = re.compile(r"_\$!<(.*)>!\$_")
_BEGIN = re.compile(r"\s*BEGIN\s*:\s*VCARD\s*", re.IGNORECASE)


class _CountingLines:
    """The text as vobject reads it (line by line), counting the physical lines it has read:
    where a failure without a line number stopped it."""

    def __init__(self, text: str) -> None:
        self._text = io.StringIO(text)
        self.read_lines = 0

    def readline(self) -> str:
        line = self._text.readline()
        if line:
            self.read_lines += 1
        return line


def read_vcards(text: str) -> tuple[list[Draft], list[Problem]]:
    """Every card of a vCard file as an import entry, and the problems of lines that could
    not be read at all (each naming its line)."""
    import vobject

    lines = text.splitlines(keepends=True)
    drafts: list[Draft] = []
    problems: list[Problem] = []
    count = 0  # cards met, read or not: entry numbers go on after one that cannot be read
    start = 0
    while start < len(lines):
        stream = _CountingLines("".join(lines[start:]))
        try:
            for component in vobject.readComponents(stream, allowQP=True, transform=False):
                count += 1
                if component.name != "VCARD":
                    problems.append(
                        Problem(f"entry {count}", f"is a {component.name}, not a vCard")
                    )
                    continue
                drafts.append(_draft(component, count, start))
            break
        except Exception as exc:  # vobject's ParseError, or a value it could not decode
            known = getattr(exc, "lineNumber", None)
            relative = known if isinstance(known, int) and known > 0 else stream.read_lines - 1
            line = start + max(relative, 1)
            if any(_BEGIN.fullmatch(lines[i]) for i in range(start, min(line, len(lines)))):
                count += 1
                where = f"entry {count} (line {line})"
            else:
                where = f"line {line}"
            problems.append(Problem(where, f"cannot be read as vCard ({_reason(exc)})"))
            following = [i for i in range(line, len(lines)) if _BEGIN.fullmatch(lines[i])]
            if not following:
                break
            start = following[0]
    return drafts, problems


def _reason(exc: BaseException) -> str:
    message = str(getattr(exc, "msg", "") or "").strip()
    if message and len(message) <= 120 and message.isprintable():
        return message
    return type(exc).__name__


def _first_line(component: Any) -> int | None:
    numbers = [c.lineNumber for c in component.getChildren() if isinstance(c.lineNumber, int)]
    return max(min(numbers) - 1, 1) if numbers else None


def _text(value: Any) -> str | None:
    """A property's value as text (a list's parts joined), None when it is not text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(v for v in value if v)
    return None


def _name_of(value: Any) -> str | None:
    """`N`'s parts in reading order: prefix, given, additional, family, suffix."""
    parts = [getattr(value, key, "") for key in ("prefix", "given", "additional", "family")]
    parts.append(getattr(value, "suffix", ""))
    texts = [_text(p) or "" for p in parts]
    joined = " ".join(t.strip() for t in texts if t and t.strip())
    return joined or None


def _draft(component: Any, index: int, offset: int) -> Draft:
    """One card as an import entry (`offset`: the file's line before the text vobject read)."""
    first = _first_line(component)
    where = f"entry {index}" + (f" (line {offset + first})" if first else "")
    draft = Draft(where)
    names: list[Raw] = []
    n_name: Raw | None = None
    notes: list[str] = []
    labels: dict[str, str] = {}
    numbers: list[tuple[Raw, Any, str | None]] = []
    show_as_company = False
    for child in component.getChildren():
        name = str(child.name).upper()
        line = offset + child.lineNumber if isinstance(child.lineNumber, int) else None
        source = f"{name} (line {line})" if line else name
        try:
            child.transformToNative()
        except Exception as exc:  # a value vobject cannot decode (base64, a charset)
            draft.problems.append(Problem(f"{where}, {source}", f"cannot be read ({_reason(exc)})"))
            continue
        value = child.value
        if name in ("FN", "ORG", "NOTE", "TEL", "EMAIL", "UID", BLOCKED_PROPERTY, "X-ABLABEL"):
            text = _text(value[:1] if name == "ORG" and isinstance(value, list) else value)
            if text is None:
                draft.problems.append(Problem(f"{where}, {source}", "is not text"))
                continue
            value = text
        if name == "FN":
            names.append(Raw(value, source))
        elif name == "N":
            text = _name_of(value)
            n_name = Raw(text, source) if text else n_name
        elif name == "ORG":
            draft.company = Raw(value, source)
        elif name == "NOTE":
            notes.append(value)
            draft.notes = Raw("\n".join(notes), source)
        elif name == "CATEGORIES":
            tags = value if isinstance(value, list) else [value]
            draft.tags = (draft.tags or []) + [Raw(t, source) for t in tags if _text(t)]
        elif name == "TEL":
            types = list(child.params.get("TYPE", [])) + list(child.singletonparams)
            numbers.append((Raw(value, source), child.group, rules.label_of(types)))
        elif name == "EMAIL":
            draft.emails = (draft.emails or []) + [Raw(value, source)]
        elif name == "X-ABLABEL" and child.group:
            found = _APPLE_LABEL.fullmatch(value.strip())
            labels[str(child.group).lower()] = found.group(1) if found else value
        elif name == "X-ABSHOWAS":
            show_as_company = _text(value) == "COMPANY"
        elif name == "UID":
            _uid(draft, value.strip(), source)
        elif name == BLOCKED_PROPERTY:
            draft.blocked = Raw(value, source)
    if names and names[0].value.strip():
        draft.name = names[0]
    elif n_name is not None:
        draft.name = n_name
    if show_as_company and draft.company is not None:
        draft.name = None
    if numbers:
        draft.numbers = [
            (raw, _label(labels.get(str(group).lower()) if group else None) or label)
            for raw, group, label in numbers
        ]
    return draft


def _label(text: str | None) -> str | None:
    try:
        return rules.clean_label(text)
    except ValueError:
        return None


def _uid(draft: Draft, uid: str, source: str) -> None:
    if uid.lower().startswith(UID_PREFIX):
        draft.id = Raw(uid[len(UID_PREFIX) :], source)
    elif uid:
        draft.uid = uid[:200]


# --------------------------------------------------------------------------------------------
# Writing


def _family_and_given(name: str) -> tuple[str, str]:
    parts = name.rsplit(" ", 1)
    return (parts[1], parts[0]) if len(parts) == 2 else (name, "")


def write_vcards(contacts: Iterable[Contact]) -> str:
    """The contacts as one vCard 3.0 file (CRLF line ends, long lines folded)."""
    import vobject

    out = io.StringIO()
    for contact in contacts:
        card = vobject.vCard()
        card.add("prodid").value = "-//Switchboard//Contacts//EN"
        shown = contact.label or (contact.numbers[0].number if contact.numbers else contact.id)
        card.add("fn").value = shown
        family, given = _family_and_given(contact.name) if contact.name else ("", "")
        card.add("n").value = vobject.vcard.Name(family=family, given=given)
        if contact.company:
            card.add("org").value = [contact.company]
            if not contact.name:
                card.add("x-abshowas").value = "COMPANY"
        if contact.notes:
            card.add("note").value = contact.notes
        if contact.tags:
            card.add("categories").value = list(contact.tags)
        for index, number in enumerate(contact.numbers, start=1):
            tel = card.add("tel")
            tel.value = number.number
            kind = _TYPE_OF_LABEL.get(number.label or "")
            if kind:
                tel.type_param = kind
            elif number.label:
                tel.group = f"item{index}"
                label = card.add("x-ablabel")
                label.group = tel.group
                label.value = number.label
        for address in contact.emails:
            email = card.add("email")
            email.value = address
            email.type_param = "INTERNET"
        card.add("uid").value = contact.uid or UID_PREFIX + contact.id
        if contact.blocked:
            card.add(BLOCKED_PROPERTY.lower()).value = "TRUE"
        out.write(card.serialize())
    return out.getvalue()
