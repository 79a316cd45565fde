"""One run of the scheduled-SMS timer: send every due schedule exactly once, fast.

A run (``run_once``) goes through named stages; each is a small class over the state the run
shares (`Run`: settings, options, clients, clock, report):

1. read: the due rows (O(due): two key-bounded queries, `switchboard.schedules.rules.due_queries`);
2. tidy (`Tidy`): finish what earlier runs left half-done (moves, cancellations) and check rows
   written by a create or a recovery step (``Tentative``) against their id row;
3. claim (`Claimer`): ETag-conditioned transactions (≤ 100 rows, one partition each), one chunk
   at a time, just ahead of the senders; claiming stops when the time budget is spent;
4. resolve doubts (`Doubts`): a row whose lease ran out was claimed by a run that may have died
   after sending, so its done row, the outcome recorded on it, else Twilio (Messages filtered by
   To and DateSent since the first claim, matching the body) say whether it went; it is sent
   only if Twilio has nothing;
5. send (`Sender`, ``SMS_SEND_CONCURRENCY`` asyncio workers on the async Twilio client, and a
   token bucket when ``SMS_MAX_PER_SECOND`` is set): expired (overdue by more than
   ``SMS_MAX_LATENESS``) → ``expired``; in the recipient's quiet hours → moved to their end;
   a destination the outbound policy refuses (`switchboard.outbound.destinations`: a country
   `OUTBOUND_ALLOWED_COUNTRIES` leaves out, a premium-rate or satellite number, one of our own
   numbers; resolved once per run) → ``skipped`` with the reason; opted out (`optout.ensure_can_text`, `OptOutChecks`: a point read per recipient started at
   the claim; a run of 100 or more with an opt-out list of at most a quarter of that reads the
   list once and re-reads it every 5 s) → ``skipped-opted-out``; else Twilio;
6. record outcomes (`Outcomes`): a MessageLog record for each sent message, through the one
   writer (`switchboard.outbound.messagelog`: its day index and conversation rows; StatusCallback
   to `switchboard.settings.callback_origin` + ``/api/status/message``); a text the app scheduled
   for a line goes out from the line's number; a transient failure moves
   the schedule to a later minute with exponential backoff, ``failed`` after the last attempt; a
   permanent one is
   ``failed`` with Twilio's code (21610 also records the opt-out and ends ``skipped-opted-out``;
   a fraud or geo-permission code, such as 21408, pauses the line's automatic texts);
   a recurrence gets its next occurrence exactly once (`NextOccurrences`); a reminder with
   replies awaits its recipient's reply (`switchboard.schedules.store.note_sent_reminder`: its
   row of (line, recipient), which the SMS webhook reads); the done rows and the deletion of
   the due rows go in transactions (`Finisher`).

A claim is a lease: no send starts later than ``lease - lease_margin`` after the claim.
Unexpected errors leave the row claimed: its lease expires and a later run resolves it, so
nothing is lost and nothing is sent twice.

Why a 2-minute lease with a 30 s margin is safe (`tests/unit/schedules/test_timer.py` pins it). Safety
means no second send of a row can start while its first claimant might still be sending:

- the claimant starts no send after ``LeaseUntil - margin``, checked right before the Twilio
  request, and that request ends within the client's timeout (15 s,
  `switchboard.twilio.client.DEFAULT_TIMEOUT_SECONDS`; the async client does not retry): so its
  last possible send is over by ``LeaseUntil - 15 s``, and the 15 s left cover clock skew between
  instances (NTP-synchronised, well under a second) and a stalled event loop;
- after ``LeaseUntil`` another run may re-claim the row, but it first asks Twilio whether the
  message went out (`Doubts`), which covers a send that completed but whose outcome was lost.

The lease need not outlive the run, only the wait from claim to send start: a chunk is claimed
just ahead of its senders (at most 3 × ``SMS_SEND_CONCURRENCY`` rows, ≈ 3 rounds of sends, ≤ 45 s
at 15 s per worst-case request; under ``SMS_MAX_PER_SECOND`` at most 10 s of sends), so 90 s from
claim to the last allowed send start is twice the worst wait. A row not started by then is
abandoned (it stays claimed, a later run resolves it): a short lease can delay, never double.
Recovery after kill -9 is then at most lease + one timer period (+ a Twilio lookup): ≤ 3 min
with the defaults (it was 5 min + a period with the former 5-minute lease).

The timer trigger (`switchboard.schedules.blueprint`) calls ``run_timer``;
``python -m switchboard.schedules.timer`` runs one pass from the command line (settings from the
environment) and prints its report as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from switchboard import records
from switchboard.logbook import statuses
from switchboard.logs import get_logger
from switchboard.optouts import rules as optout
from switchboard.outbound import optouts as opt_out_lookups
from switchboard.outbound.destinations import Destinations
from switchboard.outbound.messagelog import AsyncMessageLogWriter
from switchboard.outbound.purposes import ORIGINS, Origin, Purpose
from switchboard.phone import mask
from switchboard.schedules import replies as reply_rules
from switchboard.schedules import rules as sched
from switchboard.schedules import store as schedule_store
from switchboard.schedules.rules import Action, Outcome, RetryPolicy, RowKind, Status
from switchboard.schedules.store import Held, ScheduleStore, TableSet
from switchboard.settings import Settings, SettingsError, callback_origin, get_settings
from switchboard.storage import tables
from switchboard.twilio import client as twilio_client
from switchboard.twilio.errors import classify_twilio_error

logger = get_logger(__name__)

Clock = Callable[[], datetime]
TwilioFactory = Callable[[Settings], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class RunOptions:
    """Tunables of one run (defaults suit a timer firing every minute)."""

    #: Stop claiming after this long (what is claimed is still sent).
    budget: timedelta = timedelta(seconds=45)
    #: How long a claim holds a schedule: it only has to cover claim → send start (module doc),
    #: and it bounds how late a killed run's SMS goes out (lease + one tick).
    lease: timedelta = timedelta(minutes=2)
    #: No send starts later than this before the lease ends: the Twilio request timeout plus
    #: clock skew between instances and event-loop stalls.
    lease_margin: timedelta = timedelta(seconds=30)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Rows per claim transaction at most (Table Storage allows 100; a run also keeps it to
    #: three times its concurrency and to `write_batch`).
    claim_chunk: int = 100
    #: Operations per transaction the run writes (claims, final states, deletions, MessageLog
    #: index rows): as many as Table Storage allows. A transaction costs ~3 ms of CPU whatever
    #: it holds (the SDK's MIME request, and a fresh regex for each response's unique
    #: boundary) besides ~0.4 ms per operation, so at 32 operations a fifth of every write was
    #: that fixed part. The SDK builds and parses a transaction in one piece on the event loop:
    #: at 100 operations no Twilio answer is read for a few tens of ms, which delays sends by
    #: a small share of one round trip and is far inside the lease margin.
    write_batch: int = schedule_store.MAX_BATCH
    #: At most this many due rows are read per run (the rest wait for the next run).
    max_rows: int = 10_000
    #: Seconds between writes of final states (also written every `write_batch` outcomes).
    flush_interval: float = 0.5
    #: With at least this many schedules to send, the opt-out list is read in one query
    #: (if it holds at most a quarter as many numbers) and kept for this many seconds,
    #: instead of one point read per recipient.
    opt_out_snapshot_min: int = 100
    opt_out_snapshot_age: float = 5.0
    #: Override SMS_SEND_CONCURRENCY / SMS_MAX_PER_SECOND (None: the settings).
    concurrency: int | None = None
    max_per_second: float | None = None


@dataclass
class RunReport:
    """What a run did (logged as one line; tests and the benchmark read it)."""

    read: int = 0
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    skipped_opted_out: int = 0
    #: Refused by the outbound policy when due (a destination it does not allow).
    skipped: int = 0
    expired: int = 0
    deferred: int = 0
    retried: int = 0
    recovered_sent: int = 0
    #: Reminders with replies sent and kept awaiting their recipient's reply.
    reminders: int = 0
    recovered_finished: int = 0
    orphans_deleted: int = 0
    moves_finished: int = 0
    cancellations_finished: int = 0
    claimed_elsewhere: int = 0
    claim_conflicts: int = 0
    abandoned: int = 0
    errors: int = 0
    entities_read: int = 0
    opt_out_list_reads: int = 0
    opt_out_list_used: bool = False
    stopped_by_budget: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class RateLimiter:
    """At most `rate` acquisitions per second, spread evenly (shared by the run's workers)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for the next slot."""
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


# --------------------------------------------------------------------------------------------
# The run's shared state
# --------------------------------------------------------------------------------------------


class Run:
    """What every stage of one run shares: settings, options, clients, clock and report."""

    def __init__(
        self,
        settings: Settings,
        options: RunOptions,
        tables_: TableSet,
        client: Any,
        clock: Clock,
        destinations: Destinations | None = None,
    ) -> None:
        self.settings = settings
        #: Our own numbers and the allowed countries (None: not checked, tests of the run).
        self.destinations = destinations
        self.options = options
        self.tables = tables_
        self.client = client
        self.clock = clock
        self.store = ScheduleStore(tables_.schedules)
        self.report = RunReport()
        self.claim_id = uuid.uuid4().hex
        self.started = time.monotonic()
        self.concurrency = max(1, options.concurrency or settings.sms_send_concurrency)
        rate = options.max_per_second or settings.sms_max_per_second
        self.limiter = RateLimiter(rate)
        # A claimed chunk waits for free senders: keep it to about three rounds of sends, so
        # every claim is sent long before its lease ends (and a crash strands few claims).
        chunk = max(
            1,
            min(
                options.claim_chunk,
                options.write_batch,
                schedule_store.MAX_BATCH,
                3 * self.concurrency,
            ),
        )
        if rate:
            chunk = max(1, min(chunk, int(rate * 10)))
        self.chunk = chunk
        self.margin = min(options.lease_margin, options.lease / 2)
        self.service_sid = settings.twilio_messaging_service_sid
        self.from_ = None if self.service_sid else settings.twilio_from_number
        # The trusted origin (PUBLIC_BASE_URL, else the Azure site's host name): no request.
        origin = callback_origin(settings)
        self.callback = (
            statuses.status_callback_url(origin, statuses.Kind.MESSAGE) if origin else None
        )

    def sender_of(self, row: Any) -> str | None:
        """The From of a schedule's text: its line's number (a text the app scheduled for a
        line), else TWILIO_FROM_NUMBER; none with a Messaging Service (it picks)."""
        if self.service_sid:
            return None
        return str(row.get("Line") or "") or self.from_

    def budget_spent(self) -> bool:
        """Whether the run's time for claiming is over (what is claimed is still sent)."""
        return time.monotonic() - self.started >= self.options.budget.total_seconds()

    def lease_left(self, held: Held) -> bool:
        """Whether a send may still start under this claim (its lease minus the margin)."""
        lease = held.row.get("LeaseUntil")
        return isinstance(lease, datetime) and self.clock() < lease - self.margin

    async def execute(self) -> RunReport:
        """read → tidy → claim → (resolve doubts →) send → record outcomes."""
        now = self.clock()
        rows = await self.store.due_rows(now, limit=self.options.max_rows)
        self.report.read = len(rows)
        tidy = Tidy(self)
        ready = await tidy.sort(rows, now)
        claimer = Claimer(self, tidy.verified)
        opt_outs = OptOutChecks(self, len(ready))
        async with Outcomes(self) as outcomes:
            sender = Sender(self, opt_outs, Doubts(self, outcomes), outcomes)
            try:
                await self._claim_and_send(claimer, sender, opt_outs, ready)
            finally:
                await opt_outs.drain()
        self.report.entities_read = self.store.entities_read
        opt_outs.report()
        self.report.seconds = round(time.monotonic() - self.started, 3)
        return self.report

    async def _claim_and_send(
        self,
        claimer: Claimer,
        sender: Sender,
        opt_outs: OptOutChecks,
        ready: Sequence[schedule_store.Entity],
    ) -> None:
        """Claim chunk after chunk just ahead of `concurrency` senders, until the budget ends."""
        # Room for a whole claimed chunk: the next claim starts while a chunk's worth still
        # waits for senders, so they never wait for a claim.
        queue: asyncio.Queue[Held | None] = asyncio.Queue(maxsize=max(self.concurrency, self.chunk))
        workers = [asyncio.create_task(sender.work(queue)) for _ in range(self.concurrency)]
        try:
            for chunk in claimer.chunks(ready):
                if self.budget_spent():
                    self.report.stopped_by_budget = True
                    return
                for held in await claimer.claim(chunk):
                    opt_outs.prefetch(held)
                    await queue.put(held)
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)


