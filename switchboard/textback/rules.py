"""Missed-call text-back: whether a caller gets a text when a call ends (pure, no I/O).

A line with `textBack` (`switchboard.lines.model.TextBack`) texts its message to a caller
nobody reached. What happened on the call comes from its CallLog record, written by the voice
flow and the call status callback. **The fields read here are the contract with the voice
flow**:

| field | written by | read as |
| --- | --- | --- |
| `Direction` | voice, `/incoming` | only `inbound` calls |
| `From`, `To` | voice, `/incoming` | the caller; the number called |
| `Line` | voice, `/incoming` | the number of the line whose flow ran (else `To`) |
| `Status`, `CallDuration` | `POST /api/status/call` | the call ended (`completed`, `busy`, `no-answer`, `failed`, `canceled`); its seconds |
| `Reached` | voice, `/dial-complete` | `True`: a person took the call (a forward or a ring group); `False`: nobody of a ring group did |
| `TakenByJson` | voice, `/dial-complete` | who took the call (`{"name", "number"}`): present means reached |
| `DialOutcome` | voice, `/dial-complete` | `completed` / `answered` means reached when `Reached` is absent (a plain forward) |
| `Handling` | voice, every step | `rejected`, `refused` (a blocked or not allowed caller), `redirect` (handed to TwiML elsewhere: the app cannot know what happened there), `queue-callback` (the caller left a line's queue for a call back: that call is their answer) |
| `RecordingSid`, `RecordingDuration` | voice, `/recording` | a voicemail was left (a recording that is not 0 s long) |
| `TextBack` | here | decided already: nothing more is done |

Written here: `TextBack` (``sent`` or ``skipped (why)``), `TextBackId` (the schedule id, for
``GET /api/sms/schedules/{id}``: pending until the recipient's quiet hours end, then sent) and
`TextBackAt`. A call somebody took, or one not yet ended, writes nothing.

"Nobody was reached": no `Reached=True`, no `TakenByJson`, no answered `DialOutcome`, and the
call was not handed elsewhere (`redirect`). A call that only heard prompts (a closed line's
message, a menu's information) counts as missed: no person took it. Whether a voicemail
changes that is the line's `afterVoicemail` (default: text anyway).

Who may be texted: a number (E.164) that phonenumbers calls MOBILE, or FIXED_LINE_OR_MOBILE
where the numbering plan cannot tell the two apart (all of North America: without a paid
carrier lookup a US landline cannot be told from a cell, and Twilio then fails the text with
30006, which costs a fraction of a cent and texts nobody); never a landline, toll-free,
premium, shared-cost, VoIP, pager, personal or UAN number, a short code or a withheld caller
(``anonymous``, ``restricted``, and the keypad spellings Twilio passes on, such as
+266696687); never one of the account's own numbers, a blocked caller, or an opted-out one;
never for calls shorter than `minSeconds`. What every automatic text must pass besides (our
own numbers as the account knows them, the allowed countries, premium-rate and satellite
numbers, the opt-out, at most once per caller and line per `windowHours`, the line's budget)
is the outbound policy's (`switchboard.outbound`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

# The CallLog contract is shared with the conversation's call events (`logbook.calls`).
from switchboard.logbook.calls import ENDED as ENDED
from switchboard.logbook.calls import integer as _int
from switchboard.logbook.calls import left_voicemail as left_voicemail
from switchboard.logbook.calls import line_number as line_number
from switchboard.logbook.calls import reached as reached
from switchboard.logbook.calls import text as _text
from switchboard.phone import is_withheld
from switchboard.records import DERIVED_ID_PREFIX

if TYPE_CHECKING:
    from switchboard.lines.model import Line

#: The scheduled-SMS ids of text-backs, in the namespace of the ids the app derives (no
#: operator's schedule id may use it, so no chosen id can collide with a derived one).
SCHEDULE_ID_PREFIX = DERIVED_ID_PREFIX + "textback-"
#: Handling words after which a text-back never goes: the call was not a missed one.
_NOT_MISSED = {
    "rejected": "blocked caller",
    "refused": "caller not allowed",
    "redirect": "handed to another application",
    "queue-callback": "called back from the queue",
}
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: phonenumbers' number types a text can reach (by name; see `number_problem`).
TEXTABLE_TYPES = frozenset({"MOBILE", "FIXED_LINE_OR_MOBILE"})
_TYPE_WORDS = {
    "FIXED_LINE": "landline",
    "TOLL_FREE": "toll-free number",
    "PREMIUM_RATE": "premium-rate number",
    "SHARED_COST": "shared-cost number",
    "VOIP": "VoIP number",
    "PERSONAL_NUMBER": "personal number",
    "PAGER": "pager",
    "UAN": "company number",
    "VOICEMAIL": "voicemail access number",
}


@dataclass(frozen=True)
class Verdict:
    """Send the text-back, or skip it (`reason` says why: the owner reads it in CallLog)."""

    send: bool
    reason: str | None = None

    @property
    def word(self) -> str:
        """What `TextBack` says: ``sent`` or ``skipped (why)``."""
        return "sent" if self.send else f"skipped ({self.reason})"


SEND = Verdict(True)


def skip(reason: str) -> Verdict:
    """A text-back not sent, and why."""
    return Verdict(False, reason)


def schedule_id(call_sid: str) -> str:
    """The schedule id of a call's text-back: one per call, whatever retries or instances."""
    token = call_sid if re.fullmatch(r"[A-Za-z0-9]{1,64}", call_sid) else None
    return SCHEDULE_ID_PREFIX + (token or hashlib.sha256(call_sid.encode()).hexdigest()[:32])


