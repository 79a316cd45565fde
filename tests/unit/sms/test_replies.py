"""The TwiML reply to an incoming SMS (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from switchboard.sms.keywords import (
    InboundMessage,
)
from switchboard.sms.replies import Reply, ReplySettings, build_reply, render
from switchboard.twilio.text import MAX_BODY_CHARS

SENDER = "+15558675310"
BUSINESS = "+15017122661"
OWNER = "+15005550006"


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


def test_a_lines_replies_by_state_and_what_it_leaves_to_the_settings() -> None:
    from switchboard.lines.defaults import default_line
    from switchboard.lines.document import parse_line
    from switchboard.settings import load_settings

    settings = load_settings({"SMS_AUTO_REPLY": "app reply", "OWNER_NUMBER": "+15558670000"})
    both = parse_line(
        {
            "sms": {
                "autoReply": "open reply",
                "closedReply": "closed reply",
                "forwardTo": "+15558679999",
            }
        },
        "+15017122661",
    )[1]
    assert ReplySettings.for_line(settings, both, is_open=True).auto_reply == "open reply"
    closed = ReplySettings.for_line(settings, both, is_open=False)
    assert (closed.auto_reply, closed.owner_number) == ("closed reply", "+15558679999")
    bare = parse_line({"name": "Bare"}, "+15017122661")[1]
    fallback = ReplySettings.for_line(settings, bare, is_open=False)
    assert (fallback.auto_reply, fallback.owner_number) == ("app reply", "+15558670000")
    assert ReplySettings.for_line(settings, default_line(settings), True) == (
        ReplySettings.from_settings(settings)
    )


def test_texts_to_other_people_go_each_in_its_own_message() -> None:
    reply = Reply(
        to_sender="Thanks, see you then.",
        others=((OWNER, "a <note> & more"), ("+15005550010", "b")),
    )
    assert not reply.empty
    assert not Reply(others=((OWNER, "b"),)).empty
    root = _parse(render(reply))
    answer, first, second = root.findall("Message")
    assert ("to" not in answer.attrib, answer.text) == (True, "Thanks, see you then.")
    assert (first.attrib, first.text) == ({"to": OWNER}, "a <note> & more")
    assert (second.attrib, second.text) == ({"to": "+15005550010"}, "b")
