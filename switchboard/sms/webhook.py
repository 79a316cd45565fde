"""The incoming-SMS webhook (`POST /api/sms/incoming`): one trip per message.

verify → load → decide → write → answer:

1. verify: the shell (`switchboard.twilio.webhook.twilio_webhook`) checks settings and the
   signature (403, nothing written, when it fails), then calls `respond` here;
2. load what the decision needs: the texted line's replies (`switchboard.lines`, from this
   instance's cache; its `sms` entries, else the `SMS_*` settings) and
   (`switchboard.sms.decide.needs`) for STOP/START whether this
   message's keyword was already applied (its `step-keyword` marker: a Twilio retry) and, for
   START, the sender's opt-out; for a text that may get something automatic (an auto-reply, the
   HELP answer, a forward to the owner), the sender's partition of the OptOut table: its opt-out
   and the loop guard's tallies in one query (`switchboard.guard.store`);
3. decide (pure, `switchboard.sms.decide.decide`): the opt-out change and the reply, through the
   loop guard (`switchboard.guard`: own numbers, echoes, one auto-reply and one HELP answer per
   sender per window, capped forwards and their digest);
4. write: the opt-out change first (a legal duty), or the guard's tallies (ETag-conditioned:
   another instance answering the same sender at once makes this one read and decide again);
   then the MessageLog record with the keyword's marker in one transaction (they share a
   partition), then its index row;
5. answer `text/xml`.

Round trips to Table Storage per message: an ordinary text 2 (the record and its index row),
3 when something automatic may be sent (the sender's partition read first), 4 when it is (the
tallies written); HELP 3-4 likewise; STOP 4 (marker read, opt-out insert, record and marker,
index); START 5, or 4 when the sender was not opted out.

Storage is best-effort for the reply: the sender gets it within Twilio's 15 s even when Table
Storage is down (the guard then decides from this instance's memory, so each instance still
answers a sender at most once per window). The first storage failure is logged (MessageSid for
correlation, numbers masked) and ends the storage work for that request, so an outage costs at
most one client timeout. A STOP or START is the exception: when its change cannot be written,
the answer is 503 with no TwiML, so Twilio records the failure (error 11200), requests the
number's fallback URL if there is one and retries when the webhook URL asks it to; the change
waits in this instance's journal (`switchboard.optouts.journal`), which blocks texts to the
number at once and is written as soon as storage answers.

Retries write nothing twice: Twilio retries with the same MessageSid (and the same
`I-Twilio-Idempotency-Token`); the record's key is the MessageSid, a keyword is applied only
while the message's marker is absent (the marker is written after the change, so a failure in
between lets Twilio's retry apply it again, which is idempotent), and the guard answers a retry
of the message it last let through as it did the first time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func

from switchboard import records
from switchboard.guard.own_numbers import OWN_NUMBERS, OwnNumbers
from switchboard.guard.rules import Purpose, Tally
from switchboard.guard.service import GuardBusy, LoopGuard
from switchboard.guard.store import GuardStore, SenderState
from switchboard.http import twiml_response
from switchboard.lines import lookup as lines
from switchboard.lines.hours import State, state_at
from switchboard.lines.model import Line
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.optouts.journal import PENDING, PendingChange
from switchboard.optouts.rules import How
from switchboard.optouts.store import OptOutStore, replay_pending
from switchboard.phone import mask
from switchboard.settings import Settings
from switchboard.sms import keywords, replies
from switchboard.sms.decide import KEYWORD_STEP, Decision, Guarding, Loaded, decide, needs
from switchboard.sms.keywords import InboundError, InboundMessage, KeywordKind
from switchboard.sms.log import record_inbound
from switchboard.sms.replies import Reply, ReplySettings
from switchboard.twilio.webhook import TwilioRequest

logger = get_logger(__name__)

#: How the stores are obtained (tests swap them to simulate an outage).
message_store_factory: Callable[[Settings], Any] = RecordStore.messages
optout_store_factory: Callable[[Settings], Any] = OptOutStore.from_settings
#: The account's numbers (tests swap the cache).
own_numbers: OwnNumbers = OWN_NUMBERS
#: How the line of a texted number is found (this instance's cache, else the default line).
line_factory: Callable[[str, Settings], Line] = lines.line_for


def guard_store_factory(settings: Settings) -> Any:
    """The loop guard's rows live in the OptOut table: the opt-out store's table."""
    return GuardStore(optout_store_factory(settings).table)


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
    if keyword in (KeywordKind.OPT_OUT, KeywordKind.OPT_IN):
        return _keyword_trip(trip)
    return _message_trip(trip, _reply_settings(message, settings))


def _reply_settings(message: InboundMessage, settings: Settings) -> ReplySettings:
    """Load: the texted line (this instance's cache, 0 reads while warm) and whether it is open
    now: its replies, else the settings'."""
    line = line_factory(message.to, settings)
    is_open = state_at(line.schedule, lines.now(settings))[0] is State.OPEN
    return ReplySettings.for_line(settings, line, is_open)


def _keyword_trip(trip: _Trip) -> func.HttpResponse:
    """STOP/START: the change must be recorded; 503 (and the journal) when it cannot be."""
    message = trip.message
    guarding = Guarding(frozenset(), {}, records.utcnow())
    try:
        loaded = load_keyword(trip)
        decision = decide(message, loaded, ReplySettings(help_text=""), guarding)
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


def _message_trip(trip: _Trip, reply_settings: ReplySettings) -> func.HttpResponse:
    """Any other text: the reply through the loop guard, then the record (best effort)."""
    message, settings = trip.message, trip.settings
    if needs(message, reply_settings).nothing:
        decision = decide(message, Loaded(), reply_settings, Guarding(frozenset(), {}, _now()))
    else:
        guard = LoopGuard(
            settings, store_factory=guard_store_factory, own_numbers=own_numbers, clock=_now
        )
        guarding = Guarding(guard.ours(message.to), guard.policies, _now())

        def decided(state: SenderState) -> tuple[Decision, dict[Purpose, Tally]]:
            result = decide(message, Loaded(sender=state), reply_settings, guarding)
            return result, result.tallies

        try:
            settled = guard.settle(message.from_, decided)
        except GuardBusy as exc:
            logger.warning("sms %s: nothing automatic sent: %s", message.sid, exc)
            decision = Decision(None, False, Reply())
        else:
            decision = settled.result
            if settled.storage_error is not None:
                failure = StorageFailed("sender state")
                failure.__cause__ = settled.storage_error
                _log_failure(message, failure)
                return _answer(message, decision)
    try:
        _write_record(trip, decision)
    except StorageFailed as failure:
        _log_failure(message, failure)
    return _answer(message, decision)


def _answer(message: InboundMessage, decision: Decision) -> func.HttpResponse:
    if decision.withheld:
        logger.info(
            "sms %s: loop guard withheld %s",
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


def _write_record(trip: _Trip, decision: Decision) -> None:
    """The MessageLog record (with the keyword's marker) and its index row; StorageFailed
    when storage fails."""
    message = trip.message
    with _step("MessageLog record"):
        created = record_inbound(
            trip.log,
            message,
            idempotency_token=trip.request.idempotency_token,
            steps=(KEYWORD_STEP,) if decision.mark_keyword else (),
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


def _log_failure(message: InboundMessage, failure: StorageFailed) -> None:
    logger.error(
        "sms %s from %s: %s failed (storage error %s): nothing more written; the reply is sent "
        "anyway",
        message.sid,
        mask(message.from_),
        failure.step,
        type(failure.__cause__).__name__,
        extra={"MessageSid": message.sid},
    )
