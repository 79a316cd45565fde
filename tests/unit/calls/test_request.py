"""The outbound call message contract (README "Outbound calls"): validation and TwiML."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

import pytest

from switchboard.calls.request import (
    TWIML_MAX_CHARS,
    InvalidCallRequest,
    id_of_invalid,
    parse_call_message,
    parse_call_request,
    say_twiml,
    twiml_for,
)

TO = "+15558675310"
FROM = "+15017122661"


def valid(**changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"id": "reminder-42", "to": TO, "say": "Hello"}
    message.update(changes)
    return {k: v for k, v in message.items() if v is not None}


def rejected_field(data: object, default_id: str | None = "msg-1") -> str | None:
    with pytest.raises(InvalidCallRequest) as caught:
        parse_call_request(data, default_id=default_id)
    return caught.value.field


def test_spec_example_is_valid() -> None:
    example = {
        "id": "reminder-42",
        "to": "+15558675310",
        "from": "+15017122661",
        "say": "Your appointment is tomorrow at 9.",
        "voice": "Polly.Joanna",
        "language": "en-US",
        "timeout": 30,
        "machineDetection": "Enable",
        "record": False,
    }
    request = parse_call_message(json.dumps(example).encode())
    assert request.id == "reminder-42"
    assert request.from_ == FROM
    assert request.timeout == 30
    assert request.machine_detection == "Enable"
    assert request.record is False
    assert request.to_message() == example


def test_id_defaults_to_the_queue_message_id() -> None:
    request = parse_call_request({"to": TO, "url": "https://example.com/t.xml"}, default_id="q-1")
    assert request.id == "q-1"
    assert request.from_ is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", None),
        (b"", None),
        (b"\xff\xfe\x00", None),
        (b"[1, 2]", None),
        (b'"a string"', None),
        (b"42", None),
        (b"null", None),
    ],
)
def test_bodies_that_are_not_a_json_object(body: bytes, field: str | None) -> None:
    with pytest.raises(InvalidCallRequest) as caught:
        parse_call_message(body, default_id="m")
    assert caught.value.field is field
    assert caught.value.reason


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"say": "hi"}, "to"),
        (valid(to="5558675310"), "to"),
        (valid(to="+1555"), "to"),
        (valid(to=15558675310), "to"),
        (valid(to="+1 555 867 5310"), "to"),
        (valid(**{"from": "nope"}), "from"),
        (valid(say=None), "say"),
        (valid(twiml="<Response/>"), "twiml"),
        (valid(say=None, twiml="<Response/>", url="https://x.example/t"), "url"),
        (valid(say=None, url="http://example.com/twiml"), "url"),
        (valid(say=None, url="ftp://example.com/twiml"), "url"),
        (valid(say=None, url="/relative"), "url"),
        (valid(say=None, url="https://exa mple.com/"), "url"),
        (valid(say=None, url="https://example.com:99999/"), "url"),
        (valid(extra=1), "extra"),
        (valid(Say="hi"), "Say"),
        (valid(id="x" * 129), "id"),
        (valid(id=""), "id"),
        (valid(id=42), "id"),
        (valid(id="tab\there"), "id"),
        (valid(id="a/b"), "id"),
        (valid(id="a#b"), "id"),
        (valid(say="x" * (TWIML_MAX_CHARS + 1)), "say"),
        (valid(say="   "), "say"),
        (valid(say=None, twiml="<Response><Say>" + "x" * 4000 + "</Say></Response>"), "twiml"),
        (valid(say=None, twiml="<Response><Say>unclosed</Response>"), "twiml"),
        (valid(say=None, twiml="<Other/>"), "twiml"),
        (valid(timeout=4), "timeout"),
        (valid(timeout=601), "timeout"),
        (valid(timeout="30"), "timeout"),
        (valid(timeout=True), "timeout"),
        (valid(timeout=30.5), "timeout"),
        (valid(machineDetection="enable"), "machineDetection"),
        (valid(record="false"), "record"),
        (valid(voice=""), "voice"),
        (valid(voice="Polly Joanna"), "voice"),
        (valid(language="english please"), "language"),
        (valid(say=None, url="https://example.com/t", voice="Polly.Joanna"), "voice"),
        (valid(say=None, twiml="<Response/>", language="en-US"), "language"),
    ],
)
def test_each_rule_names_its_field(data: dict[str, Any], field: str) -> None:
    assert rejected_field(data) == field


def test_unknown_fields_are_listed_as_refused_first() -> None:
    with pytest.raises(InvalidCallRequest) as caught:
        parse_call_request({"to": TO, "say": "hi", "recrod": True})
    assert caught.value.field == "recrod"
    assert "not a known field" in str(caught.value)


def test_limits_are_inclusive() -> None:
    assert parse_call_request(valid(id="x" * 128)).id == "x" * 128
    assert parse_call_request(valid(timeout=5)).timeout == 5
    assert parse_call_request(valid(timeout=600)).timeout == 600
    assert parse_call_request(valid(machineDetection="DetectMessageEnd")).machine_detection
    twiml = "<Response><Say>" + "x" * (TWIML_MAX_CHARS - 32) + "</Say></Response>"
    assert len(twiml) == TWIML_MAX_CHARS
    assert parse_call_request(valid(say=None, twiml=twiml)).twiml == twiml


def test_say_that_grows_past_the_limit_once_escaped_is_rejected() -> None:
    text = "&" * 1000  # 1,000 characters, 5,000 once written as &amp;
    with pytest.raises(InvalidCallRequest) as caught:
        parse_call_request(valid(say=text))
    assert caught.value.field == "say"
    assert "once escaped" in caught.value.reason


def test_unicode_and_printable_ids_are_accepted() -> None:
    assert parse_call_request(valid(id="rappel-été 42 ✓")).id == "rappel-été 42 ✓"


def test_say_twiml_is_built_and_escaped_by_voice_response() -> None:
    text = 'Hi <Bob> & ]]> "friends"'
    request = parse_call_request(valid(say=text, voice="Polly.Joanna", language="en-US"))
    twiml = twiml_for(request)
    assert twiml is not None
    assert not twiml.startswith("<?xml")
    root = ElementTree.fromstring(twiml)  # noqa: S314 (the app's own output)
    assert root.tag == "Response"
    (say,) = list(root)
    assert say.tag == "Say"
    assert say.text == text
    assert say.attrib == {"voice": "Polly.Joanna", "language": "en-US"}
    assert say_twiml("hi") == "<Response><Say>hi</Say></Response>"


def test_twiml_is_passed_as_given_and_url_gives_none() -> None:
    twiml = "<Response><Play>https://example.com/a.mp3</Play></Response>"
    assert twiml_for(parse_call_request(valid(say=None, twiml=twiml))) == twiml
    assert twiml_for(parse_call_request(valid(say=None, url="https://example.com/x"))) is None


def test_payload_hash_ignores_id_field_order_and_formatting() -> None:
    a = parse_call_message(b'{"id": "a", "to": "+15558675310", "say": "Hi", "timeout": 30}')
    b = parse_call_message(b'{"timeout":30,"say":"Hi","to":"+15558675310","id":"b"}')
    c = parse_call_message(b'{"id": "a", "to": "+15558675310", "say": "Hi!", "timeout": 30}')
    assert a.payload_hash() == b.payload_hash()
    assert a.payload_hash() != c.payload_hash()
    assert len(a.payload_hash()) == 64


def test_id_of_invalid_uses_a_valid_own_id_else_the_message_id() -> None:
    assert id_of_invalid(b'{"id": "mine", "to": "bad"}', "q") == "mine"
    assert id_of_invalid(json.dumps({"id": "x" * 200}).encode(), "q") == "q"
    assert id_of_invalid(b"not json", "q") == "q"
    assert id_of_invalid(b"[]", "q") == "q"


@pytest.mark.parametrize(
    "changes",
    [
        {"say": "Hello \ud800"},
        {"say": None, "twiml": "<Response><Say>\udcff</Say></Response>"},
        {"say": "Hi", "voice": "Polly.\ud800"},
    ],
    ids=["say", "twiml", "voice"],
)
def test_text_that_is_not_unicode_is_refused_naming_its_field(changes: dict[str, Any]) -> None:
    """A lone surrogate is refused before anything hashes or escapes it."""
    field = next(name for name, value in changes.items() if value and "\\u" in ascii(value))
    with pytest.raises(InvalidCallRequest) as caught:
        parse_call_request(valid(**changes)).payload_hash()
    assert caught.value.field == field
    assert "Unicode" in caught.value.reason


@pytest.mark.parametrize(
    "chosen", ["idx-20261201", "IDX-1", "CA" + "0123456789abcdef" * 2, "SM" + "A" * 32]
)
def test_ids_in_a_namespace_the_app_derives_are_refused(chosen: str) -> None:
    """CallLog's index partitions and Twilio's SID shape."""
    with pytest.raises(InvalidCallRequest) as caught:
        parse_call_request(valid(id=chosen))
    assert caught.value.field == "id"
    assert parse_call_request(valid(id="CA-reminder-42")).id == "CA-reminder-42"


@pytest.mark.parametrize("chosen", ["sys-queue-offer-15017122661-1-0", "SYS-callback-1"])
def test_an_operators_id_in_the_namespace_of_the_apps_own_calls_is_refused(chosen: str) -> None:
    """`POST /api/calls` and the CLI parse operators' requests: `sys-` is the app's own."""
    with pytest.raises(InvalidCallRequest) as caught:
        parse_call_request(valid(id=chosen))
    assert caught.value.field == "id"
    assert "reserved for the calls the app places by itself" in caught.value.reason
    assert parse_call_request(valid(id="system-check")).id == "system-check"


def test_the_queue_takes_the_apps_own_derived_ids() -> None:
    """The call queue's offers arrive as queue messages under `sys-` ids."""
    body = json.dumps(valid(id="sys-queue-offer-15017122661-1-0"))
    assert parse_call_message(body).id == "sys-queue-offer-15017122661-1-0"


def test_a_message_naming_a_field_twice_is_refused_not_half_read() -> None:
    """`{"say": "a", "say": "b"}`: json.loads kept the last `say` silently; which was meant
    cannot be told, so the message is refused (a `rejected` record through the queue)."""
    twice = b'{"id": "reminder-43", "to": "+15558675310", "say": "Hi", "say": "Bye"}'
    with pytest.raises(InvalidCallRequest) as caught:
        parse_call_message(twice)
    assert "the key 'say' appears twice in one object" in str(caught.value)


def test_a_message_refused_for_a_key_named_twice_keeps_its_own_id() -> None:
    twice = b'{"id": "reminder-44", "to": "+15558675310", "to": "<x>", "say": "hi"}'
    assert id_of_invalid(twice, "queue-message-1") == "reminder-44"
    two_ids = b'{"id": "a-1", "id": "a-2", "to": "+15558675310", "say": "hi"}'
    assert id_of_invalid(two_ids, "queue-message-2") == "queue-message-2"  # which one? neither
