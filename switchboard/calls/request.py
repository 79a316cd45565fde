"""Outbound calls: the request contract and the TwiML it makes (pure).

A queue message (or a `POST /api/calls` body) is a JSON object (README, "Outbound calls"):

    {"id": "reminder-42", "to": "+15558675310", "from": "+15017122661",
     "say": "Your appointment is tomorrow at 9.", "voice": "Polly.Joanna", "language": "en-US",
     "timeout": 30, "machineDetection": "Enable", "record": false}

`parse_call_request` checks it exactly (unknown fields are refused, so a typo such as `"recrod"`
never passes silently) and raises `InvalidCallRequest` naming the field. Nothing here does I/O:
the queue function, the operator route and the command line share it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from switchboard import records
from switchboard.http import DuplicateKey, loads_json
from switchboard.phone import is_e164
from switchboard.twilio.text import is_valid_unicode

#: Twilio's limit on the `Twiml` parameter of Calls create (characters).
TWIML_MAX_CHARS = 4000
#: Longest idempotency key (a table key with room for the prefixes the app adds).
ID_MAX_CHARS = 128
#: Twilio's bounds on `Timeout` (seconds of ringing before no-answer).
TIMEOUT_RANGE = (5, 600)
MACHINE_DETECTION = ("Enable", "DetectMessageEnd")
#: Longest `url` accepted (Twilio refuses longer URLs; 2,048 is the usual browser/server bound).
URL_MAX_CHARS = 2048
#: Longest `voice` (for example `Polly.Joanna-Neural`, `Google.en-US-Chirp3-HD-Aoede`).
VOICE_MAX_CHARS = 64

FIELDS = (
    "id",
    "to",
    "from",
    "say",
    "twiml",
    "url",
    "voice",
    "language",
    "timeout",
    "machineDetection",
    "record",
)
CONTENT_FIELDS = ("say", "twiml", "url")
# Azure Table keys may not contain these; the id is the record's PartitionKey.
_KEY_FORBIDDEN = frozenset("/\\#?")
# BCP-47-ish tags Twilio's <Say language> takes: en-US, fr-FR, cmn-CN, arb, en-IN ...
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2}")
_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: CallLog keys the app derives: its day-index partitions (`idx-YYYYMMDD`) and Twilio
#: SIDs (two letters and 32 hex digits), under which inbound calls are recorded and SID aliases
#: point at records. A caller's id there would collide with them.
_RESERVED_PREFIX = "idx-"
_SID_SHAPE = re.compile(r"[A-Za-z]{2}[0-9a-fA-F]{32}")


class InvalidCallRequest(ValueError):
    """The message breaks the contract; `field` names the offending field (None: the body)."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True)
