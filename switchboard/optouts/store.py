"""The OptOut table: one entity per opted-out number (PartitionKey = number, RowKey = `optout`).

Properties: `Number`, `OptedOutAt`, `How` (`keyword` / `twilio-21610` / `operator`), `Keyword`
(the word the person sent), `BusinessNumber` (the app's number they wrote to), `MessageSid` (the
message that caused it). Rules and the send-time check: `switchboard.optouts.rules`.

Recording is idempotent: a number already opted out keeps its first record (a retried STOP
webhook, a second STOP or a later 21610 write nothing).
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from switchboard import records
from switchboard.optouts import rules as optout
from switchboard.optouts.rules import How, OptOutRecord
from switchboard.settings import Settings, get_settings
from switchboard.storage import tables


class OptOutStore:
    """Opt-outs on Table Storage (implements `optout.OptOutLookup`)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> OptOutStore:
        """The store of the `OptOut` table (`TABLE_OPT_OUT`)."""
        s = settings or get_settings()
        return cls(tables.get_table(s.table_opt_out, s))

    def get(self, number: str) -> OptOutRecord | None:
        """The opt-out of `number`, or None when it may be texted."""
        key = optout.normalise_number(number)
        if not records.is_valid_key(key):
            return None
        entity = tables.get_or_none(self.table, key, optout.ROW_KEY)
        return optout.from_entity(entity) if entity is not None else None

    def is_opted_out(self, number: str) -> bool:
        """Whether `number` has opted out."""
        return self.get(number) is not None

    def opt_out(
        self,
        number: str,
        how: How,
        *,
        keyword: str | None = None,
        business_number: str | None = None,
        message_sid: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Record that `number` opted out; False when it already had (nothing written)."""
        key = optout.normalise_number(number)
        if not records.is_valid_key(key):
            raise ValueError("not a number that can be stored as a key")
        record = OptOutRecord(
            number=key,
            opted_out_at=at or records.utcnow(),
            how=how,
            keyword=keyword,
            business_number=business_number,
            message_sid=message_sid,
        )
        return tables.insert_if_absent(self.table, optout.to_entity(record))

    def remove(self, number: str) -> None:
        """Remove the opt-out of `number` without looking first (the caller has just read it)."""
        key = optout.normalise_number(number)
        if records.is_valid_key(key):
            with contextlib.suppress(ResourceNotFoundError):
                self.table.delete_entity(key, optout.ROW_KEY)

    def opt_in(self, number: str) -> bool:
        """Remove the opt-out of `number`; False when there was none."""
        # delete_entity does not report a missing entity (azure-data-tables swallows the 404),
        # so look first to be able to say whether anything was removed.
        if self.get(number) is None:
            return False
        self.remove(number)
        return True
