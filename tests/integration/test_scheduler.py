"""The scheduled-SMS timer against the session Azurite and the Twilio stand-in.

Exactly once under overlap (three runs in separate processes at once, 20% transient faults) and
under a crash (a run SIGKILLed mid-way), every final state, O(due) reads, and the storage
protocols behind the operator routes (create, read, cancel, recurrence).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devkit.twilio_standin import FaultRule, TwilioStandin
from switchboard import records
from switchboard.logbook.store import RecordStore
from switchboard.optouts.rules import How
from switchboard.schedules import rules as s
from switchboard.schedules import store as schedule_store
from switchboard.schedules import timer as scheduler
from switchboard.schedules.rules import RetryPolicy
from switchboard.schedules.store import CancelResult, CreateResult, ScheduleStore
from switchboard.schedules.timer import RunOptions
from switchboard.settings import Settings, load_settings
from switchboard.storage.tables import get_table

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SENDER = "+15017122661"
FAST_RETRY = RetryPolicy(
    base=timedelta(milliseconds=200), cap=timedelta(seconds=1), max_attempts=10, jitter=0
)


STANDIN_SEED = 8  # its own SIDs and numbers (the stand-in fixture: conftest)


def env_for(storage: str, twilio: TwilioStandin, table: str, **extra: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": storage,
        **twilio.settings(),
        "TWILIO_FROM_NUMBER": SENDER,
        # The business texts France as well as home (one of the cases is a French mobile).
        "OUTBOUND_ALLOWED_COUNTRIES": "US,FR",
        "TABLE_SMS_SCHEDULE": table,
        "TABLE_MESSAGE_LOG": table + "msg",
        "TABLE_OPT_OUT": table + "opt",
        **extra,
    }


@pytest.fixture
def make_settings(storage_connection_string: str, twilio: TwilioStandin, unique_name: str) -> Any:
    def make(**extra: str) -> Settings:
        return load_settings(env_for(storage_connection_string, twilio, unique_name, **extra))

    return make


def run(settings: Settings, ahead: float = 0.0, **options: Any) -> scheduler.RunReport:
    """One run in process; `ahead` seconds on its clock (what a later run would see, without
    waiting for it: a backoff or a lease run out)."""
    options.setdefault("retry", FAST_RETRY)
    clock = (lambda: records.utcnow() + timedelta(seconds=ahead)) if ahead else records.utcnow
    return asyncio.run(scheduler.run_once(settings, RunOptions(**options), clock=clock))


def due_schedule(
    schedule_id: str, to: str, send_at: datetime, *, body: str | None = None, **extra: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(due row, id row) of a committed schedule, as a create would have written them."""
    schedule = s.NewSchedule(
        id=schedule_id, to=to, body=body or f"Reminder {schedule_id}", send_at=send_at, **extra
    )
    due = s.new_due_entity(
        s.spec_properties(schedule),
        send_at,
        intended_at=send_at,
        created_at=send_at - timedelta(minutes=1),
    )
    return due, s.id_entity(schedule, due, created_at=send_at - timedelta(minutes=1))


def seed(settings: Settings, rows: list[dict[str, Any]]) -> None:
    async def go() -> None:
        async with schedule_store.open_tables(settings) as opened:
            await ScheduleStore(opened.schedules).insert_many(rows)

    asyncio.run(go())


def table_rows(settings: Settings, filter_text: str, **params: str) -> list[dict[str, Any]]:
    table = get_table(settings.table_sms_schedule, settings)
    return list(table.query_entities(filter_text, parameters=params))


def due_left(settings: Settings) -> list[dict[str, Any]]:
    return table_rows(settings, "PartitionKey ge 'due-' and PartitionKey lt 'due-~'")


def done_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    rows = table_rows(settings, "PartitionKey ge 'done-' and PartitionKey lt 'done-~'")
    return {row["RowKey"]: row for row in rows}


def sends(twilio: TwilioStandin) -> list[Any]:
    """Messages the stand-in created (accepted POSTs)."""
    return [r for r in twilio.requests(method="POST", resource="Messages") if r.status == 201]


