"""Callers who wait, end to end: a line's queue step through TWO local hosts behind one public
name (the Twilio stand-in sends Twilio's requests to each in turn, as a load balancer would),
Azurite, and the simulator playing every phone: the callers in the stand-in's Twilio queue, and
the people's phones the app rings (answered by hand here: `AnsweredCall`).

One story, in order (module-scoped, each test a chapter):

1. three callers queue and hear positions 1, 2 and 3;
2. Ana presses 1 and takes caller 1 (who waited, and who took them, on caller 1's record and
   in caller 1's conversation: answered by Ana); caller 2 then hears position 1, and caller 3,
   at position 2, presses 1 for a callback, hears the number that will be called, and hangs up
   (their conversation: asked to be called back, nothing unread);
3. Ana takes caller 2 (who arrived before caller 3's callback), then the callback: caller 3 is
   called back once, through the outbound-call queue, and bridged to Ana, who accepted first
   (caller 3's conversation: called back by Ana);
4. a caller past the maximum wait reaches voicemail (the queues' clock moved forward, no sleep);
5. at closing time the queue empties into the closed flow.

Ben, the queue's other person, never picks up: each offer rings out, and he rests.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devkit.simulator import CallSession, Transcript
from devkit.simulator_outbound import AnsweredCall
from devkit.twilio_standin import TwilioStandin
from switchboard.logbook.store import RecordStore
from switchboard.settings import load_settings
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "7a" * 16
TOKEN = "queue-e2e-auth-token-0123456789ab"
KEY = "queue-e2e-function-key"
PUBLIC = "https://queue-e2e.example.com"
LINE = "+15017122661"
ANA, BEN = "+15550000001", "+15550000002"
CALLER_1, CALLER_2, CALLER_3 = "+15558675301", "+15558675302", "+15558675303"
LATE, CLOSING = "+15558675304", "+15558675305"
MAX_WAIT = 300
WAIT = 30.0

LINE_DOCUMENT: dict[str, Any] = {
    "name": "Main line",
    "timeZone": "America/New_York",
    "greeting": {"open": {"say": "Thanks for calling Acme."}, "closed": {"say": "Acme is closed."}},
    "open": [
        {
            "queue": {
                "people": [{"name": "Ana", "number": ANA}, {"name": "Ben", "number": BEN}],
                "hold": {"say": "Please hold."},
                "announceEvery": 60,
                "maxWait": MAX_WAIT,
                "maxSize": 5,
                "callback": True,
            }
        },
        {"voicemail": {"prompt": {"say": "Nobody could take your call. Leave a message."}}},
    ],
    "closed": [{"voicemail": {"prompt": {"say": "We are closed. Leave a message."}}}],
}

LOADER = '''"""Test-only: serve the project's function_app.py with this folder's host.json."""
import importlib.util

_spec = importlib.util.spec_from_file_location("switchboard_function_app", {path!r})
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
app = _module.app
'''


def fast_app_dir(root: Path) -> Path:
    """The project's app with queues polled every 100-250 ms (2 s in the project): a queue
    hop (a dispatch, an offer call) takes a fraction of a second, not up to two."""
    host_json = json.loads((PROJECT_ROOT / "host.json").read_text())
    host_json["extensions"]["queues"]["maxPollingInterval"] = "00:00:00.250"
    (root / "host.json").write_text(json.dumps(host_json))
    (root / "function_app.py").write_text(LOADER.format(path=str(PROJECT_ROOT / "function_app.py")))
    return root


@dataclass
class Caller:
    """A caller's call, played in a thread of its own."""

    session: CallSession
    digits: list[str]
    transcript: Transcript | None = None
    thread: threading.Thread | None = None

    def start(self) -> Caller:
        def play() -> None:
            self.transcript = self.session.run(self.digits)

        self.thread = threading.Thread(target=play, daemon=True)
        self.thread.start()
        return self

    def done(self, timeout: float = WAIT) -> Transcript:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the call is still going"
        assert self.transcript is not None
        return self.transcript

    def heard_positions(self) -> list[int]:
        """The place announced in each wait document so far."""
        found = []
        for step in list(self.session.current.steps):
            if step.kind == "queue-wait" and step.body:
                text = step.body
                marker = "You are number "
                if marker in text:
                    found.append(int(text.split(marker, 1)[1].split(" ", 1)[0]))
        return found


