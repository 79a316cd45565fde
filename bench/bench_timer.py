"""The scheduled-SMS timer: 2,000 due schedules among 20,000 future ones, Twilio at 100 ms.

Setup: Azurite (in memory, free ports) and the Twilio stand-in in its own process (as Twilio is
remote: it must not share this process's GIL) answering every request after 100 ms. The due
and future schedules are written straight into `SmsSchedule` in transactions.

Figures, measured in the same run:
- the timer (`scheduler.run_once`, SMS_SEND_CONCURRENCY=32): messages per second over the whole
  run (query, claims, sends, MessageLog records, final states), as a fraction of the bound
  concurrency ÷ latency = 320/s. Goal ≥ 0.7;
- a naive sequential loop over 200 due schedules doing the same work one at a time (claim with
  an ETag, opt-out check, send, MessageLog record, final state, delete). Goal: the timer ≥ 20×
  faster;
- entities the timer read from `SmsSchedule` (O(due): about 2,000, not 22,000).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from devkit.azurite import Azurite

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DUE = 2000
FUTURE = 20_000
NAIVE = 200
CONCURRENCY = 32
LATENCY_MS = 100
GOAL_FRACTION = 0.7
GOAL_SPEEDUP = 20.0
SENDER = "+15017122661"


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
    import threading

    threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
    return process, found.group(1)


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


def _naive(settings: Any, now: Any) -> float:
    """The same work as the timer, one schedule at a time, with the sync clients."""
    from switchboard import records
    from switchboard.logbook import messages as message_log
    from switchboard.logbook.store import RecordStore
    from switchboard.optouts import rules as optout
    from switchboard.optouts.store import OptOutStore
    from switchboard.schedules import rules as s
    from switchboard.storage import tables
    from switchboard.twilio import client as twilio_client

    table = tables.get_table(settings.table_sms_schedule, settings)
    client = twilio_client.build_client(settings)
    optouts = OptOutStore.from_settings(settings)
    messages = RecordStore.messages(settings)
    started = time.perf_counter()
    due = []
    for filter_text, params in s.due_queries(now):
        due.extend(tables.query(table, filter_text, params))
    for row in due[:NAIVE]:
        claim = s.claim_changes(
            row, claim_id="naive", now=records.utcnow(), lease=timedelta(minutes=5)
        )
        if not tables.update_if_unchanged(table, claim, tables.etag_of(row)):
            continue
        optout.ensure_can_text(row["To"], optouts)
        sid, state = twilio_client.send_sms(client, to=row["To"], body=row["Body"], from_=SENDER)
        message_log.record_outbound_message(
            messages, sid, row["To"], SENDER, row["Body"], source="schedule", status=state
        )
        done = s.done_entity(
            {**row, **claim},
            s.Outcome(s.Status.SENT, message_sid=sid),
            finished_at=records.utcnow(),
        )
        table.upsert_entity(done)
        table.delete_entity(row["PartitionKey"], row["RowKey"])
    elapsed = time.perf_counter() - started
    return min(NAIVE, len(due)) / elapsed


def main() -> dict[str, object]:
    """Run the benchmark; print and return its figures."""
    from switchboard import records
    from switchboard.schedules import timer as scheduler
    from switchboard.settings import load_settings

    standin, twilio_url = _start_standin()
    try:
        with Azurite(ports=0) as azurite:
            suffix = uuid.uuid4().hex[:8]
            env = {
                "AzureWebJobsStorage": azurite.connection_string,
                "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                "TWILIO_AUTH_TOKEN": "devkit-auth-token-0000000000000000",
                "TWILIO_API_BASE_URL": twilio_url,
                "TWILIO_FROM_NUMBER": SENDER,
                "SMS_SEND_CONCURRENCY": str(CONCURRENCY),
                "TABLE_SMS_SCHEDULE": "benchsched" + suffix,
                "TABLE_MESSAGE_LOG": "benchmsg" + suffix,
                "TABLE_OPT_OUT": "benchopt" + suffix,
            }
            from devkit.twilio_standin_model import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

            env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"] = (
                DEFAULT_ACCOUNT_SID,
                DEFAULT_AUTH_TOKEN,
            )
            settings = load_settings(env)
            now = records.utcnow()
            seeding = time.perf_counter()
            rows = _rows(
                "due", DUE, now - timedelta(minutes=30), timedelta(milliseconds=500), 5_550_000_000
            )
            rows += _rows(
                "future", FUTURE, now + timedelta(minutes=5), timedelta(seconds=1), 5_560_000_000
            )
            asyncio.run(_seed(settings, rows))
            print(f"seeded {DUE} due + {FUTURE} future in {time.perf_counter() - seeding:.1f} s")

            report = asyncio.run(scheduler.run_once(settings))
            rate = report.sent / report.seconds
            bound = CONCURRENCY / (LATENCY_MS / 1000)
            print(
                f"timer: {report.sent} sent in {report.seconds:.2f} s = {rate:.0f} msg/s "
                f"({rate / bound:.2f} of the bound {bound:.0f}/s); "
                f"entities read {report.entities_read}"
            )

            naive_rows = _rows(
                "naive",
                NAIVE,
                now - timedelta(minutes=1),
                timedelta(milliseconds=10),
                5_570_000_000,
            )
            asyncio.run(_seed(settings, naive_rows))
            naive_rate = _naive(settings, records.utcnow())
            print(f"naive sequential loop: {naive_rate:.1f} msg/s; timer {rate / naive_rate:.1f}x")
    finally:
        standin.terminate()
        standin.wait(10)
    fraction = rate / bound
    speedup = rate / naive_rate
    return {
        "due": DUE,
        "future": FUTURE,
        "sent": report.sent,
        "seconds": report.seconds,
        "msgs_per_s": round(rate, 1),
        "bound_msgs_per_s": round(bound),
        "fraction_of_bound": round(fraction, 2),
        "goal_fraction": GOAL_FRACTION,
        "naive_msgs_per_s": round(naive_rate, 1),
        "speedup_vs_naive": round(speedup, 1),
        "goal_speedup": GOAL_SPEEDUP,
        "entities_read": report.entities_read,
        "met": fraction >= GOAL_FRACTION and speedup >= GOAL_SPEEDUP,
    }


if __name__ == "__main__":
    print(main())