# --------------------------------------------------------------------------------------------
# Stage: tidy up what earlier runs left half-done
# --------------------------------------------------------------------------------------------


class Tidy:
    """Sorts the rows read: finishes moves and cancellations, checks tentative rows against
    their id row (`verified` holds those that are real schedules), counts rows claimed by a
    live run; returns the rows to claim."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.verified: set[tuple[str, str]] = set()

    async def sort(
        self, rows: Sequence[schedule_store.Entity], now: datetime
    ) -> list[schedule_store.Entity]:
        """The rows to claim; the chores run eight at a time."""
        report = self.run.report
        ready: list[schedule_store.Entity] = []
        chores: list[Awaitable[None]] = []
        for row in rows:
            kind = sched.classify_row(row, now)
            if kind in (RowKind.READY, RowKind.CLAIMED_EXPIRED):
                ready.append(row)
            elif kind is RowKind.CLAIMED_LIVE:
                report.claimed_elsewhere += 1
            elif kind is RowKind.TENTATIVE:
                chores.append(self._verify(row, now, ready))
            elif kind is RowKind.MOVED:
                chores.append(self._finish_move(row))
            elif kind is RowKind.CANCELLED:
                chores.append(self._finish_cancel(row, now))
            elif kind is RowKind.UNKNOWN:
                logger.warning("due row %s has an unknown status: left alone", row.get("RowKey"))
        limit = asyncio.Semaphore(8)

        async def bounded(chore: Awaitable[None]) -> None:
            async with limit:
                try:
                    await chore
                except Exception:
                    report.errors += 1
                    logger.exception("housekeeping of a due row failed; a later run retries")

        await asyncio.gather(*(bounded(c) for c in chores))
        return ready

    async def _verify(
        self, row: schedule_store.Entity, now: datetime, ready: list[schedule_store.Entity]
    ) -> None:
        verdict = await self.run.store.verify_tentative(row, now)
        if verdict is sched.TentativeVerdict.SEND:
            self.verified.add((row["PartitionKey"], row["RowKey"]))
            ready.append(row)
        elif verdict is sched.TentativeVerdict.ORPHAN:
            self.run.report.orphans_deleted += 1

    async def _finish_move(self, row: schedule_store.Entity) -> None:
        await self.run.store.finish_move(row, tables.etag_of(row))
        self.run.report.moves_finished += 1

    async def _finish_cancel(self, row: schedule_store.Entity, now: datetime) -> None:
        await self.run.store.finish_cancel(row, tables.etag_of(row), now)
        self.run.report.cancellations_finished += 1


# --------------------------------------------------------------------------------------------
# Stage: claim
# --------------------------------------------------------------------------------------------


class Claimer:
    """ETag-conditioned claims, a transaction per chunk of one partition (≤ 100 rows)."""

    def __init__(self, run: Run, verified: set[tuple[str, str]]) -> None:
        self.run = run
        self.verified = verified

    def chunks(self, rows: Sequence[schedule_store.Entity]) -> list[list[schedule_store.Entity]]:
        """Rows grouped per partition, in RowKey order, cut to claim-sized chunks; oldest first
        but shuffled a little, so runs that overlap mostly claim different chunks."""
        groups: dict[str, list[schedule_store.Entity]] = defaultdict(list)
        for row in rows:
            groups[row["PartitionKey"]].append(row)
        size = self.run.chunk
        chunks: list[list[schedule_store.Entity]] = []
        for partition in sorted(groups):
            group = sorted(groups[partition], key=lambda r: str(r["RowKey"]))
            chunks.extend(group[i : i + size] for i in range(0, len(group), size))
        keyed = [(index + random.uniform(0, 4), chunk) for index, chunk in enumerate(chunks)]
        return [chunk for _, chunk in sorted(keyed, key=lambda pair: pair[0])]

    async def claim(self, chunk: list[schedule_store.Entity]) -> list[Held]:
        """Claim a chunk in one transaction; on a conflict re-read the chunk's range and try
        again with what is still claimable; at last one by one."""
        store, report = self.run.store, self.run.report
        rows = chunk
        for _ in range(3):
            now = self.run.clock()
            rows = [r for r in rows if self._claimable(r, now)]
            if not rows:
                return []
            changes = [self._change(r, now) for r in rows]
            if len(rows) == 1:
                held = await store.claim_one(rows[0], changes[0])
                return self._claimed([held] if held else [], rows)
            try:
                return self._claimed(await store.claim_batch(rows, changes), rows)
            except schedule_store.TransactionConflict:
                report.claim_conflicts += 1
                rows = await store.rows_between(
                    rows[0]["PartitionKey"], rows[0]["RowKey"], rows[-1]["RowKey"]
                )
        now = self.run.clock()
        taken: list[Held] = []
        for row in rows:
            if self._claimable(row, now):
                held = await store.claim_one(row, self._change(row, now))
                if held is not None:
                    taken.append(held)
        return self._claimed(taken, rows)

    def _claimable(self, row: schedule_store.Entity, now: datetime) -> bool:
        kind = sched.classify_row(row, now)
        if kind is RowKind.TENTATIVE:
            return (row["PartitionKey"], row["RowKey"]) in self.verified
        return kind in (RowKind.READY, RowKind.CLAIMED_EXPIRED)

    def _change(self, row: schedule_store.Entity, now: datetime) -> schedule_store.Entity:
        return sched.claim_changes(
            row, claim_id=self.run.claim_id, now=now, lease=self.run.options.lease
        )

    def _claimed(self, held: list[Held], rows: Sequence[schedule_store.Entity]) -> list[Held]:
        """Mark the rows taken over from an expired claim: their sending is in doubt."""
        before = {(r["PartitionKey"], r["RowKey"]): r.get("Status") for r in rows}
        for item in held:
            key = (item.row["PartitionKey"], item.row["RowKey"])
            item.row["_recovering"] = before.get(key) == Status.CLAIMED.value
        self.run.report.claimed += len(held)
        return held


# --------------------------------------------------------------------------------------------
# Stage: resolve doubts (a claim taken over from a run that vanished)
# --------------------------------------------------------------------------------------------


class Doubts:
    """A row whose claim expired may have been sent by the run that held it: its done row, the
    outcome recorded on it, else Twilio (Messages filtered by To and DateSent since the first
    claim, matching the body) say what happened, and only then does it go to the senders."""

    def __init__(self, run: Run, outcomes: Outcomes) -> None:
        self.run = run
        self.outcomes = outcomes

    async def resolve(self, held: Held) -> bool:
        """Settle a row whose previous claimant vanished; True when it is settled (False: it
        was never sent, send it)."""
        run, row = self.run, held.row
        done = await run.store.get(str(row["Home"]), str(row["Id"]))
        if done is not None:  # it ended; only the due row was left behind
            await run.store.delete(row["PartitionKey"], row["RowKey"], held.etag)
            run.report.recovered_finished += 1
            return True
        recorded = sched.outcome_from_row(row)
        if recorded is not None:
            run.report.recovered_finished += 1
            await self.outcomes.finish(held, recorded)
            return True
        try:
            found = await asyncio.to_thread(self._find_in_twilio, row)
        except Exception as exc:
            # Twilio cannot say whether it was sent: leave it claimed, a later run asks again.
            failure = classify_twilio_error(exc)
            logger.warning(
                "schedule %s: cannot ask Twilio whether it was sent (%s): left for a later run",
                row["Id"],
                failure.message,
            )
            run.report.abandoned += 1
            return True
        if found is None:
            return False
        sent_at = found.date_created or run.clock()
        await self.outcomes.sent(held, found.sid, found.status or "sent", sent_at, recovered=True)
        return True

    def _find_in_twilio(self, row: schedule_store.Entity) -> twilio_client.MessageRecord | None:
        """A message Twilio has to this recipient with this body since the first claim."""
        window = sched.send_window_start(row) or row["DueAt"]
        since = window - sched.TWILIO_CLOCK_SKEW
        body = str(row["Body"]).strip()
        client = twilio_client.get_client(self.run.settings)
        return twilio_client.find_sent(client, to=str(row["To"]), body=body, since=since)


# --------------------------------------------------------------------------------------------
# Stage: send
# --------------------------------------------------------------------------------------------


class OptOutChecks:
    """The opt-out read behind `optout.ensure_can_text` for each schedule to send: a point
    read started as soon as its row is claimed (beside the queue wait, not in the sender's
    slot), or for a run of `opt_out_snapshot_min` or more the short list read once."""

    def __init__(self, run: Run, ready: int) -> None:
        self.run = run
        self.snapshot: opt_out_lookups.OptOutSnapshot | None = None
        if ready >= run.options.opt_out_snapshot_min:
            self.snapshot = opt_out_lookups.OptOutSnapshot(
                run.tables.opt_outs, cap=ready // 4, max_age=run.options.opt_out_snapshot_age
            )
        self._reads: dict[tuple[str, str], asyncio.Task[optout.OptOutLookup]] = {}

    def prefetch(self, held: Held) -> None:
        """Start the point read of a claimed row's recipient (none with a snapshot)."""
        if self.snapshot is None:
            key = (held.row["PartitionKey"], held.row["RowKey"])
            self._reads[key] = asyncio.create_task(
                opt_out_lookups.read_opt_out(self.run.tables.opt_outs, str(held.row["To"]))
            )

    async def lookup(self, held: Held) -> optout.OptOutLookup:
        """The lookup for the row's recipient (its read, started earlier or now)."""
        to = str(held.row["To"])
        if self.snapshot is not None:
            return await self.snapshot.lookup(to)
        task = self._reads.pop((held.row["PartitionKey"], held.row["RowKey"]), None)
        if task is None:
            return await opt_out_lookups.read_opt_out(self.run.tables.opt_outs, to)
        return await task

    async def drain(self) -> None:
        """Let the reads of rows never sent (abandoned, errors) finish quietly."""
        leftovers = list(self._reads.values())
        self._reads.clear()
        if leftovers:
            await asyncio.gather(*leftovers, return_exceptions=True)

    def report(self) -> None:
        """Put how the opt-out list was read in the run's report."""
        if self.snapshot is not None:
            self.run.report.opt_out_list_reads = self.snapshot.reads
            self.run.report.opt_out_list_used = not self.snapshot.too_big


