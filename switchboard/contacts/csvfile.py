"""Contacts as CSV: Switchboard's own columns, and the CSV files Google Contacts and Outlook
export, read into import entries; Switchboard's columns written (pure).

Columns are matched without case, and unknown columns are ignored (an address book exports
dozens); a file without any column of a name, a company or a number is refused. The separator
is found from the header (`,`, `;` as Excel writes in many countries, or a tab).

| contact | Switchboard | Google Contacts | Outlook |
| --- | --- | --- | --- |
| id | `id` | | |
| name | `name` | `Name`, else `First Name`/`Given Name`, `Middle Name`/`Additional Name`, `Last Name`/`Family Name` (with prefix and suffix) | `First Name`, `Middle Name`, `Last Name` |
| company | `company` | `Organization Name`, `Organization 1 - Name` | `Company` |
| numbers | `numbers`: `mobile: +12015550123; work: (201) 555-0100` | `Phone N - Value` (several joined by ` ::: `) with `Phone N - Label`/`Type` | `Mobile Phone`, `Business Phone`, `Home Phone`, `Primary Phone`, `Other Phone`, `Business Fax`, `Pager`, ... |
| emails | `emails`: `a@example.com; b@example.com` | `E-mail N - Value` | `E-mail Address`, `E-mail 2 Address`, `E-mail 3 Address` |
| tags | `tags`: `VIP, plumbing` | `Labels` / `Group Membership` (` ::: `; Google's own `* myContacts` dropped) | `Categories` |
| notes | `notes` | `Notes` | `Notes` |
| blocked | `blocked`: yes/no | | |

A column the file has carries its field for every row: an empty cell empties the field of the
contact the row updates; a field without a column is kept.

Written: `id,name,company,numbers,emails,tags,blocked,notes`, UTF-8 with a byte-order mark (so
Excel reads the accents), a cell that a spreadsheet would take for a formula (`=`, `+`, `-`,
`@` first) written after a `'`, which reading takes off again.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from switchboard.contacts import rules
from switchboard.contacts.rules import Contact, Draft, Problem, Raw

MEDIA_TYPE = "text/csv"
COLUMNS = ("id", "name", "company", "numbers", "emails", "tags", "blocked", "notes")

_OWN = {
    "id": "id",
    "name": "name",
    "fullname": "name",
    "displayname": "name",
    "company": "company",
    "organization": "company",
    "organisation": "company",
    "organizationname": "company",
    "organization1name": "company",
    "numbers": "numbers",
    "phones": "numbers",
    "phone": "numbers",
    "phonenumber": "numbers",
    "phonenumbers": "numbers",
    "number": "numbers",
    "emails": "emails",
    "email": "emails",
    "tags": "tags",
    "labels": "tags",
    "groupmembership": "tags",
    "categories": "tags",
    "notes": "notes",
    "note": "notes",
    "blocked": "blocked",
}
_NAME_PARTS = {
    "nameprefix": 0,
    "prefix": 0,
    "firstname": 1,
    "givenname": 1,
    "middlename": 2,
    "additionalname": 2,
    "lastname": 3,
    "familyname": 3,
    "namesuffix": 4,
    "suffix": 4,
}
#: Outlook's phone columns and the label each gives its number.
_PHONE_COLUMNS = {
    "mobilephone": "mobile",
    "businessphone": "work",
    "businessphone2": "work",
    "companymainphone": "main",
    "homephone": "home",
    "homephone2": "home",
    "primaryphone": "main",
    "otherphone": "other",
    "carphone": "other",
    "businessfax": "fax",
    "homefax": "fax",
    "otherfax": "fax",
    "pager": "pager",
}
_EMAIL_COLUMN = re.compile(r"e?mail[0-9]*(?:address|value)?")
_GOOGLE_PHONE = re.compile(r"phone([0-9]+)(value|label|type)")
_GOOGLE_EMAIL = re.compile(r"email([0-9]+)(value|label|type)")
_GOOGLE_JOIN = " ::: "
_ITEM_SEPARATORS = re.compile(r"[;\n]|\s:::\s")
_LABELLED = re.compile(r"\s*([^:+0-9()][^:]{0,29}):\s*(.+)", re.DOTALL)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvFileError(ValueError):
    """The file cannot be imported at all (no header, no column of a contact)."""


def _key(header: str) -> str:
    return "".join(c for c in header.strip().lower() if c.isalnum())


@dataclass
class _Columns:
    """Where each field is in a file's rows."""

    own: dict[str, int]
    name_parts: dict[int, int]
    phones: list[tuple[int, int | None, str | None]]  # (value, label column, fixed label)
    emails: list[int]


