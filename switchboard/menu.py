"""The voice menu setting (`VOICE_MENU`): a small JSON document, parsed into plain data.

    {
      "prompt": "For sales press 1 or say sales. For our hours press 2. To leave a message press 3.",
      "options": {
        "1": {"action": "forward", "to": "+15017122661", "words": ["sales"]},
        "2": {"action": "say", "text": "We are open 9 to 5, Monday to Friday."},
        "3": {"action": "voicemail", "words": ["message"]},
        "4": {"action": "redirect", "url": "https://example.com/twiml"},
        "0": {"action": "hangup"}
      }
    }

Keys of `options` are a single DTMF key (0-9, * or #); `words` are spoken synonyms matched
against `SpeechResult`. Every error names the entry (`VOICE_MENU.options.1.to`), never the value.

It sits beside `switchboard.settings` rather than in `switchboard.voice` because the settings
validate it when they load (a malformed menu is reported like any other setting), and the
settings are below every capability.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from switchboard.phone import is_e164

ACTIONS = ("say", "forward", "voicemail", "redirect", "hangup")
_KEY = r"[0-9*#]"  # compiled on first use: only a VOICE_MENU needs it


class MenuError(ValueError):
    """VOICE_MENU is malformed; the message names the entry."""


class MenuOption(NamedTuple):
    """What one key (or spoken word) does."""

    key: str
    action: str
    text: str | None = None
    to: str | None = None
    url: str | None = None
    words: tuple[str, ...] = ()


class Menu(NamedTuple):
    """The parsed menu: the prompt read inside `<Gather>` and the options by key."""

    prompt: str
    options: tuple[MenuOption, ...]

    def find(self, digits: str | None, speech: str | None) -> MenuOption | None:
        """The option chosen by DTMF digits or by speech (a key or one of its words)."""
        if digits:
            for option in self.options:
                if option.key == digits.strip():
                    return option
        if speech:
            said = re.sub(r"[^\w\s]", " ", speech.casefold()).split()
            for option in self.options:
                if option.key in said or any(w.casefold() in said for w in option.words):
                    return option
                phrase = " ".join(said)
                if any(" " in w and w.casefold() in phrase for w in option.words):
                    return option
        return None


def _text(entry: dict[str, Any], key: str, where: str, *, required: bool) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise MenuError(f"{where}.{key}: is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise MenuError(f"{where}.{key}: must be non-empty text")
    return value.strip()


def parse_menu(data: Any) -> Menu:
    """Validate parsed JSON into a Menu."""
    if not isinstance(data, dict):
        raise MenuError("VOICE_MENU: must be a JSON object with 'prompt' and 'options'")
    unknown = set(data) - {"prompt", "options"}
    if unknown:
        raise MenuError(f"VOICE_MENU.{sorted(unknown)[0]}: unknown entry")
    prompt = _text(data, "prompt", "VOICE_MENU", required=True)
    options_data = data.get("options")
    if not isinstance(options_data, dict) or not options_data:
        raise MenuError("VOICE_MENU.options: must be a non-empty object of key → option")
    options = []
    for key, entry in options_data.items():
        where = f"VOICE_MENU.options.{key}"
        if not re.fullmatch(_KEY, key):
            raise MenuError(f"{where}: a key must be one of 0-9, * or #")
        if not isinstance(entry, dict):
            raise MenuError(f"{where}: must be an object with an 'action'")
        action = entry.get("action")
        if action not in ACTIONS:
            raise MenuError(f"{where}.action: must be one of {', '.join(ACTIONS)}")
        allowed = {"action", "words"} | {
            "say": {"text"},
            "forward": {"to"},
            "redirect": {"url"},
        }.get(action, set())
        extra = set(entry) - allowed
        if extra:
            raise MenuError(f"{where}.{sorted(extra)[0]}: not allowed for action {action}")
        words = entry.get("words", [])
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise MenuError(f"{where}.words: must be a list of non-empty words")
        option = MenuOption(key=key, action=action, words=tuple(w.strip() for w in words))
        if action == "say":
            option = MenuOption(
                key, action, text=_text(entry, "text", where, required=True), words=option.words
            )
        elif action == "forward":
            to = _text(entry, "to", where, required=True)
            if to is None or not is_e164(to):
                raise MenuError(f"{where}.to: must be an E.164 phone number")
            option = MenuOption(key, action, to=to, words=option.words)
        elif action == "redirect":
            url = _text(entry, "url", where, required=True)
            parts = urlsplit(url or "")
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise MenuError(f"{where}.url: must be an absolute http(s) URL")
            option = MenuOption(key, action, url=url, words=option.words)
        options.append(option)
    return Menu(prompt=prompt or "", options=tuple(options))


def parse_menu_json(raw: str) -> Menu:
    """Parse the VOICE_MENU text; malformed JSON is an error naming the setting and position."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MenuError(
            f"VOICE_MENU: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    return parse_menu(data)
