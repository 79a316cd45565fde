"""The Twilio stand-in's data: resources, validation (Twilio's codes), faults and the request log.

Pure Python and thread-safe (one lock): the aiohttp server (``twilio_standin_server``) mutates it
in its loop thread while tests read it from theirs. See ``devkit/twilio_standin.py``.
"""

from __future__ import annotations

import copy
import itertools
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from devkit.localsettings import development_defaults
from devkit.twilio_standin_queues import QueueBook

API_VERSION = "2010-04-01"
API_PREFIX = f"/{API_VERSION}"
#: The development credentials of local.settings.sample.json (obviously fake), used when nothing
#: else is configured: the stand-in and an app started from the sample agree out of the box.
DEFAULT_ACCOUNT_SID = development_defaults()["TWILIO_ACCOUNT_SID"]
DEFAULT_AUTH_TOKEN = development_defaults()["TWILIO_AUTH_TOKEN"]
DEFAULT_APP_URL = "http://localhost:7071"

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_MG_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_AP_SID = re.compile(r"AP[0-9a-fA-F]{32}")
_RELATIVE_DAYS = re.compile(r"([+-])([0-9]{1,4})days")

MESSAGE_TERMINAL = frozenset({"delivered", "undelivered", "failed", "canceled", "read"})
CALL_TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")

#: Twilio's documented test numbers ("magic numbers"), as `To` and `From`.
SMS_TO_MAGIC: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (
        21612,
        "The 'To' phone number: +15005550002, is not currently reachable using the 'From' "
        "phone number via SMS.",
    ),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the "
        "'To' number: +15005550003.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number +15005550009 is not a valid mobile number"),
}
SMS_FROM_MAGIC: dict[str, tuple[int, str]] = {
    "+15005550001": (21212, "The 'From' number +15005550001 is not a valid phone number."),
    "+15005550007": (
        21606,
        "The 'From' phone number provided (+15005550007) is not a valid message-capable "
        "Twilio phone number for this destination/account.",
    ),
    "+15005550008": (
        21611,
        "This 'From' number has exceeded the maximum number of queued messages",
    ),
}
CALL_TO_MAGIC: dict[str, tuple[int, str]] = {
    "+15005550001": (21217, "Phone number does not appear to be valid"),
    "+15005550002": (21214, "'To' phone number cannot be reached"),
    "+15005550003": (
        21215,
        "Account not authorized to call +15005550003. Perhaps you need to enable some "
        "international permissions",
    ),
}
CALL_FROM_MAGIC: dict[str, tuple[int, str]] = {
    "+15005550001": (21212, "The 'From' number +15005550001 is not a valid phone number."),
    "+15005550007": (
        21210,
        "The source phone number provided, +15005550007, is not yet verified for your account.",
    ),
}
#: Carrier errors of failed/undelivered messages (Twilio's 300xx family).
MESSAGE_ERRORS: dict[int, str] = {
    30001: "Queue overflow",
    30002: "Account suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    # Senders not registered, or texts filtered: what a US business meets first (the
    # app counts them per line and tells the owner once).
    30024: "Numeric Sender ID Not Provisioned on Carrier",
    30032: "Toll-Free Number Has Not Been Verified",
    30034: "US A2P 10DLC - Message from an Unregistered Number",
    # SMS Pumping Protection (a Messaging Service's fraud check): the message is created, then
    # fails with one of these (the destination is blocked for a while).
    30450: "Message delivery blocked",
    30453: "Message couldn't be delivered",
}
FAULT_MESSAGES: dict[int, tuple[int, str]] = {
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    502: (20502, "Bad Gateway"),
    503: (20503, "Service Unavailable"),
    504: (20504, "Gateway Timeout"),
}


def now_utc() -> datetime:
    """The current time, UTC, whole seconds (Twilio's resolution)."""
    return datetime.now(UTC).replace(microsecond=0)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format: ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    if moment is None:
        return None
    return format_datetime(moment.astimezone(UTC))


def new_sid(prefix: str) -> str:
    """A unique SID: two letters and 32 hexadecimal digits."""
    return prefix + uuid.uuid4().hex


def is_e164(value: str) -> bool:
    """E.164 as Twilio writes it: ``+`` then up to 15 digits."""
    return bool(_E164.fullmatch(value))


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host."""
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def formatted_number(number: str) -> str:
    """``(415) 867-5309`` for NANP numbers, the number itself otherwise."""
    if re.fullmatch(r"\+1\d{10}", number):
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


class TwilioApiError(Exception):
    """An error answered with Twilio's JSON: ``{code, message, more_info, status}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """Twilio's error document."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def invalid_parameter(message: str) -> TwilioApiError:
    """400 with Twilio's generic 20001 (Invalid parameter)."""
    return TwilioApiError(400, 20001, message)