@dataclass
class Stack:
    hosts: list[HostHandle]
    standin: TwilioStandin
    calls: RecordStore
    handled: set[str] = field(default_factory=set)

    def caller(self, number: str, digits: list[str] | None = None) -> Caller:
        session = CallSession(
            [h.url for h in self.hosts],
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            public_base_url=PUBLIC,
            from_=number,
            to=LINE,
            standin_url=self.standin.base_url,
            queue_idle=WAIT,
            status_callback="/api/status/call",
        )
        return Caller(session, list(digits or []))

    def answer(self, to: str, digits: list[str]) -> Transcript:
        """The next call ringing `to`, answered: its TwiML played with `digits` pressed."""
        call = self.standin.wait_for_call(to, exclude=sorted(self.handled), timeout=WAIT)
        self.handled.add(call["sid"])
        return AnsweredCall(
            self.standin.base_url,
            [h.url for h in self.hosts],
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            call_sid=call["sid"],
            public_base_url=PUBLIC,
            queue_idle=WAIT,
        ).run(digits)

    def answer_in_thread(self, to: str, digits: list[str]) -> Caller:
        """`answer`, in a thread (a person who waits in a queue for the customer)."""
        holder = Caller(self.caller(to), digits)  # session unused: a thread and a result

        def play() -> None:
            holder.transcript = self.answer(to, digits)

        holder.thread = threading.Thread(target=play, daemon=True)
        holder.thread.start()
        return holder

    def waiting(self) -> list[str]:
        queues = self.standin.queue_snapshot()["queues"]
        mine = [q for q in queues if q["friendly_name"] == "sb-line-15017122661"]
        return list(mine[0]["waiting"]) if mine else []

    def until(self, check: Any, what: str, caller: Caller | None = None) -> None:
        """Wait (bounded) for `check`; the failure shows the caller's call so far."""
        import time

        deadline = time.monotonic() + WAIT
        while not check():
            if time.monotonic() > deadline or (caller and caller.transcript is not None):
                heard = caller.session.current.text() if caller else ""
                logs = "\n".join(
                    f"host {n}: {line}"
                    for n, host in enumerate(self.hosts)
                    for line in host.lines[-25:]
                )
                raise AssertionError(f"never: {what}\n{heard}\n{logs}")
            time.sleep(0.02)

    def conversation(self, customer: str) -> dict[str, Any]:
        """The caller's conversation with the line, as the operator API shows it."""
        answer = self.hosts[1].request(
            "GET", f"/api/conversations/{LINE}/{customer}", headers={"x-functions-key": KEY}
        )
        assert answer.status == 200, answer.text
        found: dict[str, Any] = json.loads(answer.text)
        return found

    def record(self, call_sid: str) -> dict[str, Any]:
        found = self.calls.get(call_sid)
        assert found is not None, f"no CallLog record for {call_sid}"
        return dict(found)


