"""Scheduled SMS decisions as pure functions: keys, requests, quiet hours, expiry, backoff,
recurrence (with DST changes in Europe/Paris and America/New_York), states."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from switchboard.outbound import wording
from switchboard.schedules import replies as reply_rules
from switchboard.schedules import rules as s
from switchboard.schedules.replies import Choice
from switchboard.schedules.rules import (
    Action,
    RowKind,
    ScheduleInputError,
    Status,
    TentativeVerdict,
)
from switchboard.settings import QuietHours

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = QuietHours(time(21, 0), time(8, 0))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LATENESS = timedelta(hours=24)
FR_MOBILE = "+33612345678"  # Europe/Paris only
IDAHO = "+12085550100"  # America/Boise and America/Los_Angeles
TOLL_FREE = "+18005550100"  # every North American zone from Guam to Pago Pago


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- keys -------------------------------------------------------------------------------------


def test_due_keys_bucket_by_utc_minute_and_sort_by_time() -> None:
    moment = datetime(2026, 3, 30, 9, 0, 5, 123456, tzinfo=PARIS)
    pk, rk = s.due_keys(moment, "r-1")
    assert pk == "due-202603300700"
    assert rk == "20260330T070005123Z-r-1"
    later = s.due_row_key(moment + timedelta(milliseconds=1), "a")
    assert later > rk
    assert s.done_partition(moment) == "done-20260330"


def _due_by_queries(keys: list[tuple[str, str]], now: datetime) -> set[tuple[str, str]]:
    """Evaluate due_queries' filters in Python over (PartitionKey, RowKey) pairs."""
    (_, first), (_, second) = s.due_queries(now)
    selected = set()
    for pk, rk in keys:
        if first["low"] <= pk < first["current"]:
            selected.add((pk, rk))
        if pk == second["current"] and rk <= second["high"]:
            selected.add((pk, rk))
    return selected


def test_due_queries_select_exactly_what_is_due() -> None:
    now = utc(2026, 6, 1, 12, 0, 30)
    times = [
        now - timedelta(days=3),
        now - timedelta(minutes=1),
        now - timedelta(seconds=30),  # this minute, before now
        now,  # exactly now
        now + timedelta(milliseconds=1),  # this minute, after now
        now + timedelta(seconds=29),
        now + timedelta(minutes=1),
        now + timedelta(days=400),
    ]
    keys = [s.due_keys(t, f"id-{i}") for i, t in enumerate(times)]
    # Rows of other kinds in the same table must never be selected.
    others = [("done-20260601", "x"), ("some-id", s.ID_ROW), ("a", s.ID_ROW), ("zzz", s.ID_ROW)]
    due = _due_by_queries(keys + others, now)
    assert due == set(keys[:4])


def test_occurrence_ids_are_deterministic() -> None:
    at = datetime(2026, 3, 29, 9, 0, tzinfo=PARIS)
    assert s.occurrence_id("daily", at) == "daily@20260329T0700Z"
    assert s.occurrence_id("daily", at.astimezone(UTC)) == s.occurrence_id("daily", at)


# --- create requests --------------------------------------------------------------------------


def parse(**fields: object) -> s.NewSchedule:
    data: dict[str, object] = {
        "to": FR_MOBILE,
        "body": "Hello",
        "sendAt": "2026-06-02T09:00:00+02:00",
    }
    data.update(fields)
    return s.parse_new_schedule(
        {k: v for k, v in data.items() if v is not None}, now=NOW, max_lateness=LATENESS
    )


def test_parse_valid_request() -> None:
    schedule = parse(id="r-1", timeZone="Europe/Paris", recurrence="0  9 * * *")
    assert schedule.id == "r-1"
    assert schedule.send_at == utc(2026, 6, 2, 7, 0)
    assert schedule.recurrence == "0 9 * * *"
    assert schedule.time_zone == "Europe/Paris"
    assert parse(sendAt="2026-06-02T07:00:00Z").send_at == utc(2026, 6, 2, 7, 0)
    assert parse().id.startswith("sch-")
    assert parse(recurrence="@Daily").recurrence == "@daily"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"to": None}, "to"),
        ({"to": "0612345678"}, "to"),
        ({"to": 33612345678}, "to"),
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 1601}, "body"),
        ({"body": "\ud800"}, "body"),
        ({"sendAt": None}, "sendAt"),
        ({"sendAt": "2026-06-02T09:00:00"}, "sendAt"),  # no offset
        ({"sendAt": "tomorrow"}, "sendAt"),
        ({"sendAt": "2026-05-30T09:00:00Z"}, "sendAt"),  # beyond SMS_MAX_LATENESS
        ({"id": ""}, "id"),
        ({"id": "a" * 129}, "id"),
        ({"id": "has space"}, "id"),
        ({"id": "a/b"}, "id"),
        ({"id": "due-1"}, "id"),
        ({"id": "done-1"}, "id"),
        # Ids the app derives: occurrences, imports, generated, bookkeeping.
        ({"id": "rec1@20261201T0832Z"}, "id"),
        ({"id": "invoice@home"}, "id"),
        ({"id": "csv-0123"}, "id"),
        ({"id": "SCH-0123"}, "id"),
        ({"id": "sys-sync"}, "id"),
        ({"id": 7}, "id"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"timeZone": "../etc/passwd"}, "timeZone"),
        ({"recurrence": "0 9 * * * *"}, "recurrence"),  # six fields
        ({"recurrence": "61 9 * * *"}, "recurrence"),
        ({"recurrence": 5}, "recurrence"),
        ({"mediaUrl": "https://x"}, "mediaUrl"),  # unknown field
    ],
)
def test_parse_names_the_bad_field(fields: dict[str, object], field: str) -> None:
    data: dict[str, object] = {
        "to": FR_MOBILE,
        "body": "Hello",
        "sendAt": "2026-06-02T09:00:00+02:00",
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ScheduleInputError) as caught:
        s.parse_new_schedule(data, now=NOW, max_lateness=LATENESS)
    assert caught.value.field == field


def test_parse_rejects_non_objects() -> None:
    for data in (None, [], "x", 3):
        with pytest.raises(ScheduleInputError) as caught:
            s.parse_new_schedule(data, now=NOW, max_lateness=LATENESS)
        assert caught.value.field is None


def test_fingerprint_compares_instants_and_every_field() -> None:
    a = parse(id="x", sendAt="2026-06-02T09:00:00+02:00")
    b = parse(id="x", sendAt="2026-06-02T07:00:00Z")
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != parse(id="x", body="Other").fingerprint()
    assert a.fingerprint() != parse(id="x", timeZone="Europe/Paris").fingerprint()
    assert a.fingerprint() != parse(id="x", recurrence="0 9 * * *").fingerprint()


# --- quiet hours ------------------------------------------------------------------------------


def test_quiet_hours_outside_the_window_send_now() -> None:
    noon_paris = datetime(2026, 6, 1, 12, 0, tzinfo=PARIS)
    assert s.quiet_until(noon_paris, (PARIS,), NIGHT) is None
    assert s.quiet_until(noon_paris, (PARIS,), None) is None


def test_quiet_hours_defer_to_their_end_in_the_recipient_zone() -> None:
    late = datetime(2026, 6, 1, 23, 30, tzinfo=PARIS)
    assert s.quiet_until(late, (PARIS,), NIGHT) == datetime(2026, 6, 2, 8, 0, tzinfo=PARIS)
    early = datetime(2026, 6, 2, 3, 0, tzinfo=PARIS)
    assert s.quiet_until(early, (PARIS,), NIGHT) == datetime(2026, 6, 2, 8, 0, tzinfo=PARIS)
    # The end is excluded, the start included.
    assert s.quiet_until(datetime(2026, 6, 2, 8, 0, tzinfo=PARIS), (PARIS,), NIGHT) is None
    start = datetime(2026, 6, 1, 21, 0, tzinfo=PARIS)
    assert s.quiet_until(start, (PARIS,), NIGHT) == datetime(2026, 6, 2, 8, 0, tzinfo=PARIS)


def test_quiet_hours_window_within_a_day() -> None:
    lunch = QuietHours(time(12, 0), time(14, 0))
    at = datetime(2026, 6, 1, 13, 0, tzinfo=PARIS)
    assert s.quiet_until(at, (PARIS,), lunch) == datetime(2026, 6, 1, 14, 0, tzinfo=PARIS)
    assert s.quiet_until(at.replace(hour=14), (PARIS,), lunch) is None