# --------------------------------------------------------------------------------------------
# Recorded traffic
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request the stand-in answered (credentials are reduced to the user name)."""

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    identity: str | None
    authenticated: bool
    time: float
    status: int
    duration_ms: float
    response: dict[str, Any] | None = None
    fault: str | None = None
    #: The request's `Range` header (a recording's audio asked for in parts), if any.
    range: str | None = None

    @property
    def params(self) -> dict[str, list[str]]:
        """Query and form parameters together."""
        merged = {k: list(v) for k, v in self.query.items()}
        for key, values in self.form.items():
            merged.setdefault(key, []).extend(values)
        return merged

    def param(self, name: str) -> str | None:
        """The first value of a query or form parameter."""
        values = self.form.get(name) or self.query.get(name)
        return values[0] if values else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class CallbackDelivery:
    """One request the stand-in sent to the app: a status callback or a TwiML fetch."""

    kind: str  # "message-status" | "call-status" | "twiml"
    sid: str
    url: str
    method: str
    params: dict[str, str]
    signature: str
    idempotency_token: str
    time: float
    status: int | None
    error: str | None = None
    response_body: str | None = None
    content_type: str | None = None
    duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Faults and outcomes
# --------------------------------------------------------------------------------------------


@dataclass
class FaultRule:
    """Answer matching REST requests with an error (or just late).

    `to` matches the request's `To` parameter, `resource` the collection (``Messages``,
    ``Calls``, ``IncomingPhoneNumbers``, ``Records``...), `method` the HTTP method; None
    matches anything. `times`: how many requests fail before the rule is used up (None:
    always). `status` None means "no error" (use with `delay_ms` to provoke client timeouts).
    """

    status: int | None = 503
    code: int | None = None
    message: str | None = None
    to: str | None = None
    resource: str | None = None
    method: str | None = None
    times: int | None = None
    delay_ms: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    hits: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        """From the JSON of ``POST /_standin/faults`` (unknown keys rejected)."""
        allowed = {"status", "code", "message", "to", "resource", "method", "times", "delay_ms"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        rule = cls(**{k: data[k] for k in allowed if k in data})
        if rule.status is not None and not 400 <= int(rule.status) <= 599:
            raise ValueError("fault status must be an HTTP error status (400-599) or null")
        return rule

    def matches(self, method: str, resource: str | None, to: str | None) -> bool:
        """Whether a request matches (and the rule is not used up)."""
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.resource and self.resource != resource:
            return False
        return not (self.to and self.to != to)

    def error(self) -> TwilioApiError | None:
        """The error this rule answers, if any."""
        if self.status is None:
            return None
        default_code, default_message = FAULT_MESSAGES.get(
            self.status, (20000 + self.status if self.status < 600 else 20500, "Error")
        )
        return TwilioApiError(
            self.status, self.code or default_code, self.message or default_message
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class MessageOutcome:
    """How messages to a number end: delivered (default), sent, undelivered or failed."""

    status: str = "delivered"
    error_code: int | None = None

    def __post_init__(self) -> None:
        if self.status not in {"delivered", "sent", "undelivered", "failed"}:
            raise ValueError("message outcome must be delivered, sent, undelivered or failed")
        if self.status in {"undelivered", "failed"} and self.error_code is None:
            self.error_code = 30003 if self.status == "undelivered" else 30008


@dataclass
class CallOutcome:
    """How calls to a number end: ``completed`` (default), ``busy``, ``no-answer``, ``failed``.

    `duration`: seconds reported for an answered call; `answered_by`: reported when machine
    detection is on (default ``human``); `hold`: an answered call stays ``in-progress`` until
    updated (``Status=completed``) or the stand-in stops; `answer`: ``auto`` (answered after the
    callback delay) or ``manual`` (it rings, for its `Timeout`, until someone answers it with
    ``POST /_standin/calls/{sid}/answer`` and plays its TwiML, as the simulator's
    `AnsweredCall` does; then ``.../hangup`` ends it).
    """

    status: str = "completed"
    duration: int = 5
    answered_by: str | None = None
    hold: bool = False
    answer: str = "auto"

    def __post_init__(self) -> None:
        if self.status not in {"completed", "busy", "no-answer", "failed"}:
            raise ValueError("call outcome must be completed, busy, no-answer or failed")
        if self.answer not in {"auto", "manual"}:
            raise ValueError("call answer must be auto or manual")


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


def _num_segments(body: str) -> int:
    if not body:
        return 1
    gsm = all(ord(c) < 128 for c in body)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


@dataclass
class Message:
    """A Message resource of the stand-in."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    media_urls: list[str]
    messaging_service_sid: str | None
    status_callback: str | None
    status: str = "queued"
    error_code: int | None = None
    error_message: str | None = None
    date_created: datetime = field(default_factory=now_utc)
    date_updated: datetime = field(default_factory=now_utc)
    date_sent: datetime | None = None
    sequence: int = 0

    def to_json(self) -> dict[str, Any]:
        """Twilio's JSON for the resource."""
        base = f"{API_PREFIX}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(len(self.media_urls)),
            "num_segments": str(_num_segments(self.body)),
            "price": None if self.status in {"queued", "accepted"} else "-0.00790",
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": self.to,
            "uri": f"{base}.json",
        }


_RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")


@dataclass
class Recording:
    """A Recording resource of the stand-in: its audio is generated (`twilio_standin_media`)."""

    sid: str
    account_sid: str
    call_sid: str | None
    duration: int
    status: str = "completed"
    channels: int = 1
    source: str = "RecordVerb"
    date_created: datetime = field(default_factory=now_utc)
    #: Where its audio is when the account keeps recordings in External Storage (another host);
    #: None: on api.twilio.com, as Twilio keeps them by default.
    external_media_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Twilio's JSON for the resource (``media_url`` on api.twilio.com, as Twilio gives it,
        or the External Storage URL)."""
        base = f"{API_PREFIX}/Accounts/{self.account_sid}/Recordings/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": self.call_sid,
            "conference_sid": None,
            "channels": self.channels,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "start_time": rfc2822(self.date_created),
            "duration": str(self.duration),
            "encryption_details": None,
            "error_code": None,
            "media_url": self.external_media_url or f"https://api.twilio.com{base}",
            "price": "-0.00250",
            "price_unit": "USD",
            "sid": self.sid,
            "source": self.source,
            "status": self.status,
            "subresource_uris": {
                "add_on_results": f"{base}/AddOnResults.json",
                "transcriptions": f"{base}/Transcriptions.json",
            },
            "uri": f"{base}.json",
        }


@dataclass
class Call:
    """A Call resource of the stand-in."""

    sid: str
    account_sid: str
    to: str
    from_: str
    twiml: str | None
    url: str | None
    method: str
    application_sid: str | None
    status_callback: str | None
    status_callback_method: str
    status_callback_events: list[str]
    machine_detection: str | None
    timeout: int
    record: bool
    phone_number_sid: str | None
    status: str = "queued"
    answered_by: str | None = None
    duration: int | None = None
    date_created: datetime = field(default_factory=now_utc)
    date_updated: datetime = field(default_factory=now_utc)
    start_time: datetime | None = None
    end_time: datetime | None = None
    sequence: int = 0
    redirects: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Twilio's JSON for the resource."""
        base = f"{API_PREFIX}/Accounts/{self.account_sid}/Calls/{self.sid}"
        subresources = [
            "notifications",
            "recordings",
            "payments",
            "events",
            "siprec",
            "streams",
            "transcriptions",
            "user_defined_message_subscriptions",
            "user_defined_messages",
        ]
        camel = {
            "user_defined_message_subscriptions": "UserDefinedMessageSubscriptions",
            "user_defined_messages": "UserDefinedMessages",
        }
        return {
            "account_sid": self.account_sid,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "direction": "outbound-api",
            "duration": None if self.duration is None else str(self.duration),
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": formatted_number(self.from_),
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": self.phone_number_sid,
            "price": "-0.01400" if self.status == "completed" and self.duration else None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                name: f"{base}/{camel.get(name, name.capitalize())}.json" for name in subresources
            },
            "to": self.to,
            "to_formatted": formatted_number(self.to),
            "trunk_sid": None,
            "uri": f"{base}.json",
        }


def default_numbers(app_url: str = DEFAULT_APP_URL) -> list[dict[str, Any]]:
    """The seeded IncomingPhoneNumbers: a main line wired to the app (local.settings.sample.json's
    TWILIO_FROM_NUMBER) and a second number of the account with no webhooks.

    The second is `+15005550010`, not Twilio's magic test number `+15005550006`: tests and the
    sample settings forward calls and texts to `+15005550006` as an outside number, and the app
    refuses to forward to one of the account's own numbers (a loop)."""
    app = app_url.rstrip("/")
    return [
        {
            "phone_number": "+15017122661",
            "friendly_name": "Switchboard main line",
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "voice_url": f"{app}/api/voice/incoming",
            "sms_url": f"{app}/api/sms/incoming",
            "status_callback": f"{app}/api/status/call",
        },
        {
            "phone_number": "+15005550010",
            "friendly_name": "Second line",
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "voice_url": "",
            "sms_url": "",
            "status_callback": "",
        },
    ]


def number_json(account_sid: str, spec: Mapping[str, Any], created: datetime) -> dict[str, Any]:
    """Twilio's IncomingPhoneNumber JSON from a seed entry (``phone_number`` required)."""
    phone = str(spec["phone_number"])
    sid = str(spec.get("sid") or "PN" + uuid.uuid5(uuid.NAMESPACE_URL, account_sid + phone).hex)
    caps = {"voice": True, "sms": True, "mms": False, "fax": False}
    caps.update({str(k): bool(v) for k, v in dict(spec.get("capabilities") or {}).items()})
    return {
        "account_sid": account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "bundle_sid": None,
        "capabilities": caps,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(created),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": str(spec.get("friendly_name") or formatted_number(phone)),
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": phone,
        "sid": sid,
        "sms_application_sid": "",
        "sms_fallback_method": str(spec.get("sms_fallback_method") or "POST"),
        "sms_fallback_url": str(spec.get("sms_fallback_url") or ""),
        "sms_method": str(spec.get("sms_method") or "POST"),
        "sms_url": str(spec.get("sms_url") or ""),
        "status": "in-use",
        "status_callback": str(spec.get("status_callback") or ""),
        "status_callback_method": str(spec.get("status_callback_method") or "POST"),
        "trunk_sid": None,
        "type": "local",
        "uri": f"{API_PREFIX}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json",
        "voice_application_sid": "",
        "voice_caller_id_lookup": False,
        "voice_fallback_method": str(spec.get("voice_fallback_method") or "POST"),
        "voice_fallback_url": str(spec.get("voice_fallback_url") or ""),
        "voice_method": str(spec.get("voice_method") or "POST"),
        "voice_receive_mode": "voice",
        "voice_url": str(spec.get("voice_url") or ""),
    }


#: IncomingPhoneNumbers update parameters and the JSON fields they set.
NUMBER_URL_FIELDS = {
    "VoiceUrl": "voice_url",
    "VoiceFallbackUrl": "voice_fallback_url",
    "SmsUrl": "sms_url",
    "SmsFallbackUrl": "sms_fallback_url",
    "StatusCallback": "status_callback",
}
NUMBER_METHOD_FIELDS = {
    "VoiceMethod": "voice_method",
    "VoiceFallbackMethod": "voice_fallback_method",
    "SmsMethod": "sms_method",
    "SmsFallbackMethod": "sms_fallback_method",
    "StatusCallbackMethod": "status_callback_method",
}

#: Usage categories: description, count unit, usage unit, unit price (USD).
USAGE_CATEGORIES: dict[str, tuple[str, str, str, float]] = {
    "calls": ("Voice Minutes", "calls", "minutes", 0.0),
    "calls-inbound": ("Inbound Voice Minutes", "calls", "minutes", 0.0085),
    "calls-outbound": ("Outbound Voice Minutes", "calls", "minutes", 0.014),
    "phonenumbers": ("Phone Numbers", "phone-numbers", "phone-numbers", 1.15 / 30),
    "sms": ("SMS Messages", "messages", "messages", 0.0),
    "sms-inbound": ("Inbound SMS Messages", "messages", "messages", 0.0079),
    "sms-outbound": ("Outbound SMS Messages", "messages", "messages", 0.0079),
    "totalprice": ("Total Price", "", "usd", 0.0),
}
USAGE_SEED_DAYS = 90


def seeded_usage(today: date, numbers: int) -> dict[date, dict[str, tuple[float, float]]]:
    """Deterministic daily usage for the last 90 days: {day: {category: (count, usage)}}."""
    days: dict[date, dict[str, tuple[float, float]]] = {}
    for back in range(USAGE_SEED_DAYS):
        day = today - timedelta(days=back)
        n = day.toordinal()
        sms_out, sms_in = 10 + n % 5, 4 + n % 3
        calls_out, calls_in = 3 + n % 4, 2 + n % 3
        days[day] = {
            "sms-outbound": (sms_out, sms_out),
            "sms-inbound": (sms_in, sms_in),
            "calls-outbound": (calls_out, calls_out * 2),
            "calls-inbound": (calls_in, calls_in * 3),
            "phonenumbers": (numbers, numbers),
        }
    return days


def parse_usage_date(raw: str, today: date, name: str) -> date:
    """``YYYY-MM-DD`` or an offset from today (``-30days``, ``+30days``)."""
    match = _RELATIVE_DAYS.fullmatch(raw.strip())
    if match:
        delta = timedelta(days=int(match.group(2)))
        return today + delta if match.group(1) == "+" else today - delta
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise invalid_parameter(f"{name} must be a date in the format YYYY-MM-DD") from None