def view(settings: Settings, schedule_id: str) -> dict[str, Any] | None:
    async def go() -> dict[str, Any] | None:
        async with schedule_store.open_tables(settings) as opened:
            return await ScheduleStore(opened.schedules).view(schedule_id)

    return asyncio.run(go())


def subprocess_env(settings_env: dict[str, str]) -> dict[str, str]:
    prefixes = ("TWILIO_", "SMS_", "TABLE_", "PUBLIC_BASE_URL", "WEBSITE_", "AzureWebJobs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(settings_env)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_run(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "switchboard.schedules.timer", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def report_of(process: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


# --- exactly once under overlap and crashes ---------------------------------------------------


def test_three_overlapping_runs_send_each_schedule_once_despite_faults(
    storage_connection_string: str, twilio: TwilioStandin, unique_name: str
) -> None:
    env = env_for(storage_connection_string, twilio, unique_name, SMS_SEND_CONCURRENCY="32")
    settings = load_settings(env)
    now = records.utcnow()
    count = 1000
    numbers = [f"+1555{i:07d}" for i in range(count)]
    seed(
        settings,
        [
            due_schedule(f"ov-{i}", numbers[i], now - timedelta(seconds=30 + i % 90))[0]
            for i in range(count)
        ],
    )
    twilio.set_faults(fail_rate=0.2)
    started = time.monotonic()
    child_env = subprocess_env(env)
    args = ("--retry-base", "0.2", "--retry-cap", "1", "--max-attempts", "10")
    runs = [start_run(child_env, *args) for _ in range(3)]
    reports = [report_of(p) for p in runs]
    # Retries wait on later runs (bounded: each pass leaves ~20% of the previous rest).
    for passes in range(1, 16):
        if not due_left(settings):
            break
        # Each pass's clock a second further on: past every backoff of the pass before (cap 1 s).
        reports.append(run(settings, ahead=1.0 * passes).as_dict())
    elapsed = time.monotonic() - started

    created = sends(twilio)
    per_number = Counter(r.param("To") for r in created)
    done = done_rows(settings)
    unsent = sorted(set(numbers) - set(per_number))
    assert len(created) == count, (
        f"{len(created)} sends for {count} schedules; not sent: {unsent[:5]}; done rows by "
        f"status: {Counter(row['Status'] for row in done.values())}; runs: {reports}"
    )
    assert set(per_number) == set(numbers)
    assert max(per_number.values()) == 1
    assert len(done) == count
    assert Counter(row["Status"] for row in done.values()) == {"sent": count}
    sids = {row["MessageSid"] for row in done.values()}
    assert sids == {r.response["sid"] for r in created if r.response}
    assert not due_left(settings)
    faulted = [r for r in twilio.requests(method="POST", resource="Messages") if r.fault]
    assert faulted, "the fault rate produced no transient failure"
    assert sum(r["retried"] for r in reports) >= len(faulted)
    # Every run did part of the work and no claim was lost to a stale read.
    assert all(r["sent"] > 0 for r in reports[:3]), reports[:3]
    assert sum(r["sent"] for r in reports) == count
    print(f"3 runs + {len(reports) - 3} retry passes: {elapsed:.1f} s; faults {len(faulted)}")


def test_a_run_killed_mid_way_is_completed_by_the_next_without_duplicates(
    storage_connection_string: str, twilio: TwilioStandin, unique_name: str
) -> None:
    env = env_for(storage_connection_string, twilio, unique_name)
    settings = load_settings(env)
    now = records.utcnow()
    count = 120
    numbers = [f"+1556{i:07d}" for i in range(count)]
    seed(
        settings,
        [
            due_schedule(f"kill-{i}", numbers[i], now - timedelta(minutes=1))[0]
            for i in range(count)
        ],
    )
    twilio.set_faults(latency_ms=150)
    lease = ("--lease", "3", "--lease-margin", "1", "--concurrency", "4")
    process = start_run(subprocess_env(env), *lease)
    deadline = time.monotonic() + 60
    while len(sends(twilio)) < 30 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    killed_at = len(sends(twilio))
    assert 0 < killed_at < count, "the run was not killed mid-way"

    twilio.set_faults(latency_ms=0)
    # The next runs see a clock past the dead run's 3 s leases (the second pass past its own
    # too), as runs after waiting them out would.
    lease = {"lease": timedelta(seconds=3), "lease_margin": timedelta(seconds=1)}
    reports = [run(settings, ahead=3.5, **lease)]
    if due_left(settings):  # rows claimed just before the kill may need one more lease
        reports.append(run(settings, ahead=7.0, **lease))

    per_number = Counter(r.param("To") for r in sends(twilio))
    assert set(per_number) == set(numbers)
    assert max(per_number.values()) == 1, "a schedule was sent twice"
    done = done_rows(settings)
    assert Counter(row["Status"] for row in done.values()) == {"sent": count}
    assert not due_left(settings)
    # The sends in flight when it died reached Twilio: found there, not sent again.
    assert sum(r.recovered_sent + r.recovered_finished for r in reports) >= 1
    print(f"killed after {killed_at} sends; next runs: {[r.as_dict() for r in reports]}")


def test_expired_claims_are_resolved_from_the_done_row_or_twilio(
    make_settings: Any, twilio: TwilioStandin
) -> None:
    settings = make_settings()
    now = records.utcnow()
    claim = {
        "Status": "claimed",
        "ClaimId": "dead-run",
        "ClaimedAt": now - timedelta(minutes=10),
        "SendWindowStart": now - timedelta(minutes=10),
        "LeaseUntil": now - timedelta(minutes=5),
    }
    # (a) it ended, only the due row was left: nothing is sent.
    finished, _ = due_schedule("rec-done", "+15557000001", now - timedelta(minutes=11))
    finished.update(claim)
    done = s.done_entity(finished, s.Outcome(s.Status.SENT, message_sid="SMdone"), finished_at=now)
    # (b) Twilio has it (the dead run sent it): recorded with Twilio's SID, not sent again.
    in_twilio, _ = due_schedule("rec-twilio", "+15557000002", now - timedelta(minutes=11))
    in_twilio.update(claim)
    # (c) Twilio has nothing: sent now.
    lost, _ = due_schedule("rec-lost", "+15557000003", now - timedelta(minutes=11))
    lost.update(claim)
    seed(settings, [finished, in_twilio, lost, done])
    from switchboard.twilio import client as twilio_client

    client = twilio_client.build_client(settings)
    earlier = twilio_client.send_sms(
        client, to="+15557000002", body="Reminder rec-twilio", from_=SENDER
    )
    twilio.clear_requests()

    report = run(settings)

    assert report.recovered_finished == 1
    assert report.recovered_sent == 1
    assert report.sent == 1
    assert [r.param("To") for r in sends(twilio)] == ["+15557000003"]
    lookups = twilio.requests(method="GET", resource="Messages")
    assert any(r.param("To") == "+15557000002" and r.param("DateSent>") for r in lookups)
    final = done_rows(settings)
    assert final["rec-twilio"]["MessageSid"] == earlier.sid
    assert final["rec-lost"]["Status"] == "sent"
    assert not due_left(settings)
    record = RecordStore(get_table(settings.table_message_log, settings)).get(earlier.sid)
    assert record is not None
    assert record["ScheduleId"] == "rec-twilio"


# --- final states -----------------------------------------------------------------------------


def test_each_case_ends_in_the_right_state(make_settings: Any, twilio: TwilioStandin) -> None:
    now = records.utcnow()
    # Quiet hours around now for a recipient in UTC (the schedule's timeZone); the others are
    # in UTC+12, twelve hours away from them.
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=1)).strftime("%H:%M")
    settings = make_settings(
        SMS_QUIET_HOURS=f"{start}-{end}", PUBLIC_BASE_URL="https://sb.example.com"
    )
    past = now - timedelta(minutes=2)
    cases = {
        "ok": due_schedule("ok", "+33612345678", past, time_zone="Etc/GMT-12")[0],
        "opted": due_schedule("opted", "+15557100001", past, time_zone="Etc/GMT-12")[0],
        "invalid": due_schedule("invalid", "+15005550001", past, time_zone="Etc/GMT-12")[0],
        "blocked": due_schedule("blocked", "+15005550004", past, time_zone="Etc/GMT-12")[0],
        "late": due_schedule(
            "late", "+15557100002", now - timedelta(hours=25), time_zone="Etc/GMT-12"
        )[0],
        "quiet": due_schedule("quiet", "+15557100003", past, time_zone="UTC")[0],
        "flaky": due_schedule("flaky", "+15557100004", past, time_zone="Etc/GMT-12")[0],
    }
    seed(settings, list(cases.values()))
    from switchboard.optouts.store import OptOutStore

    optouts = OptOutStore.from_settings(settings)
    optouts.opt_out("+15557100001", How.KEYWORD, keyword="STOP")
    twilio.add_fault(FaultRule(status=503, to="+15557100004"))
    retry = RetryPolicy(base=timedelta(milliseconds=100), cap=timedelta(seconds=1), max_attempts=2)

    report = run(settings, retry=retry)
    second = run(settings, ahead=1.0, retry=retry)  # past the flaky one's backoff (cap 1 s)

    final = done_rows(settings)
    assert final["ok"]["Status"] == "sent"
    assert final["opted"]["Status"] == "skipped-opted-out"
    assert (final["invalid"]["Status"], final["invalid"]["ErrorCode"]) == ("failed", 21211)
    assert (final["blocked"]["Status"], final["blocked"]["ErrorCode"]) == (
        "skipped-opted-out",
        21610,
    )
    assert optouts.is_opted_out("+15005550004")
    assert final["late"]["Status"] == "expired"
    assert (final["flaky"]["Status"], final["flaky"]["Attempts"]) == ("failed", 2)
    assert final["flaky"]["ErrorCode"] == 20503
    assert "quiet" not in final
    pending = due_left(settings)
    assert [row["Id"] for row in pending] == ["quiet"]
    assert pending[0]["DueAt"] >= now + timedelta(minutes=59)
    assert (report.deferred, report.expired, report.retried) == (1, 1, 1)
    assert second.failed == 1
    # Only "ok" reached Twilio successfully; it carries the status callback.
    created = sends(twilio)
    assert [r.param("To") for r in created] == ["+33612345678"]
    assert created[0].param("StatusCallback") == "https://sb.example.com/api/status/message"
    assert created[0].param("From") == SENDER
    sid = final["ok"]["MessageSid"]
    messages = RecordStore.messages(settings)
    record = messages.get(sid)
    assert record is not None
    assert (record["Source"], record["Direction"], record["ScheduleId"]) == (
        "schedule",
        "outbound",
        "ok",
    )
    recent = messages.list_recent(now - timedelta(hours=1), 10)
    assert sid in [r["Id"] for r in recent]


