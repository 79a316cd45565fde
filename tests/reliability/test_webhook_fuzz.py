"""Fuzzing every Twilio-facing route with correctly signed, random and hostile form bodies.

What Twilio could post (and what a compromised or buggy caller holding the auth token could):
realistic parameters for the route, then random edits: fields dropped, repeated (with other
values), replaced by hostile values (huge, unicode from every plane but surrogates, control
characters, XML / `]]>` / CDATA / `<Say>` text injection aimed at adding a `<Hangup/>`, a
`<Dial>` or a `<Message>` to a number only the attack knows), unknown fields, odd query strings
in the signed URL, odd idempotency tokens, and empty bodies. Every request is signed over exactly
what is sent, so the signature check passes and the route's own code runs.

What must hold for each: never 5xx, never 403 (the signature is right), a voice or SMS route
answers 200 `text/xml` TwiML that parses with a `<Response>` root and in which hostile text is
only ever text (`check_twiml`); a status callback answers 204 (applied) or 400 (not a callback).

Fast path: the functions discovered from `function_app.app` are called in process with
`azure.functions.HttpRequest` objects, storage on the session Azurite. A smaller sample goes
through the real local host over HTTP.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.conftest import (
    ACCOUNT_SID,
    BUSINESS,
    INJECTED,
    TWILIO_ROUTES,
    HostFactory,
    InProcessApp,
    app_env,
    check_twiml,
    form_body,
    in_process_settings,
    sign,
    sized,
    twilio_functions,
)

CANARY = "CANARY7"
INJECTIONS = [
    f"{CANARY}</Say><Hangup/><Dial>{INJECTED}</Dial><Say>",
    f"{CANARY}]]><Dial>{INJECTED}</Dial><![CDATA[",
    f'{CANARY}<![CDATA[</Message><Message to="{INJECTED}">pwned</Message>]]>',
    f'{CANARY}</Body></Message><Message to="{INJECTED}"><Body>x',
    f"{CANARY}<?xml version='1.0'?><!DOCTYPE r [<!ENTITY x 'y'>]>&x;&lt;&#0;&#xD800;",
    f'{CANARY}" to="{INJECTED}" action="https://evil.example/" x="',
    f"{CANARY}<Redirect>https://evil.example/</Redirect><Reject/>",
    f"{CANARY}<Say>{INJECTED}</Say></Response><Response><Hangup/>",
]
WEIRD = [
    "\x00",
    "\x01",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b[31m",
    "\x7f",
    "\u0085",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\ufffd",
    "\ufffe",
    "\uffff",
    "\U0001f4de",
    "\U000e0041",
    "\U000f0000",
    "\U0010fffd",
    "\U0010ffff",
    "e\u0301\u0301\u0301",
    "\r\n",
    "%00",
    "%ZZ",
    "&",
    "=",
    "+",
    "'\"",
]
PHONE_FIELDS = {"From", "To", "Caller", "Called", "ForwardedFrom"}
#: Free text Twilio relays from people: numbers in it are fine (and must not be logged either).
CONTENT_FIELDS = {"Body", "SpeechResult", "TranscriptionText", "ApiVersion", "Digits"}
_PHONE_SHAPED = re.compile(r"\+\d{8,15}")

unicode_text = st.text(st.characters(codec="utf-8"), max_size=40)
astral_text = st.text(st.characters(codec="utf-8", min_codepoint=0x10000), max_size=20)
weird_text = st.lists(st.sampled_from(WEIRD), min_size=1, max_size=6).map("".join)


@st.composite
def huge_text(draw: st.DrawFn, max_chars: int) -> str:
    """A value far larger than Twilio sends: a short piece repeated up to `max_chars`."""
    piece = draw(
        st.one_of(st.sampled_from(["A", "é", "\U0001f4de", "<&>", *INJECTIONS]), weird_text)
    )
    return (piece * (draw(st.integers(1_000, max_chars)) // max(len(piece), 1) + 1))[:max_chars]


def hostile_values(max_chars: int) -> st.SearchStrategy[str]:
    return st.one_of(
        unicode_text,
        astral_text,
        weird_text,
        st.sampled_from(INJECTIONS),
        st.tuples(unicode_text, st.sampled_from(INJECTIONS), weird_text).map("".join),
        huge_text(max_chars),
        st.sampled_from(["", " ", "STOP", " stop\n", "START", "help", "yes", "0", "-1", "1e9"]),
    )


def phone_values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True),
        st.sampled_from(
            [
                "",
                "anonymous",
                "client:alice",
                "sip:bob@example.com",
                "+",
                "+0",
                "266696687",
                INJECTED,
            ]
        ),
        st.sampled_from(["+15558670001", "+15005550006", BUSINESS]),
    )


def no_phone(value: str) -> str:
    """Phone-shaped text only where people put numbers (phone and free-text fields): the app
    may log SIDs and status words as they come, and the log scan flags any E.164 number."""
    return _PHONE_SHAPED.sub("+1 (phone)", value)


def sid(prefix: str, draw: st.DrawFn) -> str:
    return prefix + draw(st.uuids()).hex


def baseline(route: str, draw: st.DrawFn) -> list[tuple[str, str]]:
    """What Twilio posts to `route`, with fresh SIDs."""
    call = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", sid("CA", draw)),
        ("From", draw(phone_values())),
        ("To", BUSINESS),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]
    if route == "voice/incoming":
        return [*call, ("CallStatus", "ringing"), ("Caller", "+15557770103")]
    if route == "voice/menu":
        picked = draw(st.sampled_from([("Digits", "1"), ("Digits", "2"), ("Digits", "3")]))
        speech = ("SpeechResult", draw(st.sampled_from(["sales", "hours", "message", ""])))
        return [*call, ("CallStatus", "in-progress"), picked, speech]
    if route == "voice/dial-complete":
        status = draw(st.sampled_from(["completed", "answered", "busy", "no-answer", "failed"]))
        return [*call, ("DialCallStatus", status), ("DialCallDuration", "12")]
    if route == "voice/whisper":
        parent = ("ParentCallSid", sid("CA", draw))
        digits = draw(st.sampled_from([[], [("Digits", "1")], [("Digits", "9")]]))
        return [*call, parent, ("CallStatus", "in-progress"), *digits]
    if route == "voice/queue-wait":
        waiting = [
            ("QueuePosition", draw(st.sampled_from(["1", "2", "0", "-1", "x", "9" * 12]))),
            ("QueueTime", draw(st.sampled_from(["0", "30", "601", "-5", "1e9", ""]))),
            ("AvgQueueTime", draw(st.sampled_from(["0", "90", "x"]))),
            ("CurrentQueueSize", "2"),
            ("MaxQueueSize", "20"),
        ]
        digits = draw(st.sampled_from([[], [("Digits", "1")], [("Digits", "5")]]))
        return [*call, ("CallStatus", "in-progress"), *waiting, *digits]
    if route == "voice/queue-result":
        result = draw(
            st.sampled_from(
                [
                    "bridged",
                    "bridging-in-process",
                    "queue-full",
                    "hangup",
                    "leave",
                    "redirected",
                    "system-error",
                    "error",
                    "",
                    "x",
                ]
            )
        )
        return [*call, ("QueueResult", result), ("QueueTime", "42"), ("QueueSid", sid("QU", draw))]
    if route == "voice/queue-offer":
        digits = draw(st.sampled_from([[], [("Digits", "1")], [("Digits", "7")]]))
        return [*call, ("CallStatus", "in-progress"), *digits]
    if route == "voice/queue-connect":
        return [
            *call,
            ("QueueSid", sid("QU", draw)),
            ("QueueTime", "12"),
            ("DequeingCallSid", sid("CA", draw)),
        ]
    if route == "voice/recording":
        extra = draw(
            st.sampled_from(
                [
                    [],
                    [("RecordingStatus", "completed")],
                    [("TranscriptionStatus", "completed"), ("TranscriptionText", "hi")],
                ]
            )
        )
        return [
            *call,
            ("RecordingUrl", f"https://api.twilio.com/2010-04-01/Recordings/{sid('RE', draw)}"),
            ("RecordingSid", sid("RE", draw)),
            ("RecordingDuration", "7"),
            *extra,
        ]
    if route == "sms/incoming":
        message = sid("SM", draw)
        return [
            ("AccountSid", ACCOUNT_SID),
            ("MessageSid", message),
            ("SmsSid", message),
            ("From", draw(phone_values())),
            ("To", BUSINESS),
            ("Body", draw(st.sampled_from(["Hello", "STOP", "start", " HELP ", "INFO"]))),
            ("NumMedia", draw(st.sampled_from(["0", "1", "11", "-3", "x"]))),
            ("MediaUrl0", "https://api.twilio.com/2010-04-01/Media/ME1"),
            ("MediaContentType0", "image/jpeg"),
            ("NumSegments", "1"),
        ]
    if route == "status/call":
        status = draw(st.sampled_from(["initiated", "ringing", "in-progress", "completed", "busy"]))
        return [
            *call,
            ("CallStatus", status),
            ("CallDuration", "9"),
            ("AnsweredBy", "human"),
            ("SequenceNumber", "2"),
        ]
    assert route == "status/message"
    status = draw(st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed"]))
    return [
        ("AccountSid", ACCOUNT_SID),
        ("MessageSid", sid("SM", draw)),
        ("MessageStatus", status),
        ("ErrorCode", draw(st.sampled_from(["", "30003", "21610", "abc"]))),
        ("From", BUSINESS),
        ("To", draw(phone_values())),
    ]


QUERIES = {
    "voice/menu": [
        "attempt=1",
        "attempt=2",
        "attempt=0",
        "attempt=-5",
        "attempt=abc",
        "attempt=99999999999999999999",
        "attempt=2&attempt=1",
        "attempt=",
        "attempt=1&at=open.0",
        "attempt=1&at=open.0.1.0",
        "attempt=1&at=closed.99",
        "attempt=1&at=open." + "0." * 40 + "0",
        "at=%00&attempt=1",
    ],
    "voice/dial-complete": [
        "at=open.0",
        "at=open.0&turn=1",
        "at=open.0&turn=999",
        "at=x",
        "turn=-1",
    ],
    "voice/whisper": [
        "at=open.0&person=0",
        "at=open.0&person=0&answered=1",
        "at=open.9&person=99",
        "at=open.0&person=-1",
        "at=" + "o" * 3000,
        "person=1",
    ],
    "voice/queue-wait": [
        "line=%2B15017122661&at=open.0&hop=1",
        "line=%2B15017122661&at=open.0&hop=1&arrived=1796600000",
        "line=%2B15017122661&at=open.0&arrived=-1",
        "line=%2B15017122661&role=connect&cb=CA" + "0" * 32 + "&person=0",
        "line=x&at=open.99",
        "line=" + "9" * 3000,
    ],
    "voice/queue-result": [
        "line=%2B15017122661&at=open.0&hop=1",
        "line=%2B15017122661&at=closed.0",
        "line=%2B15017122661&role=connect&cb=CA"
        + "0" * 32
        + "&person=0&offer=sys-queue-offer-1-1-0",
        "line=%2B15017122661&role=connect&cb=x&person=99",
        "at=%00",
    ],
    "voice/queue-offer": [
        "line=%2B15017122661&person=0&offer=sys-queue-offer-15017122661-1-0",
        "line=%2B15017122661&person=0&offer=sys-queue-offer-15017122661-1-0&stage=key",
        "line=%2B15017122661&person=0&offer=sys-queue-offer-15017122661-1-0&stage=done",
        "line=%2B15017122661&person=-1&offer=x",
        "person=1",
    ],
    "voice/queue-connect": [
        "line=%2B15017122661&person=0&offer=sys-queue-offer-15017122661-1-0",
        "line=%2B15017122661&person=0&cb=CA" + "1" * 32,
        "line=%2B15017122661&cb=nope",
        "",
    ],
    "status/call": ["id=rel-1", "id=a%2Fb", "id=%00", "id=" + "x" * 2000, "id=", "id=%F0%9F%93%9E"],
    "status/message": ["id=rel-2", "id=a%23b", "id=" + "y" * 1500],
}


@st.composite
def webhook(draw: st.DrawFn, route: str, max_chars: int) -> dict[str, Any]:
    """One signed request to `route`: form pairs, query, headers."""
    if draw(st.integers(0, 19)) == 0:
        pairs: list[tuple[str, str]] = []
    else:
        pairs = baseline(route, draw)
        names = [name for name, _ in pairs]
        for _ in range(draw(st.integers(0, 6))):
            op = draw(st.sampled_from(["drop", "set", "repeat", "add"]))
            if op == "drop" and pairs:
                pairs.pop(draw(st.integers(0, len(pairs) - 1)))
            elif op in ("set", "repeat"):
                name = draw(st.sampled_from(names))
                value = draw(phone_values() if name in PHONE_FIELDS else hostile_values(max_chars))
                if op == "set":
                    pairs = [(n, v) for n, v in pairs if n != name]
                pairs.append((name, value))
            elif op == "add":
                name = draw(
                    st.one_of(st.sampled_from(["Body", "Digits", "ErrorMessage"]), unicode_text)
                )
                pairs.append((name, draw(hostile_values(max_chars))))
        pairs = [(n, v if n in PHONE_FIELDS | CONTENT_FIELDS else no_phone(v)) for n, v in pairs]
        pairs = [(no_phone(n), v) for n, v in pairs]
    query = draw(st.sampled_from(["", *QUERIES.get(route, []), "code=abc%2Fdef%3D%3D&x=1"]))
    headers = {}
    if draw(st.booleans()):
        headers["I-Twilio-Idempotency-Token"] = draw(
            st.one_of(
                st.uuids().map(str),
                st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
            ).map(no_phone)  # the app logs the token of a retry
        )
    content_type = draw(
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded; charset=utf-8",
                "Application/X-WWW-Form-Urlencoded;charset=UTF-8",
            ]
        )
    )
    return {"pairs": pairs, "query": query, "headers": headers, "content_type": content_type}


def markers(pairs: list[tuple[str, str]]) -> list[str]:
    """What an injection carries (it must never come back inside an attribute or as a verb)."""
    injected = any(CANARY in value for _, value in pairs)
    return [CANARY, INJECTED] if injected else []


def describe(request: dict[str, Any]) -> str:
    """A readable summary of a (possibly huge) request, for hypothesis' failure report."""
    pairs = [
        (name[:40], f"{value[:80]!r}" + (f"... ({len(value)} chars)" if len(value) > 80 else ""))
        for name, value in request["pairs"]
    ]
    return f"pairs={pairs} query={request['query'][:100]!r} headers={request['headers']!r}"


