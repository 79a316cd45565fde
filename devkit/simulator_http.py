"""The simulator's wire: SIDs, signed requests as Twilio sends them, and one call's transport.

`sign_and_post` signs a webhook with twilio's own `RequestValidator` over the URL the app
believes Twilio called; `Transport` sends a call's requests under a public base URL and maps the
public URLs back to the app (several apps behind one public name: each request goes to the next,
as a load balancer would).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

from devkit.simulator_twiml import Verb

API_VERSION = "2010-04-01"
DEFAULT_APP_URL = "http://localhost:7071"
DEFAULT_MAX_STEPS = 20
DEFAULT_TIMEOUT = 15.0  # seconds: Twilio's own timeout for a voice webhook
SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
USER_AGENT = "TwilioProxy/1.1"
_TWIML_TYPES = ("text/xml", "application/xml", "text/html")

Echo = Callable[[str], None]


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


def geo_params(prefix: str, number: str) -> dict[str, str]:
    return {
        f"{prefix}City": "",
        f"{prefix}State": "",
        f"{prefix}Zip": "",
        f"{prefix}Country": _country(number),
    }


#: Whose turn it is among several app origins: one count for every call of this process, as one
#: load balancer sees them all.
_TURNS = itertools.count()


class Transport:
    """Signs and sends requests under a public base URL, mapping public URLs back to the app.

    `app_url` may name several origins serving one app (several hosts behind the public base
    URL): each request goes to the next one in turn, as a load balancer would send it.
    """

    def __init__(
        self,
        app_url: str | Sequence[str],
        auth_token: str,
        public_base_url: str | None,
        timeout: float,
        session: requests.Session | None,
    ) -> None:
        apps = [app_url] if isinstance(app_url, str) else list(app_url)
        if not apps:
            raise ValueError("at least one app origin is needed")
        self.apps = [a.rstrip("/") for a in apps]
        self.app = self.apps[0]
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
        """Where a URL under the public origin is really served: an app origin (the next one)."""
        for base in (self.public, *self.apps):
            if base and (twilio_url == base or twilio_url.startswith((base + "/", base + "?"))):
                target = self.apps[next(_TURNS) % len(self.apps)]
                return target + twilio_url[len(base) :]
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


def content_type_problem(content_type: str) -> str | None:
    """None if Twilio reads this Content-Type as TwiML; else what is wrong."""
    kind = content_type.split(";")[0].strip().lower()
    if not kind:
        return "no Content-Type (Twilio expects text/xml)"
    if kind in _TWIML_TYPES or kind.endswith("+xml"):
        return None
    return f"Content-Type {kind} is not TwiML (Twilio error 12300: invalid Content-Type)"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
