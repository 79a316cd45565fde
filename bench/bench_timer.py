"""The scheduled-SMS timer: where its design binds, what it costs, and what it sends.

Setup: Azurite (in memory, free ports) and the Twilio stand-in in its own process
(`bench.services`: Twilio is remote, it must not share this process's GIL or CPU time). Due and
future schedules are written straight into `SmsSchedule` in transactions. Two phases:

1. Twilio at 1 s per request, where the design binds: the timer's CPU is then a small share of a
   core, so what bounds it is ``SMS_SEND_CONCURRENCY`` ÷ latency (32/s here). Each round sends
   ten waves' worth (320 due: bound by the concurrency, not by the count) and, beside it, a
   naive sequential loop doing the same work one schedule at a time (claim with an ETag,
   opt-out check, send, MessageLog record, final state, delete). Goals: the timer reaches
   >= 90 % of its bound (its whole run, set-up included, timed from outside) and >= 28x the
   naive loop; medians of 3 alternating rounds.
2. Twilio at 100 ms, 1,000 due among 20,000 future ones, 7 rounds, each of the timer, a floor
   script, the naive loop and a one-by-one worker in turn (so that what else the machine does
   hits them alike):
   - storage round trips per sent SMS: every table request the timer's own clients send
     (a transport hook on them, `devkit.storage_counter`: transactions count once, retries
     count), ÷ messages sent, in the first round (the one among 21,000); the tables' creation
     (once per process) is shown apart. Goal <= 3;
   - entities the run read from `SmsSchedule` per due schedule (O(due): about 1, not 11);
   - the app's own CPU per sent SMS ÷ that of a floor script doing the same Twilio creates (the
     async twilio client, the same concurrency) and the same table writes (claims, MessageLog
     records, their index and conversation rows, final states, deletions: the same requests,
     batched as tightly as Table Storage allows) with no logic at all. CPU time of this process alone (the stand-in
     and Azurite run elsewhere), a fresh garbage collection before each side, the ratio of the
     medians of 7 rounds alternating timer and floor. Goal <= 1.25x;
   - shown, not judged (at 100 ms the timer is CPU-bound on two cores shared with Azurite and
     the stand-in, while the peers wait on latency: the figure moves with the machine): the
     timer ÷ the naive loop, and ÷ a one-by-one worker as Twilio's appointment-reminders sample
     sends (TwilioDevEd/appointment-reminders-flask: one task per reminder, which reads its
     appointment and calls `client.messages.create`, nothing written back), with the share of
     the bound it reached;
- duplicates, over both phases: messages the stand-in created beyond one per schedule (goal 0).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.figures import Figure, Goal, goals
from bench.services import created_messages, set_latency, standin_process
from devkit.azurite import Azurite
from devkit.storage_counter import SETUP_KINDS, counting_table_requests

GOALS = goals(
    {
        "timer.share_of_bound": Goal(">=", 0.9),
        "timer.vs_naive_loop": Goal(">=", 28.0, "×"),
        "timer.round_trips_per_sent_sms": Goal("<=", 3.0),
        "timer.cpu_per_sms_vs_floor": Goal("<=", 1.25, "×"),
        "timer.duplicates": Goal("==", 0),
    }
)
DUE = 1000
FUTURE = 20_000
FLOOR = 1000
ROUNDS = 7  # at 100 ms: the timer is CPU-bound and the peers are not, a busy spell moves a round
PEERS = 20  # per round at 100 ms, for the naive loop and for the one-by-one worker
CONCURRENCY = 32
LATENCY_MS = 100
SLOW_LATENCY_MS = 1000  # where the design binds: the concurrency, not the CPU
SLOW_ROUNDS = 3
SLOW_DUE = 10 * CONCURRENCY  # ten waves of sends: bound by the concurrency, not by the count
SLOW_PEERS = 5  # the naive loop at 1 s per create: 5 s a round
SENDER = "+15017122661"
BATCH = 100  # Table Storage: at most 100 operations per transaction, one partition


def _rows(
    prefix: str, count: int, start: Any, step: timedelta, numbers: int
) -> list[dict[str, Any]]:
    from switchboard.schedules import rules as s

    rows = []
    for i in range(count):
        at = start + step * i
        schedule = s.NewSchedule(
            id=f"{prefix}-{i}",
            to=f"+1{numbers + i:010d}",
            body=f"Reminder {prefix} {i}",
            send_at=at,
        )
        rows.append(
            s.new_due_entity(
                s.spec_properties(schedule), at, intended_at=at, created_at=at - timedelta(hours=1)
            )
        )
    return rows


async def _seed(settings: Any, rows: list[dict[str, Any]]) -> None:
    from switchboard.schedules.store import ScheduleStore, open_tables

    async with open_tables(settings) as opened:
        await ScheduleStore(opened.schedules).insert_many(rows, concurrency=8)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _floor(settings: Any, now: Any) -> int:
    """The timer's requests with no logic: read the due rows, claim, send, record the message
    and its index row, finish, delete: the same requests, carrying what each must carry."""
    from azure.core import MatchConditions
    from azure.data.tables import UpdateMode

    from switchboard import records
    from switchboard.schedules.rules import due_queries
    from switchboard.storage import connection, tables
    from switchboard.twilio import client as twilio_client

    async def all_of(operations: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[Any]:
        groups: dict[str, list[Any]] = defaultdict(list)
        for operation in operations:
            groups[operation[1]["PartitionKey"]].append(operation)
        results: list[Any] = []
        for group in groups.values():
            for chunk in _chunks(group, BATCH):
                results.extend(await schedules.submit_transaction(chunk))
        return results

    sent = 0
    limit = asyncio.Semaphore(CONCURRENCY)
    async with (
        connection.async_table_service(settings, **tables.CLIENT_OPTIONS) as service,
        twilio_client.async_client(settings) as client,
    ):
        schedules = service.get_table_client(settings.table_sms_schedule)
        messages = service.get_table_client(settings.table_message_log)
        partitions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for filter_text, params in due_queries(now):
            async for row in schedules.query_entities(filter_text, parameters=params):
                partitions[row["PartitionKey"]].append(row)
        chunks = [c for group in partitions.values() for c in _chunks(group, 3 * CONCURRENCY)]
        for chunk in chunks:
            claims = await schedules.submit_transaction(
                [
                    (
                        "update",
                        {
                            "PartitionKey": r["PartitionKey"],
                            "RowKey": r["RowKey"],
                            "Status": "claimed",
                            "ClaimedAt": records.utcnow(),
                            "LeaseUntil": records.utcnow() + timedelta(minutes=5),
                        },
                        {
                            "mode": UpdateMode.MERGE,
                            "etag": tables.etag_of(r),
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    )
                    for r in chunk
                ]
            )

            async def send(row: dict[str, Any]) -> tuple[str, Any]:
                async with limit:
                    created = await twilio_client.send_sms_async(
                        client, to=row["To"], body=row["Body"], from_=SENDER
                    )
                    now = records.utcnow()
                    await messages.create_entity(
                        {
                            "PartitionKey": created.sid,
                            "RowKey": "record",
                            "Direction": "outbound",
                            "To": row["To"],
                            "From": SENDER,
                            "Body": row["Body"],
                            "Status": created.status,
                            "SentAt": now,
                        },
                        response_preference="return-no-content",
                    )
                    # Its row in the conversation (line, recipient): one upsert, as the app's.
                    await messages.upsert_entity(
                        {
                            "PartitionKey": f"conv-{SENDER}-{row['To']}",
                            "RowKey": records.index_row(now, created.sid),
                            "Id": created.sid,
                            "Direction": "outbound",
                            "Body": row["Body"],
                        },
                        mode=UpdateMode.REPLACE,
                    )
                    return created.sid, now

            done = await asyncio.gather(*(send(row) for row in chunk))
            sent += len(done)
            index = [
                (
                    "upsert",
                    {
                        "PartitionKey": records.index_partition(at),
                        "RowKey": records.index_row(at, sid),
                        "Id": sid,
                    },
                    {"mode": UpdateMode.MERGE},
                )
                for sid, at in done
            ]
            for group in _chunks(index, BATCH):
                await messages.submit_transaction(group)
            await all_of(
                [
                    (
                        "upsert",
                        {
                            "PartitionKey": r["Home"],
                            "RowKey": r["Id"],
                            "Status": "sent",
                            "MessageSid": sid,
                            "SentAt": at,
                        },
                        {"mode": UpdateMode.REPLACE},
                    )
                    for r, (sid, at) in zip(chunk, done, strict=True)
                ]
            )
            await all_of(
                [
                    (
                        "delete",
                        r,
                        {
                            "etag": claim["etag"],
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    )
                    for r, claim in zip(chunk, claims, strict=True)
                ]
            )
    return sent


def _naive(settings: Any, rows: list[dict[str, Any]]) -> float:
    """The same work as the timer, one schedule at a time, with the sync clients: msgs/s."""
    from switchboard import records
    from switchboard.logbook.store import RecordStore
    from switchboard.optouts import rules as optout
    from switchboard.optouts.store import OptOutStore
    from switchboard.outbound import messagelog
    from switchboard.schedules import rules as s
    from switchboard.storage import tables
    from switchboard.twilio import client as twilio_client

    table = tables.get_table(settings.table_sms_schedule, settings)
    client = twilio_client.build_client(settings)
    optouts = OptOutStore.from_settings(settings)
    messages = RecordStore.messages(settings)
    started = time.perf_counter()
    for row in rows:
        claim = s.claim_changes(
            row, claim_id="naive", now=records.utcnow(), lease=timedelta(minutes=5)
        )
        if not tables.update_if_unchanged(table, claim, tables.etag_of(row)):
            continue
        optout.ensure_can_text(row["To"], optouts)
        sid, state = twilio_client.send_sms(client, to=row["To"], body=row["Body"], from_=SENDER)
        messagelog.record_outbound(
            messages, sid, row["To"], SENDER, row["Body"], source="schedule", status=state
        )
        done = s.done_entity(
            {**row, **claim},
            s.Outcome(s.Status.SENT, message_sid=sid),
            finished_at=records.utcnow(),
        )
        table.upsert_entity(done)
        table.delete_entity(row["PartitionKey"], row["RowKey"])
    return len(rows) / (time.perf_counter() - started)


def _one_by_one(settings: Any, rows: list[dict[str, Any]]) -> float:
    """Twilio's appointment-reminders sample: per reminder, read it, send it: msgs/s."""
    from switchboard.storage import tables
    from switchboard.twilio import client as twilio_client

    table = tables.get_table(settings.table_sms_schedule, settings)
    client = twilio_client.build_client(settings)
    started = time.perf_counter()
    for row in rows:
        reminder = table.get_entity(row["PartitionKey"], row["RowKey"])
        twilio_client.send_sms(client, to=reminder["To"], body=reminder["Body"], from_=SENDER)
    return len(rows) / (time.perf_counter() - started)