def test_quiet_hours_use_the_schedule_zone_over_the_number() -> None:
    # 07:00 UTC in June: 09:00 in Paris (fine), 03:00 in New York (quiet).
    at = utc(2026, 6, 1, 7, 0)
    assert s.recipient_zones(FR_MOBILE, None) == (PARIS,)
    assert s.quiet_until(at, s.recipient_zones(FR_MOBILE, None), NIGHT) is None
    zones = s.recipient_zones(FR_MOBILE, "America/New_York")
    assert zones == (NEW_YORK,)
    assert s.quiet_until(at, zones, NIGHT) == datetime(2026, 6, 1, 8, 0, tzinfo=NEW_YORK)


def test_quiet_hours_number_with_several_zones_waits_for_the_last_one() -> None:
    zones = s.recipient_zones(IDAHO, None)
    assert {z.key for z in zones} == {"America/Boise", "America/Los_Angeles"}
    # 14:30 UTC in June: 08:30 in Boise (awake) but 07:30 in Los Angeles (quiet).
    at = utc(2026, 6, 1, 14, 30)
    until = s.quiet_until(at, zones, NIGHT)
    assert until == datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    # 04:00 UTC: 22:00 Boise, 21:00 LA: both quiet, until 08:00 LA (the later end).
    assert s.quiet_until(utc(2026, 6, 2, 4, 0), zones, NIGHT) == datetime(
        2026, 6, 2, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles")
    )


def test_quiet_hours_toll_free_number_waits_until_every_zone_is_awake() -> None:
    zones = s.recipient_zones(TOLL_FREE, None)
    assert len(zones) > 10
    # From Guam (UTC+10) to Pago Pago (UTC-11) everybody is awake from 22:00 UTC.
    until = s.quiet_until(utc(2026, 6, 1, 12, 0), zones, NIGHT)
    assert until == utc(2026, 6, 1, 22, 0)
    assert not any(s.in_quiet_hours(until, z, NIGHT) for z in zones)


def test_quiet_hours_without_a_common_window_pick_the_least_quiet_moment() -> None:
    # Quiet 20:00-09:00 in Tokyo and New York: their waking hours never overlap.
    quiet = QuietHours(time(20, 0), time(9, 0))
    zones = (ZoneInfo("Asia/Tokyo"), NEW_YORK)

    def quiet_count(moment: datetime) -> int:
        return sum(1 for z in zones if s.in_quiet_hours(moment, z, quiet))

    assert all(quiet_count(utc(2026, 6, 1) + timedelta(minutes=15 * i)) > 0 for i in range(96))
    # 12:00Z: 21:00 in Tokyo, 08:00 in New York: both asleep; at 13:00Z New York wakes up.
    assert s.quiet_until(utc(2026, 6, 1, 12, 0), zones, quiet) == utc(2026, 6, 1, 13, 0)
    # 05:00Z: 14:00 in Tokyo, 01:00 in New York: one zone awake is the best there is: now.
    assert s.quiet_until(utc(2026, 6, 1, 5, 0), zones, quiet) is None


def test_quiet_hours_across_dst_in_paris() -> None:
    # Night of the spring change (2026-03-29, 02:00 CET -> 03:00 CEST): 08:00 CEST is 06:00Z.
    evening = datetime(2026, 3, 28, 22, 0, tzinfo=PARIS)
    assert s.quiet_until(evening, (PARIS,), NIGHT) == utc(2026, 3, 29, 6, 0)
    # Night of the autumn change (2026-10-25, 03:00 CEST -> 02:00 CET): 08:00 CET is 07:00Z.
    evening = datetime(2026, 10, 24, 22, 0, tzinfo=PARIS)
    assert s.quiet_until(evening, (PARIS,), NIGHT) == utc(2026, 10, 25, 7, 0)
    # During the repeated hour (02:30 CET, second pass) it is still quiet.
    repeated = utc(2026, 10, 25, 1, 30)
    assert s.quiet_until(repeated, (PARIS,), NIGHT) == utc(2026, 10, 25, 7, 0)


def test_quiet_hours_across_dst_in_new_york() -> None:
    # 2026-03-08: 02:00 EST -> 03:00 EDT. 08:00 EDT is 12:00Z.
    evening = datetime(2026, 3, 7, 23, 0, tzinfo=NEW_YORK)
    assert s.quiet_until(evening, (NEW_YORK,), NIGHT) == utc(2026, 3, 8, 12, 0)
    # 2026-11-01: 02:00 EDT -> 01:00 EST. 08:00 EST is 13:00Z.
    evening = datetime(2026, 10, 31, 23, 0, tzinfo=NEW_YORK)
    assert s.quiet_until(evening, (NEW_YORK,), NIGHT) == utc(2026, 11, 1, 13, 0)


def test_quiet_hours_ending_inside_a_dst_gap_end_just_after_it() -> None:
    # Quiet 00:00-02:30; on 2026-03-08 New York skips 02:00-03:00: the window ends when the
    # clock jumps past 02:30, at 03:00 EDT (07:00Z).
    quiet = QuietHours(time(0, 0), time(2, 30))
    at = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    until = s.quiet_until(at, (NEW_YORK,), quiet)
    assert until == utc(2026, 3, 8, 7, 0)
    assert until is not None
    assert not s.in_quiet_hours(until, NEW_YORK, quiet)


def test_unknown_number_zone_falls_back_to_utc() -> None:
    assert [z.key for z in s.recipient_zones("+15558675310", None)] == ["UTC"]


# --- expiry, backoff, decisions ---------------------------------------------------------------


def test_expiry_is_strictly_beyond_the_lateness() -> None:
    intended = utc(2026, 6, 1, 0, 0)
    assert not s.is_expired(intended, intended + LATENESS, LATENESS)
    assert s.is_expired(intended, intended + LATENESS + timedelta(seconds=1), LATENESS)
    assert not s.is_expired(intended, intended - timedelta(hours=1), LATENESS)


def test_backoff_doubles_up_to_the_cap_then_gives_up() -> None:
    policy = s.RetryPolicy(
        base=timedelta(seconds=60), cap=timedelta(minutes=10), max_attempts=6, jitter=0
    )
    delays = [policy.delay(n) for n in range(1, 7)]
    assert delays == [timedelta(seconds=x) for x in (60, 120, 240, 480, 600, 600)]
    assert policy.next_attempt(1, NOW) == NOW + timedelta(seconds=60)
    assert policy.next_attempt(5, NOW) == NOW + timedelta(minutes=10)
    assert policy.next_attempt(6, NOW) is None
    with pytest.raises(ValueError, match="start at 1"):
        policy.delay(0)
    assert policy.delay(10_000) == timedelta(minutes=10)


def test_backoff_jitter_is_bounded_and_deterministic() -> None:
    policy = s.RetryPolicy(base=timedelta(seconds=100), jitter=0.2)
    values = {policy.delay(1, f"id-{i}") for i in range(50)}
    assert len(values) > 10
    assert all(timedelta(seconds=80) <= v <= timedelta(seconds=100) for v in values)
    assert policy.delay(3, "a") == policy.delay(3, "a")


def test_decide_expire_defer_or_send() -> None:
    common = {"to": FR_MOBILE, "time_zone": None, "max_lateness": LATENESS, "quiet": NIGHT}
    noon = datetime(2026, 6, 1, 12, 0, tzinfo=PARIS)
    assert s.decide(now=noon, intended_at=noon, **common).action is Action.SEND  # type: ignore[arg-type]
    night = datetime(2026, 6, 1, 23, 0, tzinfo=PARIS)
    decision = s.decide(now=night, intended_at=night, **common)  # type: ignore[arg-type]
    assert decision == s.Decision(Action.DEFER, datetime(2026, 6, 2, 8, 0, tzinfo=PARIS))
    # Expiry wins over quiet hours.
    old = night - timedelta(days=2)
    assert s.decide(now=night, intended_at=old, **common).action is Action.EXPIRE  # type: ignore[arg-type]


# --- recurrence -------------------------------------------------------------------------------


def test_daily_nine_in_paris_follows_dst() -> None:
    expr = "0 9 * * *"
    before_spring = datetime(2026, 3, 28, 9, 0, tzinfo=PARIS)  # 08:00Z (CET)
    nxt = s.next_occurrence(expr, PARIS, before_spring)
    assert nxt == utc(2026, 3, 29, 7, 0)  # 09:00 CEST
    assert nxt.astimezone(PARIS).hour == 9
    before_autumn = datetime(2026, 10, 24, 9, 0, tzinfo=PARIS)  # 07:00Z (CEST)
    assert s.next_occurrence(expr, PARIS, before_autumn) == utc(2026, 10, 25, 8, 0)  # 09:00 CET


def test_time_skipped_by_spring_forward_fires_once_after_the_gap() -> None:
    # New York, 2026-03-08: 02:30 does not exist; it fires when the gap ends, 03:00 EDT, once.
    expr = "30 2 * * *"
    gap = s.next_occurrence(expr, NEW_YORK, datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK))
    assert gap == utc(2026, 3, 8, 7, 0)
    assert gap.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:00 EDT"
    paris_gap = s.next_occurrence(expr, PARIS, datetime(2026, 3, 28, 12, 0, tzinfo=PARIS))
    assert paris_gap == utc(2026, 3, 29, 1, 0)  # 03:00 CEST
    after = s.next_occurrence(expr, NEW_YORK, gap)
    assert after == utc(2026, 3, 9, 6, 30)  # 02:30 EDT