class Sender:
    """One claimed schedule after another: expired or deferred, opted out, else sent."""

    def __init__(
        self, run: Run, opt_outs: OptOutChecks, doubts: Doubts, outcomes: Outcomes
    ) -> None:
        self.run = run
        self.opt_outs = opt_outs
        self.doubts = doubts
        self.outcomes = outcomes

    async def work(self, queue: asyncio.Queue[Held | None]) -> None:
        """A worker: process what the claimer queues until it queues None."""
        while True:
            held = await queue.get()
            if held is None:
                return
            try:
                await self.process(held)
            except Exception:
                # The row stays claimed: when its lease expires a later run resolves it.
                self.run.report.errors += 1
                logger.exception(
                    "schedule %s: unexpected error; a later run will resolve it",
                    held.row.get("Id"),
                )

    async def process(self, held: Held) -> None:
        """One schedule, from its claim to its outcome."""
        if not self.run.lease_left(held):
            self.run.report.abandoned += 1
            return
        if held.row.pop("_recovering", False) and await self.doubts.resolve(held):
            return
        if await self._expired_or_deferred(held):
            return
        if await self._refused(held):
            return
        if await self._may_text(held):
            await self._send(held)

    async def _refused(self, held: Held) -> bool:
        """The outbound policy's destination check (pure, resolved once per run): a country
        not allowed, a premium-rate or satellite number, one of our own numbers → `skipped`."""
        destinations = self.run.destinations
        if destinations is None:
            return False
        row = held.row
        problem = destinations.problem(str(row["To"]), also_own=(str(row.get("Line") or ""),))
        if problem is None:
            return False
        self.run.report.skipped += 1
        await self.outcomes.finish(held, Outcome(Status.SKIPPED, error_message=problem))
        return True

    async def _expired_or_deferred(self, held: Held) -> bool:
        """Expire a schedule overdue by more than SMS_MAX_LATENESS, or move it to the end of
        the recipient's quiet hours; False when it may go now."""
        run, row = self.run, held.row
        decision = sched.decide(
            now=run.clock(),
            intended_at=row.get("IntendedAt") or row["SendAt"],
            to=str(row["To"]),
            time_zone=row.get("TimeZone") or None,
            max_lateness=run.settings.sms_max_lateness,
            quiet=run.settings.sms_quiet_hours,
        )
        if decision.action is Action.EXPIRE:
            run.report.expired += 1
            await self.outcomes.finish(held, Outcome(Status.EXPIRED))
            return True
        if decision.action is Action.DEFER and decision.until is not None:
            moved = await run.store.move(
                held,
                due_at=decision.until,
                intended_at=decision.until,
                attempts=int(row.get("Attempts") or 0),
                deferrals=int(row.get("Deferrals") or 0) + 1,
            )
            if moved:
                run.report.deferred += 1
            return True
        return False

    async def _may_text(self, held: Held) -> bool:
        """The opt-out check (fails closed: an unreadable list is a transient failure)."""
        lookup = await self.opt_outs.lookup(held)
        try:
            optout.ensure_can_text(str(held.row["To"]), lookup)
        except optout.OptedOut as exc:
            self.run.report.skipped_opted_out += 1
            await self.outcomes.finish(
                held, Outcome(Status.SKIPPED_OPTED_OUT, error_message=str(exc))
            )
            return False
        except optout.OptOutCheckFailed as exc:
            await self.outcomes.transient(held, None, str(exc))
            return False
        return True

    async def _send(self, held: Held) -> None:
        """The rate limit, a last lease check, then Twilio."""
        run = self.run
        await run.limiter.acquire()
        if not run.lease_left(held):
            run.report.abandoned += 1
            return
        try:
            created = await twilio_client.send_sms_async(
                run.client,
                to=str(held.row["To"]),
                body=str(held.row["Body"]),
                from_=run.sender_of(held.row),
                messaging_service_sid=run.service_sid,
                status_callback=run.callback,
            )
        except Exception as exc:
            await self.outcomes.send_failed(held, exc)
            return
        await self.outcomes.sent(held, created.sid, created.status, run.clock())


