"""TwiML as the simulator reads it: documents parsed into verbs, and verbs in words."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field

NOT_SIMULATED = {
    "Connect",
    "Echo",
    "Pay",
    "Prompt",
    "Refer",
    "Start",
    "Stop",
    "Sms",
}
_SHOWN_ATTRS = {
    "Gather": (
        "input",
        "numDigits",
        "timeout",
        "finishOnKey",
        "action",
        "method",
        "language",
        "hints",
    ),
    "Dial": ("callerId", "timeout", "action", "record", "answerOnBridge"),
    "Record": (
        "maxLength",
        "timeout",
        "finishOnKey",
        "playBeep",
        "action",
        "recordingStatusCallback",
        "transcribe",
    ),
}


class TwimlError(ValueError):
    """The app answered something that is not a TwiML document."""


# --------------------------------------------------------------------------------------------
# TwiML


@dataclass
class Verb:
    """One TwiML element: name, attributes, its own text and nested elements."""

    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""  # all the text inside, nested elements included (SSML in <Say>)
    children: list[Verb] = field(default_factory=list)
    own_text: str = ""  # the text outside nested elements

    def attr(self, name: str, default: str = "") -> str:
        """An attribute's value, or `default`."""
        return self.attrs.get(name, default)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _to_verb(element: ET.Element) -> Verb:
    return Verb(
        name=_local(element.tag),
        attrs={_local(k): v for k, v in element.attrib.items()},
        text=" ".join("".join(element.itertext()).split()),
        children=[_to_verb(child) for child in element],
        own_text=" ".join(
            ((element.text or "") + "".join(child.tail or "" for child in element)).split()
        ),
    )


def parse_twiml(body: str) -> list[Verb]:
    """The verbs of a TwiML document; :class:`TwimlError` if it is not one."""
    if not body.strip():
        raise TwimlError("empty document (Twilio error 12100: document parse failure)")
    try:
        # The document comes from the developer's own app; expat (>= 2.4.1, bundled with every
        # supported Python) bounds entity expansion.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise TwimlError(
            f"invalid XML: {exc} (Twilio error 12100: document parse failure)"
        ) from exc
    if _local(root.tag) != "Response":
        raise TwimlError(
            f"the root element is <{_local(root.tag)}>, not <Response> (Twilio error 12100)"
        )
    return [_to_verb(child) for child in root]


def _attrs_text(verb: Verb, names: Iterable[str]) -> str:
    shown = [f"{name}={verb.attrs[name]}" for name in names if name in verb.attrs]
    return f" ({', '.join(shown)})" if shown else ""


def describe_verb(verb: Verb) -> list[str]:
    """Printable lines for a verb as the caller experiences it (nested verbs indented)."""
    name = verb.name
    if name == "Say":
        return [f"Say{_attrs_text(verb, ('voice', 'language', 'loop'))}: {verb.text}"]
    if name == "Play":
        if verb.attr("digits"):
            return [f"Play digits: {verb.attr('digits')}"]
        return [f"Play{_attrs_text(verb, ('loop',))}: {verb.text}"]
    if name == "Pause":
        return [f"Pause {verb.attr('length', '1')}s"]
    if name == "Gather":
        lines = [f"Gather{_attrs_text(verb, _SHOWN_ATTRS['Gather'])}"]
        for child in verb.children:
            nested = (
                describe_verb(child) if child.name in {"Say", "Play", "Pause"} else _unknown(child)
            )
            lines += ["  " + line for line in nested]
        return lines
    if name == "Dial":
        return [f"Dial {_dial_target(verb)}{_attrs_text(verb, _SHOWN_ATTRS['Dial'])}"]
    if name == "Record":
        return [f"Record{_attrs_text(verb, _SHOWN_ATTRS['Record'])}"]
    if name == "Message":
        return _describe_message(message_from_verb(verb))
    if name == "Redirect":
        return [f"Redirect{_attrs_text(verb, ('method',))}: {verb.text}"]
    if name == "Reject":
        return [f"Reject (reason={verb.attr('reason', 'rejected')})"]
    if name == "Hangup":
        return ["Hangup"]
    if name == "Leave":
        return ["Leave (out of the queue)"]
    if name == "Enqueue":
        shown = _attrs_text(verb, ("waitUrl", "action"))
        return [f"Enqueue {verb.text}{shown}"]
    if name in NOT_SIMULATED:
        text = f": {verb.text}" if verb.text else ""
        return [f"{name}{_attrs_text(verb, verb.attrs)}{text} (not simulated, skipped)"]
    return _unknown(verb)


def _unknown(verb: Verb) -> list[str]:
    attrs = "".join(f' {k}="{v}"' for k, v in verb.attrs.items())
    text = f" {verb.text}" if verb.text else ""
    return [f"Unknown verb <{verb.name}{attrs}>{text} (shown, skipped)"]


def _dial_target(verb: Verb) -> str:
    nouns = [
        f"{child.name} {child.text}".strip()
        + (
            f" ({'url' if child.name == 'Queue' else 'whisper'} {child.attr('url')})"
            if child.attr("url")
            else ""
        )
        for child in verb.children
    ]
    if nouns:
        return ", ".join(nouns)
    return verb.text or "(nobody)"


@dataclass
class Message:
    """A ``<Message>`` of a TwiML answer: who it goes to and what it carries."""

    body: str
    to: str | None = None
    from_: str | None = None
    media: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)


def message_from_verb(verb: Verb) -> Message:
    """A :class:`Message` from a ``<Message>`` verb: plain text, or ``<Body>``/``<Media>`` nouns."""
    bodies = [child.text for child in verb.children if child.name == "Body"]
    media = [child.text for child in verb.children if child.name == "Media"]
    body = " ".join(bodies) if bodies else verb.own_text
    return Message(
        body=body,
        to=verb.attrs.get("to"),
        from_=verb.attrs.get("from"),
        media=media,
        attrs=dict(verb.attrs),
    )


def _describe_message(message: Message) -> list[str]:
    pairs = (("to", message.to), ("from", message.from_))
    who = "".join(f" {label}={value}" for label, value in pairs if value)
    lines = [f"Message{who}: {message.body}"]
    lines += [f"  Media: {url}" for url in message.media]
    return lines