@pytest.fixture(scope="module")
def stack(
    run_host_module: HostFactory,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    app_dir = fast_app_dir(tmp_path_factory.mktemp("queue_app"))
    numbers = [{"phone_number": LINE, "friendly_name": "Main line"}]
    with TwilioStandin(
        account_sid=ACCOUNT_SID, auth_token=TOKEN, numbers=numbers, callback_delay_ms=5
    ) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": LINE,
            "PUBLIC_BASE_URL": PUBLIC,
            "DEVHOST_FUNCTION_KEY": KEY,
            "TABLE_LINES": "qlines" + suffix,
            "TABLE_CALL_LOG": "qcalls" + suffix,
            "TABLE_CALL_QUEUE": "qqueue" + suffix,
            "TABLE_OPT_OUT": "qoptout" + suffix,
            "TABLE_MESSAGE_LOG": "qmessages" + suffix,
            "TABLE_SMS_SCHEDULE": "qschedules" + suffix,
            "TABLE_CONVERSATIONS": "qconv" + suffix,
            "TABLE_CONTACTS": "qcontacts" + suffix,
            # Both hosts consume one outbound-call queue, as instances of one app do.
            "OUTBOUND_CALL_QUEUE": "q-calls-" + suffix,
            # Every request reads the line: a change on one host is heard on the other at once.
            "LINES_CACHE_SECONDS": "0",
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }
        hosts = [run_host_module(app_dir, env), run_host_module(app_dir, env)]
        standin.set_routes({PUBLIC: [h.url for h in hosts]})
        for number in (ANA, CALLER_1, CALLER_2, CALLER_3, LATE, CLOSING):
            standin.set_call_outcome(number, answer="manual")
        standin.set_call_outcome(BEN, "no-answer")
        answer = hosts[0].request(
            "PUT",
            f"/api/lines/{LINE}",
            headers={"x-functions-key": KEY, "Content-Type": "application/json"},
            body=json.dumps(LINE_DOCUMENT),
        )
        assert answer.status == 201, answer.text
        settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
        yield Stack(hosts, standin, RecordStore.calls(settings))


def tomorrow() -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")


@dataclass
class Story:
    """What the chapters share."""

    callers: dict[str, Caller] = field(default_factory=dict)


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


def test_three_callers_queue_and_hear_positions_1_2_and_3(stack: Stack, story: Story) -> None:
    for number, digits in ((CALLER_1, []), (CALLER_2, []), (CALLER_3, ["", "1"])):
        caller = stack.caller(number, digits).start()
        story.callers[number] = caller
        stack.until(lambda c=caller: c.heard_positions(), f"{number} hears its place", caller)
    assert [story.callers[n].heard_positions()[0] for n in (CALLER_1, CALLER_2, CALLER_3)] == [
        1,
        2,
        3,
    ]
    assert len(stack.waiting()) == 3
    # The line's Twilio queue was made once, through the Queue resource, with the step's size.
    made = stack.standin.requests(method="POST", resource="Queues")
    assert [r.param("MaxSize") for r in made] == ["5"]
    # Both hosts answered the callers (one public name, two instances, taken in turn).
    for host in stack.hosts:
        host.wait_for_log(re.compile(r"Executed 'Functions\.voice_(incoming|queue_wait)' \(Succ"))


def test_ana_takes_caller_1_and_the_others_move_up(stack: Stack, story: Story) -> None:
    ana = stack.answer(ANA, ["1"])
    assert ana.ok, ana.text()
    said = " ".join(v.text for v in ana.verbs)
    assert "Callers are waiting on Main line. Press 1 to take the next one." in said
    assert "Taking the call from 1, 5 5 5, 8 6 7, 5 3 0 1." in said
    first = story.callers[CALLER_1].done()
    assert first.ok, first.text()
    record = stack.record(first.call_sid)
    assert json.loads(record["TakenByJson"]) == {"name": "Ana", "number": ANA}
    assert record["Reached"] is True
    assert record["QueueOutcome"] == "taken"
    assert isinstance(record["QueueTime"], int)
    assert record["QueueResult"] == "bridged"
    # In caller 1's conversation: a call answered by Ana, as a ring group's would be.
    [event] = stack.conversation(CALLER_1)["events"]
    assert (event["kind"], event["event"], event["takenBy"]) == ("call", "answered", "Ana")
    assert event["queueTime"] == record["QueueTime"]
    # Caller 2 now hears position 1; caller 3 (then at 2) presses 1 for a callback.
    second, third = story.callers[CALLER_2], story.callers[CALLER_3]
    stack.until(lambda: 1 in second.heard_positions()[1:], "caller 2 hears position 1", second)
    assert second.heard_positions()[:2] == [2, 1]
    called_back = third.done()
    assert called_back.ok, called_back.text()
    assert third.heard_positions() == [3, 2]
    assert "We will call you back at 1, 5 5 5, 8 6 7, 5 3 0 3 when it is your turn." in (
        called_back.text()
    )
    assert called_back.ended_by == "hangup"
    assert stack.record(called_back.call_sid)["Callback"] in ("waiting", "connecting")
    asked = stack.conversation(CALLER_3)
    if asked["events"][0].get("callback") != "answered":  # Ana may be quicker than this read
        assert asked["conversation"]["preview"] == "asked to be called back"
        assert asked["conversation"]["unread"] == 0  # the app answers it by itself