def _queried(settings: Any, now: Any) -> list[dict[str, Any]]:
    """The due rows of a table as the timer's query returns them (with their ETags)."""
    from switchboard.schedules import rules as s
    from switchboard.storage import tables

    table = tables.get_table(settings.table_sms_schedule, settings)
    found: list[dict[str, Any]] = []
    for filter_text, params in s.due_queries(now):
        found.extend(tables.query(table, filter_text, params))
    return found


def _cpu_of(work: Callable[[], Any]) -> tuple[Any, float]:
    """(what `work` returned, this process's CPU seconds for it), after a full collection."""
    gc.collect()
    started = time.process_time()
    result = work()
    return result, time.process_time() - started


def main() -> dict[str, object]:
    """Run the benchmark; print and return its figures."""
    from devkit.twilio_standin_model import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
    from switchboard import records
    from switchboard.schedules import timer as scheduler
    from switchboard.settings import load_settings

    with standin_process(LATENCY_MS) as twilio_url, Azurite(ports=0) as azurite:

        def settings_for(label: str) -> Any:
            suffix = label + uuid.uuid4().hex[:8]
            return load_settings(
                {
                    "AzureWebJobsStorage": azurite.connection_string,
                    "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
                    "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
                    "TWILIO_API_BASE_URL": twilio_url,
                    "TWILIO_FROM_NUMBER": SENDER,
                    "SMS_SEND_CONCURRENCY": str(CONCURRENCY),
                    "TABLE_SMS_SCHEDULE": "sched" + suffix,
                    "TABLE_MESSAGE_LOG": "msg" + suffix,
                    "TABLE_OPT_OUT": "opt" + suffix,
                }
            )

        # One set of tables per run (a run sends every due row of its table); the first also
        # holds the future schedules a run must not read.
        runs = [settings_for(f"timer{i}") for i in range(ROUNDS)]
        floors = [settings_for(f"floor{i}") for i in range(ROUNDS)]
        slow_runs = [settings_for(f"slow{i}") for i in range(SLOW_ROUNDS)]
        peer_settings = settings_for("peers")
        now = records.utcnow()
        seeding = time.perf_counter()
        past, step = now - timedelta(minutes=30), timedelta(milliseconds=500)
        due = [_rows(f"due{i}", DUE, past, step, 5_550_000_000 + 10_000 * i) for i in range(ROUNDS)]
        future = _rows(
            "future", FUTURE, now + timedelta(minutes=5), timedelta(seconds=1), 5_560_000_000
        )
        for settings, rows in zip(runs, due, strict=True):
            asyncio.run(_seed(settings, rows + (future if settings is runs[0] else [])))
        for i, settings in enumerate(floors):
            asyncio.run(_seed(settings, _rows(f"floor{i}", FLOOR, past, step, 5_580_000_000)))
        slow_due = [
            _rows(f"slow{i}", SLOW_DUE, past, step, 5_540_000_000 + 10_000 * i)
            for i in range(SLOW_ROUNDS)
        ]
        for settings, rows in zip(slow_runs, slow_due, strict=True):
            asyncio.run(_seed(settings, rows))
        peers = _rows(
            "peer",
            2 * ROUNDS * PEERS + SLOW_ROUNDS * SLOW_PEERS + 2,
            now - timedelta(minutes=1),
            timedelta(milliseconds=10),
            5_570_000_000,
        )
        asyncio.run(_seed(peer_settings, peers))
        queried = {row["Id"]: row for row in _queried(peer_settings, records.utcnow())}
        peer_rows = iter([queried[r["Id"]] for r in peers])

        def take(count: int) -> list[dict[str, Any]]:
            return [next(peer_rows) for _ in range(count)]

        print(
            f"seeded {ROUNDS} x {DUE} due + {FUTURE} future, {ROUNDS} x {FLOOR} for the floor, "
            f"{SLOW_ROUNDS} x {SLOW_DUE} for the 1 s phase and {len(peers)} for the peers in "
            f"{time.perf_counter() - seeding:.1f} s",
            flush=True,
        )

        # Warm up once (the first run of a process imports parts of the twilio client and opens
        # its connections: a worker's timer runs every minute, warm).
        warm = settings_for("warm")
        asyncio.run(_seed(warm, _rows("warm", 100, now, timedelta(seconds=0), 5_590_000_000)))
        asyncio.run(scheduler.run_once(warm))
        _naive(peer_settings, take(1))
        _one_by_one(peer_settings, take(1))

        # Phase 1: Twilio at 1 s, where the concurrency binds.
        set_latency(twilio_url, SLOW_LATENCY_MS)
        slow_rates, slow_naive = [], []
        for i, settings in enumerate(slow_runs):
            started = time.perf_counter()
            slow_report = asyncio.run(scheduler.run_once(settings))
            slow_rates.append(slow_report.sent / (time.perf_counter() - started))
            slow_naive.append(_naive(peer_settings, take(SLOW_PEERS)))
            print(
                f"1 s round {i + 1}: timer {slow_rates[-1]:.1f} msg/s ({slow_report.sent} sent), "
                f"naive loop {slow_naive[-1]:.2f} msg/s",
                flush=True,
            )

        # Phase 2: Twilio at 100 ms; the timer, the floor and the peers in turn, round by round.
        set_latency(twilio_url, LATENCY_MS)
        reports, rates, naive_rates, worker_rates = [], [], [], []
        timer_cpu, floor_cpu = [], []
        with counting_table_requests() as counter:
            for i, settings in enumerate(runs):
                report, cpu = _cpu_of(lambda s=settings: asyncio.run(scheduler.run_once(s)))
                if i == 0:
                    counts = counter.snapshot()
                reports.append(report)
                timer_cpu.append(cpu / max(1, report.sent))
                rates.append(report.sent / report.seconds)
                floor_sent, cpu = _cpu_of(
                    lambda s=floors[i]: asyncio.run(_floor(s, records.utcnow()))
                )
                floor_cpu.append(cpu / max(1, floor_sent))
                naive_rates.append(_naive(peer_settings, take(PEERS)))
                worker_rates.append(_one_by_one(peer_settings, take(PEERS)))
                print(
                    f"100 ms round {i + 1}: timer {rates[-1]:.0f} msg/s, naive loop "
                    f"{naive_rates[-1]:.1f} msg/s, one-by-one worker {worker_rates[-1]:.1f}; "
                    f"CPU per SMS {timer_cpu[-1] * 1000:.2f} ms vs the floor's "
                    f"{floor_cpu[-1] * 1000:.2f} ms",
                    flush=True,
                )
        created = Counter(created_messages(twilio_url))
        due_numbers = {row["To"] for rows in due + slow_due for row in rows}
        duplicates = sum(n - 1 for to, n in created.items() if to in due_numbers and n > 1)
        unsent = len(due_numbers - set(created))

    report = reports[0]
    slow_rate, slow_naive_rate = statistics.median(slow_rates), statistics.median(slow_naive)
    slow_bound = CONCURRENCY / (SLOW_LATENCY_MS / 1000)
    rate = statistics.median(rates)
    naive_rate, worker_rate = statistics.median(naive_rates), statistics.median(worker_rates)
    bound = CONCURRENCY / (LATENCY_MS / 1000)
    setup = sum(n for kind, n in counts.items() if kind in SETUP_KINDS)
    requests = sum(n for kind, n in counts.items() if kind not in SETUP_KINDS)
    per_sms_cpu, per_floor_cpu = statistics.median(timer_cpu), statistics.median(floor_cpu)
    cpu_rounds = ", ".join(f"{t / f:.2f}" for t, f in zip(timer_cpu, floor_cpu, strict=True))
    figures = [
        Figure(
            "timer.share_of_bound",
            f"scheduled SMS, Twilio at {SLOW_LATENCY_MS} ms: the timer's msgs/s ÷ its bound, "
            "SMS_SEND_CONCURRENCY ÷ latency",
            round(slow_rate / slow_bound, 3),
            "",
            f"{slow_rate:.1f} msg/s of {slow_bound:.0f}/s ({CONCURRENCY} ÷ "
            f"{SLOW_LATENCY_MS / 1000:g} s), whole runs of {SLOW_DUE} timed from outside; "
            f"medians of {SLOW_ROUNDS} rounds: {', '.join(f'{r:.1f}' for r in slow_rates)}",
        ),
        Figure(
            "timer.vs_naive_loop",
            f"scheduled SMS, Twilio at {SLOW_LATENCY_MS} ms: the timer's msgs/s ÷ a naive "
            "sequential loop doing the same work",
            round(slow_rate / slow_naive_rate, 1),
            "×",
            f"timer {slow_rate:.1f} msg/s ({slow_rate / slow_bound:.0%} of its bound), naive "
            f"loop {slow_naive_rate:.2f} msg/s ({SLOW_PEERS} a round: "
            f"{', '.join(f'{r:.2f}' for r in slow_naive)}); medians of {SLOW_ROUNDS} "
            "alternating rounds",
        ),
        Figure(
            "timer.round_trips_per_sent_sms",
            "scheduled SMS: storage round trips per sent SMS (counted on the timer's clients)",
            round(requests / max(1, report.sent), 3),  # the first run: the one among 21,000
            "",
            f"{requests} requests for {report.sent} sent: "
            + ", ".join(
                f"{kind} {n}" for kind, n in sorted(counts.items()) if kind not in SETUP_KINDS
            )
            + f"; table creation once per process: {setup}",
        ),
        Figure(
            "timer.entities_read_per_due",
            "scheduled SMS: SmsSchedule entities read per due schedule (O(due))",
            round(report.entities_read / DUE, 3),
            "",
            f"{report.entities_read} read for {DUE} due among {DUE + FUTURE}",
        ),
        Figure(
            "timer.cpu_per_sms_vs_floor",
            "scheduled SMS: the app's own CPU per sent SMS ÷ a floor script doing the same Twilio"
            " creates and table writes",
            round(per_sms_cpu / per_floor_cpu, 2),
            "×",
            f"{per_sms_cpu * 1000:.2f} ms vs {per_floor_cpu * 1000:.2f} ms CPU per message, "
            f"medians of {ROUNDS} alternating rounds of {DUE} (round by round: {cpu_rounds})",
        ),
        Figure(
            "timer.vs_naive_loop_at_100ms",
            f"scheduled SMS, Twilio at {LATENCY_MS} ms: the timer's msgs/s ÷ the naive loop "
            "(CPU-bound here: shown)",
            round(rate / naive_rate, 1),
            "×",
            f"timer {rate:.0f} msg/s = {rate / bound:.0%} of its bound {bound:.0f}/s ({DUE} due "
            f"each; rounds {', '.join(f'{r:.0f}' for r in rates)}), naive loop "
            f"{naive_rate:.1f} msg/s ({PEERS} each; {', '.join(f'{r:.1f}' for r in naive_rates)})",
        ),
        Figure(
            "timer.vs_one_by_one_worker",
            f"scheduled SMS, Twilio at {LATENCY_MS} ms: the timer's msgs/s ÷ a one-by-one worker "
            "as Twilio's appointment-reminders sample sends (read the reminder, create the "
            "message, nothing recorded)",
            round(rate / worker_rate, 1),
            "×",
            f"worker {worker_rate:.1f} msg/s ({PEERS} each round)",
        ),
        Figure(
            "timer.duplicates",
            "scheduled SMS: messages created beyond one per due schedule",
            duplicates,
            "",
            f"{len(created)} numbers texted, {unsent} due schedules not sent in the run",
        ),
    ]
    for figure in figures:
        print(figure.line(), flush=True)
    return {
        "figures": [f.as_dict() for f in figures],
        "report": report.as_dict(),
        "table_requests": dict(counts),
        "cpu_ms_per_sms": round(per_sms_cpu * 1000, 3),
        "floor_cpu_ms_per_sms": round(per_floor_cpu * 1000, 3),
        "msgs_per_s_at_1s": round(slow_rate, 2),
        "naive_msgs_per_s_at_1s": round(slow_naive_rate, 3),
        "msgs_per_s": round(rate, 1),
        "naive_msgs_per_s": round(naive_rate, 1),
        "one_by_one_msgs_per_s": round(worker_rate, 1),
    }


if __name__ == "__main__":
    main()
