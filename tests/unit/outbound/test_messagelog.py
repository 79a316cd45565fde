"""The MessageLog fields of what the app sends (pure)."""

from __future__ import annotations

import json

from switchboard.outbound.messagelog import outbound_fields

SENDER = "+15558675310"
BUSINESS = "+15017122661"


def test_outbound_record_fields() -> None:
    fields = outbound_fields(
        sid="SMy",
        to=SENDER,
        from_=BUSINESS,
        body="hello",
        media=["https://m/0", ""],
        source="operator",
        status="queued",
    )
    assert fields["Direction"] == "outbound"
    assert fields["Sid"] == "SMy"
    assert fields["NumMedia"] == 1
    assert json.loads(fields["MediaUrlsJson"]) == ["https://m/0"]
    assert fields["Source"] == "operator"
    assert "ErrorCode" not in fields
