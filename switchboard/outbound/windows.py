"""Per-subject windows: how often one outsider may cause an automatic text (pure).

Every automatic text has a purpose and a *subject*: the outsider whose text or call causes it
(the texter, the caller). Per subject, per line and per purpose, at most `Policy.limit` texts
go out per `Policy.window`, counted from the window's first text (`Tally`); the window is the
line's own, so a customer who texted one line still gets another line's auto-reply. A policy
with `digest` sends one more text when the limit is reached (the "further texts are only
logged" line) and counts what it holds back, so the next window's first text can say how many
were held. `rule` decides one text; it never does I/O.

A retry of the cause the window last let through (same `sid`: Twilio retrying a webhook, the
second callback of one voicemail) gets the same yes, counted once (`Ruling.repeat`).

Echoes (`is_echo`): a text whose body is one the app sent to that subject on that line (the
digest of every automatic text to a subject is kept on its row, `SenderState.sent`), or one of
the line's own configured answers (another bot answering us), gets nothing automatic. Nothing
here depends on the wording of the app's texts.

Policies (`policies(settings)`): `auto-reply` and `help`, 1 per `SMS_AUTO_REPLY_WINDOW` (12 h);
`forward`, `SMS_FORWARD_DAILY_CAP` (10) per 24 h with a digest; `voicemail`, the same cap per
caller without digest; `text-back`, 1 per the line's `textBack.windowHours` (given with each
ask); `reminder-answer` and `reminder-notice`, 5 per customer per 24 h (each reminder takes one
reply); the purposes later capabilities add take theirs from `DEFAULT_POLICY` until they set one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from switchboard.outbound.purposes import Purpose
from switchboard.settings import Settings

#: How many digests of texts sent to one subject its row keeps (for `is_echo`).
ECHO_MEMORY = 8


@dataclass(frozen=True)
class Policy:
    """At most `limit` texts per `window` for one subject; then, with `digest`, one more text
    saying the rest is only logged."""

    limit: int
    window: timedelta
    digest: bool = False


#: A forward's window: the owner hears about at most SMS_FORWARD_DAILY_CAP texts per day.
DAY = timedelta(hours=24)
#: The window of a purpose no policy names yet: once a day per subject.
DEFAULT_POLICY = Policy(1, DAY)
#: Answers (and notices) per customer and line per day for replies to reminders.
REMINDER_REPLIES_PER_DAY = 5


def policies(settings: Settings) -> dict[Purpose, Policy]:
    """The policy of each automatic purpose from the settings (they cannot be turned off)."""
    window = settings.sms_auto_reply_window
    cap = settings.sms_forward_daily_cap
    return {
        Purpose.AUTO_REPLY: Policy(1, window),
        Purpose.HELP: Policy(1, window),
        Purpose.FORWARD: Policy(cap, DAY, digest=True),
        # A caller leaving voicemail after voicemail cannot make the staff's phones buzz
        # without end (each voicemail stays in CallLog with its recording).
        Purpose.VOICEMAIL: Policy(cap, DAY),
        Purpose.TEXT_BACK: Policy(1, DAY),
        # One answer per reminder a customer answers: a few reminders a day at most; the
        # binding itself lets each reminder be answered once.
        Purpose.REMINDER_ANSWER: Policy(REMINDER_REPLIES_PER_DAY, DAY),
        Purpose.REMINDER_NOTICE: Policy(REMINDER_REPLIES_PER_DAY, DAY),
    }


@dataclass(frozen=True)
class Tally:
    """What a subject's row remembers of one purpose on one line."""

    #: When the current window started (the first text of the window); None: never.
    since: datetime | None = None
    #: Texts sent in the current window.
    count: int = 0
    #: Whether the window's digest was sent.
    digest_sent: bool = False
    #: Texts held back (not sent) in the current window.
    held: int = 0
    #: The SID of the message (or call) whose text was last allowed: its retry is allowed again.
    last_sid: str | None = None


class Verdict(StrEnum):
    """What to do with one automatic text."""

    SEND = "send"
    #: The limit is reached: send the digest instead of the text (once per window).
    DIGEST = "digest"
    #: Over the limit: not sent (counted in `held` for a digest policy).
    HOLD = "hold"


