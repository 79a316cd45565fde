"""The incoming-SMS webhook's `respond` step (`POST /api/sms/incoming`).

The blueprint (`switchboard.sms.blueprint`) hands each verified request (`twilio_webhook` checks
settings and the signature: 403, nothing written, when it fails) to `respond` here;
`switchboard.sms.keywords` classifies the text and builds the TwiML; this module writes the opt-out
change and the MessageLog record, then answers `text/xml`.

Storage work is best-effort and ordered by importance: the opt-out/opt-in first (a legal duty),
then the MessageLog record, then (only when an auto-reply is configured) the sender's opt-out
state. The first storage failure is logged (MessageSid for correlation, numbers masked) and ends
the storage work for that request, so a storage outage costs at most one client timeout and the
sender still gets the reply within Twilio's 15 s.

Retries write nothing twice: Twilio retries with the same MessageSid (and the same
`I-Twilio-Idempotency-Token`); the record's key is the MessageSid, and a keyword is applied only
while the message's `step-keyword` marker is absent (the marker is written after the change). So
a STOP retried after a later START does not opt the person out again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.functions as func

from switchboard import records
from switchboard.http import twiml_response
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.optouts.rules import How
from switchboard.optouts.store import OptOutStore
from switchboard.phone import mask
from switchboard.settings import Settings
from switchboard.sms import keywords, replies
from switchboard.sms.keywords import InboundError, InboundMessage, KeywordKind
from switchboard.sms.log import record_inbound
from switchboard.sms.replies import ReplySettings
from switchboard.storage import tables
from switchboard.twilio.webhook import TwilioRequest

logger = get_logger(__name__)

KEYWORD_STEP = "keyword"

#: How the stores are obtained (tests swap them to simulate an outage).
message_store_factory: Callable[[Settings], Any] = RecordStore.messages
optout_store_factory: Callable[[Settings], Any] = OptOutStore.from_settings


def reply_settings(settings: Settings) -> ReplySettings:
    """The SMS reply settings: SMS_HELP_TEXT, SMS_AUTO_REPLY, OWNER_NUMBER."""
    return ReplySettings(
        help_text=settings.sms_help_text,
        auto_reply=settings.sms_auto_reply,
        owner_number=settings.owner_number,
    )


def respond(request: TwilioRequest, settings: Settings) -> func.HttpResponse:
    """The `respond` step of `twilio_webhook`: record, then answer with TwiML."""
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
    sender_opted_out = record_message(message, request, settings)
    twiml = replies.build_reply(
        message, reply_settings(settings), sender_opted_out=sender_opted_out
    )
    return twiml_response(twiml)


def record_message(message: InboundMessage, request: TwilioRequest, settings: Settings) -> bool:
    """Apply the keyword and log the message; returns whether the sender is opted out.

    Never raises: a storage failure is logged and the remaining writes are skipped.
    """
    keyword = message.keyword
    step = "opt-out/opt-in"
    try:
        log_store = message_store_factory(settings)
        opted_out = False
        if keyword in (KeywordKind.OPT_OUT, KeywordKind.OPT_IN):
            opted_out = _apply_keyword(log_store, message, keyword, settings)
        step = "MessageLog record"
        if not record_inbound(log_store, message, idempotency_token=request.idempotency_token):
            logger.info("sms %s: already recorded (a Twilio retry)", message.sid)
        if keyword is None and settings.sms_auto_reply:
            step = "opt-out lookup"
            opted_out = optout_store_factory(settings).is_opted_out(message.from_)
        return opted_out
    except Exception as exc:  # storage down or refusing: the reply still goes out
        logger.error(
            "sms %s from %s: %s not written (storage error %s); the reply is sent anyway",
            message.sid,
            mask(message.from_),
            step,
            type(exc).__name__,
            extra={"MessageSid": message.sid},
        )
        return keyword is KeywordKind.OPT_OUT


def _apply_keyword(
    log_store: Any, message: InboundMessage, keyword: KeywordKind, settings: Settings
) -> bool:
    """Opt out or in once per message; returns whether the sender is now opted out."""
    marker = tables.get_or_none(log_store.table, message.sid, records.STEP_PREFIX + KEYWORD_STEP)
    if marker is not None:
        logger.info("sms %s: keyword already applied (a Twilio retry)", message.sid)
        return keyword is KeywordKind.OPT_OUT
    store = optout_store_factory(settings)
    if keyword is KeywordKind.OPT_OUT:
        created = store.opt_out(
            message.from_,
            How.KEYWORD,
            keyword=keywords.normalise_keyword(message.body),
            business_number=message.to or None,
            message_sid=message.sid,
        )
        logger.info(
            "sms %s: %s opted out%s",
            message.sid,
            mask(message.from_),
            "" if created else " (already)",
            extra={"MessageSid": message.sid},
        )
    else:
        removed = store.opt_in(message.from_)
        logger.info(
            "sms %s: %s opted in%s",
            message.sid,
            mask(message.from_),
            "" if removed else " (was not opted out)",
            extra={"MessageSid": message.sid},
        )
    # Written after the change: a failure in between lets Twilio's retry apply it again.
    log_store.mark_step(message.sid, KEYWORD_STEP)
    return keyword is KeywordKind.OPT_OUT
