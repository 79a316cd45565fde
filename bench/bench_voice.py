"""`POST /api/voice/incoming` in process, against the fair floor of doing the same by hand.

Fair floor: what any handler must do at least, the fastest way the libraries allow: twilio's
`RequestValidator.validate` on the parameters in a mapping with `getall` (the validator's fast
path; a plain dict costs it two caught exceptions per parameter), then the same TwiML built by
hand with `VoiceResponse`. It is given its parameters parsed, its URL and its settings.

The figure (goal <= 1.3x) takes the shell's own cost out, as the floor has none of it: the
app's side is the signature check on the parameters as the app parsed them (its own mapping,
the same fast path) plus the load and decide step of the route (the line: the default line, no
`Lines` entry; `voice.incoming`) and the `text/xml` answer. The shell's own cost (form parsing,
the URL rebuild, the settings, the CallLog record step with a store stub that does no I/O) is
measured too, with the whole webhook as the host calls it (`voice_incoming(req)` on a fresh
`func.HttpRequest` per call, as the worker hands it over): ÷ the same floor, goal <= 1.4x.

The peer (goal: the whole webhook <= 1.0x it): what a user would deploy instead, a v2 HTTP
function written as Microsoft's and Twilio's samples write one (`req.form`,
`RequestValidator.validate` on `req.url`, `VoiceResponse`, `HttpResponse`) answering the same
TwiML, called the same way on a fresh request per call.

Logging is Python's default (WARNING): the one INFO line per call is not formatted. Rounds
alternate so that machine noise hits every side alike; each is timed in thread CPU time, and
the figures are ratios of the medians of per-call times.

Lines: the same whole webhook with the number's *stored* line, found through the real
lookup (`switchboard.lines.lookup.line_for`, the instance's cache) with a `Lines` table stub that
counts its reads, ÷ the whole webhook with the default line (goal <= 1.05x), and the storage reads
made during the timed rounds beyond the one per cache TTL that the design makes (goal 0: the
cache is warm after the first call; on a busy machine the rounds can outlast the TTL). The stored line
describes the default line's flow (the same greeting, pauses and menu) so that both answer the
same TwiML and only the lookup differs; a line with weekly hours and a holiday in New York
(evaluated in its zone on every call) is shown beside it. The two differ by a few per cent, less
than a busy machine moves a round: they are timed in pairs of short rounds back to back, each
side first in half the pairs, and the figure is the median of the pairs' ratios
(`bench.figures.paired`); with the rounds far apart (the other sides between them), the figure
moved by more than the difference it measures.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from bench.figures import Figure, Goal, goals, paired, side_by_side
from switchboard import settings as settings_module
from switchboard.contacts import lookup as contacts_lookup
from switchboard.contacts.refs import NumberRows
from switchboard.http import twiml_response
from switchboard.lines import lookup
from switchboard.lines.defaults import default_line
from switchboard.lines.store import LineStore, StoredLine
from switchboard.twilio import signature
from switchboard.twilio import webhook as shell
from switchboard.voice import blueprint as voice_bp
from switchboard.voice import webhooks as voice_webhooks

GOALS = goals(
    {
        "voice.webhook_vs_fair_floor": Goal("<=", 1.3, "×"),
        "voice.whole_webhook_vs_peer": Goal("<=", 1.0, "×"),
        "voice.whole_webhook_vs_fair_floor": Goal("<=", 1.4, "×"),
        "voice.line_from_cache_vs_default_line": Goal("<=", 1.05, "×"),
        "voice.storage_reads_per_warm_webhook": Goal("==", 0),
    }
)
ROUNDS = 15
CALLS_PER_ROUND = 400
#: The lines figures compare two nearly equal webhooks: many short rounds in pairs (`paired`).
LINE_PAIRS = 60
CALLS_PER_LINE_ROUND = 200
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
    # Storage is never reached (the stores are stubbed): an address that answers nothing.
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
MENU_ACTION = "/api/voice/menu?attempt=1&at=open.0&hop=1"
SAY = {"voice": "Polly.Joanna", "language": "en-US"}
#: The default line's flow as a stored line document (the same TwiML but for the menu's URL).
STORED_LINE: dict[str, Any] = {
    "name": "contoso-voice",
    **SAY,
    "open": [
        {"say": "Hello from Azure."},
        {"pause": 1},
        {"say": "This call uses Twilio API version 2010-04-01."},
        {"pause": 1},
        {"say": "You have reached contoso-voice."},
        {
            "menu": {
                "prompt": {"say": MENU["prompt"]},
                "options": {
                    "1": {"words": ["sales"], "steps": [{"forward": {"to": "+15005550006"}}]},
                    "2": {"steps": [{"say": "We are open nine to five, Monday to Friday."}]},
                    "3": {"words": ["message"], "steps": [{"voicemail": {}}]},
                },
            }
        },
    ],
}
#: The same line with hours and a holiday in a zone with DST (evaluated on every call).
LINE_WITH_HOURS: dict[str, Any] = {
    **STORED_LINE,
    "timeZone": "America/New_York",
    "hours": {"mon-sun": ["00:00-24:00"]},
    "holidays": [{"date": "12-25", "name": "Christmas"}],
    "closed": [{"voicemail": {}}],
}


class _NoStorage:
    """The CallLog store with no I/O: runs the change function, as the real store would."""

    def mark_step(self, record_id: str, step: str) -> bool:
        return True

    def update(self, record_id: str, change: Callable[[Any], Any]) -> Any:
        return change(None)


class _NoContacts:
    """The Contacts table holding nobody: the caller's lookup runs, reading no storage."""

    def ref_for(self, number: str) -> None:
        return None


