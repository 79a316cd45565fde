"""Junk cost: refusing the worst unsigned request ÷ serving a real one.

App, both sides: the function the host calls for `POST /api/sms/incoming` (`sms_incoming(req)`)
on a fresh `func.HttpRequest`, as the worker hands it over, with the MessageLog and OptOut stores
and the outbound policy's rows (the sender's, the line's budget) stubbed (no I/O), so only the
shell, the policy and the decision are timed.

- real: a signed inbound SMS (the parameters Twilio posts), answered 200 with the auto-reply;
- worst unsigned: ~11 MB of form, a million distinct parameter names, no `X-Twilio-Signature`
  (the validator's worst case: it sorts and hashes them all). Answered 403.

The figure is the ratio of the medians of per-request times (goal ≤ 1×: turning junk away must
cost no more than serving Twilio). Shown beside it, not judged: the same junk with a bogus
signature header (refused by size before any parsing: 413).

Requests are built outside the timing (the worker builds them before the function runs). Before
the shell refused junk unparsed, it was parsed and hashed before the 403: 1,633 ms unsigned and 4,610 ms with a
bogus signature against 141 µs for a real text (11,608× and 32,777×), so junk rounds were kept
few; it is now refused from the header (unsigned) or the body's length (bogus signature).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
from twilio.request_validator import RequestValidator

from bench.figures import Figure, Goal, goals
from switchboard import settings as settings_module
from switchboard.outbound.budget import Budget
from switchboard.outbound.own_numbers import OwnNumbers
from switchboard.outbound.service import Outbound
from switchboard.outbound.store import SenderState
from switchboard.settings import Settings
from switchboard.sms import blueprint as sms_bp
from switchboard.sms import webhook as sms_webhook

GOALS = goals({"junk.worst_unsigned_vs_real": Goal("<=", 1.0, "×")})
ROUNDS = 5
REAL_PER_ROUND = 400
JUNK_PER_ROUND = 20
TOKEN = "bench-auth-token-0123456789abcdef"
URL = "https://sms.contoso.com/api/sms/incoming"
ENV = {
    "TWILIO_AUTH_TOKEN": TOKEN,
    "SMS_AUTO_REPLY": "Thanks, we will text you back soon.",
    # Storage is never reached (the stores are stubbed).
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}
PARAMS = {
    "AccountSid": "AC" + "a" * 32,
    "ApiVersion": "2010-04-01",
    "MessageSid": "SM" + "b" * 32,
    "SmsSid": "SM" + "b" * 32,
    "SmsMessageSid": "SM" + "b" * 32,
    "SmsStatus": "received",
    "From": "+15558675310",
    "To": "+15017122661",
    "Body": "Hello, is the shop open on Sunday?",
    "NumMedia": "0",
    "NumSegments": "1",
    "FromCity": "NEW YORK",
    "FromState": "NY",
    "FromZip": "10001",
    "FromCountry": "US",
    "ToCity": "SAN FRANCISCO",
    "ToState": "CA",
    "ToZip": "94105",
    "ToCountry": "US",
}
FORM = "application/x-www-form-urlencoded"


class _NoTable:
    """A table client that writes nowhere (the conversation rows)."""

    def upsert_entity(self, *args: Any, **kwargs: Any) -> None:
        return None

    def submit_transaction(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


class _NoStorage:
    """MessageLog and OptOut with no I/O."""

    table: Any = _NoTable()

    def create(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def mark_step(self, *args: Any) -> bool:
        return True

    def is_opted_out(self, number: str) -> bool:
        return False


class _NoSubjectStorage:
    """The senders' rows with no I/O: every sender is new (so every text is answered)."""

    def load(self, subject: str, line: str) -> SenderState:
        return SenderState(subject, line)

    def save(self, subject: str, line: str, changed: Any, sent: Any, etag: str | None) -> str:
        return "etag"


class _NoBudgetStorage:
    """The line's budget row with no I/O: always a fresh day."""

    def change(self, line: str, decide: Callable[[Budget], tuple[Any, Any]]) -> Any:
        return decide(Budget())[0]


#: Our own numbers without asking Twilio or storage.
_NUMBERS = OwnNumbers(fetch=lambda settings: [], lines=lambda settings: [])


