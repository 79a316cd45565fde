"""Status words of messages and calls and their order (pure); where status callbacks go.

Twilio delivers status callbacks late, more than once and out of order, and two of them may be
applied at the same moment by two instances. So a record's status is never "the last callback
received" but the highest status seen in an explicit total order:

- messages: accepted < scheduled < queued < sending < sent < delivered < read < undelivered
  < failed < canceled;
- calls: queued < initiated < ringing < in-progress < completed < canceled < no-answer < busy
  < failed.

The states from `delivered` (messages) and `completed` (calls) on are terminal: a record never
moves back from them to an earlier state. Within the terminal tier the order is a fixed
precedence, used only when contradictory final reports arrive (Twilio's real sequences contain
one final state, plus `read` after `delivered`): failures rank above successes so that the error
code a failure carries is never attached to a success status.

Statuses the app sets itself (`received`, `rejected`, `dead-lettered`, ...) and statuses Twilio
may add in the future rank below every known one: Twilio's own report always wins over them, and
an unknown incoming status never moves a record.

Shared by every writer of CallLog and MessageLog: the status callbacks
(`switchboard.status.merge`), the MessageLog writes of what the app sends
(`switchboard.outbound.messagelog`), and everything that places a call or sends a message with a
`StatusCallback` (`status_callback_url`).
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote

UNKNOWN_RANK = -1

#: Error code Twilio returns (REST) or reports (callback) when the recipient has opted out.
OPTED_OUT_ERROR_CODE = 21610


class Kind(StrEnum):
    """Which log a status belongs to."""

    MESSAGE = "message"
    CALL = "call"


MESSAGE_ORDER: tuple[str, ...] = (
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "undelivered",
    "failed",
    "canceled",
)
CALL_ORDER: tuple[str, ...] = (
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "canceled",
    "no-answer",
    "busy",
    "failed",
)
MESSAGE_TERMINAL = frozenset(MESSAGE_ORDER[MESSAGE_ORDER.index("delivered") :])
CALL_TERMINAL = frozenset(CALL_ORDER[CALL_ORDER.index("completed") :])

_RANKS: dict[Kind, dict[str, int]] = {
    Kind.MESSAGE: {status: rank for rank, status in enumerate(MESSAGE_ORDER)},
    Kind.CALL: {status: rank for rank, status in enumerate(CALL_ORDER)},
}
_TERMINAL: dict[Kind, frozenset[str]] = {Kind.MESSAGE: MESSAGE_TERMINAL, Kind.CALL: CALL_TERMINAL}


def rank(kind: Kind, status: str | None) -> int:
    """Position of `status` in the kind's order; UNKNOWN_RANK for absent or unknown words."""
    if not status:
        return UNKNOWN_RANK
    return _RANKS[kind].get(status.strip().lower(), UNKNOWN_RANK)


def is_known(kind: Kind, status: str | None) -> bool:
    """Whether `status` is one of Twilio's status words for this kind."""
    return rank(kind, status) != UNKNOWN_RANK


def is_terminal(kind: Kind, status: str | None) -> bool:
    """Whether `status` is final for this kind (no earlier state can follow it)."""
    return (status or "").strip().lower() in _TERMINAL[kind]


def next_state(kind: Kind, current: str | None, incoming: str | None) -> str | None:
    """The status a record moves to when `incoming` is reported, or None to stay at `current`.

    It moves only forward in the order above; an unknown incoming word never moves it.
    """
    incoming_rank = rank(kind, incoming)
    if incoming_rank == UNKNOWN_RANK or incoming_rank <= rank(kind, current):
        return None
    return (incoming or "").strip().lower()


def status_callback_url(base_url: str, kind: Kind, record_id: str | None = None) -> str:
    """The StatusCallback URL for something the app places: `/api/status/<kind>?id=<record id>`.

    Twilio signs the URL with its query, so the `id` comes back verified and the callback finds
    the record even before the SID is stored with it.
    """
    url = f"{base_url.rstrip('/')}/api/status/{kind.value}"
    if record_id:
        url += "?id=" + quote(record_id, safe="")
    return url
