"""The scheduled-SMS timer: 2,000 due schedules among 20,000 future ones, Twilio at 100 ms.

Setup: Azurite (in memory, free ports) and the Twilio stand-in in its own process (Twilio is
remote: it must not share this process's GIL or CPU time) answering every request after 100 ms.
Due and future schedules are written straight into `SmsSchedule` in transactions.

Figures, all from the same run:
- storage round trips per sent SMS: every table request the timer's own clients send during
  the run (a transport hook on them, `devkit.storage_counter`: transactions count once, retries
  count), ÷ messages sent; the tables' creation (once per process) is shown apart. Goal <= 3;
- entities the run read from `SmsSchedule` per due schedule (O(due): about 1, not 11);
- the app's own CPU per sent SMS (this process's CPU time over the run: the stand-in and Azurite
  run elsewhere) ÷ that of a floor script doing the same Twilio creates (the async twilio
  client, the same concurrency) and the same table writes (claims, MessageLog records, their
  index and conversation rows, final states, deletions: the same requests, batched as tightly
  as Table Storage
  allows) for as many schedules, with no logic at all. Goal <= 1.5x;
- throughput as a ratio to peers run side by side: a naive sequential loop doing the same work
  one schedule at a time (claim with an ETag, opt-out check, send, MessageLog record, final
  state, delete), goal: the timer >= 30x faster; and a one-by-one worker as Twilio's
  appointment-reminders sample sends (TwilioDevEd/appointment-reminders-flask: one task per
  reminder, which reads its appointment and calls `client.messages.create`, nothing written
  back), shown. The timer's own bound, SMS_SEND_CONCURRENCY ÷ the stand-in's latency, is shown
  for context, never as a goal;
- duplicates: messages the stand-in created beyond one per schedule (goal 0).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.figures import Figure
from devkit.azurite import Azurite
from devkit.storage_counter import SETUP_KINDS, counting_table_requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DUE = 2000
FUTURE = 20_000
FLOOR = 2000
ROUNDS = 5  # the timer is CPU-bound and the naive loop is not: a busy machine moves one round
PEERS = 70  # per round, for the naive loop and for the one-by-one worker
CONCURRENCY = 32
LATENCY_MS = 100
SENDER = "+15017122661"
BATCH = 100  # Table Storage: at most 100 operations per transaction, one partition


def _start_standin() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devkit",
            "twilio",
            "--port",
            "0",
            "--latency-ms",
            str(LATENCY_MS),
            "--callback-delay-ms",
            "0",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"ready at (http://\S+)", line)
    if not found:
        process.terminate()
        process.wait(10)
        raise RuntimeError(f"the Twilio stand-in did not start: {line!r}")
    # Drain its output so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
    return process, found.group(1)


def _created_messages(twilio_url: str) -> list[str]:
    """The `To` of every message the stand-in created (201)."""
    with urllib.request.urlopen(  # noqa: S310 (the loopback stand-in this benchmark started)
        f"{twilio_url}/_standin/requests?method=POST&resource=Messages", timeout=30
    ) as answer:
        entries = json.loads(answer.read())
    return [e["form"]["To"][0] for e in entries if e["status"] == 201 and e["form"].get("To")]


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


def main() -> dict[str, object]:
    """Run the benchmark; print and return its figures."""
    from devkit.twilio_standin_model import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
    from switchboard import records
    from switchboard.schedules import timer as scheduler
    from switchboard.settings import load_settings

    standin, twilio_url = _start_standin()
    try:
        with Azurite(ports=0) as azurite:

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

            # One set of tables per timer run (a run sends every due row of its table); the
            # first also holds the future schedules a run must not read.
            runs = [settings_for(f"timer{i}") for i in range(ROUNDS)]
            floor_settings, peer_settings = settings_for("floor"), settings_for("peers")
            now = records.utcnow()
            seeding = time.perf_counter()
            due = [
                _rows(
                    f"due{i}",
                    DUE,
                    now - timedelta(minutes=30),
                    timedelta(milliseconds=500),
                    5_550_000_000 + 10_000 * i,
                )
                for i in range(ROUNDS)
            ]
            future = _rows(
                "future", FUTURE, now + timedelta(minutes=5), timedelta(seconds=1), 5_560_000_000
            )
            for settings, rows in zip(runs, due, strict=True):
                asyncio.run(_seed(settings, rows + (future if settings is runs[0] else [])))
            floor_rows = _rows(
                "floor",
                FLOOR,
                now - timedelta(minutes=30),
                timedelta(milliseconds=500),
                5_580_000_000,
            )
            asyncio.run(_seed(floor_settings, floor_rows))
            peers = _rows(
                "peer",
                2 * ROUNDS * PEERS + 2,
                now - timedelta(minutes=1),
                timedelta(milliseconds=10),
                5_570_000_000,
            )
            asyncio.run(_seed(peer_settings, peers))
            queried = {row["Id"]: row for row in _queried(peer_settings, records.utcnow())}
            peer_rows = [queried[r["Id"]] for r in peers]
            print(
                f"seeded {ROUNDS} x {DUE} due + {FUTURE} future, {FLOOR} for the floor and "
                f"{len(peers)} for the peers in {time.perf_counter() - seeding:.1f} s",
                flush=True,
            )

            # Warm up once (the first run of a process imports parts of the twilio client and
            # opens its connections: a worker's timer runs every minute, warm), then rounds
            # alternate timer, naive loop and one-by-one worker, so that what else the machine
            # does meanwhile hits them alike; the throughput figures are ratios of the medians.
            warm = settings_for("warm")
            asyncio.run(_seed(warm, _rows("warm", 100, now, timedelta(seconds=0), 5_590_000_000)))
            asyncio.run(scheduler.run_once(warm))
            _naive(peer_settings, peer_rows[-2:-1])
            _one_by_one(peer_settings, peer_rows[-1:])
            reports, rates, naive_rates, worker_rates = [], [], [], []
            cpu = 0.0
            with counting_table_requests() as counter:
                for i, settings in enumerate(runs):
                    started = time.process_time()
                    report = asyncio.run(scheduler.run_once(settings))
                    cpu += time.process_time() - started
                    if i == 0:
                        counts = counter.snapshot()
                    reports.append(report)
                    rates.append(report.sent / report.seconds)
                    naive_rates.append(
                        _naive(peer_settings, peer_rows[2 * i * PEERS : (2 * i + 1) * PEERS])
                    )
                    worker_rates.append(
                        _one_by_one(
                            peer_settings, peer_rows[(2 * i + 1) * PEERS : (2 * i + 2) * PEERS]
                        )
                    )
                    print(
                        f"round {i + 1}: timer {rates[-1]:.0f} msg/s, naive loop "
                        f"{naive_rates[-1]:.1f} msg/s, one-by-one worker {worker_rates[-1]:.1f}",
                        flush=True,
                    )
            cpu_floor = time.process_time()
            floor_sent = asyncio.run(_floor(floor_settings, records.utcnow()))
            cpu_floor = time.process_time() - cpu_floor
            created = Counter(_created_messages(twilio_url))
            due_numbers = {row["To"] for rows in due for row in rows}
            duplicates = sum(n - 1 for to, n in created.items() if to in due_numbers and n > 1)
            unsent = len(due_numbers - set(created))
    finally:
        standin.terminate()
        standin.wait(10)

    report = reports[0]
    sent = sum(r.sent for r in reports)
    rate = statistics.median(rates)
    naive_rate, worker_rate = statistics.median(naive_rates), statistics.median(worker_rates)
    setup = sum(n for kind, n in counts.items() if kind in SETUP_KINDS)
    requests = sum(n for kind, n in counts.items() if kind not in SETUP_KINDS)
    per_sms_cpu, per_floor_cpu = cpu / max(1, sent), cpu_floor / max(1, floor_sent)
    bound = CONCURRENCY / (LATENCY_MS / 1000)
    figures = [
        Figure(
            "timer.round_trips_per_sent_sms",
            "scheduled SMS: storage round trips per sent SMS (counted on the timer's clients)",
            round(requests / max(1, report.sent), 3),  # the first run: the one among 22,000
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
            f"{per_sms_cpu * 1000:.2f} ms vs {per_floor_cpu * 1000:.2f} ms CPU per message",
        ),
        Figure(
            "timer.vs_naive_loop",
            "scheduled SMS: the timer's msgs/s ÷ a naive sequential loop doing the same work",
            round(rate / naive_rate, 1),
            "×",
            f"medians of {ROUNDS} alternating rounds: timer {rate:.0f} msg/s ({DUE} due each; "
            f"rounds {', '.join(f'{r:.0f}' for r in rates)}), naive loop {naive_rate:.1f} msg/s "
            f"({PEERS} each; {', '.join(f'{r:.1f}' for r in naive_rates)})",
        ),
        Figure(
            "timer.vs_one_by_one_worker",
            "scheduled SMS: the timer's msgs/s ÷ a one-by-one worker as Twilio's appointment-"
            "reminders sample sends (read the reminder, create the message, nothing recorded)",
            round(rate / worker_rate, 1),
            "×",
            f"worker {worker_rate:.1f} msg/s ({PEERS} each round); for context, "
            f"SMS_SEND_CONCURRENCY "
            f"{CONCURRENCY} ÷ the stand-in's {LATENCY_MS} ms = {bound:.0f}/s: the timer "
            f"reached {rate / bound:.0%} of it",
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
        "msgs_per_s": round(rate, 1),
        "naive_msgs_per_s": round(naive_rate, 1),
        "one_by_one_msgs_per_s": round(worker_rate, 1),
    }


if __name__ == "__main__":
    main()