def _outbound(settings: Settings) -> Outbound:
    return Outbound(
        settings,
        subjects=lambda s: _NoSubjectStorage(),  # type: ignore[arg-type,return-value]
        budget_rows=lambda s: _NoBudgetStorage(),  # type: ignore[arg-type,return-value]
        own_numbers=_NUMBERS,
    )


def worst_unsigned_body() -> bytes:
    """~11 MB: a million distinct names."""
    return b"".join(b"p%07d=a&" % n for n in range(1_000_000))


def _requests(count: int, body: bytes, headers: dict[str, str]) -> list[func.HttpRequest]:
    return [
        func.HttpRequest(method="POST", url=URL, headers=headers, params={}, body=body)
        for _ in range(count)
    ]


def _timed(batch: list[func.HttpRequest], expected: set[int]) -> float:
    started = time.perf_counter()
    for request in batch:
        response = sms_bp.sms_incoming(request)
        if response.status_code not in expected:
            raise RuntimeError(f"answered {response.status_code}, expected {sorted(expected)}")
    return (time.perf_counter() - started) / len(batch)


def main() -> dict[str, object]:
    """Measure and print real vs worst unsigned (and bogus-signature) per request."""
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    settings_module.reset_settings_cache()
    saved_factories: tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]] = (
        sms_webhook.message_store_factory,
        sms_webhook.optout_store_factory,
        sms_webhook.outbound_factory,
    )
    sms_webhook.message_store_factory = lambda settings: _NoStorage()
    sms_webhook.optout_store_factory = lambda settings: _NoStorage()
    sms_webhook.outbound_factory = _outbound  # type: ignore[assignment]
    saved_contacts = sms_webhook.contact_factory
    sms_webhook.contact_factory = lambda settings, number: None  # the sender is nobody
    try:
        signature = RequestValidator(TOKEN).compute_signature(URL, PARAMS)
        real_body = urlencode(PARAMS).encode()
        real_headers = {"Content-Type": FORM, "X-Twilio-Signature": signature}
        junk = worst_unsigned_body()

        _timed(_requests(20, real_body, real_headers), {200})  # warm up
        real_times, unsigned_times, bogus_times = [], [], []
        for _ in range(ROUNDS):
            real_times.append(_timed(_requests(REAL_PER_ROUND, real_body, real_headers), {200}))
            unsigned_times.append(
                _timed(_requests(JUNK_PER_ROUND, junk, {"Content-Type": FORM}), {403})
            )
            bogus = {"Content-Type": FORM, "X-Twilio-Signature": "bm9wZQ=="}
            bogus_times.append(_timed(_requests(JUNK_PER_ROUND, junk, bogus), {403, 413}))
    finally:
        (
            sms_webhook.message_store_factory,
            sms_webhook.optout_store_factory,
            sms_webhook.outbound_factory,  # type: ignore[assignment]
        ) = saved_factories
        sms_webhook.contact_factory = saved_contacts
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings_module.reset_settings_cache()
    real = statistics.median(real_times)
    unsigned = statistics.median(unsigned_times)
    bogus = statistics.median(bogus_times)
    ratio = unsigned / real
    print(
        f"junk: worst unsigned request ({len(junk) / 1e6:.1f} MB, 1M parameters) "
        f"{unsigned * 1e6:.1f} us, real signed SMS {real * 1e6:.0f} us "
        f"(medians of {ROUNDS} rounds) -> {ratio:.2f}x (goal {GOALS['junk.worst_unsigned_vs_real']})"
    )
    print(f"  same junk with a bogus signature: {bogus * 1e6:.1f} us -> {bogus / real:.2f}x")
    figure = Figure(
        "junk.worst_unsigned_vs_real",
        "junk: refusing the worst unsigned request ÷ serving a real one",
        round(ratio, 3),
        "×",
        f"{unsigned * 1e6:.1f} µs vs {real * 1e6:.0f} µs (medians of {ROUNDS} rounds); with a "
        f"bogus signature {bogus * 1e6:.1f} µs ({bogus / real:.2f}×)",
    )
    return {
        "figures": [figure.as_dict()],
        "real_us": round(real * 1e6, 1),
        "worst_unsigned_us": round(unsigned * 1e6, 2),
        "bogus_signature_us": round(bogus * 1e6, 2),
        "ratio_bogus_signature": round(bogus / real, 3),
    }


if __name__ == "__main__":
    main()
