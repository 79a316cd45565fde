"""MessageLog writes of what the app sends, shared by every path that sends an SMS.

`record_outbound_message(store, sid, to, from_, body, media, source, ...)`: every outbound path
(operator send, scheduled SMS, CLI) right after Twilio accepted (or refused) the message. It is
idempotent: the same message recorded twice writes nothing the second time. A status callback
may arrive before `record_outbound_message` runs (Twilio can be that fast); it then created a
record marked `Unknown=True`, and `record_outbound_message` completes that record instead of
failing, without moving its status back (`switchboard.logbook.statuses` order).

Outbound record: Id = the SID (or `record_id` when there is no SID, e.g. a refused send),
`Direction=outbound`, `To`, `From`, `Body`, `NumMedia`, `MediaUrlsJson`, `Source`, `Status`,
`SentAt`, and `ErrorCode`/`ErrorMessage` when it failed. Pass the StatusCallback built with
`statuses.status_callback_url(base, Kind.MESSAGE)` when sending, so the record follows Twilio.

Incoming messages are recorded by the SMS webhook (`switchboard.sms.log`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from switchboard import records
from switchboard.logbook.statuses import Kind, next_state
from switchboard.logbook.store import Entity, RecordStore

DIRECTION_OUTBOUND = "outbound"
# Facts only the app knows about what it sent: they replace whatever an early callback guessed.
_AUTHORITATIVE = ("Direction", "To", "From", "Body", "NumMedia", "MediaUrlsJson", "Source")


def outbound_fields(
    *,
    sid: str | None,
    to: str,
    from_: str | None,
    body: str | None,
    media: Sequence[str] = (),
    source: str,
    status: str,
    sent_at: datetime | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
) -> dict[str, Any]:
    """The MessageLog properties of an outbound message the app sent (or tried to send).

    `source` says which path sent it (`operator`, `schedule`, `cli`, `test`, ...).
    """
    media_urls = [url for url in media if url]
    fields: dict[str, Any] = {
        "Direction": DIRECTION_OUTBOUND,
        "To": to,
        "Body": body or "",
        "NumMedia": len(media_urls),
        "MediaUrlsJson": json.dumps(media_urls),
        "Source": source,
        "Status": status,
        "SentAt": sent_at or records.utcnow(),
    }
    if sid:
        fields["Sid"] = sid
    if from_:
        fields["From"] = from_
    if error_code is not None:
        fields["ErrorCode"] = error_code
    if error_message:
        fields["ErrorMessage"] = error_message
    return fields


def outbound_change(fields: dict[str, Any]) -> Any:
    """The `RecordStore.update` change that records an outbound message (see module doc)."""

    def change(current: Entity | None) -> dict[str, Any] | None:
        if current is None:
            return dict(fields)
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "Status":
                moved = next_state(Kind.MESSAGE, current.get("Status"), value)
                if moved is not None or not current.get("Status"):
                    changes[key] = moved or value
            elif key in _AUTHORITATIVE:
                if current.get(key) != value:
                    changes[key] = value
            elif current.get(key) in (None, "") and value not in (None, ""):
                changes[key] = value
        if current.get("Unknown"):
            changes["Unknown"] = False
        return changes or None

    return change


def record_outbound_message(
    store: RecordStore,
    sid: str | None,
    to: str,
    from_: str | None,
    body: str | None,
    media: Sequence[str] = (),
    source: str = "operator",
    *,
    status: str = "queued",
    record_id: str | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
    sent_at: datetime | None = None,
) -> Entity | None:
    """Record a message the app sent (or tried to); returns the stored record.

    `sid` is Twilio's MessageSid (None when Twilio refused the send: then `record_id` is
    required). `status` is what Twilio answered (`queued`, `accepted`, ...) or `failed`.
    """
    key = record_id or sid
    if not key:
        raise ValueError("record_outbound_message needs a sid or a record_id")
    fields = outbound_fields(
        sid=sid,
        to=to,
        from_=from_,
        body=body,
        media=media,
        source=source,
        status=status,
        sent_at=sent_at,
        error_code=error_code,
        error_message=error_message,
    )
    result = store.update(key, outbound_change(fields))
    if sid and sid != key:
        store.add_sid_alias(key, sid)
    return result
