"""Keyword classification of an incoming SMS and the parsing of Twilio's parameters (pure)."""

from __future__ import annotations

import pytest

from switchboard.sms.keywords import (
    InboundError,
    KeywordKind,
    classify,
    parse_inbound,
)

SENDER = "+15558675310"
BUSINESS = "+15017122661"
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
