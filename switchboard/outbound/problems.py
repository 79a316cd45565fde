"""Twilio's delivery errors that say a line's texts are not registered, or are filtered (pure).

US carriers accept application-to-person texts only from registered senders and filter what
they judge unwanted. Twilio reports it per message, as the `ErrorCode` of an `undelivered` or
`failed` status callback (or, more rarely, as a send's REST refusal). These codes, from
Twilio's Error Dictionary, are the family (`CODES`):

- 30034 "US A2P 10DLC - Message from an Unregistered Number": a local number not on an
  approved A2P 10DLC campaign;
- 30032 "Toll-Free Number Has Not Been Verified": a toll-free number texting US or Canadian
  mobiles before Toll-Free Verification is approved;
- 30024 "Numeric Sender ID Not Provisioned on Carrier": the sender is not (yet) provisioned
  on the destination carrier, as while a new 10DLC registration is still being provisioned;
- 30007 "Message filtered": filtered (blocked) by Twilio or the carrier as unwanted.

The first three are one *kind* of problem, ``registration``; 30007 is ``filtered``. Each
message keeps its plain words (`problem_of`: ``not registered (A2P 10DLC)``), and each line
keeps one `DeliveryProblem` per kind: how many texts, since when, which codes, and when and how
its owner was told. The owner is told at the first failure, then at most once a `REMIND`
(7 days) while failures go on; a problem with no failure for `QUIET` (7 days) is over, and the
next failure starts a new count and tells the owner again, as does the operator clearing it
(`python -m switchboard outbound clear`). `count` decides both; the conditional write of its
result is what makes "once" hold across instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

#: A problem with no failure for this long is over: the next failure starts afresh.
QUIET = timedelta(days=7)
#: While failures go on, the owner is told again at most this often.
REMIND = timedelta(days=7)
#: The longest Twilio error message a problem keeps.
ERROR_CHARS = 300
#: What `told` holds between the claim of a notice and its outcome.
TELLING = "being told"


class Kind(StrEnum):
    """What kind of delivery problem a code means."""

    REGISTRATION = "registration"
    FILTERED = "filtered"


@dataclass(frozen=True)
class Code:
    """One error code of the family: its kind, the record's words, how a report says what
    happened (``blocked as unregistered (A2P 10DLC, error 30034)``), what to do, and Twilio's
    name for it (a status callback carries the code alone)."""

    kind: Kind
    problem: str
    blocked: str
    advice: str
    name: str


#: Twilio's codes that mean "not registered" or "filtered" (see the module doc).
CODES: dict[int, Code] = {
    30034: Code(
        Kind.REGISTRATION,
        "not registered (A2P 10DLC)",
        "blocked as unregistered (A2P 10DLC, error 30034)",
        "register an A2P 10DLC brand and campaign (Twilio Console › Messaging › Regulatory "
        "compliance), add the number to the campaign's Messaging Service and set "
        "TWILIO_MESSAGING_SERVICE_SID to it",
        "US A2P 10DLC - Message from an Unregistered Number",
    ),
    30032: Code(
        Kind.REGISTRATION,
        "not verified (toll-free)",
        "blocked as an unverified toll-free number (error 30032)",
        "submit the toll-free number for Toll-Free Verification (Twilio Console › Phone "
        "Numbers › the number › Regulatory information) and send once it is Verified",
        "Toll-Free Number Has Not Been Verified",
    ),
    30024: Code(
        Kind.REGISTRATION,
        "sender not provisioned on the carrier",
        "blocked: the sender is not provisioned on the carrier (error 30024)",
        "finish the sender's registration (A2P 10DLC campaign or Toll-Free Verification) and "
        "wait until the carriers have provisioned it",
        "Numeric Sender ID Not Provisioned on Carrier",
    ),
    30007: Code(
        Kind.FILTERED,
        "filtered by the carrier",
        "filtered by the carriers as unwanted (error 30007)",
        "review what the line sends (the business name, how to opt out, links on your own "
        "domain, the campaign's sample messages) and register the sender if it is not; "
        "Twilio Support reviews filtering given three message SIDs",
        "Message filtered",
    ),
}


def problem_of(code: int | None) -> str | None:
    """The plain words a message's record keeps for `code` (None outside the family)."""
    found = CODES.get(code) if code else None
    return found.problem if found is not None else None


