"""Outbound calls through the local Functions host, Azurite and the Twilio stand-in.

Every promise of the outbound calls (queue trigger) and the operator routes for calls, observed
from outside: the records in Azurite, the queues, the stand-in's recorded requests and the
host's execution log.

The host serves the real app (`function_app.py`) from a temporary app folder whose host.json is the
project's with a 1 s `visibilityTimeout` (10 s in the project), so that a retried message comes
back in a second: the semantics under test (dequeue count, poison queue after `maxDequeueCount`
= 5) are the project's.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devkit.ports import free_port
from devkit.twilio_standin import TwilioStandin
from switchboard.logbook.store import RecordStore
from switchboard.settings import Settings, load_settings
from switchboard.storage import queues
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "c4" * 16
TOKEN = "calls-e2e-auth-token-0123456789ab"
BUSINESS = "+15017122661"
KEY = "calls-e2e-function-key"
WAIT = 20.0

LOADER = '''"""Test-only: serve the project's function_app.py with this folder's host.json."""
import importlib.util

_spec = importlib.util.spec_from_file_location("switchboard_function_app", {path!r})
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
app = _module.app
'''


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    settings: Settings
    calls: RecordStore
    queue: str
    env: dict[str, str]

    def enqueue(self, payload: Any) -> str:
        """Send a JSON payload (or raw text) the way the README says: base64."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        message = queues.get_queue(self.queue, self.settings).send_message(text)
        return str(message.id)

    def record(self, record_id: str) -> dict[str, Any] | None:
        entity = self.calls.get(record_id)
        return dict(entity) if entity is not None else None

    def wait_record(
        self, record_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            record = self.record(record_id)
            if record is not None and done(record):
                return record
            if time.monotonic() > deadline:
                raise AssertionError(f"record {record_id} never got there: {record}")
            time.sleep(0.1)

    def queue_count(self, name: str | None = None) -> int:
        client = queues.get_queue(name or self.queue, self.settings)
        return int(client.get_queue_properties().approximate_message_count or 0)

    def wait_queue_empty(self, name: str | None = None, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while self.queue_count(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.queue_count(name) == 0

    def placed(self, to: str) -> list[Any]:
        """Calls create requests the stand-in answered for `to` (any status)."""
        return [
            r for r in self.standin.requests(method="POST", resource="Calls") if r.param("To") == to
        ]

    def created(self, to: str) -> list[Any]:
        return [r for r in self.placed(to) if r.status == 201]

    def api(
        self, method: str, path: str, body: Any = None, *, key: str | None = KEY
    ) -> tuple[int, Any]:
        headers = {"x-functions-key": key} if key else {}
        data = None
        if body is not None:
            data = body if isinstance(body, str) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        result = self.host.request(method, f"/api/{path}", headers=headers, body=data)
        try:
            return result.status, result.json()
        except ValueError:
            return result.status, result.text


def fast_app_dir(root: Path) -> Path:
    host_json = json.loads((PROJECT_ROOT / "host.json").read_text())
    host_json["extensions"]["queues"]["visibilityTimeout"] = "00:00:01"
    host_json["extensions"]["queues"]["maxPollingInterval"] = "00:00:00.500"
    (root / "host.json").write_text(json.dumps(host_json))
    (root / "function_app.py").write_text(LOADER.format(path=str(PROJECT_ROOT / "function_app.py")))
    return root


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


@pytest.fixture(scope="module")
def stack(
    run_host_module: HostFactory,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    app_dir = fast_app_dir(tmp_path_factory.mktemp("calls_app"))
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=5) as standin:
        port = free_port()
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "TABLE_CALL_LOG": "e2ecalls" + suffix,
            "TABLE_MESSAGE_LOG": "e2ecallmsgs" + suffix,
            "TABLE_CONVERSATIONS": "e2ecallconv" + suffix,
            "OUTBOUND_CALL_QUEUE": "e2e-calls-" + suffix,
            "DEVHOST_FUNCTION_KEY": KEY,
            # The scheduled-SMS timer's %SMS_TIMER_SCHEDULE% must resolve; once a year.
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }
        host = run_host_module(app_dir, env, port=port)
        settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
        yield Stack(
            host,
            standin,
            settings,
            RecordStore.calls(settings),
            env["OUTBOUND_CALL_QUEUE"],
            env,
        )


def executions(host: HostHandle, message_id: str) -> list[str]:
    return [line for line in host.lines if f"MessageId: {message_id}," in line]


# --- invalid messages ---------------------------------------------------------------------


INVALID: list[tuple[str, Any, str | None]] = [
    ("not JSON", "{this is not json", None),
    ("not an object", "[1, 2, 3]", None),
    ("missing to", {"say": "Hello"}, "to"),
    ("bad number", {"to": "555-0100", "say": "Hello"}, "to"),
    ("two of say/twiml/url", {"to": "+15558675310", "say": "Hi", "twiml": "<Response/>"}, "twiml"),
    ("http url", {"to": "+15558675310", "url": "http://example.com/twiml"}, "url"),
    ("unknown field", {"to": "+15558675310", "say": "Hi", "priority": "high"}, "priority"),
    ("oversized id", {"id": "x" * 129, "to": "+15558675310", "say": "Hi"}, "id"),
    ("say over 4,000", {"to": "+15558675310", "say": "a" * 4001}, "say"),
    (
        "twiml over 4,000",
        {"to": "+15558675310", "twiml": "<Response><Say>" + "a" * 4000 + "</Say></Response>"},
        "twiml",
    ),
]


def test_each_invalid_shape_is_rejected_once_and_gone(stack: Stack) -> None:
    sent = [(label, stack.enqueue(body), field) for label, body, field in INVALID]
    for label, message_id, field in sent:
        record = stack.wait_record(message_id, lambda r: r.get("Status") == "rejected")
        assert record["IdempotencyStatus"] == "rejected", label
        assert record["ErrorCode"] == "invalid-message", label
        assert record.get("ErrorField") == field, label
        assert record["ErrorMessage"], label
    # The queue holds nothing, invisible messages included (Azure counts them, and so does
    # Azurite): each message was deleted after its one delivery, no retry can come back.
    stack.wait_queue_empty()
    for label, message_id, _ in sent:
        runs = executions(stack.host, message_id)
        assert len(runs) == 1, (label, runs)
        assert "DequeueCount: 1," in runs[0], (label, runs)
    assert stack.queue_count() == 0
    assert stack.queue_count(stack.queue + "-poison") == 0
    assert stack.placed("+15558675310") == []


# --- exactly once -------------------------------------------------------------------------


def test_same_message_three_times_places_one_call(stack: Stack) -> None:
    to = new_number()
    body = {"id": "thrice-" + uuid.uuid4().hex[:8], "to": to, "say": "Reminder"}
    for _ in range(3):
        stack.enqueue(body)
    stack.wait_record(body["id"], lambda r: r.get("IdempotencyStatus") == "completed")
    stack.wait_queue_empty()
    assert len(stack.created(to)) == 1
    assert len(stack.placed(to)) == 1


def test_same_id_on_two_hosts_at_once_places_one_call(
    stack: Stack, run_host: HostFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A second instance of the app on the same storage. It polls a queue of its own so that
    # each host surely gets copies at the same moment (on one shared queue, whichever host polls
    # first may take the whole batch); what races is the id, on the same CallLog table.
    other_queue = stack.queue + "-b"
    second = run_host(
        fast_app_dir(tmp_path_factory.mktemp("calls_app2")),
        {**stack.env, "OUTBOUND_CALL_QUEUE": other_queue},
    )
    to = new_number()
    # Twilio answers slowly for this number, so that copies meet the first one's live lease.
    stack.standin.add_fault(to=to, resource="Calls", status=None, delay_ms=600)
    body = {"id": "twice-" + uuid.uuid4().hex[:8], "to": to, "say": "Reminder"}
    other = queues.get_queue(other_queue, stack.settings)
    ids = []
    for _ in range(3):
        ids.append(stack.enqueue(body))
        ids.append(str(other.send_message(json.dumps(body)).id))
    stack.wait_record(body["id"], lambda r: r.get("IdempotencyStatus") == "completed")
    stack.wait_queue_empty()
    stack.wait_queue_empty(other_queue)
    assert len(stack.placed(to)) == 1
    for host in (stack.host, second):
        assert any(executions(host, i) for i in ids), "each host processed copies"
    in_flight = [line for h in (stack.host, second) for line in h.lines if "another worker" in line]
    assert in_flight, "some copies met the live lease of the one placing the call"


# --- Twilio failures ----------------------------------------------------------------------


def test_transient_failures_then_success_place_one_call(stack: Stack) -> None:
    to = new_number()
    stack.standin.add_fault(to=to, resource="Calls", status=503, times=2)
    call_id = "flaky-" + uuid.uuid4().hex[:8]
    stack.enqueue({"id": call_id, "to": to, "say": "Hello"})
    record = stack.wait_record(call_id, lambda r: r.get("IdempotencyStatus") == "completed")
    assert record["Attempts"] == 3
    assert [r.status for r in stack.placed(to)] == [503, 503, 201]
    assert record["Sid"] == (stack.created(to)[0].response or {}).get("sid")
    assert record["LastErrorCode"] in (503, 20503)


def test_transient_until_the_limit_is_dead_lettered(stack: Stack) -> None:
    to = new_number()
    stack.standin.add_fault(to=to, resource="Calls", status=500)
    call_id = "down-" + uuid.uuid4().hex[:8]
    message_id = stack.enqueue({"id": call_id, "to": to, "say": "Hello"})
    record = stack.wait_record(call_id, lambda r: r.get("Status") == "dead-lettered", timeout=30)
    assert record["IdempotencyStatus"] == "dead-lettered"
    assert record["Attempts"] == 5
    assert len(stack.placed(to)) == 5
    assert stack.created(to) == []
    last = stack.placed(to)[-1].response or {}
    assert record["ErrorCode"] == last.get("code", 500)
    assert record["ErrorMessage"] == last.get("message")
    stack.host.wait_for_log("Moving message to queue '" + stack.queue + "-poison'")
    stack.wait_queue_empty(stack.queue + "-poison")
    deliveries = executions(stack.host, message_id)
    assert [f"DequeueCount: {n}," in line for n, line in enumerate(deliveries, 1)] == [True] * 5


def test_permanent_failure_is_failed_after_one_attempt(stack: Stack) -> None:
    call_id = "invalid-number-" + uuid.uuid4().hex[:8]
    before = len(stack.placed("+15005550001"))
    stack.enqueue({"id": call_id, "to": "+15005550001", "say": "Hello"})
    record = stack.wait_record(call_id, lambda r: r.get("Status") == "failed")
    stack.wait_queue_empty()  # deleted, not invisible: no retry can come (invisible ones count)
    placed = stack.placed("+15005550001")
    assert len(placed) == before + 1
    answer = placed[-1].response or {}
    # Twilio's test number answers 21211 for Messages and 21217 for Calls: the record keeps
    # whatever code and message Twilio gave.
    assert answer["code"] in (21211, 21217)
    assert (record["ErrorCode"], record["ErrorMessage"]) == (answer["code"], answer["message"])
    assert record["IdempotencyStatus"] == "failed"
    assert record["Attempts"] == 1


# --- success and status callbacks ---------------------------------------------------------


def test_success_stores_the_sid_and_callbacks_drive_it_to_completed(stack: Stack) -> None:
    to = new_number()
    stack.standin.set_call_outcome(to, "completed", duration=7)
    call_id = "ok-" + uuid.uuid4().hex[:8]
    stack.enqueue(
        {
            "id": call_id,
            "to": to,
            "say": "Your appointment is tomorrow at 9 & <bring ID>.",
            "voice": "Polly.Joanna",
            "language": "en-US",
            "timeout": 30,
            "machineDetection": "Enable",
        }
    )
    record = stack.wait_record(call_id, lambda r: r.get("Status") == "completed")
    (request,) = stack.created(to)
    sid = request.response["sid"]
    assert record["Sid"] == sid
    assert record["IdempotencyStatus"] == "completed"
    assert record["Attempts"] == 1
    assert stack.calls.resolve(sid) == call_id
    assert request.param("From") == BUSINESS
    assert request.param("Timeout") == "30"
    assert request.param("MachineDetection") == "Enable"
    assert request.param("Twiml") == (
        '<Response><Say language="en-US" voice="Polly.Joanna">Your appointment is tomorrow at '
        "9 &amp; &lt;bring ID&gt;.</Say></Response>"
    )
    callback = f"{stack.env['PUBLIC_BASE_URL']}/api/status/call?id={call_id}"
    assert request.param("StatusCallback") == callback
    assert request.params["StatusCallbackEvent"] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]
    # The stand-in logs a callback once the app has answered it, so the record can say
    # completed a moment before the stand-in's log does: read the log once the stand-in is
    # idle (every lifecycle it runs has ended and recorded its deliveries), as the SMS tests do.
    assert stack.standin.wait_idle(WAIT)
    deliveries = stack.standin.callbacks(sid, "call-status")
    assert [d.params["CallStatus"] for d in deliveries][-1:] == ["completed"]
    assert all(d.status in (200, 204) for d in deliveries)


def test_a_placed_call_is_the_businesss_event_in_the_customers_conversation(stack: Stack) -> None:
    """Answered or not, what the call said and how it ended is in the conversation of the line
    it was placed from and the number it called, never unread (the business's own event)."""
    to = new_number()
    stack.standin.set_call_outcome(to, "completed", duration=14)
    answered_id = "conv-" + uuid.uuid4().hex[:8]
    stack.enqueue({"id": answered_id, "to": to, "say": "Your table is ready."})
    stack.wait_record(answered_id, lambda r: r.get("Status") == "completed")
    missed_id = "conv-" + uuid.uuid4().hex[:8]
    stack.standin.set_call_outcome(to, "no-answer")
    stack.enqueue({"id": missed_id, "to": to, "twiml": "<Response><Say>Hi</Say></Response>"})
    stack.wait_record(missed_id, lambda r: r.get("Status") == "no-answer")
    # The record says how the call ended before the callback's handler has moved the
    # conversation: read once the stand-in is idle (the app answered every callback it sent).
    assert stack.standin.wait_idle(WAIT)
    status, found = stack.api("GET", f"conversations/{BUSINESS}/{to}", key=KEY)
    assert status == 200, found
    events = found["events"]  # newest first; one row per call, whatever callbacks it had
    assert [(e["kind"], e["direction"], e["event"], e.get("status")) for e in events] == [
        ("call", "outbound", "unanswered", "no-answer"),
        ("call", "outbound", "answered", "completed"),
    ]
    assert "body" not in events[0]  # TwiML: no words to show
    assert events[1]["body"] == "Your table is ready."
    assert events[1]["duration"] == 14
    assert (events[1]["from"], events[1]["to"]) == (BUSINESS, to)
    conversation = found["conversation"]
    assert conversation["unread"] == 0
    assert conversation["lastDirection"] == "outbound"
    assert conversation["preview"] == "automated call not answered (no-answer)"


# --- operator routes ----------------------------------------------------------------------


def test_post_calls_enqueues_and_the_call_is_placed(stack: Stack) -> None:
    to = new_number()
    call_id = "api-" + uuid.uuid4().hex[:8]
    body = {"id": call_id, "to": to, "say": "Hello from the API"}
    status, answer = stack.api("POST", "calls", body)
    assert (status, answer) == (202, {"id": call_id, "status": "queued"})
    record = stack.wait_record(call_id, lambda r: r.get("IdempotencyStatus") == "completed")
    status, answer = stack.api("GET", f"calls/{call_id}")
    assert status == 200
    assert answer["id"] == call_id
    assert answer["sid"] == record["Sid"]
    assert answer["to"] == to
    assert answer["from"] == BUSINESS
    assert answer["request"] == {"to": to, "say": "Hello from the API"}
    # By Twilio's SID as well.
    assert stack.api("GET", f"calls/{record['Sid']}")[1]["id"] == call_id
    # Same id and body again: the current status, nothing new.
    status, answer = stack.api("POST", "calls", body)
    assert status == 200
    assert answer["id"] == call_id
    # Same id, different body: conflict.
    status, answer = stack.api("POST", "calls", {**body, "say": "Something else"})
    assert status == 409
    assert answer["error"]["field"] == "id"
    stack.wait_queue_empty()  # nothing queued for later (invisible messages count too)
    assert len(stack.placed(to)) == 1


def test_post_calls_without_id_gets_one(stack: Stack) -> None:
    to = new_number()
    status, answer = stack.api("POST", "calls", {"to": to, "say": "Hi"})
    assert status == 202
    call_id = answer["id"]
    stack.wait_record(call_id, lambda r: r.get("IdempotencyStatus") == "completed")
    assert len(stack.created(to)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", None),
        ("[]", None),
        ({"say": "Hi"}, "to"),
        ({"to": "12", "say": "Hi"}, "to"),
        ({"to": "+15558675310"}, "say"),
        ({"to": "+15558675310", "say": "Hi", "url": "https://example.com/x"}, "url"),
        ({"to": "+15558675310", "url": "http://example.com/x"}, "url"),
        ({"to": "+15558675310", "say": "Hi", "extra": 1}, "extra"),
        ({"to": "+15558675310", "say": "Hi", "timeout": 1000}, "timeout"),
        ({"id": "y" * 200, "to": "+15558675310", "say": "Hi"}, "id"),
    ],
)
def test_post_calls_invalid_is_400_naming_the_field(
    stack: Stack, body: Any, field: str | None
) -> None:
    status, answer = stack.api("POST", "calls", body)
    assert status == 400
    assert answer["error"]["code"] == "invalid_request"
    assert answer["error"].get("field") == field
    assert answer["error"]["message"]


def test_get_call_unknown_is_404_and_keys_are_required(stack: Stack) -> None:
    status, answer = stack.api("GET", "calls/no-such-call")
    assert status == 404
    assert answer["error"]["code"] == "not_found"
    assert stack.api("GET", "calls/a%2Fb")[0] == 404
    assert stack.api("GET", "calls", key=None)[0] == 401
    assert stack.api("POST", "calls", {"to": "+15558675310", "say": "x"}, key=None)[0] == 401


def test_list_calls_newest_first_and_validated(stack: Stack) -> None:
    ids = []
    for n in range(3):
        call_id = f"list-{n}-" + uuid.uuid4().hex[:6]
        assert stack.api("POST", "calls", {"id": call_id, "to": new_number(), "say": "x"})[0] == 202
        ids.append(call_id)
        time.sleep(0.01)
    status, answer = stack.api("GET", "calls?limit=100")
    assert status == 200
    listed = [c["id"] for c in answer["calls"]]
    positions = [listed.index(i) for i in ids]
    assert positions == sorted(positions, reverse=True)
    assert len(stack.api("GET", "calls?limit=2")[1]["calls"]) == 2
    for query, field in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
    ]:
        status, answer = stack.api("GET", "calls?" + query)
        assert (status, answer["error"]["field"]) == (400, field), query
    status, answer = stack.api("GET", "calls?since=2099-01-01T00:00:00Z")
    assert (status, answer["calls"]) == (200, [])
