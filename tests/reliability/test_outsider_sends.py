"""What an outsider can make the app send, through the local host with signed webhooks.

The attack that SMS pumping is: 92 missed calls (the webhooks Twilio sends for a short call
whose caller ID is spoofed) from 80 mobile numbers in 40 countries, to a line whose missed
callers get a text back. With the defaults (`OUTBOUND_ALLOWED_COUNTRIES` unset: the countries
of the account's own numbers, here the US; `AUTOMATIC_SMS_BURST_LIMIT` 20) no text goes to a
country outside the list, at most the burst limit goes out for the line, the line pauses, its
owner gets one notice, and `GET /api/health` shows it `paused` with the counts; the operator's
resume (`POST /api/outbound/lines/{number}/resume`) lets it text again, and Twilio's SMS
Pumping Protection error (30450) on one of its texts pauses it again, with a second notice.

Also: a caller spoofed as another of the account's numbers gets nothing; a withheld caller's
voicemail still reaches the line's e-mail recipient (and its text to the owner still goes).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from devkit.ports import free_port
from devkit.simulator import CallSession
from devkit.twilio_standin import TwilioStandin
from switchboard.logbook.store import RecordStore
from switchboard.outbound.destinations import country_of
from switchboard.settings import load_settings
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.mail_server import MailServer
from tests.reliability.app_clients import operator_api
from tests.reliability.conftest import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    BUSINESS,
    OWNER,
    HostFactory,
    app_env,
    wait_until,
)

#: Another number of the same account: a second line, and the caller ID of one spoof.
SECOND = "+15017120288"
TEXT_BACK = "Sorry we missed your call at Acme. We will call you back today."
STAFF_MAIL = "staff@acme.example"
#: The attack's 40 countries: the US (the account's own) and 39 where pumping pays.
ABROAD = [
    "UZ",
    "TJ",
    "MM",
    "NG",
    "AF",
    "SO",
    "YE",
    "KG",
    "TM",
    "AZ",
    "GE",
    "AM",
    "BY",
    "KZ",
    "PK",
    "BD",
    "LK",
    "NP",
    "KH",
    "LA",
    "VN",
    "ID",
    "PH",
    "TH",
    "EG",
    "MA",
    "DZ",
    "TN",
    "LY",
    "SD",
    "ET",
    "KE",
    "TZ",
    "UG",
    "GH",
    "CI",
    "SN",
    "CM",
    "ZW",
]
US_CALLERS = 41
REPEATS = 12


def mobiles(region: str, count: int) -> list[str]:
    """`count` distinct valid mobile numbers of `region` (from phonenumbers' example)."""
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert example is not None, region
    found: list[str] = []
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    head, tail = e164[:-4], int(e164[-4:])
    for delta in range(10_000):
        number = f"{head}{(tail + 7 * delta) % 10_000:04d}"
        candidate = phonenumbers.parse(number, None)
        kind = phonenumbers.number_type(candidate)
        if phonenumbers.is_valid_number(candidate) and kind in (
            PhoneNumberType.MOBILE,
            PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            found.append(number)
            if len(found) == count:
                return found
    raise AssertionError(f"{region}: not {count} mobiles near phonenumbers' example")


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    mail: MailServer
    env: dict[str, str | None]
    storage: str

    def texts_to(self, number: str) -> list[str]:
        return [
            str(r.param("Body"))
            for r in self.standin.requests(method="POST", resource="Messages")
            if r.param("To") == number
        ]

    def texts(self) -> list[tuple[str, str]]:
        return [
            (str(r.param("To")), str(r.param("Body")))
            for r in self.standin.requests(method="POST", resource="Messages")
            if r.status == 201
        ]

    def call(self, caller: str, to: str = BUSINESS, **options: Any) -> str:
        """One call from `caller`, played as Twilio plays it, ending with its status callback."""
        session = CallSession(
            self.host.url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            public_base_url=self.host.url,
            from_=caller,
            to=to,
            standin_url=self.standin.base_url,
            status_callback="/api/status/call",
        )
        transcript = session.run(**options)
        assert transcript.ok, transcript.text()
        assert transcript.steps[-1].kind == "call-status-callback"
        assert transcript.steps[-1].status == 204, transcript.text()
        return session.call_sid

    def text_back(self, call_sid: str) -> str:
        settings = load_settings({**self.env, "AzureWebJobsStorage": self.storage})  # type: ignore[dict-item]
        record = RecordStore.calls(settings).get(call_sid)
        assert record is not None, call_sid
        return str(record.get("TextBack") or "")

    def health(self) -> dict[str, Any]:
        status, body = operator_api(self.host, "GET", "health")
        assert status in (200, 503), body
        assert isinstance(body, dict), body
        return body


@pytest.fixture(scope="module")
def stack(rel_host_module: HostFactory, storage_connection_string: str) -> Iterator[Stack]:
    port = free_port()
    with (
        TwilioStandin(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            api_keys={API_KEY_SID: API_KEY_SECRET},
            callback_delay_ms=0,
            numbers=[
                {"phone_number": BUSINESS, "friendly_name": "Main line"},
                {"phone_number": SECOND, "friendly_name": "Second line"},
            ],
        ) as standin,
        MailServer() as mail,
    ):
        env = app_env(
            "outsider",
            TWILIO_API_BASE_URL=standin.base_url,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            TABLE_LINES="rellines" + uuid.uuid4().hex[:10],
            SMS_TIMER_SCHEDULE="*/1 * * * * *",
            SMS_AUTO_REPLY=None,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(mail.port),
            SMTP_TLS="none",
            SMTP_FROM="switchboard@acme.example",
            OWNER_EMAIL="owner@acme.example",
        )
        host = rel_host_module(PROJECT_ROOT, env, port=port)
        main_line = {
            "name": "Acme",
            "timeZone": "America/New_York",
            "open": [{"say": "Sorry, nobody can take your call."}, {"hangup": {}}],
            "textBack": {"message": TEXT_BACK, "minSeconds": 0},
        }
        second_line = {
            "name": "Acme support",
            "open": [{"voicemail": {"notify": {"email": [STAFF_MAIL], "sms": [OWNER]}}}],
        }
        for number, document in ((BUSINESS, main_line), (SECOND, second_line)):
            status, answer = operator_api(host, "PUT", f"lines/{number}", document)
            assert status == 201, answer
        yield Stack(host, standin, mail, env, storage_connection_string)


def attack() -> list[str]:
    """92 callers: 80 mobiles (41 in the US, one in each of 39 other countries), 12 of them
    calling twice, interleaved as a script would dial them."""
    us = mobiles("US", US_CALLERS)
    abroad = [mobiles(region, 1)[0] for region in ABROAD]
    callers = [n for pair in zip(us, abroad, strict=False) for n in pair] + us[len(abroad) :]
    assert len(set(callers)) == 80
    assert len({country_of(n) for n in callers}) == 40
    repeats = us[:6] + abroad[:6]
    assert len(callers + repeats) == 92
    return callers + repeats


def test_an_sms_pumping_attack_on_missed_calls_sends_at_most_the_burst_limit(
    stack: Stack,
) -> None:
    callers = attack()
    with ThreadPoolExecutor(max_workers=4) as pool:
        call_sids = list(pool.map(stack.call, callers))
    words = Counter()
    for caller, call_sid in zip(callers, call_sids, strict=True):
        word = stack.text_back(call_sid)
        words[word] += 1
        if country_of(caller) != "US":
            assert word == "skipped (country not allowed)", (caller, word)
    assert words["sent"] == 20, words  # AUTOMATIC_SMS_BURST_LIMIT
    assert words["skipped (country not allowed)"] == 39 + 6, words  # every call from abroad
    # The other 27 US calls: past the limit, or a second call within the caller's window.
    assert words["skipped (burst limit)"] + words["skipped (texted within 24 h)"] == 27, words
    # The timer sends exactly the text-backs decided: 20, all to the US; one notice to the owner.
    wait_until(
        lambda: len([t for t in stack.texts() if t[1] == TEXT_BACK]) >= 20, 60, "the text-backs"
    )
    text_backs = [to for to, body in stack.texts() if body == TEXT_BACK]
    assert len(text_backs) == 20
    assert {country_of(to) for to in text_backs} == {"US"}
    assert all(to in callers for to in text_backs)
    [notice] = stack.texts_to(OWNER)
    assert "paused" in notice
    assert "burst limit" in notice
    wait_until(lambda: stack.mail.messages, 30, "the owner's e-mail")
    [mail] = [m for m in stack.mail.messages if m["To"] == "owner@acme.example"]
    assert "paused" in str(mail["Subject"])
    line = stack.health()["outbound"]["lines"][BUSINESS]
    assert (line["state"], line["reason"], line["automaticTexts"]) == ("paused", "burst limit", 20)
    assert line["skipped"] == words["skipped (burst limit)"]
    assert BUSINESS in stack.health()["outbound"]["paused"]
    assert stack.health()["outbound"]["allowedCountries"] == ["US"]


def test_a_caller_spoofed_as_another_of_our_numbers_gets_nothing(stack: Stack) -> None:
    call_sid = stack.call(SECOND)
    assert stack.text_back(call_sid) == "skipped (one of our numbers)"
    assert stack.texts_to(SECOND) == []


def test_the_operator_resumes_the_line_and_a_pumping_error_pauses_it_again(
    stack: Stack,
) -> None:
    status, resumed = operator_api(stack.host, "POST", f"outbound/lines/{BUSINESS}/resume")
    assert status == 200, resumed
    assert (resumed["state"], resumed["automaticTexts"]) == ("active", 0)
    caller = mobiles("US", US_CALLERS + 1)[-1]
    # Twilio's SMS Pumping Protection blocks the text (it fails with 30450 after creation).
    stack.standin.set_message_outcome(caller, "failed", 30450)
    assert stack.text_back(stack.call(caller)) == "sent"
    wait_until(lambda: len(stack.texts_to(OWNER)) == 2, 60, "the second notice")
    line = stack.health()["outbound"]["lines"][BUSINESS]
    assert (line["state"], line["reason"]) == ("paused", "Twilio error 30450")
    assert "Twilio error 30450" in stack.texts_to(OWNER)[1]


def test_a_withheld_callers_voicemail_reaches_the_email_recipient(stack: Stack) -> None:
    before = len(stack.texts_to(OWNER))
    stack.call("anonymous", to=SECOND, recording_duration=9)
    message = wait_until(
        lambda: next((m for m in stack.mail.messages if m["To"] == STAFF_MAIL), None),
        60,
        "the voicemail e-mail",
    )
    assert "a withheld number" in str(message["Subject"])
    wait_until(lambda: len(stack.texts_to(OWNER)) > before, 60, "the voicemail text")
    assert stack.texts_to(OWNER)[-1].startswith("Voicemail on Acme support from a withheld")
