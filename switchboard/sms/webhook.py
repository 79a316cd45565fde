"""The incoming-SMS webhook (`POST /api/sms/incoming`): one trip per message.

verify → load → decide → write → answer:

1. verify: the shell (`switchboard.twilio.webhook.twilio_webhook`) checks settings and the
   signature (403, nothing written, when it fails), then calls `respond` here;
2. load what the decision needs: the texted line's replies (`switchboard.lines`, from this
   instance's cache; its `sms` entries, else the `SMS_*` settings), the sender's contact
   (`switchboard.contacts.lookup`, this instance's cache, else one point read: a blocked
   contact's text is recorded and gets nothing automatic, STOP and START excepted) and
   (`switchboard.sms.decide.needs`) for STOP/START whether this
   message's keyword was already applied (its `step-keyword` marker: a Twilio retry) and, for
   START, the sender's opt-out; for a text that may get something automatic (an auto-reply, the
   HELP answer, a forward to the owner), the sender's partition of the OptOut table: its opt-out
   and its tallies on this line in one query (`switchboard.outbound.store`); for a text that
   could be a reply to a reminder (one word), the reminders awaiting the sender's reply on this
   line, in that same query (else one point read): a reply that answers one is bound to it and
   answered there (`take_reminder_reply`, `switchboard.schedules.reminders`), anything else is
   an ordinary text;
3. decide (pure, `switchboard.sms.decide.decide`): the opt-out change and the reply, through the
   outbound policy (`switchboard.outbound`: destinations and our own numbers, echoes, one
   auto-reply and one HELP answer per sender and line per window, capped forwards and their
   digest, the relay's window);
4. write: the opt-out change first (a legal duty), or the tallies (ETag-conditioned: another
   instance answering the same sender at once makes this one read and decide again), then the
   line's budget for the texts the answer sends (one conditional write; a line past its limit
   answers nothing automatic, and the first text past it sends the owner's notice); then the
   text's conversation (`switchboard.conversations`: its state, unread, the activity index) and
   its relay to the line's relay people; then the MessageLog record with the keyword's marker in
   one transaction (they share a partition), its day index row, and its conversation rows (the
   text and the answers to the sender, one transaction; a forward's row in the owner's
   conversation);
5. answer `text/xml`.

Round trips to Table Storage per message (besides the sender's contact, read once per
`LINES_CACHE_SECONDS` and instance): an ordinary text that gets nothing automatic 5 (the
record, its index row, its conversation row, and its conversation's state: one query for it
and the line's tag counter, one transaction; 6 for one word, which could answer a reminder; a
blocked contact's text 3: no conversation state), 6 when something automatic may be sent (the
sender's partition read first); a reply bound to a reminder 3 more than an auto-reply (the
schedule's id row read and written under its ETag, the reminder marked answered); an
auto-reply 8 (+ the tallies written, + the line's budget:
one conditional write while this instance's copy of the budget row is current, one read more
when it is not), a forward to the owner one more (its conversation row); HELP likewise; STOP 5
(marker read, opt-out insert, record and marker, index, conversation row); START 6, or 5 when
the sender was not opted out. On a line with relay people: the relay's ceiling (one write) and
six per person, sent in parallel (`switchboard.conversations.relaying`). A text from a
relay person is theirs, not a customer's (see `switchboard.conversations.relay`).

Storage is best-effort for the record, never for what goes out: when Table Storage is down the
sender gets a 200 with no automatic text (the outbound policy fails closed: a budget that
cannot be read cannot be kept), and the first storage failure is logged (MessageSid for
correlation, numbers masked) and ends the storage work for that request, so an outage costs at
most one client timeout. A STOP or START is the exception: when its change cannot be written,
the answer is 503 with no TwiML, so Twilio records the failure (error 11200), requests the
number's fallback URL if there is one and retries when the webhook URL asks it to; the change
waits in this instance's journal (`switchboard.optouts.journal`), which blocks texts to the
number at once and is written as soon as storage answers.

Retries write nothing twice: Twilio retries with the same MessageSid (and the same
`I-Twilio-Idempotency-Token`); the record's key is the MessageSid, a keyword is applied only
while the message's marker is absent (the marker is written after the change, so a failure in
between lets Twilio's retry apply it again, which is idempotent), the windows answer a retry of
the message they last let through as they did the first time, and the budget counts each text's
key once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import azure.functions as func

from switchboard import records
from switchboard.contacts import lookup as contacts
from switchboard.contacts.rules import ContactRef
from switchboard.http import twiml_response
from switchboard.lines import lookup as lines
from switchboard.lines.hours import State, state_at
from switchboard.lines.model import Line, RelayPerson
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.optouts.journal import PENDING, PendingChange
from switchboard.optouts.rules import How
from switchboard.optouts.store import OptOutStore, replay_pending
from switchboard.outbound.destinations import Destinations
from switchboard.outbound.messagelog import Answer
from switchboard.outbound.purposes import Purpose
from switchboard.outbound.service import Outbound
from switchboard.outbound.store import SenderState, SubjectStore
from switchboard.phone import is_e164, mask
from switchboard.schedules import reminders
from switchboard.settings import Settings
from switchboard.sms import keywords, replies
from switchboard.sms.decide import (
    KEYWORD_STEP,
    WORD_PROPERTIES,
    Decision,
    Loaded,
    Policing,
    decide,
    needs,
)
from switchboard.sms.keywords import InboundError, InboundMessage, KeywordKind
from switchboard.sms.log import record_inbound
from switchboard.sms.replies import Reply, ReplySettings
from switchboard.twilio.webhook import TwilioRequest

logger = get_logger(__name__)

#: How the stores are obtained (tests swap them to simulate an outage).
message_store_factory: Callable[[Settings], Any] = RecordStore.messages
optout_store_factory: Callable[[Settings], Any] = OptOutStore.from_settings
#: How the line of a texted number is found (this instance's cache, else the default line).
line_factory: Callable[[str, Settings], Line] = lines.line_for
#: Who a sender is (this instance's cache, else one point read of the Contacts table).
contact_factory: Callable[[Settings, str], ContactRef | None] = contacts.contact_for


def subject_store_factory(settings: Settings) -> Any:
    """The senders' rows live in the OptOut table: the opt-out store's table."""
    return SubjectStore(optout_store_factory(settings).table)


def outbound_factory(settings: Settings) -> Outbound:
    """The outbound policy (tests and the benchmark swap its stores)."""
    return Outbound(settings, subjects=subject_store_factory)


#: Placeholders for a decision that sends nothing automatic (it never looks at them).
_NOTHING = Policing(Destinations(frozenset(), frozenset()), {}, records.utcnow())


class StorageFailed(Exception):
    """A storage step failed: `step` says which; the storage error is the cause."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


