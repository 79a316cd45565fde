"""The default line: what a number without a `Lines` entry does, from the `VOICE_*` / `SMS_*`
app settings, exactly as before lines existed (pure).

It is always open (no hours), greets with `VOICE_GREETING` or the classic Azure sample, and runs
the settings' behaviour as steps:

- `VOICE_MENU` → one menu step; an option `say` → the text (then goodbye), `forward` → a forward
  (then voicemail when `VOICE_VOICEMAIL`), `voicemail` → voicemail, `redirect` → redirect,
  `hangup` → goodbye;
- else `VOICE_FORWARD_TO` → a forward (ringing `VOICE_RING_TIMEOUT`), then voicemail when
  `VOICE_VOICEMAIL`;
- else voicemail when `VOICE_VOICEMAIL`; else goodbye.

Voicemail is `VOICE_VOICEMAIL_MAX_LENGTH` long and transcribed when `VOICE_TRANSCRIBE`.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from switchboard.lines.hours import Schedule
from switchboard.lines.model import (
    ForwardStep,
    Line,
    MenuOption,
    MenuStep,
    Prompt,
    PromptStep,
    RedirectStep,
    Step,
    VoicemailStep,
)
from switchboard.settings import Settings

if TYPE_CHECKING:  # VOICE_MENU's types: a menu is parsed (and its module loaded) only when set
    from switchboard.menu import Menu
    from switchboard.menu import MenuOption as SettingsMenuOption

# Plain UTC, not ZoneInfo("UTC"): an always-open line never looks at its zone's rules, and a
# cold start need not import zoneinfo (and its tz database) for the default line.
_ALWAYS_OPEN = Schedule(zone=UTC)


def _voicemail(settings: Settings) -> VoicemailStep:
    return VoicemailStep(
        max_length=settings.voice_voicemail_max_length, transcribe=settings.voice_transcribe
    )


def _forward(to: str, settings: Settings) -> tuple[Step, ...]:
    forward = ForwardStep(to=to, timeout=settings.voice_ring_timeout)
    return (forward, _voicemail(settings)) if settings.voice_voicemail else (forward,)


def _option_steps(option: SettingsMenuOption, settings: Settings) -> tuple[Step, ...]:
    if option.action == "say" and option.text:
        return (PromptStep(Prompt(text=option.text)),)
    if option.action == "forward" and option.to:
        return _forward(option.to, settings)
    if option.action == "voicemail":
        # Chosen explicitly from the menu: offered even when VOICE_VOICEMAIL is off.
        return (_voicemail(settings),)
    if option.action == "redirect" and option.url:
        return (RedirectStep(url=option.url),)
    return ()  # hangup: goodbye


def _menu(menu: Menu, settings: Settings) -> MenuStep:
    return MenuStep(
        prompt=Prompt(text=menu.prompt),
        options=tuple(
            MenuOption(key=o.key, words=o.words, steps=_option_steps(o, settings))
            for o in menu.options
        ),
    )


# By identity: hashing a Settings (50 fields) would cost more than a webhook's decision.
_built: dict[int, tuple[Settings, Line]] = {}


def default_line(settings: Settings) -> Line:
    """The default line of these settings (built once per settings object)."""
    found = _built.get(id(settings))
    if found is not None and found[0] is settings:
        return found[1]
    line = _build(settings)
    if len(_built) > 16:  # tests build many settings; a process normally has one
        _built.clear()
    _built[id(settings)] = (settings, line)
    return line


def _build(settings: Settings) -> Line:
    steps: tuple[Step, ...]
    if settings.voice_menu is not None:
        steps = (_menu(settings.voice_menu, settings),)
    elif settings.voice_forward_to:
        steps = _forward(settings.voice_forward_to, settings)
    elif settings.voice_voicemail:
        steps = (_voicemail(settings),)
    else:
        steps = ()
    greetings = {"open": Prompt(text=settings.voice_greeting)} if settings.voice_greeting else {}
    return Line(
        number=None,
        schedule=_ALWAYS_OPEN,
        greetings=greetings,
        flows={"open": steps},
        blocked=frozenset(settings.voice_blocked_callers),
        allowed=frozenset(settings.voice_allowed_callers) or None,
        sms_auto_reply=settings.sms_auto_reply,
        sms_forward_to=settings.owner_number,
        classic_greeting=not settings.voice_greeting,
    )