def test_time_repeated_by_fall_back_fires_once() -> None:
    # New York, 2026-11-01: 01:30 happens twice (EDT then EST); the schedule fires once.
    expr = "30 1 * * *"
    day_before = datetime(2026, 10, 31, 1, 30, tzinfo=NEW_YORK)
    first = s.next_occurrence(expr, NEW_YORK, day_before)
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first pass
    second = s.next_occurrence(expr, NEW_YORK, first)
    assert second == utc(2026, 11, 2, 6, 30)  # the next day, 01:30 EST
    # Paris, hourly over the autumn change: one occurrence per wall-clock hour, increasing.
    start = utc(2026, 10, 24, 23, 0)
    moments = [start]
    for _ in range(6):
        moments.append(s.next_occurrence("0 * * * *", PARIS, moments[-1]))
    assert moments == sorted(set(moments))
    walls = [m.astimezone(PARIS).strftime("%H") for m in moments[1:]]
    assert walls == ["02", "03", "04", "05", "06", "07"]


def test_weekday_recurrence_and_strictly_after() -> None:
    friday = datetime(2026, 6, 5, 9, 0, tzinfo=PARIS)
    monday = s.next_occurrence("0 9 * * 1-5", PARIS, friday)
    assert monday == datetime(2026, 6, 8, 9, 0, tzinfo=PARIS)
    assert s.next_occurrence("0 9 * * *", PARIS, friday) > friday


def test_recurrence_zone() -> None:
    assert s.recurrence_zone(IDAHO, "Europe/Paris") == PARIS
    assert s.recurrence_zone(FR_MOBILE, None) == PARIS
    assert s.recurrence_zone(IDAHO, None).key == "UTC"


# --- states and rows --------------------------------------------------------------------------


def test_transitions() -> None:
    assert s.can_transition("pending", "claimed")
    assert s.can_transition("pending", "cancelled")
    assert s.can_transition("claimed", "claimed")
    assert s.can_transition("claimed", "pending")
    for final in ("sent", "failed", "skipped-opted-out", "expired"):
        assert s.can_transition("claimed", final)
        assert not s.can_transition(final, "pending")
    assert not s.can_transition("claimed", "cancelled")
    assert not s.can_transition("cancelled", "claimed")
    assert not s.can_transition("nonsense", "claimed")


def _row(**extra: object) -> dict[str, object]:
    schedule = parse(id="r-1")
    due = s.new_due_entity(
        s.spec_properties(schedule),
        schedule.send_at,
        intended_at=schedule.send_at,
        created_at=NOW,
    )
    due.update(extra)
    return due


def test_classify_rows() -> None:
    due_at = utc(2026, 6, 2, 7, 0)
    after = due_at + timedelta(seconds=1)
    assert s.classify_row(_row(), after) is RowKind.READY
    assert s.classify_row(_row(), due_at - timedelta(seconds=1)) is RowKind.NOT_DUE
    assert s.classify_row(_row(Tentative=True), after) is RowKind.TENTATIVE
    live = _row(Status="claimed", LeaseUntil=after + timedelta(minutes=1))
    assert s.classify_row(live, after) is RowKind.CLAIMED_LIVE
    assert s.classify_row(live, after + timedelta(minutes=2)) is RowKind.CLAIMED_EXPIRED
    assert s.classify_row(_row(Status="moved"), after) is RowKind.MOVED
    assert s.classify_row(_row(Status="cancelled"), after) is RowKind.CANCELLED
    assert s.classify_row(_row(Status="???"), after) is RowKind.UNKNOWN


def test_claim_keeps_the_send_window_of_an_expired_claim() -> None:
    first = s.claim_changes(_row(), claim_id="a", now=NOW, lease=timedelta(minutes=5))
    # A first claim's window is its own claim time: nothing new to write.
    assert "SendWindowStart" not in first
    assert s.send_window_start({**_row(), **first}) == NOW
    assert first["LeaseUntil"] == NOW + timedelta(minutes=5)
    assert "Tentative" not in first  # the row was not tentative: nothing to clear
    later = NOW + timedelta(minutes=10)
    again = s.claim_changes(_row(**first), claim_id="b", now=later, lease=timedelta(minutes=5))
    assert again["SendWindowStart"] == NOW
    assert again["ClaimedAt"] == later
    assert again["ClaimCount"] == 2
    third = s.claim_changes(
        _row(**{**first, **again}),
        claim_id="c",
        now=later + timedelta(minutes=10),
        lease=timedelta(minutes=5),
    )
    assert third["SendWindowStart"] == NOW
    verified = s.claim_changes(
        _row(Tentative=True), claim_id="d", now=NOW, lease=timedelta(minutes=5)
    )
    assert verified["Tentative"] is False


def test_verify_tentative_rows() -> None:
    row = _row(Tentative=True, CreatedAt=NOW)
    id_row = {"DuePk": row["PartitionKey"], "DueRk": row["RowKey"]}
    assert s.verify_tentative(row, id_row, None, NOW) is TentativeVerdict.SEND
    assert s.verify_tentative(row, id_row, {"Status": "sent"}, NOW) is TentativeVerdict.ORPHAN
    elsewhere = {"DuePk": "due-1", "DueRk": "x"}
    assert s.verify_tentative(row, elsewhere, None, NOW) is TentativeVerdict.ORPHAN
    assert s.verify_tentative(row, None, None, NOW) is TentativeVerdict.WAIT
    late = NOW + s.TENTATIVE_GRACE + timedelta(seconds=1)
    assert s.verify_tentative(row, None, None, late) is TentativeVerdict.ORPHAN


def test_done_entity_and_outcome_round_trip() -> None:
    row = _row(Attempts=2, ClaimId="c")
    outcome = s.Outcome(Status.SENT, message_sid="SM1", from_="+15017122661", sent_at=NOW)
    done = s.done_entity(row, outcome, finished_at=NOW, next_id="r-1@x")
    assert (done["PartitionKey"], done["RowKey"]) == ("done-20260602", "r-1")
    assert done["MessageSid"] == "SM1"
    assert done["Next"] == "r-1@x"
    assert done["Attempts"] == 2
    # What the schedule is stays on its id row: the done row holds only how it ended.
    assert not {"To", "Body", "SendAt", "Root", "Home", "Id", "CreatedAt"} & set(done)
    with pytest.raises(ValueError, match="final"):
        s.done_entity(row, s.Outcome(Status.PENDING), finished_at=NOW)
    failed = s.Outcome(Status.FAILED, error_code=21211, error_message="bad")
    assert s.outcome_from_row({**row, **s.outcome_properties(failed)}) == failed
    assert s.outcome_from_row(row) is None


def test_to_json_shapes() -> None:
    schedule = parse(id="r-1", timeZone="Europe/Paris")
    due = s.new_due_entity(
        s.spec_properties(schedule), schedule.send_at, intended_at=schedule.send_at, created_at=NOW
    )
    id_row = s.id_entity(schedule, due, created_at=NOW)
    pending = s.to_json(id_row, due)
    assert pending["id"] == "r-1"
    assert pending["status"] == "pending"
    assert pending["sendAt"] == "2026-06-02T07:00:00.000Z"
    assert pending["timeZone"] == "Europe/Paris"
    assert pending["createdAt"] == "2026-06-01T12:00:00.000Z"
    assert "error" not in pending
    assert "sid" not in pending
    moved = s.to_json(id_row, {**due, "Status": "moved", "DueAt": NOW + timedelta(days=1)})
    assert moved["status"] == "pending"
    assert moved["nextAttemptAt"] == "2026-06-02T12:00:00.000Z"
    sent = s.to_json(
        id_row, s.done_entity(due, s.Outcome(Status.SENT, message_sid="SM9"), finished_at=NOW)
    )
    assert (sent["status"], sent["sid"]) == ("sent", "SM9")
    failed = s.to_json(
        id_row,
        s.done_entity(
            due, s.Outcome(Status.FAILED, error_code=21211, error_message="bad"), finished_at=NOW
        ),
    )
    assert failed["error"] == {"code": 21211, "message": "bad"}
    retrying = s.to_json(id_row, {**due, "LastErrorCode": 20429, "LastErrorMessage": "busy"})
    assert retrying["lastError"] == {"code": 20429, "message": "busy"}


# --- every row and answer in full (a property's name or value is part of the contract) -------


def _recurring() -> tuple[s.NewSchedule, dict[str, object]]:
    schedule = parse(id="r-1", timeZone="Europe/Paris", recurrence="0 9 * * 1-5")
    return schedule, s.spec_properties(schedule, root="r-0", previous="r-0")


SPEC_PROPERTIES = {
    "Id": "r-1",
    "To": FR_MOBILE,
    "Body": "Hello",
    "SendAt": utc(2026, 6, 2, 7),
    "Root": "r-0",
    "Home": "done-20260602",
    "TimeZone": "Europe/Paris",
    "Recurrence": "0 9 * * 1-5",
    "Previous": "r-0",
}
DUE_KEYS = {"PartitionKey": "due-202606020705", "RowKey": "20260602T070500000Z-r-1"}


def test_the_rows_of_a_schedule_in_full() -> None:
    schedule, spec = _recurring()
    assert spec == SPEC_PROPERTIES
    assert s.spec_properties(parse(id="p-1")) == {
        "Id": "p-1",
        "To": FR_MOBILE,
        "Body": "Hello",
        "SendAt": utc(2026, 6, 2, 7),
        "Root": "p-1",
        "Home": "done-20260602",
    }
    due = s.new_due_entity(
        spec,
        schedule.send_at + timedelta(minutes=5),
        intended_at=schedule.send_at,
        created_at=NOW,
        attempts=2,
        tentative=True,
        deferrals=1,
        last_error=(20429, "busy"),
    )
    assert due == {
        **DUE_KEYS,
        **SPEC_PROPERTIES,
        "Status": "pending",
        "DueAt": utc(2026, 6, 2, 7, 5),
        "IntendedAt": utc(2026, 6, 2, 7),
        "Attempts": 2,
        "Deferrals": 1,
        "Tentative": True,
        "CreatedAt": NOW,
        "LastErrorCode": 20429,
        "LastErrorMessage": "busy",
    }
    assert (
        s.new_due_entity(
            spec,
            schedule.send_at,
            intended_at=schedule.send_at,
            created_at=NOW,
            last_error=(None, "x" * 1200),
        )["LastErrorMessage"]
        == "x" * 1000
    )
    plain = s.new_due_entity(spec, schedule.send_at, intended_at=schedule.send_at, created_at=NOW)
    assert (plain["Attempts"], plain["Deferrals"], plain["Tentative"]) == (0, 0, False)
    assert "LastErrorCode" not in plain
    assert "LastErrorMessage" not in plain
    id_row = s.id_entity(schedule, due, created_at=NOW, root="r-0", previous="r-0")
    assert id_row == {
        "PartitionKey": "r-1",
        "RowKey": "schedule",
        **SPEC_PROPERTIES,
        "Fingerprint": schedule.fingerprint(),
        "DuePk": DUE_KEYS["PartitionKey"],
        "DueRk": DUE_KEYS["RowKey"],
        "CreatedAt": NOW,
    }
    claimed_at = NOW + timedelta(seconds=30)
    claim = s.claim_changes(due, claim_id="c1", now=claimed_at, lease=timedelta(minutes=2))
    assert claim == {
        **DUE_KEYS,
        "Status": "claimed",
        "ClaimId": "c1",
        "ClaimedAt": claimed_at,
        "LeaseUntil": claimed_at + timedelta(minutes=2),
        "ClaimCount": 1,
        "Tentative": False,
    }
    claimed = {**due, **claim}
    again = s.claim_changes(
        claimed, claim_id="c2", now=NOW + timedelta(minutes=3), lease=timedelta(minutes=2)
    )
    assert (again["ClaimCount"], again["SendWindowStart"]) == (2, claimed_at)
    assert "Tentative" not in again
    done = s.done_entity(
        claimed,
        s.Outcome(
            Status.SENT, message_sid="SM9", from_="+15017122661", sent_at=NOW + timedelta(minutes=1)
        ),
        finished_at=NOW + timedelta(minutes=2),
        next_id="r-2",
    )
    assert done == {
        "PartitionKey": "done-20260602",
        "RowKey": "r-1",
        "Status": "sent",
        "Attempts": 2,
        "FinishedAt": NOW + timedelta(minutes=2),
        "ClaimId": "c1",
        "MessageSid": "SM9",
        "From": "+15017122661",
        "SentAt": NOW + timedelta(minutes=1),
        "Next": "r-2",
    }
    failed = s.done_entity(
        due, s.Outcome(Status.FAILED, error_code=21211, error_message="y" * 1200), finished_at=NOW
    )
    assert failed == {
        "PartitionKey": "done-20260602",
        "RowKey": "r-1",
        "Status": "failed",
        "Attempts": 2,
        "FinishedAt": NOW,
        "ErrorCode": 21211,
        "ErrorMessage": "y" * 1000,
    }


def test_the_fingerprint_is_the_sha256_of_the_canonical_request() -> None:
    schedule, _ = _recurring()
    canonical = (
        '{"body":"Hello","recurrence":"0 9 * * 1-5","sendAt":"20260602T070000000Z",'
        '"timeZone":"Europe/Paris","to":"+33612345678"}'
    )
    assert schedule.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()
    accented = parse(body="Café ☕")
    assert (
        accented.fingerprint()
        == hashlib.sha256(
            (
                '{"body":"Café ☕","recurrence":null,"sendAt":"20260602T070000000Z",'
                '"timeZone":null,"to":"+33612345678"}'
            ).encode()
        ).hexdigest()
    )


def test_an_outcome_on_a_due_row_in_full_and_back() -> None:
    sent = s.Outcome(
        Status.SENT, message_sid="SM9", from_="+15017122661", sent_at=NOW, error_code=None
    )
    assert s.outcome_properties(sent) == {
        "OutcomeStatus": "sent",
        "OutcomeSid": "SM9",
        "OutcomeFrom": "+15017122661",
        "OutcomeSentAt": NOW,
    }
    assert s.outcome_from_row(s.outcome_properties(sent)) == sent
    failed = s.Outcome(Status.FAILED, error_code=21211, error_message="z" * 1200)
    assert s.outcome_properties(failed) == {
        "OutcomeStatus": "failed",
        "OutcomeErrorCode": 21211,
        "OutcomeErrorMessage": "z" * 1000,
    }
    assert s.outcome_from_row(s.outcome_properties(failed)) == s.Outcome(
        Status.FAILED, error_code=21211, error_message="z" * 1000
    )
    # What a hand-edited or older row may hold is read safely.
    assert s.outcome_from_row({"OutcomeStatus": "bogus"}) is None
    assert s.outcome_from_row({"OutcomeStatus": "claimed"}) is None
    odd = {"OutcomeStatus": "failed", "OutcomeErrorCode": "21211", "OutcomeSentAt": "today"}
    assert s.outcome_from_row(odd) == s.Outcome(Status.FAILED)


def test_the_answers_of_the_operator_api_in_full() -> None:
    schedule, spec = _recurring()
    due = s.new_due_entity(
        spec,
        schedule.send_at + timedelta(minutes=5),
        intended_at=schedule.send_at,
        created_at=NOW,
        attempts=2,
        last_error=(20429, "busy"),
    )
    id_row = s.id_entity(schedule, due, created_at=NOW, root="r-0", previous="r-0")
    shown = {
        "id": "r-1",
        "to": FR_MOBILE,
        "body": "Hello",
        "sendAt": "2026-06-02T07:00:00.000Z",
        "timeZone": "Europe/Paris",
        "recurrence": "0 9 * * 1-5",
        "root": "r-0",
        "previous": "r-0",
        "attempts": 2,
        "createdAt": "2026-06-01T12:00:00.000Z",
    }
    assert s.to_json(id_row, due) == {
        **shown,
        "status": "pending",
        "nextAttemptAt": "2026-06-02T07:05:00.000Z",
        "updatedAt": "2026-06-01T12:00:00.000Z",
        "lastError": {"code": 20429, "message": "busy"},
    }
    claimed_at = NOW + timedelta(seconds=30)
    claimed = {**due, **s.claim_changes(due, claim_id="c", now=claimed_at, lease=timedelta(1))}
    assert s.to_json(id_row, claimed) == {
        **shown,
        "status": "claimed",
        "nextAttemptAt": "2026-06-02T07:05:00.000Z",
        "updatedAt": "2026-06-01T12:00:30.000Z",
    }
    done = s.done_entity(
        claimed,
        s.Outcome(Status.SENT, message_sid="SM9", from_="+15017122661", sent_at=NOW),
        finished_at=NOW + timedelta(minutes=2),
        next_id="r-2",
    )
    assert s.to_json(id_row, done) == {
        **shown,
        "status": "sent",
        "next": "r-2",
        "sid": "SM9",
        "from": "+15017122661",
        "sentAt": "2026-06-01T12:00:00.000Z",
        "updatedAt": "2026-06-01T12:02:00.000Z",
    }
    failed = s.done_entity(due, s.Outcome(Status.FAILED, error_message="no route"), finished_at=NOW)
    assert s.to_json(id_row, failed)["error"] == {"code": None, "message": "no route"}
    # No state row yet: pending, no attempts, updated when created; the root is itself.
    first = parse(id="p-1")
    first_due = s.new_due_entity(
        s.spec_properties(first), first.send_at, intended_at=first.send_at, created_at=NOW
    )
    alone = s.to_json(s.id_entity(first, first_due, created_at=NOW), None)
    assert alone == {
        "id": "p-1",
        "status": "pending",
        "to": FR_MOBILE,
        "body": "Hello",
        "sendAt": "2026-06-02T07:00:00.000Z",
        "attempts": 0,
        "createdAt": "2026-06-01T12:00:00.000Z",
        "updatedAt": "2026-06-01T12:00:00.000Z",
    }
    on_time = s.to_json(s.id_entity(first, first_due, created_at=NOW), first_due)
    assert "nextAttemptAt" not in on_time
    assert "lastError" not in on_time
    updated_by_state = {**first_due, "CreatedAt": NOW + timedelta(hours=1)}
    assert (
        s.to_json(s.id_entity(first, first_due, created_at=NOW), updated_by_state)["updatedAt"]
        == "2026-06-01T13:00:00.000Z"
    )