class _Trip:
    """One request: the message, the verified request, and its stores (opened on first use)."""

    def __init__(self, message: InboundMessage, request: TwilioRequest, settings: Settings):
        self.message = message
        self.request = request
        self.settings = settings
        self._log: Any = None
        self._optouts: Any = None

    @property
    def log(self) -> Any:
        if self._log is None:
            self._log = message_store_factory(self.settings)
        return self._log

    @property
    def optouts(self) -> Any:
        if self._optouts is None:
            self._optouts = optout_store_factory(self.settings)
        return self._optouts


def respond(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
    """The `respond` step of `twilio_webhook`: load, decide, write, then answer with TwiML."""
    try:
        message = keywords.parse_inbound(request.params)
    except InboundError as exc:
        # Signed by Twilio yet incomplete: nothing to record or answer.
        logger.warning("sms: ignored an incoming-message webhook: %s", exc)
        return twiml_response(replies.render(replies.Reply()))
    keyword = message.keyword
    logger.info(
        "sms %s: %s from %s to %s (%d media)",
        message.sid,
        keyword.value if keyword else "message",
        mask(message.from_),
        mask(message.to),
        len(message.media),
        extra={"MessageSid": message.sid},
    )
    trip = _Trip(message, request, settings)
    _replay_journal(trip)
    # The order of checks: STOP/START first (a legal duty, whoever sends it), then a blocked
    # contact's text (recorded, nothing automatic), then a text from one of the line's relay
    # people (never a customer's text), then an ordinary text.
    if keyword in (KeywordKind.OPT_OUT, KeywordKind.OPT_IN):
        return _keyword_trip(trip)  # a legal duty: a blocked contact's STOP counts too
    sender = contact_factory(settings, message.from_)
    if sender is not None and sender.blocked:
        return _blocked_trip(trip, sender)
    line = line_factory(message.to, settings)
    person = line.relay_person(message.from_)
    if person is not None:
        return _relay_person_trip(trip, line, person)
    return _message_trip(trip, _reply_settings(line, settings), line)


def _reply_settings(line: Line, settings: Settings) -> ReplySettings:
    """Load: the texted line (this instance's cache, 0 reads while warm) and whether it is open
    now: its replies, else the settings'."""
    is_open = state_at(line.schedule, lines.now(settings))[0] is State.OPEN
    return ReplySettings.for_line(settings, line, is_open)


def _keyword_trip(trip: _Trip) -> func.HttpResponse:
    """STOP/START: the change must be recorded; 503 (and the journal) when it cannot be."""
    message = trip.message
    try:
        loaded = load_keyword(trip)
        decision = decide(message, loaded, ReplySettings(help_text=""), _NOTHING)
        if decision.opt_change is not None:
            with _step("opt-out/opt-in"):
                _change_opt_out(trip, decision.opt_change, loaded)
    except StorageFailed as failure:
        return _cannot_record(trip, failure)
    try:
        _write_record(trip, decision)
    except StorageFailed as failure:
        _log_failure(message, failure)
    return twiml_response(replies.render(decision.reply))


def _blocked_trip(trip: _Trip, sender: ContactRef) -> func.HttpResponse:
    """A blocked contact's text: recorded (`BlockedContact`: which contact), answered with
    nothing automatic: no auto-reply, no HELP answer, nothing forwarded or relayed."""
    message = trip.message
    logger.info(
        "sms %s: from a blocked contact: recorded, nothing automatic",
        message.sid,
        extra={"MessageSid": message.sid},
    )
    try:
        blocked = {"BlockedContact": sender.id}
        # Its conversation row says so too: among the events of a conversation the number had
        # before it was blocked, shown as blocked (it moves nothing: no unread, no reopening).
        _write_record(trip, Decision(None, False, Reply()), fields=blocked, outcome=blocked)
    except StorageFailed as failure:
        _log_failure(message, failure, answered="nothing automatic is sent")
    return twiml_response(replies.render(Reply()))


def _message_trip(trip: _Trip, reply_settings: ReplySettings, line: Line) -> func.HttpResponse:
    """Any other text: a reply to a reminder, else the reply through the outbound policy; its
    conversation and relay; then the record (best effort)."""
    message, settings = trip.message, trip.settings
    wanted = needs(message, reply_settings)
    policy = outbound_factory(settings)
    taken = take_reminder_reply(trip, line, policy, read_sender=wanted.sender_state)
    if taken.failed is not None:
        failure = StorageFailed("reminders")
        failure.__cause__ = taken.failed
        _log_failure(message, failure, answered="nothing automatic is sent")
        return _answer(message, Decision(None, False, Reply()))
    if taken.answered is not None:
        return _reminder_answered(trip, taken.answered, line)
    try:
        conversation = _conversation_before(trip, line)
    except StorageFailed as unread:
        _log_failure(message, unread, answered="nothing automatic is sent")
        return _answer(message, Decision(None, False, Reply()))
    if wanted.nothing:
        decision = decide(message, Loaded(), reply_settings, _NOTHING)
    else:
        policing = Policing(policy.destinations, policy.policies, _now())

        def decided(
            state: SenderState,
        ) -> tuple[Decision, dict[Purpose, Any], tuple[str, ...] | None]:
            loaded = Loaded(sender=state, relay_answered=_answered(conversation))
            result = decide(message, loaded, reply_settings, policing)
            return result, result.tallies, result.sent

        try:
            decision = policy.settle(message.from_, message.to, decided, taken.sender).result
        except Exception as exc:  # storage down, or other instances kept winning: fail closed
            failure = StorageFailed("sender state")
            failure.__cause__ = exc
            _log_failure(message, failure, answered="nothing automatic is sent")
            return _answer(message, Decision(None, False, Reply()))
        if decision.charges:
            from switchboard.lines.sending import line_ref

            charged = policy.charge(line_ref(line, settings, message.to), decision.charges)
            if not charged.allowed:
                decision = decision.without_texts(charged.reason or "refused")
    try:
        decision = _conversation_and_relay(trip, line, decision, conversation)
        _write_record(trip, decision)
    except StorageFailed as failure:
        _log_failure(message, failure)
    return _answer(message, decision)


# --- conversations and the relay (`switchboard.conversations.relaying`) ----------------------


def _relay_text(message: InboundMessage) -> Any:
    from switchboard.conversations.relaying import Text

    return Text(message.sid, message.from_, message.to, message.body, tuple(message.media_urls))


def _in_conversation(message: InboundMessage) -> bool:
    """Whether a text belongs to a conversation: a number's, not the line's own."""
    return is_e164(message.from_) and message.from_ != message.to


def _conversation_before(trip: _Trip, line: Line) -> Any:
    """Load: the sender's conversation on a line that relays (whether it was answered lately
    decides the relay's window); elsewhere the event's own write reads it."""
    if not line.sms_relay or not _in_conversation(trip.message):
        return None
    from switchboard.conversations import relaying

    with _step("conversation"):
        return relaying.before_text(trip.settings, _relay_text(trip.message))


def _answered(conversation: Any) -> bool:
    if conversation is None:
        return False
    from switchboard.conversations import relaying

    return relaying.answered(conversation, _now())


def _conversation_and_relay(
    trip: _Trip, line: Line, decision: Decision, conversation: Any
) -> Decision:
    """Write: the text in its conversation, and its relay to the line's relay people (the
    relay's word recorded on the message); StorageFailed when storage fails (the answer still
    goes out)."""
    message = trip.message
    if not _in_conversation(message):
        return decision
    from switchboard.conversations import relaying

    with _step("conversation"):
        word = relaying.customer_text(
            trip.settings,
            line,
            _relay_text(message),
            loaded=conversation,
            ruling=decision.relay,
        )
    if word is None:
        return decision
    return dataclasses.replace(decision, words={**decision.words, Purpose.RELAY: word})


def _relay_person_trip(trip: _Trip, line: Line, person: RelayPerson) -> func.HttpResponse:
    """A text from one of the line's relay people: a reply to a customer, or a command; the
    answer (when there is one) goes back to them in the TwiML."""
    from switchboard.conversations import relaying

    message = trip.message
    done = relaying.person_text(trip.settings, line, person, _relay_text(message))
    reply = Reply(to_sender=done.answer) if done.answer is not None else Reply()
    answers = (
        [Answer(message.from_, done.answer, Purpose.RELAY_ANSWER)]
        if done.answer is not None
        else []
    )
    try:
        with _step("MessageLog record"):
            record_inbound(
                trip.log,
                message,
                idempotency_token=trip.request.idempotency_token,
                words={"RelayCommand": done.word},
                answers=answers,
            )
    except StorageFailed as failure:
        _log_failure(message, failure)
    return twiml_response(replies.render(reply))


def take_reminder_reply(
    trip: _Trip, line: Line, policy: Outbound, *, read_sender: bool
) -> reminders.Taken:
    """The text as the reply to a reminder of this line (`switchboard.schedules.reminders`):
    bound to it, or not a reply (then the sender's state, when it was read with the reminders,
    for the ordinary decision)."""
    from switchboard.lines.sending import line_ref, people_to_tell

    message, settings = trip.message, trip.settings
    return reminders.take_reply(
        reminders.Text(
            message.sid, message.from_, message.to, message.body, message.messaging_service_sid
        ),
        line_ref(line, settings, message.to),
        people_to_tell(line, settings),
        policy,
        read_sender=read_sender,
    )


def _reminder_answered(trip: _Trip, answered: reminders.Answered, line: Line) -> func.HttpResponse:
    """A reply bound to a reminder: in its conversation (not relayed: the line's people hear
    of it by the reminder's own notice), recorded with what it did, its texts in the TwiML."""
    message = trip.message
    to_sender = None
    others = []
    for text in answered.texts:
        if text.to == message.from_ and text.purpose is Purpose.REMINDER_ANSWER:
            to_sender = text.body
        else:
            others.append((text.to, text.body))
    reply = Reply(to_sender=to_sender, others=tuple(others))
    try:
        _conversation_and_relay(trip, line, Decision(None, False, reply), None)
        _write_record(
            trip,
            Decision(None, False, reply),
            answers=[Answer(t.to, t.body, t.purpose) for t in answered.texts],
            fields=answered.record,
            outcome=answered.outcome,
        )
    except StorageFailed as failure:
        _log_failure(message, failure)
    return twiml_response(replies.render(reply))


def _answer(message: InboundMessage, decision: Decision) -> func.HttpResponse:
    if decision.withheld:
        logger.info(
            "sms %s: nothing automatic for %s",
            message.sid,
            "; ".join(decision.withheld),
            extra={"MessageSid": message.sid},
        )
    return twiml_response(replies.render(decision.reply))


def _now() -> Any:
    return records.utcnow()


def load_keyword(trip: _Trip) -> Loaded:
    """For STOP/START: whether the keyword was already applied and, for START, the sender's
    opt-out; StorageFailed when storage fails."""
    sid, sender = trip.message.sid, trip.message.from_
    with _step("keyword check"):
        applied = trip.log.has_step(sid, KEYWORD_STEP)
    if applied:
        logger.info("sms %s: keyword already applied (a Twilio retry)", sid)
        return Loaded(keyword_applied=True)
    if trip.message.keyword is not KeywordKind.OPT_IN:
        return Loaded()
    with _step("opt-out lookup"):
        record = trip.optouts.get(sender)
    return Loaded(sender=SenderState(sender, opt_out=record))


def answers_of(message: InboundMessage, decision: Decision) -> list[Answer]:
    """The texts the answer's TwiML sends, for their conversations."""
    reply = decision.reply
    found = []
    if reply.to_sender is not None:
        purpose = Purpose.HELP if message.keyword is KeywordKind.HELP else Purpose.AUTO_REPLY
        found.append(Answer(message.from_, reply.to_sender, purpose))
    if reply.forward_to is not None:
        found.append(
            Answer(
                reply.forward_to,
                reply.forward_body or "",
                Purpose.FORWARD,
                len(reply.forward_media),
            )
        )
    return found


def _write_record(
    trip: _Trip,
    decision: Decision,
    *,
    answers: list[Answer] | None = None,
    fields: Mapping[str, Any] | None = None,
    outcome: Mapping[str, Any] | None = None,
) -> None:
    """The MessageLog record (with the keyword's marker), its index and conversation rows;
    `fields`: more properties of the record, `outcome`: what the text did, on its conversation
    row. StorageFailed when storage fails."""
    message = trip.message
    with _step("MessageLog record"):
        created = record_inbound(
            trip.log,
            message,
            idempotency_token=trip.request.idempotency_token,
            steps=(KEYWORD_STEP,) if decision.mark_keyword else (),
            words={**{WORD_PROPERTIES[p]: w for p, w in decision.words.items()}, **(fields or {})},
            answers=answers if answers is not None else answers_of(message, decision),
            outcome=outcome,
        )
    if not created:
        logger.info("sms %s: already recorded (a Twilio retry)", message.sid)


def _change_opt_out(trip: _Trip, change: KeywordKind, loaded: Loaded) -> None:
    message = trip.message
    if change is KeywordKind.OPT_OUT:
        created = trip.optouts.opt_out(
            message.from_,
            How.KEYWORD,
            keyword=keywords.normalise_keyword(message.body),
            business_number=message.to or None,
            message_sid=message.sid,
        )
        done = "opted out" + ("" if created else " (already)")
    else:
        if loaded.sender_opted_out:
            trip.optouts.remove(message.from_)
        done = "opted in" + ("" if loaded.sender_opted_out else " (was not opted out)")
    logger.info(
        "sms %s: %s %s",
        message.sid,
        mask(message.from_),
        done,
        extra={"MessageSid": message.sid},
    )


def _cannot_record(trip: _Trip, failure: StorageFailed) -> func.HttpResponse:
    """A STOP/START that storage cannot take: kept in the journal, answered 503 (no TwiML) so
    Twilio records the failure instead of a success."""
    message = trip.message
    PENDING.add(
        PendingChange(
            number=message.from_.strip(),
            opted_out=message.keyword is KeywordKind.OPT_OUT,
            keyword=keywords.normalise_keyword(message.body),
            message_sid=message.sid,
            at=records.utcnow(),
            business_number=message.to or None,
        )
    )
    logger.error(
        "sms %s from %s: %s failed (storage error %s): the %s is kept by this instance and "
        "written when storage answers; answered 503 so that Twilio records the failure",
        message.sid,
        mask(message.from_),
        failure.step,
        type(failure.__cause__).__name__,
        "opt-out" if message.keyword is KeywordKind.OPT_OUT else "opt-in",
        extra={"MessageSid": message.sid},
    )
    return func.HttpResponse("Service unavailable", status_code=503, mimetype="text/plain")


def _replay_journal(trip: _Trip) -> None:
    """Write the opt-out changes this instance could not write earlier, before anything else."""
    replay_pending(lambda: trip.optouts)


@contextlib.contextmanager
def _step(name: str) -> Iterator[None]:
    """Any storage error inside the block becomes StorageFailed naming the step."""
    try:
        yield
    except Exception as exc:  # storage down or refusing: the reply still goes out
        raise StorageFailed(name) from exc


def _log_failure(
    message: InboundMessage, failure: StorageFailed, answered: str = "the reply is sent anyway"
) -> None:
    logger.error(
        "sms %s from %s: %s failed (storage error %s): nothing more written; %s",
        message.sid,
        mask(message.from_),
        failure.step,
        type(failure.__cause__).__name__,
        answered,
        extra={"MessageSid": message.sid},
    )
