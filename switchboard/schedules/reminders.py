"""A customer's reply to a reminder, taken by the SMS webhook (`take_reply`).

The rules are `switchboard.schedules.replies`; the rows, `switchboard.schedules.responses`. The
SMS webhook calls `take_reply` for every ordinary text (after STOP/START and the commands of the
line's people, before the auto-reply and forwards), one trip:

1. read: nothing for a text that cannot be a reply (more than one word: `reply_word`); else
   the (line, customer) row of outstanding reminders: with the sender's partition of the OptOut
   table when the webhook reads it anyway (`read_sender`: no extra read; the state read is
   handed back for the ordinary decision), else one point read;
2. decide: the most recent outstanding reminder that takes the word (`replies.find`); none (or
   a late reply) → an ordinary text;
3. write: the response on the schedule's id row (ETag-conditioned: once, whichever instance and
   however often Twilio retries; a reminder another reply answered first leaves this one an
   ordinary text), the reminder marked answered on its row, then what the answer sends through
   the outbound policy (the customer's windows, the line's budget);
4. answer: the webhook puts the texts in its TwiML (the answer to the customer, a note to the
   line's people for a cancellation) and records the text with what it did (`Answered.record`,
   `Answered.outcome`: "confirmed reminder appt-42" in the conversation).

Storage trouble while reading or binding is handed back (`Taken.failed`): the webhook then
answers nothing automatic and writes nothing more, as for any text storage cannot take (an
outage costs one client timeout, not two).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switchboard import records
from switchboard.logs import get_logger
from switchboard.outbound import wording
from switchboard.outbound.purposes import Purpose, skipped
from switchboard.outbound.service import STORAGE_UNAVAILABLE, LineRef, Outbound
from switchboard.outbound.store import SenderState
from switchboard.phone import mask
from switchboard.schedules import replies as reply_rules
from switchboard.schedules.replies import Binding, Match, Plan
from switchboard.schedules.responses import Responses
from switchboard.settings import Settings

logger = get_logger(__name__)

#: The inbound record's properties for what its reply did (and each text's word).
RECORD_PROPERTIES = {
    Purpose.REMINDER_ANSWER: "ReminderAnswer",
    Purpose.REMINDER_NOTICE: "ReminderNotice",
}
#: How much of the reminder a note to the line's people quotes.
QUOTED_CHARS = 80


@dataclass(frozen=True)
class Text:
    """An incoming text, as the reminders see it."""

    sid: str
    customer: str
    line: str
    body: str
    messaging_service: str | None = None


@dataclass(frozen=True)
class Answered:
    """A text bound as the reply to a reminder."""

    schedule_id: str
    choice: reply_rules.Choice
    #: What the answer sends (in the webhook's TwiML).
    texts: tuple[reply_rules.Text, ...]
    #: Each text wanted: ``sent`` or ``skipped (why)``.
    words: Mapping[Purpose, str]
    #: True for a reply this very message had already bound (a Twilio retry).
    repeat: bool = False

    @property
    def record(self) -> dict[str, Any]:
        """The properties the text's MessageLog record gets."""
        found: dict[str, Any] = {
            "Reminder": self.schedule_id,
            "ReminderResponse": self.choice.means,
        }
        found.update({RECORD_PROPERTIES[p]: w for p, w in self.words.items()})
        return found

    @property
    def outcome(self) -> dict[str, Any]:
        """What the text's row in its conversation shows: "confirmed reminder appt-42"."""
        return {"Reminder": self.schedule_id, "Response": self.choice.means}


@dataclass(frozen=True)
class Taken:
    """What `take_reply` found: the reply bound (None: an ordinary text), the sender's state
    when it was read (for the ordinary decision, so it is not read twice), and the storage
    failure that stopped it (then nothing is known: nothing automatic may go out)."""

    answered: Answered | None = None
    sender: SenderState | None = None
    failed: BaseException | None = None


@dataclass
class _Trip:
    """One text's look at its reminders: the store opened on first use."""

    text: Text
    policy: Outbound
    factory: Callable[[Settings], Responses] | None = None
    sender: SenderState | None = None
    rows: dict[str, Any] = field(default_factory=dict)
    _responses: Responses | None = None

    @property
    def responses(self) -> Responses:
        if self._responses is None:
            settings = self.policy.settings
            if self.factory is not None:
                self._responses = self.factory(settings)
            else:
                # The reminder rows share the OptOut table with the sender's rows.
                index = self.policy.subjects(settings).table
                self._responses = Responses.from_settings(settings, index)
        return self._responses


