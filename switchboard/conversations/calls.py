"""A call's event in its conversation, from its CallLog record (pure).

An inbound call from a number (not a withheld caller) is an event of the conversation between
the line it was for and the caller (`switchboard.logbook.calls` reads the record), stamped with
the call's start:

- ``answered``: someone took it (`takenBy`: who, when the record says): a forward, a ring
  group's person who pressed 1, a queue's person who took the caller off the queue (with
  `queueTime`, the seconds they waited), or the person who took the caller's call back
  (`callback: answered`);
- ``callback``: the caller left a line's queue to be called back, and their turn has not come
  yet (`callback`: ``waiting``, ``connecting``);
- ``voicemail``: nobody did and the caller left a recording (its length, its URL and, when it
  arrives, its transcript);
- ``missed``: nobody did, no recording; also a call back nobody answered or one dropped for
  its age (`callback` says which).

A call the app placed to a customer through the outbound-call queue (`switchboard.calls`: an
automated call saying a message, from a line's number) is the business's event of the
conversation between the line it was placed from and the number it called, once it ended:
``answered`` or ``unanswered`` (busy, no answer, failed, canceled), with what it said. The call
queue's own calls (ids the app derives, ``sys-``: an offer ringing one of its people, a call
back, whose event is its caller's inbound call) are not events of their own.

A caller the line refused (blocked, not allowed) or a call handed to TwiML elsewhere is no
event. The event is decided when the call ends (its status callback); a recording's and a
transcript's callbacks complete its row whenever they arrive, and so does the call back's
outcome (`resolution`: the conversation's state moves again then). Missed calls and voicemails
are the customer's events (unread, a done conversation opens again); an answered call is not,
and neither is a call back still to come (the app answers it by itself): only a call back that
never reached the caller is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchboard import records
from switchboard.conversations.rules import INBOUND, KIND_CALL, OUTBOUND, Event
from switchboard.logbook import calls as calllog
from switchboard.phone import is_e164

MISSED = "missed"
VOICEMAIL = "voicemail"
ANSWERED = "answered"
CALLBACK = "callback"
#: A call the app placed that nobody answered (busy, no answer, failed, canceled).
UNANSWERED = "unanswered"
#: The suffix of the id of the event that moves the state when a call back is decided.
RESOLUTION_SUFFIX = "-callback"
_NOT_EVENTS = frozenset({"rejected", "refused", "redirect"})


@dataclass(frozen=True)
class CallEvent:
    """A call as its conversation shows it."""

    line: str
    customer: str
    call_sid: str
    at: datetime
    outcome: str | None
    fields: dict[str, Any]
    #: `INBOUND`: the customer called the line; `OUTBOUND`: the app called the customer.
    direction: str = INBOUND

    @property
    def summary(self) -> str:
        """What a list shows: ``missed call``, ``voicemail (0:37)``, ``call answered by Ana``,
        ``called back by Ana``, ``asked to be called back``, ``automated call answered``,
        ``automated call not answered (busy)``."""
        if self.direction == OUTBOUND:
            if self.outcome == ANSWERED:
                return "automated call answered"
            return f"automated call not answered ({self.fields.get('Status') or 'failed'})"
        called_back = self.fields.get("Callback")
        if self.outcome == VOICEMAIL:
            seconds = self.fields.get("RecordingDuration")
            length = f" ({seconds // 60}:{seconds % 60:02d})" if isinstance(seconds, int) else ""
            transcript = self.fields.get("Transcript")
            return f"voicemail{length}" + (f": {transcript}" if transcript else "")
        who = self.fields.get("TakenBy")
        if self.outcome == ANSWERED and called_back == calllog.CALLBACK_ANSWERED:
            return "called back" + (f" by {who}" if who else "")
        if self.outcome == ANSWERED:
            return "call answered" + (f" by {who}" if who else "")
        if self.outcome == CALLBACK:
            return "asked to be called back"
        if called_back and self.outcome == MISSED and _failed(called_back):
            return f"missed call (call back {called_back})"
        return "missed call"

    @property
    def resolved(self) -> bool:
        """Whether its call back was decided: answered, or it never reached the caller."""
        word = self.fields.get("Callback") or ""
        return self.outcome in (ANSWERED, MISSED) and (
            word == calllog.CALLBACK_ANSWERED or _failed(word)
        )

    def event(self) -> Event:
        """The event its conversation's state applies (decided calls only)."""
        return Event(
            id=self.call_sid,
            at=self.at,
            kind=KIND_CALL,
            direction=self.direction,
            summary=self.summary,
            from_customer=self.outcome in (MISSED, VOICEMAIL),
        )

    def ended_event(self) -> Event:
        """The event the call's end applies: its own; or, when its call back was decided before
        the end was recorded, the resolution's. The decision's own hook applies the resolution
        too when it sees the call ended, so when the two race (each reading the other's
        write) they apply one event id, counted once, not a missed call unread twice."""
        return self.resolution(self.at) if self.resolved else self.event()

    def resolution(self, at: datetime) -> Event:
        """The event a call back's outcome applies to the state, after the call's own (its id
        derived from the call's: applied once): a call back answered is the business's, one
        that never reached the caller is theirs (unread, reopens)."""
        return Event(
            id=self.call_sid + RESOLUTION_SUFFIX,
            at=max(at, self.at),
            kind=KIND_CALL,
            direction=INBOUND,
            summary=self.summary,
            from_customer=self.outcome == MISSED,
        )


