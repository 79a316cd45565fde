"""The call/SMS simulator against a tiny TwiML app that verifies Twilio signatures.

The app below is test-only: an aiohttp server on a free loopback port that checks every request's
``X-Twilio-Signature`` with twilio's own :class:`RequestValidator` (over ``PUBLIC_BASE_URL`` + path
when a public base is configured, else over the URL actually requested), answers 403 when it does
not match, records what it received and answers canned TwiML per path.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from aiohttp import web
from twilio.request_validator import RequestValidator

from devkit import simulator
from devkit.simulator import CallSession, num_segments, public_url, send_sms, sign_and_post
from devkit.twilio_standin import TwilioStandin

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
CALLER = "+15558675310"
NUMBER = "+15017122661"
PUBLIC = "https://switchboard.example.net"
SID = re.compile(r"^(CA|RE|SM|MM)[0-9a-f]{32}$")

Answer = tuple[int, str] | str
Route = Callable[["Received"], Answer]


@dataclass
class Received:
    """One request as the test app saw it."""

    method: str
    path: str
    path_qs: str
    params: dict[str, str]
    headers: dict[str, str]
    signed_url: str
    valid: bool


class TwimlTestApp:
    """A TwiML app on a free loopback port, in its own thread and event loop."""

    def __init__(self, auth_token: str = AUTH_TOKEN) -> None:
        self.validator = RequestValidator(auth_token)
        self.public_base_url: str | None = None
        self.routes: dict[str, Route] = {}
        self.received: list[Received] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        """Where the app really listens."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        """The origin the app believes Twilio uses (what it builds absolute URLs from)."""
        return self.public_base_url or self.origin

    def start(self) -> None:
        """Serve until :meth:`stop`."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        """Stop the server, the loop and the thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            form = await request.post()
            params = {key: str(value) for key, value in form.items()}
            signed_params = params
        else:
            params, signed_params = dict(request.query), {}
        signed_url = (
            self.public_base_url + request.path_qs if self.public_base_url else str(request.url)
        )
        signature = request.headers.get("X-Twilio-Signature", "")
        received = Received(
            method=request.method,
            path=request.path,
            path_qs=request.path_qs,
            params=params,
            headers=dict(request.headers),
            signed_url=signed_url,
            valid=self.validator.validate(signed_url, signed_params, signature),
        )
        self.received.append(received)
        if not received.valid:
            return web.Response(status=403, text="invalid signature")
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="no such route")
        answer = route(received)
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        return web.Response(status=status, text=body, content_type="text/xml")

    def paths(self) -> list[str]:
        """The paths received, in order."""
        return [r.path for r in self.received]

    def session(self, **kwargs: object) -> CallSession:
        """A call session against this app with the test credentials."""
        options: dict[str, object] = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "public_base_url": self.public_base_url,
            "from_": CALLER,
            "to": NUMBER,
        }
        options.update(kwargs)
        return CallSession(self.origin, **options)  # type: ignore[arg-type]


@pytest.fixture
def twiml_app() -> Iterator[TwimlTestApp]:
    """A fresh signature-checking TwiML app per test."""
    app = TwimlTestApp()
    app.start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def cli_env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Credentials in the environment; no local.settings.json of the developer's is read."""
    clean_env.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    clean_env.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    clean_env.chdir(tmp_path)
    clean_env.setattr(simulator, "PROJECT_ROOT", tmp_path)
    return clean_env


