"""TwiML as text: what twilio's `str(response)` gives, written straight from the builders' nodes.

Every answer is built with twilio's TwiML builders (`VoiceResponse`, `MessagingResponse`);
`str(response)` then turns the nodes into an ElementTree and serializes that through a UTF-8
text wrapper, which costs a voice webhook more than the rest of its decision (a greeting and a
menu: ~33 µs of ~70 µs). `twiml_text` writes the same characters from the nodes themselves: the
same attribute order (sorted), the same escaping as ElementTree's, `<Pause />` for an empty
element, booleans as `true`/`false`, a dict value as JSON, and the same XML declaration. A
property test holds it equal to `str(response)` on generated documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: What `TwiML.to_xml()` puts first.
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml_text(response: Any, *, declaration: bool = True) -> str:
    """The document `str(response)` gives (`response.to_xml(xml_declaration=False)` without
    `declaration`), for a node of twilio's TwiML builders."""
    parts: list[str] = [DECLARATION] if declaration else []
    _write(response, parts.append)
    return "".join(parts)


def _write(node: Any, out: Callable[[str], None]) -> None:
    # As `TwiML.xml()` builds the element and ElementTree writes it: the value is the text; a
    # string nested in the node is the text when no element precedes it, else the tail of the
    # element before it (the last string wins, as its `el.text`/`tail` assignments do).
    name: str = node.name
    out("<" + name)
    attrs = node.attrs
    for key in sorted(attrs):
        value = attrs[key]
        if value.__class__ is int:
            # A count or a length (a pause, a timeout, digits): its text is digits and at most
            # a sign, nothing to escape, so the escaping's eight scans are skipped.
            out(f' {key}="{value}"')
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out(f' {key}="{_attribute(text)}"')
    text = node.value
    if text and isinstance(text, dict):
        text = json.dumps(text)
    children: list[list[Any]] = []
    for verb in node.verbs:
        if isinstance(verb, str):
            if children:
                children[-1][1] = verb
            else:
                text = verb
        else:
            children.append([verb, None])
    if not text and not children:
        out(" />")
        return
    out(">")
    if text:
        out(_character_data(text))
    for child, tail in children:
        _write(child, out)
        if tail:
            out(_character_data(tail))
    out("</" + name + ">")


def _character_data(value: object) -> str:
    # ElementTree's `_escape_cdata`; like it, refuses what is not text. Each character is
    # looked for before it is replaced: most texts hold none and keep their one string (a
    # loop over a table of them costs a webhook 2 µs more).
    if not isinstance(value, str):
        raise TypeError(f"cannot serialize {value!r} (type {type(value).__name__})")
    text = value
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _attribute(text: str) -> str:
    # ElementTree's `_escape_attrib`: the markup characters, the quote, and the whitespace an
    # XML parser would otherwise normalize away inside an attribute.
    text = _character_data(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#09;")
    return text