def oversized(pairs: list[tuple[str, str]]) -> bool:
    """Whether a form is larger than anything Twilio sends (the webhook shell's caps:
    refused 413 before parsing, signed or not)."""
    from switchboard.twilio.webhook import MAX_WEBHOOK_BYTES, MAX_WEBHOOK_PARAMS

    body = form_body(pairs)
    return len(body) > MAX_WEBHOOK_BYTES or body.count(b"&") + 1 > MAX_WEBHOOK_PARAMS


def check_answer(
    route: str, status: int, mimetype: str, body: bytes, hostile: list[str], *, too_big: bool
) -> None:
    """The oracle shared by both paths."""
    assert status < 500, (status, body[:300])
    if too_big:
        assert status == 413, (status, body[:300])
        return
    assert status != 403, "a correctly signed request was refused"
    if route.startswith("status/"):
        assert status in (204, 400), (status, body[:300])
        return
    assert status == 200, (status, body[:300])
    assert mimetype.split(";")[0].strip() == "text/xml", mimetype
    check_twiml(body, hostile=hostile)


# --- in process ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(storage_connection_string: str) -> Iterator[InProcessApp]:
    # Hundreds of fuzzed texts from new senders: limits no fuzz reaches, so every real text
    # still gets its auto-reply (the budget has tests of its own: test_outsider_sends.py).
    env = app_env(
        "fuzz",
        AzureWebJobsStorage=storage_connection_string,
        AUTOMATIC_SMS_DAILY_LIMIT="100000",
        AUTOMATIC_SMS_BURST_LIMIT="500",
    )
    with in_process_settings(env):
        yield InProcessApp("https://switchboard-fuzz.example.net", twilio_functions())


