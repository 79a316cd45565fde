"""A line's budget of automatic texts: what an outsider can make it send, and no more (pure).

Automatic texts (every text nobody at the business chose to send: auto-replies, HELP answers,
forwards, text-backs, voicemail texts, and what later capabilities add) count against two
limits per line: `AUTOMATIC_SMS_DAILY_LIMIT` per local day of the line (default 100) and
`AUTOMATIC_SMS_BURST_LIMIT` per 10 minutes (default 20, a sliding window: the time of each of
its last texts is kept). The text that would pass either limit *trips* the line: its automatic
texts pause until the line's next local day (or until the operator resumes it, which gives it
a fresh allowance for the rest of the day), each one skipped meanwhile is counted, and the
charge that tripped it says so (`Charge.tripped`): its caller sends the owner the one notice.
Twilio's fraud and geo-permission refusals on any send trip it too (`trip`).

Voicemail e-mails have their own ceiling per line and local day, `VOICEMAIL_EMAIL_DAILY_LIMIT`
(default 50): past it an e-mail is skipped (and counted), nothing pauses. So do the texts a
line relays to its own people (`sms.relay`), `SMS_RELAY_DAILY_LIMIT` per local day (default
500, each person's copy counted): relaying the business's customers to its staff is the product
working, so relays never count against the automatic texts nor pause with them; an outsider can
still make them, so they have a ceiling of their own (`charge_relays`), past which a relay is
skipped and counted (the text stays in its conversation), nothing pauses.

A charge carries the key of its text (the cause's SID and the recipient): a key already among
the line's recent texts is a retry, allowed and not counted again. Operator sends and schedules
the operator made are never charged (they are not automatic); the owner's notice never is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchboard.settings import Settings

BURST_WINDOW = timedelta(minutes=10)
DAILY_LIMIT = "daily limit"
BURST_LIMIT = "burst limit"
EMAIL_LIMIT = "daily e-mail limit"
#: E-mail keys a row remembers (retries of a voicemail's callbacks come within minutes).
EMAIL_MEMORY = 64
RELAY_LIMIT = "daily relay limit"
#: Relay keys a row remembers (a webhook Twilio retries comes within seconds).
RELAY_MEMORY = 32


@dataclass(frozen=True)
class Limits:
    """The line limits of the settings."""

    daily: int = 100
    burst: int = 20
    emails: int = 50
    relays: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """AUTOMATIC_SMS_DAILY_LIMIT, AUTOMATIC_SMS_BURST_LIMIT, VOICEMAIL_EMAIL_DAILY_LIMIT,
        SMS_RELAY_DAILY_LIMIT."""
        return cls(
            settings.automatic_sms_daily_limit,
            settings.automatic_sms_burst_limit,
            settings.voicemail_email_daily_limit,
            settings.sms_relay_daily_limit,
        )


@dataclass(frozen=True)
class Budget:
    """What one line has spent on its local day `day` (stored: `switchboard.outbound.store`)."""

    #: The line's local date these counts are of (None: nothing counted yet).
    day: date | None = None
    #: Automatic texts counted that day.
    sent: int = 0
    #: (UTC epoch seconds, key) of the latest texts, oldest first: the burst window.
    recent: tuple[tuple[int, str], ...] = ()
    #: Automatic texts skipped that day because the line was paused.
    skipped: int = 0
    emails: int = 0
    email_keys: tuple[str, ...] = ()
    emails_skipped: int = 0
    #: Texts relayed to the line's people that day, the keys of the latest, and those skipped.
    relays: int = 0
    relay_keys: tuple[str, ...] = ()
    relays_skipped: int = 0
    #: Why the line is paused (None: it is not): `DAILY_LIMIT`, `BURST_LIMIT`, a Twilio error.
    paused: str | None = None
    paused_at: datetime | None = None
    #: The line's zone when last charged (for reports).
    time_zone: str = "UTC"

    @property
    def keys(self) -> frozenset[str]:
        """The keys of the recent texts."""
        return frozenset(key for _, key in self.recent)


@dataclass(frozen=True)
class Charge:
    """The answer to one charge: allowed or why not, the budget to store, and whether this
    charge paused the line (then its caller sends the owner's notice)."""

    allowed: bool
    reason: str | None
    budget: Budget
    tripped: bool = False
    repeat: bool = False


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo:
    """The line's zone (UTC when unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day(now: datetime, time_zone: str | None) -> date:
    """The line's local date at `now`."""
    return now.astimezone(zone(time_zone)).date()


def resumes_at(budget: Budget, time_zone: str | None) -> datetime | None:
    """When a paused line resumes by itself: the start of its next local day (None: not paused;
    `time_zone` None: the zone the budget was kept in, as for `rolled`)."""
    if budget.paused is None or budget.day is None:
        return None
    tz = zone(time_zone or budget.time_zone)
    midnight = datetime.combine(budget.day + timedelta(days=1), time(0), tzinfo=tz)
    return midnight.astimezone(UTC)


def rolled(budget: Budget, now: datetime, time_zone: str | None) -> Budget:
    """The budget as of `now`: a new local day starts from zero and unpaused (the burst
    window's recent texts carry over: ten minutes do not stop at midnight).

    `time_zone` is the line's, from its document; None when the caller knows only the line's
    number (a Twilio error reported on a send): then the zone the budget was kept in. A day
    told in two zones would otherwise look new to one of them for hours before the line's
    midnight, and a pause would end there, or counts start again."""
    name = time_zone or budget.time_zone
    today = local_day(now, name)
    if budget.day == today:
        return budget if budget.time_zone == name else replace(budget, time_zone=name)
    return Budget(day=today, recent=budget.recent, time_zone=name)


def _in_window(budget: Budget, now: datetime) -> tuple[tuple[int, str], ...]:
    floor = int((now - BURST_WINDOW).timestamp())
    return tuple(item for item in budget.recent if item[0] > floor)


def charge(
    budget: Budget, *, key: str, now: datetime, time_zone: str | None, limits: Limits
) -> Charge:
    """Count one automatic text (see the module doc)."""
    current = rolled(budget, now, time_zone)
    if key and key in current.keys:
        return Charge(True, None, current, repeat=True)
    if current.paused is not None:
        return Charge(False, current.paused, replace(current, skipped=current.skipped + 1))
    recent = _in_window(current, now)
    reason = None
    if current.sent >= limits.daily:
        reason = DAILY_LIMIT
    elif len(recent) >= limits.burst:
        reason = BURST_LIMIT
    if reason is not None:
        paused = replace(
            current, paused=reason, paused_at=now, skipped=current.skipped + 1, recent=recent
        )
        return Charge(False, reason, paused, tripped=True)
    stamp = int(now.timestamp())
    counted = replace(
        current,
        sent=current.sent + 1,
        recent=(*recent, (stamp, key))[-max(limits.burst, 1) :],
    )
    return Charge(True, None, counted)


def trip(
    budget: Budget, reason: str, *, now: datetime, time_zone: str | None
) -> tuple[Budget, bool]:
    """Pause the line for `reason` (a Twilio refusal); True when this paused it (send the
    notice), False when it was paused already."""
    current = rolled(budget, now, time_zone)
    if current.paused is not None:
        return current, False
    return replace(current, paused=reason, paused_at=now), True


def resume(budget: Budget, *, now: datetime, time_zone: str | None) -> Budget:
    """The operator's resume: unpaused, with a fresh allowance for the rest of the local day
    (what was skipped stays counted)."""
    current = rolled(budget, now, time_zone)
    return replace(current, paused=None, paused_at=None, sent=0, recent=())


def charge_email(
    budget: Budget, *, key: str, now: datetime, time_zone: str | None, limits: Limits
) -> Charge:
    """Count one voicemail e-mail against the line's daily e-mail ceiling."""
    current = rolled(budget, now, time_zone)
    if key and key in current.email_keys:
        return Charge(True, None, current, repeat=True)
    if current.emails >= limits.emails:
        return Charge(
            False, EMAIL_LIMIT, replace(current, emails_skipped=current.emails_skipped + 1)
        )
    keys = (*current.email_keys, key)[-EMAIL_MEMORY:] if key else current.email_keys
    return Charge(True, None, replace(current, emails=current.emails + 1, email_keys=keys))


def charge_relays(
    budget: Budget, *, key: str, count: int, now: datetime, time_zone: str | None, limits: Limits
) -> Charge:
    """Count the `count` copies of one relayed text (`key`: the text's) against the line's
    relay ceiling: all of them, or none (and they are counted skipped). A key already counted
    is a retry: allowed, not counted again."""
    current = rolled(budget, now, time_zone)
    if key and key in current.relay_keys:
        return Charge(True, None, current, repeat=True)
    if current.relays + count > limits.relays:
        return Charge(
            False, RELAY_LIMIT, replace(current, relays_skipped=current.relays_skipped + count)
        )
    keys = (*current.relay_keys, key)[-RELAY_MEMORY:] if key else current.relay_keys
    return Charge(True, None, replace(current, relays=current.relays + count, relay_keys=keys))


def twilio_trip_reason(code: int | None) -> str | None:
    """The pause reason of a Twilio error that means fraud or a refused destination (None for
    any other error): SMS Pumping Protection (30450, 30453), Messaging Geo Permissions (21408)
    and unreachable destinations (21612), Voice Geo Permissions (21215, 13227, 32205)."""
    if code in TRIP_CODES:
        return f"Twilio error {code}"
    return None


#: Twilio error codes that trip a line (see `twilio_trip_reason`).
TRIP_CODES = frozenset({30450, 30453, 21408, 21612, 21215, 13227, 32205})