def test_a_run_reads_o_due_entities(make_settings: Any, twilio: TwilioStandin) -> None:
    settings = make_settings()
    now = records.utcnow()
    due = [
        due_schedule(f"d-{i}", f"+1557{i:07d}", now - timedelta(seconds=5 + i))[0]
        for i in range(100)
    ]
    future = [
        due_schedule(
            f"f-{i}", f"+1558{i:07d}", now + timedelta(hours=1, minutes=i // 100, seconds=i % 60)
        )[0]
        for i in range(20_000)
    ]
    seed(settings, due + future)

    report = run(settings)

    assert report.sent == 100
    assert report.read == 100
    assert report.entities_read <= 100 + 5, report.as_dict()
    assert len(sends(twilio)) == 100


def test_budget_stops_claiming_and_rate_cap_spaces_sends(
    make_settings: Any, twilio: TwilioStandin
) -> None:
    settings = make_settings(SMS_MAX_PER_SECOND="20")
    now = records.utcnow()
    seed(
        settings,
        [due_schedule(f"b-{i}", f"+1554{i:07d}", now - timedelta(minutes=1))[0] for i in range(30)],
    )
    nothing = run(settings, budget=timedelta(0))
    assert (nothing.claimed, nothing.sent, nothing.stopped_by_budget) == (0, 0, True)
    assert len(due_left(settings)) == 30

    started = time.monotonic()
    report = run(settings)
    elapsed = time.monotonic() - started
    assert report.sent == 30
    times = sorted(r.time for r in sends(twilio))
    # 30 sends at 20/s are spread over at least 29 / 20 s (some slack for clocks).
    assert times[-1] - times[0] >= 1.3
    assert elapsed >= 1.3


@pytest.mark.parametrize(("opted_out", "list_used"), [(3, True), (40, False)])
def test_big_runs_check_every_recipient_against_the_opt_out_list(
    make_settings: Any, twilio: TwilioStandin, opted_out: int, list_used: bool
) -> None:
    """120 to send: an opt-out list of up to 30 numbers is read once; a longer one falls back
    to one point read per recipient. Either way every opted-out number is skipped."""
    from switchboard.optouts.store import OptOutStore

    settings = make_settings()
    now = records.utcnow()
    numbers = [f"+1559{i:07d}" for i in range(120)]
    seed(
        settings,
        [due_schedule(f"big-{i}", n, now - timedelta(minutes=1))[0] for i, n in enumerate(numbers)],
    )
    optouts = OptOutStore.from_settings(settings)
    blocked = set(numbers[::3][:opted_out])
    for number in blocked:
        optouts.opt_out(number, How.KEYWORD, keyword="STOP")

    report = run(settings)

    assert report.opt_out_list_used is list_used
    assert (report.skipped_opted_out, report.sent) == (opted_out, 120 - opted_out)
    sent_to = {r.param("To") for r in sends(twilio)}
    assert sent_to == set(numbers) - blocked
    final = done_rows(settings)
    assert {final[f"big-{i}"]["Status"] for i, n in enumerate(numbers) if n in blocked} == {
        "skipped-opted-out"
    }


# --- the storage protocols behind the operator routes -----------------------------------------


def store_call(settings: Settings, action: Any) -> Any:
    async def go() -> Any:
        async with schedule_store.open_tables(settings) as opened:
            return await action(ScheduleStore(opened.schedules))

    return asyncio.run(go())


def test_create_is_idempotent_on_the_id(make_settings: Any) -> None:
    settings = make_settings()
    now = records.utcnow()
    first = s.parse_new_schedule(
        {"id": "c-1", "to": "+33612345678", "body": "Hi", "sendAt": "2030-01-01T09:00:00+01:00"},
        now=now,
        max_lateness=settings.sms_max_lateness,
    )
    same = s.parse_new_schedule(
        {"id": "c-1", "to": "+33612345678", "body": "Hi", "sendAt": "2030-01-01T08:00:00Z"},
        now=now,
        max_lateness=settings.sms_max_lateness,
    )
    other = s.NewSchedule(**{**first.__dict__, "body": "Changed"})
    results = [
        store_call(settings, lambda st, x=x: st.create(x, now)) for x in (first, same, other)
    ]
    assert [r for r, _ in results] == [
        CreateResult.CREATED,
        CreateResult.SAME,
        CreateResult.CONFLICT,
    ]
    shown = view(settings, "c-1")
    assert shown is not None
    assert (shown["status"], shown["body"], shown["sendAt"]) == (
        "pending",
        "Hi",
        "2030-01-01T08:00:00.000Z",
    )
    rows = due_left(settings)
    assert len(rows) == 1
    assert rows[0]["Tentative"] is False
    assert view(settings, "nope") is None


def test_concurrent_creates_with_the_same_id_make_one_schedule(make_settings: Any) -> None:
    settings = make_settings()
    now = records.utcnow()
    base = {"id": "race", "to": "+33612345678", "sendAt": "2030-01-01T09:00:00Z"}
    variants = [
        s.parse_new_schedule(
            {**base, "body": f"v{i % 2}", "sendAt": f"2030-01-01T09:0{i % 3}:00Z"},
            now=now,
            max_lateness=settings.sms_max_lateness,
        )
        for i in range(6)
    ]

    async def create_all(store: ScheduleStore) -> list[Any]:
        return await asyncio.gather(*(store.create(v, now) for v in variants))

    results = store_call(settings, create_all)
    assert [r for r, _ in results].count(CreateResult.CREATED) == 1
    rows = due_left(settings)
    committed = [r for r in rows if not r.get("Tentative")]
    assert len(committed) == 1
    winner = view(settings, "race")
    assert winner is not None
    assert rows
    assert all(r["Body"] == winner["body"] or r.get("Tentative") for r in rows)


def test_cancel_before_sending_and_not_after(make_settings: Any, twilio: TwilioStandin) -> None:
    settings = make_settings()
    now = records.utcnow()

    def create(schedule_id: str, send_at: datetime) -> None:
        schedule = s.NewSchedule(schedule_id, "+15557200001", "Hello", send_at)
        result, _ = store_call(settings, lambda st: st.create(schedule, now))
        assert result is CreateResult.CREATED

    create("cx-later", now + timedelta(days=1))
    create("cx-due", now - timedelta(minutes=1))
    result, shown = store_call(settings, lambda st: st.cancel("cx-later", now))
    assert result is CancelResult.CANCELLED
    assert shown["status"] == "cancelled"
    again, _ = store_call(settings, lambda st: st.cancel("cx-later", now))
    assert again is CancelResult.ALREADY
    unknown, _ = store_call(settings, lambda st: st.cancel("cx-unknown", now))
    assert unknown is CancelResult.NOT_FOUND

    report = run(settings)
    assert report.sent == 1
    late, shown = store_call(settings, lambda st: st.cancel("cx-due", now))
    assert late is CancelResult.TOO_LATE
    assert shown["status"] == "sent"
    assert view(settings, "cx-later")["status"] == "cancelled"  # type: ignore[index]


def test_recurrence_creates_the_next_occurrence_once(
    make_settings: Any, twilio: TwilioStandin
) -> None:
    settings = make_settings()
    now = records.utcnow()
    schedule = s.NewSchedule(
        "daily",
        "+33612345678",
        "Your daily note",
        now - timedelta(minutes=1),
        time_zone="Europe/Paris",
        recurrence="0 9 * * *",
    )
    store_call(settings, lambda st: st.create(schedule, now))

    first = run(settings)
    again = run(settings)

    assert (first.sent, again.sent) == (1, 0)
    root = view(settings, "daily")
    assert root is not None
    assert root["status"] == "sent"
    paris = ZoneInfo("Europe/Paris")
    next_at = s.next_occurrence("0 9 * * *", paris, schedule.send_at)
    next_id = s.occurrence_id("daily", next_at)
    assert root["next"] == next_id
    assert root["latest"] == next_id
    following = view(settings, next_id)
    assert following is not None
    assert (following["status"], following["previous"], following["root"]) == (
        "pending",
        "daily",
        "daily",
    )
    assert datetime.fromisoformat(following["sendAt"]).astimezone(paris).hour == 9
    assert len(due_left(settings)) == 1
    # Cancelling the root ends the recurrence: its pending occurrence is cancelled.
    result, shown = store_call(settings, lambda st: st.cancel("daily", now))
    assert result is CancelResult.CANCELLED
    assert shown["id"] == next_id
    assert not due_left(settings)


def run_at(settings: Settings, moment: datetime, **options: Any) -> scheduler.RunReport:
    """One run whose clock says `moment` (due rows, claims, expiry, quiet hours)."""
    options.setdefault("retry", FAST_RETRY)
    return asyncio.run(scheduler.run_once(settings, RunOptions(**options), clock=lambda: moment))


def test_occurrences_that_would_already_be_expired_are_skipped(
    make_settings: Any, twilio: TwilioStandin
) -> None:
    # README (Recurrence): "Occurrences that would already be expired are skipped." A
    # five-minute recurrence whose first occurrence is two hours late, with one hour of
    # allowed lateness: the occurrence expires, and the next one is the first that is not
    # expired yet (not the one five minutes after it, which would expire in turn, and so on).
    settings = make_settings(SMS_MAX_LATENESS="PT1H")
    slot = records.utcnow().replace(second=0, microsecond=0)
    # Half-way between two occurrences an hour ago, so that neither edge is near.
    now = slot - timedelta(minutes=slot.minute % 5) + timedelta(minutes=2, seconds=30)
    schedule = s.NewSchedule(
        "every-5", "+15557200001", "Tick", now - timedelta(hours=2), recurrence="*/5 * * * *"
    )
    store_call(settings, lambda st: st.create(schedule, now - timedelta(hours=3)))

    first = run_at(settings, now)

    assert (first.expired, first.sent) == (1, 0)
    root = view(settings, "every-5")
    assert root is not None
    assert root["status"] == "expired"
    following = view(settings, root["next"])
    assert following is not None
    at = datetime.fromisoformat(following["sendAt"])
    assert now - timedelta(hours=1) < at <= now - timedelta(minutes=55)
    # It is sent a minute later, not expired (its lateness is under the hour).
    later = run_at(settings, now + timedelta(minutes=1))
    assert (later.sent, later.expired) == (1, 0)
    assert [r.param("To") for r in sends(twilio)] == ["+15557200001"]


def test_a_deferred_schedule_counts_its_lateness_from_the_end_of_the_quiet_hours(
    make_settings: Any, twilio: TwilioStandin
) -> None:
    # README (Quiet hours): a deferred schedule stays pending until the end of the quiet
    # hours, "and its lateness counts from there". Due 20 hours ago, deferred now by quiet
    # hours ending in an hour, then tried five hours after their end: 26 hours after its
    # sendAt (more than SMS_MAX_LATENESS, 24 h) but 5 hours after the end of the quiet hours.
    now = records.utcnow().replace(second=0, microsecond=0)
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=1)).strftime("%H:%M")
    settings = make_settings(SMS_QUIET_HOURS=f"{start}-{end}")
    assert settings.sms_max_lateness == timedelta(hours=24)
    due, _ = due_schedule("night", "+15557200002", now - timedelta(hours=20), time_zone="UTC")
    seed(settings, [due])

    deferred = run_at(settings, now)

    assert (deferred.deferred, deferred.sent, deferred.expired) == (1, 0, 0)
    (moved,) = due_left(settings)
    quiet_end = now + timedelta(hours=1)
    assert moved["DueAt"] == quiet_end
    after = run_at(settings, quiet_end + timedelta(hours=5))
    assert (after.sent, after.expired) == (1, 0)
    assert done_rows(settings)["night"]["Status"] == "sent"


@pytest.mark.parametrize(
    "sender",
    [{"TWILIO_FROM_NUMBER": SENDER}, {"TWILIO_MESSAGING_SERVICE_SID": "MG" + "5" * 32}],
    ids=["from-number", "messaging-service"],
)
def test_an_opt_out_applies_whatever_sender_the_timer_uses(
    make_settings: Any, twilio: TwilioStandin, sender: dict[str, str]
) -> None:
    # README: "Opt-outs apply to the whole business, not one sender number": a STOP sent to
    # another of the business's numbers keeps the timer from texting them, whether it sends
    # from TWILIO_FROM_NUMBER or through a Messaging Service.
    settings = make_settings(**sender)
    from switchboard.optouts.store import OptOutStore

    OptOutStore.from_settings(settings).opt_out(
        "+15557300001", How.KEYWORD, keyword="STOP", business_number="+15017122669"
    )
    now = records.utcnow()
    seed(settings, [due_schedule("promo", "+15557300001", now - timedelta(minutes=1))[0]])

    report = run(settings)

    assert (report.skipped_opted_out, report.sent) == (1, 0)
    assert done_rows(settings)["promo"]["Status"] == "skipped-opted-out"
    assert sends(twilio) == []