def test_callbacks_keep_their_place_and_are_called_back_once(stack: Stack, story: Story) -> None:
    # Ana is rung again: caller 2 arrived before caller 3's callback, so she takes caller 2.
    ana = stack.answer(ANA, ["1"])
    assert ana.ok, ana.text()
    assert "Taking the call from 1, 5 5 5, 8 6 7, 5 3 0 2." in ana.text()
    assert story.callers[CALLER_2].done().ok
    # Then the callback: Ana waits in its own queue while the app calls caller 3 back.
    waiting_ana = stack.answer_in_thread(ANA, ["1"])
    customer = stack.answer(CALLER_3, [])
    assert customer.ok, customer.text()
    assert "calling you back, as you asked" in customer.text()
    person = waiting_ana.done()
    assert person.ok, person.text()
    assert "Calling back 1, 5 5 5, 8 6 7, 5 3 0 3" in person.text()
    third = story.callers[CALLER_3].transcript
    assert third is not None
    record = stack.record(third.call_sid)
    assert record["Callback"] == "answered"
    assert json.loads(record["CallbackBy"]) == {"name": "Ana", "number": ANA}
    # In caller 3's conversation: their call, answered by Ana when she called them back.
    found = stack.conversation(CALLER_3)
    [event] = found["events"]
    assert (event["event"], event["takenBy"], event["callback"]) == ("answered", "Ana", "answered")
    assert (found["conversation"]["preview"], found["conversation"]["unread"]) == (
        "called back by Ana",
        0,
    )
    # Exactly once: one call to caller 3, placed through the outbound-call queue by its id.
    assert len(stack.standin.calls_to(CALLER_3)) == 1
    placed = stack.calls.get(f"sys-callback-{third.call_sid}")
    assert placed is not None
    assert placed["IdempotencyStatus"] == "completed"


def test_a_caller_past_the_longest_wait_reaches_voicemail(stack: Stack) -> None:
    late = stack.caller(LATE).start()
    stack.until(lambda: late.heard_positions(), "the late caller hears its place")
    stack.standin.advance_queues(MAX_WAIT)  # the queues' clock, not a sleep
    transcript = late.done()
    assert transcript.ok, transcript.text()
    assert "Nobody could take your call. Leave a message." in transcript.text()
    assert any(v.name == "Record" for v in transcript.verbs)
    record = stack.record(transcript.call_sid)
    assert record["QueueOutcome"] == "max-wait"
    assert record["QueueTime"] >= MAX_WAIT


def test_at_closing_time_the_queue_empties_into_the_closed_flow(stack: Stack) -> None:
    waiting = stack.caller(CLOSING).start()
    stack.until(lambda: waiting.heard_positions(), "the caller hears its place")
    closed = stack.hosts[1].request(
        "POST",
        f"/api/lines/{LINE}/override",
        headers={"x-functions-key": KEY, "Content-Type": "application/json"},
        body=json.dumps({"state": "closed", "until": tomorrow(), "reason": "closing time"}),
    )
    assert closed.status == 200, closed.text
    stack.standin.advance_queues(30)  # the next wait document comes, and finds the line closed
    transcript = waiting.done()
    assert transcript.ok, transcript.text()
    text = transcript.text()
    assert "Leave (out of the queue)" in text
    assert "Acme is closed." in text
    assert "We are closed. Leave a message." in text
    record = stack.record(transcript.call_sid)
    assert record["QueueOutcome"] == "closed"
    assert record["Flow"] == "closed"
    assert stack.waiting() == []
    # Over the story, both instances served the queue's own webhooks.
    for host in stack.hosts:
        host.wait_for_log(re.compile(r"Executed 'Functions\.voice_queue_\w+' \(Succeeded"))
