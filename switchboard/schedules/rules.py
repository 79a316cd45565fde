"""Scheduled SMS: the `SmsSchedule` table design, the states, and every decision of a run (pure).

Nothing here does I/O: `switchboard.schedules.store` applies these rules to Table
Storage and `switchboard.schedules.timer` runs them from the timer.

Keys (one table, `SmsSchedule`, three kinds of rows)
----------------------------------------------------
- **due row** (the live state while a schedule waits or is being sent):
  PartitionKey = ``due-YYYYMMDDHHMM``, the UTC minute of its next attempt (``DueAt``);
  RowKey = ``YYYYMMDDTHHMMSSmmmZ-<id>``. A run reads only the due rows: one PartitionKey-bounded
  range for the minutes already over (``PartitionKey ge 'due-' and PartitionKey lt
  'due-<this minute>'``) and one RowKey-bounded range inside the current minute
  (``PartitionKey eq 'due-<this minute>' and RowKey le '<now>~'``). Rows leave the range when
  their schedule ends (deleted) or moves to a later minute (retry backoff, quiet hours), so a
  run reads O(due) entities whatever the number of future schedules. Schedules due in the same
  minute share a partition, so a run claims them with ETag-conditioned transactions of up to
  100 operations.
- **id row** (the point lookup): PartitionKey = the schedule id, RowKey = ``schedule``. Written
  once when the schedule is created (request fields, fingerprint for idempotent creation) and
  re-pointed (``DuePk``/``DueRk``) when the due row moves. Ids a caller chooses may not start
  with ``due-``, ``done-``, ``csv-``, ``sch-`` or ``sys-`` nor contain ``@``: those are the
  ids the app derives (``RESERVED_ID_PREFIXES``). A reminder's response is recorded here
  (``Response``, ``ResponseKey``, ``ResponseSid``, ``RespondedAt``: `switchboard.schedules.
  replies`), under the row's ETag, so a reply is bound once.
- **done row** (the final state): PartitionKey = ``done-YYYYMMDD`` (``Home``: the UTC day of the
  schedule's ``sendAt``, fixed at creation and kept in the id row), RowKey = the id. Written when
  the schedule ends, before its due row is deleted. Schedules that end together share ``Home``,
  so a run writes their final states in transactions, not one request each.

`GET /api/sms/schedules/{id}` reads the id row, then the done row, else the due row.

States
------
``pending`` → ``claimed`` (a run's ETag-conditioned claim, a lease until ``LeaseUntil``)
→ ``sent`` | ``failed`` | ``skipped-opted-out`` | ``skipped`` | ``expired``; ``claimed`` →
``pending`` again
(moved to a later minute: the end of the recipient's quiet hours, or a transient failure's
backoff); ``claimed`` → ``claimed`` (its lease expired: another run re-claims it, finds out from
Twilio whether the send happened, and only then sends); ``pending`` → ``cancelled`` (DELETE).
``sent``, ``failed``, ``skipped-opted-out``, ``skipped`` (the outbound policy refused the
destination when it fell due), ``expired`` and ``cancelled`` are final.

A due row may also be ``moved`` (its schedule now lives in the row named by ``MovedToPk``/
``MovedToRk``; a run deletes it) or ``cancelled`` (DELETE won, the done row is not yet written).

Exactly once
------------
- Claims are ETag-conditioned: of two runs, one wins; the other sees 412 and skips the row.
- A claim is a lease: a run never *starts* a send after ``LeaseUntil - margin``. A later run
  that finds an expired claim reads the done row (finished already?), then asks Twilio
  (Messages filtered by To and DateSent, matching the body, since ``SendWindowStart``) before
  sending again.
- Every step that creates a row is insert-if-absent with deterministic keys; rows written by a
  repeated (recovery) step are marked ``Tentative``: a run sends a tentative row only if the id
  row points at it and no done row exists, otherwise it deletes it as an orphan. A schedule is
  created (the POST commits) when its id row exists.
- Recurrence: when an occurrence ends (except ``cancelled``), the next one is created with the
  deterministic id ``<root id>@<occurrence, UTC, YYYYMMDDTHHMMZ>`` (insert-if-absent) before the
  done row records it as ``Next``, so it is created exactly once.

Replies (`switchboard.schedules.replies`): a schedule's ``Replies`` (canonical JSON) and
``ReplyUntil`` travel with what the schedule is (`SPEC_PROPERTIES`, on every row);
`reply_deadline` is until when a reminder takes replies when ``replyUntil`` was not given.

Decisions (the functions below): due or not, expired (``SMS_MAX_LATENESS`` after the intended
time), quiet hours (``SMS_QUIET_HOURS`` in the recipient's zone: the schedule's ``timeZone``,
else every zone phonenumbers gives for the number, deferring until none of them is quiet),
transient-failure backoff, and recurrence (a cron expression in an IANA zone, DST-correct).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchboard import records
from switchboard.outbound import wording
from switchboard.phone import is_e164, time_zones_for
from switchboard.schedules import replies as reply_rules
from switchboard.schedules.replies import Choice
from switchboard.settings import QuietHours
from switchboard.twilio.text import MAX_BODY_CHARS, is_valid_unicode

ID_ROW = reply_rules.ID_ROW
DUE_PREFIX = "due-"
DONE_PREFIX = "done-"
OCCURRENCE_SEPARATOR = "@"
#: Ids the app derives, which a caller may not choose: the table's own partitions
#: (`due-`, `done-`), the CLI import's `csv-<hash>`, generated `sch-<uuid>`, `sys-` for the app's
#: own bookkeeping rows, and any `@` (a recurrence's occurrences are `<root>@<UTC stamp>`). A
#: caller's id there could become another schedule's occurrence and take its recurrence over.
RESERVED_ID_PREFIXES = (DUE_PREFIX, DONE_PREFIX, "csv-", "sch-", records.DERIVED_ID_PREFIX)
RESERVED_ID_MESSAGE = (
    "ids containing @ or starting with " + ", ".join(RESERVED_ID_PREFIXES) + " are reserved "
    "for ids the app derives"
)
MAX_ID_LENGTH = 128
#: Fields a create request may carry.
CREATE_FIELDS = frozenset(
    {"id", "to", "body", "sendAt", "timeZone", "recurrence", "replies", "replyUntil"}
)
#: Not before this much after creation is an unfinished (tentative) create treated as abandoned.
TENTATIVE_GRACE = timedelta(minutes=2)
#: Clock skew allowed between this app and Twilio when asking Twilio what was sent.
TWILIO_CLOCK_SKEW = timedelta(minutes=5)
_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_PRINTABLE = re.compile(r"[\x21-\x7e]+")


class Status(StrEnum):
    """States of a schedule (and of its rows)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED_OPTED_OUT = "skipped-opted-out"
    #: The outbound policy refused the destination at send time (`ErrorMessage` says why:
    #: ``country not allowed``, ``one of our numbers``, ...).
    SKIPPED = "skipped"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    #: Due rows only: the schedule moved to another due row (shown as pending).
    MOVED = "moved"


