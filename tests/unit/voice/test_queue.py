"""The queue step's TwiML (pure): `<Enqueue>` in the flow, the wait document from Twilio's
parameters, each `QueueResult`, the people's offer and what they take. TwiML parsed as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from switchboard.callqueue.rules import Callback
from switchboard.lines.document import parse_line
from switchboard.lines.model import Line, Person
from switchboard.settings import Settings
from switchboard.voice import flow as voice
from switchboard.voice import queue as vq

LINE = "+15017122661"
CALLER = "+15558675310"
ANA = "+15550000001"
OPEN = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
CLOSED = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # Tuesday 20:00
SID = "CA" + "5" * 32
SETTINGS = Settings()


def line(**queue: Any) -> Line:
    body = {
        "people": [{"name": "Ana", "number": ANA}],
        "announceEvery": 60,
        "maxWait": 300,
        **queue,
    }
    return parse_line(
        {
            "name": "Main line",
            "timeZone": "America/New_York",
            "hours": {"mon-fri": ["08:30-17:30"]},
            "greeting": {"open": {"say": "Hello."}, "closed": {"say": "We are closed."}},
            "open": [{"queue": body}, {"say": "Sorry."}, {"voicemail": {}}],
            "closed": [{"voicemail": {"prompt": {"say": "Leave a message."}}}],
        },
        LINE,
        version=2,
    )[1]


def verbs(twiml: str) -> list[ET.Element]:
    return list(ET.fromstring(twiml))  # noqa: S314 - the app's own TwiML


def texts(twiml: str) -> list[str]:
    return [e.text or "" for e in ET.fromstring(twiml).iter("Say")]  # noqa: S314


AT = voice.Position("open", (0,), hop=2)


def waiting(**params: str) -> dict[str, str]:
    return {
        "CallSid": SID,
        "From": CALLER,
        "To": LINE,
        "QueuePosition": "2",
        "QueueTime": "30",
        "AvgQueueTime": "150",
        "CurrentQueueSize": "3",
        "MaxQueueSize": "20",
        **params,
    }


def test_the_flow_enqueues_into_the_lines_queue_with_signed_urls() -> None:
    outcome = voice.incoming({"From": CALLER, "To": LINE, "CallSid": SID}, SETTINGS, line(), OPEN)
    assert outcome.handling == "queue"
    found = verbs(outcome.twiml)
    assert [e.tag for e in found] == ["Say", "Enqueue"]
    enqueue = found[1]
    assert enqueue.text == "sb-line-15017122661"
    for name in ("waitUrl", "action"):
        query = parse_qs(urlsplit(enqueue.attrib[name]).query)
        assert query == {"line": [LINE], "at": ["open.0"], "hop": ["1"]}
    assert urlsplit(enqueue.attrib["waitUrl"]).path == "/api/voice/queue-wait"
    assert urlsplit(enqueue.attrib["action"]).path == "/api/voice/queue-result"
    assert enqueue.attrib["waitUrlMethod"] == enqueue.attrib["method"] == "POST"


def test_the_wait_document_says_the_place_and_the_expected_wait() -> None:
    ahead = [OPEN - timedelta(minutes=5)]  # a callback that arrived before this caller
    outcome = vq.wait(waiting(), SETTINGS, line(), AT, OPEN, ahead)
    assert outcome.change is None  # a wait writes nothing
    said = texts(outcome.twiml)
    assert said[0] == "You are number 3 in line. The expected wait is about 3 minutes."
    assert vq.HOLD_DEFAULT in said
    assert not any(e.tag == "Gather" for e in verbs(outcome.twiml))  # no callback offered


def test_the_wait_document_offers_the_callback_around_everything() -> None:
    outcome = vq.wait(
        waiting(), SETTINGS, line(callback=True, hold={"say": "Please hold."}), AT, OPEN
    )
    found = verbs(outcome.twiml)
    assert [e.tag for e in found] == ["Gather"]
    gather = found[0]
    assert gather.attrib["numDigits"] == "1"
    query = parse_qs(urlsplit(gather.attrib["action"]).query)
    assert query["at"] == ["open.0"]
    assert query["arrived"] == [str(int((OPEN - timedelta(seconds=30)).timestamp()))]
    inside = [e.tag for e in gather]
    assert inside[:2] == ["Say", "Say"]
    assert "Pause" in inside
    assert [e.text for e in gather.iter("Say")][1] == vq.CALLBACK_OFFER
    pauses = sum(int(e.attrib["length"]) for e in gather.iter("Pause"))
    spoken = [e.text or "" for e in gather.iter("Say")]
    assert pauses + sum(vq._spoken_seconds(s) for s in spoken) + vq.GATHER_TAIL == 60


def test_no_callback_for_a_withheld_caller() -> None:
    outcome = vq.wait(waiting(From="anonymous"), SETTINGS, line(callback=True), AT, OPEN)
    assert not any(e.tag == "Gather" for e in verbs(outcome.twiml))


def test_a_recorded_hold_prompt_plays_once() -> None:
    hold = {"play": "https://example.com/hold.mp3"}
    outcome = vq.wait(waiting(), SETTINGS, line(hold=hold), AT, OPEN)
    assert [e.tag for e in verbs(outcome.twiml)] == ["Say", "Play"]


@pytest.mark.parametrize(
    ("params", "now", "handling"),
    [
        ({}, CLOSED, "queue-closing"),
        ({"QueueTime": "300"}, OPEN, "queue-max-wait"),
        ({"QueueTime": "299"}, OPEN, "queue-wait"),
    ],
)
def test_the_caller_leaves_when_the_line_closes_or_at_the_longest_wait(
    params: dict[str, str], now: datetime, handling: str
) -> None:
    outcome = vq.wait(waiting(**params), SETTINGS, line(), AT, now)
    assert outcome.handling == handling
    assert (verbs(outcome.twiml)[0].tag == "Leave") == (handling != "queue-wait")


def test_a_position_that_no_longer_holds_a_queue_leaves() -> None:
    outcome = vq.wait(waiting(), SETTINGS, line(), voice.Position("open", (1,)), OPEN)
    assert outcome.handling == "queue-lost"
    assert [e.tag for e in verbs(outcome.twiml)] == ["Leave"]


def test_the_answer_to_press_1() -> None:
    assert [e.tag for e in verbs(vq.callback_answer({}, line(), SETTINGS, True))] == ["Leave"]
    refused = vq.callback_answer({}, line(), SETTINGS, False)
    assert texts(refused) == [vq.CALLBACK_REFUSED]


def result(result: str, now: datetime = OPEN, **extra: Any) -> voice.Outcome:
    params = {"CallSid": SID, "From": CALLER, "To": LINE, "QueueResult": result, "QueueTime": "42"}
    return vq.result({**params, **extra.pop("params", {})}, SETTINGS, line(), AT, now, **extra)


def test_a_caller_taken_by_a_person_hangs_up_when_the_call_ends() -> None:
    outcome = result("bridged")
    assert [e.tag for e in verbs(outcome.twiml)] == ["Hangup"]
    assert outcome.change is not None
    assert outcome.change.fields["QueueOutcome"] == "taken"
    assert outcome.change.fields["QueueTime"] == 42


def test_after_the_longest_wait_or_a_full_queue_the_next_steps() -> None:
    for word, kept in (("leave", "left"), ("queue-full", "full"), ("error", "error")):
        outcome = result(word)
        assert texts(outcome.twiml)[0] == "Sorry."
        assert any(e.tag == "Record" for e in verbs(outcome.twiml))
        assert outcome.change is not None
        assert outcome.change.fields["QueueOutcome"] == kept
        assert outcome.change.fields["Reached"] is False
        record = next(e for e in verbs(outcome.twiml) if e.tag == "Record")
        assert parse_qs(urlsplit(record.attrib["action"]).query)["at"] == ["open.2"]
    late = result("leave", params={"QueueTime": "300"})
    assert late.change is not None
    assert late.change.fields["QueueOutcome"] == "max-wait"


def test_at_closing_time_the_closed_flow() -> None:
    outcome = result("leave", CLOSED)
    assert texts(outcome.twiml)[:2] == ["We are closed.", "Leave a message."]
    assert outcome.change is not None
    assert outcome.change.fields["QueueOutcome"] == "closed"
    assert outcome.change.fields["Flow"] == "closed"
    record = next(e for e in verbs(outcome.twiml) if e.tag == "Record")
    assert parse_qs(urlsplit(record.attrib["action"]).query)["at"] == ["closed.0"]


def test_after_a_callback_request_the_confirmation_with_the_number() -> None:
    kept = Callback(SID, CALLER, OPEN, OPEN)
    outcome = result("leave", callback=kept)
    assert texts(outcome.twiml) == [
        "We will call you back at 1, 5 5 5, 8 6 7, 5 3 1 0 when it is your turn. You keep "
        "your place in line. Goodbye."
    ]
    assert verbs(outcome.twiml)[-1].tag == "Hangup"
    assert outcome.change is not None
    assert outcome.change.fields["Handling"] == "queue-callback"


def test_a_hung_up_or_redirected_caller_hears_nothing_more() -> None:
    assert [e.tag for e in verbs(result("hangup").twiml)] == ["Hangup"]
    assert verbs(result("redirected").twiml) == []
    assert verbs(result("bridging-in-process").twiml) == []


def test_the_person_presses_1_then_takes_the_front_caller_or_a_callback() -> None:
    found = vq.offer(line(), SETTINGS, line().flows["open"][0], "/api/voice/queue-offer?stage=key")  # type: ignore[arg-type]
    gather = verbs(found.twiml)[0]
    assert gather.attrib["action"] == "/api/voice/queue-offer?stage=key"
    assert texts(found.twiml) == ["Callers are waiting on Main line. Press 1 to take the next one."]
    assert verbs(found.twiml)[-1].tag == "Hangup"
    took = vq.take_caller(line(), SETTINGS, CALLER, "/done", "/connect")
    dial = verbs(took)[1]
    assert dial.tag == "Dial"
    assert dial.attrib["action"] == "/done"
    queue = dial[0]
    assert (queue.tag, queue.text, queue.attrib["url"]) == (
        "Queue",
        "sb-line-15017122661",
        "/connect",
    )
    back = vq.take_callback(line(), SETTINGS, Callback(SID, CALLER, OPEN, OPEN), "/w", "/r")
    enqueue = verbs(back)[1]
    assert (enqueue.tag, enqueue.text) == ("Enqueue", "sb-cb-" + SID)
    assert (enqueue.attrib["waitUrl"], enqueue.attrib["action"]) == ("/w", "/r")


def test_the_person_waiting_for_a_customer_leaves_after_the_connect_wait() -> None:
    from switchboard.callqueue.rules import CONNECT_WAIT

    holding = vq.connect_wait({"QueueTime": str(CONNECT_WAIT - 1)}, line(), SETTINGS)
    assert [e.tag for e in verbs(holding)] == ["Say", "Pause"]
    gone = vq.connect_wait({"QueueTime": str(CONNECT_WAIT)}, line(), SETTINGS)
    assert [e.tag for e in verbs(gone)] == ["Leave"]


def test_who_took_the_caller_and_how_long_they_waited() -> None:
    change = vq.taken_change(
        {"CallSid": SID, "QueueTime": "75", "DequeingCallSid": "CA" + "6" * 32},
        Person(ANA, "Ana"),
    )
    assert change.fields["TakenByJson"] == '{"name":"Ana","number":"+15550000001"}'
    assert change.fields["QueueTime"] == 75
    assert change.fields["Reached"] is True
    assert change.fields["TakenByCallSid"] == "CA" + "6" * 32


def test_the_default_line_has_no_queue() -> None:
    numberless = line()._replace(number=None)
    outcome = voice.incoming({"From": CALLER, "CallSid": SID}, SETTINGS, numberless, OPEN)
    assert not any(e.tag == "Enqueue" for e in verbs(outcome.twiml))