# --------------------------------------------------------------------------------------------
# Stage: record outcomes (MessageLog, retries, next occurrences, final states)
# --------------------------------------------------------------------------------------------


def purpose_of(row: Any) -> Purpose:
    """What a schedule's text is for: the purpose the app gave its own, else an operator's
    schedule."""
    try:
        return Purpose(str(row.get("Purpose") or Purpose.SCHEDULE.value))
    except ValueError:
        return Purpose.SCHEDULE


class Outcomes:
    """Where each schedule's outcome goes: the MessageLog record of a sent message (written
    beside the run), a retry moved to a later minute, the next occurrence of a recurrence,
    and the final state (`Finisher`). `async with` waits for all of them at the end."""

    def __init__(self, run: Run) -> None:
        self.run = run
        batch = max(1, min(run.options.write_batch, schedule_store.MAX_BATCH))
        self.log_writer = AsyncMessageLogWriter(run.tables.messages, run.settings, batch)
        self.finisher = Finisher(run.store, run.options.flush_interval, batch)
        self.next_occurrences = NextOccurrences(run)
        self._record_tasks: set[asyncio.Task[None]] = set()
        self._record_limit = asyncio.Semaphore(64)

    async def __aenter__(self) -> Outcomes:
        self.finisher.start()
        return self

    async def __aexit__(self, *excinfo: object) -> None:
        if self._record_tasks:
            await asyncio.gather(*self._record_tasks, return_exceptions=True)
        await self.finisher.close()
        await self.log_writer.flush()

    async def sent(
        self,
        held: Held,
        sid: str,
        message_status: str,
        sent_at: datetime,
        *,
        recovered: bool = False,
    ) -> None:
        """Twilio has the message: its MessageLog record, then the final state `sent`."""
        if recovered:
            self.run.report.recovered_sent += 1
        else:
            self.run.report.sent += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "schedule %s sent to %s as %s", held.row["Id"], mask(str(held.row["To"])), sid
            )
        self._record_later(held, sid, message_status, sent_at)
        await self.finish(
            held,
            Outcome(
                Status.SENT, message_sid=sid, from_=self.run.sender_of(held.row), sent_at=sent_at
            ),
        )

    def _record_later(self, held: Held, sid: str, message_status: str, sent_at: datetime) -> None:
        """Write the MessageLog record beside the run (not holding a sender)."""

        async def record() -> None:
            async with self._record_limit:
                try:
                    purpose = purpose_of(held.row)
                    await self.log_writer.record_sent(
                        sid=sid,
                        to=str(held.row["To"]),
                        from_=self.run.sender_of(held.row),
                        body=str(held.row["Body"]),
                        status=message_status,
                        sent_at=sent_at,
                        schedule_id=str(held.row["Id"]),
                        line=str(held.row.get("Line") or "") or None,
                        purpose=purpose,
                        origin=ORIGINS.get(purpose, Origin.SCHEDULE),
                    )
                except Exception:
                    logger.exception("MessageLog record of %s not written", sid)
                if held.row.get("Replies"):
                    await self._note_reminder(held.row, sent_at)

        task = asyncio.create_task(record())
        self._record_tasks.add(task)
        task.add_done_callback(self._record_tasks.discard)

    async def _note_reminder(self, row: Any, sent_at: datetime) -> None:
        """A reminder with replies went out: it awaits its recipient's reply on the row of
        (line, recipient) the SMS webhook reads (`switchboard.schedules.replies`)."""
        run = self.run
        line = str(row.get("Line") or "") or run.sender_of(row) or run.service_sid or ""
        sent = reply_rules.Outstanding(
            str(row["Id"]),
            sent_at,
            sched.replies_until(row, sent_at),
            reply_rules.from_stored(row.get("Replies")),
        )
        why = "every write lost to another"
        try:
            kept = await schedule_store.note_sent_reminder(
                run.tables.opt_outs, str(row["To"]), line, sent, run.clock()
            )
        except Exception as exc:  # storage: the reminder went, its replies become ordinary
            kept, why = False, type(exc).__name__
        if kept:
            run.report.reminders += 1
            return
        logger.error(
            "reminder %s was sent but does not await a reply (%s): replies to it are ordinary "
            "texts",
            row["Id"],
            why,
        )

    async def send_failed(self, held: Held, exc: BaseException) -> None:
        """Twilio refused or failed: retry later when transient; 21610 records the opt-out and
        ends `skipped-opted-out`; any other permanent failure ends `failed`."""
        report = self.run.report
        failure = classify_twilio_error(exc)
        if failure.code is not None and not failure.transient:
            await asyncio.to_thread(self._twilio_error, held.row, failure.code)
        if failure.transient:
            await self.transient(held, failure.code or failure.status, failure.message)
            return
        if failure.code == statuses.OPTED_OUT_ERROR_CODE:
            await asyncio.to_thread(self._record_opt_out, str(held.row["To"]))
            report.skipped_opted_out += 1
            await self.finish(
                held,
                Outcome(
                    Status.SKIPPED_OPTED_OUT, error_code=failure.code, error_message=failure.message
                ),
            )
            return
        report.failed += 1
        logger.warning(
            "schedule %s to %s failed permanently: %s %s",
            held.row["Id"],
            mask(str(held.row["To"])),
            failure.code,
            failure.message,
        )
        await self.finish(
            held, Outcome(Status.FAILED, error_code=failure.code, error_message=failure.message)
        )

    def _twilio_error(self, row: Any, code: int) -> None:
        """A fraud or geo-permission refusal pauses the line's automatic texts (on its own
        local day: its document's zone)."""
        from switchboard.lines.sending import line_ref_of
        from switchboard.outbound.service import Outbound

        line = str(row.get("Line") or "") or self.run.sender_of(row) or ""
        settings = self.run.settings
        Outbound(settings).twilio_error(line_ref_of(line, settings), code)

    def _record_opt_out(self, number: str) -> None:
        from switchboard.optouts.store import OptOutStore

        try:
            OptOutStore.from_settings(self.run.settings).opt_out(number, optout.How.TWILIO_21610)
        except Exception:
            logger.exception("opt-out of %s (21610) not recorded", mask(number))

    async def transient(self, held: Held, code: int | None, message: str) -> None:
        """Move the schedule to a later minute with backoff; `failed` after the last attempt."""
        run, row = self.run, held.row
        attempts = int(row.get("Attempts") or 0) + 1
        retry_at = run.options.retry.next_attempt(attempts, run.clock(), key=str(row["Id"]))
        if retry_at is None:
            run.report.failed += 1
            held.row["Attempts"] = attempts
            await self.finish(held, Outcome(Status.FAILED, error_code=code, error_message=message))
            return
        moved = await run.store.move(
            held,
            due_at=retry_at,
            intended_at=row.get("IntendedAt") or row["SendAt"],
            attempts=attempts,
            deferrals=int(row.get("Deferrals") or 0),
            last_error=(code, message),
        )
        if moved:
            run.report.retried += 1

    async def finish(self, held: Held, outcome: Outcome) -> None:
        """The final state: the next occurrence first (for a recurrence), then the done row and
        the deletion of the due row (batched by the `Finisher`)."""
        next_id: str | None = None
        if held.row.get("Recurrence") and outcome.status is not Status.CANCELLED:
            planned = await self.next_occurrences.create(held, outcome)
            if planned is None:
                return
            held, next_id = planned
        done = sched.done_entity(held.row, outcome, finished_at=self.run.clock(), next_id=next_id)
        await self.finisher.add(held, done)


