"""The MessageLog fields of an incoming SMS (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from switchboard.sms.keywords import (
    parse_inbound,
)
from switchboard.sms.log import inbound_fields

SENDER = "+15558675310"
BUSINESS = "+15017122661"


def test_inbound_record_fields() -> None:
    at = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    message = parse_inbound(
        {
            "MessageSid": "SMx",
            "From": SENDER,
            "To": BUSINESS,
            "Body": " Stop ",
            "NumMedia": "1",
            "MediaUrl0": "https://m/0",
            "MediaContentType0": "image/jpeg",
        }
    )
    fields = inbound_fields(message, at, idempotency_token="tok")
    assert fields["Direction"] == "inbound"
    assert fields["Status"] == "received"
    assert fields["From"] == SENDER
    assert fields["To"] == BUSINESS
    assert fields["Body"] == " Stop "
    assert fields["NumMedia"] == 1
    assert json.loads(fields["MediaUrlsJson"]) == ["https://m/0"]
    assert fields["ReceivedAt"] == at
    assert fields["Keyword"] == "STOP"
    assert fields["KeywordKind"] == "opt-out"
    assert fields["IdempotencyToken"] == "tok"