def take_reply(
    text: Text,
    line: LineRef,
    notify: Sequence[str],
    policy: Outbound,
    *,
    read_sender: bool,
    responses: Callable[[Settings], Responses] | None = None,
) -> Taken:
    """Bind `text` to the reminder it answers, if any (see the module doc). `line`: the line
    texted (its budget pays the answer); `notify`: who hears of a notifying reply (the line's
    relay people, else its owner); `read_sender`: whether the webhook needs the sender's state
    anyway (then it is read here, with the reminders, and handed back)."""
    word = reply_rules.reply_word(text.body)
    if word is None:
        return Taken()
    trip = _Trip(text, policy, responses)
    keys = reply_rules.index_row_keys(text.line, text.messaging_service)
    try:
        if read_sender:
            subjects = policy.subjects(policy.settings)
            trip.sender = subjects.load(text.customer, text.line, also=keys)
            trip.rows = dict(trip.sender.rows)
        else:
            trip.rows = trip.responses.outstanding(text.customer, keys)
    except Exception as exc:  # storage: the webhook fails closed
        return Taken(failed=exc)
    found = _find(trip.rows, word, records.utcnow(), text.sid)
    if found is None:
        return Taken(None, trip.sender)
    row, match = found
    try:
        answered = _bind(trip, row, match, line, notify)
    except Exception as exc:  # storage: the webhook fails closed
        return Taken(None, trip.sender, exc)
    return Taken(answered, trip.sender)


def _find(
    rows: Mapping[str, Any], word: str, now: datetime, sid: str
) -> tuple[dict[str, Any], Match] | None:
    """The row and reminder the word answers: the most recent outstanding one of any row."""
    best: tuple[dict[str, Any], Match] | None = None
    for row in rows.values():
        match = reply_rules.find(reply_rules.index_entries(row), word, now, sid)
        if match is not None and (best is None or match.entry.sent_at > best[1].entry.sent_at):
            best = (row, match)
    return best


def _bind(
    trip: _Trip, row: dict[str, Any], match: Match, line: LineRef, notify: Sequence[str]
) -> Answered | None:
    """The response written (or found: a retry), the reminder marked answered, the texts."""
    text, entry = trip.text, match.entry
    verdict, id_row = trip.responses.bind(
        entry.schedule_id, match.choice, text.sid, records.utcnow()
    )
    if verdict in (Binding.TAKEN, Binding.GONE) or id_row is None:
        logger.info(
            "sms %s: reminder %s was answered already: an ordinary text",
            text.sid,
            entry.schedule_id,
        )
        by = str(id_row.get("ResponseSid") or "") if id_row is not None else None
        trip.responses.mark_answered(row, entry.schedule_id, by)
        return None
    if verdict is Binding.BIND:
        trip.responses.mark_answered(row, entry.schedule_id, text.sid)
    logger.info(
        "sms %s: %s answered reminder %s: %s%s",
        text.sid,
        mask(text.customer),
        entry.schedule_id,
        match.choice.means,
        " (a retry)" if verdict is Binding.REPEAT else "",
        extra={"MessageSid": text.sid},
    )
    plan = _texts(trip, match, line, notify, str(id_row.get("Body") or ""))
    return Answered(
        entry.schedule_id, match.choice, plan.texts, plan.words, verdict is Binding.REPEAT
    )


def _texts(trip: _Trip, match: Match, line: LineRef, notify: Sequence[str], reminder: str) -> Plan:
    """What the answer sends: planned on the customer's state (its windows written under
    their ETag), then charged to the line's budget; storage trouble sends nothing."""
    from switchboard.contacts.lookup import with_name

    text, choice, policy = trip.text, match.choice, trip.policy
    answer = choice.answer or wording.reminder_answer(choice.means)
    notice = None
    if choice.notify:
        notice = wording.reminder_notice(
            with_name(policy.settings, text.customer),
            choice.key,
            choice.means,
            match.entry.schedule_id,
            wording.fit(" ".join(reminder.split()), QUOTED_CHARS),
        )
    now = records.utcnow()

    def decide(state: SenderState) -> tuple[Plan, dict[Purpose, Any], tuple[str, ...] | None]:
        plan = reply_rules.plan_texts(
            sid=text.sid,
            customer=text.customer,
            line=text.line,
            answer=answer,
            notice=notice,
            notify=notify,
            state=state,
            destinations=policy.destinations,
            policies=policy.policies,
            now=now,
        )
        return plan, plan.tallies, plan.sent

    try:
        plan = policy.settle(text.customer, text.line, decide, first=trip.sender).result
    except Exception as exc:  # storage down or contended: nothing automatic (fail closed)
        logger.warning("sms %s: the answer is not sent (%s)", text.sid, type(exc).__name__)
        wanted = {Purpose.REMINDER_ANSWER: skipped(STORAGE_UNAVAILABLE)}
        if notice is not None and notify:
            wanted[Purpose.REMINDER_NOTICE] = skipped(STORAGE_UNAVAILABLE)
        return Plan((), wanted)
    if plan.charges:
        charged = policy.charge(line, plan.charges)
        if not charged.allowed:
            return plan.refused(charged.reason or "refused")
    return plan
