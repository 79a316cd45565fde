"""The static TwiML a number falls back to when the app cannot answer (pure).

Twilio fetches a number's `VoiceFallbackUrl` when the app fails, times out (15 s) or answers
something that is not TwiML, at any step of a call. That document is published outside the app
(a blob), so it cannot decide anything at call time: it is decided here, from the number's line
and the settings, each time `numbers wire` runs.

What a caller hears: the line's name ("Thank you for calling Main line."), then, when the line
has someone to reach, a `<Dial>` to them; if nobody answers (or there is nobody), a voicemail
(`<Record>`), then a goodbye document. Who is reached, first that is not one of the account's
own numbers: the line's `sms.forwardTo` (who gets the line's texts), `OWNER_NUMBER`, the first
`forward` or `ring` person of the line's open flow, `VOICE_FORWARD_TO`.

The limits of a static document: no hours (the owner's phone rings at night too: it is an
outage), no press-1 whisper (a cell phone's voicemail may take the call), and when the person
who answered hangs up first the caller is offered the voicemail (a `<Dial>` without `action`
goes on to the next verb). Recordings stay in Twilio's console (Monitor, Recordings): the app is
down, so nobody is notified.

The texts fallback is an empty `<Response/>`: a static document cannot apply the outbound policy or
opt-outs, so during an outage nothing answers a text automatically (Twilio still logs it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from switchboard.twilio.text import xml_safe
from switchboard.twilio.twiml import twiml_text

DEFAULT_RING_SECONDS = 20
DEFAULT_VOICEMAIL_SECONDS = 120


class FallbackPlan(NamedTuple):
    """What a number's fallback does: whom it dials and how it speaks."""

    number: str
    name: str | None
    forward_to: str | None
    ring_seconds: int
    voicemail_seconds: int
    voice: str | None
    language: str | None


def _steps_people(steps: Any) -> Iterator[str]:
    """The numbers a flow forwards to or rings, in order (menus included, depth first)."""
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, Mapping):
            continue
        forward = step.get("forward")
        if isinstance(forward, Mapping) and isinstance(forward.get("to"), str):
            yield forward["to"]
        ring = step.get("ring")
        if isinstance(ring, Mapping):
            for person in ring.get("people") or []:
                if isinstance(person, Mapping) and isinstance(person.get("number"), str):
                    yield person["number"]
        menu = step.get("menu")
        if isinstance(menu, Mapping) and isinstance(menu.get("options"), Mapping):
            for option in menu["options"].values():
                if isinstance(option, Mapping):
                    yield from _steps_people(option.get("steps"))


def candidates(
    line: Mapping[str, Any] | None,
    owner_number: str | None,
    voice_forward_to: str | None,
) -> list[str]:
    """Everyone the fallback could dial, best first (see the module docstring)."""
    found: list[str | None] = []
    sms = (line or {}).get("sms")
    if isinstance(sms, Mapping) and isinstance(sms.get("forwardTo"), str):
        found.append(sms["forwardTo"])
    found.append(owner_number)
    if line is not None:
        found.extend(_steps_people(line.get("open")))
    found.append(voice_forward_to)
    return [n for n in found if n]


def plan(
    number: str,
    line: Mapping[str, Any] | None,
    *,
    owner_number: str | None,
    voice_forward_to: str | None,
    own_numbers: Iterable[str],
    ring_seconds: int = DEFAULT_RING_SECONDS,
    voicemail_seconds: int = DEFAULT_VOICEMAIL_SECONDS,
    voice: str | None = None,
    language: str | None = None,
) -> FallbackPlan:
    """The fallback of `number` from its line document (None: the default line, the settings).
    Never dials the number itself nor another of the account's numbers (a loop)."""
    ours = {number, *own_numbers}
    forward = next(
        (n for n in candidates(line, owner_number, voice_forward_to) if n not in ours), None
    )
    name = line.get("name") if line is not None else None
    return FallbackPlan(
        number=number,
        name=name if isinstance(name, str) and name.strip() else None,
        forward_to=forward,
        ring_seconds=ring_seconds,
        voicemail_seconds=voicemail_seconds,
        voice=(line or {}).get("voice") or voice,
        language=(line or {}).get("language") or language,
    )


def _say(response: VoiceResponse, text: str, fallback: FallbackPlan) -> None:
    attributes = {
        k: v for k, v in (("voice", fallback.voice), ("language", fallback.language)) if v
    }
    response.say(xml_safe(text), **attributes)


def voice_twiml(fallback: FallbackPlan, voicemail_done_url: str) -> str:
    """The document Twilio plays when the app cannot answer a call to the number."""
    response = VoiceResponse()
    who = fallback.name or "us"
    _say(response, f"Thank you for calling {who}.", fallback)
    if fallback.forward_to:
        _say(response, "Please hold while we connect you.", fallback)
        dial = response.dial(timeout=fallback.ring_seconds, answer_on_bridge=True)
        dial.number(fallback.forward_to)
    _say(
        response,
        "Nobody can take your call right now. Please leave a message after the tone.",
        fallback,
    )
    response.record(
        max_length=fallback.voicemail_seconds,
        play_beep=True,
        action=voicemail_done_url,
        method="GET",
    )
    return twiml_text(response)


def voicemail_done_twiml(fallback: FallbackPlan) -> str:
    """After the voicemail: thanks and goodbye."""
    response = VoiceResponse()
    _say(response, "Thank you. Goodbye.", fallback)
    response.hangup()
    return twiml_text(response)


def sms_twiml() -> str:
    """The texts fallback: nothing automatic (see the module docstring)."""
    return str(MessagingResponse())