RESERVED = (
    "ids containing @ or starting with due-, done-, csv-, sch-, sys- are reserved for ids the app"
    " derives"
)
ABSENT = object()


@pytest.mark.parametrize(
    ("change", "field", "message", "code"),
    [
        ({"colour": "red"}, "colour", "unknown field 'colour'", "unknown_field"),
        ({"id": ""}, "id", "id must be a non-empty string", "invalid_field"),
        ({"id": 7}, "id", "id must be a non-empty string", "invalid_field"),
        (
            {"id": "a" * 129},
            "id",
            "id must be 1 to 128 printable characters without spaces",
            "invalid_field",
        ),
        (
            {"id": "has space"},
            "id",
            "id must be 1 to 128 printable characters without spaces",
            "invalid_field",
        ),
        ({"id": "a/b"}, "id", "id may not contain / \\ # or ?", "invalid_field"),
        ({"id": "rec1@20261201T0832Z"}, "id", RESERVED, "invalid_field"),
        ({"id": "CSV-1"}, "id", RESERVED, "invalid_field"),
        ({"to": ABSENT}, "to", "to is required (an E.164 phone number)", "invalid_field"),
        ({"to": "  "}, "to", "to is required (an E.164 phone number)", "invalid_field"),
        (
            {"to": "5551234"},
            "to",
            "to must be an E.164 phone number such as +15558675310",
            "invalid_field",
        ),
        ({"body": ABSENT}, "body", "body is required (the text to send)", "invalid_field"),
        ({"body": " "}, "body", "body is required (the text to send)", "invalid_field"),
        ({"body": "a\ud800b"}, "body", "body must be valid Unicode text", "invalid_field"),
        ({"body": "x" * 1601}, "body", "body must be at most 1600 characters", "invalid_field"),
        (
            {"sendAt": ABSENT},
            "sendAt",
            "sendAt is required (ISO-8601 with a UTC offset)",
            "invalid_field",
        ),
        (
            {"sendAt": "  "},
            "sendAt",
            "sendAt is required (ISO-8601 with a UTC offset)",
            "invalid_field",
        ),
        (
            {"sendAt": "tomorrow"},
            "sendAt",
            "sendAt must be an ISO-8601 date and time such as 2026-03-30T09:00:00+02:00",
            "invalid_field",
        ),
        (
            {"sendAt": "2026-06-02T09:00:00"},
            "sendAt",
            "sendAt must include a UTC offset (Z or +hh:mm)",
            "invalid_field",
        ),
        (
            {"sendAt": "2026-05-30T09:00:00Z"},
            "sendAt",
            "sendAt is further in the past than SMS_MAX_LATENESS allows",
            "invalid_field",
        ),
        (
            {"timeZone": "Mars/Olympus"},
            "timeZone",
            "timeZone must be an IANA time zone such as Europe/Paris",
            "invalid_field",
        ),
        (
            {"timeZone": 3},
            "timeZone",
            "timeZone must be an IANA time zone such as Europe/Paris",
            "invalid_field",
        ),
        (
            {"timeZone": "../etc"},
            "timeZone",
            "timeZone must be an IANA time zone such as Europe/Paris",
            "invalid_field",
        ),
        ({"recurrence": ""}, "recurrence", "recurrence must be a cron expression", "invalid_field"),
        ({"recurrence": 5}, "recurrence", "recurrence must be a cron expression", "invalid_field"),
        (
            {"recurrence": "0 9 * *"},
            "recurrence",
            "recurrence must be a five-field cron expression (minute hour day month weekday), e.g."
            " '0 9 * * *'",
            "invalid_field",
        ),
        (
            {"recurrence": "0 99 * * *"},
            "recurrence",
            "recurrence is not a valid cron expression",
            "invalid_field",
        ),
    ],
)
def test_each_refused_create_in_full(
    change: dict[str, object], field: str, message: str, code: str
) -> None:
    data: dict[str, object] = {
        "to": FR_MOBILE,
        "body": "Hello",
        "sendAt": "2026-06-02T09:00:00+02:00",
    }
    data.update(change)
    with pytest.raises(s.ScheduleInputError) as raised:
        s.parse_new_schedule(
            {k: v for k, v in data.items() if v is not ABSENT}, now=NOW, max_lateness=LATENESS
        )
    error = raised.value
    assert (error.field, error.message, str(error), error.code) == (field, message, message, code)


def test_a_body_that_is_not_an_object_is_refused_as_a_whole() -> None:
    with pytest.raises(s.ScheduleInputError) as raised:
        s.parse_new_schedule(["not a dict"], now=NOW, max_lateness=LATENESS)
    assert (raised.value.field, raised.value.message, raised.value.code) == (
        None,
        "the body must be a JSON object",
        "invalid_field",
    )


def test_a_create_at_the_limits_is_accepted_as_given() -> None:
    at_limit = s.parse_new_schedule(
        {
            "id": "a" * 128,
            "to": f" {FR_MOBILE} ",
            "body": "x" * 1600,
            "sendAt": (NOW - LATENESS).isoformat().replace("+00:00", "z"),
            "timeZone": " Europe/Paris ",
            "recurrence": "  @DAILY ",
        },
        now=NOW,
        max_lateness=LATENESS,
    )
    assert at_limit == s.NewSchedule(
        id="a" * 128,
        to=FR_MOBILE,
        body="x" * 1600,
        send_at=NOW - LATENESS,
        time_zone="Europe/Paris",
        recurrence="@daily",
    )
    spaced = s.parse_new_schedule(
        {
            "to": FR_MOBILE,
            "body": "Hi",
            "sendAt": "2026-06-02T09:00:00+02:00",
            "recurrence": "0  9 * *  1",
        },
        now=NOW,
        max_lateness=LATENESS,
        new_id=lambda: "sch-x",
    )
    assert (spaced.id, spaced.recurrence, spaced.time_zone) == ("sch-x", "0 9 * * 1", None)


def test_the_due_queries_in_full() -> None:
    now = datetime(2026, 6, 1, 12, 0, 30, 250_000, tzinfo=UTC)
    assert s.due_queries(now) == [
        (
            "PartitionKey ge @low and PartitionKey lt @current",
            {"low": "due-", "current": "due-202606011200"},
        ),
        (
            "PartitionKey eq @current and RowKey le @high",
            {"current": "due-202606011200", "high": "20260601T120030250Z~"},
        ),
    ]


def test_rows_at_their_instant_exactly() -> None:
    pending = {"Status": "pending", "DueAt": NOW}
    assert s.classify_row(pending, NOW) is s.RowKind.READY
    assert s.classify_row(pending, NOW - timedelta(microseconds=1)) is s.RowKind.NOT_DUE
    claimed = {"Status": "claimed", "LeaseUntil": NOW}
    assert s.classify_row(claimed, NOW) is s.RowKind.CLAIMED_EXPIRED
    assert s.classify_row(claimed, NOW - timedelta(microseconds=1)) is s.RowKind.CLAIMED_LIVE


def test_a_reclaim_of_a_row_with_no_claim_time_starts_its_window_now() -> None:
    row = {"PartitionKey": "due-1", "RowKey": "r", "Status": "claimed", "ClaimCount": 1}
    later = NOW + timedelta(minutes=5)
    changes = s.claim_changes(row, claim_id="c", now=later, lease=timedelta(minutes=2))
    assert changes["SendWindowStart"] == later
    assert s.send_window_start({"ClaimedAt": "yesterday"}) is None