class _WithGetAll(dict[str, str]):
    """A plain dict plus the `getall` RequestValidator looks for first (its fast path)."""

    def getall(self, key: str) -> list[str]:
        return [self[key]]


def peer_voice_incoming(req: func.HttpRequest) -> func.HttpResponse:
    """What a user would deploy instead: a v2 HTTP function as Microsoft's and Twilio's samples
    write one (the form from `req.form`, the signature checked by `RequestValidator.validate` on
    `req.url`, the answer built with `VoiceResponse` and returned as an `HttpResponse`), with
    the same greeting and menu written into it. It keeps no record of the call."""
    form = req.form
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    if not validator.validate(req.url, form, req.headers.get("X-Twilio-Signature", "")):
        return func.HttpResponse("Forbidden", status_code=403)
    return func.HttpResponse(_floor_twiml(form), status_code=200, mimetype="text/xml")


def _floor_twiml(params: Mapping[str, str]) -> str:
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
        action=MENU_ACTION,
        method="POST",
        timeout=5,
        language="en-US",
        hints="sales, message",
    )
    gather.say(MENU["prompt"], **say)
    response.redirect(MENU_ACTION, method="POST")
    return str(response)


class _CountingLines:
    """The `Lines` table as the call path reads it, with no I/O: one document, reads counted."""

    def __init__(self, document: dict[str, Any], ttl: float) -> None:
        self.document = document
        self.ttl = ttl
        self.reads = 0
        #: Reads sooner than the cache's TTL after the one before: what a warm cache must never
        #: make (one read per TTL is the cache's design: a line changed elsewhere is seen).
        self.early = 0
        self._last: float | None = None

    def get(self, number: str) -> StoredLine:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.ttl:
            self.early += 1
        self._last = now
        self.reads += 1
        return StoredLine(number, 3, self.document, None, "put")


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


def _without_actions(xml: bytes) -> str:
    # The menu is the stored line's sixth step (after the greeting's says and pauses), the
    # default line's first: the same answer but for the position in its URLs; a pause step
    # states its length (1 s, Twilio's default, which the default line leaves out).
    text = re.sub(r"at=open\.[0-9]+", "at=open.N", xml.decode())
    return text.replace('<Pause length="1" />', "<Pause />")