def test_every_twilio_route_is_covered(app: InProcessApp) -> None:
    assert sorted(app.functions) == sorted(TWILIO_ROUTES)


@sized(default=150, soak=2000)
@pytest.mark.parametrize("route", TWILIO_ROUTES)
def test_signed_fuzz_in_process(app: InProcessApp, route: str, size: int) -> None:
    @settings(
        max_examples=size,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=webhook(route, max_chars=300_000))
    def run(request: dict[str, Any]) -> None:
        pairs = request["pairs"]
        note(describe(request))
        response = app.post(
            route,
            pairs,
            url=app.url(route, request["query"]),
            headers=request["headers"],
            content_type=request["content_type"],
        )
        check_answer(
            route,
            response.status_code,
            response.mimetype or "",
            response.get_body(),
            markers(pairs),
            too_big=oversized(pairs),
        )

    run()


@pytest.mark.parametrize(
    "document",
    [
        f"<Response><Say>a</Say><Hangup/><Dial>{INJECTED}</Dial><Say></Say></Response>",
        f"<Response><Say>a</Say><Dial>{INJECTED}</Dial></Response>",
        "<Response><Say>a</Say><Hangup/><Say>b</Say><Hangup/></Response>",
        "<Response><Hangup/><Gather/></Response>",
        f'<Response><Message to="{INJECTED}">pwned</Message></Response>',
        '<Response><Say x="CANARY7">a</Say></Response>',
        "<Response><Say>a</Say></Response><Response/>",
        "<Response><Play>https://evil.example/a.mp3</Play></Response>",
        "<Say>a</Say>",
    ],
)
def test_the_oracle_catches_injected_markup(document: str) -> None:
    """`check_twiml` itself: each of these is what a successful injection would look like."""
    with pytest.raises((AssertionError, ET.ParseError)):
        check_twiml(document.encode(), hostile=[CANARY, INJECTED])


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injected_markup_comes_back_as_text(app: InProcessApp, payload: str) -> None:
    """Where caller text reaches TwiML (the ApiVersion in the greeting, a forwarded SMS), each
    injection comes back whole, as the text of one element, and adds no verb."""
    from switchboard.twilio.text import xml_safe

    call = [("CallSid", "CA" + uuid.uuid4().hex), ("From", "+15557770104"), ("ApiVersion", payload)]
    answer = app.post("voice/incoming", call)
    root = check_twiml(answer.get_body(), hostile=[CANARY, INJECTED])
    said = [e.text or "" for e in root.iter("Say")]
    assert any(xml_safe(payload) in text for text in said), said
    assert [e.tag for e in root] == ["Say", "Pause", "Say", "Pause", "Say", "Gather", "Redirect"]

    # A new sender each time: the outbound policy answers a sender once per window.
    sender = "+1555777" + str(uuid.uuid4().int)[:4]
    text = [("MessageSid", "SM" + uuid.uuid4().hex), ("From", sender), ("Body", payload)]
    answer = app.post("sms/incoming", text)
    root = check_twiml(answer.get_body(), hostile=[CANARY, INJECTED])
    messages = root.findall("Message")
    assert len(messages) == 2, answer.get_body()  # the auto-reply, and the forward to the owner
    assert xml_safe(payload).strip() in (messages[1].text or ""), answer.get_body()