@dataclass(frozen=True)
class Ruling:
    """The verdict on one automatic text, why, and the tally to store."""

    verdict: Verdict
    reason: str
    #: The tally after this text (store it when it differs from the one given).
    tally: Tally
    #: When the current window ends.
    window_ends: datetime | None = None
    #: On the first text of a new window: how many were held in the previous one, and since when.
    held_before: int = 0
    held_since: datetime | None = None
    #: A retry of the cause already let through: nothing new goes out or is counted.
    repeat: bool = False

    @property
    def allowed(self) -> bool:
        """Whether something goes out (the text, or its digest)."""
        return self.verdict in (Verdict.SEND, Verdict.DIGEST)


def window_words(policy: Policy) -> str:
    """``texted within 24 h``: why a text a window holds back was skipped."""
    hours = policy.window.total_seconds() / 3600
    if hours >= 1 and hours == int(hours):
        return f"texted within {int(hours)} h"
    return f"texted within {int(policy.window.total_seconds() // 60)} min"


def held_words(policy: Policy) -> str:
    """Why a text a window holds back was skipped: ``texted within 24 h`` (one per window) or
    ``limit of 10 per 24 h reached``."""
    if policy.limit == 1:
        return window_words(policy)
    return (
        f"limit of {policy.limit} per {window_words(policy).removeprefix('texted within ')} reached"
    )


def rule(policy: Policy, tally: Tally, *, now: datetime, sid: str | None = None) -> Ruling:
    """The verdict on one automatic text for a subject whose tally is `tally`."""
    if sid is not None and tally.last_sid == sid and tally.since is not None:
        # A retry of the cause already answered: the same answer, nothing counted.
        return Ruling(
            Verdict.SEND,
            "a retry of the cause already answered",
            tally,
            tally.since + policy.window,
            repeat=True,
        )
    if tally.since is None or now >= tally.since + policy.window:
        fresh = Tally(since=now, count=1, last_sid=sid)
        return Ruling(
            Verdict.SEND,
            "first in its window",
            fresh,
            now + policy.window,
            held_before=tally.held,
            held_since=tally.since if tally.held else None,
        )
    ends = tally.since + policy.window
    if tally.count < policy.limit:
        counted = replace(tally, count=tally.count + 1, last_sid=sid)
        return Ruling(
            Verdict.SEND, f"{counted.count} of {policy.limit} in its window", counted, ends
        )
    if policy.digest and not tally.digest_sent:
        digested = replace(tally, digest_sent=True, held=tally.held + 1)
        return Ruling(Verdict.DIGEST, f"limit of {policy.limit} reached", digested, ends)
    # Held texts are counted only where a later text reports them (a digest policy): the
    # others cost no write while the window lasts.
    return Ruling(
        Verdict.HOLD,
        held_words(policy),
        replace(tally, held=tally.held + 1) if policy.digest else tally,
        ends,
    )


@lru_cache(maxsize=1024)
def digest_of(body: str) -> str:
    """A short digest of a text, compared without regard to case and spacing (cached: a line's
    own answers are digested on every text it gets)."""
    normal = " ".join(body.split()).casefold()
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def is_echo(body: str, sent: Iterable[str] = (), own_texts: Iterable[str | None] = ()) -> bool:
    """Whether `body` is a text the app sent this subject (`sent`: digests, `digest_of`) or one
    of the line's configured answers (`own_texts`), coming back."""
    if not body.strip():
        return False
    mine = digest_of(body)
    return mine in set(sent) or any(text and digest_of(text) == mine for text in own_texts)


def remember(sent: tuple[str, ...], body: str) -> tuple[str, ...]:
    """`sent` with the digest of `body` added (the newest `ECHO_MEMORY` kept)."""
    mine = digest_of(body)
    kept = tuple(d for d in sent if d != mine)
    return (*kept, mine)[-ECHO_MEMORY:]


def rule_all(
    asked: Mapping[Purpose, str | None],
    tallies: Mapping[Purpose, Tally],
    policies_: Mapping[Purpose, Policy],
    *,
    now: datetime,
) -> dict[Purpose, Ruling]:
    """`rule` for several texts caused by one subject (`asked`: purpose → the cause's SID)."""
    return {
        purpose: rule(
            policies_.get(purpose, DEFAULT_POLICY),
            tallies.get(purpose, Tally()),
            now=now,
            sid=sid,
        )
        for purpose, sid in asked.items()
    }
