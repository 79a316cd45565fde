"""The e-mail delivery rows of voicemail notices, in the call's CallLog partition.

One row per voicemail and address (PartitionKey = CallSid, RowKey = `emails.email_row_key`),
next to the call's record, its step markers and SID alias; `GET /api/calls/{id}` reads the
record only, so the rows stay out of the operator's way while the call's summary
(`VoicemailNoticesJson`, `notices.summary_change`) says how each notice went. Every write is
insert-if-absent or ETag-conditioned: two instances (or a retried callback) never both win.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from azure.data.tables import TableClient, UpdateMode

from switchboard import records
from switchboard.settings import Settings
from switchboard.storage import tables

Entity = dict[str, Any]
#: Rounds of read-and-write when another writer keeps changing the row first.
ATTEMPTS = 10


class Outbox:
    """E-mail delivery rows on the CallLog table."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings) -> Outbox:
        """The rows of `TABLE_CALL_LOG`."""
        return cls(tables.get_table(settings.table_call_log, settings))

    def get(self, call_sid: str, row_key: str) -> Entity | None:
        """A delivery row (with its ETag), or None."""
        if not (records.is_valid_key(call_sid) and records.is_valid_key(row_key)):
            return None
        return tables.get_or_none(self.table, call_sid, row_key)

    def record(
        self, row: Mapping[str, Any], merge: Callable[[Entity], dict[str, Any] | None]
    ) -> Entity:
        """Create `row`, or apply `merge(current)` to the existing one; the row as it now is."""
        for _ in range(ATTEMPTS):
            if tables.insert_if_absent(self.table, row):
                return dict(row)
            current = self.get(str(row["PartitionKey"]), str(row["RowKey"]))
            if current is None:
                continue  # deleted in between (nothing here deletes rows): try the insert again
            changes = merge(dict(current))
            if changes is None:
                return dict(current)
            if self.change(current, changes) is not None:
                return {**current, **changes}
        raise RuntimeError("delivery row: too many concurrent writers")

    def change(self, current: Any, changes: Mapping[str, Any]) -> Entity | None:
        """Merge `changes` into the row as `current` was read (ETag); None when it changed."""
        entity = {
            "PartitionKey": current["PartitionKey"],
            "RowKey": current["RowKey"],
            **changes,
        }
        if not tables.update_if_unchanged(
            self.table, entity, tables.etag_of(current), mode=UpdateMode.MERGE
        ):
            return None
        return self.get(str(current["PartitionKey"]), str(current["RowKey"]))