class NextOccurrences:
    """The next occurrence of a recurring schedule, created exactly once: its id and time are
    recorded on the due row (with this outcome, under the claim's ETag) before it is created
    with insert-if-absent, so a run that dies in between is finished by the next one."""

    def __init__(self, run: Run) -> None:
        self.run = run

    async def create(self, held: Held, outcome: Outcome) -> tuple[Held, str] | None:
        """Create the next occurrence; (the row as now held, its id), or None when the claim
        was lost before the plan could be recorded."""
        planned = held if held.row.get("Next") else await self._plan(held, outcome)
        if planned is None:
            return None
        row = planned.row
        await self.run.store.create_occurrence(row, row["NextAt"], self.run.clock())
        return planned, str(row["Next"])

    async def _plan(self, held: Held, outcome: Outcome) -> Held | None:
        run, row = self.run, held.row
        tz = sched.recurrence_zone(str(row["To"]), row.get("TimeZone") or None)
        # Occurrences that would expire before they are due are skipped.
        after = max(row["SendAt"], run.clock() - run.settings.sms_max_lateness)
        at = sched.next_occurrence(str(row["Recurrence"]), tz, after)
        plan = {
            "PartitionKey": row["PartitionKey"],
            "RowKey": row["RowKey"],
            "Next": sched.occurrence_id(str(row.get("Root") or row["Id"]), at),
            "NextAt": at,
            **sched.outcome_properties(outcome),
        }
        etag = await run.store.update(plan, held.etag)
        if etag is None:
            logger.warning("schedule %s: claim lost before recording its outcome", row["Id"])
            return None
        return replace(held, row={**row, **plan}, etag=etag)


