"""The responses of reminders, as the SMS webhook reads and writes them (sync clients; the
rules are `switchboard.schedules.replies`, the timer's side `switchboard.schedules.store`).

`Responses` reads a (line, customer)'s row of outstanding reminders when the webhook has not
read it already (one point read), binds a reply to its schedule with one ETag-conditioned write
on the schedule's id row (``Response``, ``ResponseKey``, ``ResponseSid``, ``RespondedAt``), and
marks the reminder answered on its row (so later texts need not read the id row to learn it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from azure.data.tables import TableClient

from switchboard import records
from switchboard.logs import get_logger
from switchboard.optouts.rules import normalise_number
from switchboard.schedules import replies as reply_rules
from switchboard.settings import Settings
from switchboard.storage import tables

logger = get_logger(__name__)

Entity = dict[str, Any]
#: Rounds of the conditional write before giving up (other writers kept winning).
ROUNDS = 5


class Responses:
    """Replies bound to reminders, for the SMS webhook (sync clients): the outstanding
    reminders of a (line, customer), the ETag-conditioned binding on the schedule's id row, and
    the mark that a reminder was answered."""

    def __init__(self, schedules: TableClient, index: TableClient) -> None:
        self.schedules = schedules
        self.index = index

    @classmethod
    def from_settings(cls, settings: Settings, index: TableClient | None = None) -> Responses:
        """On the SmsSchedule table and (unless given) the OptOut table."""
        return cls(
            tables.get_table(settings.table_sms_schedule, settings),
            index if index is not None else tables.get_table(settings.table_opt_out, settings),
        )

    def outstanding(self, customer: str, row_keys: Sequence[str]) -> dict[str, Entity]:
        """The reminder rows of `customer` named by `row_keys` (one point read for one key,
        one query for more), by RowKey."""
        key = normalise_number(customer)
        wanted = [k for k in row_keys if records.is_valid_key(k)]
        if not wanted or not records.is_valid_key(key):
            return {}
        if len(wanted) == 1:
            row = tables.get_or_none(self.index, key, wanted[0])
            found = [row] if row is not None else []
        else:
            names = " or ".join(f"RowKey eq @k{n}" for n in range(len(wanted)))
            parameters = {"pk": key, **{f"k{n}": k for n, k in enumerate(wanted)}}
            found = list(
                tables.query(self.index, f"PartitionKey eq @pk and ( {names} )", parameters)
            )
        return {str(row["RowKey"]): row for row in found}

    def bind(
        self, schedule_id: str, choice: reply_rules.Choice, sid: str, now: datetime
    ) -> tuple[reply_rules.Binding, Entity | None]:
        """Record `choice` as the response of `schedule_id` unless a reply is recorded already
        (ETag-conditioned; a lost race reads again); what happened, and the id row."""
        if not records.is_valid_key(schedule_id):
            return reply_rules.Binding.GONE, None
        for _ in range(ROUNDS):
            id_row = tables.get_or_none(self.schedules, schedule_id, reply_rules.ID_ROW)
            verdict = reply_rules.binding(id_row, sid)
            if verdict is not reply_rules.Binding.BIND or id_row is None:
                return verdict, id_row
            change = {
                "PartitionKey": schedule_id,
                "RowKey": reply_rules.ID_ROW,
                **reply_rules.response_properties(choice, sid, now),
            }
            if tables.update_if_unchanged(self.schedules, change, tables.etag_of(id_row)):
                return reply_rules.Binding.BIND, {**id_row, **change}
        return reply_rules.Binding.TAKEN, None

    def mark_answered(self, row: Entity, schedule_id: str, sid: str | None) -> None:
        """Mark the reminder answered by message `sid` on its row (None: its schedule is gone,
        the reminder leaves the row). ETag-conditioned and best effort: a later text that finds
        it unmarked reads the id row and learns it there."""
        entries = reply_rules.answered(reply_rules.index_entries(row), schedule_id, sid)
        change = {
            "PartitionKey": row["PartitionKey"],
            "RowKey": row["RowKey"],
            **reply_rules.index_properties(entries),
        }
        try:
            tables.update_if_unchanged(self.index, change, tables.etag_of(row))
        except Exception as exc:  # the id row holds the truth: this only saves later reads
            logger.warning("a reminder's row was not marked answered (%s)", type(exc).__name__)
