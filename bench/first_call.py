"""The two programs `bench_cold_start` times for "first webhook": each runs in a fresh process.

Only the standard library is imported at module level, so each program pays exactly its own
imports. Both answer the same signed incoming-call webhook with the same TwiML; the app's CallLog
write goes to a stub and its line is the default one (as in `bench_voice`), so neither touches
storage or the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

TOKEN = "bench-auth-token-0123456789abcdef"
URL = "https://voice.contoso.com/api/voice/incoming"
PARAMS = {
    "AccountSid": "AC" + "0" * 32,
    "ApiVersion": "2010-04-01",
    "CallSid": "CA" + "1" * 32,
    "CallStatus": "ringing",
    "Called": "+15017122661",
    "Caller": "+15558675310",
    "Direction": "inbound",
    "From": "+15558675310",
    "To": "+15017122661",
}


def first_call_floor() -> None:
    """Import the floor set, validate the signature, build the greeting TwiML."""
    import azure.data.tables
    import azure.functions  # noqa: F401
    import twilio.twiml.messaging_response  # noqa: F401
    from twilio.request_validator import RequestValidator
    from twilio.twiml.voice_response import VoiceResponse

    validator = RequestValidator(TOKEN)
    signature = validator.compute_signature(URL, PARAMS)
    if not validator.validate(URL, PARAMS, signature):
        raise RuntimeError("floor signature rejected")
    response = VoiceResponse()
    response.say("Hello from Azure.")
    response.pause()
    response.say(f"This call uses Twilio API version {PARAMS['ApiVersion']}.")
    response.pause()
    response.say("You have reached contoso-voice.")
    response.hangup()
    str(response)


class _NoStorage:
    def mark_step(self, record_id: str, step: str) -> bool:
        return True

    def update(self, record_id: str, change: Any) -> Any:
        return change(None)


class _NoLines:
    def get(self, number: str) -> None:
        return None


class _NoContacts:
    def ref_for(self, number: str) -> None:
        return None


def first_call_app(mark: Callable[[str], None] = lambda phase: None) -> None:
    """Index the app (import function_app) and answer one signed incoming call; `mark(phase)`
    is called as each phase ends (``index``, ``imports``, ``answer``)."""
    os.environ.update(
        {
            "TWILIO_AUTH_TOKEN": TOKEN,
            "WEBSITE_SITE_NAME": "contoso-voice",
            "VOICE_VOICEMAIL": "false",
        }
    )
    import azure.functions as func

    import function_app  # noqa: F401 (indexing, as the worker does at start)

    mark("index")
    from switchboard.contacts.refs import NumberRows
    from switchboard.lines.store import LineStore
    from switchboard.twilio.signature import sign
    from switchboard.voice import blueprint as voice
    from switchboard.voice import webhooks as voice_webhooks

    mark("imports")
    voice_webhooks.store_factory = lambda settings: _NoStorage()
    # No storage: the number's line is looked up as in Azure, and the Lines table has no entry
    # for it (the default line answers), as the floor has none.
    LineStore.for_calls = classmethod(lambda cls, settings: _NoLines())  # type: ignore[method-assign, assignment]
    # Nor a Contacts entry for the caller (the lookup runs as in Azure, reading nothing).
    NumberRows.for_calls = classmethod(lambda cls, settings: _NoContacts())  # type: ignore[method-assign, assignment]
    request = func.HttpRequest(
        method="POST",
        url=URL,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(TOKEN, URL, PARAMS),
        },
        params={},
        body=urlencode(PARAMS).encode(),
    )
    response = voice.voice_incoming(request)
    mark("answer")
    if response.status_code != 200 or b"contoso-voice" not in response.get_body():
        raise RuntimeError(f"app answered {response.status_code}: {response.get_body()!r}")


def first_call_phases() -> None:
    """The floor's imports, then `first_call_app`, printing the CPU milliseconds of each of the
    app's phases as JSON: what the app itself costs a cold process beyond the floor's imports."""
    import json
    import time

    # The floor's imports first (as `first_call_floor` does), so the phases are the app's own.
    import azure.data.tables
    import azure.functions  # noqa: F401
    import twilio.request_validator
    import twilio.twiml.messaging_response
    import twilio.twiml.voice_response  # noqa: F401

    phases: dict[str, float] = {}
    last = time.process_time()

    def mark(phase: str) -> None:
        nonlocal last
        now = time.process_time()
        phases[phase] = (now - last) * 1000
        last = now

    first_call_app(mark)
    print(json.dumps(phases))


def route_bindings() -> None:
    """How many HTTP functions the app registers, and the CPU milliseconds azure-functions
    spends building that many routes' trigger and output bindings in a scratch Blueprint
    (median of 15 builds, after one to warm up), printed as JSON: the part of indexing no
    code of the app's own runs."""
    import json
    import statistics
    import time

    import azure.functions as func

    import function_app

    routes = 0
    for function in function_app.app.get_functions():
        trigger = function.get_trigger()
        if trigger is not None and trigger.type == "httpTrigger":
            routes += 1

    def build() -> float:
        started = time.process_time()
        blueprint = func.Blueprint()  # type: ignore[no-untyped-call]
        for n in range(routes):

            def handler(req: func.HttpRequest) -> func.HttpResponse:
                return func.HttpResponse()

            handler.__name__ = f"route_{n}"
            blueprint.route(route=f"api/r{n}", methods=["GET"])(handler)
        return (time.process_time() - started) * 1000

    build()
    print(json.dumps({"routes": routes, "ms": statistics.median(build() for _ in range(15))}))