def _columns(header: list[str]) -> _Columns:
    found = _Columns({}, {}, [], [])
    google_phones: dict[str, dict[str, int]] = {}
    for index, raw in enumerate(header):
        key = _key(raw)
        phone = _GOOGLE_PHONE.fullmatch(key)
        email = _GOOGLE_EMAIL.fullmatch(key)
        if key in _OWN and _OWN[key] not in found.own:
            found.own[_OWN[key]] = index
        elif key in _NAME_PARTS:
            found.name_parts.setdefault(_NAME_PARTS[key], index)
        elif key in _PHONE_COLUMNS:
            found.phones.append((index, None, _PHONE_COLUMNS[key]))
        elif phone:
            google_phones.setdefault(phone.group(1), {})[phone.group(2)] = index
        elif email:
            if email.group(2) == "value":
                found.emails.append(index)
        elif _EMAIL_COLUMN.fullmatch(key):
            found.emails.append(index)
    for parts in google_phones.values():
        if "value" in parts:
            found.phones.append((parts["value"], parts.get("label", parts.get("type")), None))
    return found


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    text = cells[index]
    if text[:1] == "'" and text[1:2] in _FORMULA_START:
        return text[1:]  # written after a ' by an export, so no spreadsheet runs it
    return text


def _split(text: str) -> list[str]:
    return [part.strip() for part in _ITEM_SEPARATORS.split(text) if part.strip()]


def read_csv(text: str) -> tuple[list[Draft], list[Problem]]:
    """Every row of a CSV file as an import entry; CsvFileError when the file has no header or
    no column of a contact. Problems name the row (`row 3 (line 4)`)."""
    try:
        # Only the separator is taken from the header; quoting is always Excel's (RFC 4180).
        delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), csv.excel, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileError("the file is empty: it needs a header row") from None
    except csv.Error as exc:
        raise CsvFileError(f"line 1: not valid CSV ({exc})") from None
    columns = _columns(header)
    named = {"name", "company", "numbers"} & set(columns.own)
    if not (named or columns.name_parts or columns.phones):
        raise CsvFileError(
            "no column of a contact's name, company or number in the header (columns: "
            + ", ".join(COLUMNS)
            + "; or a Google Contacts or Outlook export)"
        )
    drafts: list[Draft] = []
    problems: list[Problem] = []
    previous_end = reader.line_num
    row = 0
    while True:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(f"line {start}", f"not valid CSV ({exc})"))
            break
        previous_end = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        row += 1
        drafts.append(_draft(cells, header, columns, f"row {row} (line {start})"))
    return drafts, problems


def _draft(cells: list[str], header: list[str], columns: _Columns, where: str) -> Draft:
    draft = Draft(where)

    def raw(index: int) -> Raw:
        return Raw(_cell(cells, index).strip(), header[index].strip())

    own = columns.own
    if "name" in own:
        draft.name = raw(own["name"])
    if not (draft.name and draft.name.value) and columns.name_parts:
        parts = [_cell(cells, columns.name_parts[i]).strip() for i in sorted(columns.name_parts)]
        first = header[columns.name_parts[min(columns.name_parts)]].strip()
        draft.name = Raw(" ".join(p for p in parts if p), first)
    if "company" in own:
        draft.company = raw(own["company"])
    if "notes" in own:
        draft.notes = raw(own["notes"])
    if "blocked" in own:
        draft.blocked = raw(own["blocked"])
    if "id" in own:
        draft.id = raw(own["id"])
    if "tags" in own:
        cell = raw(own["tags"])
        tags = [t.strip() for t in re.split(r"\s:::\s|[,;]", cell.value)]
        draft.tags = [Raw(t, cell.source) for t in tags if t and not t.startswith("* ")]
    if "emails" in own or columns.emails:
        found = [raw(own["emails"])] if "emails" in own else []
        found += [raw(i) for i in columns.emails]
        draft.emails = [Raw(part, r.source) for r in found for part in _split(r.value)]
    if "numbers" in own or columns.phones:
        draft.numbers = []
        if "numbers" in own:
            cell = raw(own["numbers"])
            draft.numbers += [_labelled(part, cell.source) for part in _split(cell.value)]
        for value, label_column, label in columns.phones:
            cell = raw(value)
            given = _cell(cells, label_column).strip() if label_column is not None else None
            named = _label(given.lstrip("* ")) if given else label
            draft.numbers += [(Raw(part, cell.source), named) for part in _split(cell.value)]
    return draft


def _label(text: str | None) -> str | None:
    try:
        return rules.clean_label(text)
    except ValueError:
        return None


def _labelled(part: str, source: str) -> tuple[Raw, str | None]:
    """`mobile: +12015550123` (a label, a colon, the number) or a number alone."""
    found = _LABELLED.fullmatch(part)
    if found and not found.group(1).strip().lower().startswith("tel"):
        return Raw(found.group(2).strip(), source), _label(found.group(1))
    return Raw(part, source), None


# --------------------------------------------------------------------------------------------
# Writing


def _safe(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(contacts: Iterable[Contact]) -> str:
    """Contacts as CSV with Switchboard's columns (a byte-order mark first, CRLF line ends)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for contact in contacts:
        numbers = "; ".join(
            f"{n.label}: {n.number}" if n.label else n.number for n in contact.numbers
        )
        writer.writerow(
            [
                _safe(cell)
                for cell in (
                    contact.id,
                    contact.name or "",
                    contact.company or "",
                    numbers,
                    "; ".join(contact.emails),
                    ", ".join(contact.tags),
                    "yes" if contact.blocked else "no",
                    contact.notes or "",
                )
            ]
        )
    return out.getvalue()
