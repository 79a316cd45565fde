"""Contract: Microsoft's own Python worker runtime (`azure-functions-runtime`, the library Azure's
Python 3.13 workers run) indexes this app and serves its webhooks (`devkit.microsoft_worker`).

The worker indexes `function_app.py` itself and refuses what it cannot bind (a parameter without
its binding, a return value without `$return`, ...): every function the app registers must come
out of its metadata. Then a signed incoming call goes through its conversion of the request and
of the answer: the TwiML comes back and the CallLog entity is in Azurite; an unsigned one is
refused with 403. The runtime needs Python 3.13 (Azure's 3.11 worker is not on PyPI), so this
module runs in the 3.13 pass of `make test`.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import pytest

from devkit.npm import PROJECT_ROOT
from switchboard.logbook.store import RecordStore
from switchboard.settings import load_settings
from switchboard.twilio.signature import sign

pytestmark = [
    pytest.mark.contract,
    pytest.mark.skipif(
        sys.version_info < (3, 13), reason="azure-functions-runtime needs Python 3.13"
    ),
]

TOKEN = "worker-contract-auth-token-0123456"
PUBLIC = "https://switchboard-worker.example.com"
BUSINESS = "+15017122661"
CALLER = "+15558675310"
CALL_SID = "CA" + uuid.uuid4().hex
POISON_ID = "worker-poison-" + uuid.uuid4().hex[:12]
POISONED = {"to": CALLER, "say": "Your table is ready."}


def _serve(env: dict[str, str], invocations: list[dict[str, Any]]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "devkit.microsoft_worker", str(PROJECT_ROOT)],
        cwd=PROJECT_ROOT,
        env=env,
        input=json.dumps(invocations),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _registered() -> dict[str, str]:
    """Every function the app registers, with its trigger's type, as azure-functions lists them
    in a fresh process (`get_functions` checks names against those it built before: a process
    that listed them already would refuse a second listing)."""
    listing = (
        "import json, function_app; print(json.dumps({str(f.get_function_name()): "
        "str(f.get_trigger().type) for f in function_app.app.get_functions()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", listing],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def served(storage_connection_string: str) -> tuple[dict[str, Any], dict[str, str]]:
    table = "workercalls" + uuid.uuid4().hex[:10]
    settings = {
        "AzureWebJobsStorage": storage_connection_string,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": PUBLIC,
        "TABLE_CALL_LOG": table,
        "WEBSITE_SITE_NAME": "switchboard-worker",
        "VOICE_VOICEMAIL": "false",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_FROM_NUMBER": BUSINESS,
        "TABLE_SMS_SCHEDULE": "workersched" + uuid.uuid4().hex[:10],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "VOICE_", "TABLE_"))}
    env.update(settings)
    url = PUBLIC + "/api/voice/incoming"
    params = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": CALL_SID,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": CALLER,
        "To": BUSINESS,
    }
    form = {"content-type": "application/x-www-form-urlencoded"}
    signed = {**form, "x-twilio-signature": sign(TOKEN, url, params)}
    invocations = [
        {"function": "voice_incoming",
         "http": {"method": "POST", "url": url, "headers": signed, "body": urlencode(params)}},
        {"function": "voice_incoming",
         "http": {"method": "POST", "url": url, "headers": form, "body": urlencode(params)}},
        {"function": "calls_poison",
         "queue": {"body": json.dumps(POISONED), "id": POISON_ID, "dequeue_count": 5}},
        {"function": "sms_schedule_timer", "timer": {"past_due": True}},
    ]  # fmt: skip
    return _serve(env, invocations), settings


def test_the_worker_indexes_every_function_the_app_registers(
    served: tuple[dict[str, Any], dict[str, str]],
) -> None:
    result, _ = served
    assert result["init"] == {"status": "success", "exception": None}
    registered = _registered()
    indexed = result["functions"]
    assert sorted(indexed) == sorted(registered)
    for name, trigger in registered.items():
        types = [binding["type"] for binding in indexed[name]]
        assert trigger in types, (name, types)
        if trigger == "httpTrigger":
            assert "http" in types, (name, types)  # the answer's binding ($return)


def test_the_worker_serves_a_signed_call_and_refuses_an_unsigned_one(
    served: tuple[dict[str, Any], dict[str, str]],
) -> None:
    result, settings = served
    answered, refused, _, _ = result["answers"]
    assert answered["status"] == "success", answered
    assert answered["http_status"] == 200
    assert answered["headers"]["content-type"].startswith("text/xml")
    twiml = ET.fromstring(base64.b64decode(answered["body"]))  # noqa: S314 (the app's own TwiML)
    assert twiml.tag == "Response"
    said = [verb.text for verb in twiml if verb.tag == "Say"]
    assert "You have reached switchboard-worker." in said
    assert refused["status"] == "success", refused
    assert refused["http_status"] == 403
    calls = RecordStore.calls(load_settings(settings))
    record = calls.get(CALL_SID)
    assert record is not None
    assert record["From"] == CALLER
    assert record["To"] == BUSINESS


def test_the_worker_hands_a_poisoned_queue_message_and_a_timer_firing_to_their_functions(
    served: tuple[dict[str, Any], dict[str, str]],
) -> None:
    """The queue message arrives with the id the host gave it (the record is keyed by it), and
    the timer's firing runs the scheduler (which finds nothing due in its fresh table)."""
    result, settings = served
    _, _, poisoned, fired = result["answers"]
    assert poisoned == {"status": "success", "exception": None}
    assert fired == {"status": "success", "exception": None}
    record = RecordStore.calls(load_settings(settings)).get(POISON_ID)
    assert record is not None
    assert record["Status"] == "dead-lettered"
    assert record["To"] == CALLER
