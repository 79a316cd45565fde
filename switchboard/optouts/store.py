"""The OptOut table: one entity per opted-out number (PartitionKey = number, RowKey = `optout`).

Properties: `Number`, `OptedOutAt`, `How` (`keyword` / `twilio-21610` / `operator`), `Keyword`
(the word the person sent), `BusinessNumber` (the app's number they wrote to), `MessageSid` (the
message that caused it). Rules and the send-time check: `switchboard.optouts.rules`.

Recording is idempotent: a number already opted out keeps its first record (a retried STOP
webhook, a second STOP or a later 21610 write nothing).

The OptOut table is the per-number table of what decides whether the app may text a number: the
same partition also holds the outbound policy's rows of that number as a subject (RowKey
`guard-<line>`, `switchboard.outbound.store`), so one partition query reads both, and the
partition `budget` holds each line's budget. Anything listing opt-outs filters on RowKey
`optout`.

Changes the SMS webhook could not write during an outage wait in `switchboard.optouts.journal`;
`replay` writes them, and every read does that first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from switchboard import records
from switchboard.logs import get_logger
from switchboard.optouts import rules as optout
from switchboard.optouts.journal import PENDING, Journal, PendingChange
from switchboard.optouts.rules import How, OptOutRecord
from switchboard.settings import Settings, get_settings
from switchboard.storage import tables

logger = get_logger(__name__)


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
        """The opt-out of `number`, or None when it may be texted (pending changes written
        first: `replay`)."""
        if PENDING.due():
            self.replay()
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

    def apply(self, change: PendingChange) -> None:
        """Write one keyword change (idempotent: insert-if-absent, or remove)."""
        if change.opted_out:
            self.opt_out(
                change.number,
                How.KEYWORD,
                keyword=change.keyword,
                business_number=change.business_number,
                message_sid=change.message_sid,
                at=change.at,
            )
        else:
            self.remove(change.number)

    def replay(self, journal: Journal = PENDING) -> int:
        """Write the changes this instance could not write during an outage, oldest first; how
        many were written. Stops quietly at the first storage failure (they stay pending)."""
        written = 0
        for change in journal.pending():
            try:
                self.apply(change)
            except Exception as exc:  # storage still down: the rest waits for the next try
                journal.failed()
                logger.warning(
                    "opt-out journal: %d change(s) still pending (%s)",
                    len(journal),
                    type(exc).__name__,
                )
                break
            journal.written(change)
            written += 1
            logger.info(
                "opt-out journal: recorded the %s of message %s received during an outage",
                "opt-out" if change.opted_out else "opt-in",
                change.message_sid,
                extra={"MessageSid": change.message_sid},
            )
        return written


def replay_pending(open_store: Callable[[], OptOutStore], journal: Journal = PENDING) -> int:
    """Write the journal's changes when some are due (`OptOutStore.replay`): how many were
    written. Never raises: when even opening the store fails, the journal waits."""
    if not journal.due():
        return 0
    try:
        return open_store().replay(journal)
    except Exception as exc:  # storage still down: the journal waits for the next try
        journal.failed()
        logger.warning("opt-out journal: storage still unavailable (%s)", type(exc).__name__)
        return 0
