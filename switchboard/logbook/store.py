"""CallLog and MessageLog on Table Storage, with the layout described in `switchboard.records`.

Writers: the voice and SMS webhooks (inbound records), the call queue and operator routes
(outbound), status callbacks (updates). `update` applies a pure change function under ETag
optimistic concurrency, retrying on conflicts, so racing callbacks never lose an update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from switchboard import records
from switchboard.logs import get_logger
from switchboard.settings import Settings, get_settings
from switchboard.storage import tables

logger = get_logger(__name__)

Entity = dict[str, Any]
Change = Callable[[Entity | None], dict[str, Any] | None]


class ConcurrencyError(RuntimeError):
    """An ETag-conditioned update kept losing races (more than the retry budget)."""


class _NotRead:
    """`RecordStore.update`'s default: read the record first."""


NOT_READ = _NotRead()


class RecordStore:
    """Records of one table (CallLog or MessageLog)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def calls(cls, settings: Settings | None = None) -> RecordStore:
        """The CallLog store."""
        s = settings or get_settings()
        return cls(tables.get_table(s.table_call_log, s))

    @classmethod
    def messages(cls, settings: Settings | None = None) -> RecordStore:
        """The MessageLog store."""
        s = settings or get_settings()
        return cls(tables.get_table(s.table_message_log, s))

    # --- reads ---

    def get(self, record_id: str) -> Entity | None:
        """The record with this id, or None."""
        if not records.is_valid_record_id(record_id):
            return None
        return tables.get_or_none(self.table, record_id, records.RECORD_ROW)

    def resolve(self, sid: str) -> str | None:
        """The record id for a Twilio SID (the SID itself, or its alias), or None."""
        if not records.is_valid_record_id(sid):
            return None
        alias = tables.get_or_none(self.table, sid, records.SID_ROW)
        if alias is not None:
            return str(alias["Id"])
        if tables.get_or_none(self.table, sid, records.RECORD_ROW) is not None:
            return sid
        return None

    def find(self, key: str) -> Entity | None:
        """The record whose id is `key`, else the record a Twilio SID `key` points at, or None."""
        entity = self.get(key)
        if entity is None:
            record_id = self.resolve(key)
            entity = self.get(record_id) if record_id else None
        return entity

    def list_recent(
        self,
        since: datetime,
        limit: int,
        until: datetime | None = None,
        *,
        after: str | None = None,
    ) -> list[Entity]:
        """Records created in [since, until], newest first, at most `limit`.

        Reads only the index partitions of the days covered, newest day first, and stops as
        soon as `limit` records are found. `after` (an index RowKey, `records.index_row`) lists
        only what sorts after it: the cursor of the page that ended there.
        """
        until = until or records.utcnow()
        # Index RowKeys sort newest first across days, so one bound serves every partition.
        low_op, low = ("gt", after) if after else ("ge", records.index_row(until, ""))
        found: list[Entity] = []
        for partition in records.index_partitions_between(since, until):
            rows = tables.query(
                self.table,
                f"PartitionKey eq @pk and RowKey {low_op} @low and RowKey lt @high",
                {
                    "pk": partition,
                    "low": low,
                    "high": records.index_row(since, "~"),
                },
            )
            for row in sorted(rows, key=lambda r: str(r["RowKey"])):
                record = self.get(str(row["Id"]))
                if record is not None:
                    found.append(record)
                    if len(found) >= limit:
                        return found
        return found

    # --- writes ---

    def create(
        self,
        record_id: str,
        fields: dict[str, Any],
        *,
        created: datetime | None = None,
        sid: str | None = None,
        steps: Sequence[str] = (),
    ) -> bool:
        """Insert a new record (False if it exists), with its index row and SID alias.

        `steps` are step markers (`mark_step`) written with the record, in the same transaction
        (they share its partition); when the record exists already they are written alone.
        Raises ValueError for an id that cannot key both the record and its index row (checked
        first, so a record is never written without its index row).
        """
        if not records.is_valid_record_id(record_id):
            raise ValueError("record id cannot be a table key")
        created = created or records.utcnow()
        entity = {
            "PartitionKey": record_id,
            "RowKey": records.RECORD_ROW,
            "Id": record_id,
            "CreatedAt": created,
            "UpdatedAt": created,
            **fields,
        }
        if sid:
            entity["Sid"] = sid
        if not self._insert_with_steps(entity, steps):
            return False
        self.table.upsert_entity(
            {
                "PartitionKey": records.index_partition(created),
                "RowKey": records.index_row(created, record_id),
                "Id": record_id,
            }
        )
        if sid and sid != record_id:
            self.add_sid_alias(record_id, sid)
        return True

    def _insert_with_steps(self, entity: Entity, steps: Sequence[str]) -> bool:
        record_id = str(entity["PartitionKey"])
        if not steps:
            return tables.insert_if_absent(self.table, entity)
        markers = [self._step_entity(record_id, step) for step in steps]
        try:
            self.table.submit_transaction([("create", e) for e in (entity, *markers)])
        except TableTransactionError as exc:
            if exc.status_code != 409:
                raise
            for step in steps:  # the record exists (a retry, a duplicate delivery)
                self.mark_step(record_id, step)
            return False
        return True

    def add_sid_alias(self, record_id: str, sid: str) -> None:
        """Let status callbacks that carry only `sid` find the record `record_id`."""
        if not records.is_valid_key(sid):
            return  # a SID that cannot be a table key (never Twilio's) gets no alias
        self.table.upsert_entity({"PartitionKey": sid, "RowKey": records.SID_ROW, "Id": record_id})

    def update(
        self,
        record_id: str,
        change: Change,
        *,
        attempts: int = 20,
        current: Entity | _NotRead | None = NOT_READ,
    ) -> Entity | None:
        """Apply `change(current)` under ETag concurrency; returns the new record, or None.

        `change` gets the current entity (None when absent) and returns the properties to merge,
        or None for "no change". When the record is absent and `change` returns properties, the
        record is created with them (and an index row). `current`: the record as the caller
        just read it (with its ETag; None: absent), used for the first attempt instead of a
        read of its own.
        """
        known = current
        for _ in range(attempts):
            entity: Entity | None
            if isinstance(known, _NotRead):
                entity = self.get(record_id)
            else:
                entity, known = known, NOT_READ
            update = change(dict(entity) if entity is not None else None)
            if update is None:
                return entity
            now = records.utcnow()
            if entity is None:
                if self.create(record_id, update, created=now, sid=update.get("Sid")):
                    return self.get(record_id)
                continue
            merged = {
                "PartitionKey": record_id,
                "RowKey": records.RECORD_ROW,
                **update,
                "UpdatedAt": now,
            }
            if tables.update_if_unchanged(
                self.table, merged, tables.etag_of(entity), mode=UpdateMode.MERGE
            ):
                return {**entity, **merged}
        raise ConcurrencyError(f"record {record_id}: too many concurrent updates")

    def mark_step(self, record_id: str, step: str) -> bool:
        """Record that a webhook step ran; False when it already had (a Twilio retry)."""
        if not (
            records.is_valid_key(record_id) and records.is_valid_key(records.STEP_PREFIX + step)
        ):
            return True
        return tables.insert_if_absent(self.table, self._step_entity(record_id, step))

    def has_step(self, record_id: str, step: str) -> bool:
        """Whether a webhook step already ran for the record (its marker exists)."""
        key = records.STEP_PREFIX + step
        if not (records.is_valid_key(record_id) and records.is_valid_key(key)):
            return False
        return tables.get_or_none(self.table, record_id, key) is not None

    @staticmethod
    def _step_entity(record_id: str, step: str) -> Entity:
        return {
            "PartitionKey": record_id,
            "RowKey": records.STEP_PREFIX + step,
            "At": records.utcnow(),
        }
