"""The voice blueprint with an in-memory store (no Azurite): answers, retries, storage failures,
forged requests, and the form parsing of the webhook shell."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from twilio.request_validator import RequestValidator

from switchboard.contacts.rules import ContactRef
from switchboard.lines.defaults import default_line
from switchboard.settings import reset_settings_cache
from switchboard.voice import blueprint as voice_bp
from switchboard.voice import webhooks as voice_webhooks

CALLER = "+15558675310"
OUR_NUMBER = "+15017122661"
FORWARD = "+15005550006"
TOKEN = "unit-test-auth-token"
MENU = {
    "prompt": "For sales press 1 or say sales. For hours press 2. For a message press 3.",
    "options": {
        "1": {"action": "forward", "to": FORWARD, "words": ["sales"]},
        "2": {"action": "say", "text": "We are open 9 to 5 & <weekdays>."},
        "3": {"action": "voicemail", "words": ["message"]},
        "4": {"action": "redirect", "url": "https://example.com/twiml?x=1&y=2"},
        "0": {"action": "hangup"},
    },
}


def call(**extra: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": "AC" + "2" * 32,
        "From": CALLER,
        "To": OUR_NUMBER,
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
        "Direction": "inbound",
        **extra,
    }


@dataclass
class V:
    """A parsed verb: name, attributes, own text, children."""

    name: str
    attrs: dict[str, str]
    text: str
    children: list[V]


def verbs(twiml: str) -> list[V]:
    root = ET.fromstring(twiml)  # noqa: S314 - the app's own TwiML, not untrusted input
    assert root.tag == "Response"

    def conv(el: ET.Element) -> V:
        return V(el.tag, dict(el.attrib), el.text or "", [conv(c) for c in el])

    return [conv(el) for el in root]


def names(twiml: str) -> list[str]:
    return [v.name for v in verbs(twiml)]


# --- the blueprint, with an in-memory store ------------------------------------------------


class MemoryStore:
    """Stands in for RecordStore: records and step markers in dicts."""

    def __init__(self, fail: bool = False) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.steps: set[tuple[str, str]] = set()
        self.fail = fail

    def mark_step(self, record_id: str, step: str) -> bool:
        if self.fail:
            raise ConnectionError("storage is down")
        if (record_id, step) in self.steps:
            return False
        self.steps.add((record_id, step))
        return True

    def update(self, record_id: str, change: Any) -> dict[str, Any] | None:
        current = self.records.get(record_id)
        update = change(dict(current) if current is not None else None)
        if update is not None:
            self.records[record_id] = {**(current or {}), **update}
        return self.records.get(record_id)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, clean_env: pytest.MonkeyPatch) -> Iterator[MemoryStore]:
    memory = MemoryStore()
    monkeypatch.setattr(voice_webhooks, "store_factory", lambda settings: memory)
    monkeypatch.setattr(voice_webhooks, "line_factory", lambda number, s: default_line(s))
    monkeypatch.setattr(voice_webhooks, "contact_factory", lambda s, number: None)
    clean_env.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    clean_env.setenv("VOICE_MENU", json.dumps(MENU))
    reset_settings_cache()
    yield memory
    reset_settings_cache()


def signed_request(
    path: str, params: dict[str, str], idem: str = "idem-1", host: str = "https://app.example"
) -> func.HttpRequest:
    url = host + path
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    return func.HttpRequest(
        method="POST",
        url=url,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": idem,
        },
        params={},
        body=urlencode(params).encode(),
    )


def test_a_blocked_contact_is_rejected_on_every_line(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def contact(settings: Any, number: str) -> ContactRef | None:
        asked.append(number)
        return ContactRef("c00000000000a", name="Dana", blocked=number == CALLER)

    monkeypatch.setattr(voice_webhooks, "contact_factory", contact)
    response = voice_bp.voice_incoming(signed_request("/api/voice/incoming", call()))
    assert [(v.name, v.children) for v in verbs(response.get_body().decode())] == [("Reject", [])]
    record = store.records["CA" + "1" * 32]
    assert (record["Handling"], record["BlockedContact"]) == ("rejected", "c00000000000a")
    other = call(From="+15558675311", CallSid="CA" + "3" * 32)
    answered = voice_bp.voice_incoming(signed_request("/api/voice/incoming", other))
    assert "Gather" in names(answered.get_body().decode())  # a contact not blocked: served
    assert store.records["CA" + "3" * 32]["Handling"] == "menu"
    assert asked == [CALLER, "+15558675311"]


def test_blueprint_answers_text_xml_and_records_the_call(store: MemoryStore) -> None:
    response = voice_bp.voice_incoming(signed_request("/api/voice/incoming", call()))
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert "Gather" in names(response.get_body().decode())
    record = store.records["CA" + "1" * 32]
    assert record["From"] == CALLER
    assert record["Handling"] == "menu"


def test_blueprint_retry_writes_nothing_twice(store: MemoryStore) -> None:
    voice_bp.voice_incoming(signed_request("/api/voice/incoming", call()))
    menu = signed_request("/api/voice/menu?attempt=1", call(Digits="2"), idem="idem-2")
    voice_bp.voice_menu(menu)
    before = json.loads(json.dumps(store.records, default=str))
    # Twilio retries the incoming webhook (same token): the later Handling is not rolled back.
    again = voice_bp.voice_incoming(signed_request("/api/voice/incoming", call()))
    assert again.status_code == 200
    voice_bp.voice_menu(signed_request("/api/voice/menu?attempt=1", call(Digits="2"), "idem-2"))
    assert json.loads(json.dumps(store.records, default=str)) == before
    assert before["CA" + "1" * 32]["Handling"] == "said"


def test_blueprint_answers_when_storage_is_down(
    store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.fail = True
    with caplog.at_level(logging.INFO, logger="switchboard"):
        response = voice_bp.voice_incoming(signed_request("/api/voice/incoming", call()))
    assert response.status_code == 200
    assert "Gather" in names(response.get_body().decode())
    assert "CallLog not written" in caplog.text
    assert CALLER not in caplog.text
    assert "+1555***5310" in caplog.text
    assert TOKEN not in caplog.text


def test_blueprint_forged_request_is_403_and_writes_nothing(store: MemoryStore) -> None:
    request = signed_request("/api/voice/incoming", call())
    forged = func.HttpRequest(
        method="POST",
        url=request.url,
        headers={**dict(request.headers), "x-twilio-signature": "bm9wZQ=="},
        params={},
        body=request.get_body(),
    )
    response = voice_bp.voice_incoming(forged)
    assert response.status_code == 403
    assert response.get_body() == b"Forbidden"
    assert store.records == {}
    assert store.steps == set()


def test_function_app_registers_the_four_voice_routes() -> None:
    import function_app

    # get_functions() raises when called twice on one app: start from, and leave, a clean slate.
    function_app.app.functions_bindings = None
    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    function_app.app.functions_bindings = None
    for name, route in [
        ("voice_incoming", "api/voice/incoming"),
        ("voice_menu", "api/voice/menu"),
        ("voice_dial_complete", "api/voice/dial-complete"),
        ("voice_recording", "api/voice/recording"),
    ]:
        trigger: Any = functions[name].get_trigger()
        assert trigger.route == route
        assert [str(m).upper().rsplit(".", 1)[-1] for m in trigger.methods] == ["POST"]
        assert "ANONYMOUS" in str(trigger.auth_level).upper()


def test_a_body_that_is_not_utf8_is_403_not_an_error(store: MemoryStore) -> None:
    response = voice_bp.voice_incoming(
        func.HttpRequest(
            method="POST",
            url="https://app.example/api/voice/incoming",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": "bm9wZQ==",
            },
            params={},
            body=b"From=\xff\xfe&CallSid=CA1",
        )
    )
    assert response.status_code == 403
    assert store.records == {}