def kind_of(code: int | None) -> Kind | None:
    """The kind of problem `code` means (None outside the family)."""
    found = CODES.get(code) if code else None
    return found.kind if found is not None else None


@dataclass(frozen=True)
class DeliveryProblem:
    """One line's problem of one kind (stored: `switchboard.outbound.store.ProblemStore`)."""

    line: str
    kind: Kind
    #: Texts that failed with a code of this kind since `since`.
    count: int = 0
    #: The first failure of this run of failures, and the latest.
    since: datetime | None = None
    last: datetime | None = None
    #: (code, texts), by code.
    codes: tuple[tuple[int, int], ...] = ()
    #: Twilio's words for the latest failure (its name for the code when it gave none).
    error: str = ""
    #: When the owner was last told (the claim of the notice), and how (or why not).
    told_at: datetime | None = None
    told: str = ""

    def is_open(self, now: datetime) -> bool:
        """Whether the problem is still on: a failure within `QUIET`."""
        return self.last is not None and now - self.last < QUIET

    @property
    def code_numbers(self) -> tuple[int, ...]:
        """The codes seen, in order."""
        return tuple(code for code, _ in self.codes)


@dataclass(frozen=True)
class Counted:
    """What one failure changes: the problem to store, and whether this failure tells the
    owner (the caller sends the notice only once its write of `problem` has won)."""

    problem: DeliveryProblem
    tell: bool


def count(problem: DeliveryProblem, *, code: int, error: str, now: datetime) -> Counted:
    """Count one failed text with `code` (of the problem's kind; see the module doc)."""
    base = problem if problem.is_open(now) else DeliveryProblem(problem.line, problem.kind)
    codes = dict(base.codes)
    codes[code] = codes.get(code, 0) + 1
    tell = base.told_at is None or now - base.told_at >= REMIND
    counted = replace(
        base,
        count=base.count + 1,
        since=base.since or now,
        last=now,
        codes=tuple(sorted(codes.items())),
        error=(error or CODES[code].name)[:ERROR_CHARS],
        told_at=now if tell else base.told_at,
        told=TELLING if tell else base.told,
    )
    return Counted(counted, tell)


def told(problem: DeliveryProblem, how: str, at: datetime | None) -> DeliveryProblem | None:
    """The problem with how its owner was told (None: the problem has moved on since the
    claim at `at`: another notice is under way, so this one's outcome is not written)."""
    if problem.told_at != at:
        return None
    return replace(problem, told=how)


def what(codes: Sequence[int]) -> str:
    """How a report says what happened to the texts: ``blocked as unregistered (...)``."""
    found = [CODES[c].blocked for c in codes if c in CODES]
    return " or ".join(found) or "not delivered"


def advice(codes: Sequence[int]) -> str:
    """What to do about these codes, in one sentence."""
    found = list(dict.fromkeys(CODES[c].advice for c in codes if c in CODES))
    return "; ".join(found)


def _texts(count: int) -> str:
    return f"{count} text{'s' if count != 1 else ''}"


def sentence(problems: Sequence[DeliveryProblem]) -> str:
    """The one sentence a report gives for one kind of problem over every line that has it:
    ``30 texts from +15017122661 were blocked as unregistered (...) since 2026-12-07:
    register ... The owner was told on 2026-12-07 (by e-mail). Once fixed: ...``."""
    if not problems:
        return ""
    ordered = sorted(problems, key=lambda p: (-p.count, p.line))
    total = sum(p.count for p in ordered)
    if len(ordered) == 1:
        where = ordered[0].line
    else:
        where = ", ".join(f"{p.line} ({p.count})" for p in ordered)
    codes = sorted({code for p in ordered for code in p.code_numbers})
    starts = [p.since for p in ordered if p.since is not None]
    since = f" since {min(starts):%Y-%m-%d}" if starts else ""
    verb = "was" if total == 1 else "were"
    text = f"{_texts(total)} from {where} {verb} {what(codes)}{since}: {advice(codes)}."
    for p in ordered:
        if p.told_at is not None:
            whom = "The owner" if len(ordered) == 1 else f"The owner of {p.line}"
            text += f" {whom} was told on {p.told_at:%Y-%m-%d} ({p.told or 'not recorded'})."
    lines = " ".join(p.line for p in ordered)
    return text + f" Once fixed: python -m switchboard outbound clear {lines}"
