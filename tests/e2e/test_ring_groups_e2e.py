"""Ring groups end to end: a line whose open flow rings three people, through the devkit host,
with the simulator answering as those phones would (press 1, press another key, or nothing).

- `all`: the three ring together; the first two answer but do not press 1 (their legs hang up),
  the third presses 1 and takes the call: CallLog says who.
- `in-turn`: one after another with each person's timeout; a leg that answered and hung up in its
  whisper (Twilio reports `completed` for it) does not end the hunt.
- nobody takes it: the next step (voicemail) runs, and CallLog says nobody was reached.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from devkit.simulator import CallSession, Transcript, parse_callees
from switchboard.logbook.store import RecordStore
from switchboard.settings import load_settings
from switchboard.voice.flow import query_value
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "4e" * 16
TOKEN = "ring-e2e-auth-token-0123456789abc"
KEY = "ring-e2e-function-key"
PUBLIC = "https://ring-e2e.example.com"
ALL_LINE = "+15017122661"
TURN_LINE = "+15017122662"
CALLER = "+15558675310"
ANA, BEN, CEC = "+15550000001", "+15550000002", "+15550000003"
PEOPLE = [
    {"name": "Ana", "number": ANA, "timeout": 10},
    {"name": "Ben", "number": BEN, "timeout": 15},
    {"name": "Cec", "number": CEC, "timeout": 20},
]


def line(strategy: str) -> dict[str, Any]:
    return {
        "name": "Main line" if strategy == "all" else "Sales",
        "open": [
            {"ring": {"people": PEOPLE, "strategy": strategy, "callerId": "line"}},
            {"voicemail": {"prompt": {"say": "Nobody could take your call. Leave a message."}}},
        ],
    }


@dataclass
class Stack:
    host: HostHandle
    calls: RecordStore

    def call(self, to: str, callees: list[str]) -> Transcript:
        transcript = CallSession(
            self.host.url,
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            public_base_url=PUBLIC,
            from_=CALLER,
            to=to,
        ).run(callees=parse_callees(callees))
        assert transcript.ok, transcript.text()
        return transcript

    def record(self, transcript: Transcript) -> dict[str, Any]:
        found = self.calls.get(transcript.call_sid)
        assert found is not None, self.host.log_text()
        return dict(found)


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Stack:
    suffix = uuid.uuid4().hex[:10]
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": PUBLIC,
        "DEVHOST_FUNCTION_KEY": KEY,
        "TABLE_LINES": "ringlines" + suffix,
        "TABLE_CALL_LOG": "ringcalls" + suffix,
        "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
    }
    host = run_host_module(PROJECT_ROOT, env)
    for number, strategy in ((ALL_LINE, "all"), (TURN_LINE, "in-turn")):
        answer = host.request(
            "PUT",
            f"/api/lines/{number}?force=true",
            headers={"x-functions-key": KEY, "Content-Type": "application/json"},
            body=json.dumps(line(strategy)),
        )
        assert answer.status == 201, answer.text
    settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
    return Stack(host, RecordStore.calls(settings))


def whispers(transcript: Transcript) -> list[dict[str, str]]:
    return [step.params for step in transcript.steps if step.kind == "whisper"]


def test_ring_all_the_third_presses_one_and_takes_the_call(stack: Stack) -> None:
    transcript = stack.call(ALL_LINE, [f"{ANA}=", f"{BEN}=9", f"{CEC}=1"])
    dial = transcript.steps[0].verbs[0]
    assert dial.name == "Dial"
    assert dial.attrs["callerId"] == ALL_LINE
    assert [n.text for n in dial.children] == [ANA, BEN, CEC]
    asked = whispers(transcript)
    # Ana answers and presses nothing; Ben presses 9; Cec presses 1.
    assert [w["To"] for w in asked] == [ANA, BEN, BEN, CEC, CEC]
    said = [v.text for step in transcript.steps if step.kind == "whisper" for v in step.verbs]
    assert any("Call for Main line from 1, 5 5 5, 8 6 7, 5 3 1 0. Press 1" in t for t in said)
    assert transcript.steps[-1].params["DialCallStatus"] == "completed"
    assert [v.name for v in transcript.steps[-1].verbs] == ["Hangup"]
    record = stack.record(transcript)
    assert json.loads(record["TakenByJson"]) == {"name": "Cec", "number": CEC}
    assert record["Reached"] is True
    assert record["Handling"] == "answered"
    legs = json.loads(record["LegsJson"])
    assert sorted((leg["name"], leg["accepted"]) for leg in legs.values()) == [
        ("Ben", False),
        ("Cec", True),
    ]


def test_in_turn_with_timeouts_and_a_declined_leg(stack: Stack) -> None:
    # Ana does not answer; Ben answers and hangs up in his whisper (Twilio: "completed");
    # Cec presses 1.
    transcript = stack.call(TURN_LINE, [f"{ANA}=no-answer", f"{BEN}=", f"{CEC}=1"])
    dials = [
        step.verbs[0] for step in transcript.webhooks if step.verbs and step.verbs[0].name == "Dial"
    ]
    assert [[n.text for n in d.children] for d in dials] == [[ANA], [BEN], [CEC]]
    assert [d.attrs["timeout"] for d in dials] == ["10", "15", "20"]
    turns = [step.url for step in transcript.webhooks if "dial-complete" in step.url]
    assert [query_value(u, "turn") for u in turns] == ["0", "1", "2"]
    assert [query_value(u, "hop") for u in turns] == ["1", "2", "3"]
    record = stack.record(transcript)
    assert json.loads(record["TakenByJson"]) == {"name": "Cec", "number": CEC}


def test_nobody_takes_it_and_the_caller_gets_voicemail(stack: Stack) -> None:
    transcript = stack.call(ALL_LINE, [f"{ANA}=", f"{BEN}=busy"])
    last = transcript.webhooks[-2] if transcript.webhooks[-1].verbs[-1].name == "Hangup" else None
    names = [v.name for step in transcript.webhooks for v in step.verbs]
    assert "Record" in names
    assert last is not None
    record = stack.record(transcript)
    assert record["Reached"] is False
    assert "TakenByJson" not in record
    assert record["Handling"] in ("voicemail", "recorded")