def twiml(*verbs: str) -> str:
    """A TwiML document."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"


def install_voicemail_flow(app: TwimlTestApp) -> None:
    """incoming → Gather → menu → Redirect → Dial (action) → Record (+ callback) → Hangup."""
    app.routes["/api/voice/incoming"] = lambda r: twiml(
        '<Say voice="Polly.Joanna" language="en-US">Hello from Switchboard</Say>',
        '<Pause length="1"/>',
        '<Gather input="dtmf speech" numDigits="1" action="menu?attempt=1">',
        "<Say>Press 1 for sales.</Say><Play>https://media.example.com/hold.mp3</Play>",
        "</Gather>",
        "<Say>We did not get your choice.</Say>",
        "<Hangup/>",
    )
    # an absolute URL under the origin the app believes in, as apps build with PUBLIC_BASE_URL
    app.routes["/api/voice/menu"] = lambda r: twiml(
        f"<Redirect>{app.base}/api/voice/forward</Redirect>"
    )
    app.routes["/api/voice/forward"] = lambda r: twiml(
        '<Dial action="/api/voice/dial-complete" timeout="20"><Number>+15005550006</Number></Dial>',
        "<Say>never reached after a Dial with an action</Say>",
    )
    app.routes["/api/voice/dial-complete"] = lambda r: (
        twiml("<Hangup/>")
        if r.params.get("DialCallStatus") == "completed"
        else twiml(
            "<Say>Please leave a message.</Say>",
            '<Record action="/api/voice/recorded" maxLength="60" playBeep="true"'
            ' recordingStatusCallback="/api/voice/recording"/>',
        )
    )
    app.routes["/api/voice/recorded"] = lambda r: twiml("<Say>Thank you. Goodbye.</Say><Hangup/>")
    app.routes["/api/voice/recording"] = lambda r: (204, "")


@pytest.mark.parametrize("public_base", [None, PUBLIC], ids=["actual-url", "public-base-url"])
def test_call_walks_menu_forward_voicemail_with_valid_signatures(
    twiml_app: TwimlTestApp, public_base: str | None
) -> None:
    twiml_app.public_base_url = public_base
    install_voicemail_flow(twiml_app)
    recording = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    session = twiml_app.session(path="/api/voice/incoming?code=abc")

    transcript = session.run(digits=["1"], dial_status="no-answer", recording_url=recording)

    assert transcript.ok, transcript.text()
    assert transcript.ended_by == "hangup"
    assert twiml_app.paths() == [
        "/api/voice/incoming",
        "/api/voice/menu",
        "/api/voice/forward",
        "/api/voice/dial-complete",
        "/api/voice/recorded",
        "/api/voice/recording",
    ]
    assert all(r.valid for r in twiml_app.received)
    incoming, menu, forward, dial_complete, recorded, callback = twiml_app.received
    assert incoming.path_qs == "/api/voice/incoming?code=abc"
    assert menu.path_qs == "/api/voice/menu?attempt=1"  # relative action, resolved like Twilio
    if public_base:
        assert incoming.signed_url == f"{PUBLIC}/api/voice/incoming?code=abc"
    # every voice webhook carries Twilio's parameters, with one CallSid
    for r in (incoming, menu, forward, dial_complete, recorded):
        assert r.params["AccountSid"] == ACCOUNT_SID
        assert r.params["ApiVersion"] == "2010-04-01"
        assert r.params["CallSid"] == session.call_sid
        assert r.params["From"] == r.params["Caller"] == CALLER
        assert r.params["To"] == r.params["Called"] == NUMBER
        assert r.params["Direction"] == "inbound"
        assert r.params["FromCountry"] == "US"
        assert {"FromCity", "FromState", "FromZip", "ToCity", "ToState", "ToZip"} <= set(r.params)
        assert r.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert SID.match(session.call_sid)
    assert incoming.params["CallStatus"] == "ringing"
    assert {r.params["CallStatus"] for r in (menu, forward, dial_complete, recorded)} == {
        "in-progress"
    }
    assert menu.params["Digits"] == "1"
    assert "Digits" not in forward.params
    assert dial_complete.params["DialCallStatus"] == "no-answer"
    assert SID.match(dial_complete.params["DialCallSid"])
    assert "DialCallDuration" not in dial_complete.params
    assert recorded.params["RecordingUrl"] == recording
    assert SID.match(recorded.params["RecordingSid"])
    assert recorded.params["RecordingDuration"] == "7"
    assert callback.params["RecordingStatus"] == "completed"
    assert callback.params["RecordingSid"] == recorded.params["RecordingSid"]
    assert callback.params["RecordingUrl"] == recording
    assert callback.params["CallSid"] == session.call_sid
    assert callback.params["RecordingSource"] == "RecordVerb"
    tokens = [r.headers["I-Twilio-Idempotency-Token"] for r in twiml_app.received]
    assert len(set(tokens)) == len(tokens)
    # what the caller hears
    text = transcript.text()
    assert "Say (voice=Polly.Joanna, language=en-US): Hello from Switchboard" in text
    assert "Pause 1s" in text
    assert "  Say: Press 1 for sales." in text
    assert "  Play: https://media.example.com/hold.mp3" in text
    assert "caller presses 1" in text
    assert "Dial Number +15005550006" in text
    assert "never reached" not in text
    assert "Record (maxLength=60, playBeep=true" in text
    assert "Say: Thank you. Goodbye." in text
    assert [step.kind for step in transcript.steps].count("recording-status-callback") == 1
    assert [v.name for v in transcript.webhooks[-1].verbs] == ["Say", "Hangup"]


def test_gather_without_input_times_out_and_continues(twiml_app: TwimlTestApp) -> None:
    install_voicemail_flow(twiml_app)
    transcript = twiml_app.session().run()
    assert transcript.ok
    assert transcript.ended_by == "hangup"
    assert twiml_app.paths() == ["/api/voice/incoming"]
    assert "(no input: the Gather times out)" in transcript.text()
    assert "Say: We did not get your choice." in transcript.text()


def test_speech_input_and_completed_dial(twiml_app: TwimlTestApp) -> None:
    install_voicemail_flow(twiml_app)
    transcript = twiml_app.session().run(speech=["sales please"], dial_status="completed")
    assert transcript.ok, transcript.text()
    menu = twiml_app.received[1]
    assert menu.params["SpeechResult"] == "sales please"
    assert float(menu.params["Confidence"]) > 0
    assert "Digits" not in menu.params
    dial_complete = twiml_app.received[3]
    assert dial_complete.params["DialCallStatus"] == "completed"
    assert dial_complete.params["DialCallDuration"] == "42"
    assert twiml_app.paths()[-1] == "/api/voice/dial-complete"


def test_gather_get_method_finish_key_and_second_gather(twiml_app: TwimlTestApp) -> None:
    twiml_app.routes["/api/voice/incoming"] = lambda r: twiml(
        '<Gather action="/api/voice/pin" method="GET"><Say>Your PIN, then hash.</Say></Gather>'
    )
    twiml_app.routes["/api/voice/pin"] = lambda r: twiml(
        '<Gather numDigits="1" action="/api/voice/confirm"/>', "<Hangup/>"
    )
    twiml_app.routes["/api/voice/confirm"] = lambda r: twiml("<Hangup/>")
    transcript = twiml_app.session().run(digits=["1234#9", "78"])
    assert transcript.ok, transcript.text()
    pin, confirm = twiml_app.received[1], twiml_app.received[2]
    assert pin.method == "GET"
    assert pin.valid
    assert pin.params["Digits"] == "1234"
    assert confirm.params["Digits"] == "7"


def test_reject_ends_the_call_unanswered(twiml_app: TwimlTestApp) -> None:
    twiml_app.routes["/api/voice/incoming"] = lambda r: twiml(
        '<Reject reason="busy"/>', "<Say>unreachable</Say>"
    )
    twiml_app.routes["/api/status/call"] = lambda r: (204, "")
    transcript = twiml_app.session(status_callback="/api/status/call").run()
    assert transcript.ok
    assert transcript.ended_by == "reject"
    assert not transcript.answered
    assert "Reject (reason=busy)" in transcript.text()
    assert "unreachable" not in transcript.text()
    status = twiml_app.received[-1]
    assert status.path == "/api/status/call"
    assert status.valid
    assert status.params["CallStatus"] == "busy"


def test_unknown_verb_is_shown_not_a_crash(twiml_app: TwimlTestApp) -> None:
    twiml_app.routes["/api/voice/incoming"] = lambda r: twiml(
        '<Frobnicate level="3">loudly</Frobnicate>',
        "<Pay>card</Pay>",
        "<Enqueue>support</Enqueue>",
        "<Say>after</Say>",
    )
    transcript = twiml_app.session().run()
    assert transcript.ok
    assert transcript.ended_by == "end"
    assert 'Unknown verb <Frobnicate level="3"> loudly (shown, skipped)' in transcript.text()
    assert "Pay: card (not simulated, skipped)" in transcript.text()
    # Queues live in the Twilio stand-in: without one, <Enqueue> is shown and skipped.
    assert "<Enqueue> needs the Twilio stand-in (standin_url)" in transcript.warnings
    assert "Say: after" in transcript.text()
    assert transcript.warnings


def test_redirect_loop_is_bounded(twiml_app: TwimlTestApp) -> None:
    twiml_app.routes["/api/voice/incoming"] = lambda r: twiml("<Redirect>incoming</Redirect>")
    transcript = twiml_app.session(max_steps=5).run()
    assert not transcript.ok
    assert transcript.ended_by == "max-steps"
    assert len(twiml_app.received) == 5


def test_unreachable_app_is_an_error_not_an_exception() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    session = CallSession(
        f"http://127.0.0.1:{port}",
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_=CALLER,
        to=NUMBER,
        timeout=2,
    )
    transcript = session.run()
    assert not transcript.ok
    # The one line a new user needs, not urllib3's nested exception text.
    assert transcript.errors[0] == (
        f"nothing answers at http://127.0.0.1:{port} (the function app): start `make run` "
        "(in another terminal), then run this again"
    )
    assert "HTTPConnectionPool" not in transcript.text()


def test_sign_and_post_signature_matrix(twiml_app: TwimlTestApp) -> None:
    twiml_app.routes["/api/status/message"] = lambda r: (200, "")
    twiml_app.public_base_url = PUBLIC
    url = f"{twiml_app.origin}/api/status/message?code=k"
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}

    def post(**kwargs: object) -> int:
        options: dict[str, object] = {"auth_token": AUTH_TOKEN, "public_base_url": PUBLIC}
        options.update(kwargs)
        return sign_and_post(url, params, **options).status  # type: ignore[arg-type]

    assert post() == 200
    assert post(signature="forged") == 403
    assert post(sign=False) == 403
    assert post(auth_token="another-token") == 403
    assert post(public_base_url=None) == 403  # signed over the actual URL: not what the app expects
    assert post(signed_url=f"{PUBLIC}/api/status/message?code=k") == 200
    assert post(signed_url=f"{PUBLIC}/api/status/message") == 403  # the query is signed too
    response = sign_and_post(url, params, auth_token=AUTH_TOKEN, public_base_url=PUBLIC)
    assert response.signed_url == f"{PUBLIC}/api/status/message?code=k"
    assert response.headers["X-Twilio-Signature"] == RequestValidator(AUTH_TOKEN).compute_signature(
        response.signed_url, params
    )


def test_public_url_and_segments() -> None:
    assert public_url("http://127.0.0.1:7071/api/x?a=1", "https://p.example/") == (
        "https://p.example/api/x?a=1"
    )
    assert public_url("http://127.0.0.1:7071/api/x", None) == "http://127.0.0.1:7071/api/x"
    assert num_segments("a" * 160) == 1
    assert num_segments("a" * 161) == 2
    assert num_segments("é" * 70 + "😀") == 2  # not GSM-7: UCS-2 units


def test_sms_with_media_library(twiml_app: TwimlTestApp) -> None:
    twiml_app.routes["/api/sms/incoming"] = lambda r: twiml(
        f"<Message>Got {r.params['NumMedia']} pictures &amp; your text</Message>",
        '<Message to="+15551230000"><Body>Forwarded</Body>'
        "<Media>https://media.example.com/a.jpg</Media></Message>",
    )
    media = ["https://media.example.com/cat.jpg", "https://media.example.com/dog.png"]
    result = send_sms(
        twiml_app.origin,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_=CALLER,
        to=NUMBER,
        body="look",
        media_urls=media,
    )
    assert result.ok
    assert result.status == 200
    (received,) = twiml_app.received
    assert received.valid
    params = received.params
    assert params["NumMedia"] == "2"
    assert params["NumSegments"] == "1"
    assert params["MediaUrl0"] == media[0]
    assert params["MediaContentType0"] == "image/jpeg"
    assert params["MediaUrl1"] == media[1]
    assert params["MediaContentType1"] == "image/png"
    assert params["SmsStatus"] == "received"
    assert params["Body"] == "look"
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert SID.match(params["MessageSid"])
    assert [m.body for m in result.messages] == ["Got 2 pictures & your text", "Forwarded"]
    assert result.messages[1].to == "+15551230000"
    assert result.messages[1].media == ["https://media.example.com/a.jpg"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`main(argv)`: its exit status and what it printed."""
    status = simulator.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_sms_mms(
    twiml_app: TwimlTestApp, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    twiml_app.routes["/api/sms/incoming"] = lambda r: twiml(
        '<Message to="+15551230000">From &lt;owner&gt;<Media>https://m.example/x.gif</Media>'
        "</Message>"
    )
    status, out, _ = run_cli(
        capsys,
        "sms",
        "--from",
        CALLER,
        "--to",
        NUMBER,
        "--body",
        "hi there",
        "--media",
        "https://media.example.com/cat.jpg",
        "--app",
        twiml_app.origin,
    )
    assert status == 0, out
    assert twiml_app.received[0].valid
    assert twiml_app.received[0].params["MediaUrl0"] == "https://media.example.com/cat.jpg"
    assert "Message to=+15551230000: From <owner>" in out
    assert "Media: https://m.example/x.gif" in out


def test_cli_call_with_public_base_url_from_local_settings(
    twiml_app: TwimlTestApp,
    cli_env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_env.delenv("TWILIO_AUTH_TOKEN")
    (tmp_path / "local.settings.json").write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": PUBLIC},
            }
        )
    )
    twiml_app.public_base_url = PUBLIC
    install_voicemail_flow(twiml_app)
    twiml_app.routes["/api/status/call"] = lambda r: (204, "")
    status, out, err = run_cli(
        capsys,
        "call",
        "--from",
        CALLER,
        "--to",
        NUMBER,
        "--digits",
        "1",
        "--dial-status",
        "busy",
        "--app",
        twiml_app.origin,
    )
    assert status == 0, out + err
    assert all(r.valid for r in twiml_app.received)
    assert twiml_app.received[3].params["DialCallStatus"] == "busy"
    assert f"signed for {PUBLIC}" in out
    assert "Call ended: hangup" in out
    # By default the call ends as a number's status callback says it did, signed like the rest.
    final = twiml_app.received[-1]
    assert final.path == "/api/status/call"
    assert final.params["CallStatus"] == "completed"
    assert int(final.params["CallDuration"]) >= 1


