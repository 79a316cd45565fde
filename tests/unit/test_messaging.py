"""Keyword classification and the TwiML reply to an incoming SMS (pure)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from switchboard.logbook.messages import outbound_fields
from switchboard.sms.keywords import (
    InboundError,
    InboundMessage,
    KeywordKind,
    classify,
    parse_inbound,
)
from switchboard.sms.log import inbound_fields
from switchboard.sms.replies import ReplySettings, build_reply
from switchboard.twilio.text import MAX_BODY_CHARS

SENDER = "+15558675310"
BUSINESS = "+15017122661"
OWNER = "+15005550006"

OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
OPT_IN = ["START", "YES", "UNSTOP"]
HELP = ["HELP", "INFO"]


@pytest.mark.parametrize("word", OPT_OUT)
@pytest.mark.parametrize("shape", [str.upper, str.lower, str.capitalize, str.swapcase])
def test_each_opt_out_word_in_any_case(word: str, shape: object) -> None:
    assert callable(shape)
    assert classify(shape(word)) is KeywordKind.OPT_OUT


@pytest.mark.parametrize("word", OPT_IN)
def test_each_opt_in_word(word: str) -> None:
    assert classify(word) is KeywordKind.OPT_IN
    assert classify(word.lower()) is KeywordKind.OPT_IN


@pytest.mark.parametrize("word", HELP)
def test_each_help_word(word: str) -> None:
    assert classify(word) is KeywordKind.HELP
    assert classify(word.title()) is KeywordKind.HELP


@pytest.mark.parametrize(
    "body", ["  stop", "STOP  ", "\tStop\n", "\r\n QUIT \r\n", "\u00a0stop\u00a0"]
)
def test_surrounding_whitespace_is_ignored(body: str) -> None:
    assert classify(body) is KeywordKind.OPT_OUT


@pytest.mark.parametrize(
    "body",
    [
        "stopping",
        "stop please",
        "Please stop",
        "STOP.",
        "stop!",
        "s t o p",
        "st op",
        "unstoppable",
        "ending",
        "cancel my order",
        "quite",
        "STOP STOP",
        "don't stop",
        "",
        "   ",
        "yesterday",
        "helpful",
        "information",
        "starting",
    ],
)
def test_look_alikes_are_ordinary_messages(body: str) -> None:
    assert classify(body) is None


def _parse(xml: str) -> ET.Element:
    root = ET.fromstring(xml)  # noqa: S314 (the app's own TwiML, not untrusted input)
    assert root.tag == "Response"
    return root


def _message(body: str, media: tuple[tuple[str, str], ...] = ()) -> InboundMessage:
    return InboundMessage(sid="SM" + "a" * 32, from_=SENDER, to=BUSINESS, body=body, media=media)


FULL = ReplySettings(help_text="Acme: call 555-0100.", auto_reply="Thanks!", owner_number=OWNER)


@pytest.mark.parametrize("body", ["STOP", "start", " yes ", "UnStop", "revoke"])
def test_opt_out_and_opt_in_get_an_empty_response(body: str) -> None:
    root = _parse(build_reply(_message(body), FULL))
    assert list(root) == []


def test_help_replies_with_the_help_text_only() -> None:
    root = _parse(build_reply(_message(" info "), FULL))
    messages = root.findall("Message")
    assert len(messages) == 1
    assert messages[0].text == "Acme: call 555-0100."
    assert "to" not in messages[0].attrib


def test_ordinary_text_gets_auto_reply_and_owner_forward() -> None:
    root = _parse(build_reply(_message("Are you open today?"), FULL))
    reply, forward = root.findall("Message")
    assert reply.text == "Thanks!"
    assert "to" not in reply.attrib
    assert forward.attrib == {"to": OWNER}
    assert forward.text == f"From {SENDER}: Are you open today?"


def test_forwarded_body_is_escaped_and_round_trips() -> None:
    body = 'a <b>bold</b> & ]]> <![CDATA[x]]> "q" \'a\' </Message><Message to="+1">'
    xml = build_reply(_message(body), ReplySettings(help_text="h", owner_number=OWNER))
    assert "<b>" not in xml
    assert "]]>" not in xml
    root = _parse(xml)
    (forward,) = root.findall("Message")
    assert forward.text == f"From {SENDER}: {body}"
    assert forward.attrib == {"to": OWNER}


def test_xml_invalid_characters_are_dropped_not_sent() -> None:
    xml = build_reply(_message("bell\x07 nul\x00 ok"), ReplySettings("h", owner_number=OWNER))
    (forward,) = _parse(xml).findall("Message")
    assert forward.text == f"From {SENDER}: bell nul ok"


def test_mms_forward_carries_body_and_media_urls() -> None:
    media = (
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg"),
        ("https://example.com/m?a=1&b=2", "image/png"),
    )
    root = _parse(build_reply(_message("look", media), ReplySettings("h", owner_number=OWNER)))
    (forward,) = root.findall("Message")
    assert forward.attrib == {"to": OWNER}
    assert forward.findtext("Body") == f"From {SENDER}: look [2 attachments]"
    assert [m.text for m in forward.findall("Media")] == [url for url, _ in media]


def test_mms_without_text_is_forwarded_with_a_note() -> None:
    media = (("https://example.com/a.jpg", "image/jpeg"),)
    root = _parse(build_reply(_message("", media), ReplySettings("h", owner_number=OWNER)))
    assert root.find("Message/Body") is not None
    assert root.findtext("Message/Body") == f"From {SENDER}: [1 attachment]"


def test_nothing_configured_means_empty_response() -> None:
    xml = build_reply(_message("hello"), ReplySettings(help_text="h"))
    assert list(_parse(xml)) == []


def test_opted_out_sender_gets_no_auto_reply_but_owner_still_sees_it() -> None:
    root = _parse(build_reply(_message("hi again"), FULL, sender_opted_out=True))
    (forward,) = root.findall("Message")
    assert forward.attrib == {"to": OWNER}


def test_owner_texting_the_business_is_not_forwarded_to_themselves() -> None:
    message = InboundMessage(sid="SM1", from_=OWNER, to=BUSINESS, body="test")
    (reply,) = _parse(build_reply(message, FULL)).findall("Message")
    assert reply.text == "Thanks!"
    assert "to" not in reply.attrib


def test_long_forward_is_cut_to_twilios_limit() -> None:
    root = _parse(build_reply(_message("x" * 2000), ReplySettings("h", owner_number=OWNER)))
    text = root.findtext("Message") or ""
    assert len(text) == MAX_BODY_CHARS
    assert text.endswith("…")


def test_parse_inbound_reads_media_and_bounds_them() -> None:
    params = {
        "MessageSid": "SMx",
        "From": SENDER,
        "To": BUSINESS,
        "Body": "pics",
        "NumMedia": "2",
        "MediaUrl0": "https://m/0",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://m/1",
        "MediaContentType1": "image/gif",
        "MediaUrl2": "https://m/ignored",
    }
    message = parse_inbound(params)
    assert message.media == (("https://m/0", "image/jpeg"), ("https://m/1", "image/gif"))
    assert parse_inbound({**params, "NumMedia": "9999"}).media_urls == [
        "https://m/0",
        "https://m/1",
        "https://m/ignored",
    ]
    assert parse_inbound({**params, "NumMedia": "junk"}).media == ()
    with pytest.raises(InboundError):
        parse_inbound({"From": SENDER})
    with pytest.raises(InboundError):
        parse_inbound({"MessageSid": "SMx"})


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
