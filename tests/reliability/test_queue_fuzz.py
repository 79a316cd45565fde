"""Queue fuzzing through the local host: every message ends somewhere known, none loops.

Messages are put on the outbound-call queue as stored text, the way any producer could: random
bytes, non-UTF-8 text, BOMs, JSON nested 10,000 deep, bodies near the 64 KiB limit, JSON arrays,
numbers, null and strings, valid JSON with hostile fields (ids that cannot be keys, markup in
numbers and voices, entity bombs and external entities in `twiml`, duplicate keys...), all
base64-encoded as the Functions host expects; and text that is not base64 at all.

- Every message that decodes reaches the app, which records it `rejected` in CallLog (under its
  own `id` when that is a valid key, else under the queue message id) with the reason and the
  raw text, and returns normally: one execution, dequeue count 1, gone from the queue, nothing in
  the poison queue, no call at the Twilio stand-in.
- A message that is not base64 never reaches app code (in Azure either): the host fails the
  binding, and after `maxDequeueCount` (5) moves it to `<queue>-poison`, where the poison
  trigger's binding fails the same way, so it ends in `<queue>-poison-poison`, byte for byte as
  sent, never received there; then nothing moves any more.

The host serves the project's app with host.json's visibility timeout shortened to 1 s so that
retries happen within seconds (the semantics under test are the project's).
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devkit.ports import free_port
from devkit.twilio_standin import TwilioStandin
from switchboard.calls.store import PAYLOAD_KEEP_CHARS
from switchboard.logbook.store import RecordStore
from switchboard.settings import load_settings
from tests.e2e.conftest import HostHandle
from tests.reliability.conftest import (
    FUNCTION_KEY,
    HostFactory,
    app_env,
    b64,
    fast_app_dir,
    sized,
    wait_until,
)

TO = "+15557770102"
MAX_MESSAGE_TEXT = 65536  # Azure Storage queue message limit (the base64 text)


@dataclass
class Case:
    """One message: the stored text, and what it must become."""

    label: str
    text: str  # exactly what is stored on the queue
    body: bytes | None  # what the app gets (None: not base64, the app never sees it)
    record_id: str | None = None  # its own id, when valid; else the queue message id
    message_id: str = ""


def encoded(label: str, body: bytes, record_id: str | None = None) -> Case:
    return Case(label, b64(body), body, record_id)


def as_json(label: str, value: Any, record_id: str | None = None) -> Case:
    return encoded(label, json.dumps(value).encode("utf-8"), record_id)


def fresh_id(label: str) -> str:
    return f"q-{label}-{uuid.uuid4().hex[:8]}"


def hostile_cases() -> list[Case]:
    """The fixed part: one case per kind of trouble."""
    deep_array = ("[" * 10_000 + "]" * 10_000).encode()
    deep_object = ('{"":' * 9_000 + "1" + "}" * 9_000).encode()
    near_limit = json.dumps({"to": TO, "say": ""}).encode()
    filler = MAX_MESSAGE_TEXT // 4 * 3 - len(near_limit) - 16
    near_limit = json.dumps({"to": TO, "say": "a" * filler}).encode()
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE Response [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + "]><Response><Say>&i;</Say></Response>"
    )
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE Response [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<Response><Say>&x;</Say></Response>"
    )
    cases = [
        encoded("random-bytes-16", random.randbytes(16)),
        encoded("random-bytes-4k", random.randbytes(4096)),
        encoded("random-bytes-48k", random.randbytes(48_000)),
        encoded("not-utf8", b"\xff\xfe\xfd\xc3\x28"),
        encoded("json-with-invalid-utf8", b'{"to": "\xff\xfe", "say": "hi"}'),
        encoded("utf16-json", json.dumps({"to": TO, "say": "hi"}).encode("utf-16")),
        encoded("nul-bytes", b"\x00" * 64),
        encoded("empty", b""),
        encoded("whitespace", b"  \n\t "),
        encoded("deep-array-10000", deep_array),
        encoded("deep-object-9000", deep_object),
        encoded("near-64k-limit", near_limit),
        encoded("json-array", b"[1, 2, 3]"),
        encoded("json-number", b"42"),
        encoded("json-huge-number", b"1e999"),
        encoded("json-nan", b"NaN"),
        encoded("json-null", b"null"),
        encoded("json-true", b"true"),
        encoded("json-string", b'"call me"'),
        encoded("truncated-json", b'{"to": "+1555'),
        encoded("bom-then-garbage", b"\xef\xbb\xbf{nope"),
        as_json("id-with-slash", {"id": "a/b", "to": TO, "say": "hi"}),
        as_json("id-with-control", {"id": "a\x00b", "to": TO, "say": "hi"}),
        as_json("id-lone-surrogate", {"id": "a\ud800", "to": TO, "say": "hi"}),
        as_json("id-too-long", {"id": "x" * 129, "to": TO, "say": "hi"}),
        as_json("id-huge", {"id": "y" * 30_000, "to": TO, "say": "hi"}),
        as_json("id-empty", {"id": "", "to": TO, "say": "hi"}),
        as_json("id-number", {"id": 7, "to": TO, "say": "hi"}),
        as_json("id-object", {"id": {"$ne": None}, "to": TO, "say": "hi"}),
    ]
    hostile_fields: list[tuple[str, dict[str, Any]]] = [
        ("to-markup", {"to": "+1555<Hangup/>", "say": "hi"}),
        ("to-list", {"to": [TO], "say": "hi"}),
        ("to-missing", {"say": "</Say><Dial>+19995550123</Dial>"}),
        ("to-fullwidth-digits", {"to": "+１５５５８６７５３１０", "say": "hi"}),
        ("no-content", {"to": TO}),
        ("two-contents", {"to": TO, "say": "hi", "twiml": "<Response/>"}),
        ("twiml-not-xml", {"to": TO, "twiml": "<Response><Say>hi</Response>"}),
        ("twiml-root-not-response", {"to": TO, "twiml": "<Dial>+19995550123</Dial>"}),
        ("twiml-entity-bomb", {"to": TO, "twiml": bomb}),
        ("twiml-external-entity", {"to": TO, "twiml": xxe}),
        ("url-javascript", {"to": TO, "url": "javascript:alert(1)"}),
        ("url-http", {"to": TO, "url": "http://example.com/twiml"}),
        ("url-huge", {"to": TO, "url": "https://example.com/" + "a" * 3000}),
        ("voice-markup", {"to": TO, "say": "hi", "voice": 'Polly.Joanna"><Hangup/>'}),
        ("language-markup", {"to": TO, "say": "hi", "language": "en-US<x>"}),
        ("timeout-string", {"to": TO, "say": "hi", "timeout": "30"}),
        ("timeout-bool", {"to": TO, "say": "hi", "timeout": True}),
        ("timeout-huge", {"to": TO, "say": "hi", "timeout": 10**30}),
        ("record-string", {"to": TO, "say": "hi", "record": "yes"}),
        ("machine-detection-case", {"to": TO, "say": "hi", "machineDetection": "enable"}),
        ("unknown-field", {"to": TO, "say": "hi", "__proto__": {"admin": True}}),
        ("say-too-long", {"to": TO, "say": "<" * 4000}),
        ("say-blank", {"to": TO, "say": " \n "}),
    ]
    for label, fields in hostile_fields:
        record_id = fresh_id(label)
        cases.append(as_json(label, {"id": record_id, **fields}, record_id))
    duplicate_id = fresh_id("duplicate-keys")
    duplicate = f'{{"id": "{duplicate_id}", "to": "{TO}", "to": "<x>", "say": "hi"}}'
    cases.append(encoded("duplicate-keys", duplicate.encode(), duplicate_id))
    # Text that happens to be base64 decodes to garbage: the app sees (and rejects) it.
    cases.append(Case("accidental-base64", "abcd", base64.b64decode("abcd")))
    cases.append(Case("base64-of-partial-json", "eyJ0byI6", b'{"to":'))
    return cases


def undecodable_cases() -> list[Case]:
    """Stored text that is not base64 (the app never sees it)."""
    texts = {
        "raw-json": json.dumps({"to": TO, "say": "sent without base64"}),
        "not-base64": "not base64!",
        "percent": "%%%%",
        "base64-with-junk": "Zm9v!",
        "bad-padding": "abc",
        "missing-padding": "YQ",
        "unicode": "héllo wörld ☎ \U0001f4de",
        "markup": "<Response><Dial>+19995550123</Dial></Response>",
    }
    return [Case(label, text, None) for label, text in texts.items()]


def random_cases(count: int, seed: int) -> list[Case]:
    """Soak: many random messages, half random bytes, half random JSON-ish text."""
    rng = random.Random(seed)
    cases = []
    for n in range(count):
        if n % 2:
            cases.append(encoded(f"random-{n}", rng.randbytes(rng.randint(0, 8000))))
        else:
            pieces = ['{"', "to", '":', '"+1555"', ",", "[", "]", "{", "}", "null", '"say"', "1"]
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
            cases.append(encoded(f"random-json-{n}", text.encode()))
    return cases


@dataclass
class QueueStack:
    host: HostHandle
    standin: TwilioStandin
    calls: RecordStore
    queue: str
    connection: str

    def client(self, name: str) -> Any:
        from azure.storage.queue import QueueClient

        return QueueClient.from_connection_string(self.connection, name)

    def put(self, case: Case) -> None:
        case.message_id = str(self.client(self.queue).send_message(case.text).id)

    def count(self, name: str) -> int:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return int(self.client(name).get_queue_properties().approximate_message_count or 0)
        except ResourceNotFoundError:
            return 0

    def peek_all(self, name: str) -> list[Any]:
        found: list[Any] = []
        client = self.client(name)
        for message in client.receive_messages(messages_per_page=32, visibility_timeout=1):
            found.append(message)
        return found

    def executions(self, function: str, outcome: str = "") -> list[str]:
        return [
            line
            for line in self.host.lines
            if f"Executed 'Functions.{function}' ({outcome}" in line
        ]


@pytest.fixture(scope="module")
def stack(
    rel_host_module: HostFactory,
    standin: TwilioStandin,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> QueueStack:
    port = free_port()
    env = app_env(
        "queue",
        TWILIO_API_BASE_URL=standin.base_url,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    app_dir = fast_app_dir(Path(tmp_path_factory.mktemp("queue_app")))
    host = rel_host_module(app_dir, env, port=port)
    settings = load_settings(
        {k: v for k, v in env.items() if v is not None}
        | {"AzureWebJobsStorage": storage_connection_string}
    )
    return QueueStack(
        host,
        standin,
        RecordStore.calls(settings),
        str(env["OUTBOUND_CALL_QUEUE"]),
        storage_connection_string,
    )


def check_rejected(stack: QueueStack, case: Case) -> None:
    key = case.record_id or case.message_id
    record = stack.calls.get(key)
    assert record is not None, (case.label, key)
    assert record["Status"] == "rejected", (case.label, dict(record))
    assert record["IdempotencyStatus"] == "rejected", case.label
    assert record["ErrorCode"] == "invalid-message", case.label
    assert record["ErrorMessage"], case.label
    assert record["QueueMessageId"] == case.message_id, case.label
    assert case.body is not None
    raw = case.body.decode("utf-8", errors="replace")
    assert record["Payload"] == raw[:PAYLOAD_KEEP_CHARS], case.label  # nothing lost


@sized(default=0, soak=400)
def test_every_message_is_rejected_or_parked_and_none_loops(stack: QueueStack, size: int) -> None:
    seed = random.randrange(2**32)
    decodable = hostile_cases() + random_cases(size, seed)
    undecodable = undecodable_cases()
    for case in [*decodable, *undecodable]:
        assert len(case.text) <= MAX_MESSAGE_TEXT, case.label
        stack.put(case)

    def all_recorded() -> bool:
        return all(
            (r := stack.calls.get(c.record_id or c.message_id)) is not None
            and r.get("Status") == "rejected"
            for c in decodable
        )

    wait_until(all_recorded, 60 + size / 10, f"every decodable message rejected (seed {seed})")
    poison_poison = stack.queue + "-poison-poison"
    wait_until(
        lambda: stack.count(poison_poison) >= len(undecodable) and stack.count(stack.queue) == 0,
        60,
        "the undecodable messages in " + poison_poison,
    )
    wait_until(lambda: stack.count(stack.queue + "-poison") == 0, 15, "an empty poison queue")
    for case in decodable:
        check_rejected(stack, case)
        runs = [line for line in stack.host.lines if f"MessageId: {case.message_id}," in line]
        assert len(runs) == 1, (case.label, runs)
        assert "DequeueCount: 1," in runs[0], case.label

    # Undecodable: five failed bindings on the queue, five on the poison queue, then parked.
    n = len(undecodable)
    assert len(stack.executions("calls_queue", "Failed")) == 5 * n
    assert len(stack.executions("calls_poison", "Failed")) == 5 * n
    assert not stack.executions("calls_poison", "Succeeded")
    parked = stack.peek_all(poison_poison)
    assert Counter(m.content for m in parked) == Counter(c.text for c in undecodable)
    assert all(m.dequeue_count == 1 for m in parked)  # our receive above is the first ever

    # Nothing can move any more: the queue and its poison queue hold no message, invisible ones
    # included (Azure's count has them, and so has Azurite's), and no invocation is running.
    assert stack.count(stack.queue) == 0
    assert stack.count(stack.queue + "-poison") == 0
    wait_until(lambda: not stack.host.running(), 15, "no invocation running")
    assert stack.count(poison_poison) == n
    # ... and operators see them: /api/health counts what is parked.
    health = stack.host.request("GET", "/api/health", headers={"x-functions-key": FUNCTION_KEY})
    queues = health.json()["queues"]
    assert {k: queues[k] for k in ("outbound", "poison", "parked")} == {
        "outbound": 0,
        "poison": 0,
        "parked": n,
    }
    assert [r for r in stack.standin.requests(resource="Calls") if r.param("To") == TO] == []