def test_a_done_row_of_a_row_never_attempted_says_zero_attempts() -> None:
    row = {"Home": "done-20260602", "Id": "x"}
    done = s.done_entity(row, s.Outcome(Status.EXPIRED), finished_at=NOW)
    assert done["Attempts"] == 0


def test_a_final_state_goes_nowhere_and_unknown_words_nowhere_either() -> None:
    for final in ("sent", "failed", "expired", "skipped-opted-out", "cancelled"):
        assert not s.can_transition(final, "claimed")
    assert not s.can_transition("bogus", "claimed")
    assert not s.can_transition("pending", "bogus")


def test_a_hand_written_send_at_is_shown_as_written() -> None:
    first = parse(id="p-1")
    due = s.new_due_entity(
        s.spec_properties(first), first.send_at, intended_at=first.send_at, created_at=NOW
    )
    id_row = {**s.id_entity(first, due, created_at=NOW), "SendAt": "2026-06-02 09:00"}
    assert s.to_json(id_row, due)["sendAt"] == "2026-06-02 09:00"


def test_send_or_wait_for_the_recipient_s_zone() -> None:
    quiet = NIGHT
    at_night_in_paris = datetime(2026, 6, 1, 21, 30, tzinfo=UTC)  # 23:30 in Paris
    decided = s.decide(
        now=at_night_in_paris,
        intended_at=at_night_in_paris,
        to=IDAHO,
        time_zone="Europe/Paris",
        max_lateness=LATENESS,
        quiet=quiet,
    )
    assert decided == s.Decision(Action.DEFER, datetime(2026, 6, 2, 6, 0, tzinfo=UTC))
    by_number = s.decide(
        now=at_night_in_paris,
        intended_at=at_night_in_paris,
        to=IDAHO,
        time_zone=None,
        max_lateness=LATENESS,
        quiet=quiet,
    )
    assert by_number == s.Decision(Action.SEND)  # 15:30 in Idaho
    assert s.decide(
        now=NOW, intended_at=NOW, to=IDAHO, time_zone=None, max_lateness=LATENESS, quiet=None
    ) == s.Decision(Action.SEND, None)


def test_the_next_occurrence_is_strictly_after() -> None:
    nine = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 09:00 in Paris
    assert s.next_occurrence("0 9 * * *", PARIS, nine) == nine + timedelta(days=1)
    assert s.next_occurrence("0 9 * * *", PARIS, nine - timedelta(seconds=1)) == nine


@pytest.mark.usefixtures("local_clock_far_from_utc")
def test_instants_are_in_utc_whatever_the_machine_s_zone() -> None:
    spring = date(2026, 3, 29)  # Paris skips 02:00-03:00
    for moment in (
        s.local_wall_time_to_utc(date(2026, 6, 2), time(9, 0), PARIS),
        s.local_wall_time_to_utc(spring, time(2, 30), PARIS),
        s.next_occurrence("0 9 * * *", PARIS, NOW),
        s.quiet_until(datetime(2026, 6, 1, 21, 30, tzinfo=UTC), (PARIS,), NIGHT),
    ):
        assert moment is not None
        assert moment.tzinfo is UTC, moment
    assert s.local_wall_time_to_utc(spring, time(2, 30), PARIS) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


# --- the listing of pending schedules ----------------------------------------------------------


def test_the_pending_listing_reads_due_rows_only_in_the_order_due() -> None:
    assert s.pending_filter() == (
        "PartitionKey ge @low and PartitionKey lt @high",
        {"high": s.DUE_END},
    )
    assert s.listed({"Status": "pending"})
    assert s.listed({"Status": "claimed"})
    assert not s.listed({"Status": "moved"})
    assert not s.listed({"Status": "cancelled"})


def test_a_listing_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    row = {"PartitionKey": "due-202606020700", "RowKey": "20260602T070000000Z-r|1"}
    cursor = s.encode_list_cursor(row)
    assert cursor == base64.urlsafe_b64encode(b"due-202606020700|20260602T070000000Z-r|1").decode(
        "ascii"
    )
    assert s.decode_list_cursor(f" {cursor} ") == (
        "due-202606020700",
        "20260602T070000000Z-r|1",
    )
    for forged in (
        "",
        "%%%",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"done-20260602|r").decode(),
        base64.urlsafe_b64encode(b"due-202606020700").decode(),
        base64.urlsafe_b64encode(b"due-202606020700|").decode(),
        "ünïcode",
    ):
        with pytest.raises(s.ScheduleInputError) as raised:
            s.decode_list_cursor(forged)
        assert (raised.value.field, raised.value.message) == (
            "cursor",
            "is not a cursor this listing returned",
        )


def test_a_pending_schedule_from_its_due_row_alone() -> None:
    schedule, spec = _recurring()
    due = s.new_due_entity(
        spec, schedule.send_at, intended_at=schedule.send_at, created_at=NOW, attempts=1
    )
    assert s.pending_json(due) == {
        "id": "r-1",
        "status": "pending",
        "to": FR_MOBILE,
        "body": "Hello",
        "sendAt": "2026-06-02T07:00:00.000Z",
        "timeZone": "Europe/Paris",
        "recurrence": "0 9 * * 1-5",
        "root": "r-0",
        "previous": "r-0",
        "attempts": 1,
        "createdAt": "2026-06-01T12:00:00.000Z",
        "updatedAt": "2026-06-01T12:00:00.000Z",
    }


def test_the_spec_of_any_row_leaves_out_the_empty() -> None:
    _, spec = _recurring()
    due = s.new_due_entity(spec, NOW, intended_at=NOW, created_at=NOW)
    assert s.copy_spec(due) == spec
    assert s.copy_spec({**due, "TimeZone": "", "Previous": None}) == {
        k: v for k, v in spec.items() if k not in ("TimeZone", "Previous")
    }


# --- reminders that take replies -------------------------------------------------------------


def test_a_reminder_takes_replies_until_a_given_time() -> None:
    schedule = parse(
        id="appt-42",
        replies={"C": "confirmed", "X": {"means": "cancelled", "answer": "Sorry to hear it."}},
        replyUntil="2026-06-02T18:00:00+02:00",
    )
    assert schedule.replies == (
        Choice("C", "confirmed"),
        Choice("X", "cancelled", "Sorry to hear it.", True),
    )
    assert schedule.reply_until == utc(2026, 6, 2, 16)
    spec = s.spec_properties(schedule)
    assert json.loads(spec["Replies"]) == {
        "C": {"means": "confirmed", "notify": False},
        "X": {"means": "cancelled", "answer": "Sorry to hear it.", "notify": True},
    }
    assert spec["ReplyUntil"] == utc(2026, 6, 2, 16)
    assert s.copy_spec(spec)["Replies"] == spec["Replies"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"replies": {"STOP": "cancelled"}}, "/replies/STOP"),
        ({"replies": {"C": {"means": "ok", "answer": ""}}}, "/replies/C/answer"),
        ({"replies": "C=confirmed"}, "replies"),
        ({"replyUntil": "2026-06-03T09:00:00Z"}, "replyUntil"),  # without replies
        ({"replies": {"C": "ok"}, "replyUntil": "2026-06-03T09:00:00"}, "replyUntil"),
        ({"replies": {"C": "ok"}, "replyUntil": "soon"}, "replyUntil"),
        ({"replies": {"C": "ok"}, "replyUntil": 5}, "replyUntil"),
        ({"replies": {"C": "ok"}, "replyUntil": "2026-06-02T09:00:00+02:00"}, "replyUntil"),
        (
            {"replies": {"C": "ok"}, "recurrence": "@daily", "replyUntil": "2026-06-03T09:00Z"},
            "replyUntil",
        ),
    ],
)
def test_replies_name_the_bad_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ScheduleInputError) as caught:
        parse(**fields)
    assert caught.value.field == field
    assert caught.value.message


def test_replies_count_in_the_fingerprint_and_leave_the_others_alone() -> None:
    plain = parse(id="x")
    assert plain.fingerprint() == parse(id="x", replies=None).fingerprint()
    with_replies = parse(id="x", replies={"C": "confirmed"})
    assert with_replies.fingerprint() == parse(id="x", replies={"c": "confirmed"}).fingerprint()
    assert with_replies.fingerprint() not in {
        plain.fingerprint(),
        parse(id="x", replies={"C": "ok"}).fingerprint(),
        parse(id="x", replies={"C": "confirmed"}, replyUntil="2026-06-03T00:00Z").fingerprint(),
    }


