"""What a caller would hear, and what would be sent, for a call at a given time (pure).

`preview(line, at, caller)` reads nothing but the line (a stored document built into a `Line`,
or the default line of the settings) and answers in plain sentences: the line's state at that
instant and why, what the caller hears in order (greeting, steps, menus with their options),
and what the app would send because of that call (voicemail notices, the missed-call text). It
is the same decision the voice flow makes (the state from `hours`, the flow from
`Line.flow_name`), described instead of played: `python -m switchboard lines preview` prints it,
and the owner's inbox can show "a call at <time> from <number> hears ...".
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from switchboard.lines import hours as h
from switchboard.lines.model import (
    ForwardStep,
    HangupStep,
    Line,
    MenuStep,
    PauseStep,
    Prompt,
    PromptStep,
    QueueStep,
    RedirectStep,
    RingStep,
    Step,
    VoicemailStep,
)


class Preview(NamedTuple):
    """A call described: when, the line's state, what is heard, what is sent."""

    at: datetime  # in the line's zone
    state: str
    reason: str
    holiday: str | None
    flow: str | None  # None: the caller is refused before any flow
    hears: tuple[str, ...]
    sends: tuple[str, ...]


def _prompt(prompt: Prompt) -> str:
    if prompt.url:
        return f"plays {prompt.url}"
    return f'says "{prompt.text}"'


def _seconds(value: int) -> str:
    return f"{value} s"


def describe_steps(steps: tuple[Step, ...], depth: int = 0) -> list[str]:
    """Each step in words, in order; a menu's options indented under it."""
    pad = "  " * depth
    lines: list[str] = []
    for step in steps:
        if isinstance(step, PromptStep):
            lines.append(pad + _prompt(step.prompt))
        elif isinstance(step, PauseStep):
            lines.append(pad + f"pauses {_seconds(step.seconds)}")
        elif isinstance(step, ForwardStep):
            shown = "the caller's number" if step.caller_id == "caller" else "the line's number"
            lines.append(
                pad + f"is forwarded to {step.to} (rings {_seconds(step.timeout)}, showing "
                f"{shown}); if nobody answers, on to the next step"
            )
        elif isinstance(step, RingStep):
            people = ", ".join(f"{p.name} {p.number}" if p.name else p.number for p in step.people)
            how = "all at once" if step.strategy == "all" else "one after another"
            lines.append(
                pad + f"rings {people} {how} ({_seconds(step.timeout)}; whoever presses 1 "
                "takes the call); if nobody does, on to the next step"
            )
        elif isinstance(step, QueueStep):
            people = ", ".join(f"{p.name} {p.number}" if p.name else p.number for p in step.people)
            hold = f"hears {_prompt(step.hold)} while waiting" if step.hold else "is put on hold"
            callback = (
                "; may press 1 to be called back, keeping their place" if step.callback else ""
            )
            lines.append(
                pad + f"waits in the line's queue for {people} (at most {step.max_size} waiting; "
                f"{hold}, the place in line every {_seconds(step.announce_every)}{callback}); "
                f"after {_seconds(step.max_wait)}, or when the queue is full, on to the next step"
            )
        elif isinstance(step, MenuStep):
            lines.append(pad + f"menu: {_prompt(step.prompt)} (up to {step.attempts} tries)")
            for option in step.options:
                words = f" or says {', '.join(option.words)}" if option.words else ""
                lines.append(pad + f"  presses {option.key}{words}:")
                lines += describe_steps(option.steps, depth + 2)
        elif isinstance(step, VoicemailStep):
            intro = f"{_prompt(step.prompt)}, then " if step.prompt else ""
            lines.append(
                pad
                + f"{intro}leaves a voicemail (up to {_seconds(step.max_length)}"
                + (", transcribed" if step.transcribe else "")
                + ")"
            )
        elif isinstance(step, HangupStep):
            lines.append(pad + "is hung up on")
        elif isinstance(step, RedirectStep):
            lines.append(pad + f"is handed to {step.url}")
    return lines


def _voicemails(steps: tuple[Step, ...]) -> list[VoicemailStep]:
    found: list[VoicemailStep] = []
    for step in steps:
        if isinstance(step, VoicemailStep):
            found.append(step)
        elif isinstance(step, MenuStep):
            for option in step.options:
                found += _voicemails(option.steps)
    return found


def _ends(steps: tuple[Step, ...]) -> bool:
    """Whether the flow ends the call itself (else the caller hears goodbye)."""
    return bool(steps) and isinstance(steps[-1], HangupStep | RedirectStep)


def preview(line: Line, at: datetime, caller: str) -> Preview:
    """What a call from `caller` to `line` at the instant `at` hears and makes the app send."""
    local = at.astimezone(line.schedule.zone)
    status = h.status(line.schedule, at)
    base = (local, status.state.value, status.reason.value, status.holiday)
    if caller in line.blocked:
        return Preview(
            *base, None, ("is rejected (a blocked caller: not answered, not billed)",), ()
        )
    if line.allowed is not None and caller not in line.allowed:
        return Preview(
            *base, None, ("hears a polite goodbye (not on the line's allowed callers)",), ()
        )
    flow = line.flow_name(status.state, status.holiday is not None)
    steps = line.flows.get(flow, ())
    hears: list[str] = []
    greeting = line.greeting(flow)
    if greeting is not None:
        hears.append(f"greeting: {_prompt(greeting)}")
    elif line.classic_greeting:
        hears.append("greeting: the classic sample greeting (VOICE_GREETING is not set)")
    hears += describe_steps(steps)
    if not _ends(steps):
        hears.append("hears goodbye")
    sends: list[str] = []
    for voicemail in _voicemails(steps):
        for number in voicemail.notify_sms:
            sends.append(f"a voicemail leaves a text to {number} (with the link)")
        for address in voicemail.notify_email:
            sends.append(f"a voicemail leaves an e-mail to {address} (with the recording)")
    if line.text_back is not None:
        after = "" if line.text_back.after_voicemail else " (not after a voicemail)"
        sends.append(
            f'if nobody is reached, a text to {caller}: "{line.text_back.message}"{after} '
            f"(a mobile number only; at most once per {line.text_back.window_hours} h; not for "
            f"calls under {line.text_back.min_seconds} s)"
        )
    return Preview(*base, flow, tuple(hears), tuple(sends))


def describe(found: Preview, number: str, caller: str, name: str | None = None) -> str:
    """The preview as the command line prints it."""
    when = found.at.strftime("%A %d %B %Y, %H:%M %Z")
    title = f"{name} ({number})" if name else number
    state = f"{found.state} ({found.reason}" + (f": {found.holiday}" if found.holiday else "") + ")"
    lines = [f"A call from {caller} to {title} on {when}", f"  the line is {state}"]
    if found.flow is not None:
        lines.append(f"  flow: {found.flow}")
    lines.append("  the caller:")
    lines += [f"    {text}" for text in found.hears]
    lines.append("  sent because of the call:" if found.sends else "  nothing is sent")
    lines += [f"    {text}" for text in found.sends]
    return "\n".join(lines)
