"""Junk cost: refusing junk must cost less than serving Twilio.

Unguarded every request to a Twilio route is parsed whole and hashed before anything is refused: an
unsigned 11 MB form of a million parameters takes ~1.9 s to get its 403 through the local host
(~5.9 s with a bogus signature), and 16 of them at once take ~110 s each while a real webhook
waits. The contract after the fix, in the shell every Twilio route shares:

1. no `X-Twilio-Signature` header → 403 at once (nothing read but the header);
2. a body larger than Twilio ever sends (256 KiB) or with more parameters than it ever sends
   (1,000, counted without parsing) → 413, before any parsing or hashing;
3. otherwise parse, validate the signature (403 when wrong), and serve.

The caps are far above Twilio's largest real webhooks (an SMS with 1,600 four-byte characters
and 10 media is ~25 KB; a voice webhook with a SHAKEN PASSporT, a CallToken and add-on results
a few tens of KB): `test_the_largest_real_webhooks_are_still_served` holds the fix to that.

Timings are the benchmark's business (`bench/bench_junk.py`); here only what Twilio itself
bounds: a signed webhook sent while junk is being refused is answered well within Twilio's 15 s,
and the junk is all refused within 30 s.
"""

from __future__ import annotations

import functools
import http.client
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import pytest

from devkit.simulator import compute_signature
from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.app_clients import sms_params, text
from tests.reliability.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS,
    TWILIO_ROUTES,
    HostFactory,
    app_env,
    sized,
    wait_until,
)

FORM = "application/x-www-form-urlencoded"


def million_parameters() -> bytes:
    """~11 MB: a million distinct names (the validator's worst case: it sorts them)."""
    return b"".join(b"p%07d=a&" % n for n in range(1_000_000))


JUNK_KINDS = ("10MB-one-field", "1M-parameters", "20k-parameters")


@functools.cache
def junk(kind: str) -> bytes:
    """The junk bodies (built on first use: 21 MB)."""
    if kind == "10MB-one-field":
        return b"Body=" + b"a" * 10_000_000
    if kind == "1M-parameters":
        return million_parameters()
    # Under the byte cap, over the parameter cap: refused by counting, without parsing.
    return b"&".join(b"k%05d=" % n for n in range(20_000))


@dataclass(frozen=True)
class Result:
    status: int
    seconds: float


def post_raw(host: HostHandle, path: str, body: bytes, headers: dict[str, str]) -> Result:
    """A raw POST (no client-side parsing or limits), timed."""
    origin = urlsplit(host.url)
    connection = http.client.HTTPConnection(origin.hostname, origin.port, timeout=60)
    started = time.perf_counter()
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": FORM, **headers})
        response = connection.getresponse()
        response.read()
        return Result(response.status, time.perf_counter() - started)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def host(rel_host_module: HostFactory, standin: TwilioStandin) -> HostHandle:
    return rel_host_module(PROJECT_ROOT, app_env("junk", TWILIO_API_BASE_URL=standin.base_url))


@pytest.mark.parametrize("route", ["sms/incoming", "voice/incoming", "status/message"])
@pytest.mark.parametrize("label", JUNK_KINDS)
def test_bodies_larger_than_twilio_sends_are_413_before_the_signature_check(
    host: HostHandle, label: str, route: str
) -> None:
    """Junk bigger than any Twilio webhook, with a signature header (so the cheap
    "no signature" refusal does not apply), is refused as too large without being parsed or
    hashed. Unguarded: 403 after parsing and hashing all of it (seconds per request)."""
    result = post_raw(host, f"/api/{route}", junk(label), {"X-Twilio-Signature": "bm9wZQ=="})
    assert result.status == 413, result


def largest_sms() -> list[tuple[str, str]]:
    """An MMS as large as Twilio sends one: 1,600 four-byte characters, 10 media, every
    geographic and messaging-service parameter."""
    sid = "MM" + uuid.uuid4().hex
    pairs = list(sms_params("+15557770155", BUSINESS, "\U0001f4de" * 1600, sid=sid).items())
    pairs = [(k, v) for k, v in pairs if k != "NumMedia"] + [("NumMedia", "10")]
    for n in range(10):
        media = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME{uuid.uuid4().hex}"
        pairs += [(f"MediaUrl{n}", media), (f"MediaContentType{n}", "image/jpeg")]
    for side in ("From", "To"):
        pairs += [(f"{side}City", "SAN FRANCISCO"), (f"{side}State", "CA")]
        pairs += [(f"{side}Zip", "94105"), (f"{side}Country", "US")]
    pairs += [("MessagingServiceSid", "MG" + "c" * 32), ("ReferralNumMedia", "0")]
    return pairs


