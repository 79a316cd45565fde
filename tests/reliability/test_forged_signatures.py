"""Forged, altered and replayed webhooks on every Twilio-facing route: 403 and nothing written.

Each forgery starts from a request Twilio could have sent (which the app accepts: checked last,
so that "nothing written" is not vacuous) and changes one thing: the token, a parameter (changed,
added, removed, repeated), the URL (host, scheme, port, path, query), the header (missing, empty,
garbage, one character off, SHA-256 instead of SHA-1), proxy headers, the body's content type, or
it replays another route's signature or whole request. Every one must answer 403, with no TwiML,
and the storage account must be exactly as before: every entity of every table (keys and ETags)
and every queue's message count, read from Azurite before and after.

The matrix runs through the real local host over HTTP and in process; a hypothesis property then
tries random single alterations of signed requests in process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import PROJECT_ROOT, HostHandle, clear_shared_queues
from tests.reliability.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS,
    FUNCTION_KEY,
    TWILIO_ROUTES,
    HostFactory,
    InProcessApp,
    app_env,
    form_body,
    in_process_settings,
    sign,
    sized,
    snapshot_storage,
    twilio_functions,
)

CALLER = "+15557770101"
OTHER = "+15558675399"


def genuine(route: str) -> list[tuple[str, str]]:
    """What Twilio posts to `route` (each would write a record if accepted)."""
    call = [("AccountSid", ACCOUNT_SID), ("CallSid", "CA" + uuid.uuid4().hex), ("From", CALLER)]
    call.append(("To", BUSINESS))
    extra: dict[str, list[tuple[str, str]]] = {
        "voice/incoming": [("CallStatus", "ringing"), ("ApiVersion", "2010-04-01")],
        "voice/menu": [("Digits", "2")],
        "voice/dial-complete": [("DialCallStatus", "no-answer")],
        "voice/whisper": [("ParentCallSid", "CA" + uuid.uuid4().hex), ("Digits", "1")],
        "voice/queue-wait": [("QueuePosition", "1"), ("QueueTime", "5"), ("Digits", "1")],
        "voice/queue-result": [("QueueResult", "leave"), ("QueueTime", "5")],
        "voice/queue-offer": [("Digits", "1")],
        "voice/queue-connect": [("QueueTime", "5"), ("DequeingCallSid", "CA" + uuid.uuid4().hex)],
        "voice/recording": [("RecordingUrl", "https://api.twilio.com/R1"), ("RecordingSid", "RE1")],
        "status/call": [("CallStatus", "completed"), ("CallDuration", "12")],
    }
    if route == "sms/incoming":
        message = "SM" + uuid.uuid4().hex
        return [
            ("AccountSid", ACCOUNT_SID),
            ("MessageSid", message),
            ("From", CALLER),
            ("To", BUSINESS),
            ("Body", "STOP"),
        ]
    if route == "status/message":
        return [
            ("MessageSid", "SM" + uuid.uuid4().hex),
            ("MessageStatus", "failed"),
            ("ErrorCode", "21610"),
            ("To", CALLER),
        ]
    return call + extra[route]


@dataclass
class Sent:
    """One request: where it goes, its form, its headers (signature included or not)."""

    url: str
    pairs: list[tuple[str, str]]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def content(self) -> bytes:
        return form_body(self.pairs) if self.body is None else self.body


def _signed(url: str, pairs: list[tuple[str, str]], **headers: str) -> Sent:
    sent = Sent(url, pairs, {"Content-Type": "application/x-www-form-urlencoded"})
    sent.headers["X-Twilio-Signature"] = sign(url, pairs)
    sent.headers.update(headers)
    return sent


def _with_netloc(url: str, netloc: str, scheme: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme or parts.scheme, netloc, parts.path, parts.query, ""))


def _sha256_signature(url: str, pairs: list[tuple[str, str]]) -> str:
    text = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(AUTH_TOKEN.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _flip(signature: str) -> str:
    first = "B" if signature[0] != "B" else "C"
    return first + signature[1:]


Forgery = Callable[[str, str, str, str], Sent]  # (url, route, other route's url, other route)


def forgeries() -> dict[str, Forgery]:
    """Every forgery, by name: each returns what is sent to `url` (route `route`)."""

    def wrong_token(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.headers["X-Twilio-Signature"] = sign(url, sent.pairs, "x" + AUTH_TOKEN[1:])
        return sent

    def token_other_case(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.headers["X-Twilio-Signature"] = sign(url, sent.pairs, AUTH_TOKEN.upper())
        return sent

    def changed_param(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        name, _ = sent.pairs[-1]
        sent.pairs[-1] = (name, "completed" if name.endswith("Status") else OTHER)
        return sent

    def value_padded(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        name, value = sent.pairs[1]
        sent.pairs[1] = (name, value + " ")
        return sent

    def added_param(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.pairs.append(("Body", "START"))
        return sent

    def removed_param(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.pairs.pop()
        return sent

    def repeated_param(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.pairs.insert(0, ("From", OTHER))
        return sent

    def renamed_param(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        name, value = sent.pairs[-1]
        sent.pairs[-1] = (name.lower(), value)
        return sent

    def changed_host(url: str, route: str, other_url: str, other: str) -> Sent:
        port = urlsplit(url).port
        signed = _with_netloc(url, f"switchboard.example.net:{port}")
        sent = _signed(signed, genuine(route))
        sent.url = url
        return sent

    def changed_scheme(url: str, route: str, other_url: str, other: str) -> Sent:
        signed = _with_netloc(url, urlsplit(url).netloc, "https")
        sent = _signed(signed, genuine(route))
        sent.url = url
        return sent

    def changed_port(url: str, route: str, other_url: str, other: str) -> Sent:
        parts = urlsplit(url)
        signed = _with_netloc(url, f"{parts.hostname}:{(parts.port or 80) + 1}")
        sent = _signed(signed, genuine(route))
        sent.url = url
        return sent

    def changed_path_case(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.url = url.replace("/api/", "/API/") if "/api/" in url else url.upper()
        return sent

    def signed_query_dropped(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url + "?attempt=2&id=rel-forged", genuine(route))
        sent.url = url
        return sent

    def query_added(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.url = url + "?code=" + FUNCTION_KEY
        return sent

    def query_changed(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url + "?attempt=1", genuine(route))
        sent.url = url + "?attempt=2"
        return sent

    def missing_header(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        del sent.headers["X-Twilio-Signature"]
        return sent

    def empty_header(url: str, route: str, other_url: str, other: str) -> Sent:
        return _signed(url, genuine(route), **{"X-Twilio-Signature": ""})

    def garbage_header(url: str, route: str, other_url: str, other: str) -> Sent:
        return _signed(url, genuine(route), **{"X-Twilio-Signature": "not a signature!"})

    def one_char_off(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.headers["X-Twilio-Signature"] = _flip(sent.headers["X-Twilio-Signature"])
        return sent

    def sha256_signature(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.headers["X-Twilio-Signature"] = _sha256_signature(url, sent.pairs)
        return sent

    def empty_params_signature(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.headers["X-Twilio-Signature"] = sign(url, [])
        return sent

    def signature_of_other_route(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(other_url, genuine(route))
        sent.url = url
        return sent

    def replay_to_other_route(url: str, route: str, other_url: str, other: str) -> Sent:
        # A whole genuine request to the other route, idempotency token and all, sent here.
        sent = _signed(other_url, genuine(other), **{"I-Twilio-Idempotency-Token": "rc-1"})
        sent.url = url
        return sent

    def forwarded_host_spoofed(url: str, route: str, other_url: str, other: str) -> Sent:
        return _signed(url, genuine(route), **{"X-Forwarded-Host": "switchboard.example.net"})

    def forwarded_proto_spoofed(url: str, route: str, other_url: str, other: str) -> Sent:
        return _signed(url, genuine(route), **{"X-Forwarded-Proto": "https"})

    def forwarded_host_bad_port(url: str, route: str, other_url: str, other: str) -> Sent:
        return _signed(url, genuine(route), **{"X-Forwarded-Host": "switchboard.example:abc"})

    def forwarded_host_port_out_of_range(url: str, route: str, other_url: str, other: str) -> Sent:
        return _signed(url, genuine(route), **{"X-Forwarded-Host": "switchboard.example:99999"})

    def forwarded_host_broken_ipv6(url: str, route: str, other_url: str, other: str) -> Sent:
        return _signed(url, genuine(route), **{"X-Forwarded-Host": "[::1"})

    def signed_behind_proxy_sent_direct(url: str, route: str, other_url: str, other: str) -> Sent:
        signed = _with_netloc(url, "voice.contoso.com", "https")
        sent = _signed(signed, genuine(route))
        sent.url = url
        return sent

    def json_body(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.body = json.dumps(dict(sent.pairs)).encode()
        sent.headers["Content-Type"] = "application/json"
        return sent

    def empty_body(url: str, route: str, other_url: str, other: str) -> Sent:
        sent = _signed(url, genuine(route))
        sent.body = b""
        return sent

    def not_utf8_body(url: str, route: str, other_url: str, other: str) -> Sent:
        # One byte of a signed value replaced by one that is not UTF-8.
        sent = _signed(url, genuine(route))
        genuine_body = sent.content()
        sent.body = genuine_body.replace(b"%2B1555", b"%FF1555", 1)
        assert sent.body != genuine_body
        return sent

    return {f.__name__.replace("_", "-"): f for f in locals().values() if callable(f)}


FORGERIES = forgeries()


def other_route(route: str) -> str:
    return TWILIO_ROUTES[(TWILIO_ROUTES.index(route) + 1) % len(TWILIO_ROUTES)]


def test_the_matrix_is_complete() -> None:
    assert len(FORGERIES) >= 25
    for name in ("wrong-token", "added-param", "missing-header", "replay-to-other-route"):
        assert name in FORGERIES


# --- over HTTP through the local host -----------------------------------------------------


@pytest.fixture(scope="module")
def host(rel_host_module: HostFactory, storage_connection_string: str) -> HostHandle:
    # Before the host starts: it would deliver what earlier tests left in the e-mail queue.
    clear_shared_queues(storage_connection_string)
    return rel_host_module(PROJECT_ROOT, app_env("forged"))


def test_forgeries_over_http_are_403_and_write_nothing(
    host: HostHandle, storage_connection_string: str
) -> None:
    before = snapshot_storage(storage_connection_string)
    answers: dict[tuple[str, str], tuple[int, str]] = {}
    for route in TWILIO_ROUTES:
        other = other_route(route)
        for name, forge in FORGERIES.items():
            sent = forge(host.api(route), route, host.api(other), other)
            result = host.request("POST", sent.url, headers=sent.headers, body=sent.content())
            answers[(route, name)] = (result.status, result.text[:80])
    wrong = {key: answer for key, answer in answers.items() if answer[0] != 403}
    assert not wrong, wrong
    assert all("<Response" not in text for _, text in answers.values())
    assert len(answers) == len(TWILIO_ROUTES) * len(FORGERIES)
    after = snapshot_storage(storage_connection_string)
    assert before.diff(after) == []
    assert "Traceback" not in host.log_text()
    # The same requests, genuine, are accepted and write: "nothing written" above is not vacuous.
    for route in TWILIO_ROUTES:
        sent = _signed(host.api(route), genuine(route))
        result = host.request("POST", sent.url, headers=sent.headers, body=sent.content())
        assert result.status in (200, 204), (route, result.status, result.text)
    assert before.diff(snapshot_storage(storage_connection_string)) != []


# --- in process ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(storage_connection_string: str) -> Iterator[InProcessApp]:
    env = app_env("forgedip", AzureWebJobsStorage=storage_connection_string)
    with in_process_settings(env):
        yield InProcessApp("http://127.0.0.1:7071", twilio_functions())


def _post(app: InProcessApp, route: str, sent: Sent) -> Any:
    headers = dict(sent.headers)
    signature = headers.pop("X-Twilio-Signature", None)
    content_type = headers.pop("Content-Type", None)
    return app.post(
        route,
        sent.pairs,
        url=sent.url,
        signature=signature or "",
        unsigned=signature is None,
        headers=headers,
        content_type=content_type,
        body=sent.content(),
    )


def test_forgeries_in_process_are_403_and_write_nothing(
    app: InProcessApp, storage_connection_string: str
) -> None:
    before = snapshot_storage(storage_connection_string)
    wrong = {}
    for route in TWILIO_ROUTES:
        other = other_route(route)
        for name, forge in FORGERIES.items():
            sent = forge(app.url(route), route, app.url(other), other)
            response = _post(app, route, sent)
            if response.status_code != 403 or b"<Response" in response.get_body():
                wrong[(route, name)] = (response.status_code, response.get_body()[:80])
    assert not wrong, wrong
    assert before.diff(snapshot_storage(storage_connection_string)) == []
    for route in TWILIO_ROUTES:  # the genuine requests pass (and write)
        answer = _post(app, route, _signed(app.url(route), genuine(route)))
        assert answer.status_code in (200, 204), (route, answer.get_body())
    assert before.diff(snapshot_storage(storage_connection_string)) != []


# --- random single alterations ------------------------------------------------------------

ALTERATIONS = ["value", "add", "remove", "rename", "url", "token"]


@sized(default=200, soak=3000)
def test_any_alteration_of_a_signed_request_is_refused(
    app: InProcessApp, storage_connection_string: str, size: int
) -> None:
    before = snapshot_storage(storage_connection_string)
    text = st.text(st.characters(codec="utf-8"), max_size=30)

    @settings(max_examples=size, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        route=st.sampled_from(TWILIO_ROUTES),
        alteration=st.sampled_from(ALTERATIONS),
        index=st.integers(0, 20),
        value=text,
    )
    def run(route: str, alteration: str, index: int, value: str) -> None:
        pairs = genuine(route)
        url = app.url(route)
        signature = sign(url, pairs)
        position = index % len(pairs)
        name, old = pairs[position]
        sent_url = url
        if alteration == "value":
            pairs[position] = (name, old + (value or "x"))
        elif alteration == "add":
            pairs.append(("X" + value, value))
        elif alteration == "remove":
            pairs.pop(position)
        elif alteration == "rename":
            pairs[position] = (name + (value or "x"), old)
        elif alteration == "url":
            sent_url = url + "?" + (value or "x").encode().hex()
        else:
            # HMAC pads a short key with NUL bytes, so a token plus NULs is the same key (the
            # same signature): that is no alteration.
            signature = sign(url, pairs, AUTH_TOKEN + (value.rstrip("\x00") or "x"))
        response = app.post(route, pairs, url=sent_url, signature=signature)
        assert response.status_code == 403, (route, alteration, response.get_body()[:200])

    run()
    assert before.diff(snapshot_storage(storage_connection_string)) == []
