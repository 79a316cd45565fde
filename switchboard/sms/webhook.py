"""The incoming-SMS webhook (`POST /api/sms/incoming`): one trip per message.

verify → load → decide → write → answer:

1. verify: the shell (`switchboard.twilio.webhook.twilio_webhook`) checks settings and the
   signature (403, nothing written, when it fails), then calls `respond` here;
2. load what the decision needs (`switchboard.sms.decide.needs`): for STOP/START whether this
   message's keyword was already applied (its `step-keyword` marker: a Twilio retry) and, for
   START, the sender's opt-out; for an ordinary message with an auto-reply configured, the
   sender's opt-out (Twilio would refuse a reply to someone who said STOP);
3. decide (pure, `switchboard.sms.decide.decide`): the opt-out change and the reply;
4. write: the opt-out change first (a legal duty), then the MessageLog record with the
   keyword's marker in one transaction (they share a partition), then its index row;
5. answer `text/xml`.

Round trips to Table Storage per message: an ordinary text 2 (the record and its index row),
3 with an auto-reply (the opt-out read first); HELP 2; STOP 4 (marker read, opt-out insert,
record and marker, index); START 5, or 4 when the sender was not opted out.

Storage is best-effort: the sender gets the reply within Twilio's 15 s even when Table Storage
is down. The first storage failure is logged (MessageSid for correlation, numbers masked) and
ends the storage work for that request, so an outage costs at most one client timeout.

Retries write nothing twice: Twilio retries with the same MessageSid (and the same
`I-Twilio-Idempotency-Token`); the record's key is the MessageSid, and a keyword is applied only
while the message's marker is absent (the marker is written after the change, so a failure in
between lets Twilio's retry apply it again, which is idempotent).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func

from switchboard.http import twiml_response
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.optouts.rules import How
from switchboard.optouts.store import OptOutStore
from switchboard.phone import mask
from switchboard.settings import Settings
from switchboard.sms import keywords, replies
from switchboard.sms.decide import KEYWORD_STEP, Decision, Loaded, decide, needs
from switchboard.sms.keywords import InboundError, InboundMessage, KeywordKind
from switchboard.sms.log import record_inbound
from switchboard.sms.replies import ReplySettings
from switchboard.twilio.webhook import TwilioRequest

logger = get_logger(__name__)

#: How the stores are obtained (tests swap them to simulate an outage).
message_store_factory: Callable[[Settings], Any] = RecordStore.messages
optout_store_factory: Callable[[Settings], Any] = OptOutStore.from_settings


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
    reply_settings = ReplySettings.from_settings(settings)
    trip = _Trip(message, request, settings)
    try:
        loaded = load(trip, reply_settings)
    except StorageFailed as failure:
        _log_failure(message, failure)
        return twiml_response(replies.render(decide(message, Loaded(), reply_settings).reply))
    decision = decide(message, loaded, reply_settings)
    try:
        write(trip, decision, loaded)
    except StorageFailed as failure:
        _log_failure(message, failure)
    return twiml_response(replies.render(decision.reply))


def load(trip: _Trip, settings: ReplySettings) -> Loaded:
    """Read what `decide` needs (nothing, one read or two); StorageFailed when storage fails."""
    wanted = needs(trip.message, settings)
    if wanted.nothing:
        return Loaded()
    sid, sender = trip.message.sid, trip.message.from_
    applied = False
    if wanted.keyword_marker:
        with _step("keyword check"):
            applied = trip.log.has_step(sid, KEYWORD_STEP)
        if applied:
            logger.info("sms %s: keyword already applied (a Twilio retry)", sid)
            return Loaded(keyword_applied=True)
    opted_out: bool | None = None
    if wanted.sender_opt_out:
        with _step("opt-out lookup"):
            opted_out = trip.optouts.is_opted_out(sender)
    return Loaded(keyword_applied=applied, sender_opted_out=opted_out)


def write(trip: _Trip, decision: Decision, loaded: Loaded) -> None:
    """The opt-out change, then the MessageLog record (with the keyword's marker) and its index
    row; StorageFailed when storage fails (what was written before stays)."""
    message = trip.message
    if decision.opt_change is not None:
        with _step("opt-out/opt-in"):
            _change_opt_out(trip, decision.opt_change, loaded)
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
