"""Cold start stays cheap: indexing the app (`import function_app`, what the Functions host does
before the first invocation) imports the blueprints and nothing of the core, and a voice or SMS
webhook imports only what a webhook needs. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: Every function the app registers, by name (the public interface of the host and of Azure).
FUNCTIONS = [
    "health",
    "send_message",
    "list_messages",
    "get_message",
    "list_numbers",
    "list_usage",
    "openapi",
    "voice_incoming",
    "voice_menu",
    "voice_dial_complete",
    "voice_recording",
    "voice_whisper",
    "voice_queue_wait",
    "voice_queue_result",
    "voice_queue_offer",
    "voice_queue_connect",
    "sms_incoming",
    "status_message",
    "status_call",
    "calls_queue",
    "calls_poison",
    "calls",
    "calls_get",
    "sms_schedule_timer",
    "create_sms_schedule",
    "list_sms_schedules",
    "get_sms_schedule",
    "cancel_sms_schedule",
    "lines_list",
    "lines_schema",
    "lines_item",
    "lines_history",
    "lines_override",
    "lines_status",
    "voicemail_email",
    "voicemail_email_poison",
    "outbound_lines",
    "outbound_resume",
    "inbox_app",
    "inbox_signin_options",
    "inbox_signin_code",
    "inbox_signin_code_request",
    "inbox_signin_verify",
    "inbox_signin_platform",
    "inbox_session",
    "inbox_signout",
    "inbox_users",
    "inbox_user_signout",
    "inbox_lines",
    "inbox_lines_schema",
    "inbox_conversation",
    "inbox_conversation_audio",
    "inbox_conversation_messages",
    "inbox_conversations",
    "inbox_line",
    "inbox_line_history",
    "inbox_line_status",
    "inbox_line_override",
    "inbox_line_preview",
    "inbox_contacts",
    "inbox_contact",
    "inbox_status",
    "inbox_schedules",
    "inbox_schedule",
    "inbox_users_operator",
    "inbox_user_operator",
    "inbox_user_signout_operator",
    "contacts_collection",
    "contacts_import",
    "contacts_export",
    "contacts_item",
    "conversations_list",
    "conversations_item",
    "conversations_messages",
    "callqueue_dispatch",
    "callqueue_timer",
]

#: The packages whose `blueprint` module indexing imports (their `__init__` is a docstring).
BLUEPRINT_PACKAGES = [
    "switchboard.operator",
    "switchboard.voice",
    "switchboard.sms",
    "switchboard.status",
    "switchboard.calls",
    "switchboard.schedules",
    "switchboard.lines",
    "switchboard.voicemail",
    "switchboard.outbound",
    "switchboard.inbox",
    "switchboard.contacts",
    "switchboard.conversations",
    "switchboard.callqueue",
]

#: Heavy third-party packages: imported on first use, never at index time.
HEAVY_PACKAGES = [
    "twilio.rest",
    "azure.storage.queue",
    "azure.identity",
    "phonenumbers",
    "croniter",
    "click",
    "aiohttp",
    "vobject",
]

#: The core: imported by a function on its first call, never at index time.
CORE_MODULES = [
    "switchboard.settings",
    "switchboard.jsonroutes.shell",
    "switchboard.jsonroutes.auth",
    "switchboard.schedules.rules",
    "switchboard.schedules.timer",
    "switchboard.operator.api",
    "switchboard.operator.service",
    "switchboard.operator.routes",
    "switchboard.calls.request",
    "switchboard.calls.placing",
    "switchboard.calls.routes",
    "switchboard.calls.idempotency",
    "switchboard.sms.keywords",
    "switchboard.voice.flow",
    "switchboard.voice.webhooks",
    "switchboard.sms.webhook",
    "switchboard.status.callbacks",
    "switchboard.storage.tables",
    "switchboard.twilio.client",
    "switchboard.voicemail.notices",
    "switchboard.voicemail.notify",
    "switchboard.voicemail.mailing",
    "switchboard.mail.smtp",
    "switchboard.textback.rules",
    "switchboard.textback.service",
    "switchboard.contacts.lookup",
    "switchboard.contacts.service",
    "switchboard.contacts.routes",
]

#: What a voice or SMS webhook never needs (the scheduled-SMS, operator and outbound-call code).
NOT_FOR_WEBHOOKS = [
    "twilio.rest",
    "azure.storage.queue",
    "croniter",
    "click",
    "aiohttp",
    "switchboard.schedules.rules",
    "switchboard.schedules.timer",
    "switchboard.schedules.routes",
    "switchboard.schedules.store",
    "switchboard.operator.api",
    "switchboard.operator.service",
    "switchboard.operator.routes",
    "switchboard.calls.request",
    "switchboard.calls.placing",
    "switchboard.calls.routes",
    "switchboard.calls.idempotency",
    "switchboard.calls.store",
    "switchboard.storage.queues",
    "switchboard.twilio.client",
    "switchboard.jsonroutes.shell",
    "switchboard.contacts.service",
    "switchboard.contacts.routes",
    "switchboard.contacts.importing",
    "vobject",
]

INDEX = """
import json, sys
import function_app
app = function_app.app
print(json.dumps({
    "functions": [f.get_function_name() for f in app.get_functions()],
    "modules": sorted(sys.modules),
}))
"""

WEBHOOKS = """
import json, sys
from urllib.parse import urlencode
import azure.functions as func
from twilio.request_validator import RequestValidator
import function_app
from switchboard.sms import webhook as sms_webhook
from switchboard.voice import webhooks as voice_webhooks