class CallRequest:
    """A valid outbound call request. `from_` is None when the default sender applies."""

    id: str | None
    to: str
    from_: str | None = None
    say: str | None = None
    twiml: str | None = None
    url: str | None = None
    voice: str | None = None
    language: str | None = None
    timeout: int | None = None
    machine_detection: str | None = None
    record: bool | None = None

    def to_message(self) -> dict[str, Any]:
        """The JSON object of the queue contract (fields left out when unset)."""
        values: dict[str, Any] = {
            "id": self.id,
            "to": self.to,
            "from": self.from_,
            "say": self.say,
            "twiml": self.twiml,
            "url": self.url,
            "voice": self.voice,
            "language": self.language,
            "timeout": self.timeout,
            "machineDetection": self.machine_detection,
            "record": self.record,
        }
        return {key: value for key, value in values.items() if value is not None}

    def payload_hash(self) -> str:
        """SHA-256 of the request without its id: the same id with another body is a conflict.

        Canonical JSON (sorted keys, no spaces) so that field order and formatting in the
        producer's message do not matter; defaults (sender, id) are not part of it.
        """
        content = {k: v for k, v in self.to_message().items() if k != "id"}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def decode_body(body: bytes | str) -> Any:
    """The JSON value of a message body; InvalidCallRequest when it is not UTF-8 JSON."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidCallRequest(None, "the message is not UTF-8 text") from None
    else:
        text = body
    if not text.strip():
        raise InvalidCallRequest(None, "the message is empty: expected a JSON object")
    try:
        return loads_json(text)
    except DuplicateKey as exc:  # which `say` (or `to`) was meant cannot be told
        raise InvalidCallRequest(None, f"the message is not valid JSON ({exc})") from None
    except (ValueError, RecursionError):
        raise InvalidCallRequest(None, "the message is not valid JSON") from None


def validate_id(value: object, *, derived_id_allowed: bool = False) -> str:
    """An idempotency key: 1-128 printable characters, none of `/ \\ # ?` (Table Storage keys),
    not in a namespace the app derives (`idx-`, a Twilio SID's shape), nor, unless
    `derived_id_allowed`, the one of the calls it places by itself
    (`records.DERIVED_ID_PREFIX`)."""
    if not isinstance(value, str):
        raise InvalidCallRequest("id", "must be a string")
    if not value:
        raise InvalidCallRequest("id", "must not be empty")
    if len(value) > ID_MAX_CHARS:
        raise InvalidCallRequest("id", f"must be at most {ID_MAX_CHARS} characters")
    if not value.isprintable():
        raise InvalidCallRequest("id", "must contain printable characters only")
    if any(ch in _KEY_FORBIDDEN for ch in value):
        raise InvalidCallRequest("id", "must not contain / \\ # or ?")
    if value.lower().startswith(_RESERVED_PREFIX) or _SID_SHAPE.fullmatch(value):
        raise InvalidCallRequest(
            "id",
            "ids starting with idx- or shaped like a Twilio SID (2 letters, 32 hex digits) are "
            "reserved for ids the app derives",
        )
    if not derived_id_allowed and value.lower().startswith(records.DERIVED_ID_PREFIX):
        raise InvalidCallRequest(
            "id",
            f"ids starting with {records.DERIVED_ID_PREFIX} are reserved for the calls the app "
            "places by itself",
        )
    return value


def _optional_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidCallRequest(name, "must be a string")
    # Before anything hashes, escapes or stores it: a lone surrogate ("\ud800" in JSON, a
    # non-UTF-8 byte on a command line) can be neither encoded nor sent to Twilio.
    if not is_valid_unicode(value):
        raise InvalidCallRequest(name, "must be valid Unicode text")
    return value


def _number(data: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidCallRequest(name, "is required")
        return None
    if not isinstance(value, str) or not is_e164(value):
        raise InvalidCallRequest(name, "must be an E.164 phone number such as +15558675310")
    return value


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = _optional_str(data, name)
    if value is None:
        return None
    if not value.strip():
        raise InvalidCallRequest(name, "must not be empty")
    if len(value) > TWIML_MAX_CHARS:
        raise InvalidCallRequest(
            name, f"is {len(value)} characters; Twilio's limit is {TWIML_MAX_CHARS}"
        )
    return value


def _https_url(data: Mapping[str, Any]) -> str | None:
    value = _optional_str(data, "url")
    if value is None:
        return None
    if len(value) > URL_MAX_CHARS:
        raise InvalidCallRequest("url", f"must be at most {URL_MAX_CHARS} characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise InvalidCallRequest("url", "is not a valid URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidCallRequest("url", "must be an absolute https:// URL")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InvalidCallRequest("url", "must not contain spaces or control characters")
    return value


def _check_twiml(twiml: str) -> None:
    """The TwiML must be one well-formed XML document whose root is <Response>."""
    # expat ≥ 2.4.1 (Python 3.11 ships 2.5+) refuses entity-expansion bombs, and the text is
    # at most 4,000 characters, so the standard library parser is safe here.
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(twiml)  # noqa: S314 (bounded input, protected expat)
    except ElementTree.ParseError as exc:
        raise InvalidCallRequest("twiml", f"is not well-formed XML ({exc})") from None
    if root.tag != "Response":
        raise InvalidCallRequest("twiml", "must be a TwiML document with <Response> as its root")


def parse_call_request(
    data: object, *, default_id: str | None = None, derived_id_allowed: bool = False
) -> CallRequest:
    """Validate a decoded message against the contract; InvalidCallRequest names the field.

    `default_id` (the queue message id) is used when the message has no `id`; it must itself be
    a valid key (queue message ids are GUIDs). An id in the namespace of the calls the app places
    by itself (`records.DERIVED_ID_PREFIX`) is refused unless `derived_id_allowed`: only the
    queue, where the app's own calls arrive, allows it; an operator's call under such an id
    would be taken for one of them (and left out of conversations).
    """
    if not isinstance(data, dict):
        raise InvalidCallRequest(None, "the message must be a JSON object")
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    if unknown:
        raise InvalidCallRequest(
            unknown[0], "is not a known field (allowed: " + ", ".join(FIELDS) + ")"
        )
    record_id = (
        validate_id(data["id"], derived_id_allowed=derived_id_allowed)
        if data.get("id") is not None
        else default_id
    )
    to = _number(data, "to", required=True)
    assert to is not None  # required=True
    from_ = _number(data, "from", required=False)
    say = _text(data, "say")
    twiml = _text(data, "twiml")
    url = _https_url(data)
    given = [
        name
        for name, value in zip(CONTENT_FIELDS, (say, twiml, url), strict=True)
        if value is not None
    ]
    if not given:
        raise InvalidCallRequest("say", "one of say, twiml or url is required")
    if len(given) > 1:
        raise InvalidCallRequest(given[1], "give exactly one of say, twiml or url")
    if twiml is not None:
        _check_twiml(twiml)
    voice = _optional_str(data, "voice")
    language = _optional_str(data, "language")
    if voice is not None and not (len(voice) <= VOICE_MAX_CHARS and _VOICE.fullmatch(voice)):
        raise InvalidCallRequest("voice", "must be a Twilio voice name such as Polly.Joanna")
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise InvalidCallRequest("language", "must be a language tag such as en-US")
    for name, value in (("voice", voice), ("language", language)):
        # They only shape a <Say> the app builds; with twiml or url they would be ignored.
        if value is not None and say is None:
            raise InvalidCallRequest(name, "applies only with say")
    timeout = data.get("timeout")
    if timeout is not None:
        low, high = TIMEOUT_RANGE
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not low <= timeout <= high:
            raise InvalidCallRequest("timeout", f"must be a whole number from {low} to {high}")
    machine_detection = data.get("machineDetection")
    if machine_detection is not None and machine_detection not in MACHINE_DETECTION:
        raise InvalidCallRequest("machineDetection", "must be Enable or DetectMessageEnd")
    record = data.get("record")
    if record is not None and not isinstance(record, bool):
        raise InvalidCallRequest("record", "must be true or false")
    request = CallRequest(
        id=record_id,
        to=to,
        from_=from_,
        say=say,
        twiml=twiml,
        url=url,
        voice=voice,
        language=language,
        timeout=timeout,
        machine_detection=machine_detection,
        record=record,
    )
    if say is not None:
        built = len(say_twiml(say, voice, language))
        if built > TWIML_MAX_CHARS:
            raise InvalidCallRequest(
                "say",
                f"makes {built} characters of TwiML once escaped; Twilio's limit is "
                f"{TWIML_MAX_CHARS}",
            )
    return request


def parse_call_message(body: bytes | str, *, default_id: str | None = None) -> CallRequest:
    """Decode and validate a queue message's body (see `parse_call_request`): the queue carries
    the app's own calls too, so their derived ids are allowed here."""
    return parse_call_request(decode_body(body), default_id=default_id, derived_id_allowed=True)


def id_of_invalid(body: bytes | str, default_id: str) -> str:
    """The id a rejected queue message is recorded under: its own `id` if valid (the app's own
    derived ids too, as the queue takes them), else `default_id`."""
    try:
        data = decode_body(body)
    except InvalidCallRequest:
        data = _own_id_only(body)
    try:
        if isinstance(data, dict) and data.get("id") is not None:
            return validate_id(data["id"], derived_id_allowed=True)
    except InvalidCallRequest:
        pass
    return default_id


def _own_id_only(body: bytes | str) -> dict[str, Any] | None:
    """`{"id": ...}` of a JSON object refused for naming another key twice, when it names `id`
    once: the record of its refusal is found under the id its sender gave."""
    try:
        text = body.decode("utf-8-sig") if isinstance(body, bytes) else body
        pairs = json.loads(text, object_pairs_hook=lambda found: found)
    except (ValueError, RecursionError):
        return None
    if not isinstance(pairs, list):
        return None
    ids = [value for key, value in pairs if key == "id"]
    return {"id": ids[0]} if len(ids) == 1 else None


def say_twiml(text: str, voice: str | None = None, language: str | None = None) -> str:
    """`<Response><Say ...>text</Say></Response>`, built (and escaped) by twilio's VoiceResponse.

    No XML declaration: it would spend 38 of Twilio's 4,000 characters for nothing.
    """
    from twilio.twiml.voice_response import VoiceResponse  # ~40 ms: only when a call is placed

    response = VoiceResponse()
    attributes = {k: v for k, v in (("voice", voice), ("language", language)) if v}
    response.say(text, **attributes)
    return str(response.to_xml(xml_declaration=False))


def twiml_for(request: CallRequest) -> str | None:
    """The `Twiml` parameter of the call (None when the call fetches its TwiML from `url`)."""
    if request.say is not None:
        return say_twiml(request.say, request.voice, request.language)
    return request.twiml
