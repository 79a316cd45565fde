"""Texts not registered or filtered, against the session Azurite and the Twilio stand-in.

The stand-in answers for a sender that is not registered as Twilio does (`set_sender_outcome`:
every text from it ends ``undelivered`` with 30034), and each text's status callbacks are
played to the app's own `on_message` with what the stand-in says of the message. What holds:
each record says why in plain words, the line's problem row counts every text once (a
duplicate callback is not a second failure), the owner is told once (e-mail, and a text from
another of the account's numbers), the health report gives one sentence, and the cost: one
table round trip more for a callback carrying such a code on an instance that knows the row,
none more for any other callback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devkit.storage_counter import counting_table_requests
from devkit.twilio_standin import TwilioStandin
from devkit.twilio_standin_model import FaultRule
from switchboard.logbook.store import RecordStore
from switchboard.outbound.health import messaging_report
from switchboard.outbound.problems import Kind
from switchboard.outbound.purposes import Origin, Purpose
from switchboard.outbound.service import LineRef, Message, Outbound
from switchboard.outbound.store import WARM
from switchboard.settings import Settings, load_settings
from switchboard.status import callbacks
from switchboard.twilio.webhook import TwilioRequest
from tests.mail_server import MailServer

STANDIN_SEED = 25
LINE = "+15017122661"  # the stand-in account's main number: the blocked sender
SECOND = "+15005550010"  # the account's other number: where the owner's text comes from
OWNER = "+15005550006"
OWNER_MAIL = "owner@acme.example"
CALLBACK_URL = "https://switchboard.example/api/status/message"


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@pytest.fixture
def settings(
    storage_connection_string: str, twilio: TwilioStandin, unique_name: str, mail: MailServer
) -> Settings:
    mail.clear()
    return load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            **twilio.settings(),
            **mail.settings(),
            "TWILIO_FROM_NUMBER": LINE,
            "OWNER_NUMBER": OWNER,
            "OWNER_EMAIL": OWNER_MAIL,
            "TABLE_CALL_LOG": unique_name + "c",
            "TABLE_MESSAGE_LOG": unique_name + "m",
            "TABLE_OPT_OUT": unique_name + "o",
            "TABLE_LINES": unique_name + "l",
        }
    )


def customers(count: int, start: int = 100) -> list[str]:
    return [f"+1555777{n:04d}" for n in range(start, start + count)]


def send(settings: Settings, to: str, sender: str = LINE) -> str:
    """An operator's text from `sender`, through the outbound path (no StatusCallback: the
    test plays the callbacks itself)."""
    sent = Outbound(settings).send(
        Message(Purpose.OPERATOR, LineRef(sender), to, origin=Origin.OPERATOR, body="Order ready")
    )
    assert sent.sid is not None
    return sent.sid


def callback(twilio: TwilioStandin, sid: str, **override: str) -> TwilioRequest:
    """The final status callback Twilio sends for message `sid`, as the stand-in has it."""
    assert twilio.wait_idle()
    message = twilio.store.get_message(sid)
    assert message is not None
    params = {
        "MessageSid": sid,
        "MessageStatus": message.status,
        "To": message.to,
        "From": message.from_ or "",
        "AccountSid": message.account_sid,
    }
    if message.error_code is not None:
        params["ErrorCode"] = str(message.error_code)
        params["ErrorMessage"] = message.error_message or ""
    params.update(override)
    return TwilioRequest(url=CALLBACK_URL, params=params)


def play(settings: Settings, request: TwilioRequest) -> None:
    assert callbacks.on_message(request, settings).status_code == 204


def texts_to(twilio: TwilioStandin, number: str) -> list[Any]:
    return [
        r
        for r in twilio.requests(method="POST", resource="Messages")
        if r.param("To") == number and r.status == 201
    ]


def test_thirty_blocked_texts_one_problem_one_notice_each_record_says_why(
    settings: Settings, twilio: TwilioStandin, mail: MailServer
) -> None:
    twilio.set_sender_outcome(LINE, "undelivered", 30034)
    sids = [send(settings, to) for to in customers(30)]
    for sid in sids:
        request = callback(twilio, sid)
        assert request.params["ErrorCode"] == "30034"
        play(settings, request)
    play(settings, callback(twilio, sids[0]))  # Twilio sends one twice: not a 31st failure

    store = RecordStore.messages(settings)
    for sid in sids:
        record = store.get(sid)
        assert record is not None
        assert (record["Status"], record["ErrorCode"], record["Problem"]) == (
            "undelivered",
            30034,
            "not registered (A2P 10DLC)",
        )

    [problem] = Outbound(settings).delivery_problems()
    assert (problem.line, problem.kind, problem.count, problem.codes) == (
        LINE,
        Kind.REGISTRATION,
        30,
        ((30034, 30),),
    )
    assert problem.error == "US A2P 10DLC - Message from an Unregistered Number"
    # Told once: one e-mail, one text from the account's other number.
    assert [m["To"] for m in mail.messages] == [OWNER_MAIL]
    assert mail.messages[0]["Subject"] == (
        f"Texts from {LINE} are not delivered: not registered (A2P 10DLC)"
    )
    [notice] = texts_to(twilio, OWNER)
    assert notice.param("From") == SECOND
    assert "1 text from +15017122661 was blocked as unregistered" in str(notice.param("Body"))
    assert problem.told == (f"by e-mail to {OWNER_MAIL}; by text to {OWNER} from {SECOND}")
    notice_record = store.get(str(notice.response["sid"]))  # type: ignore[index]
    assert notice_record is not None
    assert (notice_record["Purpose"], notice_record["Line"]) == ("delivery-notice", SECOND)

    report = messaging_report(Outbound(settings))
    assert set(report) == {"ok", "registration", "lines"}
    assert report["registration"].startswith(
        "30 texts from +15017122661 were blocked as unregistered (A2P 10DLC, error 30034) since "
    )
    assert report["lines"][LINE]["registration"]["texts"] == 30


def test_a_callback_with_such_a_code_costs_one_round_trip_more_and_others_none(
    settings: Settings, twilio: TwilioStandin
) -> None:
    twilio.set_sender_outcome(LINE, "undelivered", 30007)
    filtered = [send(settings, to) for to in customers(4)]
    ordinary = [send(settings, to, sender=SECOND) for to in customers(3, start=200)]
    plain = {sid: callback(twilio, sid) for sid in ordinary}
    unreachable = {
        sid: callback(twilio, sid, MessageStatus="undelivered", ErrorCode="30003")
        for sid in ordinary
    }
    blocked = {sid: callback(twilio, sid) for sid in filtered}
    play(settings, blocked[filtered[0]])  # the first: the owner's notice, and the row cold
    with counting_table_requests() as counter:
        play(settings, unreachable[ordinary[0]])
        counter.reset()
        play(settings, unreachable[ordinary[1]])
        other_code = counter.total()
        counter.reset()
        play(settings, plain[ordinary[2]])
        delivered = counter.total()
        counter.reset()
        WARM.clear()  # an instance that has not met the row yet: it reads it, then writes
        play(settings, blocked[filtered[1]])
        cold = counter.total()
        for sid in filtered[2:]:
            counter.reset()
            play(settings, blocked[sid])
            assert counter.total() == other_code + 1, counter.snapshot()
    assert cold == other_code + 2
    assert delivered == other_code
    [problem] = Outbound(settings).delivery_problems()
    assert (problem.kind, problem.count) == (Kind.FILTERED, 4)


def test_a_rest_refusal_is_recorded_and_counted(settings: Settings, twilio: TwilioStandin) -> None:
    twilio.add_fault(
        FaultRule(
            status=400, code=30034, message="Unregistered number", resource="Messages", times=1
        )
    )
    with pytest.raises(Exception):  # noqa: B017, PT011  (Twilio's error reaches the caller)
        send(settings, customers(1)[0])
    refused = [r for r in RecordStore.messages(settings).table.list_entities() if r.get("Problem")]
    assert [(r["Status"], r["ErrorCode"], r["Problem"]) for r in refused] == [
        ("failed", 30034, "not registered (A2P 10DLC)")
    ]
    [problem] = Outbound(settings).delivery_problems()
    assert (problem.line, problem.count) == (LINE, 1)


def test_a_notice_that_cannot_go_says_so_and_clearing_starts_afresh(
    storage_connection_string: str, twilio: TwilioStandin, unique_name: str
) -> None:
    """No SMTP, and the account has no other number: nothing can reach the owner, and the
    problem says so. Once cleared, the next failure counts from one and tries again."""
    settings = load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            **twilio.settings(),
            "TWILIO_FROM_NUMBER": LINE,
            "OWNER_NUMBER": OWNER,
            "TABLE_MESSAGE_LOG": unique_name + "m",
            "TABLE_OPT_OUT": unique_name + "o",
            "TABLE_LINES": unique_name + "l",
        }
    )
    numbers = twilio.store.number_specs
    twilio.store.set_numbers([n for n in numbers if n["phone_number"] == LINE])
    try:
        twilio.set_sender_outcome(LINE, "failed", 30032)
        for to in customers(2):
            play(settings, callback(twilio, send(settings, to)))
        [problem] = Outbound(settings).delivery_problems()
        assert problem.count == 2
        assert problem.told == (
            "could not be delivered: no e-mail (SMTP or an owner address is not set); "
            "no other number to text from (the line's own texts are blocked)"
        )
        assert texts_to(twilio, OWNER) == []
        assert "(could not be delivered: " in messaging_report(Outbound(settings))["registration"]

        assert Outbound(settings).clear_problems(LINE) == 1
        assert Outbound(settings).delivery_problems() == []
        assert messaging_report(Outbound(settings)) == {"ok": True, "lines": {}}
        play(settings, callback(twilio, send(settings, customers(1, start=300)[0])))
        [again] = Outbound(settings).delivery_problems()
        assert (again.count, again.told_at is not None) == (1, True)
    finally:
        twilio.store.set_numbers(numbers)


def test_a_notice_never_goes_from_another_number_known_to_be_blocked(
    storage_connection_string: str, twilio: TwilioStandin, unique_name: str
) -> None:
    """Both of the account's numbers are unregistered. The second's notice goes from the main
    number (not known to be blocked yet) and fails too: that failure counts against the main
    number, whose own notice then has no number left to go from, and says so."""
    settings = load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            **twilio.settings(),
            "TWILIO_FROM_NUMBER": LINE,
            "OWNER_NUMBER": OWNER,
            "TABLE_MESSAGE_LOG": unique_name + "m",
            "TABLE_OPT_OUT": unique_name + "o",
            "TABLE_LINES": unique_name + "l",
        }
    )
    for sender in (LINE, SECOND):
        twilio.set_sender_outcome(sender, "undelivered", 30034)
    play(settings, callback(twilio, send(settings, customers(1)[0], sender=SECOND)))
    [notice] = texts_to(twilio, OWNER)
    assert notice.param("From") == LINE
    play(settings, callback(twilio, str(notice.response["sid"])))  # type: ignore[index]
    found = {p.line: p for p in Outbound(settings).delivery_problems()}
    assert (found[SECOND].count, found[LINE].count) == (1, 1)
    assert found[SECOND].told == f"by text to {OWNER} from {LINE}"
    assert found[LINE].told.endswith(
        "no other number to text from (the line's own texts are blocked)"
    )
    assert len(texts_to(twilio, OWNER)) == 1  # no second notice from a blocked number
