"""The `Lines` table: one partition per line, its current document and every version before it.

Layout (PartitionKey = the line's E.164 number):

- RowKey `line`: the current version: `Document` (the JSON text), `Version` (1, 2, ...),
  `UpdatedAt`, `Change` (what made it: put, override, delete, import), `Deleted` (a deleted line
  keeps its partition, so versions keep counting and the history stays readable).
- RowKey `v-<inverted version>`: one row per version ever written, newest first in key order,
  with the same properties. A listing of history is one partition range query.

A write reads the current row, then creates the next version in one transaction of the
partition: the `line` row replaced under its ETag (or inserted when new) and the history row
inserted. Two writers racing on one line cannot both win: the loser's transaction fails on the
ETag (412) or on the insert (409), and nothing of it is written. Any other refusal (a property
larger than the 64 KiB Table Storage stores, ...) is `StorageRefused`, logged, never taken for a
conflict. So a write costs two storage round trips, a read of a warm line none (see
`switchboard.lines.cache`).
"""

# Annotations are evaluated here (no `from __future__ import annotations`): a NamedTuple
# compiles each string annotation into a ForwardRef, a cost every cold start paid.
import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from switchboard import records
from switchboard.logs import get_logger
from switchboard.settings import Settings, get_settings
from switchboard.storage import connection as storage_connection
from switchboard.storage import tables

logger = get_logger(__name__)

CURRENT_ROW = "line"
HISTORY_PREFIX = "v-"
_HISTORY_END = "v."  # the first key after every `v-...`
_VERSION_SPAN = 10**10
#: The call path's read: one attempt, connect in 2 s, read in 3 s.
FAST_READ_OPTIONS: dict[str, Any] = {"connection_timeout": 2, "read_timeout": 3, "retry_total": 0}

_lock = threading.Lock()
_fast_services: dict[str, Any] = {}


#: What Table Storage answers when an entity or a property is larger than it stores.
TOO_LARGE_CODES = frozenset({"PropertyValueTooLarge", "EntityTooLarge", "RequestBodyTooLarge"})


class VersionConflict(Exception):
    """Someone else changed the line first (or the expected version is not the current one)."""

    def __init__(self, current: int | None) -> None:
        self.current = current
        super().__init__("the line was changed by someone else")


class StorageRefused(Exception):
    """Table Storage refused a write for another reason than a version conflict (`code`: its
    error code, such as PropertyValueTooLarge; `status`: the HTTP status)."""

    def __init__(self, status: int | None, code: str | None) -> None:
        self.status = status
        self.code = code
        super().__init__(f"Table Storage refused the write ({status} {code or 'no code'})")

    @property
    def too_large(self) -> bool:
        """Whether the refusal is about size."""
        return self.code in TOO_LARGE_CODES


class StoredLine(NamedTuple):
    """One version of a line as stored (a NamedTuple: a fifth of a frozen dataclass's cost to
    define, on the first call's path)."""

    number: str
    version: int
    document: dict[str, Any] | None  # None when this version deleted the line
    updated_at: datetime | None
    change: str
    etag: str | None = None  # the storage ETag of the current row (writes only)

    @property
    def deleted(self) -> bool:
        """Whether this version deleted the line."""
        return self.document is None


def history_row(version: int) -> str:
    """The RowKey of a version's history row: newest first in key order."""
    return f"{HISTORY_PREFIX}{_VERSION_SPAN - version:010d}"


def _from_entity(entity: Mapping[str, Any], etag: str | None = None) -> StoredLine:
    raw = entity.get("Document")
    document = json.loads(raw) if isinstance(raw, str) and not entity.get("Deleted") else None
    return StoredLine(
        number=str(entity["PartitionKey"]),
        version=int(entity.get("Version") or 0),
        document=document,
        updated_at=entity.get("UpdatedAt"),
        change=str(entity.get("Change") or ""),
        etag=etag,
    )


def _properties(
    version: int, document: Mapping[str, Any] | None, change: str, now: datetime
) -> dict[str, Any]:
    return {
        "Version": version,
        "Document": json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        if document is not None
        else None,
        "Deleted": document is None,
        "UpdatedAt": now,
        "Change": change,
    }