def largest_call() -> list[tuple[str, str]]:
    """An incoming call as large as Twilio sends one: a SHAKEN PASSporT, a CallToken, SIP
    headers, and Marketplace add-on results (JSON) of ~48 KB."""
    add_ons = {
        "status": "successful",
        "results": {
            "caller_details": {
                "status": "successful",
                "result": {"records": [{"note": "x" * 1000, "n": n} for n in range(46)]},
            }
        },
    }
    pairs = [
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA" + uuid.uuid4().hex),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", "+15557770156"),
        ("To", BUSINESS),
        ("Caller", "+15557770156"),
        ("Called", BUSINESS),
        ("StirVerstat", "TN-Validation-Passed-A"),
        ("StirPassportToken", "eyJhbGciOiJFUzI1NiJ9." + "A" * 1400 + ".sig"),
        ("CallToken", json.dumps({"parentCallInfoToken": "t" * 2500, "identityHeaderTokens": []})),
        ("AddOns", json.dumps(add_ons)),
    ]
    pairs += [(f"SipHeader_X-Custom-{n}", "v" * 100) for n in range(8)]
    for side in ("From", "To", "Caller", "Called"):
        pairs += [(f"{side}City", "SAN FRANCISCO"), (f"{side}State", "CA")]
        pairs += [(f"{side}Zip", "94105"), (f"{side}Country", "US")]
    return pairs


@pytest.mark.parametrize(
    ("route", "pairs"),
    [("sms/incoming", largest_sms()), ("voice/incoming", largest_call())],
    ids=["sms-10-media", "call-passport-addons"],
)
def test_the_largest_real_webhooks_are_still_served(
    host: HostHandle, route: str, pairs: Sequence[tuple[str, str]]
) -> None:
    """the caps never refuse what Twilio sends."""
    from werkzeug.datastructures import MultiDict

    url = host.api(route)
    signature = compute_signature(url, MultiDict(list(pairs)), AUTH_TOKEN)
    body = urlencode(list(pairs)).encode()
    assert 20_000 < len(body) < 256 * 1024, len(body)
    result = post_raw(host, f"/api/{route}", body, {"X-Twilio-Signature": signature})
    assert result.status == 200, result


@sized(default=16, soak=48)
def test_a_signed_webhook_is_answered_in_time_while_junk_is_refused(
    rel_host: HostFactory, standin: TwilioStandin, size: int
) -> None:
    """`size` senders posting junk (1M parameters, 11 MB, bogus signature) to the
    Twilio routes, each again as soon as it is refused, and real signed texts meanwhile. Each
    text is answered within 5 s (a third of Twilio's 15 s) and every junk request is refused
    (403/413) within 30 s. Before the fix: the junk took ~110 s each and the texts waited
    behind it (no answer within 15 s).

    (Phase one sent one junk request per sender and texted while they were in flight; once junk
    is refused in milliseconds they are all answered before the first text, so the senders now
    keep the junk coming for as long as the texts are being sent.)"""
    host = rel_host(PROJECT_ROOT, app_env("flood", TWILIO_API_BASE_URL=standin.base_url))
    body = junk("1M-parameters")
    refused: list[Result | BaseException] = []
    stop = threading.Event()

    def send_junk(n: int) -> None:
        route = TWILIO_ROUTES[n % len(TWILIO_ROUTES)]
        while not stop.is_set():
            try:
                refused.append(post_raw(host, f"/api/{route}", body, {"X-Twilio-Signature": "x"}))
            except Exception as exc:  # a timeout is an answer too: too slow
                refused.append(exc)

    threads = [threading.Thread(target=send_junk, args=(n,), daemon=True) for n in range(size)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    # The flood is on: every sender has had a junk request answered (or timed out).
    wait_until(lambda: len(refused) >= size, 20, "the junk flood under way")
    texts: list[tuple[int, float]] = []
    while len(texts) < 10 and time.monotonic() - started < 25:
        sent = time.monotonic()
        try:
            answer = text(host, "+1555" + str(uuid.uuid4().int)[:7], BUSINESS, "hi", timeout=15)
            texts.append((answer.status, round(time.monotonic() - sent, 2)))
        except Exception:
            texts.append((0, round(time.monotonic() - sent, 2)))
        time.sleep(0.3)
    in_flight_while_texting = len(refused)
    stop.set()
    for thread in threads:
        thread.join(max(0.0, 30.0 - (time.monotonic() - started)))
    unanswered = sum(t.is_alive() for t in threads)
    answered = [r for r in refused if isinstance(r, Result)]
    shown = (
        f"{unanswered} of {size} junk senders still waiting after 30 s; "
        f"{len(answered)} junk requests answered (slowest "
        f"{max((r.seconds for r in answered), default=0):.1f} s, statuses "
        f"{sorted({r.status for r in answered})}); other outcomes: "
        f"{[type(r).__name__ for r in refused if not isinstance(r, Result)]}; "
        f"texts meanwhile (status, s): {texts}"
    )
    assert unanswered == 0, shown
    assert len(answered) == len(refused) >= size, shown
    assert in_flight_while_texting >= size, f"the junk did not keep coming: {shown}"
    assert {r.status for r in answered} <= {403, 413}, shown
    assert all(r.seconds < 30.0 for r in answered), shown
    assert len(texts) == 10, shown
    assert all(status == 200 and seconds < 5.0 for status, seconds in texts), shown