def test_a_sid_just_under_the_key_limit_is_not_a_5xx(app: InProcessApp) -> None:
    # 505 characters is a valid key, but its index RowKey (16 more) is not: refused whole (400),
    # never a record written without its index row.
    answer = app.post("status/call", [("CallSid", "C" * 505), ("CallStatus", "ringing")])
    assert answer.status_code == 400
    assert (
        app.post("status/call", [("CallSid", "C" * 496), ("CallStatus", "ringing")]).status_code
        == 204
    )


# --- through the local host over HTTP -----------------------------------------------------------


@pytest.fixture(scope="module")
def host(rel_host_module: HostFactory) -> HostHandle:
    return rel_host_module(PROJECT_ROOT, app_env("fuzzhttp"))


@sized(default=25, soak=300)
@pytest.mark.parametrize("route", TWILIO_ROUTES)
def test_signed_fuzz_over_http(host: HostHandle, route: str, size: int) -> None:
    @settings(
        max_examples=size,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=webhook(route, max_chars=100_000))
    def run(request: dict[str, Any]) -> None:
        pairs = request["pairs"]
        note(describe(request))
        url = host.api(route) + (f"?{request['query']}" if request["query"] else "")
        headers = {
            "X-Twilio-Signature": sign(url, pairs),
            "Content-Type": request["content_type"],
            **request["headers"],
        }
        answer = host.request("POST", url, headers=headers, body=form_body(pairs), timeout=30)
        check_answer(
            route,
            answer.status,
            answer.headers.get("content-type", ""),
            answer.body,
            markers(pairs),
            too_big=oversized(pairs),
        )

    run()
    # Served by the function itself, which never failed (no 500 hidden behind a retry).
    name = "Functions." + route.replace("/", "_").replace("-", "_")
    executed = [line for line in host.lines if f"Executed '{name}'" in line]
    assert executed
    assert not [line for line in executed if "(Failed" in line]
    assert "Traceback" not in host.log_text()
