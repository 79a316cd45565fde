"""Play Twilio against the running app: `python -m devkit call` and `python -m devkit sms`.

The simulator sends the webhooks Twilio would send, with Twilio's parameters, an
``X-Twilio-Signature`` computed by the twilio library's :class:`RequestValidator` over the URL the
app believes Twilio called, and an ``I-Twilio-Idempotency-Token``. It then follows the returned
TwiML the way Twilio does (``<Gather>``, ``<Redirect>``, ``<Dial action>``, ``<Record action>``
and its ``recordingStatusCallback``) and prints what the caller hears and sees.

Command line::

    python -m devkit call --from +15558675310 --to +15017122661 --digits 1 [--speech "sales"]
                          [--dial-status no-answer] [--recording-url URL] [--app URL]
    python -m devkit sms  --from +15558675310 --to +15017122661 --body "hello" [--media URL ...]

``--app`` is the running app's origin (default ``http://localhost:7071``). Credentials
(``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``) and ``PUBLIC_BASE_URL`` come from the environment,
else from ``local.settings.json`` in the current directory or the project root. When
``PUBLIC_BASE_URL`` is set, requests are sent to ``--app`` but signed over
``PUBLIC_BASE_URL + path``, exactly as Twilio signs the public URL a tunnel or proxy forwards.

The same code is a library for tests::

    session = CallSession(app_url, account_sid=..., auth_token=..., from_="+1...", to="+1...")
    transcript = session.run(digits=["1"], dial_status="no-answer")
    assert transcript.ok, transcript.text()

    result = send_sms(app_url, account_sid=..., auth_token=..., from_=..., to=..., body="STOP")

    response = sign_and_post(url, params, auth_token=token, public_base_url=public)  # any webhook

Exit status of the commands: 0 when every request was answered with 2xx and valid TwiML, 1 when
the app answered 4xx/5xx, invalid TwiML, or could not be reached, 2 for usage or settings errors.
"""

from __future__ import annotations

import argparse
import math
import mimetypes
import os
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from twilio.request_validator import RequestValidator

from devkit.localsettings import LocalSettingsError, load_local_settings, local_http_port

API_VERSION = "2010-04-01"
DEFAULT_APP_URL = "http://localhost:7071"
VOICE_PATH = "/api/voice/incoming"
SMS_PATH = "/api/sms/incoming"
CALL_STATUS_PATH = "/api/status/call"
DEFAULT_MAX_STEPS = 20
DEFAULT_TIMEOUT = 15.0  # seconds: Twilio's own timeout for a voice webhook
DIAL_STATUSES = ("no-answer", "completed", "busy", "failed", "canceled")
PROJECT_ROOT = Path(__file__).resolve().parents[1]

SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
USER_AGENT = "TwilioProxy/1.1"
_SHOWN_PARAMS = ("Digits", "SpeechResult", "DialCallStatus", "RecordingDuration")
_TWIML_TYPES = ("text/xml", "application/xml", "text/html")
_NOT_SIMULATED = {
    "Connect",
    "Echo",
    "Enqueue",
    "Leave",
    "Pay",
    "Prompt",
    "Queue",
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

Echo = Callable[[str], None]


class SimulatorError(RuntimeError):
    """A settings problem that stops the simulator before any request is sent."""


class TwimlError(ValueError):
    """The app answered something that is not a TwiML document."""


# --------------------------------------------------------------------------------------------
# SIDs, URLs and signing


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix and 32 lowercase hex digits (``CA…``, ``SM…``)."""
    return prefix + uuid.uuid4().hex


def public_url(actual_url: str, public_base_url: str | None) -> str:
    """The URL Twilio believes it called: ``PUBLIC_BASE_URL`` + path (+ query) of `actual_url`.

    Without a public base URL the actual URL is the public one.
    """
    if not public_base_url:
        return actual_url
    parts = urlsplit(actual_url)
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return public_base_url.rstrip("/") + path + query


def compute_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """``X-Twilio-Signature`` for a request to `url` with form `params` (twilio's own code)."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


@dataclass
class WebhookResponse:
    """One signed request and the app's answer."""

    method: str
    url: str  # where the request was sent
    signed_url: str  # the URL the signature covers (what Twilio believes it called)
    params: dict[str, str]
    headers: dict[str, str]  # request headers sent
    status: int
    body: str
    content_type: str

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300


def _with_query(url: str, params: Mapping[str, str]) -> str:
    if not params:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(dict(params))


def sign_and_post(
    url: str,
    params: Mapping[str, str],
    *,
    auth_token: str,
    public_base_url: str | None = None,
    signed_url: str | None = None,
    method: str = "POST",
    signature: str | None = None,
    sign: bool = True,
    idempotency_token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
) -> WebhookResponse:
    """Send a webhook to `url` signed as Twilio signs it, and return the answer.

    The signature covers `signed_url` when given, else ``public_url(url, public_base_url)``.
    For ``method="GET"`` the parameters travel in the query string and are part of the signed
    URL, as Twilio does. `signature` replaces the computed signature (forgery tests); ``sign=False``
    sends no signature header. `headers` are added last (e.g. ``X-Forwarded-Proto``).
    Connection errors propagate as :class:`requests.RequestException`.
    """
    method = method.upper()
    form = {str(k): str(v) for k, v in params.items()}
    target = url
    signed = signed_url or public_url(url, public_base_url)
    if method == "GET":
        target, signed, body_params = _with_query(url, form), _with_query(signed, form), {}
    else:
        body_params = form
    sent_headers = {
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        IDEMPOTENCY_HEADER: idempotency_token or f"{uuid.uuid4()}",
    }
    if method != "GET":
        sent_headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    if sign:
        if signature is None:
            signature = compute_signature(signed, body_params, auth_token)
        sent_headers[SIGNATURE_HEADER] = signature
    sent_headers.update(headers or {})
    http = session or _new_session()
    try:
        answer = http.request(
            method,
            target,
            data=urlencode(body_params).encode() if method != "GET" else None,
            headers=sent_headers,
            timeout=timeout,
            allow_redirects=False,
        )
    finally:
        if session is None:
            http.close()
    return WebhookResponse(
        method=method,
        url=target,
        signed_url=signed,
        params=form,
        headers=sent_headers,
        status=answer.status_code,
        body=answer.text,
        content_type=answer.headers.get("Content-Type", ""),
    )


def _new_session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # loopback: never through an HTTP(S)_PROXY of the shell
    return http


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
    if name in _NOT_SIMULATED:
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
        + (f" (whisper {child.attr('url')})" if child.attr("url") else "")
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


# --------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Credentials:
    """What the simulator signs with, and the public origin the app believes Twilio uses."""

    account_sid: str
    auth_token: str
    public_base_url: str | None = None


def load_credentials(
    environ: Mapping[str, str] | None = None, search_dirs: Sequence[Path] | None = None
) -> Credentials:
    """Credentials from the environment, else from ``local.settings.json`` (cwd, then project root).

    Raises :class:`SimulatorError` naming the missing setting (never a value).
    """
    env = os.environ if environ is None else environ
    dirs = list(search_dirs) if search_dirs is not None else [Path.cwd(), PROJECT_ROOT]
    files: dict[str, str] = {}
    for directory in reversed(dirs):  # earlier directories win
        try:
            files.update(load_local_settings(directory))
        except LocalSettingsError as exc:
            raise SimulatorError(str(exc)) from exc

    def setting(name: str) -> str:
        # A variable set in the environment wins, even empty (`PUBLIC_BASE_URL= python -m ...`).
        return (env[name] if name in env else files.get(name, "")).strip()

    missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not setting(name)]
    if missing:
        raise SimulatorError(
            f"{' and '.join(missing)} not set "
            "(in the environment or the Values of local.settings.json)"
        )
    return Credentials(
        account_sid=setting("TWILIO_ACCOUNT_SID"),
        auth_token=setting("TWILIO_AUTH_TOKEN"),
        public_base_url=setting("PUBLIC_BASE_URL") or None,
    )


def default_app_url(search_dirs: Sequence[Path] | None = None) -> str:
    """``http://localhost:<Host.LocalHttpPort or 7071>``."""
    for directory in search_dirs if search_dirs is not None else [Path.cwd(), PROJECT_ROOT]:
        try:
            port = local_http_port(directory)
        except LocalSettingsError:
            port = None
        if port:
            return f"http://localhost:{port}"
    return DEFAULT_APP_URL


# --------------------------------------------------------------------------------------------
# Sessions


@dataclass
class Step:
    """One request Twilio would make, and what came back."""

    kind: str  # "webhook", "recording-status-callback", "call-status-callback"
    method: str
    url: str  # the URL Twilio believes it called (signed)
    sent_to: str  # where the request actually went
    params: dict[str, str]
    status: int | None = None  # None: no answer (connection error)
    body: str = ""
    content_type: str = ""
    verbs: list[Verb] = field(default_factory=list)
    error: str | None = None


@dataclass
class Transcript:
    """A whole simulated call: the requests, the printable lines, how it ended."""

    call_sid: str
    steps: list[Step] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ended_by: str = ""  # "hangup", "reject", "end", "error", "max-steps"
    answered: bool = False

    @property
    def ok(self) -> bool:
        """Every request was answered 2xx with valid TwiML and the call did not loop."""
        return not self.errors

    @property
    def webhooks(self) -> list[Step]:
        """The TwiML requests only (not the callbacks)."""
        return [step for step in self.steps if step.kind == "webhook"]

    @property
    def verbs(self) -> list[Verb]:
        """Every verb the app returned, in order."""
        return [verb for step in self.steps for verb in step.verbs]

    def text(self) -> str:
        """The printable transcript."""
        return "\n".join(self.lines)


@dataclass
class SmsResult:
    """An inbound SMS: the requests, the reply messages and the printable lines."""

    message_sid: str
    steps: list[Step] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        """HTTP status of the first answer."""
        return self.steps[0].status if self.steps else None

    @property
    def twiml(self) -> str:
        """Body of the first answer."""
        return self.steps[0].body if self.steps else ""

    @property
    def ok(self) -> bool:
        """Every request answered 2xx with valid TwiML (or an empty body)."""
        return not self.errors

    def text(self) -> str:
        """The printable transcript."""
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Callee:
    """How one dialled number behaves: whether it answers, and what it presses when a whisper
    (``<Number url=...>``) asks, for example "Press 1 to accept"."""

    outcome: str = "answer"  # "answer", "no-answer", "busy" or "failed"
    digits: str = "1"  # pressed at the whisper's <Gather> ('' = nothing)


@dataclass
class _Options:
    """What the simulated world does during one call (see `CallSession.run`)."""

    dial_status: str = "no-answer"
    dial_duration: int = 42
    recording_url: str | None = None
    recording_duration: int = 7
    callees: Mapping[str, Callee] | None = None
    transcription_text: str | None = None
    callback_repeats: int = 1
    whisper_rejected_status: str = "completed"


@dataclass
class _Next:
    """Where the call goes after a document: a new request, or the end."""

    url: str | None = None
    method: str = "POST"
    extra: dict[str, str] = field(default_factory=dict)
    end: str = ""
    after: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # callbacks


def _country(number: str) -> str:
    try:
        import phonenumbers

        parsed = phonenumbers.parse(number)
        region = phonenumbers.region_code_for_number(parsed) or (
            phonenumbers.region_code_for_country_code(parsed.country_code or 0)
        )
        return "" if region in {None, "ZZ", "001"} else str(region)
    except Exception:  # not a phone number (client:..., sip:...) or phonenumbers missing
        return ""


def _geo(prefix: str, number: str) -> dict[str, str]:
    return {
        f"{prefix}City": "",
        f"{prefix}State": "",
        f"{prefix}Zip": "",
        f"{prefix}Country": _country(number),
    }


class _Transport:
    """Signs and sends requests under a public base URL, mapping public URLs back to the app."""

    def __init__(
        self,
        app_url: str,
        auth_token: str,
        public_base_url: str | None,
        timeout: float,
        session: requests.Session | None,
    ) -> None:
        self.app = app_url.rstrip("/")
        self.public = public_base_url.rstrip("/") if public_base_url else None
        self.auth_token = auth_token
        self.timeout = timeout
        self.session = session

    def twilio_url(self, path_or_url: str) -> str:
        """The URL Twilio is configured with, for a path of the app (or an absolute URL)."""
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return (self.public or self.app) + "/" + path_or_url.lstrip("/")

    def actual_url(self, twilio_url: str) -> str:
        """Where a URL under the public origin is really served: the app's origin."""
        for base in (self.public, self.app):
            if base and (twilio_url == base or twilio_url.startswith((base + "/", base + "?"))):
                return self.app + twilio_url[len(base) :]
        return twilio_url

    def send(self, kind: str, twilio_url: str, method: str, params: dict[str, str]) -> Step:
        step = Step(
            kind=kind,
            method=method,
            url=twilio_url,
            sent_to=self.actual_url(twilio_url),
            params=params,
        )
        try:
            answer = sign_and_post(
                step.sent_to,
                params,
                auth_token=self.auth_token,
                signed_url=twilio_url,
                method=method,
                timeout=self.timeout,
                session=self.session,
            )
        except requests.ConnectionError as exc:
            step.error = no_answer(method, step.sent_to, exc)
            return step
        except requests.RequestException as exc:
            step.error = f"{method} {step.sent_to}: no answer ({type(exc).__name__})"
            return step
        step.url, step.sent_to = answer.signed_url, answer.url
        step.status, step.body = answer.status, answer.body
        step.content_type = answer.content_type
        if not answer.ok:
            snippet = " ".join(answer.body.split())[:300]
            step.error = f"{method} {step.sent_to} answered HTTP {answer.status}" + (
                f": {snippet}" if snippet else ""
            )
        return step


def no_answer(method: str, url: str, exc: Exception) -> str:
    """Why a request got no answer, in one line: a refused connection to this machine means the
    app is not running, so say how to start it (never urllib3's nested exception text)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    refused = "refused" in str(exc).lower() or "Errno 111" in str(exc)
    if refused and parts.hostname in {"localhost", "127.0.0.1", "::1"}:
        return (
            f"nothing answers at {origin} (the function app): start `make run` (in another "
            "terminal), then run this again"
        )
    return f"{method} {url}: no answer ({type(exc).__name__}: could not connect to {origin})"


def _content_type_problem(content_type: str) -> str | None:
    """None if Twilio reads this Content-Type as TwiML; else what is wrong."""
    kind = content_type.split(";")[0].strip().lower()
    if not kind:
        return "no Content-Type (Twilio expects text/xml)"
    if kind in _TWIML_TYPES or kind.endswith("+xml"):
        return None
    return f"Content-Type {kind} is not TwiML (Twilio error 12300: invalid Content-Type)"


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class CallSession:
    """One inbound call, played as Twilio plays it against the app.

    `app_url` is the app's origin; requests are signed over ``public_base_url`` + path when set.
    `path` is the number's voice URL (a path of the app, may carry a query such as ``?code=``).
    `echo` receives every printable line as it happens (the CLI prints them live).
    `standin_url` (the Twilio stand-in's origin) makes each ``<Record>`` a recording the stand-in
    serves (``POST /_standin/recordings``), so the app can fetch its audio as from Twilio.
    Calling :meth:`run` again replays the same call (same ``CallSid``), as a Twilio retry would.
    """

    def __init__(
        self,
        app_url: str = DEFAULT_APP_URL,
        *,
        account_sid: str,
        auth_token: str,
        public_base_url: str | None = None,
        from_: str,
        to: str,
        path: str = VOICE_PATH,
        call_sid: str | None = None,
        status_callback: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        timeout: float = DEFAULT_TIMEOUT,
        echo: Echo | None = None,
        session: requests.Session | None = None,
        standin_url: str | None = None,
        method: str = "POST",
    ) -> None:
        self.standin_url = standin_url.rstrip("/") if standin_url else None
        self.method = method.upper()  # of the first request: the number's VoiceMethod
        self.account_sid = account_sid
        self.from_ = from_
        self.to = to
        self.path = path
        self.call_sid = call_sid or new_sid("CA")
        self.status_callback = status_callback
        self.max_steps = max_steps
        self.echo = echo
        self._transport = _Transport(app_url, auth_token, public_base_url, timeout, session)

    def base_params(self, call_status: str) -> dict[str, str]:
        """The parameters Twilio sends with every request of this call."""
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.call_sid,
            "CallStatus": call_status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": "inbound",
            "From": self.from_,
            "To": self.to,
            **_geo("From", self.from_),
            **_geo("To", self.to),
            **_geo("Called", self.to),
            **_geo("Caller", self.from_),
        }

    def run(
        self,
        digits: Sequence[str] = (),
        speech: Sequence[str] = (),
        *,
        dial_status: str = "no-answer",
        dial_duration: int = 42,
        recording_url: str | None = None,
        recording_duration: int = 7,
        speech_confidence: str = "0.92",
        callees: Mapping[str, Callee] | None = None,
        transcription_text: str | None = None,
        callback_repeats: int = 1,
        whisper_rejected_status: str = "completed",
    ) -> Transcript:
        """Play the call until ``<Hangup/>``, ``<Reject/>``, the end of a document or an error.

        Each ``<Gather>`` takes the next entry of `digits` (when it accepts DTMF) or else of
        `speech` (when it accepts speech); an empty entry, or none left, lets the Gather time out.
        ``<Dial>`` ends with `dial_status`, unless `callees` says how each dialled number
        behaves: then the numbers of a ``<Dial>`` ring together, each one that answers runs its
        ``<Number url>`` whisper (pressing its `digits` at a ``<Gather>``), and the first whose
        whisper ends without ``<Hangup>`` takes the call (``DialCallStatus=completed`` with its
        leg's ``DialCallSid``); when every answering leg hung up in its whisper, the Dial ends
        with `whisper_rejected_status` (the legs were answered, then completed), and when none
        answered, with ``no-answer`` (``busy`` when all were busy). ``<Record>`` produces
        `recording_url`; with ``transcribe="true"`` a transcription callback with
        `transcription_text` follows the recording status callback. Every callback is sent
        `callback_repeats` times, as Twilio's retries would.
        """
        if dial_status not in DIAL_STATUSES:
            raise ValueError(f"dial_status must be one of {', '.join(DIAL_STATUSES)}")
        options = _Options(
            dial_status,
            dial_duration,
            recording_url,
            recording_duration,
            callees,
            transcription_text,
            max(1, callback_repeats),
            whisper_rejected_status,
        )
        transcript = Transcript(call_sid=self.call_sid)
        inputs = _Inputs(deque(digits), deque(speech), speech_confidence)
        started = time.monotonic()
        self._say(transcript, f"Call {self.call_sid} from {self.from_} to {self.to}")
        url: str | None = self._transport.twilio_url(self.path)
        method, extra = self.method, dict[str, str]()
        callbacks: list[tuple[str, str, dict[str, str]]] = []
        requests_made = 0
        while url is not None:
            if requests_made >= self.max_steps:
                self._fail(transcript, f"stopped after {self.max_steps} requests: the TwiML loops")
                transcript.ended_by = "max-steps"
                break
            requests_made += 1
            params = self.base_params("in-progress" if transcript.answered else "ringing") | extra
            step = self._transport.send("webhook", url, method, params)
            transcript.steps.append(step)
            shown = "".join(f" {k}={v}" for k, v in extra.items() if k in _SHOWN_PARAMS)
            self._say(transcript, f"> {method} {_path_of(step.sent_to)}{shown}  -> {step.status}")
            for kind, cb_url, cb_params in callbacks:
                for _ in range(options.callback_repeats):
                    self._callback(transcript, kind, cb_url, cb_params)
            callbacks = []
            if step.error:
                self._fail(transcript, step.error)
                transcript.ended_by = "error"
                break
            problem = _content_type_problem(step.content_type)
            if problem and not problem.startswith("no "):
                self._fail(transcript, f"{_path_of(step.sent_to)}: {problem}")
                transcript.ended_by = "error"
                break
            if problem:
                self._warn(transcript, f"{_path_of(step.sent_to)}: {problem}")
            try:
                step.verbs = parse_twiml(step.body)
            except TwimlError as exc:
                step.error = f"{_path_of(step.sent_to)}: {exc}"
                self._fail(transcript, step.error)
                transcript.ended_by = "error"
                break
            nxt = self._execute(step.verbs, url, transcript, inputs, options)
            url, method, extra, callbacks = nxt.url, nxt.method, nxt.extra, nxt.after
            transcript.ended_by = nxt.end or transcript.ended_by
        for kind, cb_url, cb_params in callbacks:  # a callback due after the last request
            for _ in range(options.callback_repeats):
                self._callback(transcript, kind, cb_url, cb_params)
        self._say(transcript, f"Call ended: {transcript.ended_by} ({requests_made} requests)")
        if self.status_callback:
            self._final_status(transcript, time.monotonic() - started)
        return transcript

    # -- verbs --------------------------------------------------------------------------------

    def _execute(
        self,
        verbs: list[Verb],
        url: str,
        transcript: Transcript,
        inputs: _Inputs,
        options: _Options,
    ) -> _Next:
        for index, verb in enumerate(verbs):
            for line in describe_verb(verb):
                self._say(transcript, "  " + line)
            if verb.name == "Reject":
                return _Next(end="reject")
            transcript.answered = True  # any other first verb answers the call
            if verb.name == "Hangup":
                return _Next(end="hangup")
            if verb.name == "Redirect":
                if not verb.text:
                    self._fail(transcript, "<Redirect> without a URL")
                    return _Next(end="error")
                redirect_method = verb.attr("method", "POST").upper()
                return _Next(url=urljoin(url, verb.text), method=redirect_method)
            if verb.name == "Gather":
                result = inputs.take(verb)
                target = urljoin(url, verb.attr("action")) if verb.attr("action") else url
                gather_method = verb.attr("method", "POST").upper()
                if result:
                    self._say(
                        transcript,
                        "  caller "
                        + (
                            f"presses {result['Digits']}"
                            if "Digits" in result
                            else f'says "{result["SpeechResult"]}"'
                        ),
                    )
                    return _Next(url=target, method=gather_method, extra=result)
                self._say(transcript, "  (no input: the Gather times out)")
                if verb.attr("actionOnEmptyResult").lower() == "true":
                    return _Next(url=target, method=gather_method)
                continue
            if verb.name == "Dial":
                extra = self._dial(verb, url, transcript, options)
                if verb.attr("action"):
                    return _Next(
                        url=urljoin(url, verb.attr("action")),
                        method=verb.attr("method", "POST").upper(),
                        extra=extra,
                    )
                continue
            if verb.name == "Record":
                return self._record(verb, url, transcript, options)
            if verb.name == "Message":
                self._warn(transcript, "<Message> is not a voice verb: Twilio ignores it on a call")
            elif verb.name in _NOT_SIMULATED:
                self._warn(transcript, f"<{verb.name}> is not simulated")
            elif verb.name not in {"Say", "Play", "Pause"}:
                self._warn(transcript, f"unknown verb <{verb.name}> (verb {index + 1})")
        return _Next(end="end")

    def _dial(
        self, verb: Verb, url: str, transcript: Transcript, options: _Options
    ) -> dict[str, str]:
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
                        self._whisper(number, verb, url, transcript, Callee(), extra["DialCallSid"])
                extra["DialCallDuration"] = str(options.dial_duration)
            self._say(transcript, f"  (dialled party: {status})")
            return extra
        outcomes = []
        for number in numbers:
            callee = options.callees.get(number.text, Callee("no-answer"))
            outcomes.append(callee.outcome)
            if callee.outcome != "answer":
                self._say(transcript, f"  ({number.text}: {callee.outcome})")
                continue
            leg = new_sid("CA")
            self._say(transcript, f"  ({number.text} answers)")
            if not number.attr("url") or self._whisper(number, verb, url, transcript, callee, leg):
                self._say(transcript, f"  ({number.text} takes the call)")
                return {
                    "DialCallStatus": "completed",
                    "DialCallSid": leg,
                    "DialCallDuration": str(options.dial_duration),
                    "DialBridged": "true",
                }
            self._say(transcript, f"  ({number.text} declined in the whisper: that leg hangs up)")
        if "answer" in outcomes:
            status = options.whisper_rejected_status
        elif outcomes and all(o == "busy" for o in outcomes):
            status = "busy"
        elif outcomes and all(o == "failed" for o in outcomes):
            status = "failed"
        else:
            status = "no-answer"
        self._say(transcript, f"  (dial ends: {status})")
        return {"DialCallStatus": status, "DialCallSid": new_sid("CA")}

    def _whisper(
        self, number: Verb, dial: Verb, url: str, transcript: Transcript, callee: Callee, leg: str
    ) -> bool:
        """Run a ``<Number url>`` document on the answering leg; True when it ends without
        ``<Hangup>`` (the legs are then connected), False when it hangs up or fails."""
        target: str | None = urljoin(url, number.attr("url"))
        method = number.attr("method", "POST").upper()
        caller_id = dial.attr("callerId") or self.from_
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": leg,
            "ParentCallSid": self.call_sid,
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
            "From": caller_id,
            "Caller": caller_id,
            "To": number.text,
            "Called": number.text,
        }
        extra: dict[str, str] = {}
        pressed = deque([callee.digits])
        for _ in range(self.max_steps):
            assert target is not None
            step = self._transport.send("whisper", target, method, params | extra)
            transcript.steps.append(step)
            self._say(
                transcript, f"  > whisper {method} {_path_of(step.sent_to)}  -> {step.status}"
            )
            if step.error:
                self._fail(transcript, step.error)
                return False
            try:
                step.verbs = parse_twiml(step.body)
            except TwimlError as exc:
                self._fail(transcript, f"whisper {_path_of(step.sent_to)}: {exc}")
                return False
            target, extra = None, {}
            for verb in step.verbs:
                for line in describe_verb(verb):
                    self._say(transcript, "    " + line)
                if verb.name == "Hangup":
                    return False
                if verb.name == "Dial":
                    self._fail(transcript, "a whisper may not <Dial> (Twilio refuses it)")
                    return False
                if verb.name == "Redirect" and verb.text:
                    target, method = urljoin(step.url, verb.text), verb.attr("method", "POST")
                    break
                if verb.name == "Gather":
                    digits = pressed.popleft() if pressed else ""
                    if digits:
                        self._say(transcript, f"    {number.text} presses {digits}")
                        target = urljoin(step.url, verb.attr("action") or step.url)
                        method, extra = verb.attr("method", "POST").upper(), {"Digits": digits}
                        break
                    self._say(transcript, "    (no key: the Gather times out)")
            if target is None:
                return True
        self._fail(transcript, "the whisper loops")
        return False

    def _record(self, verb: Verb, url: str, transcript: Transcript, options: _Options) -> _Next:
        recording_url, recording_duration = options.recording_url, options.recording_duration
        sid = new_sid("RE")
        media = recording_url or (
            f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"
        )
        if self.standin_url:
            self._register_recording(transcript, sid, recording_duration)
        self._say(transcript, f"  caller leaves a {recording_duration}s message: {media}")
        extra = {
            "RecordingUrl": media,
            "RecordingSid": sid,
            "RecordingDuration": str(recording_duration),
        }
        if "#" in verb.attr("finishOnKey", "1234567890*#"):
            extra["Digits"] = "#"
        after: list[tuple[str, str, dict[str, str]]] = []
        callback = verb.attr("recordingStatusCallback")
        if callback:
            after.append(
                (
                    "recording-status-callback",
                    urljoin(url, callback),
                    {
                        "AccountSid": self.account_sid,
                        "CallSid": self.call_sid,
                        "RecordingSid": sid,
                        "RecordingUrl": media,
                        "RecordingStatus": "completed",
                        "RecordingDuration": str(recording_duration),
                        "RecordingChannels": "1",
                        "RecordingStartTime": format_datetime(datetime.now(UTC), usegmt=True),
                        "RecordingSource": "RecordVerb",
                        "ErrorCode": "0",
                        "_method": verb.attr("recordingStatusCallbackMethod", "POST").upper(),
                    },
                )
            )
        if verb.attr("transcribe").lower() == "true" or verb.attr("transcribeCallback"):
            transcribe_to = verb.attr("transcribeCallback")
            if transcribe_to:
                text = options.transcription_text or "Hi, this is a test message."
                after.append(
                    (
                        "transcription-callback",
                        urljoin(url, transcribe_to),
                        {
                            "AccountSid": self.account_sid,
                            "ApiVersion": API_VERSION,
                            "CallSid": self.call_sid,
                            "CallStatus": "completed",
                            "Direction": "inbound",
                            "From": self.from_,
                            "To": self.to,
                            "Called": self.to,
                            "Caller": self.from_,
                            "RecordingSid": sid,
                            "RecordingUrl": media,
                            "TranscriptionSid": new_sid("TR"),
                            "TranscriptionText": text,
                            "TranscriptionStatus": "completed",
                            "TranscriptionType": "fast",
                            "TranscriptionUrl": (
                                f"https://api.twilio.com/{API_VERSION}/Accounts/"
                                f"{self.account_sid}/Recordings/{sid}/Transcriptions"
                            ),
                        },
                    )
                )
        target = urljoin(url, verb.attr("action")) if verb.attr("action") else url
        return _Next(
            url=target, method=verb.attr("method", "POST").upper(), extra=extra, after=after
        )

    def _register_recording(self, transcript: Transcript, sid: str, duration: int) -> None:
        """Tell the stand-in about the recording, as Twilio would store it."""
        try:
            answer = requests.post(
                f"{self.standin_url}/_standin/recordings",
                json={"sid": sid, "callSid": self.call_sid, "duration": duration},
                timeout=DEFAULT_TIMEOUT,
            )
        except requests.RequestException as exc:
            self._warn(transcript, f"the stand-in did not take the recording ({exc})")
            return
        if answer.status_code != 201:
            self._warn(
                transcript, f"the stand-in refused the recording (HTTP {answer.status_code})"
            )

    # -- callbacks and output -----------------------------------------------------------------

    def _callback(
        self, transcript: Transcript, kind: str, url: str, params: dict[str, str]
    ) -> None:
        params = dict(params)
        method = params.pop("_method", "POST")
        step = self._transport.send(kind, url, method, params)
        transcript.steps.append(step)
        where = _path_of(step.sent_to)
        label = kind.replace("-", " ")
        self._say(transcript, f"> {method} {where} ({label})  -> {step.status}")
        if step.error:
            self._fail(transcript, step.error)

    def _final_status(self, transcript: Transcript, elapsed: float) -> None:
        assert self.status_callback is not None
        if transcript.answered:
            status = "completed"
        elif transcript.ended_by == "reject":
            rejects = [v for v in transcript.verbs if v.name == "Reject"]
            status = "busy" if rejects and rejects[-1].attr("reason") == "busy" else "no-answer"
        else:
            status = "failed"
        params = self.base_params(status) | {
            "CallDuration": str(max(1, math.ceil(elapsed)) if transcript.answered else 0),
            "Timestamp": format_datetime(datetime.now(UTC), usegmt=True),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
        }
        url = self._transport.twilio_url(self.status_callback)
        self._callback(transcript, "call-status-callback", url, params)

    def _say(self, transcript: Transcript, line: str) -> None:
        transcript.lines.append(line)
        if self.echo:
            self.echo(line)

    def _fail(self, transcript: Transcript, message: str) -> None:
        transcript.errors.append(message)
        self._say(transcript, f"ERROR: {message}")

    def _warn(self, transcript: Transcript, message: str) -> None:
        transcript.warnings.append(message)
        self._say(transcript, f"  warning: {message}")


@dataclass
class _Inputs:
    """What the caller will press or say, consumed one entry per ``<Gather>``."""

    digits: deque[str]
    speech: deque[str]
    confidence: str

    def take(self, gather: Verb) -> dict[str, str]:
        """The Gather's result parameters; {} when it times out."""
        accepts = gather.attr("input", "dtmf").lower().split()
        if "dtmf" in accepts and self.digits:
            value = self.digits.popleft()
            finish = gather.attr("finishOnKey", "#")
            if finish and finish in value:
                value = value[: value.index(finish)]
            num = gather.attr("numDigits")
            if num.isdigit() and int(num) > 0:
                value = value[: int(num)]
            return {"Digits": value} if value else {}
        if "speech" in accepts and self.speech:
            value = self.speech.popleft()
            return {"SpeechResult": value, "Confidence": self.confidence} if value else {}
        return {}


# --------------------------------------------------------------------------------------------
# SMS

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    """How many SMS segments carry `body` (GSM-7: 160/153 per segment, else UCS-2: 70/67)."""
    if all(ch in _GSM7 or ch in _GSM7_EXT for ch in body):
        units, single, multi = sum(2 if ch in _GSM7_EXT else 1 for ch in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def media_content_type(url: str) -> str:
    """Content type of a media URL, guessed from its extension (image/jpeg when unknown)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or "image/jpeg"


def send_sms(
    app_url: str = DEFAULT_APP_URL,
    *,
    account_sid: str,
    auth_token: str,
    public_base_url: str | None = None,
    from_: str,
    to: str,
    body: str,
    media_urls: Sequence[str] = (),
    media_types: Sequence[str] | None = None,
    messaging_service_sid: str | None = None,
    message_sid: str | None = None,
    path: str = SMS_PATH,
    max_steps: int = DEFAULT_MAX_STEPS,
    timeout: float = DEFAULT_TIMEOUT,
    echo: Echo | None = None,
    session: requests.Session | None = None,
) -> SmsResult:
    """Deliver one inbound SMS/MMS as Twilio does, follow ``<Redirect>``, collect the replies.

    MMS get an ``MM…`` SID like Twilio's; `media_types` default to a guess from each URL.
    """
    sid = message_sid or new_sid("MM" if media_urls else "SM")
    result = SmsResult(message_sid=sid)
    transport = _Transport(app_url, auth_token, public_base_url, timeout, session)

    def say(line: str) -> None:
        result.lines.append(line)
        if echo:
            echo(line)

    def fail(message: str) -> None:
        result.errors.append(message)
        say(f"ERROR: {message}")

    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "SmsStatus": "received",
        "From": from_,
        "To": to,
        "Body": body,
        "NumMedia": str(len(media_urls)),
        "NumSegments": str(num_segments(body)),
        **_geo("From", from_),
        **_geo("To", to),
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    types = list(media_types or [media_content_type(u) for u in media_urls])
    for index, media in enumerate(media_urls):
        params[f"MediaUrl{index}"] = media
        params[f"MediaContentType{index}"] = types[index] if index < len(types) else "image/jpeg"

    say(f"SMS {sid} from {from_} to {to}: {body}" + "".join(f"\n  Media: {u}" for u in media_urls))
    url: str | None = transport.twilio_url(path)
    method, requests_made = "POST", 0
    while url is not None:
        if requests_made >= max_steps:
            fail(f"stopped after {max_steps} requests: the TwiML loops")
            break
        requests_made += 1
        step = transport.send("webhook", url, method, params)
        result.steps.append(step)
        say(f"> {method} {_path_of(step.sent_to)}  -> {step.status}")
        if step.error:
            fail(step.error)
            return result
        if not step.body.strip():
            say("  (no reply)")
            return result
        problem = _content_type_problem(step.content_type)
        if problem and not problem.startswith("no "):
            fail(f"{_path_of(step.sent_to)}: {problem}")
            return result
        try:
            step.verbs = parse_twiml(step.body)
        except TwimlError as exc:
            fail(f"{_path_of(step.sent_to)}: {exc}")
            return result
        url = None
        if not step.verbs:
            say("  (empty <Response/>: no reply)")
        for verb in step.verbs:
            for line in describe_verb(verb):
                say("  " + line)
            if verb.name == "Message":
                result.messages.append(message_from_verb(verb))
            elif verb.name == "Redirect" and verb.text:
                url, method = urljoin(step.url, verb.text), verb.attr("method", "POST").upper()
                break
            else:
                result.warnings.append(f"<{verb.name}> is not a messaging verb: skipped")
    return result


# --------------------------------------------------------------------------------------------
# Command line


def parse_callees(entries: Sequence[str]) -> dict[str, Callee]:
    """`+E164=DIGITS` or `+E164=no-answer|busy|failed` entries into callees; ValueError."""
    callees: dict[str, Callee] = {}
    for entry in entries:
        number, sep, behaviour = entry.partition("=")
        if not sep or not number.startswith("+"):
            raise ValueError(f"{entry!r}: expected +E164=DIGITS or +E164=no-answer|busy|failed")
        if behaviour in ("no-answer", "busy", "failed"):
            callees[number] = Callee(outcome=behaviour, digits="")
        elif behaviour == "" or behaviour.replace("*", "").replace("#", "").isdigit():
            callees[number] = Callee(outcome="answer", digits=behaviour)
        else:
            raise ValueError(f"{entry!r}: the behaviour must be digits, no-answer, busy or failed")
    return callees


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devkit",
        description="Play Twilio against the running app: signed webhooks, TwiML followed.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--from", dest="from_", required=True, metavar="+E164", help="the caller / sender"
    )
    common.add_argument("--to", required=True, metavar="+E164", help="your Twilio number")
    common.add_argument(
        "--app",
        default=None,
        metavar="URL",
        help="the running app's origin (default http://localhost:7071)",
    )
    common.add_argument("--path", default=None, help="the webhook path configured on the number")
    common.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        help="stop after this many requests (default %(default)s)",
    )
    common.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for each answer (default %(default)s)",
    )

    call = commands.add_parser(
        "call",
        parents=[common],
        help="an inbound call",
        description="An inbound call, played as Twilio would.",
    )
    call.add_argument(
        "--digits",
        action="append",
        default=[],
        metavar="DIGITS",
        help="keys pressed at the next <Gather> (once per Gather; '' = silence)",
    )
    call.add_argument(
        "--speech",
        action="append",
        default=[],
        metavar="TEXT",
        help="what the caller says at the next speech <Gather> (repeatable)",
    )
    call.add_argument(
        "--dial-status",
        choices=DIAL_STATUSES,
        default="no-answer",
        help="how a <Dial> ends (default %(default)s)",
    )
    call.add_argument(
        "--callee",
        action="append",
        default=[],
        metavar="+E164=BEHAVIOUR",
        help=(
            "how a dialled number behaves (repeatable): '+15551234567=1' answers and presses 1 at"
            " its whisper, '+1555...=' answers and presses nothing, '+1555...=no-answer' (or busy,"
            " failed); numbers not named do not answer. Without --callee, --dial-status decides"
        ),
    )
    call.add_argument("--recording-url", default=None, help="RecordingUrl a <Record> produces")
    call.add_argument(
        "--transcript",
        default=None,
        metavar="TEXT",
        help="TranscriptionText of the transcription callback of a <Record transcribe>",
    )
    call.add_argument(
        "--repeat-callbacks",
        type=int,
        default=1,
        metavar="N",
        help="send every callback N times, as Twilio's retries would (default 1)",
    )
    call.add_argument(
        "--status-callback",
        default=CALL_STATUS_PATH,
        metavar="PATH_OR_URL",
        help=(
            "where the final call status goes, as a number's status callback (default "
            "%(default)s, as `numbers wire` sets it: the call's record ends completed or "
            "no-answer instead of staying ringing, and a missed call can be texted back)"
        ),
    )
    call.add_argument(
        "--no-status-callback",
        dest="status_callback",
        action="store_const",
        const=None,
        help="send no final status (a number with no status callback configured)",
    )

    sms = commands.add_parser(
        "sms",
        parents=[common],
        help="an inbound SMS/MMS",
        description="An inbound SMS, signed; prints the TwiML reply.",
    )
    sms.add_argument("--body", required=True, help="the text of the message")
    sms.add_argument(
        "--media",
        action="append",
        default=[],
        metavar="URL",
        help="a media URL (repeatable: an MMS)",
    )
    sms.add_argument("--messaging-service-sid", default=None, help="MessagingServiceSid to send")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m devkit call ...` / `python -m devkit sms ...`; returns the exit status."""
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help or a usage error
        return int(exc.code or 0)
    try:
        credentials = load_credentials()
    except SimulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app_url = (args.app or default_app_url()).rstrip("/")
    if not urlsplit(app_url).scheme or not urlsplit(app_url).netloc:
        print(f"error: --app must be an origin such as {DEFAULT_APP_URL}", file=sys.stderr)
        return 2
    echo: Echo = print
    if credentials.public_base_url:
        print(f"(sending to {app_url}, signed for {credentials.public_base_url})")
    if args.command == "call":
        try:
            callees = parse_callees(args.callee) if args.callee else None
        except ValueError as exc:
            print(f"error: --callee {exc}", file=sys.stderr)
            return 2
        transcript = CallSession(
            app_url,
            account_sid=credentials.account_sid,
            auth_token=credentials.auth_token,
            public_base_url=credentials.public_base_url,
            from_=args.from_,
            to=args.to,
            path=args.path or VOICE_PATH,
            status_callback=args.status_callback,
            max_steps=args.max_steps,
            timeout=args.timeout,
            echo=echo,
        ).run(
            digits=args.digits,
            speech=args.speech,
            dial_status=args.dial_status,
            recording_url=args.recording_url,
            callees=callees,
            transcription_text=args.transcript,
            callback_repeats=args.repeat_callbacks,
        )
        errors = transcript.errors
    else:
        result = send_sms(
            app_url,
            account_sid=credentials.account_sid,
            auth_token=credentials.auth_token,
            public_base_url=credentials.public_base_url,
            from_=args.from_,
            to=args.to,
            body=args.body,
            media_urls=args.media,
            messaging_service_sid=args.messaging_service_sid,
            path=args.path or SMS_PATH,
            max_steps=args.max_steps,
            timeout=args.timeout,
            echo=echo,
        )
        errors = result.errors
    if errors:
        print(f"error: {errors[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
