"""What a CallLog record says happened on an inbound call (pure): the fields the voice flow and
the call status callback write, read the same way by everything that acts on a call's outcome
(the missed-call text-back, the conversation's call events). A call the app placed through the
outbound-call queue (`switchboard.calls`) has `Direction` ``outbound-api``, `From` (the line it
was placed from), `To`, `Sid`, `RequestJson` (what it says) and the status callback's fields.

| field | written by | read as |
| --- | --- | --- |
| `Direction` | voice, `/incoming` | only `inbound` calls |
| `From`, `To` | voice, `/incoming` | the caller; the number called |
| `Line` | voice, `/incoming` | the number of the line whose flow ran (else `To`) |
| `Status`, `CallDuration` | `POST /api/status/call` | the call ended (`completed`, `busy`, `no-answer`, `failed`, `canceled`); its seconds |
| `Reached` | voice, `/dial-complete` | `True`: a person took the call (a forward or a ring group); `False`: nobody of a ring group did |
| `TakenByJson` | voice, `/dial-complete` | who took the call (`{"name", "number"}`): present means reached |
| `DialOutcome` | voice, `/dial-complete` | `completed` / `answered` means reached when `Reached` is absent (a plain forward) |
| `Handling` | voice, every step | `rejected`, `refused` (a blocked or not allowed caller), `redirect` (handed to TwiML elsewhere: the app cannot know what happened there) |
| `RecordingSid`, `RecordingDuration` | voice, `/recording` | a voicemail was left (a recording that is not 0 s long) |
| `QueueTime` | voice, `/queue-result`, `/queue-connect` | seconds the caller waited in a line's queue |
| `Callback`, `CallbackBy`, `CallbackAt` | the call queue (`switchboard.callqueue.service`) | the caller pressed 1 to be called back: `waiting`, `connecting`, then `answered` (by `CallbackBy`, `{"name", "number"}`), `unanswered`, `dropped (...)`, or `skipped (why)` (refused: they stayed in line) |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: The final statuses of a call.
ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_REACHED_DIALS = frozenset({"completed", "answered"})


def text(record: Mapping[str, Any], name: str) -> str:
    """A property as stripped text ("" when absent)."""
    value = record.get(name)
    return str(value).strip() if value is not None else ""


def integer(value: Any) -> int | None:
    """A property as an int (None when it is not one)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def line_number(record: Mapping[str, Any]) -> str:
    """The number of the line a call was for: `Line`, else `To`."""
    return text(record, "Line") or text(record, "To")


def is_inbound(record: Mapping[str, Any]) -> bool:
    """Whether the record is of a call to one of our numbers."""
    return text(record, "Direction").lower() == "inbound"


#: The `Direction` of a call the app placed through the outbound-call queue.
PLACED = "outbound-api"


def is_placed(record: Mapping[str, Any]) -> bool:
    """Whether the record is of a call the app placed (the outbound-call queue)."""
    return text(record, "Direction").lower() == PLACED


def ended(record: Mapping[str, Any]) -> bool:
    """Whether the status callback said the call ended."""
    return text(record, "Status").lower() in ENDED


def reached(record: Mapping[str, Any]) -> bool:
    """Whether someone took the call (see the table in the module doc)."""
    said = record.get("Reached")
    if said is True or text(record, "TakenByJson") not in ("", "null", "{}"):
        return True
    if said is False:
        return False
    return text(record, "DialOutcome").lower() in _REACHED_DIALS


#: `Callback` while the caller's call back is still to come.
CALLBACK_PENDING = frozenset({"waiting", "connecting"})
#: `Callback` once the call back was placed and the caller answered it.
CALLBACK_ANSWERED = "answered"


def callback(record: Mapping[str, Any]) -> str:
    """The caller's call back (`Callback`, lower case; "" when they asked for none)."""
    return text(record, "Callback").lower()


def callback_failed(record: Mapping[str, Any]) -> bool:
    """Whether the caller was promised a call back that never reached them (nobody answered
    it, or it was dropped for its age)."""
    word = callback(record)
    return word == "unanswered" or word.startswith("dropped")


def taken_by(record: Mapping[str, Any]) -> str | None:
    """The name (else the number) of who took the call, when the record says: the person
    who took it off a ring group or a queue, else the one who took its call back."""
    found = _person(record, "TakenByJson")
    if found is None and callback(record) == CALLBACK_ANSWERED:
        found = _person(record, "CallbackBy")
    return found


def _person(record: Mapping[str, Any], name_of_field: str) -> str | None:
    raw = text(record, name_of_field)
    try:
        found = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    name = found.get("name") or found.get("number")
    return str(name) if name else None


def left_voicemail(record: Mapping[str, Any]) -> bool:
    """Whether the caller left a recording (one that is not 0 seconds long)."""
    if not (text(record, "RecordingSid") or text(record, "RecordingUrl")):
        return False
    return integer(record.get("RecordingDuration")) != 0
