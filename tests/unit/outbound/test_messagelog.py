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


def test_a_refused_send_keeps_the_plain_words_of_its_code() -> None:
    def fields(code: int | None) -> dict[str, object]:
        return outbound_fields(
            sid=None,
            to=SENDER,
            from_=BUSINESS,
            body="hi",
            source="operator",
            status="failed",
            error_code=code,
            error_message="refused",
        )

    assert fields(30034)["Problem"] == "not registered (A2P 10DLC)"
    assert fields(30007)["Problem"] == "filtered by the carrier"
    assert "Problem" not in fields(21211)
    assert "Problem" not in fields(None)