FINAL = frozenset(
    {
        Status.SENT,
        Status.FAILED,
        Status.SKIPPED_OPTED_OUT,
        Status.SKIPPED,
        Status.EXPIRED,
        Status.CANCELLED,
    }
)

#: Allowed transitions of a schedule's state (see the module doc).
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.CLAIMED, Status.CANCELLED}),
    Status.CLAIMED: frozenset(
        {
            Status.CLAIMED,
            Status.PENDING,
            Status.SENT,
            Status.FAILED,
            Status.SKIPPED_OPTED_OUT,
            Status.SKIPPED,
            Status.EXPIRED,
        }
    ),
    **{status: frozenset() for status in FINAL},
}


def can_transition(current: Status | str, target: Status | str) -> bool:
    """Whether a schedule may go from `current` to `target`."""
    try:
        return Status(target) in TRANSITIONS.get(Status(current), frozenset())
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    """`moment` in UTC (aware datetimes only)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: schedules only handle aware times")
    return moment.astimezone(UTC)


def stamp(moment: datetime) -> str:
    """A sortable UTC time with milliseconds: ``20260330T070000123Z``."""
    m = utc(moment)
    return m.strftime("%Y%m%dT%H%M%S") + f"{m.microsecond // 1000:03d}Z"


def due_partition(moment: datetime) -> str:
    """The due-row partition of a due time: its UTC minute."""
    return DUE_PREFIX + utc(moment).strftime("%Y%m%d%H%M")


def due_row_key(moment: datetime, schedule_id: str) -> str:
    """The due-row RowKey: sorts by due time within the minute, unique by id."""
    return f"{stamp(moment)}-{schedule_id}"


def due_keys(moment: datetime, schedule_id: str) -> tuple[str, str]:
    """(PartitionKey, RowKey) of the due row of `schedule_id` due at `moment`."""
    return due_partition(moment), due_row_key(moment, schedule_id)


def done_partition(send_at: datetime) -> str:
    """The done-row partition (``Home``) of a schedule: the UTC day of its send time."""
    return DONE_PREFIX + utc(send_at).strftime("%Y%m%d")


def due_queries(now: datetime) -> list[tuple[str, dict[str, str]]]:
    """The OData filters (with parameters) that select every due row due at or before `now`.

    The first covers the minutes already over, the second the current minute up to `now`.
    """
    current = due_partition(now)
    return [
        (
            "PartitionKey ge @low and PartitionKey lt @current",
            {"low": DUE_PREFIX, "current": current},
        ),
        (
            "PartitionKey eq @current and RowKey le @high",
            {"current": current, "high": stamp(now) + "~"},
        ),
    ]


def occurrence_id(root: str, occurrence: datetime) -> str:
    """The deterministic id of a recurrence's occurrence at `occurrence`."""
    return f"{root}{OCCURRENCE_SEPARATOR}{utc(occurrence):%Y%m%dT%H%MZ}"


# --------------------------------------------------------------------------------------------
# Create requests
# --------------------------------------------------------------------------------------------


class ScheduleInputError(ValueError):
    """A create request is invalid: `field` names the culprit (None: the body as a whole)."""

    def __init__(self, field: str | None, message: str, code: str = "invalid_field") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


