"""`POST /api/voice/incoming` in process, against the floor of doing the same by hand.

App: the function the host calls (`voice_incoming(req)`) on a fresh `func.HttpRequest` per call,
as the worker hands it over: settings, public URL, form parsing, signature check, decision, TwiML,
the CallLog change computed and handed to a store stub that does no I/O, the `text/xml` response.

Floor: what any handler must do at least: twilio's `RequestValidator.validate` on the already
parsed parameters, then the same TwiML (greeting with pauses, menu `<Gather>`, `<Redirect>`)
built by hand with `VoiceResponse`.

Rounds alternate app and floor so machine noise hits both alike; the figure is the ratio of the
medians of per-call times. Goal: <= 1.5x.

For transparency a second floor is printed: the same, with the parameters in a mapping that has
the `getall` method RequestValidator tries first (the app parses the form into one; with a plain
dict the validator pays two caught AttributeErrors per parameter). The goal is judged against
the first floor, the one the issue defines.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from switchboard import settings as settings_module
from switchboard.voice import blueprint as voice_bp
from switchboard.voice import webhooks as voice_webhooks

GOAL = 1.5
ROUNDS = 15
CALLS_PER_ROUND = 400
TOKEN = "bench-auth-token-0123456789abcdef"
URL = "https://voice.contoso.com/api/voice/incoming"
MENU = {
    "prompt": "For sales press 1 or say sales. For our hours press 2. To leave a message press 3.",
    "options": {
        "1": {"action": "forward", "to": "+15005550006", "words": ["sales"]},
        "2": {"action": "say", "text": "We are open nine to five, Monday to Friday."},
        "3": {"action": "voicemail", "words": ["message"]},
    },
}
ENV = {
    "TWILIO_AUTH_TOKEN": TOKEN,
    "VOICE_TTS_VOICE": "Polly.Joanna",
    "VOICE_LANGUAGE": "en-US",
    "VOICE_MENU": json.dumps(MENU),
    "WEBSITE_SITE_NAME": "contoso-voice",
    # Storage is never reached (the store is stubbed): an address that answers nothing.
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}
# What Twilio posts for an incoming call (the usual 21 parameters).
PARAMS = {
    "AccountSid": "AC" + "a" * 32,
    "ApiVersion": "2010-04-01",
    "CallSid": "CA" + "b" * 32,
    "CallStatus": "ringing",
    "Called": "+15017122661",
    "CalledCity": "",
    "CalledCountry": "US",
    "CalledState": "CA",
    "CalledZip": "",
    "Caller": "+15558675310",
    "CallerCity": "",
    "CallerCountry": "US",
    "CallerState": "NY",
    "CallerZip": "",
    "Direction": "inbound",
    "From": "+15558675310",
    "FromCountry": "US",
    "FromState": "NY",
    "To": "+15017122661",
    "ToCountry": "US",
    "ToState": "CA",
}


class _NoStorage:
    """The CallLog store with no I/O: runs the change function, as the real store would."""

    def mark_step(self, record_id: str, step: str) -> bool:
        return True

    def update(self, record_id: str, change: Callable[[Any], Any]) -> Any:
        return change(None)


class _WithGetAll(dict[str, str]):
    """A plain dict plus the `getall` RequestValidator looks for first."""

    def getall(self, key: str) -> list[str]:
        return [self[key]]


def _floor_twiml(params: dict[str, str]) -> str:
    say = {"voice": "Polly.Joanna", "language": "en-US"}
    response = VoiceResponse()
    response.say("Hello from Azure.", **say)
    response.pause()
    response.say(f"This call uses Twilio API version {params['ApiVersion']}.", **say)
    response.pause()
    response.say("You have reached contoso-voice.", **say)
    gather = response.gather(
        input="dtmf speech",
        num_digits=1,
        action="/api/voice/menu?attempt=1",
        method="POST",
        timeout=5,
        language="en-US",
        hints="sales, message",
    )
    gather.say(MENU["prompt"], **say)
    response.redirect("/api/voice/menu?attempt=1", method="POST")
    return str(response)


def _requests(count: int, signature: str, body: bytes) -> list[func.HttpRequest]:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": "bench",
    }
    return [
        func.HttpRequest(method="POST", url=URL, headers=headers, params={}, body=body)
        for _ in range(count)
    ]


def main() -> dict[str, object]:
    """Measure and print app vs floor per call, and their ratio."""
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    settings_module.reset_settings_cache()
    saved_factory = voice_webhooks.store_factory
    voice_webhooks.store_factory = lambda settings: _NoStorage()
    try:
        validator = RequestValidator(TOKEN)
        signature = validator.compute_signature(URL, PARAMS)
        body = urlencode(PARAMS).encode()

        # Same answer from both, or the comparison means nothing.
        app_xml = voice_bp.voice_incoming(_requests(1, signature, body)[0]).get_body().decode()
        if app_xml != _floor_twiml(PARAMS):
            raise RuntimeError("the app's TwiML differs from the floor's: fix the benchmark")

        def app_round() -> float:
            batch = _requests(CALLS_PER_ROUND, signature, body)  # built outside the timing
            started = time.perf_counter()
            for request in batch:
                response = voice_bp.voice_incoming(request)
                if response.status_code != 200:
                    raise RuntimeError(f"app answered {response.status_code}")
            return (time.perf_counter() - started) / CALLS_PER_ROUND

        def floor_round(params: Any = PARAMS) -> float:
            started = time.perf_counter()
            for _ in range(CALLS_PER_ROUND):
                if not RequestValidator(TOKEN).validate(URL, params, signature):
                    raise RuntimeError("floor signature rejected")
                _floor_twiml(PARAMS)
            return (time.perf_counter() - started) / CALLS_PER_ROUND

        fast_params = _WithGetAll(PARAMS)

        app_round()  # warm up both
        floor_round()
        app_times, floor_times, fast_times = [], [], []
        for _ in range(ROUNDS):
            app_times.append(app_round())
            floor_times.append(floor_round())
            fast_times.append(floor_round(fast_params))
    finally:
        voice_webhooks.store_factory = saved_factory
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings_module.reset_settings_cache()
    app, floor = statistics.median(app_times), statistics.median(floor_times)
    fast = statistics.median(fast_times)
    ratio = app / floor
    print(
        f"voice incoming: app {app * 1e6:.0f} us/call, floor {floor * 1e6:.0f} us/call "
        f"(validate + VoiceResponse; medians of {ROUNDS} rounds x {CALLS_PER_ROUND}) "
        f"-> {ratio:.2f}x (goal <= {GOAL}x)"
    )
    print(f"  floor with a getall() mapping: {fast * 1e6:.0f} us/call -> app is {app / fast:.2f}x")
    return {
        "app_us": round(app * 1e6, 1),
        "floor_us": round(floor * 1e6, 1),
        "floor_getall_us": round(fast * 1e6, 1),
        "ratio": round(ratio, 2),
        "ratio_vs_getall_floor": round(app / fast, 2),
        "goal": GOAL,
        "met": ratio <= GOAL,
    }


if __name__ == "__main__":
    main()
