"""At most one automatic text per number, purpose and window, across instances.

The question every automatic message asks is "may I text this number now, for this purpose?"
(`SenderWindows.claim`). Issue 14 builds the app-wide loop guard that answers it for
auto-replies, HELP and forwards (per-sender windows in Table Storage); until it lands, the
text-back answers with `ScheduleTableWindows`, and the one call site (`service`) only knows
the `SenderWindows` protocol, so pointing it at the shared guard is a one-line change.

`ScheduleTableWindows` keeps one row per number and purpose in the SmsSchedule table, in the
`sys-` namespace the app reserves for its own keys there (PartitionKey
``sys-window-<number>``, RowKey = the purpose; `LastAt`, `Ref`): no query of the timer or of
the schedules API reads those partitions. Not in OptOut: its snapshot reads every row of that
table as an opt-out until issue 14 filters it.

A claim is granted when the number has no row, when its window has passed, or when `ref`
(the CallSid) holds it already (a retried callback); the row is then (re)written with
insert-if-absent or an ETag-conditioned update, so of two instances claiming at once one wins
and the other sees its claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from switchboard import records

PARTITION_PREFIX = "sys-window-"
#: Rounds of read-and-write when other instances keep winning (then the claim is refused).
ATTEMPTS = 5


@dataclass(frozen=True)
class Window:
    """The answer to a claim: granted, or held until `until` (by `ref`)."""

    granted: bool
    until: datetime | None = None
    ref: str | None = None


class SenderWindows(Protocol):
    """May this number be texted now, for this purpose? (And if so, remember that it was.)"""

    async def claim(
        self, number: str, purpose: str, *, ref: str, window: timedelta, now: datetime
    ) -> Window:
        """Grant and record a text to `number` for `purpose` (idempotent for the same `ref`),
        or refuse it while an earlier one's window lasts."""
        ...


class ScheduleTableWindows:
    """`SenderWindows` on the SmsSchedule table (see the module doc)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def claim(
        self, number: str, purpose: str, *, ref: str, window: timedelta, now: datetime
    ) -> Window:
        """See `SenderWindows.claim`."""
        key = PARTITION_PREFIX + number
        if not (records.is_valid_key(key) and records.is_valid_key(purpose)):
            return Window(False)
        entity = {"PartitionKey": key, "RowKey": purpose, "LastAt": now, "Ref": ref}
        for _ in range(ATTEMPTS):
            try:
                await self.table.create_entity(entity)
                return Window(True, now + window, ref)
            except ResourceExistsError:
                pass
            current: Any = await self._get(key, purpose)
            if current is None:
                continue
            last = current.get("LastAt")
            if current.get("Ref") == ref:
                return Window(True, (last or now) + window, ref)
            if isinstance(last, datetime) and now - last < window:
                return Window(False, last + window, str(current.get("Ref") or ""))
            try:
                await self.table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=current.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return Window(True, now + window, ref)
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
        return Window(False)

    async def _get(self, key: str, purpose: str) -> Any:
        try:
            return await self.table.get_entity(key, purpose)
        except ResourceNotFoundError:
            return None
