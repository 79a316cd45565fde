"""The MessageLog record of an incoming SMS: its fields (pure) and its write (through the one
MessageLog writer, `switchboard.outbound.messagelog`, which also indexes it in its conversation).

Record id = the MessageSid; `Direction=inbound`, `Status=received`, the numbers, the body, the
media URLs and content types, the keyword it is (if any), Twilio's idempotency token, and the
word of each automatic answer it wanted (`AutoReply`, `Help`, `Forward`: ``sent`` or
``skipped (why)``); a reply to a reminder, the reminder (`Reminder`), what the reply means
(`ReminderResponse`) and the words of its answer and note (`ReminderAnswer`, `ReminderNotice`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from switchboard import records
from switchboard.logbook.store import RecordStore
from switchboard.outbound.messagelog import Answer
from switchboard.outbound.messagelog import record_inbound as write_inbound
from switchboard.sms.keywords import InboundMessage, normalise_keyword

DIRECTION_INBOUND = "inbound"
STATUS_RECEIVED = "received"


def inbound_fields(
    message: InboundMessage,
    received_at: datetime,
    *,
    idempotency_token: str | None = None,
) -> dict[str, Any]:
    """The MessageLog properties of an inbound message (record id = its MessageSid)."""
    fields: dict[str, Any] = {
        "Sid": message.sid,
        "Direction": DIRECTION_INBOUND,
        "From": message.from_,
        "To": message.to,
        "Body": message.body,
        "NumMedia": len(message.media),
        "MediaUrlsJson": json.dumps(message.media_urls),
        "MediaContentTypesJson": json.dumps([kind for _, kind in message.media]),
        "ReceivedAt": received_at,
        "Status": STATUS_RECEIVED,
    }
    keyword = message.keyword
    if keyword is not None:
        fields["Keyword"] = normalise_keyword(message.body)
        fields["KeywordKind"] = keyword.value
    if message.num_segments is not None:
        fields["NumSegments"] = message.num_segments
    if message.messaging_service_sid:
        fields["MessagingServiceSid"] = message.messaging_service_sid
    if idempotency_token:
        fields["IdempotencyToken"] = idempotency_token
    return fields


def record_inbound(
    store: RecordStore,
    message: InboundMessage,
    *,
    received_at: datetime | None = None,
    idempotency_token: str | None = None,
    steps: Sequence[str] = (),
    words: Mapping[str, Any] | None = None,
    answers: Sequence[Answer] = (),
    outcome: Mapping[str, Any] | None = None,
) -> bool:
    """Record an incoming message; False when it was already recorded (a Twilio retry).

    `steps` are step markers written with the record, in one transaction (`RecordStore.create`);
    `words` the automatic answers' words (property → word) and what else the text did (the
    reminder it answered); `answers` the texts of its TwiML, indexed in their conversations;
    `outcome` what its own conversation row shows of what it did.
    """
    fields = inbound_fields(
        message, received_at or records.utcnow(), idempotency_token=idempotency_token
    )
    fields.update(words or {})
    return write_inbound(
        store,
        message.sid,
        fields,
        line=message.to,
        party=message.from_,
        received_at=fields["ReceivedAt"],
        steps=steps,
        answers=answers,
        outcome=outcome,
    )
