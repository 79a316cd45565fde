"""TwiML as text: `twiml_text` writes what twilio's `str(response)` writes, character for
character, on the documents the app builds and on generated ones."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from twilio.twiml import GenericNode, TwiML
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from switchboard.twilio.twiml import DECLARATION, twiml_text


def _greeting_and_menu() -> VoiceResponse:
    response = VoiceResponse()
    response.say('Hello & welcome <to> "us"', voice="Polly.Joanna", language="en-US")
    response.pause()
    gather = response.gather(
        input="dtmf speech",
        num_digits=1,
        action="/api/voice/menu?attempt=1&at=open.0&hop=1",
        timeout=5,
        hints="sales, message",
    )
    gather.say("For sales press 1.")
    response.redirect("/api/voice/menu?attempt=1&at=open.0&hop=1", method="POST")
    return response


def _documents() -> list[TwiML]:
    dial = VoiceResponse()
    dial.dial("+15005550006", timeout=20, caller_id="+15017122661", record=True)
    message = MessagingResponse()
    message.message("Line one\nline\ttwo\r", to="+15558675310").media("https://m.example/a?b=1&c=2")
    empty = VoiceResponse()
    reject = VoiceResponse()
    reject.reject(reason="busy")
    return [_greeting_and_menu(), dial, message, empty, reject]


@pytest.mark.parametrize("response", _documents(), ids=lambda r: type(r).__name__)
def test_the_documents_the_app_builds_read_as_twilio_writes_them(response: TwiML) -> None:
    ours = twiml_text(response)
    assert ours == str(response)
    assert ours.startswith(DECLARATION)
    assert twiml_text(response, declaration=False) == response.to_xml(xml_declaration=False)


def test_an_empty_response_is_one_empty_element() -> None:
    assert twiml_text(VoiceResponse()) == DECLARATION + "<Response />"


# Names XML allows (ElementTree writes names as given); text without lone surrogates, which
# twilio's UTF-8 writer cannot encode.
_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}", fullmatch=True)
_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_VALUES = st.one_of(
    _TEXT, st.booleans(), st.integers(), st.none(), st.sampled_from(["a&b", '"q"', "<x>", "\t\n\r"])
)


@st.composite
def _nodes(draw: st.DrawFn, depth: int = 0) -> TwiML:
    value: Any = draw(st.one_of(st.none(), _TEXT, st.dictionaries(_NAMES, _TEXT, max_size=2)))
    attrs = draw(st.dictionaries(_NAMES, _VALUES, max_size=4))
    node = GenericNode(draw(_NAMES), value, **attrs)
    for _ in range(draw(st.integers(0, 3 if depth < 2 else 0))):
        if draw(st.booleans()):
            node.nest(draw(_TEXT))
        else:
            node.nest(draw(_nodes(depth + 1)))
    return node


def _strings_around_a_child() -> TwiML:
    node = GenericNode("Say", "value", loud=True).append("replaced by the string")
    node.append(GenericNode("Break", None)).append("tail one").append("the last tail wins")
    return node


@given(_nodes())
@example(_strings_around_a_child())
def test_generated_documents_read_as_twilio_writes_them(node: TwiML) -> None:
    ours = twiml_text(node)  # first: twilio's writer turns a dict value into JSON in place
    assert ours == str(node)


def test_a_value_that_is_not_text_is_refused_as_twilio_refuses_it() -> None:
    node = GenericNode("Say", 5)
    with pytest.raises(TypeError):
        str(node)
    with pytest.raises(TypeError, match="cannot serialize 5"):
        twiml_text(node)