@pytest.mark.parametrize(
    ("sent", "to", "zone", "until"),
    [
        # The end of the day after sending, in the schedule's zone...
        (utc(2026, 6, 2, 7), FR_MOBILE, "Europe/Paris", utc(2026, 6, 3, 22)),
        (utc(2026, 6, 2, 23), FR_MOBILE, "Europe/Paris", utc(2026, 6, 4, 22)),  # 01:00 in Paris
        # ...across the autumn change (25 hours in that day)...
        (utc(2026, 10, 24, 12), FR_MOBILE, "Europe/Paris", utc(2026, 10, 25, 23)),
        # ...else the number's own zone, else UTC.
        (utc(2026, 12, 1, 15), "+12125550100", None, utc(2026, 12, 3, 5)),
        (utc(2026, 12, 1, 15), TOLL_FREE, None, utc(2026, 12, 3)),
    ],
)
def test_replies_are_taken_until_the_end_of_the_day_after_sending(
    sent: datetime, to: str, zone: str | None, until: datetime
) -> None:
    assert s.reply_deadline(sent, to, zone) == until
    assert s.replies_until({"To": to, "TimeZone": zone}, sent) == until
    given = utc(2026, 12, 9)
    assert s.replies_until({"To": to, "ReplyUntil": given}, sent) == given


def test_a_reminder_shows_its_replies_their_answers_and_its_response() -> None:
    schedule = parse(
        id="appt-42", replies={"C": "confirmed", "X": {"means": "cancelled", "answer": "Bye"}}
    )
    id_row = s.id_entity(schedule, {"PartitionKey": "due-1", "RowKey": "r"}, created_at=NOW)
    pending = s.to_json(id_row, None)
    assert pending["replies"] == {
        "C": {
            "means": "confirmed",
            "answer": wording.reminder_answer("confirmed"),
            "notify": False,
        },
        "X": {"means": "cancelled", "answer": "Bye", "notify": True},
    }
    assert "replyUntil" not in pending
    assert "response" not in pending
    sent_at = utc(2026, 6, 2, 7)
    done = {"Status": "sent", "SentAt": sent_at, "FinishedAt": sent_at}
    assert s.to_json(id_row, done)["replyUntil"] == "2026-06-03T22:00:00.000Z"
    answered = {**id_row, "Response": "confirmed", "RespondedAt": utc(2026, 6, 2, 8)}
    shown = s.to_json(answered, done)
    assert (shown["response"], shown["respondedAt"]) == ("confirmed", "2026-06-02T08:00:00.000Z")
    assert "replies" not in s.to_json(
        s.id_entity(parse(id="plain"), {"PartitionKey": "d", "RowKey": "r"}, created_at=NOW), done
    )


def test_a_finished_schedule_goes_nowhere() -> None:
    for done in ("sent", "failed", "cancelled", "expired", "moved"):
        assert not s.can_transition(done, "pending")
        assert not s.can_transition(done, "claimed")


def test_a_tentative_row_waits_less_than_the_grace() -> None:
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    row = {"PartitionKey": "due-x", "RowKey": "r", "CreatedAt": now - s.TENTATIVE_GRACE}
    assert s.verify_tentative(row, None, None, now) is s.TentativeVerdict.ORPHAN
    younger = {**row, "CreatedAt": now - s.TENTATIVE_GRACE + timedelta(seconds=1)}
    assert s.verify_tentative(younger, None, None, now) is s.TentativeVerdict.WAIT


# --- the edges the rules above leave open -------------------------------------------------------


def test_a_naive_time_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"\Anaive datetime: schedules only handle aware times\Z"):
        s.utc(datetime(2026, 6, 1, 12, 0))
    with pytest.raises(ValueError, match=r"\Aattempt numbers start at 1\Z"):
        s.RetryPolicy().delay(0)


@pytest.mark.usefixtures("local_clock_a_day_ahead")
def test_days_and_instants_are_the_recipient_s_whatever_the_machine_s_zone() -> None:
    paris_nine = datetime(2026, 3, 30, 9, 0, tzinfo=PARIS)
    for moment in (s.utc(paris_nine), s.parse_send_at("2026-03-30T09:00:00+02:00")):
        assert moment.utcoffset() == timedelta(0)
        assert moment.isoformat() == "2026-03-30T07:00:00+00:00"
    assert s.due_keys(paris_nine, "r-1") == ("due-202603300700", "20260330T070000000Z-r-1")
    # 05:00Z is 07:00 in Paris (09:00 is still to come today) but 19:00 in Kiritimati.
    assert s.next_occurrence("0 9 * * *", PARIS, utc(2026, 6, 1, 5, 0)) == utc(2026, 6, 1, 7, 0)
    # Tokyo and New York asleep at 12:00Z (02:00 tomorrow in Kiritimati): New York wakes
    # at 09:00 its own today, 13:00Z.
    quiet = QuietHours(time(20, 0), time(9, 0))
    zones = (ZoneInfo("Asia/Tokyo"), NEW_YORK)
    assert s.quiet_until(utc(2026, 6, 1, 12, 0), zones, quiet) == utc(2026, 6, 1, 13, 0)


def test_a_wall_time_in_a_gap_maps_to_the_end_of_the_gap_to_the_second() -> None:
    # Not only the half hour: any minute in the gap maps to the instant the clock jumps.
    assert s.local_wall_time_to_utc(date(2026, 3, 29), time(2, 1), PARIS) == utc(2026, 3, 29, 1)
    assert s.local_wall_time_to_utc(date(2026, 3, 8), time(2, 43), NEW_YORK) == utc(2026, 3, 8, 7)
    # Troll jumps two hours (01:00Z: 01:00 -> 03:00): 02:46 is read in Troll, not in UTC.
    troll = ZoneInfo("Antarctica/Troll")
    assert s.local_wall_time_to_utc(date(2026, 3, 29), time(2, 46), troll) == utc(2026, 3, 29, 1)


def test_a_repeated_wall_time_is_its_first_pass_even_when_asked_for_the_second() -> None:
    second_pass = time(1, 30, fold=1)  # New York, 2026-11-01: 01:30 EST, after 01:30 EDT
    assert s.local_wall_time_to_utc(date(2026, 11, 1), second_pass, NEW_YORK) == utc(
        2026, 11, 1, 5, 30
    )


def test_quiet_hours_ending_in_a_repeated_hour_already_passed_end_the_next_day() -> None:
    # Quiet 22:00-01:30 in New York; on 2026-11-01 01:00-02:00 happens twice. At 01:15 EST
    # (the second pass, 06:15Z) the window's end, 01:30 read as its first pass (05:30Z), is
    # over: the text waits for the next day's 01:30, never for a moment in the past.
    quiet = QuietHours(time(22, 0), time(1, 30))
    until = s.quiet_until(utc(2026, 11, 1, 6, 15), (NEW_YORK,), quiet)
    assert until == utc(2026, 11, 2, 6, 30)


def test_quiet_hours_least_quiet_moment_may_be_a_zone_s_tomorrow() -> None:
    # Quiet 12:00-05:00 in Los Angeles and Paris: no moment is quiet in neither. At 22:00Z
    # (15:00 in LA, 23:00 in Paris) the first to wake is Paris, at 05:00 its next day.
    quiet = QuietHours(time(12, 0), time(5, 0))
    zones = (ZoneInfo("America/Los_Angeles"), PARIS)
    assert s.quiet_until(utc(2026, 3, 27, 22, 0), zones, quiet) == utc(2026, 3, 28, 4, 0)


def test_quiet_hours_look_for_a_common_window_two_days_ahead_and_no_further() -> None:
    # Quiet 12:00-06:00 in Los Angeles and Sydney: DST changes on both sides (Sydney on
    # 2026-10-04, Los Angeles on 2026-11-01) open a window exactly two days after 19:00Z.
    quiet = QuietHours(time(12, 0), time(6, 0))
    zones = (ZoneInfo("America/Los_Angeles"), ZoneInfo("Australia/Sydney"))
    assert s.quiet_until(utc(2026, 10, 30, 19, 0), zones, quiet) == utc(2026, 11, 1, 19, 0)
    # Quiet 15:00-09:00 in New York and Paris: the window New York's spring change opens on
    # 2026-03-08 is more than two days after 03:00Z on the 6th: the least quiet moment of
    # the next day is taken instead (08:00Z, when Paris wakes).
    quiet = QuietHours(time(15, 0), time(9, 0))
    assert s.quiet_until(utc(2026, 3, 6, 3, 0), (NEW_YORK, PARIS), quiet) == utc(2026, 3, 6, 8)


def test_quiet_hours_least_quiet_moment_is_within_the_next_day_its_end_included() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    # Quiet 18:00-10:00: at 01:00Z on 2026-11-01 Tokyo wakes; Los Angeles still sleeps
    # (18:00 PDT), Paris too. Exactly a day later Los Angeles (17:00 PST) is awake as well.
    quiet = QuietHours(time(18, 0), time(10, 0))
    zones = (tokyo, ZoneInfo("America/Los_Angeles"), PARIS)
    assert s.quiet_until(utc(2026, 11, 1, 1, 0), zones, quiet) == utc(2026, 11, 2, 1, 0)
    # Quiet 12:00-06:00: the best of the next day is now, though New York's spring change
    # makes a better moment on the day after (not looked at).
    quiet = QuietHours(time(12, 0), time(6, 0))
    assert s.quiet_until(utc(2026, 3, 6, 11, 0), (NEW_YORK, PARIS, tokyo), quiet) is None


