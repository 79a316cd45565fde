"""Incoming calls: what Switchboard says and does, as pure functions (no I/O).

Each webhook of `POST /api/voice/*` is one function here taking the request's form parameters and
the settings, and returning an `Outcome`: the TwiML to answer (built with twilio's
`VoiceResponse`, which escapes every piece of text) and the change to make to the call's `CallLog`
record. The blueprint (`switchboard.voice.blueprint`) verifies the signature, then
`switchboard.voice.webhooks` calls these, writes the change best-effort and answers.

The call flow:

    /voice/incoming ── blocked caller ─────────────────────────────► <Reject/>
          │        ── not on the allowed list ─────────────────────► <Say>sorry</Say><Hangup/>
          │ greeting, then by settings:
          ├─ VOICE_MENU ──► <Gather action=/voice/menu> ──► /voice/menu ─► say / forward /
          │                                                 voicemail / redirect / hang up
          ├─ VOICE_FORWARD_TO ──► <Dial action=/voice/dial-complete> ──► /voice/dial-complete
          │                                                   answered ─► <Hangup/>
          │                                                   otherwise ─► voicemail or goodbye
          ├─ VOICE_VOICEMAIL ──► <Record action=/voice/recording
          │                       recordingStatusCallback=/voice/recording>
          └─ otherwise ──► goodbye <Hangup/>

A menu choice nobody understands (or silence) repeats the menu once, then says goodbye: the attempt
travels in the action URL (`/api/voice/menu?attempt=2`), which Twilio signs, so it cannot be forged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.twiml.voice_response import VoiceResponse

from switchboard.menu import Menu, MenuOption
from switchboard.settings import Settings
from switchboard.twilio.text import xml_safe

# The Functions host serves HTTP routes under `/api` (host.json `extensions.http.routePrefix`).
INCOMING_PATH = "/api/voice/incoming"
MENU_PATH = "/api/voice/menu"
DIAL_COMPLETE_PATH = "/api/voice/dial-complete"
RECORDING_PATH = "/api/voice/recording"

#: How many times the menu is offered before the caller hears goodbye.
MENU_ATTEMPTS = 2
#: Seconds a `<Gather>` waits for a key or speech.
GATHER_TIMEOUT = 5

SITE_FALLBACK = "Switchboard"
GOODBYE = "Thank you for calling. Goodbye."
NOT_ALLOWED = "Sorry, this number does not take calls from your line. Goodbye."
NOT_UNDERSTOOD = "Sorry, I did not get that."
VOICEMAIL_PROMPT = "Please leave a message after the tone. Press the pound key when you are done."
NO_MESSAGE = "We did not get a message. Goodbye."
MESSAGE_THANKS = "Thank you, your message has been recorded. Goodbye."

# DialCallStatus values meaning the forwarded leg was picked up.
_CONNECTED = frozenset({"completed", "answered"})


@dataclass(frozen=True)
class CallLogChange:
    """What one webhook step changes on the call's CallLog record (applied by `apply_change`).

    `step` names the step for retry detection (same CallSid + step = a Twilio retry).
    `initial` fills properties the record lacks (the first writer wins: From, To, Direction...);
    `fields` are set every time; `menu_choice` is appended to `MenuChoicesJson`.
    """

    step: str
    initial: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    menu_choice: Mapping[str, Any] | None = None
    starts_call: bool = False


@dataclass(frozen=True)
class Outcome:
    """The answer to one voice webhook: TwiML, a short word for logs, and the record change."""

    twiml: str
    handling: str
    change: CallLogChange | None


# --------------------------------------------------------------------------------------------
# TwiML building blocks


def action_url(settings: Settings, path: str, query: str = "") -> str:
    """Where Twilio should post next: absolute under PUBLIC_BASE_URL when set, else the path.

    A path is resolved by Twilio against the URL it just called, which is right unless a proxy
    rewrites paths; PUBLIC_BASE_URL makes the callback independent of that.
    """
    suffix = f"?{query}" if query else ""
    return f"{settings.public_base_url or ''}{path}{suffix}"


def _say(target: Any, text: str, settings: Settings) -> None:
    """`<Say>` with the configured voice and language (omitted when unset: Twilio's defaults)."""
    attrs: dict[str, str] = {}
    if settings.voice_tts_voice:
        attrs["voice"] = settings.voice_tts_voice
    if settings.voice_language:
        attrs["language"] = settings.voice_language
    # Caller-supplied text (ApiVersion) may hold characters XML 1.0 cannot carry at all.
    target.say(xml_safe(text), **attrs)


def _goodbye(response: VoiceResponse, settings: Settings, text: str = GOODBYE) -> None:
    _say(response, text, settings)
    response.hangup()


def greet(response: VoiceResponse, params: Mapping[str, str], settings: Settings) -> None:
    """VOICE_GREETING, or the classic Azure sample's: hello, the ApiVersion, the site name."""
    if settings.voice_greeting:
        _say(response, settings.voice_greeting, settings)
        return
    _say(response, "Hello from Azure.", settings)
    response.pause()
    api_version = params.get("ApiVersion", "").strip()
    if api_version:
        _say(response, f"This call uses Twilio API version {api_version}.", settings)
        response.pause()
    _say(response, f"You have reached {settings.site_name or SITE_FALLBACK}.", settings)


def offer_menu(response: VoiceResponse, menu: Menu, settings: Settings, attempt: int) -> None:
    """`<Gather>` reading the prompt; silence falls through to a `<Redirect>` to the same step.

    Both the Gather's action and the fallback carry `attempt`, so `/voice/menu` knows whether
    this was the first offer or the repeat.
    """
    target = action_url(settings, MENU_PATH, f"attempt={attempt}")
    gather_attrs: dict[str, Any] = {
        "input": "dtmf speech",
        "num_digits": 1,
        "action": target,
        "method": "POST",
        "timeout": GATHER_TIMEOUT,
    }
    if settings.voice_language:
        gather_attrs["language"] = settings.voice_language
    hints = [word for option in menu.options for word in option.words]
    if hints:
        gather_attrs["hints"] = ", ".join(hints)
    gather = response.gather(**gather_attrs)
    _say(gather, menu.prompt, settings)
    # Nothing pressed or said: Twilio moves past the Gather without calling its action.
    response.redirect(target, method="POST")


def dial(response: VoiceResponse, number: str, settings: Settings) -> None:
    """`<Dial>` to `number`; `/voice/dial-complete` decides what happens when it ends."""
    response.dial(
        number,
        timeout=settings.voice_ring_timeout,
        action=action_url(settings, DIAL_COMPLETE_PATH),
        method="POST",
    )


def voicemail(response: VoiceResponse, settings: Settings) -> None:
    """Prompt, `<Record>`, and a goodbye for when nothing was recorded.

    The Record's action and its status callback both go to `/voice/recording`. Twilio skips the
    action when the recording is empty and moves on to the next verb: hence the goodbye after it.
    """
    _say(response, VOICEMAIL_PROMPT, settings)
    recording = action_url(settings, RECORDING_PATH)
    record_attrs: dict[str, Any] = {
        "max_length": settings.voice_voicemail_max_length,
        "finish_on_key": "#",
        "play_beep": True,
        "action": recording,
        "method": "POST",
        "recording_status_callback": recording,
        "recording_status_callback_method": "POST",
    }
    if settings.voice_transcribe:
        record_attrs["transcribe"] = True
        record_attrs["transcribe_callback"] = recording
    response.record(**record_attrs)
    _goodbye(response, settings, NO_MESSAGE)


def _voicemail_or_goodbye(response: VoiceResponse, settings: Settings) -> str:
    """Voicemail when VOICE_VOICEMAIL is on, else goodbye; returns the handling word."""
    if settings.voice_voicemail:
        voicemail(response, settings)
        return "voicemail"
    _goodbye(response, settings)
    return "goodbye"


# --------------------------------------------------------------------------------------------
# The four webhooks


def _call_sid(params: Mapping[str, str]) -> str:
    return params.get("CallSid", "").strip()


def incoming(params: Mapping[str, str], settings: Settings) -> Outcome:
    """`POST /api/voice/incoming`: reject, refuse, or greet and then menu / forward / voicemail."""
    caller = params.get("From", "").strip()
    response = VoiceResponse()
    if caller and caller in settings.voice_blocked_callers:
        response.reject()
        handling = "rejected"
    elif settings.voice_allowed_callers and caller not in settings.voice_allowed_callers:
        _goodbye(response, settings, NOT_ALLOWED)
        handling = "refused"
    else:
        greet(response, params, settings)
        if settings.voice_menu is not None:
            offer_menu(response, settings.voice_menu, settings, attempt=1)
            handling = "menu"
        elif settings.voice_forward_to:
            dial(response, settings.voice_forward_to, settings)
            handling = "forward"
        else:
            handling = _voicemail_or_goodbye(response, settings)
    change = CallLogChange(
        step="incoming",
        initial={
            "Sid": _call_sid(params),
            "Direction": "inbound",
            "From": caller,
            "To": params.get("To", "").strip(),
            "Status": params.get("CallStatus", "").strip() or "ringing",
            "Source": "webhook",
            "MenuChoicesJson": "[]",
        },
        fields={"Handling": handling},
        starts_call=True,
    )
    return Outcome(str(response), handling, change)


def attempt_of(url: str) -> int:
    """The menu attempt carried by the action URL (`?attempt=2`); 1 when absent or malformed."""
    values = parse_qs(urlsplit(url).query).get("attempt", [])
    try:
        attempt = int(values[0]) if values else 1
    except ValueError:
        return 1
    return min(max(attempt, 1), MENU_ATTEMPTS)


def menu(params: Mapping[str, str], settings: Settings, attempt: int = 1) -> Outcome:
    """`POST /api/voice/menu`: act on `Digits` / `SpeechResult`; repeat once, then goodbye."""
    digits = params.get("Digits", "").strip() or None
    speech = params.get("SpeechResult", "").strip() or None
    response = VoiceResponse()
    configured = settings.voice_menu
    option = configured.find(digits, speech) if configured is not None else None
    if option is not None:
        handling = _act(response, option, settings)
    elif configured is not None and attempt < MENU_ATTEMPTS:
        _say(response, NOT_UNDERSTOOD, settings)
        offer_menu(response, configured, settings, attempt=attempt + 1)
        handling = "menu-repeat"
    else:
        _goodbye(response, settings)
        handling = "goodbye"
    choice = {
        "attempt": attempt,
        "digits": digits,
        "speech": speech,
        "option": option.key if option else None,
        "action": option.action if option else None,
    }
    change = CallLogChange(
        step=f"menu-{attempt}",
        initial=_initial_from(params),
        fields={"Handling": handling},
        menu_choice=choice,
    )
    return Outcome(str(response), handling, change)


def _act(response: VoiceResponse, option: MenuOption, settings: Settings) -> str:
    """The TwiML of one menu option; returns the handling word."""
    if option.action == "say" and option.text:
        _say(response, option.text, settings)
        _goodbye(response, settings)
        return "said"
    if option.action == "forward" and option.to:
        dial(response, option.to, settings)
        return "forward"
    if option.action == "voicemail":
        # Chosen explicitly from the menu: offered even when VOICE_VOICEMAIL is off.
        voicemail(response, settings)
        return "voicemail"
    if option.action == "redirect" and option.url:
        response.redirect(option.url, method="POST")
        return "redirect"
    _goodbye(response, settings)
    return "hangup"


def dial_complete(params: Mapping[str, str], settings: Settings) -> Outcome:
    """`POST /api/voice/dial-complete`: hang up when answered; else voicemail or goodbye."""
    status = params.get("DialCallStatus", "").strip().lower()
    response = VoiceResponse()
    if status in _CONNECTED or params.get("CallStatus", "").strip().lower() == "completed":
        # Answered and finished, or the caller already hung up: nothing left to play.
        response.hangup()
        handling = "answered" if status in _CONNECTED else "caller-hung-up"
    else:
        handling = _voicemail_or_goodbye(response, settings)
    fields: dict[str, Any] = {"DialOutcome": status or "unknown", "Handling": handling}
    duration = _int(params.get("DialCallDuration"))
    if duration is not None:
        fields["DialCallDuration"] = duration
    change = CallLogChange(step="dial-complete", initial=_initial_from(params), fields=fields)
    return Outcome(str(response), handling, change)


def recording(params: Mapping[str, str], settings: Settings) -> Outcome:
    """`POST /api/voice/recording`: the Record action, its status callback, its transcription.

    Twilio posts three kinds of request here: the status callback (`RecordingStatus`), the
    transcription callback (`TranscriptionStatus`) and the `<Record>` action (neither), which
    is the only one whose TwiML is played: thanks and goodbye. All three store what they carry.
    """
    response = VoiceResponse()
    recording_sid = params.get("RecordingSid", "").strip()
    fields: dict[str, Any] = {}
    if params.get("RecordingUrl", "").strip():
        fields["RecordingUrl"] = params["RecordingUrl"].strip()
    if recording_sid:
        fields["RecordingSid"] = recording_sid
    duration = _int(params.get("RecordingDuration"))
    if duration is not None:
        fields["RecordingDuration"] = duration
    if "TranscriptionStatus" in params:
        fields["TranscriptionStatus"] = params["TranscriptionStatus"].strip()
        text = params.get("TranscriptionText", "")
        if text:
            fields["TranscriptionText"] = text
        step, handling = f"transcription-{recording_sid}", "transcription"
    elif "RecordingStatus" in params:
        fields["RecordingStatus"] = params["RecordingStatus"].strip()
        step, handling = f"recording-status-{recording_sid}", "recording-status"
    else:
        _goodbye(response, settings, MESSAGE_THANKS)
        step, handling = "recording", "recorded"
    change = CallLogChange(step=step, initial=_initial_from(params), fields=fields)
    return Outcome(str(response), handling, change)


def _initial_from(params: Mapping[str, str]) -> dict[str, Any]:
    """What a later step knows about the call, for a record the incoming step could not write
    (storage was down then): the caller and number when Twilio sent them."""
    initial: dict[str, Any] = {
        "Sid": _call_sid(params),
        "Direction": "inbound",
        "Source": "webhook",
        "MenuChoicesJson": "[]",
    }
    for name in ("From", "To"):
        value = params.get(name, "").strip()
        if value:
            initial[name] = value
    return initial


def _int(raw: str | None) -> int | None:
    try:
        return int((raw or "").strip())
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Applying a change to the stored record (pure: the store runs it under an ETag)


def apply_change(
    change: CallLogChange, current: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any] | None:
    """The properties to merge into the record (`current`, None when absent), or None.

    Used as `RecordStore.update`'s change function, so it may run more than once when a write
    races another; it reads only its arguments.
    """
    record = current or {}
    update: dict[str, Any] = {}
    for key, value in change.initial.items():
        if value not in (None, "") and record.get(key) in (None, ""):
            update[key] = value
    if change.starts_call and record.get("StartedAt") is None:
        update["StartedAt"] = now
    for key, value in change.fields.items():
        if record.get(key) != value:
            update[key] = value
    if change.menu_choice is not None:
        choices = _choices(record.get("MenuChoicesJson"))
        attempt = change.menu_choice.get("attempt")
        # One entry per attempt: a retry that slipped past the step marker adds nothing.
        if all(c.get("attempt") != attempt for c in choices):
            choices.append(dict(change.menu_choice))
            update["MenuChoicesJson"] = json.dumps(choices, separators=(",", ":"))
    return update or None


def _choices(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, str):
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []
