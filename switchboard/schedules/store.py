"""`SmsSchedule` on Table Storage (asyncio), following the design in `switchboard.schedules.rules`.

`ScheduleStore` holds the storage protocols: create (idempotent on the id), read, cancel, the
due-row query, ETag-conditioned claims (transactions of up to 100 operations per partition),
moves to a later minute, next occurrences and final states. Every read it makes is counted in
`entities_read`, so tests can check that a run reads O(due) entities.

What a run checks and records about the texts it sends is the outbound path's: the opt-out
lookups (`switchboard.outbound.optouts`) and the MessageLog record of a sent message
(`switchboard.outbound.messagelog.AsyncMessageLogWriter`).

Clients are opened per run or per request (`open_tables`) and closed at the end: aiohttp sessions
belong to one event loop.

Replies to reminders (`switchboard.schedules.replies`): `note_sent_reminder` (the timer) keeps a
(line, customer)'s outstanding reminders on their row of the OptOut table when one with replies
is sent; the SMS webhook's side (sync, without this module's async clients) is
`switchboard.schedules.responses`. `ScheduleStore.of_days` reads the schedules of some send days
with their responses (`schedules list --from`, `schedules export`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from switchboard import records
from switchboard.logs import get_logger
from switchboard.optouts.rules import normalise_number
from switchboard.schedules import replies as reply_rules
from switchboard.schedules import rules as sched
from switchboard.schedules.rules import NewSchedule, Status
from switchboard.settings import Settings
from switchboard.storage import connection as storage_connection
from switchboard.storage import tables

logger = get_logger(__name__)

Entity = dict[str, Any]
MAX_BATCH = 100  # Table Storage: at most 100 operations per transaction, one partition
#: How many moved-row hops a read follows before giving up (a move chain is short-lived).
MAX_HOPS = 4


@dataclass
class TableSet:
    """The async table clients a run or a request needs."""

    schedules: TableClient
    messages: TableClient
    opt_outs: TableClient


async def _ensure_table(service: TableServiceClient, connection: str, name: str) -> TableClient:
    # One registry with the sync clients (`tables.created_tables`): a table is created once per
    # process, whichever client, thread or event loop needs it first; concurrent runs and
    # requests wait for that creation.
    await tables.created_tables.ensure_async((connection, name), lambda: service.create_table(name))
    return service.get_table_client(name)


@contextlib.asynccontextmanager
async def open_tables(settings: Settings) -> AsyncIterator[TableSet]:
    """Async clients for SmsSchedule, MessageLog and OptOut (tables created on first use)."""
    connection = storage_connection.connection_key(settings)
    async with storage_connection.async_table_service(settings, **tables.CLIENT_OPTIONS) as service:
        yield TableSet(
            schedules=await _ensure_table(service, connection, settings.table_sms_schedule),
            messages=await _ensure_table(service, connection, settings.table_message_log),
            opt_outs=await _ensure_table(service, connection, settings.table_opt_out),
        )


def forget_created_tables() -> None:
    """Forget which tables exist (tests that restart storage)."""
    tables.created_tables.forget()


class TransactionConflict(Exception):
    """An ETag-conditioned transaction failed: operation `index` saw a changed entity."""

    def __init__(self, index: int) -> None:
        super().__init__(f"transaction operation {index} failed its condition")
        self.index = index


@dataclass
class Held:
    """A due row as this process last wrote or read it, with its ETag."""

    row: Entity
    etag: str


class CreateResult(StrEnum):
    """What `ScheduleStore.create` did."""

    CREATED = "created"
    SAME = "same"  # the id exists with the same request: idempotent repeat
    CONFLICT = "conflict"  # the id exists with a different request


class CancelResult(StrEnum):
    """What `ScheduleStore.cancel` did."""

    CANCELLED = "cancelled"
    ALREADY = "already"  # was cancelled before
    TOO_LATE = "too-late"  # sending started or the schedule ended
    NOT_FOUND = "not-found"


def _cond(etag: str) -> dict[str, Any]:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _chunks(items: Sequence[Any], size: int = MAX_BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ScheduleStore:
    """The SmsSchedule table (see `switchboard.schedules.rules` for keys and states)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table
        #: Entities returned by every query and point read of this store.
        self.entities_read = 0

    # ---------------------------------------------------------------------------------------
    # primitives
    # ---------------------------------------------------------------------------------------

    async def get(self, partition_key: str, row_key: str) -> Entity | None:
        """The entity (with its ETag in `.metadata`), or None."""
        try:
            entity = await self.table.get_entity(partition_key, row_key)
        except ResourceNotFoundError:
            return None
        self.entities_read += 1
        return entity

    async def query(
        self, filter_text: str, parameters: Mapping[str, Any], *, limit: int | None = None
    ) -> list[Entity]:
        """Entities matching an OData filter (parameters bound by the SDK), at most `limit`."""
        found: list[Entity] = []
        pages = self.table.query_entities(
            filter_text,
            parameters=dict(parameters),
            results_per_page=min(limit, 1000) if limit else None,
        )
        async for entity in pages:
            found.append(entity)
            self.entities_read += 1
            if limit is not None and len(found) >= limit:
                break
        return found

    async def list_pending(
        self, limit: int, after: tuple[str, str] | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The schedules still to send, soonest first, at most `limit`, continuing after the
        cursor's due row; and the cursor of the next page (None on the last)."""
        text, parameters = sched.pending_filter()
        low = after[0] if after else sched.DUE_PREFIX
        items: list[dict[str, Any]] = []
        last: Entity | None = None
        pages = self.table.query_entities(
            text, parameters={**parameters, "low": low}, results_per_page=min(limit + 1, 1000)
        )
        async for row in pages:
            self.entities_read += 1
            if after is not None and (row["PartitionKey"], row["RowKey"]) <= after:
                continue
            if not sched.listed(row):
                continue
            if last is not None and len(items) == limit:
                return items, sched.encode_list_cursor(last)
            items.append(sched.pending_json(row))
            last = row
        return items, None

    async def insert(self, entity: Mapping[str, Any]) -> str | None:
        """Create the entity; its ETag, or None when one with these keys exists."""
        try:
            metadata = await self.table.create_entity(dict(entity))
        except ResourceExistsError:
            return None
        return str(metadata["etag"])

    async def update(
        self, entity: Mapping[str, Any], etag: str, *, mode: UpdateMode = UpdateMode.MERGE
    ) -> str | None:
        """Update only if the ETag still matches; the new ETag, or None (changed or gone)."""
        try:
            metadata = await self.table.update_entity(dict(entity), mode=mode, **_cond(etag))
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        return str(metadata["etag"])

    async def delete(self, partition_key: str, row_key: str, etag: str) -> bool:
        """Delete only if the ETag still matches; False when it changed (or is gone)."""
        try:
            await self.table.delete_entity(partition_key, row_key, **_cond(etag))
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def transact(self, operations: Sequence[tuple[str, Entity, dict[str, Any]]]) -> list[str]:
        """Submit one transaction (one partition, ≤ 100 operations); the ETags written.

        Raises TransactionConflict (with the failing operation's index) when a condition failed
        or an entity to create exists.
        """
        if not operations:
            return []
        if len(operations) > MAX_BATCH:
            raise ValueError("a transaction holds at most 100 operations")
        try:
            results = await self.table.submit_transaction(list(operations))
        except TableTransactionError as exc:
            if exc.status_code in (404, 409, 412):
                raise TransactionConflict(int(exc.index or 0)) from exc
            raise
        return [str(r.get("etag", "")) for r in results]

    async def insert_many(self, entities: Sequence[Entity], *, concurrency: int = 8) -> None:
        """Create many entities in transactions per partition (seeding tests and benchmarks:
        fails if one exists)."""
        groups: dict[str, list[Entity]] = defaultdict(list)
        for entity in entities:
            groups[entity["PartitionKey"]].append(entity)
        limit = asyncio.Semaphore(concurrency)

        async def submit(batch: Sequence[Entity]) -> None:
            async with limit:
                await self.transact([("create", e, {}) for e in batch])

        await asyncio.gather(
            *(submit(batch) for group in groups.values() for batch in _chunks(group))
        )

    # ---------------------------------------------------------------------------------------
    # due rows
    # ---------------------------------------------------------------------------------------

    async def due_rows(self, now: datetime, *, limit: int | None = None) -> list[Entity]:
        """Every due row due at or before `now` (oldest minute first), at most `limit`."""
        found: list[Entity] = []
        for filter_text, parameters in sched.due_queries(now):
            remaining = None if limit is None else limit - len(found)
            if remaining is not None and remaining <= 0:
                break
            found.extend(await self.query(filter_text, parameters, limit=remaining))
        return found

    async def rows_between(self, partition_key: str, low: str, high: str) -> list[Entity]:
        """The due rows of one partition with RowKey in [low, high] (a claim refresh)."""
        return await self.query(
            "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
            {"pk": partition_key, "low": low, "high": high},
        )

    async def claim_batch(self, rows: Sequence[Entity], changes: Sequence[Entity]) -> list[Held]:
        """Claim rows of one partition in one transaction (`changes[i]` merged into
        `rows[i]`, conditioned on its ETag). TransactionConflict when one was taken."""
        operations = [
            ("update", change, {"mode": UpdateMode.MERGE, **_cond(tables.etag_of(row))})
            for row, change in zip(rows, changes, strict=True)
        ]
        etags = await self.transact(operations)
        return [
            Held({**row, **change}, etag)
            for row, change, etag in zip(rows, changes, etags, strict=True)
        ]

    async def claim_one(self, row: Entity, change: Entity) -> Held | None:
        """Claim one row (ETag-conditioned); None when another run changed it first."""
        etag = await self.update(change, tables.etag_of(row))
        return Held({**row, **change}, etag) if etag else None

    # ---------------------------------------------------------------------------------------
    # creation
    # ---------------------------------------------------------------------------------------

    async def create(self, schedule: NewSchedule, now: datetime) -> tuple[CreateResult, Entity]:
        """Create a schedule, idempotently on its id; returns what happened and the id row.

        Order (see the module doc of `switchboard.schedules.rules`): the due row first, marked
        tentative; then the id row, which commits the create; then the mark is cleared. A crash
        in between leaves a tentative row that a run deletes, never sends.
        """
        existing = await self.get(schedule.id, sched.ID_ROW)
        if existing is not None:
            return self._compare(existing, schedule), existing
        spec = sched.spec_properties(schedule)
        due = sched.new_due_entity(
            spec, schedule.send_at, intended_at=schedule.send_at, created_at=now, tentative=True
        )
        due_etag = await self.insert(due)
        if due_etag is None:
            # The same keys exist: a repeat of this create that crashed or is running, or
            # another request with the same id and time but different text.
            other = await self.get(due["PartitionKey"], due["RowKey"])
            if other is not None and other.get("Body") != schedule.body:
                winner = await self.get(schedule.id, sched.ID_ROW)
                return CreateResult.CONFLICT, winner or sched.id_entity(
                    schedule, due, created_at=now
                )
        id_row = sched.id_entity(schedule, due, created_at=now)
        if await self.insert(id_row) is None:
            winner = await self.get(schedule.id, sched.ID_ROW)
            if winner is None:  # deleted in between: not something this app does
                return CreateResult.CONFLICT, id_row
            result = self._compare(winner, schedule)
            if result is CreateResult.CONFLICT and due_etag is not None:
                # Our due row is an orphan: remove it (if a run claimed it meanwhile, the run
                # sees that the id row points elsewhere and deletes it unsent).
                await self.delete(due["PartitionKey"], due["RowKey"], due_etag)
            return result, winner
        if due_etag is not None:
            await self.update(
                {"PartitionKey": due["PartitionKey"], "RowKey": due["RowKey"], "Tentative": False},
                due_etag,
            )
        return CreateResult.CREATED, id_row

    @staticmethod
    def _compare(existing: Mapping[str, Any], schedule: NewSchedule) -> CreateResult:
        if existing.get("Fingerprint") == schedule.fingerprint():
            return CreateResult.SAME
        return CreateResult.CONFLICT

    # ---------------------------------------------------------------------------------------
    # reads
    # ---------------------------------------------------------------------------------------

    async def live_row(self, id_row: Mapping[str, Any]) -> Entity | None:
        """The due row the id row points at, following moves; None when there is none."""
        pk, rk = id_row.get("DuePk"), id_row.get("DueRk")
        for _ in range(MAX_HOPS):
            if not pk or not rk:
                return None
            row = await self.get(str(pk), str(rk))
            if row is None or row.get("Status") != Status.MOVED.value:
                return row
            pk, rk = row.get("MovedToPk"), row.get("MovedToRk")
        return None

    async def state(self, schedule_id: str) -> tuple[Entity, Entity | None] | None:
        """(id row, done row or live due row) of a schedule; None when the id is unknown."""
        if not records.is_valid_key(schedule_id):
            return None
        id_row = await self.get(schedule_id, sched.ID_ROW)
        if id_row is None:
            return None
        for _ in range(2):
            done = await self.get(str(id_row["Home"]), schedule_id)
            if done is not None:
                return id_row, done
            live = await self.live_row(id_row)
            if live is not None:
                return id_row, live
            # Finished or moved between the two reads: look again with a fresh id row.
            id_row = await self.get(schedule_id, sched.ID_ROW) or id_row
        return id_row, None

    async def view(self, schedule_id: str) -> dict[str, Any] | None:
        """The schedule as the operator API shows it, or None when unknown."""
        found = await self.state(schedule_id)
        if found is None:
            return None
        id_row, state = found
        result = sched.to_json(id_row, state)
        latest = id_row.get("Latest")
        if latest and latest != schedule_id:
            result["latest"] = latest
        return result

    # ---------------------------------------------------------------------------------------
    # cancellation
    # ---------------------------------------------------------------------------------------

    async def cancel(
        self, schedule_id: str, now: datetime
    ) -> tuple[CancelResult, dict[str, Any] | None]:
        """Cancel a schedule that has not started sending (for a recurrence whose occurrence
        already ran: its latest occurrence, which ends the recurrence)."""
        found = await self.state(schedule_id)
        if found is None:
            return CancelResult.NOT_FOUND, None
        id_row, state = found
        if state is not None and str(state["PartitionKey"]).startswith(sched.DONE_PREFIX):
            latest = id_row.get("Latest")
            if state.get("Status") != Status.CANCELLED.value and latest and latest != schedule_id:
                result, view = await self._cancel_one(str(latest), now)
                if result is not CancelResult.NOT_FOUND:
                    return result, view
            return self._final_result(state), sched.to_json(id_row, state)
        return await self._cancel_one(schedule_id, now)

    @staticmethod
    def _final_result(state: Mapping[str, Any]) -> CancelResult:
        if state.get("Status") == Status.CANCELLED.value:
            return CancelResult.ALREADY
        return CancelResult.TOO_LATE

    async def _cancel_one(
        self, schedule_id: str, now: datetime
    ) -> tuple[CancelResult, dict[str, Any] | None]:
        for _ in range(5):
            found = await self.state(schedule_id)
            if found is None:
                return CancelResult.NOT_FOUND, None
            id_row, state = found
            if state is None:
                return CancelResult.TOO_LATE, sched.to_json(id_row, None)
            status = state.get("Status")
            if status in {s.value for s in sched.FINAL} and state.get(
                "PartitionKey", ""
            ).startswith(sched.DONE_PREFIX):
                return self._final_result(state), sched.to_json(id_row, state)
            if status == Status.CLAIMED.value:
                return CancelResult.TOO_LATE, sched.to_json(id_row, state)
            if status == Status.CANCELLED.value:
                await self.finish_cancel(state, tables.etag_of(state), now)
                return CancelResult.ALREADY, await self.view(schedule_id)
            if status != Status.PENDING.value:
                continue
            etag = await self.update(
                {
                    "PartitionKey": state["PartitionKey"],
                    "RowKey": state["RowKey"],
                    "Status": Status.CANCELLED.value,
                    "CancelledAt": now,
                },
                tables.etag_of(state),
            )
            if etag is None:
                continue  # a run claimed it, or it moved: look again
            await self.finish_cancel({**state, "Status": Status.CANCELLED.value}, etag, now)
            return CancelResult.CANCELLED, await self.view(schedule_id)
        return CancelResult.TOO_LATE, await self.view(schedule_id)

    async def finish_cancel(self, row: Mapping[str, Any], etag: str, now: datetime) -> None:
        """Record a cancelled due row's final state and remove it (idempotent)."""
        done = sched.done_entity(row, sched.Outcome(Status.CANCELLED), finished_at=now)
        await self.table.upsert_entity(done, mode=UpdateMode.REPLACE)
        await self.delete(row["PartitionKey"], row["RowKey"], etag)

    # ---------------------------------------------------------------------------------------
    # moves (quiet hours, retry backoff)
    # ---------------------------------------------------------------------------------------

    async def move(
        self,
        held: Held,
        *,
        due_at: datetime,
        intended_at: datetime,
        attempts: int,
        deferrals: int,
        last_error: tuple[int | None, str | None] | None = None,
    ) -> bool:
        """Move a claimed schedule to a later minute; False when the claim was lost.

        Steps: mark the held row `moved` (ETag: proves the claim), insert the new pending row,
        point the id row at it, delete the old row. A run that finds a `moved` row repeats the
        last three steps (`finish_move`).
        """
        target_pk, target_rk = sched.due_keys(due_at, str(held.row["Id"]))
        marker: Entity = {
            "PartitionKey": held.row["PartitionKey"],
            "RowKey": held.row["RowKey"],
            "Status": Status.MOVED.value,
            "MovedToPk": target_pk,
            "MovedToRk": target_rk,
            "DueAt": due_at,
            "IntendedAt": intended_at,
            "Attempts": attempts,
            "Deferrals": deferrals,
        }
        if last_error is not None:
            marker["LastErrorCode"] = last_error[0]
            marker["LastErrorMessage"] = (last_error[1] or "")[:1000]
        etag = await self.update(marker, held.etag)
        if etag is None:
            return False
        await self.finish_move({**held.row, **marker}, etag, tentative=False)
        return True

    async def finish_move(
        self, row: Mapping[str, Any], etag: str, *, tentative: bool = True
    ) -> None:
        """Complete a move from a `moved` row (idempotent). A repeat writes the new row as
        tentative, so a row recreated after it already finished is never sent."""
        created = row.get("CreatedAt")
        target = sched.new_due_entity(
            sched.copy_spec(row),
            row["DueAt"],
            intended_at=row["IntendedAt"],
            created_at=created if isinstance(created, datetime) else row["DueAt"],
            attempts=int(row.get("Attempts") or 0),
            deferrals=int(row.get("Deferrals") or 0),
            tentative=tentative,
            last_error=(row.get("LastErrorCode"), row.get("LastErrorMessage"))
            if row.get("LastErrorCode") is not None or row.get("LastErrorMessage")
            else None,
        )
        await self.insert(target)
        await self.repoint(
            str(row["Id"]),
            (row["PartitionKey"], row["RowKey"]),
            (target["PartitionKey"], target["RowKey"]),
        )
        await self.delete(row["PartitionKey"], row["RowKey"], etag)

    async def repoint(self, schedule_id: str, old: tuple[str, str], new: tuple[str, str]) -> None:
        """Point the id row at `new` if it still points at `old` (ETag-conditioned)."""
        for _ in range(3):
            id_row = await self.get(schedule_id, sched.ID_ROW)
            if id_row is None or (id_row.get("DuePk"), id_row.get("DueRk")) != old:
                return
            change = {
                "PartitionKey": schedule_id,
                "RowKey": sched.ID_ROW,
                "DuePk": new[0],
                "DueRk": new[1],
            }
            if await self.update(change, tables.etag_of(id_row)):
                return

    # ---------------------------------------------------------------------------------------
    # tentative rows, recurrence, final states
    # ---------------------------------------------------------------------------------------

    async def verify_tentative(
        self, row: Mapping[str, Any], now: datetime
    ) -> sched.TentativeVerdict:
        """Decide a tentative row from its id row and done row; orphans are deleted here."""
        schedule_id = str(row["Id"])
        id_row = await self.get(schedule_id, sched.ID_ROW)
        done = await self.get(str(row["Home"]), schedule_id)
        verdict = sched.verify_tentative(row, id_row, done, now)
        if verdict is sched.TentativeVerdict.ORPHAN:
            await self.delete(row["PartitionKey"], row["RowKey"], tables.etag_of(row))
        return verdict

    async def create_occurrence(self, row: Mapping[str, Any], at: datetime, now: datetime) -> str:
        """Create the occurrence of `row`'s recurrence at `at` (idempotent); its id."""
        root = str(row.get("Root") or row["Id"])
        schedule = NewSchedule(
            id=sched.occurrence_id(root, at),
            to=str(row["To"]),
            body=str(row["Body"]),
            send_at=at,
            time_zone=row.get("TimeZone") or None,
            recurrence=row.get("Recurrence") or None,
            line=row.get("Line") or None,
            purpose=row.get("Purpose") or None,
            replies=reply_rules.from_stored(row.get("Replies")),
        )
        spec = sched.spec_properties(schedule, root=root, previous=str(row["Id"]))
        due = sched.new_due_entity(spec, at, intended_at=at, created_at=now, tentative=True)
        due_etag = await self.insert(due)
        id_row = sched.id_entity(schedule, due, created_at=now, root=root, previous=str(row["Id"]))
        if await self.insert(id_row) is not None and due_etag is not None:
            # Both rows are new: this is the first (and only) creation, so the row is real.
            await self.update(
                {"PartitionKey": due["PartitionKey"], "RowKey": due["RowKey"], "Tentative": False},
                due_etag,
            )
        await self._note_latest(root, schedule.id)
        return schedule.id

    async def _note_latest(self, root: str, occurrence: str) -> None:
        """Remember the newest occurrence on the root's id row (DELETE of the root uses it)."""
        for _ in range(3):
            root_row = await self.get(root, sched.ID_ROW)
            if root_row is None:
                return
            current = str(root_row.get("Latest") or "")
            if (
                current
                and current.rsplit(sched.OCCURRENCE_SEPARATOR, 1)[-1]
                >= occurrence.rsplit(sched.OCCURRENCE_SEPARATOR, 1)[-1]
            ):
                return
            change = {"PartitionKey": root, "RowKey": sched.ID_ROW, "Latest": occurrence}
            if await self.update(change, tables.etag_of(root_row)):
                return

    async def write_done(
        self, done_rows: Sequence[Entity], *, batch_size: int = MAX_BATCH
    ) -> list[Entity]:
        """Write final states (transactions of at most `batch_size` per Home partition); the
        rows written."""
        groups: dict[str, list[Entity]] = defaultdict(list)
        for row in done_rows:
            groups[row["PartitionKey"]].append(row)
        written: list[Entity] = []
        for group in groups.values():
            for batch in _chunks(group, batch_size):
                try:
                    await self.transact(
                        [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in batch]
                    )
                    written.extend(batch)
                except (TransactionConflict, HttpResponseError) as exc:
                    logger.warning("done-row transaction failed (%s): writing one by one", exc)
                    for row in batch:
                        try:
                            await self.table.upsert_entity(row, mode=UpdateMode.REPLACE)
                            written.append(row)
                        except HttpResponseError as single:
                            logger.error("done row %s not written: %s", row["RowKey"], single)
        return written

    async def delete_held(self, held: Sequence[Held], *, batch_size: int = MAX_BATCH) -> int:
        """Delete due rows this process holds (ETag-conditioned, transactions of at most
        `batch_size` per partition); how many were deleted."""
        groups: dict[str, list[Held]] = defaultdict(list)
        for item in held:
            groups[item.row["PartitionKey"]].append(item)
        deleted = 0
        for group in groups.values():
            for batch in _chunks(group, batch_size):
                try:
                    await self.transact([("delete", item.row, _cond(item.etag)) for item in batch])
                    deleted += len(batch)
                except (TransactionConflict, HttpResponseError):
                    for item in batch:
                        if await self.delete(
                            item.row["PartitionKey"], item.row["RowKey"], item.etag
                        ):
                            deleted += 1
        return deleted

    # ---------------------------------------------------------------------------------------
    # the schedules of some send days (listing and export, with their responses)
    # ---------------------------------------------------------------------------------------

    async def of_days(
        self, first: date, last: date, *, limit: int = 10_000
    ) -> list[dict[str, Any]]:
        """The schedules whose `sendAt` falls on the UTC days `first`..`last`, finished (their
        done rows, one range per day) and pending (the due rows of those days), each with its
        id row (what it is, its response), ordered by `sendAt`; at most `limit`."""
        low, high = sched.done_partition(_midnight(first)), sched.done_partition(_midnight(last))
        done = await self.query(
            "PartitionKey ge @low and PartitionKey le @high",
            {"low": low, "high": high},
            limit=limit,
        )
        pending = await self.query(
            "PartitionKey ge @start and PartitionKey lt @end and Home ge @low and Home le @high",
            {"start": sched.DUE_PREFIX, "end": sched.DUE_END, "low": low, "high": high},
            limit=limit,
        )
        states: dict[str, Entity] = {str(row["RowKey"]): row for row in done}
        for row in pending:
            if sched.listed(row):
                states.setdefault(str(row["Id"]), row)
        ids = list(states)[:limit]
        gate = asyncio.Semaphore(16)

        async def id_row(schedule_id: str) -> Entity | None:
            async with gate:
                return await self.get(schedule_id, sched.ID_ROW)

        found = await asyncio.gather(*(id_row(i) for i in ids))
        views = [
            sched.to_json(row, states[schedule_id])
            for schedule_id, row in zip(ids, found, strict=True)
            if row is not None
        ]
        return sorted(views, key=lambda v: (str(v.get("sendAt") or ""), str(v["id"])))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Replies to reminders
# --------------------------------------------------------------------------------------------

#: Rounds of read-and-write of a reminder row before giving up (other writers kept winning).
REMINDER_ROUNDS = 5


async def note_sent_reminder(
    opt_outs: TableClient, customer: str, line: str, sent: reply_rules.Outstanding, now: datetime
) -> bool:
    """Keep a reminder with replies, just sent to `customer` from `line`, among the outstanding
    reminders of that pair (their row in the OptOut table, ETag-conditioned: reminders sent to
    one customer at once lose none). False when it could not be kept (keys that cannot key a
    row, or every round lost)."""
    key, row_key = normalise_number(customer), reply_rules.index_row_key(line)
    if not (records.is_valid_key(key) and records.is_valid_key(row_key)):
        return False
    for _ in range(REMINDER_ROUNDS):
        try:
            current: Entity | None = await opt_outs.get_entity(key, row_key)
        except ResourceNotFoundError:
            current = None
        entries = reply_rules.with_sent(reply_rules.index_entries(current), sent, now)
        entity = {
            "PartitionKey": key,
            "RowKey": row_key,
            "Line": line,
            **reply_rules.index_properties(entries),
            "UpdatedAt": now,
        }
        try:
            if current is None:
                await opt_outs.create_entity(entity)
            else:
                await opt_outs.update_entity(
                    entity, mode=UpdateMode.REPLACE, **_cond(tables.etag_of(current))
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            continue
        return True
    return False