def number_problem(number: str) -> str | None:
    """Why `number` cannot get a text (None: it can), by phonenumbers' number type."""
    if is_withheld(number):
        return "withheld number"
    if not _E164.fullmatch(number):
        return "not a phone number"
    import phonenumbers
    from phonenumbers import PhoneNumberType

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return "not a phone number"
    if not phonenumbers.is_valid_number(parsed):
        return "not a valid number"
    kind = phonenumbers.number_type(parsed)
    name = next(
        (n for n, v in vars(PhoneNumberType).items() if not n.startswith("_") and v == kind),
        "UNKNOWN",
    )
    if name in TEXTABLE_TYPES:
        return None
    return _TYPE_WORDS.get(name, "not a mobile number")


def may_apply(record: Mapping[str, Any] | None) -> bool:
    """Whether a text-back may be due for this record at all: an inbound call that ended, that
    nobody took, not decided yet (cheap: the status callback asks before loading the line)."""
    if record is None or record.get("TextBack"):
        return False
    if _text(record, "Direction").lower() != "inbound":
        return False
    if _text(record, "Status").lower() not in ENDED:
        return False
    return not reached(record)


def decide(
    record: Mapping[str, Any],
    line: Line,
    own_numbers: Iterable[str] = (),
) -> Verdict | None:
    """The text-back of a call that ended (None: not a case for one; write nothing).

    The checks that need storage come after this, in the outbound policy: the opt-out
    (`skipped (opted out)`), the caller's window (`skipped (texted within 24 h)`), the line's
    budget (`skipped (daily limit)`).
    """
    text_back = line.text_back
    if text_back is None or not may_apply(record):
        return None
    caller = _text(record, "From")
    handling = _text(record, "Handling").lower()
    if handling in _NOT_MISSED:
        return skip(_NOT_MISSED[handling])
    own = {n for n in own_numbers if n} | {n for n in (_text(record, "To"), line.number) if n}
    if caller in own:
        return skip("one of our numbers")
    if caller in line.blocked or (line.allowed is not None and caller not in line.allowed):
        return skip("blocked caller")
    problem = number_problem(caller)
    if problem is not None:
        return skip(problem)
    if left_voicemail(record) and not text_back.after_voicemail:
        return skip("left a voicemail")
    seconds = _int(record.get("CallDuration")) or 0
    if seconds < text_back.min_seconds:
        return skip(f"call shorter than {text_back.min_seconds} s")
    return SEND


def record_change(
    current: Mapping[str, Any] | None, verdict: Verdict, schedule: str | None, now: datetime
) -> dict[str, Any] | None:
    """The CallLog change of a decided text-back (None when it was decided already)."""
    if current is None or current.get("TextBack"):
        return None
    change: dict[str, Any] = {"TextBack": verdict.word, "TextBackAt": now}
    if verdict.send and schedule:
        change["TextBackId"] = schedule
    return change
