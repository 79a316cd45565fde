"""Who a number is, as a webhook asks it: the contact's reference, from its number row.

A call or a text asks one thing of the address book: is this number a contact's, and is that
contact blocked? That is one point read of the number's index row in `Contacts` (PartitionKey
`contacts`, RowKey `n-<E.164 number>`), whose `Summary` holds the answer (`ContactRef`).

Kept apart from the contact rules and the store (`switchboard.contacts.rules`, `.store`: the
documents, imports and index writes, several times this module's import cost) so that a cold
webhook imports neither. The store writes these rows and takes its key names from here.
"""

# Annotations are evaluated here (no `from __future__ import annotations`): a NamedTuple
# compiles each string annotation into a ForwardRef, a cost every cold start paid.
import json
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

from azure.data.tables import TableClient

from switchboard import records
from switchboard.settings import Settings
from switchboard.storage import connection as storage_connection
from switchboard.storage import tables

PARTITION = "contacts"
NUMBER_PREFIX = "n-"
#: The webhook's read: one attempt, connect in 2 s, read in 3 s (a caller is waiting).
FAST_READ_OPTIONS: dict[str, Any] = {"connection_timeout": 2, "read_timeout": 3, "retry_total": 0}

_lock = threading.Lock()
_fast_services: dict[tuple[str, int], Any] = {}


class ContactRef(NamedTuple):
    """What a webhook needs of the contact of a number: who, and whether blocked (a NamedTuple:
    a fifth of a frozen dataclass's cost to define, on every webhook's first call)."""

    id: str
    name: str | None = None
    company: str | None = None
    blocked: bool = False
    tags: tuple[str, ...] = ()

    @property
    def label(self) -> str | None:
        """Its name, else its company."""
        return self.name or self.company


def number_row(number: str) -> str:
    """The RowKey of a number's row."""
    return NUMBER_PREFIX + number


def ref_from_summary(summary: Mapping[str, Any]) -> ContactRef:
    """The lookup's view from an index row's summary."""
    tags = summary.get("tags")
    return ContactRef(
        id=str(summary.get("id") or ""),
        name=summary.get("name") if isinstance(summary.get("name"), str) else None,
        company=summary.get("company") if isinstance(summary.get("company"), str) else None,
        blocked=summary.get("blocked") is True,
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
    )


def summary_of(raw: Any) -> dict[str, Any]:
    """An index row's `Summary` (JSON), or {} when it is missing or not an object."""
    if not isinstance(raw, str):
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class NumberRows:
    """The number rows of `Contacts`, read the way a webhook reads them."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def for_calls(cls, settings: Settings) -> "NumberRows":
        """The rows a webhook reads a caller's contact from: one attempt, short timeouts, no
        table creation (an absent table reads as "no contact"). The request hook of the app's
        other clients (a test counting requests) applies here too."""
        hook = tables.CLIENT_OPTIONS.get("raw_request_hook")
        key = (storage_connection.connection_key(settings), id(hook))
        with _lock:
            service = _fast_services.get(key)
            if service is None:
                options = {**FAST_READ_OPTIONS, **({"raw_request_hook": hook} if hook else {})}
                service = storage_connection.table_service(settings, **options)
                _fast_services[key] = service
        return cls(service.get_table_client(settings.table_contacts))

    def ref_for(self, number: str) -> ContactRef | None:
        """The contact of a number, from its number row (one point read), or None."""
        key = number_row(number)
        if not records.is_valid_key(key):
            return None
        entity = tables.get_or_none(self.table, PARTITION, key)  # no table: None too
        if entity is None:
            return None
        return ref_from_summary(summary_of(entity.get("Summary")))