def main() -> dict[str, object]:
    """Measure and print app vs fair floor per call, and their ratio; then the lines figures."""
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    settings_module.reset_settings_cache()
    saved_store, saved_line = voice_webhooks.store_factory, voice_webhooks.line_factory
    saved_for_calls = LineStore.__dict__["for_calls"]
    saved_contacts = NumberRows.__dict__["for_calls"]
    NumberRows.for_calls = classmethod(lambda cls, settings: _NoContacts())  # type: ignore[method-assign, assignment]

    def lines_from(lines: _CountingLines | None) -> None:
        """Serve calls a stored line through the real lookup (None: the default line)."""
        if lines is None:
            LineStore.for_calls = saved_for_calls  # type: ignore[method-assign]
            voice_webhooks.line_factory = lambda number, settings: default_line(settings)
        else:
            LineStore.for_calls = classmethod(lambda cls, settings: lines)  # type: ignore[method-assign, assignment]
            voice_webhooks.line_factory = lookup.line_for

    voice_webhooks.store_factory = lambda settings: _NoStorage()
    lines_from(None)
    ttl = float(settings_module.get_settings().lines_cache_seconds)
    same_flow, with_hours = _CountingLines(STORED_LINE, ttl), _CountingLines(LINE_WITH_HOURS, ttl)
    try:
        settings = settings_module.get_settings()
        validator = RequestValidator(TOKEN)
        signature_header = validator.compute_signature(URL, PARAMS)
        body = urlencode(PARAMS).encode()
        fast_params = _WithGetAll(PARAMS)
        parsed = shell.verify(_requests(1, signature_header, body)[0], settings)
        form = shell.form_params(_requests(1, signature_header, body)[0])
        assert parsed is not None

        # Same answer from all sides, or the comparison means nothing.
        app_xml = voice_bp.voice_incoming(_requests(1, signature_header, body)[0]).get_body()
        core_xml = voice_webhooks.decide_incoming(parsed, settings).twiml
        peer_xml = peer_voice_incoming(_requests(1, signature_header, body)[0]).get_body()
        if not app_xml.decode() == core_xml == _floor_twiml(PARAMS) == peer_xml.decode():
            raise RuntimeError("the app's TwiML differs from the floor's: fix the benchmark")
        for lines in (same_flow, with_hours):
            lines_from(lines)
            lookup.forget_cached_lines()
            line_xml = voice_bp.voice_incoming(_requests(1, signature_header, body)[0]).get_body()
            if _without_actions(line_xml) != _without_actions(app_xml):
                raise RuntimeError(f"the stored line answers differently: {line_xml!r}")
            if lines.reads != 1 or "open.5" not in line_xml.decode():
                raise RuntimeError("the stored line was not used: fix the benchmark")
        lines_from(None)

        # The requests of every round of the whole webhook, built before any timing (the
        # worker builds them before the function runs).
        batches = [
            _requests(CALLS_PER_ROUND, signature_header, body) for _ in range(2 * ROUNDS + 2)
        ]
        line_batches = [
            _requests(CALLS_PER_LINE_ROUND, signature_header, body)
            for _ in range(3 * LINE_PAIRS + 3)
        ]

        def answer(requests: list[func.HttpRequest]) -> int:
            for request in requests:
                response = voice_bp.voice_incoming(request)
                if response.status_code != 200:
                    raise RuntimeError(f"app answered {response.status_code}")
            return len(requests)

        def webhook_round() -> int:
            return answer(batches.pop())

        def default_line_round() -> int:
            return answer(line_batches.pop())

        def peer_round() -> int:
            for request in batches.pop():
                response = peer_voice_incoming(request)
                if response.status_code != 200:
                    raise RuntimeError(f"the peer answered {response.status_code}")
            return CALLS_PER_ROUND

        def stored_line_round(lines: _CountingLines) -> Callable[[], int]:
            def line_round() -> int:
                # The cache stays warm across rounds (the lookup's TTL is 15 s, a round ~0.05 s).
                lines_from(lines)
                try:
                    return answer(line_batches.pop())
                finally:
                    lines_from(None)

            return line_round

        def core_round() -> int:
            for _ in range(CALLS_PER_ROUND):
                if not signature.is_valid_signature(TOKEN, URL, form, signature_header):
                    raise RuntimeError("app signature rejected")
                twiml_response(voice_webhooks.decide_incoming(parsed, settings).twiml)
            return CALLS_PER_ROUND

        def floor_round() -> int:
            for _ in range(CALLS_PER_ROUND):
                if not RequestValidator(TOKEN).validate(URL, fast_params, signature_header):
                    raise RuntimeError("floor signature rejected")
                _floor_twiml(PARAMS)
            return CALLS_PER_ROUND

        same_flow_round = stored_line_round(same_flow)
        with_hours_round = stored_line_round(with_hours)
        webhook_round()  # warm up every side
        peer_round()
        core_round()
        floor_round()
        times = side_by_side(
            ROUNDS, webhook=webhook_round, peer=peer_round, core=core_round, floor=floor_round
        )
        default_line_round()
        lookup.forget_cached_lines()
        same_flow_round()  # the one read that fills the cache
        reads_before, early_before = same_flow.reads, same_flow.early
        stored_line = paired(LINE_PAIRS, default_line_round, same_flow_round)
        warm_reads = same_flow.reads - reads_before
        early_reads = same_flow.early - early_before
        lookup.forget_cached_lines()
        with_hours_round()
        with_hours_reads_before, with_hours_early_before = with_hours.reads, with_hours.early
        hours = paired(LINE_PAIRS // 2, default_line_round, with_hours_round)
        warm_reads += with_hours.reads - with_hours_reads_before
        early_reads += with_hours.early - with_hours_early_before
    finally:
        LineStore.for_calls = saved_for_calls  # type: ignore[method-assign]
        NumberRows.for_calls = saved_contacts  # type: ignore[method-assign]
        contacts_lookup.forget_cached_contacts()
        lookup.forget_cached_lines()
        voice_webhooks.store_factory, voice_webhooks.line_factory = saved_store, saved_line
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings_module.reset_settings_cache()
    webhook, core, floor, peer = times["webhook"], times["core"], times["floor"], times["peer"]
    timed_calls = (LINE_PAIRS + LINE_PAIRS // 2) * CALLS_PER_LINE_ROUND
    rounds = f"medians of {ROUNDS} alternating rounds × {CALLS_PER_ROUND} calls, thread CPU time"
    figures = [
        Figure(
            "voice.webhook_vs_fair_floor",
            "POST /api/voice/incoming, the shell's own cost out (signature check, line, decision,"
            " TwiML, answer) ÷ validate with getall + the same TwiML by hand",
            round(core / floor, 2),
            "×",
            f"app {core * 1e6:.0f} µs, floor {floor * 1e6:.0f} µs per call; {rounds}",
        ),
        Figure(
            "voice.whole_webhook_vs_peer",
            "the whole webhook as the host calls it ÷ what a user would deploy instead: a v2"
            " function as the samples write it (req.form, RequestValidator.validate,"
            " VoiceResponse, HttpResponse), called the same way",
            round(webhook / peer, 2),
            "×",
            f"{webhook * 1e6:.0f} µs vs {peer * 1e6:.0f} µs per call; {rounds}",
        ),
        Figure(
            "voice.whole_webhook_vs_fair_floor",
            "the whole webhook as the host calls it (+ form parsing, URL rebuild, settings, the"
            " record step) ÷ the same floor",
            round(webhook / floor, 2),
            "×",
            f"{webhook * 1e6:.0f} µs per call, of which the shell's own cost "
            f"{(webhook - core) * 1e6:.0f} µs",
        ),
        Figure(
            "voice.line_from_cache_vs_default_line",
            "the whole webhook with the number's stored line from the warm cache ÷ with the"
            " default line (the same flow)",
            round(stored_line.ratio, 2),
            "×",
            f"{stored_line.second * 1e6:.0f} µs vs {stored_line.first * 1e6:.0f} µs per call;"
            f" a line with weekly hours and a holiday in America/New_York: {hours.ratio:.2f}×;"
            f" medians of the ratios of {LINE_PAIRS} (with hours: {LINE_PAIRS // 2}) pairs of"
            f" rounds × {CALLS_PER_LINE_ROUND} calls back to back, each side first in half of"
            " them, thread CPU time",
        ),
        Figure(
            "voice.storage_reads_per_warm_webhook",
            "Lines table reads per warm webhook (counted on the table stub), beyond the one per"
            " cache TTL",
            early_reads / timed_calls,
            "",
            f"{warm_reads} reads in {timed_calls} timed calls with a stored line, {early_reads} "
            f"sooner than the {ttl:g} s TTL after the one before",
        ),
    ]
    for figure in figures:
        print(figure.line())
    return {
        "figures": [f.as_dict() for f in figures],
        "webhook_us": round(webhook * 1e6, 1),
        "core_us": round(core * 1e6, 1),
        "floor_us": round(floor * 1e6, 1),
        "peer_us": round(peer * 1e6, 1),
        "stored_line_us": round(stored_line.second * 1e6, 1),
        "default_line_us": round(stored_line.first * 1e6, 1),
    }


if __name__ == "__main__":
    main()