class LineStore:
    """Lines on Table Storage."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "LineStore":
        """The store of the `Lines` table (`TABLE_LINES`), created on first use."""
        s = settings or get_settings()
        return cls(tables.get_table(s.table_lines, s))

    @classmethod
    def for_calls(cls, settings: Settings) -> "LineStore":
        """The store a call reads its line through: one attempt, short timeouts, no table
        creation (an absent table reads as "no line"). A caller must hear the TwiML in time
        even when storage is unreachable, so the call path never waits on retries."""
        key = storage_connection.connection_key(settings)
        with _lock:
            service = _fast_services.get(key)
            if service is None:
                service = storage_connection.table_service(settings, **FAST_READ_OPTIONS)
                _fast_services[key] = service
        return cls(service.get_table_client(settings.table_lines))

    # --- reads ---

    def get(self, number: str) -> StoredLine | None:
        """The current version of a line (deleted ones included), or None when never written."""
        if not records.is_valid_key(number):
            return None
        try:
            entity = tables.get_or_none(self.table, number, CURRENT_ROW)
        except ResourceNotFoundError:  # no Lines table yet: no line was ever written
            return None
        if entity is None:
            return None
        return _from_entity(entity, tables.etag_of(entity))

    def list_current(self) -> list[StoredLine]:
        """Every line's current version that is not deleted, by number."""
        rows = tables.query(self.table, "RowKey eq @row", {"row": CURRENT_ROW})
        found = [_from_entity(row) for row in rows if not row.get("Deleted")]
        return sorted(found, key=lambda line: line.number)

    def history(
        self, number: str, limit: int, *, before_version: int | None = None
    ) -> list[StoredLine]:
        """Versions of a line, newest first, at most `limit`; only those older than
        `before_version` when given (the cursor of the previous page)."""
        if not records.is_valid_key(number):
            return []
        low = history_row(before_version - 1) if before_version else HISTORY_PREFIX
        rows = tables.query(
            self.table,
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": number, "low": low, "high": _HISTORY_END},
            page_size=min(limit, 1000),
        )
        found: list[StoredLine] = []
        for row in rows:
            found.append(_from_entity(row))
            if len(found) >= limit:
                break
        return found

    # --- writes ---

    def write(
        self,
        number: str,
        document: Mapping[str, Any] | None,
        *,
        change: str,
        now: datetime,
        expected: StoredLine | None,
    ) -> StoredLine:
        """Write the next version after `expected` (None: the line was never written).

        `document` None deletes the line. Raises VersionConflict when `expected` is no longer
        the current version (someone wrote in between): nothing is written then.
        """
        version = (expected.version if expected else 0) + 1
        properties = _properties(version, document, change, now)
        current = {"PartitionKey": number, "RowKey": CURRENT_ROW, **properties}
        history = {"PartitionKey": number, "RowKey": history_row(version), **properties}
        operations: list[Any] = [("create", history)]
        if expected is None:
            operations.insert(0, ("create", current))
        else:
            operations.insert(
                0,
                (
                    "update",
                    current,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": expected.etag,
                        "match_condition": MatchConditions.IfNotModified,
                    },
                ),
            )
        try:
            self.table.submit_transaction(operations)
        except ResourceExistsError as exc:
            raise VersionConflict(expected.version if expected else None) from exc
        except HttpResponseError as exc:
            # Only a failed ETag (412) or an insert that found its row (409) means another
            # writer won; any other refusal (a property too large, ...) is not a conflict, and
            # retrying with a fresh version would fail the same way.
            if exc.status_code in (409, 412):
                raise VersionConflict(expected.version if expected else None) from exc
            code = getattr(exc, "error_code", None)
            logger.error(
                "lines: Table Storage refused version %d of a line (%s %s)",
                version,
                exc.status_code,
                code or type(exc).__name__,
            )
            raise StorageRefused(exc.status_code, str(code) if code else None) from exc
        written = _from_entity(current)
        return StoredLine(written.number, version, written.document, now, change, etag=None)