def _failed(word: str) -> bool:
    return calllog.callback_failed({"Callback": word})


def outcome(record: Mapping[str, Any]) -> str | None:
    """``answered``, ``callback`` (a call back still to come), ``voicemail`` or ``missed``
    once the call ended; None before."""
    if not calllog.ended(record):
        return None
    if calllog.reached(record) or calllog.callback(record) == calllog.CALLBACK_ANSWERED:
        return ANSWERED
    if calllog.left_voicemail(record):
        return VOICEMAIL
    return CALLBACK if calllog.callback(record) in calllog.CALLBACK_PENDING else MISSED


def call_event(record: Mapping[str, Any] | None) -> CallEvent | None:
    """The call's event in its conversation (None: the call is not one: one the call queue
    placed itself, withheld, refused, handed elsewhere, or its record lacks what keys it)."""
    if record is not None and calllog.is_placed(record):
        return placed_call_event(record)
    if record is None or not calllog.is_inbound(record):
        return None
    if calllog.text(record, "Handling").lower() in _NOT_EVENTS:
        return None
    caller = calllog.text(record, "From")
    line = calllog.line_number(record)
    sid = calllog.text(record, "CallSid") or calllog.text(record, "Id")
    started = record.get("CreatedAt")
    if not (is_e164(caller) and line and sid and isinstance(started, datetime)):
        return None
    found = outcome(record)
    fields: dict[str, Any] = {
        "Status": calllog.text(record, "Status") or None,
        "Duration": calllog.integer(record.get("CallDuration")),
        "TakenBy": calllog.taken_by(record),
        "RecordingUrl": calllog.text(record, "RecordingUrl") or None,
        "RecordingDuration": calllog.integer(record.get("RecordingDuration")),
        "Transcript": calllog.text(record, "TranscriptionText") or None,
        "QueueTime": calllog.integer(record.get("QueueTime")),
        "Callback": calllog.callback(record) or None,
    }
    if found is not None:
        fields["Event"] = found
    elif fields["RecordingUrl"]:
        fields["Event"] = VOICEMAIL
    return CallEvent(line, caller, sid, started, found, fields)


def placed_call_event(record: Mapping[str, Any]) -> CallEvent | None:
    """The event of a call the app placed through the outbound-call queue: the business's, on
    the conversation of the line it was placed from (`From`) and the number it called (`To`);
    its outcome once it ended (`answered`: Twilio says ``completed``), and what it said."""
    record_id = calllog.text(record, "Id") or calllog.text(record, "PartitionKey")
    if record_id.startswith(records.DERIVED_ID_PREFIX):
        return None
    customer = calllog.text(record, "To")
    line = calllog.text(record, "From")
    sid = calllog.text(record, "Sid")
    started = record.get("CreatedAt")
    if not (is_e164(customer) and is_e164(line) and sid and isinstance(started, datetime)):
        return None
    found: str | None = None
    if calllog.ended(record):
        answered = calllog.text(record, "Status").lower() == "completed"
        found = ANSWERED if answered else UNANSWERED
    fields: dict[str, Any] = {
        "Status": calllog.text(record, "Status") or None,
        "Duration": calllog.integer(record.get("CallDuration")),
        "Body": _said(record),
        "Event": found,
    }
    return CallEvent(line, customer, sid, started, found, fields, OUTBOUND)


def _said(record: Mapping[str, Any]) -> str | None:
    """The words a placed call says (its request's `say`; None for TwiML or a URL)."""
    try:
        request = json.loads(calllog.text(record, "RequestJson") or "{}")
    except ValueError:
        return None
    said = request.get("say") if isinstance(request, dict) else None
    return said if isinstance(said, str) and said else None