@dataclass(frozen=True)
class NewSchedule:
    """A validated create request (`sendAt` in UTC)."""

    id: str
    to: str
    body: str
    send_at: datetime
    time_zone: str | None = None
    recurrence: str | None = None
    #: The line it goes out for (its number is the sender, its conversation the record's):
    #: set by the app for the texts it schedules itself; None: the app's default sender.
    line: str | None = None
    #: What it is for (`switchboard.outbound.purposes.Purpose`), set by the app for its own.
    purpose: str | None = None
    #: The replies it takes (`switchboard.schedules.replies`; empty: none).
    replies: tuple[Choice, ...] = ()
    #: Until when they are taken (None: the end of the day after sending, `reply_deadline`).
    reply_until: datetime | None = None

    def fingerprint(self) -> str:
        """What makes two creates "the same": every field, times compared as instants."""
        fields: dict[str, Any] = {
            "to": self.to,
            "body": self.body,
            "sendAt": stamp(self.send_at),
            "timeZone": self.time_zone,
            "recurrence": self.recurrence,
        }
        # Only when set: the fingerprints of schedules made before lines had senders (and
        # reminders replies) hold.
        optional = (
            ("line", self.line),
            ("purpose", self.purpose),
            ("replies", reply_rules.stored(self.replies) if self.replies else None),
            ("replyUntil", stamp(self.reply_until) if self.reply_until else None),
        )
        fields.update({k: v for k, v in optional if v})
        canonical = json.dumps(
            fields,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def new_schedule_id() -> str:
    """A fresh id for a schedule created without one."""
    return "sch-" + uuid.uuid4().hex


def validate_id(value: object) -> str:
    """A schedule id: 1-128 printable ASCII characters, usable as a table key, not reserved."""
    if not isinstance(value, str) or not value:
        raise ScheduleInputError("id", "id must be a non-empty string")
    if len(value) > MAX_ID_LENGTH or not _PRINTABLE.fullmatch(value):
        raise ScheduleInputError(
            "id", f"id must be 1 to {MAX_ID_LENGTH} printable characters without spaces"
        )
    if not records.is_valid_key(value):
        raise ScheduleInputError("id", "id may not contain / \\ # or ?")
    if OCCURRENCE_SEPARATOR in value or value.lower().startswith(RESERVED_ID_PREFIXES):
        raise ScheduleInputError("id", RESERVED_ID_MESSAGE)
    return value


#: The years a schedule's times may name.
FIRST_YEAR, LAST_YEAR = 1970, 2199


def parse_send_at(value: object) -> datetime:
    """ISO-8601 with a UTC offset (``2026-03-30T09:00:00+02:00`` or ``...Z``), as UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ScheduleInputError("sendAt", "sendAt is required (ISO-8601 with a UTC offset)")
    raw = value.strip()
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in "Zz" else raw)
    except ValueError:
        raise ScheduleInputError(
            "sendAt", "sendAt must be an ISO-8601 date and time such as 2026-03-30T09:00:00+02:00"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ScheduleInputError("sendAt", "sendAt must include a UTC offset (Z or +hh:mm)")
    try:
        utc: datetime | None = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-23:59 is past datetime's last day in UTC
        utc = None
    # The years a line's times take too: a day or an occurrence after it is always a date.
    if utc is None or not FIRST_YEAR <= utc.year <= LAST_YEAR:
        raise ScheduleInputError(
            "sendAt", f"sendAt must be between the years {FIRST_YEAR} and {LAST_YEAR}"
        )
    return utc


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone called `name`, or None."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def parse_time_zone(value: object) -> str | None:
    """An optional IANA zone name (``Europe/Paris``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not is_valid_unicode(value) or zone(value.strip()) is None:
        raise ScheduleInputError(
            "timeZone", "timeZone must be an IANA time zone such as Europe/Paris"
        )
    return value.strip()


def parse_recurrence(value: object) -> str | None:
    """An optional five-field cron expression (minute hour day month weekday) or a macro
    such as ``@daily``; returned with normalised spacing."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ScheduleInputError("recurrence", "recurrence must be a cron expression")
    expression = " ".join(value.split())
    fields = expression.split(" ")
    macro = expression.lower() in _CRON_MACROS
    if not macro and len(fields) != 5:
        raise ScheduleInputError(
            "recurrence",
            "recurrence must be a five-field cron expression (minute hour day month weekday), "
            "e.g. '0 9 * * *'",
        )
    from croniter import croniter  # imported on use: only creation and the timer need it

    if not croniter.is_valid(expression.lower() if macro else expression):
        raise ScheduleInputError("recurrence", "recurrence is not a valid cron expression")
    return expression.lower() if macro else expression


def parse_new_schedule(
    data: object,
    *,
    now: datetime,
    max_lateness: timedelta,
    new_id: Callable[[], str] = new_schedule_id,
) -> NewSchedule:
    """Validate a `POST /api/sms/schedules` body; ScheduleInputError names the field."""
    if not isinstance(data, dict):
        raise ScheduleInputError(None, "the body must be a JSON object")
    for name in data:
        if name not in CREATE_FIELDS:
            raise ScheduleInputError(str(name), f"unknown field {name!r}", "unknown_field")
    schedule_id = validate_id(data["id"]) if data.get("id") is not None else new_id()
    to = data.get("to")
    if not isinstance(to, str) or not to.strip():
        raise ScheduleInputError("to", "to is required (an E.164 phone number)")
    if not is_e164(to.strip()):
        raise ScheduleInputError("to", "to must be an E.164 phone number such as +15558675310")
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ScheduleInputError("body", "body is required (the text to send)")
    if not is_valid_unicode(body):
        raise ScheduleInputError("body", "body must be valid Unicode text")
    if len(body) > MAX_BODY_CHARS:
        raise ScheduleInputError("body", f"body must be at most {MAX_BODY_CHARS} characters")
    send_at = parse_send_at(data.get("sendAt"))
    if now - send_at > max_lateness:
        raise ScheduleInputError(
            "sendAt", "sendAt is further in the past than SMS_MAX_LATENESS allows"
        )
    time_zone = parse_time_zone(data.get("timeZone"))
    recurrence = parse_recurrence(data.get("recurrence"))
    choices = parse_replies(data.get("replies"))
    reply_until = parse_reply_until(
        data.get("replyUntil"), send_at=send_at, replies=choices, recurrence=recurrence
    )
    return NewSchedule(
        id=schedule_id,
        to=to.strip(),
        body=body,
        send_at=send_at,
        time_zone=time_zone,
        recurrence=recurrence,
        replies=choices,
        reply_until=reply_until,
    )


def parse_replies(value: object) -> tuple[Choice, ...]:
    """Optional replies (`switchboard.schedules.replies`); the error names the field by its
    JSON pointer (``/replies/C/means``)."""
    if value is None:
        return ()
    try:
        return reply_rules.parse_replies(value)
    except reply_rules.RepliesError as exc:
        raise ScheduleInputError(exc.field, exc.message) from None


def parse_reply_until(
    value: object, *, send_at: datetime, replies: tuple[Choice, ...], recurrence: str | None
) -> datetime | None:
    """An optional `replyUntil` (ISO-8601 with an offset): only with replies, later than
    `sendAt`, not with a recurrence (each occurrence takes replies until the end of the day
    after it is sent)."""
    if value is None:
        return None
    if not replies:
        raise ScheduleInputError("replyUntil", "replyUntil needs replies")
    if recurrence is not None:
        raise ScheduleInputError(
            "replyUntil",
            "replyUntil cannot be combined with recurrence: each occurrence takes replies "
            "until the end of the day after it is sent",
        )
    try:
        until = parse_send_at(value)
    except ScheduleInputError as exc:
        raise ScheduleInputError(
            "replyUntil", exc.message.replace("sendAt", "replyUntil")
        ) from None
    if until <= send_at:
        raise ScheduleInputError("replyUntil", "replyUntil must be later than sendAt")
    return until


def reply_deadline(sent_at: datetime, to: str, time_zone: str | None) -> datetime:
    """Until when a reminder sent at `sent_at` takes replies by default: the end of the day
    after sending (midnight that ends it, exclusive), in the schedule's zone (else the number's,
    when it has one, else UTC)."""
    tz = recurrence_zone(to, time_zone)
    day = utc(sent_at).astimezone(tz).date() + timedelta(days=2)
    return local_wall_time_to_utc(day, time(0), tz)


def replies_until(row: Mapping[str, Any], sent_at: datetime) -> datetime:
    """Until when the schedule whose row is `row`, sent at `sent_at`, takes replies: its
    `replyUntil`, else `reply_deadline`."""
    explicit = row.get("ReplyUntil")
    if isinstance(explicit, datetime):
        return utc(explicit)
    return reply_deadline(sent_at, str(row.get("To") or ""), row.get("TimeZone") or None)


# --------------------------------------------------------------------------------------------
# Time zones and quiet hours
# --------------------------------------------------------------------------------------------


def recipient_zones(to: str, time_zone: str | None) -> tuple[ZoneInfo, ...]:
    """The zones the recipient may be in: the schedule's, else phonenumbers' for the number
    (possibly several), else UTC."""
    if time_zone:
        explicit = zone(time_zone)
        if explicit is not None:
            return (explicit,)
    zones = tuple(z for z in (zone(name) for name in time_zones_for(to)) if z is not None)
    return zones or (ZoneInfo("UTC"),)


def local_wall_time_to_utc(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time.

    A time skipped by a DST change (02:30 on a spring-forward night) maps to the first instant
    after the gap (03:00), when the local clock is past it; a repeated time (autumn) maps to its
    first occurrence.
    """
    wall = datetime.combine(day, clock)
    instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    # In a gap: fold=1 gives an instant before the change, fold=0 one after it. The local
    # clock only moves forward in between, so bisect for the first instant it reads >= wall.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = instant
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    # Zone transitions fall on whole seconds: the floor of `high` is still past the gap.
    floor = high.replace(microsecond=0)
    return floor if floor.astimezone(tz).replace(tzinfo=None) >= wall else high


def _quiet_end(moment: datetime, tz: ZoneInfo, quiet: QuietHours) -> datetime:
    """When the quiet window containing `moment` (local to `tz`) ends, in UTC."""
    local = moment.astimezone(tz)
    day = local.date()
    # Past the start of a window that wraps midnight (22:00 in 21:00-08:00): it ends tomorrow.
    if local.time().replace(tzinfo=None) >= quiet.end:
        day += timedelta(days=1)
    end = local_wall_time_to_utc(day, quiet.end, tz)
    # DST can make the computed end not later than `moment` (a gap swallowing the end): then
    # the next day's end is the answer.
    return end if end > moment else local_wall_time_to_utc(day + timedelta(days=1), quiet.end, tz)


def in_quiet_hours(moment: datetime, tz: ZoneInfo, quiet: QuietHours) -> bool:
    """Whether `moment` falls in the quiet hours of zone `tz`."""
    return quiet.contains(moment.astimezone(tz).time().replace(tzinfo=None))


def quiet_until(
    now: datetime, zones: Sequence[ZoneInfo], quiet: QuietHours | None
) -> datetime | None:
    """None when a text may go out now; else the earliest moment when it may (UTC).

    With several zones the most conservative answer wins: the first moment that is outside the
    quiet hours in every zone. When no such moment exists (a number spread over zones whose
    quiet hours cover the whole day, e.g. a toll-free +1 number), the moment within the next
    day with the fewest zones in quiet hours (the earliest of those) is chosen.
    """
    if quiet is None or not zones:
        return None
    now = utc(now)
    moment = now
    horizon = now + timedelta(days=2)
    # Each step jumps to the latest end among the zones quiet at `moment`; nothing between
    # `moment` and that end is quiet nowhere. Ends lie strictly ahead (`_quiet_end`) and a
    # zone has at most three within two days, so the walk stops after at most 3 * zones + 1
    # steps: no step count to get wrong, however DST moves the windows.
    while moment <= horizon:
        quiet_zones = [z for z in zones if in_quiet_hours(moment, z, quiet)]
        if not quiet_zones:
            return None if moment == now else moment
        moment = max(_quiet_end(moment, z, quiet) for z in quiet_zones)
    return _least_quiet_moment(now, zones, quiet)


def _least_quiet_moment(
    now: datetime, zones: Sequence[ZoneInfo], quiet: QuietHours
) -> datetime | None:
    candidates = {now}
    for z in zones:
        local_day = now.astimezone(z).date()
        for offset in range(3):
            end = local_wall_time_to_utc(local_day + timedelta(days=offset), quiet.end, z)
            if now < end <= now + timedelta(days=1):
                candidates.add(end)
    best = min(
        sorted(candidates),
        key=lambda m: sum(1 for z in zones if in_quiet_hours(m, z, quiet)),
    )
    return None if best == now else best


# --------------------------------------------------------------------------------------------
# Expiry, backoff and the decision of a run
# --------------------------------------------------------------------------------------------


def is_expired(intended_at: datetime, now: datetime, max_lateness: timedelta) -> bool:
    """Whether a schedule meant for `intended_at` is overdue by more than `max_lateness`."""
    return utc(now) - utc(intended_at) > max_lateness


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures: retry after `base` * 2^(attempt-1), at most `cap`, `max_attempts`
    attempts in all; `jitter` spreads retries by up to that fraction (deterministic per id)."""

    base: timedelta = timedelta(seconds=60)
    cap: timedelta = timedelta(minutes=30)
    max_attempts: int = 8
    jitter: float = 0.2

    def delay(self, attempt: int, key: str = "") -> timedelta:
        """The wait after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        exponent = min(attempt - 1, 40)
        raw: timedelta = min(self.cap, self.base * (1 << exponent))
        if not self.jitter or not key:
            return raw
        digest = hashlib.sha256(f"{key}#{attempt}".encode()).digest()
        fraction = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF  # in [0, 1]
        jittered: timedelta = raw * (1 - self.jitter * fraction)
        return jittered

    def next_attempt(self, attempts: int, now: datetime, key: str = "") -> datetime | None:
        """When to try again after `attempts` failed attempts; None when it is time to give up."""
        if attempts >= self.max_attempts:
            return None
        return utc(now) + self.delay(attempts, key)


class Action(StrEnum):
    """What a run does with a claimed schedule."""

    SEND = "send"
    DEFER = "defer"
    EXPIRE = "expire"


@dataclass(frozen=True)
class Decision:
    """The action, and for DEFER the moment to move the schedule to."""

    action: Action
    until: datetime | None = None


def decide(
    *,
    now: datetime,
    intended_at: datetime,
    to: str,
    time_zone: str | None,
    max_lateness: timedelta,
    quiet: QuietHours | None,
) -> Decision:
    """Send now, defer to the end of the recipient's quiet hours, or expire."""
    if is_expired(intended_at, now, max_lateness):
        return Decision(Action.EXPIRE)
    if quiet is None:
        return Decision(Action.SEND)
    until = quiet_until(now, recipient_zones(to, time_zone), quiet)
    if until is not None:
        return Decision(Action.DEFER, until)
    return Decision(Action.SEND)


# --------------------------------------------------------------------------------------------
# Recurrence
# --------------------------------------------------------------------------------------------


def recurrence_zone(to: str, time_zone: str | None) -> ZoneInfo:
    """The zone a recurrence is evaluated in: the schedule's, else the number's when it has
    exactly one, else UTC."""
    if time_zone and zone(time_zone) is not None:
        return zone(time_zone) or ZoneInfo("UTC")
    zones = recipient_zones(to, None)
    return zones[0] if len(zones) == 1 else ZoneInfo("UTC")


#: A recurrence's next occurrence is among this many wall-clock minutes after `after`'s: a
#: stretch repeated by a backward change and already passed once skips at most a day of them
#: (the largest backward change a zone ever made, Samoa's in 1892), then comes a new one.
_WALL_TIMES_TRIED = 24 * 60 + 1


def next_occurrence(expression: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first time strictly after `after` (UTC) at which the cron `expression` fires in `tz`.

    The expression is matched against local wall-clock times, so "0 9 * * *" in Europe/Paris is
    09:00 Paris time in winter and in summer. A wall time skipped by a spring-forward change
    fires once, when the gap ends (as cron does); a wall time repeated in autumn fires once
    (the first).
    """
    from croniter import croniter  # imported on use (cold start)

    after = utc(after)
    local_after = after.astimezone(tz).replace(tzinfo=None)
    iterator = croniter(expression, local_after)
    # Wall times whose first pass is not after `after` were passed already (`after` is in the
    # second pass of a repeated stretch): skipped, as many as the stretch holds (an
    # every-minute expression across Antarctica/Troll's two-hour autumn change skips 119).
    for _ in range(_WALL_TIMES_TRIED):
        candidate: datetime = iterator.get_next(datetime)
        instant = local_wall_time_to_utc(candidate.date(), candidate.time(), tz)
        if instant > after:
            return instant
    raise ValueError(f"no occurrence of {expression!r} after {after.isoformat()}")


# --------------------------------------------------------------------------------------------
# Entities
# --------------------------------------------------------------------------------------------

#: Properties every row carries about the schedule itself.
SPEC_PROPERTIES = (
    "Id",
    "To",
    "Body",
    "SendAt",
    "TimeZone",
    "Recurrence",
    "Root",
    "Previous",
    "Home",
    "Line",
    "Purpose",
    "Replies",
    "ReplyUntil",
)


def spec_properties(
    schedule: NewSchedule, *, root: str | None = None, previous: str | None = None
) -> dict[str, Any]:
    """The properties describing a schedule (shared by its id, due and done rows)."""
    props: dict[str, Any] = {
        "Id": schedule.id,
        "To": schedule.to,
        "Body": schedule.body,
        "SendAt": schedule.send_at,
        "Root": root or schedule.id,
        "Home": done_partition(schedule.send_at),
    }
    if schedule.time_zone:
        props["TimeZone"] = schedule.time_zone
    if schedule.recurrence:
        props["Recurrence"] = schedule.recurrence
    if schedule.line:
        props["Line"] = schedule.line
    if schedule.purpose:
        props["Purpose"] = schedule.purpose
    if schedule.replies:
        props["Replies"] = reply_rules.stored(schedule.replies)
    if schedule.reply_until:
        props["ReplyUntil"] = utc(schedule.reply_until)
    if previous:
        props["Previous"] = previous
    return props


def copy_spec(row: Mapping[str, Any]) -> dict[str, Any]:
    """The schedule-describing properties of any of its rows."""
    return {k: row[k] for k in SPEC_PROPERTIES if row.get(k) not in (None, "")}


def new_due_entity(
    spec: Mapping[str, Any],
    due_at: datetime,
    *,
    intended_at: datetime,
    created_at: datetime,
    attempts: int = 0,
    tentative: bool = False,
    deferrals: int = 0,
    last_error: tuple[int | None, str | None] | None = None,
) -> dict[str, Any]:
    """A pending due row for `spec` (from `spec_properties` or `copy_spec`)."""
    pk, rk = due_keys(due_at, str(spec["Id"]))
    entity: dict[str, Any] = {
        "PartitionKey": pk,
        "RowKey": rk,
        **spec,
        "Status": Status.PENDING.value,
        "DueAt": utc(due_at),
        "IntendedAt": utc(intended_at),
        "Attempts": attempts,
        "Deferrals": deferrals,
        "Tentative": tentative,
        "CreatedAt": utc(created_at),
    }
    if last_error is not None:
        code, message = last_error
        if code is not None:
            entity["LastErrorCode"] = code
        if message:
            entity["LastErrorMessage"] = message[:1000]
    return entity


def id_entity(
    schedule: NewSchedule,
    due: Mapping[str, Any],
    *,
    created_at: datetime,
    root: str | None = None,
    previous: str | None = None,
) -> dict[str, Any]:
    """The id row of a schedule whose first due row is `due`."""
    return {
        "PartitionKey": schedule.id,
        "RowKey": ID_ROW,
        **spec_properties(schedule, root=root, previous=previous),
        "Fingerprint": schedule.fingerprint(),
        "DuePk": due["PartitionKey"],
        "DueRk": due["RowKey"],
        "CreatedAt": utc(created_at),
    }


@dataclass(frozen=True)
class Outcome:
    """How a schedule ended (what its done row records)."""

    status: Status
    message_sid: str | None = None
    from_: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    sent_at: datetime | None = None


def outcome_properties(outcome: Outcome) -> dict[str, Any]:
    """An outcome as due-row properties (a recurring schedule records it before creating its
    next occurrence, so a run that recovers the row finishes it without asking Twilio)."""
    props: dict[str, Any] = {"OutcomeStatus": outcome.status.value}
    optional = {
        "OutcomeSid": outcome.message_sid,
        "OutcomeFrom": outcome.from_,
        "OutcomeErrorCode": outcome.error_code,
        "OutcomeErrorMessage": (outcome.error_message or "")[:1000] or None,
        "OutcomeSentAt": outcome.sent_at,
    }
    props.update({k: v for k, v in optional.items() if v is not None})
    return props


def outcome_from_row(row: Mapping[str, Any]) -> Outcome | None:
    """The outcome recorded on a due row by `outcome_properties`, if any."""
    raw = row.get("OutcomeStatus")
    if not raw:
        return None
    try:
        status = Status(str(raw))
    except ValueError:
        return None
    if status not in FINAL:
        return None
    sent_at = row.get("OutcomeSentAt")
    code = row.get("OutcomeErrorCode")
    return Outcome(
        status=status,
        message_sid=row.get("OutcomeSid") or None,
        from_=row.get("OutcomeFrom") or None,
        error_code=int(code) if isinstance(code, int) else None,
        error_message=row.get("OutcomeErrorMessage") or None,
        sent_at=sent_at if isinstance(sent_at, datetime) else None,
    )


def done_entity(
    row: Mapping[str, Any],
    outcome: Outcome,
    *,
    finished_at: datetime,
    next_id: str | None = None,
) -> dict[str, Any]:
    """The done row of the schedule whose due row is `row`: how it ended, nothing else.

    What the schedule is (to, body, sendAt, zone, recurrence, root, previous) stays on its id
    row, which every reader reads first: the done row carries only what is new.
    """
    if outcome.status not in FINAL:
        raise ValueError(f"{outcome.status} is not a final state")
    entity: dict[str, Any] = {
        "PartitionKey": row["Home"],
        "RowKey": row["Id"],
        "Status": outcome.status.value,
        "Attempts": int(row.get("Attempts") or 0),
        "FinishedAt": utc(finished_at),
    }
    if row.get("ClaimId"):
        entity["ClaimId"] = row["ClaimId"]
    optional = {
        "MessageSid": outcome.message_sid,
        "From": outcome.from_,
        "ErrorCode": outcome.error_code,
        "ErrorMessage": (outcome.error_message or "")[:1000] or None,
        "SentAt": outcome.sent_at,
        "Next": next_id,
    }
    entity.update({k: v for k, v in optional.items() if v is not None})
    return entity


def claim_changes(
    row: Mapping[str, Any], *, claim_id: str, now: datetime, lease: timedelta
) -> dict[str, Any]:
    """The properties a claim merges into a due row.

    ``SendWindowStart`` is when the first claim of this attempt began (`send_window_start`):
    a first claim's is its own ``ClaimedAt`` and is not written again; a re-claim of an expired
    claim records the first one's, so the Twilio check covers every earlier claimant's sends.
    ``Tentative`` is cleared only on a row that has it (a verified tentative row).
    """
    changes: dict[str, Any] = {
        "PartitionKey": row["PartitionKey"],
        "RowKey": row["RowKey"],
        "Status": Status.CLAIMED.value,
        "ClaimId": claim_id,
        "ClaimedAt": utc(now),
        "LeaseUntil": utc(now) + lease,
        "ClaimCount": int(row.get("ClaimCount") or 0) + 1,
    }
    if row.get("Status") == Status.CLAIMED.value:
        changes["SendWindowStart"] = send_window_start(row) or utc(now)
    if row.get("Tentative"):
        changes["Tentative"] = False
    return changes


def send_window_start(row: Mapping[str, Any]) -> datetime | None:
    """When the first claim of a claimed row's current attempt began (see `claim_changes`)."""
    window = row.get("SendWindowStart") or row.get("ClaimedAt")
    return window if isinstance(window, datetime) else None


class RowKind(StrEnum):
    """What a run makes of a due row it read."""

    READY = "ready"  # pending, committed: claim it
    TENTATIVE = "tentative"  # pending but written by a create or recovery step: verify first
    CLAIMED_LIVE = "claimed-live"  # another run holds it
    CLAIMED_EXPIRED = "claimed-expired"  # its claimant is gone: re-claim, ask Twilio first
    MOVED = "moved"  # finish the move
    CANCELLED = "cancelled"  # finish the cancellation
    NOT_DUE = "not-due"
    UNKNOWN = "unknown"


def classify_row(row: Mapping[str, Any], now: datetime) -> RowKind:
    """The kind of a due row at `now`."""
    status = row.get("Status")
    due_at = row.get("DueAt")
    if status == Status.PENDING.value:
        if isinstance(due_at, datetime) and utc(due_at) > utc(now):
            return RowKind.NOT_DUE
        return RowKind.TENTATIVE if row.get("Tentative") else RowKind.READY
    if status == Status.CLAIMED.value:
        lease = row.get("LeaseUntil")
        if isinstance(lease, datetime) and utc(lease) > utc(now):
            return RowKind.CLAIMED_LIVE
        return RowKind.CLAIMED_EXPIRED
    if status == Status.MOVED.value:
        return RowKind.MOVED
    if status == Status.CANCELLED.value:
        return RowKind.CANCELLED
    return RowKind.UNKNOWN


class TentativeVerdict(StrEnum):
    """What to do with a tentative due row."""

    SEND = "send"  # the id row points at it and it never finished: a real schedule
    ORPHAN = "orphan"  # delete it without sending
    WAIT = "wait"  # a create may still be writing its id row: leave it


def verify_tentative(
    row: Mapping[str, Any],
    id_row: Mapping[str, Any] | None,
    done_row: Mapping[str, Any] | None,
    now: datetime,
) -> TentativeVerdict:
    """Decide a tentative row's fate from its id row and done row (see the module doc)."""
    if done_row is not None:
        return TentativeVerdict.ORPHAN
    if id_row is None:
        created = row.get("CreatedAt")
        if isinstance(created, datetime) and utc(now) - utc(created) < TENTATIVE_GRACE:
            return TentativeVerdict.WAIT
        return TentativeVerdict.ORPHAN
    if (id_row.get("DuePk"), id_row.get("DueRk")) != (row["PartitionKey"], row["RowKey"]):
        return TentativeVerdict.ORPHAN
    return TentativeVerdict.SEND


# --------------------------------------------------------------------------------------------
# The operator's view
# --------------------------------------------------------------------------------------------

#: The first PartitionKey after every due row (``due-`` + digits sort before ``due.``).
DUE_END = "due."
MAX_LIST = 100


def pending_filter() -> tuple[str, dict[str, str]]:
    """The query of the schedules still to send, in the order they are due: every due row
    from `after` (a PartitionKey) on. Reads the pending schedules only, never the finished."""
    return "PartitionKey ge @low and PartitionKey lt @high", {"high": DUE_END}


def listed(row: Mapping[str, Any]) -> bool:
    """Whether a due row stands for its schedule in a listing (not moved, not cancelled)."""
    return row.get("Status") not in (Status.MOVED.value, Status.CANCELLED.value)


def encode_list_cursor(row: Mapping[str, Any]) -> str:
    """The opaque `nextCursor` after a due row."""
    import base64

    raw = f"{row['PartitionKey']}|{row['RowKey']}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_list_cursor(raw: str) -> tuple[str, str]:
    """(PartitionKey, RowKey) a cursor holds; ScheduleInputError naming `cursor` otherwise."""
    import base64
    import binascii

    try:
        text = base64.urlsafe_b64decode(raw.strip().encode("ascii")).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        text = ""
    pk, sep, rk = text.partition("|")
    if not sep or not pk.startswith(DUE_PREFIX) or not rk:
        raise ScheduleInputError("cursor", "is not a cursor this listing returned")
    return pk, rk


def pending_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A pending schedule, from its due row alone (which carries what the schedule is)."""
    return to_json({**row, "PartitionKey": row.get("Id")}, row)


def _iso(value: Any) -> Any:
    return records.iso(value) if isinstance(value, datetime) else value


def _replies_json(id_row: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """`replies` (with the answer each sends), `replyUntil` (given, or once sent the default),
    `response` and `respondedAt` of a reminder; nothing for a schedule without replies."""
    choices = reply_rules.from_stored(id_row.get("Replies"))
    if not choices:
        return {}
    shown = reply_rules.as_json(choices)
    for choice in choices:
        shown[choice.key]["answer"] = choice.answer or wording.reminder_answer(choice.means)
    sent_at = state.get("SentAt")
    until = id_row.get("ReplyUntil")
    if not isinstance(until, datetime) and isinstance(sent_at, datetime):
        until = replies_until(id_row, sent_at)
    return {
        "replies": shown,
        "replyUntil": _iso(until) if isinstance(until, datetime) else None,
        "response": id_row.get("Response") or None,
        "respondedAt": _iso(id_row.get("RespondedAt")) if id_row.get("RespondedAt") else None,
    }


def to_json(
    id_row: Mapping[str, Any],
    state_row: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A schedule as the operator API shows it: the id row plus its done or due row."""
    state = state_row or {}
    status = str(state.get("Status") or Status.PENDING.value)
    if status == Status.MOVED.value:
        status = Status.PENDING.value
    result: dict[str, Any] = {
        "id": id_row["PartitionKey"],
        "status": status,
        "to": id_row.get("To"),
        "body": id_row.get("Body"),
        "sendAt": _iso(id_row.get("SendAt")),
    }
    optional: dict[str, Any] = {
        "timeZone": id_row.get("TimeZone"),
        "recurrence": id_row.get("Recurrence"),
        "line": id_row.get("Line"),
        "purpose": id_row.get("Purpose"),
        "root": id_row.get("Root") if id_row.get("Root") != id_row["PartitionKey"] else None,
        "previous": id_row.get("Previous"),
        "next": state.get("Next"),
        "sid": state.get("MessageSid"),
        "from": state.get("From"),
        "attempts": int(state.get("Attempts") or 0) if state else 0,
    }
    if status in (Status.PENDING.value, Status.CLAIMED.value) and state:
        due_at = state.get("DueAt")
        send_at = id_row.get("SendAt")
        if isinstance(due_at, datetime) and (
            not isinstance(send_at, datetime) or utc(due_at) != utc(send_at)
        ):
            optional["nextAttemptAt"] = _iso(due_at)
    if state.get("SentAt"):
        optional["sentAt"] = _iso(state.get("SentAt"))
    optional.update(_replies_json(id_row, state))
    result.update({k: v for k, v in optional.items() if v is not None})
    created = id_row.get("CreatedAt")
    result["createdAt"] = _iso(created)
    updated = state.get("FinishedAt") or state.get("ClaimedAt") or state.get("CreatedAt") or created
    result["updatedAt"] = _iso(updated)
    code = state.get("ErrorCode")
    message = state.get("ErrorMessage")
    if code is None and status == Status.PENDING.value:
        code, message = state.get("LastErrorCode"), state.get("LastErrorMessage")
        if code is not None or message:
            result["lastError"] = {"code": code, "message": message or ""}
    elif code is not None or message:
        result["error"] = {"code": code, "message": message or ""}
    return result
