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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from devkit.localsettings import LocalSettingsError, load_local_settings, local_http_port
from devkit.simulator_call import (
    CALL_STATUS_PATH,
    DIAL_STATUSES,
    VOICE_PATH,
    CallSession,
    SimulatorError,
    Transcript,
    parse_callees,
)
from devkit.simulator_dial import Callee
from devkit.simulator_http import (
    API_VERSION,
    DEFAULT_APP_URL,
    DEFAULT_MAX_STEPS,
    DEFAULT_TIMEOUT,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    USER_AGENT,
    Echo,
    Step,
    Transport,
    WebhookResponse,
    compute_signature,
    content_type_problem,
    geo_params,
    new_sid,
    no_answer,
    path_of,
    public_url,
    sign_and_post,
)
from devkit.simulator_twiml import (
    Message,
    TwimlError,
    Verb,
    describe_verb,
    message_from_verb,
    parse_twiml,
)

__all__ = [
    "API_VERSION",
    "CALL_STATUS_PATH",
    "DEFAULT_APP_URL",
    "DIAL_STATUSES",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "VOICE_PATH",
    "CallSession",
    "Callee",
    "Credentials",
    "Message",
    "SimulatorError",
    "SmsResult",
    "Step",
    "Transcript",
    "TwimlError",
    "Verb",
    "WebhookResponse",
    "compute_signature",
    "describe_verb",
    "load_credentials",
    "main",
    "message_from_verb",
    "new_sid",
    "no_answer",
    "num_segments",
    "parse_callees",
    "parse_twiml",
    "public_url",
    "send_sms",
    "sign_and_post",
]

SMS_PATH = "/api/sms/incoming"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Credentials:
    """What the simulator signs with, and the public origin the app believes Twilio uses."""

    account_sid: str
    auth_token: str
    public_base_url: str | None = None
    #: The Twilio stand-in (`TWILIO_API_BASE_URL` when it is a loopback URL): where calls
    #: wait in queues, and where the app's own calls ring.
    standin_url: str | None = None


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
    api = setting("TWILIO_API_BASE_URL")
    loopback = urlsplit(api).hostname in {"localhost", "127.0.0.1", "::1"}
    return Credentials(
        account_sid=setting("TWILIO_ACCOUNT_SID"),
        auth_token=setting("TWILIO_AUTH_TOKEN"),
        public_base_url=setting("PUBLIC_BASE_URL") or None,
        standin_url=api.rstrip("/") if api and loopback else None,
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
    transport = Transport(app_url, auth_token, public_base_url, timeout, session)

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
        **geo_params("From", from_),
        **geo_params("To", to),
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
        say(f"> {method} {path_of(step.sent_to)}  -> {step.status}")
        if step.error:
            fail(step.error)
            return result
        if not step.body.strip():
            say("  (no reply)")
            return result
        problem = content_type_problem(step.content_type)
        if problem and not problem.startswith("no "):
            fail(f"{path_of(step.sent_to)}: {problem}")
            return result
        try:
            step.verbs = parse_twiml(step.body)
        except TwimlError as exc:
            fail(f"{path_of(step.sent_to)}: {exc}")
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
    call.add_argument(
        "--standin",
        default=None,
        metavar="URL",
        help=(
            "the Twilio stand-in, where calls wait in queues (default TWILIO_API_BASE_URL when it "
            "is a loopback URL)"
        ),
    )
    call.add_argument(
        "--queue-pace",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help=(
            "while waiting in a queue, ask its wait URL again at least this often (Twilio asks "
            "when each wait document ends; default %(default)s)"
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

    answer = commands.add_parser(
        "answer",
        help="answer a call the app placed",
        description=(
            "Answer the call ringing a number (one the app placed, to a number whose calls the "
            'stand-in leaves ringing: "answer": "manual" in POST /_standin/outcomes) and play '
            "its TwiML, pressing --digits."
        ),
    )
    answer.add_argument("--to", required=True, metavar="+E164", help="the phone that rings")
    answer.add_argument("--digits", action="append", default=[], metavar="DIGITS")
    answer.add_argument("--app", default=None, metavar="URL", help="the running app's origin")
    answer.add_argument("--standin", default=None, metavar="URL", help="the Twilio stand-in")
    answer.add_argument(
        "--wait", type=float, default=30.0, metavar="SECONDS", help="for the call to ring"
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
    if args.command == "answer":
        return _answer(args, credentials, app_url, echo)
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
            standin_url=args.standin or credentials.standin_url,
            queue_pace=args.queue_pace,
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


def _answer(args: argparse.Namespace, credentials: Credentials, app_url: str, echo: Echo) -> int:
    """`python -m devkit answer`: the first call ringing `--to`, answered and played."""
    import time

    from devkit.simulator_outbound import AnsweredCall

    standin = (args.standin or credentials.standin_url or "").rstrip("/")
    if not standin:
        print(
            "error: --standin is needed (TWILIO_API_BASE_URL is not a loopback URL)",
            file=sys.stderr,
        )
        return 2
    http = requests.Session()
    http.trust_env = False
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        try:
            ringing = http.get(
                f"{standin}/_standin/calls", params={"to": args.to, "status": "ringing"}, timeout=5
            ).json()
        except requests.RequestException as exc:
            print(f"error: {no_answer('GET', standin, exc)}", file=sys.stderr)
            return 1
        if ringing:
            break
        if time.monotonic() > deadline:
            print(f"error: no call rang {args.to} within {args.wait:g} s", file=sys.stderr)
            return 1
        time.sleep(0.2)
    transcript = AnsweredCall(
        standin,
        app_url,
        account_sid=credentials.account_sid,
        auth_token=credentials.auth_token,
        call_sid=str(ringing[0]["sid"]),
        public_base_url=credentials.public_base_url,
        echo=echo,
    ).run(args.digits)
    if transcript.errors:
        print(f"error: {transcript.errors[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