def parse_date_filter(raw: str, name: str) -> tuple[datetime, bool]:
    """A DateSent/StartTime filter value: (moment in UTC, whether it names a whole day)."""
    value = raw.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC), True
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_parameter(f"{name} must be a date (YYYY-MM-DD) or an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment, moment.time() == datetime.min.time()


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


@dataclass
class StandinConfig:
    """Everything configurable; safe to change at runtime (under the store's lock)."""

    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    api_keys: dict[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    fault_statuses: tuple[int, ...] = (429, 500, 503)
    seed: int | None = None
    callback_delay_ms: float = 20.0
    callback_timeout_s: float = 15.0
    callback_duplicates: int = 0
    callback_shuffle: bool = False
    app_url: str = DEFAULT_APP_URL
    #: Where requests to the app go: a public origin (`PUBLIC_BASE_URL`) -> the origins that
    #: serve it, taken in turn as a load balancer would (signed over the public URL).
    routes: dict[str, list[str]] = field(default_factory=dict)
    #: Recorded requests and deliveries kept (the oldest are dropped beyond this).
    max_records: int = 100_000


class StandinStore:
    """The stand-in's state: resources, outcomes, faults, recorded requests and callbacks."""

    def __init__(
        self,
        config: StandinConfig,
        numbers: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.config = config
        self._counter = itertools.count(1)
        self._rng = random.Random(config.seed)
        self.messages: dict[str, Message] = {}
        self.calls: dict[str, Call] = {}
        self.recordings: dict[str, Recording] = {}
        #: Requests to the External Storage host of recordings (`record_external`).
        self.external_requests: list[dict[str, Any]] = []
        self.number_specs = [dict(n) for n in (numbers or default_numbers(config.app_url))]
        self.numbers: list[dict[str, Any]] = []
        self.message_outcomes: dict[str, MessageOutcome] = {}
        #: Outcomes by sender (`From`, or the Messaging Service SID): how Twilio answers for a
        #: sender that is not registered (30034, 30032) whoever the recipient.
        self.sender_outcomes: dict[str, MessageOutcome] = {}
        self.call_outcomes: dict[str, CallOutcome] = {}
        self.rules: list[FaultRule] = []
        self.recorded: deque[RecordedRequest] = deque(maxlen=config.max_records)
        self.deliveries: deque[CallbackDelivery] = deque(maxlen=config.max_records)
        self.live_usage: dict[date, dict[str, tuple[float, float]]] = {}
        #: Call queues and the calls in them (`devkit.twilio_standin_queues`).
        self.queues = QueueBook(config.account_sid)
        self._route_turns = itertools.count()
        self._rebuild_numbers()

    # -- configuration -------------------------------------------------------------------

    def _rebuild_numbers(self) -> None:
        created = now_utc()
        self.numbers = [number_json(self.config.account_sid, s, created) for s in self.number_specs]

    def set_numbers(self, numbers: Sequence[Mapping[str, Any]]) -> None:
        """Replace the account's IncomingPhoneNumbers (each needs ``phone_number``)."""
        with self.lock:
            for spec in numbers:
                if not is_e164(str(spec.get("phone_number", ""))):
                    raise ValueError("each number needs an E.164 phone_number")
            self.number_specs = [dict(n) for n in numbers]
            self._rebuild_numbers()

    def configure_faults(
        self,
        *,
        fail_rate: float | None = None,
        statuses: Iterable[int] | None = None,
        latency_ms: float | None = None,
        seed: int | None = None,
        rules: Iterable[FaultRule] | None = None,
        clear_rules: bool = False,
    ) -> None:
        """Change the global fault rate, its statuses, latency, seed, and add rules."""
        with self.lock:
            if fail_rate is not None:
                if not 0.0 <= fail_rate <= 1.0:
                    raise ValueError("fail_rate must be between 0 and 1")
                self.config.fail_rate = float(fail_rate)
            if statuses is not None:
                values = tuple(int(s) for s in statuses)
                if not values or any(not 400 <= s <= 599 for s in values):
                    raise ValueError("fault statuses must be HTTP error statuses")
                self.config.fault_statuses = values
            if latency_ms is not None:
                if latency_ms < 0:
                    raise ValueError("latency_ms must not be negative")
                self.config.latency_ms = float(latency_ms)
            if seed is not None:
                self.config.seed = seed
                self._rng = random.Random(seed)
            if clear_rules:
                self.rules.clear()
            self.rules.extend(rules or ())

    def clear_faults(self) -> None:
        """No rate, no rules, no latency."""
        with self.lock:
            self.config.fail_rate = 0.0
            self.config.latency_ms = 0.0
            self.rules.clear()

    def faults_json(self) -> dict[str, Any]:
        """The fault configuration as JSON."""
        with self.lock:
            return {
                "fail_rate": self.config.fail_rate,
                "statuses": list(self.config.fault_statuses),
                "latency_ms": self.config.latency_ms,
                "seed": self.config.seed,
                "rules": [r.to_json() for r in self.rules],
            }

    def pick_fault(
        self, method: str, resource: str | None, to: str | None
    ) -> tuple[TwilioApiError | None, float, str | None]:
        """(error to answer or None, extra delay in ms, description) for one REST request."""
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, resource, to):
                    rule.hits += 1
                    return rule.error(), float(rule.delay_ms), f"rule {rule.id}"
            if self.config.fail_rate > 0 and self._rng.random() < self.config.fail_rate:
                status = self._rng.choice(self.config.fault_statuses)
                return FaultRule(status=status).error(), 0.0, "fail-rate"
            return None, 0.0, None

    def set_message_outcome(self, to: str, outcome: MessageOutcome | None) -> None:
        """How messages to `to` end (None: back to delivered)."""
        with self.lock:
            if outcome is None:
                self.message_outcomes.pop(to, None)
            else:
                self.message_outcomes[to] = outcome

    def set_sender_outcome(self, sender: str, outcome: MessageOutcome | None) -> None:
        """How messages from `sender` end unless their recipient has its own outcome (None:
        back to delivered)."""
        with self.lock:
            if outcome is None:
                self.sender_outcomes.pop(sender, None)
            else:
                self.sender_outcomes[sender] = outcome

    def set_call_outcome(self, to: str, outcome: CallOutcome | None) -> None:
        """How calls to `to` end (None: back to completed)."""
        with self.lock:
            if outcome is None:
                self.call_outcomes.pop(to, None)
            else:
                self.call_outcomes[to] = outcome

    def outcomes_json(self) -> dict[str, Any]:
        """Configured outcomes as JSON."""
        with self.lock:
            return {
                "messages": {k: asdict(v) for k, v in self.message_outcomes.items()},
                "senders": {k: asdict(v) for k, v in self.sender_outcomes.items()},
                "calls": {k: asdict(v) for k, v in self.call_outcomes.items()},
            }

    # -- authentication --------------------------------------------------------------------

    def authenticate(self, username: str | None, password: str | None) -> bool:
        """AccountSid:AuthToken, or an API key SID and its secret."""
        if username is None or password is None:
            return False
        with self.lock:
            if username == self.config.account_sid:
                return password == self.config.auth_token
            secret = self.config.api_keys.get(username)
            return secret is not None and password == secret

    # -- recording ---------------------------------------------------------------------------

    def record(self, entry: RecordedRequest) -> None:
        """Append a REST request to the log."""
        with self.lock:
            self.recorded.append(entry)

    def record_delivery(self, entry: CallbackDelivery) -> None:
        """Append a callback or TwiML fetch to the log."""
        with self.lock:
            self.deliveries.append(entry)

    def requests(
        self,
        method: str | None = None,
        path: str | None = None,
        resource: str | None = None,
    ) -> list[RecordedRequest]:
        """Recorded REST requests, oldest first; `path` is a substring, `resource` the
        collection (``Messages``, ``Calls``...)."""
        with self.lock:
            entries = list(self.recorded)
        return [
            e
            for e in entries
            if (method is None or e.method == method.upper())
            and (path is None or path in e.path)
            and (resource is None or resource_of(e.path) == resource)
        ]

    def callbacks(self, sid: str | None = None, kind: str | None = None) -> list[CallbackDelivery]:
        """Recorded deliveries to the app, in the order they were sent."""
        with self.lock:
            entries = list(self.deliveries)
        return [
            e for e in entries if (sid is None or e.sid == sid) and (kind is None or e.kind == kind)
        ]

    def clear_requests(self) -> None:
        """Forget recorded REST requests."""
        with self.lock:
            self.recorded.clear()

    def clear_callbacks(self) -> None:
        """Forget recorded deliveries."""
        with self.lock:
            self.deliveries.clear()

    def reset(self) -> None:
        """Back to the initial state (resources, outcomes, faults, logs); credentials kept."""
        with self.lock:
            self.messages.clear()
            self.calls.clear()
            self.recordings.clear()
            self.external_requests.clear()
            self.message_outcomes.clear()
            self.sender_outcomes.clear()
            self.call_outcomes.clear()
            self.rules.clear()
            self.recorded.clear()
            self.deliveries.clear()
            self.live_usage.clear()
            self.queues.reset()
            self.config.fail_rate = 0.0
            self.config.latency_ms = 0.0
            self._rng = random.Random(self.config.seed)

    def route(self, url: str) -> str:
        """Where a request to the app's public `url` really goes (`StandinConfig.routes`)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self.lock:
            targets = self.config.routes.get(origin)
            if not targets:
                return url
            target = targets[next(self._route_turns) % len(targets)]
        return target.rstrip("/") + url[len(origin) :]

    # -- messages ------------------------------------------------------------------------------

    def create_message(self, form: Mapping[str, list[str]]) -> Message:
        """Validate like Twilio and create a queued Message (raises TwilioApiError)."""
        to = _first(form, "To")
        from_ = _first(form, "From")
        service = _first(form, "MessagingServiceSid")
        body = _first(form, "Body", strip=False)
        media = [m for m in form.get("MediaUrl", []) if m.strip()]
        content_sid = _first(form, "ContentSid")
        callback = _first(form, "StatusCallback")
        if not to:
            raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
        if not body and not media and not content_sid:
            raise TwilioApiError(400, 21602, "Message body is required.")
        if service and not _MG_SID.fullmatch(service):
            raise TwilioApiError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        to_number = to.removeprefix("whatsapp:")
        if not is_e164(to_number):
            raise TwilioApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ and not _valid_sender(from_):
            raise TwilioApiError(
                400,
                21212,
                f"The 'From' number {from_} is not a valid phone number, shortcode, "
                "or alphanumeric sender ID.",
            )
        if from_ and from_ == to:
            raise TwilioApiError(400, 21266, f"'To' and 'From' number cannot be the same: {to}")
        if len(body) > 1600:
            raise TwilioApiError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media) > 10:
            raise TwilioApiError(400, 21623, "Too many media URLs: at most 10 are allowed.")
        if any(not is_http_url(m) for m in media):
            raise TwilioApiError(400, 21620, "Invalid media URL(s).")
        if callback and not is_http_url(callback):
            raise TwilioApiError(400, 21609, f"Invalid StatusCallback url: {callback}")
        if from_ in SMS_FROM_MAGIC:
            raise TwilioApiError(400, *SMS_FROM_MAGIC[from_])
        if to_number in SMS_TO_MAGIC:
            raise TwilioApiError(400, *SMS_TO_MAGIC[to_number])
        with self.lock:
            message = Message(
                sid=new_sid("SM"),
                account_sid=self.config.account_sid,
                to=to,
                from_=from_ or None,
                body=body,
                media_urls=media,
                messaging_service_sid=service or None,
                status_callback=callback or None,
                sequence=next(self._counter),
            )
            self.messages[message.sid] = message
            self._count_usage("sms-outbound", 1, _num_segments(body))
            return message

    def message_outcome(self, to: str, sender: str | None = None) -> MessageOutcome:
        """The configured outcome for `to`, else for its `sender` (delivered by default)."""
        with self.lock:
            found = self.message_outcomes.get(to)
            if found is None and sender:
                found = self.sender_outcomes.get(sender)
            return copy.copy(found or MessageOutcome())

    def advance_message(self, sid: str, status: str, error_code: int | None = None) -> Message:
        """Move a message to `status` (sets date_sent, the sender, the error)."""
        with self.lock:
            message = self.messages[sid]
            message.status = status
            message.date_updated = now_utc()
            if status == "sent" and message.date_sent is None:
                message.date_sent = message.date_updated
            if message.from_ is None and status != "queued":
                message.from_ = self._service_sender()
            if error_code is not None:
                message.error_code = error_code
                message.error_message = MESSAGE_ERRORS.get(error_code, "Unknown error")
            return copy.copy(message)

    def _service_sender(self) -> str:
        for number in self.numbers:
            if number["capabilities"].get("sms"):
                return str(number["phone_number"])
        return "+15017122661"

    def get_message(self, sid: str) -> Message | None:
        """A copy of a message."""
        with self.lock:
            message = self.messages.get(sid)
            return copy.copy(message) if message else None

    def list_messages(self, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """Messages matching Twilio's filters, newest first."""
        to, from_ = _first(query, "To"), _first(query, "From")
        filters = []
        for name in ("DateSent", "DateSent<", "DateSent>"):
            raw = _first(query, name)
            if raw:
                filters.append((name, *parse_date_filter(raw, name)))
        with self.lock:
            messages = sorted(self.messages.values(), key=lambda m: m.sequence, reverse=True)
            result = []
            for m in messages:
                if (to and m.to != to) or (from_ and m.from_ != from_):
                    continue
                if filters and not all(_date_matches(m.date_sent, *f) for f in filters):
                    continue
                result.append(m.to_json())
            return result

    # -- calls ---------------------------------------------------------------------------------

    def create_call(self, form: Mapping[str, list[str]]) -> Call:
        """Validate like Twilio and create a queued Call (raises TwilioApiError)."""
        to = _first(form, "To")
        from_ = _first(form, "From")
        twiml = _first(form, "Twiml", strip=False)
        url = _first(form, "Url")
        app_sid = _first(form, "ApplicationSid")
        callback = _first(form, "StatusCallback")
        if not to:
            raise TwilioApiError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise TwilioApiError(400, 21213, "No 'From' number is specified")
        given = [
            name for name, v in (("Twiml", twiml), ("Url", url), ("ApplicationSid", app_sid)) if v
        ]
        if not given:
            raise TwilioApiError(400, 21205, "Url parameter is required.")
        if len(given) > 1:
            raise TwilioApiError(
                400,
                21205,
                f"Provide exactly one of Twiml, Url and ApplicationSid (got {', '.join(given)}).",
            )
        if url and not is_http_url(url):
            raise TwilioApiError(400, 21205, f"Url is not a valid URL: {url}")
        if app_sid and not _AP_SID.fullmatch(app_sid):
            raise TwilioApiError(400, 21218, f"Invalid ApplicationSid: {app_sid}")
        if len(twiml) > 4000:
            raise invalid_parameter("Twiml must be at most 4000 characters")
        if not (is_e164(to) or to.startswith(("client:", "sip:"))):
            raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not (is_e164(from_) or from_.startswith("client:")):
            raise TwilioApiError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if callback and not is_http_url(callback):
            raise TwilioApiError(400, 21609, f"Invalid StatusCallback url: {callback}")
        method = (_first(form, "Method") or "POST").upper()
        callback_method = (_first(form, "StatusCallbackMethod") or "POST").upper()
        if method not in {"GET", "POST"} or callback_method not in {"GET", "POST"}:
            raise invalid_parameter("Method and StatusCallbackMethod must be GET or POST")
        detection = _first(form, "MachineDetection")
        if detection and detection not in {"Enable", "DetectMessageEnd"}:
            raise invalid_parameter("MachineDetection must be Enable or DetectMessageEnd")
        timeout = _int_param(form, "Timeout", 60, 1, 600)
        record = (_first(form, "Record") or "false").lower() == "true"
        events = [
            e.strip().lower() for e in form.get("StatusCallbackEvent", []) for e in e.split(" ")
        ]
        events = [e for e in events if e] or ["completed"]
        unknown = [e for e in events if e not in CALL_EVENTS]
        if unknown:
            raise invalid_parameter(f"Invalid StatusCallbackEvent: {', '.join(unknown)}")
        if from_ in CALL_FROM_MAGIC:
            raise TwilioApiError(400, *CALL_FROM_MAGIC[from_])
        if to in CALL_TO_MAGIC:
            raise TwilioApiError(400, *CALL_TO_MAGIC[to])
        with self.lock:
            number_sid = next((n["sid"] for n in self.numbers if n["phone_number"] == from_), None)
            call = Call(
                sid=new_sid("CA"),
                account_sid=self.config.account_sid,
                to=to,
                from_=from_,
                twiml=twiml or None,
                url=url or None,
                method=method,
                application_sid=app_sid or None,
                status_callback=callback or None,
                status_callback_method=callback_method,
                status_callback_events=events,
                machine_detection=detection or None,
                timeout=timeout,
                record=record,
                phone_number_sid=number_sid,
                sequence=next(self._counter),
            )
            self.calls[call.sid] = call
            return call

    def call_outcome(self, to: str) -> CallOutcome:
        """The configured outcome for `to` (completed by default)."""
        with self.lock:
            return copy.copy(self.call_outcomes.get(to) or CallOutcome())

    def advance_call(
        self, sid: str, status: str, *, answered_by: str | None = None, duration: int | None = None
    ) -> Call | None:
        """Move a call to `status` unless it already ended; returns a copy or None."""
        with self.lock:
            call = self.calls[sid]
            if call.status in CALL_TERMINAL:
                return None
            now = now_utc()
            call.status = status
            call.date_updated = now
            if status == "in-progress":
                call.start_time = now
                call.answered_by = answered_by
            if status in CALL_TERMINAL:
                call.end_time = now
                if call.start_time is not None:
                    call.duration = (
                        duration
                        if duration is not None
                        else max(0, int((now - call.start_time).total_seconds()))
                    )
                    self._count_usage("calls-outbound", 1, -(-call.duration // 60))
                else:
                    call.duration = 0
            return copy.copy(call)

    def update_call(self, sid: str, form: Mapping[str, list[str]]) -> tuple[Call, str | None]:
        """Apply ``POST Calls/{sid}.json``: (call, what changed: "ended", "redirect" or None)."""
        status = (_first(form, "Status") or "").lower()
        twiml = _first(form, "Twiml", strip=False)
        url = _first(form, "Url")
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                raise not_found(f"{API_PREFIX}/Accounts/{self.config.account_sid}/Calls/{sid}.json")
            if status and status not in {"canceled", "completed"}:
                raise invalid_parameter("Status must be canceled or completed")
            callback = _first(form, "StatusCallback")
            if callback:
                if not is_http_url(callback):
                    raise TwilioApiError(400, 21609, f"Invalid StatusCallback url: {callback}")
                call.status_callback = callback
            if call.status in CALL_TERMINAL:
                raise TwilioApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
            if status == "canceled":
                if call.status in {"queued", "initiated", "ringing"}:
                    self.advance_call(sid, "canceled")
                    return copy.copy(call), "ended"
                return copy.copy(call), None
            if status == "completed":
                self.advance_call(sid, "completed")
                return copy.copy(call), "ended"
            if twiml or url:
                if url and not is_http_url(url):
                    raise TwilioApiError(400, 21205, f"Url is not a valid URL: {url}")
                if call.status != "in-progress":
                    raise TwilioApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
                call.redirects.append({"twiml": twiml, "url": url})
                if url:
                    call.url, call.twiml = url, None
                    call.method = (_first(form, "Method") or "POST").upper()
                else:
                    call.twiml, call.url = twiml, None
                call.date_updated = now_utc()
                return copy.copy(call), "redirect"
            return copy.copy(call), None

    def get_call(self, sid: str) -> Call | None:
        """A copy of a call."""
        with self.lock:
            call = self.calls.get(sid)
            return copy.copy(call) if call else None

    def list_calls(self, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """Calls matching To/From/Status and StartTime (``StartTime``, ``StartTime<``,
        ``StartTime>``: a day or a time, like DateSent), newest first.

        A call that has not started (queued, or never answered here) matches no StartTime filter.
        """
        to, from_, status = _first(query, "To"), _first(query, "From"), _first(query, "Status")
        filters = []
        for name in ("StartTime", "StartTime<", "StartTime>"):
            raw = _first(query, name)
            if raw:
                filters.append((name, *parse_date_filter(raw, name)))
        with self.lock:
            calls = sorted(self.calls.values(), key=lambda c: c.sequence, reverse=True)
            return [
                c.to_json()
                for c in calls
                if (not to or c.to == to)
                and (not from_ or c.from_ == from_)
                and (not status or c.status == status)
                and all(_date_matches(c.start_time, *f) for f in filters)
            ]

    # -- numbers and usage -----------------------------------------------------------------------

    def list_numbers(self, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """IncomingPhoneNumbers filtered by PhoneNumber (substring) and FriendlyName."""
        phone, name = _first(query, "PhoneNumber"), _first(query, "FriendlyName")
        with self.lock:
            return [
                dict(n)
                for n in self.numbers
                if (not phone or phone in n["phone_number"])
                and (not name or name.lower() in str(n["friendly_name"]).lower())
            ]

    def get_number(self, sid: str) -> dict[str, Any]:
        """An IncomingPhoneNumber by SID (Twilio's 404 otherwise)."""
        with self.lock:
            for number in self.numbers:
                if number["sid"] == sid:
                    return dict(number)
        raise not_found(
            f"{API_PREFIX}/Accounts/{self.config.account_sid}/IncomingPhoneNumbers/{sid}.json"
        )

    def update_number(self, sid: str, form: Mapping[str, list[str]]) -> dict[str, Any]:
        """Apply ``POST IncomingPhoneNumbers/{sid}.json`` as Twilio does: only the parameters
        given change, an empty URL clears it, URLs must be http(s) and methods GET or POST, and a
        fallback URL needs its primary URL (21405 voice, 21406 SMS) once the update is applied."""
        with self.lock:
            number = next((n for n in self.numbers if n["sid"] == sid), None)
            if number is None:
                raise not_found(
                    f"{API_PREFIX}/Accounts/{self.config.account_sid}/IncomingPhoneNumbers/{sid}.json"
                )
            changed = dict(number)
            for name, key in NUMBER_URL_FIELDS.items():
                if name in form:
                    value = _first(form, name)
                    if value and not is_http_url(value):
                        raise TwilioApiError(400, 21502, f"{name} is not a valid URL: {value}")
                    changed[key] = value
            for name, key in NUMBER_METHOD_FIELDS.items():
                if name in form:
                    value = _first(form, name).upper()
                    if value not in {"GET", "POST"}:
                        raise invalid_parameter(f"{name} must be GET or POST")
                    changed[key] = value
            if "FriendlyName" in form:
                changed["friendly_name"] = _first(form, "FriendlyName")
            if changed["voice_fallback_url"] and not changed["voice_url"]:
                raise TwilioApiError(400, 21405, "Cannot set VoiceFallbackUrl without setting Url")
            if changed["sms_fallback_url"] and not changed["sms_url"]:
                raise TwilioApiError(400, 21406, "Cannot set SmsFallbackUrl without setting SmsUrl")
            changed["date_updated"] = rfc2822(now_utc())
            number.clear()
            number.update(changed)
            return dict(number)

    def _count_usage(self, category: str, count: float, usage: float) -> None:
        today = now_utc().date()
        day = self.live_usage.setdefault(today, {})
        old_count, old_usage = day.get(category, (0.0, 0.0))
        day[category] = (old_count + count, old_usage + usage)

    def list_usage(self, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """One usage record per category over [StartDate, EndDate]."""
        today = now_utc().date()
        start_raw, end_raw = _first(query, "StartDate"), _first(query, "EndDate")
        start = parse_usage_date(start_raw, today, "StartDate") if start_raw else None
        end = parse_usage_date(end_raw, today, "EndDate") if end_raw else today
        category = _first(query, "Category")
        with self.lock:
            days = seeded_usage(today, len(self.numbers))
            for day, values in self.live_usage.items():
                target = days.setdefault(day, {})
                for name, (count, usage) in values.items():
                    old_count, old_usage = target.get(name, (0.0, 0.0))
                    target[name] = (old_count + count, old_usage + usage)
        first_day = min(days) if days else today
        start = start or first_day
        totals: dict[str, list[float]] = {name: [0.0, 0.0, 0.0] for name in USAGE_CATEGORIES}
        for day, values in days.items():
            if not start <= day <= end:
                continue
            for name, (count, usage) in values.items():
                price = usage * USAGE_CATEGORIES[name][3]
                totals[name][0] += count
                totals[name][1] += usage
                totals[name][2] += price
        for parent in ("sms", "calls"):
            for child in (f"{parent}-inbound", f"{parent}-outbound"):
                for i in range(3):
                    totals[parent][i] += totals[child][i]
        total_price = sum(t[2] for name, t in totals.items() if name not in {"sms", "calls"})
        totals["totalprice"] = [0.0, total_price, total_price]
        as_of = datetime.now(UTC).replace(microsecond=0).isoformat()
        records = []
        for name in sorted(totals):
            if category and name != category:
                continue
            description, count_unit, usage_unit, _ = USAGE_CATEGORIES[name]
            count, usage, price = totals[name]
            params = {"Category": name, "StartDate": start.isoformat(), "EndDate": end.isoformat()}
            base = f"{API_PREFIX}/Accounts/{self.config.account_sid}/Usage/Records"
            records.append(
                {
                    "account_sid": self.config.account_sid,
                    "api_version": API_VERSION,
                    "as_of": as_of,
                    "category": name,
                    "count": None if name == "totalprice" else f"{count:g}",
                    "count_unit": count_unit,
                    "description": description,
                    "end_date": end.isoformat(),
                    "price": f"{price:.5f}",
                    "price_unit": "usd",
                    "start_date": start.isoformat(),
                    "subresource_uris": {
                        period.lower()
                        .replace("alltime", "all_time")
                        .replace("lastmonth", "last_month")
                        .replace("thismonth", "this_month"): f"{base}/{period}.json?Category={name}"
                        for period in (
                            "AllTime",
                            "Daily",
                            "LastMonth",
                            "Monthly",
                            "ThisMonth",
                            "Today",
                            "Yearly",
                            "Yesterday",
                        )
                    },
                    "uri": f"{base}.json?{urlencode(params)}",
                    "usage": f"{price:.5f}" if name == "totalprice" else f"{usage:g}",
                    "usage_unit": usage_unit,
                }
            )
        return records

    # -- recordings ---------------------------------------------------------------------------

    def add_recording(
        self,
        *,
        sid: str | None = None,
        call_sid: str | None = None,
        duration: int = 7,
        status: str = "completed",
        media_url: str | None = None,
    ) -> Recording:
        """A recording the simulated world made (``POST /_standin/recordings``); replaces one
        with the same SID. `media_url`: its audio is kept elsewhere (External Storage), and
        Twilio's resource names that URL."""
        if sid is not None and not _RECORDING_SID.fullmatch(sid):
            raise ValueError("sid must be RE followed by 32 hexadecimal digits")
        if call_sid is not None and not _CALL_SID.fullmatch(call_sid):
            raise ValueError("callSid must be CA followed by 32 hexadecimal digits")
        if not 0 <= duration <= 14400:
            raise ValueError("duration must be 0 to 14400 seconds")
        recording = Recording(
            sid=sid or new_sid("RE"),
            account_sid=self.config.account_sid,
            call_sid=call_sid,
            duration=duration,
            status=status,
            external_media_url=media_url,
        )
        with self.lock:
            self.recordings[recording.sid] = recording
        return copy.copy(recording)

    def record_external(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        """A request the stand-in's External Storage host received (its headers included: a
        test checks that no credentials reached it)."""
        with self.lock:
            self.external_requests.append(
                {"method": method, "path": path, "headers": dict(headers)}
            )

    def get_recording(self, sid: str) -> Recording | None:
        """A copy of a recording."""
        with self.lock:
            recording = self.recordings.get(sid)
            return copy.copy(recording) if recording else None

    def account_json(self) -> dict[str, Any]:
        """The Account resource."""
        sid = self.config.account_sid
        created = rfc2822(datetime(2024, 1, 1, tzinfo=UTC))
        base = f"{API_PREFIX}/Accounts/{sid}"
        return {
            "date_created": created,
            "date_updated": created,
            "friendly_name": "Switchboard local stand-in",
            "owner_account_sid": sid,
            "sid": sid,
            "status": "active",
            "subresource_uris": {
                "calls": f"{base}/Calls.json",
                "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
                "messages": f"{base}/Messages.json",
                "recordings": f"{base}/Recordings.json",
                "usage": f"{base}/Usage.json",
            },
            "type": "Full",
            "uri": f"{base}.json",
        }

    def snapshot(self) -> dict[str, Any]:
        """Messages and calls as Twilio's JSON (``GET /_standin/state``)."""
        with self.lock:
            return {
                "messages": [m.to_json() for m in self.messages.values()],
                "calls": [c.to_json() for c in self.calls.values()],
                "recordings": [r.to_json() for r in self.recordings.values()],
            }

    def external_log(self) -> list[dict[str, Any]]:
        """The requests the External Storage host received, oldest first (copies)."""
        with self.lock:
            return copy.deepcopy(self.external_requests)


#: Where the stand-in serves the audio of recordings kept in External Storage.
EXTERNAL_MEDIA_PREFIX = "/_external/Recordings/"


def external_media_url(own_host: str, port: int, sid: str) -> str:
    """The External Storage URL of a recording's MP3: the stand-in's own server under another
    host name (`localhost` for a stand-in on an IP address, else 127.0.0.1), so the origin
    differs from `TWILIO_API_BASE_URL` the way a storage host's does."""
    other = "127.0.0.1" if own_host.lower() == "localhost" else "localhost"
    return f"http://{other}:{port}{EXTERNAL_MEDIA_PREFIX}{sid}.mp3"


def not_found(path: str) -> TwilioApiError:
    """Twilio's 404 (20404)."""
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")


def resource_of(path: str) -> str | None:
    """The collection a REST path addresses: ``Messages``, ``Calls``, ``Records``..."""
    parts = [p for p in path.split("/") if p]
    # /2010-04-01/Accounts/{sid}/<Collection>[/<sid>].json
    if len(parts) < 4:
        return "Accounts" if len(parts) == 3 else None
    collection = parts[3].removesuffix(".json")
    if collection == "Usage" and len(parts) > 4:
        return parts[4].removesuffix(".json")
    return collection


def _first(form: Mapping[str, list[str]], name: str, *, strip: bool = True) -> str:
    values = form.get(name) or []
    value = values[0] if values else ""
    return value.strip() if strip else value


def _int_param(form: Mapping[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = _first(form, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise invalid_parameter(f"{name} must be between {low} and {high}")
    return value


def _valid_sender(value: str) -> bool:
    number = value.removeprefix("whatsapp:")
    return bool(
        is_e164(number) or _ALPHANUMERIC_SENDER.fullmatch(value) or _SHORT_CODE.fullmatch(value)
    )


def _date_matches(sent: datetime | None, name: str, moment: datetime, whole_day: bool) -> bool:
    """Twilio's date filters (DateSent, StartTime, ...): `name` exact, ``name>`` on or after,
    ``name<`` on or before."""
    if sent is None:
        return False
    if not name.endswith(("<", ">")):
        return sent.date() == moment.date() if whole_day else sent == moment
    if name.endswith(">"):
        return sent >= moment
    # <: on or before; a whole day includes that day
    if whole_day:
        return sent.date() <= moment.date()
    return sent <= moment


def page_of(
    items: list[dict[str, Any]],
    key: str,
    path: str,
    query: Mapping[str, list[str]],
) -> dict[str, Any]:
    """One page of a Twilio list: ``PageSize`` (default 50, max 1000), ``Page``, ``PageToken``;
    ``next_page_uri`` is null on the last page."""
    page_size = _int_param(query, "PageSize", 50, 1, 1000)
    page = _int_param(query, "Page", 0, 0, 1_000_000)
    token = _first(query, "PageToken")
    start = page * page_size
    if token.startswith("PA"):
        after = token[2:]
        index = next((i for i, item in enumerate(items) if _item_id(item) == after), None)
        if index is not None:
            start = index + 1
    chunk = items[start : start + page_size]
    filters = [
        (k, v)
        for k, values in query.items()
        if k not in {"Page", "PageSize", "PageToken"}
        for v in values
    ]

    def uri(page_number: int, page_token: str | None = None) -> str:
        params = [*filters, ("PageSize", str(page_size)), ("Page", str(page_number))]
        if page_token:
            params.append(("PageToken", page_token))
        return f"{path}?{urlencode(params)}"

    has_more = start + page_size < len(items)
    next_uri = uri(page + 1, "PA" + _item_id(chunk[-1])) if has_more and chunk else None
    previous_uri = uri(page - 1) if page > 0 else None
    return {
        key: chunk,
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": next_uri,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": previous_uri,
        "start": start,
        "uri": uri(page, token or None),
    }


def _item_id(item: Mapping[str, Any]) -> str:
    return str(item.get("sid") or item.get("category") or "")


def monotonic_ms(started: float) -> float:
    """Milliseconds since `started` (a time.monotonic() value)."""
    return round((time.monotonic() - started) * 1000, 3)