class Finisher:
    """Collects final states and writes them in transactions: done rows first, then the
    deletion of their due rows (a crash in between leaves a claimed row whose done row a
    later run finds)."""

    def __init__(
        self, store: ScheduleStore, interval: float, batch_size: int = schedule_store.MAX_BATCH
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch_size = batch_size
        self.pending: list[tuple[Held, schedule_store.Entity]] = []
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._due = asyncio.Event()  # a transaction's worth has gathered, or the run ends
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Write what has gathered every `interval` seconds (or as soon as a transaction's
        worth has) until `close`."""
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        # Never cancelled mid-flush (that would strand rows between their two writes): `close`
        # sets the events and waits for the loop to end.
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), self.interval)
            self._due.clear()
            await self.flush()

    async def add(self, held: Held, done: schedule_store.Entity) -> None:
        """A final state to write: at once (by the writing loop, not the sender that adds it)
        when a transaction's worth has gathered."""
        self.pending.append((held, done))
        if len(self.pending) >= self.batch_size:
            self._due.set()

    async def flush(self) -> None:
        """Write the done rows gathered, then delete their due rows."""
        async with self._lock:
            items, self.pending = self.pending, []
            if not items:
                return
            try:
                written = await self.store.write_done(
                    [done for _, done in items], batch_size=self.batch_size
                )
                keys = {(d["PartitionKey"], d["RowKey"]) for d in written}
                await self.store.delete_held(
                    [h for h, d in items if (d["PartitionKey"], d["RowKey"]) in keys],
                    batch_size=self.batch_size,
                )
            except Exception:  # the rows stay claimed: a later run finishes them
                logger.exception("final states not written; later runs will finish them")

    async def close(self) -> None:
        """Stop the loop and write what is left."""
        self._stopping.set()
        self._due.set()
        if self._task is not None:
            await self._task
        await self.flush()


async def run_once(
    settings: Settings,
    options: RunOptions | None = None,
    *,
    clock: Clock = records.utcnow,
    twilio_factory: TwilioFactory | None = None,
) -> RunReport:
    """One timer run (see the module doc); returns what it did."""
    options = options or RunOptions()
    if not (settings.twilio_messaging_service_sid or settings.twilio_from_number):
        logger.error(
            "scheduled SMS not sent: set TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"
        )
        return RunReport()
    factory = twilio_factory or twilio_client.async_client
    destinations = await asyncio.to_thread(_destinations, settings)
    async with schedule_store.open_tables(settings) as table_set, factory(settings) as client:
        run = Run(settings, options, table_set, client, clock, destinations)
        report = await run.execute()
    logger.info("scheduled SMS run: %s", json.dumps(report.as_dict(), separators=(",", ":")))
    return report


def _destinations(settings: Settings) -> Destinations:
    """Our own numbers and the allowed countries, once per run (cached by the instance)."""
    from switchboard.outbound.service import Outbound

    return Outbound(settings).destinations


async def run_timer(*, past_due: bool = False) -> None:
    """One firing of the ``sms_schedule_timer`` trigger: `run_once` with the process's settings.

    Broken settings end the firing quietly (they are already logged once, naming the setting).
    """
    try:
        settings = get_settings()
    except SettingsError:
        return
    if past_due:
        logger.info("scheduled SMS timer is running late (past due)")
    await asyncio.to_thread(_replay_opt_out_journal, settings)
    await run_once(settings)


def _replay_opt_out_journal(settings: Settings) -> None:
    """Opt-outs this instance received while storage was down are written before a run sends
    (`switchboard.optouts.journal`; the run's opt-out checks honour them either way)."""
    from switchboard.optouts.store import OptOutStore, replay_pending

    replay_pending(lambda: OptOutStore.from_settings(settings))


def _seconds(raw: str) -> timedelta:
    return timedelta(seconds=float(raw))


def main(argv: list[str] | None = None) -> int:
    """`python -m switchboard.schedules.timer`: one run now, with settings from the environment."""
    parser = argparse.ArgumentParser(
        prog="python -m switchboard.schedules.timer",
        description="Run the scheduled-SMS timer once.",
    )
    defaults = RunOptions()
    parser.add_argument("--budget", type=_seconds, default=defaults.budget, help="seconds")
    parser.add_argument("--lease", type=_seconds, default=defaults.lease, help="seconds")
    parser.add_argument("--lease-margin", type=_seconds, default=defaults.lease_margin)
    parser.add_argument("--retry-base", type=_seconds, default=defaults.retry.base)
    parser.add_argument("--retry-cap", type=_seconds, default=defaults.retry.cap)
    parser.add_argument("--max-attempts", type=int, default=defaults.retry.max_attempts)
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)  # one line per HTTP request otherwise
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = RunOptions(
        budget=args.budget,
        lease=args.lease,
        lease_margin=args.lease_margin,
        retry=RetryPolicy(base=args.retry_base, cap=args.retry_cap, max_attempts=args.max_attempts),
        concurrency=args.concurrency,
    )
    report = asyncio.run(run_once(settings, options))
    print(json.dumps(report.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