def down(settings):
    raise ConnectionError("storage down (stub)")

# Storage is best-effort on these routes: a failing store still gets the TwiML answer.
voice_webhooks.store_factory = down
sms_webhook.message_store_factory = down
sms_webhook.optout_store_factory = down

def post(function, path, params):
    url = "https://app.example" + path
    signature = RequestValidator("cold-start-token").compute_signature(url, params)
    request = func.HttpRequest(
        method="POST", url=url, params={}, body=urlencode(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Twilio-Signature": signature},
    )
    return function.build().get_user_function()(request).status_code

from switchboard.sms import blueprint as sms
from switchboard.voice import blueprint as voice
call = {"CallSid": "CA" + "1" * 32, "From": "+15558675310", "To": "+15017122661"}
text = {"MessageSid": "SM" + "1" * 32, "From": "+15558675310", "To": "+15017122661", "Body": "hi"}
print(json.dumps({
    "statuses": [
        post(voice.voice_incoming, "/api/voice/incoming", call),
        post(voice.voice_menu, "/api/voice/menu?attempt=1", {**call, "Digits": "1"}),
        post(sms.sms_incoming, "/api/sms/incoming", text),
    ],
    "modules": sorted(sys.modules),
}))
"""


def _run(code: str) -> dict[str, Any]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TWILIO_", "SMS_", "VOICE_", "PUBLIC_BASE_URL", "WEBSITE_"))
    }
    env["TWILIO_AUTH_TOKEN"] = "cold-start-token"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_indexing_imports_only_the_blueprints() -> None:
    modules = set(_run(INDEX)["modules"])
    assert [name for name in HEAVY_PACKAGES if name in modules] == []
    assert [name for name in CORE_MODULES if name in modules] == []
    ours = {name for name in modules if name == "switchboard" or name.startswith("switchboard.")}
    assert {name for name in ours if not name.endswith(".blueprint")} == {
        "switchboard",
        *BLUEPRINT_PACKAGES,
    }


def test_indexing_still_lists_every_function() -> None:
    functions = _run(INDEX)["functions"]
    assert sorted(functions) == sorted(FUNCTIONS)
    assert len(functions) == len(set(functions))


def test_voice_and_sms_webhooks_import_only_what_they_need() -> None:
    result = _run(WEBHOOKS)
    assert result["statuses"] == [200, 200, 200]
    modules = set(result["modules"])
    assert [name for name in NOT_FOR_WEBHOOKS if name in modules] == []
