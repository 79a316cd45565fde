"""The fallback TwiML: whom it dials, and the documents themselves, parsed as XML (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from switchboard.numbers import fallback

MAIN = "+15017122661"
SECOND = "+15005550010"
OWNER = "+15550001111"


def parse(twiml: str) -> ET.Element:
    """The app's own TwiML as a tree (its XML, not untrusted input)."""
    return ET.fromstring(twiml)  # noqa: S314


def plan(line: dict[str, Any] | None, **settings: Any) -> fallback.FallbackPlan:
    values = {"owner_number": OWNER, "voice_forward_to": None, "own_numbers": [MAIN, SECOND]}
    values.update(settings)
    return fallback.plan(MAIN, line, **values)


def test_who_is_dialled_first() -> None:
    line = {
        "name": "Main line",
        "sms": {"forwardTo": "+15550000009"},
        "open": [
            {"say": "hi"},
            {"menu": {"options": {"1": {"steps": [{"forward": {"to": "+15550000003"}}]}}}},
            {"ring": {"people": [{"name": "Ana", "number": "+15550000004"}]}},
        ],
    }
    assert plan(line).forward_to == "+15550000009"  # the line's own owner
    del line["sms"]
    assert plan(line).forward_to == OWNER
    assert plan(line, owner_number=None).forward_to == "+15550000003"  # menus depth first
    assert fallback.candidates(line, None, "+15550000008") == [
        "+15550000003",
        "+15550000004",
        "+15550000008",
    ]
    assert plan(None, owner_number=None, voice_forward_to="+15550000008").forward_to == (
        "+15550000008"
    )


def test_never_one_of_the_accounts_numbers() -> None:
    assert plan(None, owner_number=SECOND).forward_to is None
    assert plan({"sms": {"forwardTo": MAIN}}).forward_to == OWNER


def test_voice_document_dials_then_records_then_goodbye() -> None:
    chosen = plan({"name": "Main line", "voice": "Polly.Amy", "language": "en-GB"}, ring_seconds=15)
    root = parse(fallback.voice_twiml(chosen, "https://x/done.xml"))
    assert [c.tag for c in root] == ["Say", "Say", "Dial", "Say", "Record"]
    assert root[0].text == "Thank you for calling Main line."
    assert {c.get("voice") for c in root if c.tag == "Say"} == {"Polly.Amy"}
    assert root.find("Dial").get("timeout") == "15"
    assert root.find("Dial/Number").text == OWNER
    record = root.find("Record")
    assert (record.get("action"), record.get("method"), record.get("maxLength")) == (
        "https://x/done.xml",
        "GET",
        "120",
    )
    done = parse(fallback.voicemail_done_twiml(chosen))
    assert [c.tag for c in done] == ["Say", "Hangup"]


def test_nobody_to_dial_goes_straight_to_voicemail_and_text_is_escaped() -> None:
    chosen = plan({"name": "A&B <Ltd>\x00"}, owner_number=None)
    text = fallback.voice_twiml(chosen, "https://x/done.xml")
    root = parse(text)
    assert [c.tag for c in root] == ["Say", "Say", "Record"]
    assert root[0].text == "Thank you for calling A&B <Ltd>."
    assert parse(fallback.sms_twiml()).tag == "Response"
