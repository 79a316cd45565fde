"""What an outgoing text, e-mail or call is for, who caused it, and how a refusal reads (pure).

Every message the app originates has a `Purpose` (what it is for: one window per subject, one
wording, one line in the records) and an `Origin`: `automatic` (nobody at the business chose
to send it: an auto-reply, a forward, a text-back, a voicemail notice; these count against the
line's budget), `operator` (someone at the business sent it: `POST /api/messages`, the CLI, a
call they queued) or `schedule` (a schedule the operator made). A refusal is recorded as
``skipped (<reason>)`` (`skipped`), never dropped in silence.
"""

from __future__ import annotations

from enum import StrEnum


class Origin(StrEnum):
    """Who decided that a message goes out."""

    AUTOMATIC = "automatic"
    OPERATOR = "operator"
    SCHEDULE = "schedule"


class Channel(StrEnum):
    """How it goes out."""

    SMS = "sms"
    CALL = "call"
    EMAIL = "email"


class Purpose(StrEnum):
    """What a message is for. Automatic purposes have a window per subject (`windows`)."""

    #: The line's `autoReply` / `closedReply` (or `SMS_AUTO_REPLY`) to a texter.
    AUTO_REPLY = "auto-reply"
    #: The answer to HELP / INFO.
    HELP = "help"
    #: A customer's text forwarded to the owner (`sms.forwardTo`, `OWNER_NUMBER`).
    FORWARD = "forward"
    #: A text telling a line's people about a voicemail (`voicemail.notify.sms`).
    VOICEMAIL = "voicemail"
    #: The e-mail telling them (`voicemail.notify.email`): counted per line, never per caller.
    VOICEMAIL_EMAIL = "voicemail-email"
    #: The missed-call text-back (`textBack`).
    TEXT_BACK = "text-back"
    #: The owner's one notice that a line's automatic texts paused (never counted or paused).
    BUDGET_NOTICE = "budget-notice"
    #: The owner's notice that a line's texts are not registered or are filtered (Twilio's
    #: 30034, 30007, ...: `problems`), sent from another number (never counted or paused).
    DELIVERY_NOTICE = "delivery-notice"
    #: A customer's text relayed to the line's staff.
    RELAY = "relay"
    #: A staff member's answer relayed to the customer.
    STAFF_REPLY = "staff-reply"
    #: A sign-in code for the owner's inbox, by SMS.
    SIGN_IN_CODE = "sign-in-code"
    #: A call back to a caller who left a call queue.
    CALLBACK = "callback"
    #: The answer to a customer's reply to a reminder ("C" → "Thanks, see you then.").
    REMINDER_ANSWER = "reminder-answer"
    #: A line's people told that a customer answered a reminder (a cancellation).
    REMINDER_NOTICE = "reminder-notice"
    #: Sent now by an operator (`POST /api/messages`, `python -m switchboard sms send`).
    OPERATOR = "operator"
    #: A schedule the operator made (`POST /api/sms/schedules`, CSV import).
    SCHEDULE = "schedule"
    #: An outbound call the operator queued (`POST /api/calls`, the queue, the CLI).
    CALL = "call"


#: The origin each purpose has unless the caller says otherwise.
ORIGINS: dict[Purpose, Origin] = {
    **{p: Origin.AUTOMATIC for p in Purpose},
    Purpose.STAFF_REPLY: Origin.OPERATOR,
    Purpose.OPERATOR: Origin.OPERATOR,
    Purpose.CALL: Origin.OPERATOR,
    Purpose.SCHEDULE: Origin.SCHEDULE,
}
#: Automatic purposes the line's budget never pauses: the owner's notices (that it paused, that
#: its texts are blocked), and a code someone at the business asked for to sign in.
UNBUDGETED = frozenset({Purpose.BUDGET_NOTICE, Purpose.DELIVERY_NOTICE, Purpose.SIGN_IN_CODE})

SENT = "sent"


def skipped(reason: str) -> str:
    """The word a record keeps for a message not sent: ``skipped (country not allowed)``."""
    return f"skipped ({reason})"


def reason_of(word: str) -> str | None:
    """The reason inside a ``skipped (...)`` word (None for any other word)."""
    if word.startswith("skipped (") and word.endswith(")"):
        return word[len("skipped (") : -1]
    return None
