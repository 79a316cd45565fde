"""The opt-out lookups of the sending paths that run on an event loop (the scheduled-SMS
timer), behind `optouts.rules.ensure_can_text`, which remains the one check.

- `read_opt_out(table, number)`: one point read, into a lookup that raises the read's failure
  in the check (`OptOutCheckFailed`: fail closed);
- `OptOutSnapshot`: for a big run, the short opt-out list read once and re-read every few
  seconds instead of one point read per recipient.

The other readers of opt-outs on the way out: `SubjectStore.load` (`switchboard.outbound.store`:
the subject's opt-out with its tallies, in one query) and `OptOutStore.get`
(`switchboard.optouts.store`, the sync store of the table, for an operator's send).
"""

from __future__ import annotations

import asyncio

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from switchboard import records
from switchboard.optouts import rules as optout


class _Looked:
    """An `optout.OptOutLookup` answering from one read already made."""

    def __init__(self, record: optout.OptOutRecord | None, error: BaseException | None) -> None:
        self.record = record
        self.error = error

    def get(self, number: str) -> optout.OptOutRecord | None:
        """The record read (or the read's failure, raised)."""
        if self.error is not None:
            raise self.error
        return self.record


async def read_opt_out(table: TableClient, number: str) -> optout.OptOutLookup:
    """Read `number`'s opt-out (async) into a lookup for `optout.ensure_can_text`, which stays
    the one check: a read failure is raised there, as `OptOutCheckFailed` (fail closed)."""
    key = optout.normalise_number(number)
    if not records.is_valid_key(key):
        return _Looked(None, None)
    try:
        entity = await table.get_entity(key, optout.ROW_KEY)
    except ResourceNotFoundError:
        return _Looked(None, None)
    except Exception as exc:  # any storage failure: the check fails closed
        return _Looked(None, exc)
    return _Looked(optout.from_entity(entity), None)


class OptOutSnapshot:
    """The opt-out list held in memory for a big run, re-read every `max_age` seconds.

    A run sending N messages would make N point reads; when the list holds at most `cap`
    entries (the run passes N / 4) one query of the whole (small) list replaces them, at most
    `max_age` seconds old when a text is checked. A longer list is not kept: every lookup is
    then a point read (`read_opt_out`). A failed read fails every check (closed).
    """

    def __init__(self, table: TableClient, cap: int, max_age: float) -> None:
        self.table = table
        self.cap = max(1, cap)
        self.max_age = max_age
        self.too_big = False
        self.reads = 0
        self._records: dict[str, optout.OptOutRecord] = {}
        self._error: BaseException | None = None
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def lookup(self, number: str) -> optout.OptOutLookup:
        """A lookup for `optout.ensure_can_text` answering for `number`."""
        if not self.too_big:
            async with self._lock:
                now = asyncio.get_running_loop().time()
                if self._loaded_at is None or now - self._loaded_at >= self.max_age:
                    await self._load()
                    self._loaded_at = asyncio.get_running_loop().time()
        if self.too_big:
            return await read_opt_out(self.table, number)
        if self._error is not None:
            return _Looked(None, self._error)
        return _Looked(self._records.get(optout.normalise_number(number)), None)

    async def _load(self) -> None:
        found: dict[str, optout.OptOutRecord] = {}
        try:
            # Opt-outs only: the same table holds the outbound policy's rows (subjects, budgets).
            async for entity in self.table.query_entities(
                "RowKey eq @row",
                parameters={"row": optout.ROW_KEY},
                results_per_page=min(self.cap + 1, 1000),
            ):
                self.reads += 1
                if len(found) >= self.cap:
                    self.too_big = True
                    return
                record = optout.from_entity(entity)
                found[record.number] = record
        except Exception as exc:  # fail closed until the next successful read
            self._error = exc
            return
        self._records, self._error = found, None