def test_cli_500_exits_non_zero(
    twiml_app: TwimlTestApp, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    twiml_app.routes["/api/voice/incoming"] = lambda r: (500, "boom")
    status, out, err = run_cli(
        capsys, "call", "--from", CALLER, "--to", NUMBER, "--app", twiml_app.origin
    )
    assert status == 1
    assert "HTTP 500" in err
    assert "boom" in err
    assert "ERROR" in out


def test_cli_invalid_twiml_exits_non_zero(
    twiml_app: TwimlTestApp, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    twiml_app.routes["/api/voice/incoming"] = lambda r: "<Response><Say>unclosed</Response>"
    status, _, err = run_cli(
        capsys, "call", "--from", CALLER, "--to", NUMBER, "--app", twiml_app.origin
    )
    assert status == 1
    assert "invalid XML" in err
    twiml_app.routes["/api/sms/incoming"] = lambda r: "<Reply>not twiml</Reply>"
    status, _, err = run_cli(
        capsys, "sms", "--from", CALLER, "--to", NUMBER, "--body", "x", "--app", twiml_app.origin
    )
    assert status == 1
    assert "not <Response>" in err


def test_cli_missing_credentials_and_help(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.delenv("TWILIO_AUTH_TOKEN")
    status, _, err = run_cli(capsys, "call", "--from", CALLER, "--to", NUMBER)
    assert status == 2
    assert "TWILIO_AUTH_TOKEN" in err
    status, out, _ = run_cli(capsys, "call", "--help")
    assert status == 0
    assert "--dial-status" in out


def _ring_group_app(twiml_app: TwimlTestApp) -> None:
    """Three numbers ring together; each hears a whisper asking for 1; 1 connects, else hang up."""
    twiml_app.routes["/api/voice/incoming"] = lambda r: twiml(
        '<Dial action="/api/voice/dial-complete" callerId="+15017122661">'
        '<Number url="/api/voice/whisper">+15550000001</Number>'
        '<Number url="/api/voice/whisper">+15550000002</Number>'
        '<Number url="/api/voice/whisper">+15550000003</Number></Dial>'
    )
    twiml_app.routes["/api/voice/whisper"] = lambda r: (
        twiml("")
        if r.params.get("Digits") == "1"
        else twiml("<Hangup/>")
        if "Digits" in r.params
        else twiml(
            '<Gather numDigits="1" action="/api/voice/whisper"><Say>Press 1.</Say></Gather>'
            "<Hangup/>"
        )
    )
    twiml_app.routes["/api/voice/dial-complete"] = lambda r: twiml("<Hangup/>")


def test_ring_group_whispers_until_one_accepts(twiml_app: TwimlTestApp) -> None:
    _ring_group_app(twiml_app)
    callees = simulator.parse_callees(["+15550000001=", "+15550000002=9", "+15550000003=1"])
    transcript = twiml_app.session().run(callees=callees)
    assert transcript.ok, transcript.text()
    whispers = [r for r in twiml_app.received if r.path == "/api/voice/whisper"]
    # 1 answers and presses nothing (one request); 2 presses 9; 3 presses 1 and takes the call.
    assert [w.params["To"] for w in whispers] == ["+15550000001"] + ["+15550000002"] * 2 + [
        "+15550000003"
    ] * 2
    assert all(w.valid for w in whispers)
    leg = whispers[-1].params["CallSid"]
    assert whispers[-1].params["ParentCallSid"] == transcript.call_sid
    assert whispers[-1].params["From"] == "+15017122661"  # the Dial's callerId
    assert whispers[-1].params["Direction"] == "outbound-dial"
    done = twiml_app.received[-1]
    assert done.path == "/api/voice/dial-complete"
    assert done.params["DialCallStatus"] == "completed"
    assert done.params["DialCallSid"] == leg


def test_ring_group_nobody_accepts(twiml_app: TwimlTestApp) -> None:
    _ring_group_app(twiml_app)
    callees = simulator.parse_callees(["+15550000001=", "+15550000002=no-answer"])
    transcript = twiml_app.session().run(callees=callees)
    assert transcript.ok, transcript.text()
    done = twiml_app.received[-1]
    # One leg was answered, then hung up in its whisper: the legs completed, nobody took it.
    assert done.params["DialCallStatus"] == "completed"
    assert "DialCallDuration" not in done.params
    nobody = twiml_app.session().run(callees=simulator.parse_callees(["+15550000002=busy"]))
    assert twiml_app.received[-1].params["DialCallStatus"] == "no-answer"
    assert nobody.ok


def test_parse_callees_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="behaviour"):
        simulator.parse_callees(["+15550000001=maybe"])
    with pytest.raises(ValueError, match="expected"):
        simulator.parse_callees(["15550000001"])


def test_transcription_callback_follows_the_recording_and_repeats(
    twiml_app: TwimlTestApp,
) -> None:
    twiml_app.routes["/api/voice/incoming"] = lambda r: twiml(
        '<Record action="/api/voice/recording" recordingStatusCallback="/api/voice/recording"'
        ' transcribe="true" transcribeCallback="/api/voice/recording"/>'
    )
    twiml_app.routes["/api/voice/recording"] = lambda r: twiml("<Hangup/>")
    transcript = twiml_app.session().run(transcription_text="Call me back", callback_repeats=2)
    assert transcript.ok, transcript.text()
    kinds = [step.kind for step in transcript.steps]
    assert kinds.count("recording-status-callback") == 2
    assert kinds.count("transcription-callback") == 2
    sent = [r for r in twiml_app.received if "TranscriptionText" in r.params]
    assert len(sent) == 2
    assert sent[0].params == sent[1].params  # a retry is the same request
    assert sent[0].params["TranscriptionText"] == "Call me back"
    assert sent[0].params["TranscriptionStatus"] == "completed"
    recording = next(r for r in twiml_app.received if "RecordingStatus" in r.params)
    assert sent[0].params["RecordingSid"] == recording.params["RecordingSid"]
    assert sent[0].valid


def test_a_recording_is_served_by_the_standin_when_asked(twiml_app: TwimlTestApp) -> None:
    twiml_app.routes["/api/voice/incoming"] = lambda r: twiml(
        '<Record action="/api/voice/recording" recordingStatusCallback="/api/voice/recording"/>'
    )
    twiml_app.routes["/api/voice/recording"] = lambda r: twiml("<Hangup/>")
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as standin:
        transcript = twiml_app.session(standin_url=standin.base_url).run(recording_duration=11)
        assert transcript.ok, transcript.text()
        status = next(r for r in twiml_app.received if "RecordingStatus" in r.params)
        sid = status.params["RecordingSid"]
        served = requests.get(
            status.params["RecordingUrl"].replace("https://api.twilio.com", standin.base_url)
            + ".json",
            auth=(ACCOUNT_SID, AUTH_TOKEN),
            timeout=5,
        ).json()
        assert (served["sid"], served["call_sid"], served["duration"]) == (
            sid,
            status.params["CallSid"],
            "11",
        )
