"""A call's `<Dial>` of numbers as the simulator plays it: the numbers ring together, each one
that answers runs its `<Number url>` whisper (pressing its digits at a `<Gather>`: "Press 1 to
accept"), and the first whose whisper ends without `<Hangup>` takes the call. (`<Dial><Queue>`
is `devkit.simulator_queue`'s.)"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

from devkit.simulator_http import API_VERSION, Step, new_sid, path_of
from devkit.simulator_twiml import TwimlError, Verb, describe_verb, parse_twiml


@dataclass(frozen=True)
class Callee:
    """How one dialled number behaves: whether it answers, and what it presses when a whisper
    (``<Number url=...>``) asks, for example "Press 1 to accept"."""

    outcome: str = "answer"  # "answer", "no-answer", "busy" or "failed"
    digits: str = "1"  # pressed at the whisper's <Gather> ('' = nothing)


@dataclass(frozen=True)
class DialOptions:
    """How the dialled numbers behave: `callees` by number, else every Dial ends with
    `dial_status`; `duration` of an answered leg; `whisper_rejected_status` of a Dial whose
    answering legs all hung up in their whispers."""

    dial_status: str = "no-answer"
    duration: int = 42
    callees: Mapping[str, Callee] | None = None
    whisper_rejected_status: str = "completed"


class Session(Protocol):
    """What a Dial needs of the call it is part of (`CallSession`)."""

    call_sid: str
    from_: str
    account_sid: str
    max_steps: int

    def send(self, kind: str, url: str, method: str, params: dict[str, str]) -> Step: ...
    def say(self, line: str) -> None: ...
    def fail(self, message: str) -> None: ...


def dial(session: Session, verb: Verb, url: str, options: DialOptions) -> dict[str, str]:
    """What the Dial's action receives, after ringing its numbers (and their whispers)."""
    numbers = [child for child in verb.children if child.name == "Number"]
    if not numbers and verb.own_text:
        numbers = [Verb("Number", text=verb.own_text)]
    if options.callees is None:
        status = options.dial_status
        extra = {"DialCallStatus": status, "DialCallSid": new_sid("CA")}
        if status == "completed":
            for number in numbers:
                if number.attr("url"):
                    whisper(session, number, verb, url, Callee(), extra["DialCallSid"])
            extra["DialCallDuration"] = str(options.duration)
        session.say(f"  (dialled party: {status})")
        return extra
    outcomes = []
    for number in numbers:
        callee = options.callees.get(number.text, Callee("no-answer"))
        outcomes.append(callee.outcome)
        if callee.outcome != "answer":
            session.say(f"  ({number.text}: {callee.outcome})")
            continue
        leg = new_sid("CA")
        session.say(f"  ({number.text} answers)")
        if not number.attr("url") or whisper(session, number, verb, url, callee, leg):
            session.say(f"  ({number.text} takes the call)")
            return {
                "DialCallStatus": "completed",
                "DialCallSid": leg,
                "DialCallDuration": str(options.duration),
                "DialBridged": "true",
            }
        session.say(f"  ({number.text} declined in the whisper: that leg hangs up)")
    if "answer" in outcomes:
        status = options.whisper_rejected_status
    elif outcomes and all(o == "busy" for o in outcomes):
        status = "busy"
    elif outcomes and all(o == "failed" for o in outcomes):
        status = "failed"
    else:
        status = "no-answer"
    session.say(f"  (dial ends: {status})")
    return {"DialCallStatus": status, "DialCallSid": new_sid("CA")}


def whisper(session: Session, number: Verb, dial: Verb, url: str, callee: Callee, leg: str) -> bool:
    """Run a ``<Number url>`` document on the answering leg; True when it ends without
    ``<Hangup>`` (the legs are then connected), False when it hangs up or fails."""
    target: str | None = urljoin(url, number.attr("url"))
    method = number.attr("method", "POST").upper()
    caller_id = dial.attr("callerId") or session.from_
    params = {
        "AccountSid": session.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": leg,
        "ParentCallSid": session.call_sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-dial",
        "From": caller_id,
        "Caller": caller_id,
        "To": number.text,
        "Called": number.text,
    }
    extra: dict[str, str] = {}
    pressed = deque([callee.digits])
    for _ in range(session.max_steps):
        assert target is not None
        step = session.send("whisper", target, method, params | extra)
        session.say(f"  > whisper {method} {path_of(step.sent_to)}  -> {step.status}")
        if step.error:
            session.fail(step.error)
            return False
        try:
            step.verbs = parse_twiml(step.body)
        except TwimlError as exc:
            session.fail(f"whisper {path_of(step.sent_to)}: {exc}")
            return False
        target, extra = None, {}
        for verb in step.verbs:
            for line in describe_verb(verb):
                session.say("    " + line)
            if verb.name == "Hangup":
                return False
            if verb.name == "Dial":
                session.fail("a whisper may not <Dial> (Twilio refuses it)")
                return False
            if verb.name == "Redirect" and verb.text:
                target, method = urljoin(step.url, verb.text), verb.attr("method", "POST")
                break
            if verb.name == "Gather":
                digits = pressed.popleft() if pressed else ""
                if digits:
                    session.say(f"    {number.text} presses {digits}")
                    target = urljoin(step.url, verb.attr("action") or step.url)
                    method, extra = verb.attr("method", "POST").upper(), {"Digits": digits}
                    break
                session.say("    (no key: the Gather times out)")
        if target is None:
            return True
    session.fail("the whisper loops")
    return False