def test_send_at_ending_in_a_letter_other_than_z_is_refused() -> None:
    with pytest.raises(ScheduleInputError) as caught:
        s.parse_send_at("2026-03-30T09:00:00X")
    assert caught.value.field == "sendAt"


@pytest.mark.parametrize(
    "raw",
    [
        "9999-12-31T23:59:59-23:59",  # past datetime's last day once in UTC (was OverflowError)
        "0001-01-01T00:00:00+23:59",  # before its first
        "9999-12-31T23:59:59+23:59",
        "2200-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_a_send_at_outside_the_years_a_schedule_takes_is_refused_naming_it(raw: str) -> None:
    with pytest.raises(ScheduleInputError) as caught:
        s.parse_send_at(raw)
    assert caught.value.field == "sendAt"
    assert "between the years 1970 and 2199" in caught.value.message


def test_a_send_at_at_the_edges_of_those_years_is_taken() -> None:
    assert s.parse_send_at("2199-12-31T23:59:59Z").year == 2199
    assert s.parse_send_at("1970-01-01T00:00:00Z").year == 1970


def test_a_cron_expression_is_kept_as_written_and_only_macros_lowered() -> None:
    assert s.parse_recurrence("0 9 * * MON") == "0 9 * * MON"
    assert s.parse_recurrence("0 9 * JAN-MAR MON-FRI") == "0 9 * JAN-MAR MON-FRI"
    assert s.parse_recurrence("@Daily") == "@daily"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"recurrence": "@daily", "replyUntil": "2026-06-03T09:00Z"},
            "replyUntil cannot be combined with recurrence: each occurrence takes replies "
            "until the end of the day after it is sent",
        ),
        (
            {"replyUntil": "soon"},
            "replyUntil must be an ISO-8601 date and time such as 2026-03-30T09:00:00+02:00",
        ),
        (
            {"replyUntil": "2026-06-03T09:00:00"},
            "replyUntil must include a UTC offset (Z or +hh:mm)",
        ),
        ({"replyUntil": "2026-06-02T09:00:00+02:00"}, "replyUntil must be later than sendAt"),
    ],
)
def test_a_refused_reply_until_says_why_in_its_own_name(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ScheduleInputError) as caught:
        parse(replies={"C": "ok"}, **fields)
    assert (caught.value.field, caught.value.message) == ("replyUntil", message)


def test_replies_are_taken_in_the_schedule_s_zone_over_the_number_s() -> None:
    # A French mobile scheduled in New York's zone: the day after sending ends at New York's
    # midnight (04:00Z), not Paris's (22:00Z).
    sent = utc(2026, 6, 2, 7)
    assert s.reply_deadline(sent, FR_MOBILE, "America/New_York") == utc(2026, 6, 4, 4)
    row = {"To": FR_MOBILE, "TimeZone": "America/New_York"}
    assert s.replies_until(row, sent) == utc(2026, 6, 4, 4)


def test_a_recurrence_zone_that_is_no_zone_falls_back_to_the_number_s() -> None:
    assert s.recurrence_zone(FR_MOBILE, "Not/AZone") == PARIS


def _for_a_line() -> s.NewSchedule:
    return s.NewSchedule(
        id="appt-7",
        to=FR_MOBILE,
        body="Hello",
        send_at=utc(2026, 6, 2, 7),
        line="front-desk",
        purpose="reminder",
        replies=(Choice("C", "confirmed"),),
        reply_until=utc(2026, 6, 3, 7),
    )


def test_a_schedule_for_a_line_keeps_its_line_and_purpose_everywhere() -> None:
    schedule = _for_a_line()
    spec = s.spec_properties(schedule)
    assert (spec["Line"], spec["Purpose"]) == ("front-desk", "reminder")
    id_row = s.id_entity(schedule, {"PartitionKey": "due-1", "RowKey": "r"}, created_at=NOW)
    shown = s.to_json(id_row, None)
    assert (shown["line"], shown["purpose"]) == ("front-desk", "reminder")
    canonical = json.dumps(
        {
            "body": "Hello",
            "line": "front-desk",
            "purpose": "reminder",
            "recurrence": None,
            "replies": reply_rules.stored(schedule.replies),
            "replyUntil": "20260603T070000000Z",
            "sendAt": "20260602T070000000Z",
            "timeZone": None,
            "to": FR_MOBILE,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert schedule.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()


def test_a_pending_reminder_shows_the_reply_until_it_was_given() -> None:
    id_row = s.id_entity(_for_a_line(), {"PartitionKey": "due-1", "RowKey": "r"}, created_at=NOW)
    assert s.to_json(id_row, None)["replyUntil"] == "2026-06-03T07:00:00.000Z"
    # A hand-edited value that is no time is not shown as one (none until sent).
    assert "replyUntil" not in s.to_json({**id_row, "ReplyUntil": "tomorrow"}, None)
    # A response without its time shows no time.
    answered = s.to_json({**id_row, "Response": "confirmed", "RespondedAt": ""}, None)
    assert answered["response"] == "confirmed"
    assert "respondedAt" not in answered


def test_the_operator_api_fills_what_a_row_leaves_out() -> None:
    id_row = s.id_entity(parse(id="r-9"), {"PartitionKey": "due-1", "RowKey": "r"}, created_at=NOW)
    # A row without attempts has made none.
    assert s.to_json(id_row, {"Status": "pending"})["attempts"] == 0
    # An error without its message shows an empty message, pending or final.
    shown = s.to_json(id_row, {"Status": "pending", "LastErrorCode": 30003})
    assert shown["lastError"] == {"code": 30003, "message": ""}
    shown = s.to_json(id_row, {"Status": "failed", "ErrorCode": 30003})
    assert shown["error"] == {"code": 30003, "message": ""}
    # A cancelled schedule has no next attempt, whenever its due row was due.
    cancelled = {"Status": "cancelled", "DueAt": utc(2026, 6, 3, 7)}
    assert "nextAttemptAt" not in s.to_json(id_row, cancelled)


def test_a_retry_waits_the_jittered_delay_of_its_schedule() -> None:
    policy = s.RetryPolicy()
    assert policy.next_attempt(1, NOW, "sch-0") == NOW + policy.delay(1, "sch-0")
    assert policy.next_attempt(1, NOW, "sch-0") != NOW + policy.base
    # Without a schedule to spread by, no jitter: the base delay exactly.
    assert policy.next_attempt(1, NOW) == NOW + policy.base
    # The same wait for the same schedule on every machine and release, to the microsecond.
    assert policy.delay(7, "sch-0") == timedelta(minutes=24, seconds=16, microseconds=814244)


def test_an_every_minute_recurrence_crosses_a_two_hour_repeat() -> None:
    # Antarctica/Troll falls back two hours at 01:00Z on 2026-10-25 (03:00 -> 01:00). At
    # 01:55 on the second pass, the minutes up to 02:59 have fired on the first pass (64 of
    # them): the next occurrence is 03:00, when the clock reads a new time.
    troll = ZoneInfo("Antarctica/Troll")
    assert s.next_occurrence("* * * * *", troll, utc(2026, 10, 25, 1, 55)) == utc(2026, 10, 25, 3)
    assert s.next_occurrence("* * * * *", troll, utc(2026, 10, 25, 1, 0)) == utc(2026, 10, 25, 3)


def test_quiet_hours_walk_reaches_a_window_that_dst_opens_two_days_out() -> None:
    # Quiet 20:00-08:00 in New York and at a fixed UTC+7: in winter one zone's night starts
    # when the other's ends (13:00Z, 01:00Z), so no moment is quiet nowhere. New York's
    # spring change (2026-03-08) ends its night at 12:00Z, an hour before the other's starts:
    # the first moment quiet nowhere, reached by walking night after night from two days before.
    night = QuietHours(time(20, 0), time(8, 0))
    zones = (NEW_YORK, ZoneInfo("Etc/GMT-7"))  # UTC+7: 20:00-08:00 is 13:00Z-01:00Z
    opens = utc(2026, 3, 8, 12, 0)
    assert s.quiet_until(opens - timedelta(days=2), zones, night) == opens
    assert s.quiet_until(opens - timedelta(days=1, hours=23), zones, night) == opens
    # Two days and a minute before it, the walk stops at its two-day horizon and takes the least
    # quiet moment within a day: one zone is always awake here, so the first of them, now.
    assert s.quiet_until(opens - timedelta(days=2, minutes=1), zones, night) is None
