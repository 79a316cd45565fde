"""The operator API through the local Functions host against the Twilio stand-in and Azurite.

One `python -m devkit host` over the project (module scope) with function keys enforced; each
route's success and error paths, observed from outside: HTTP answers, the REST requests the
stand-in received, and the records in Table Storage.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from devkit.simulator import send_sms
from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.logbook.store import RecordStore
from switchboard.optouts.rules import How
from switchboard.optouts.store import OptOutStore
from switchboard.settings import Settings, load_settings
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle, HttpResult

ACCOUNT_SID = "AC" + "0e" * 16
TOKEN = "operator-e2e-auth-token-0123456789"
KEY = "operator-e2e-function-key"
BUSINESS = "+15017122661"


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    settings: Settings
    messages: RecordStore
    optouts: OptOutStore

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = KEY,
        raw: bytes | None = None,
    ) -> HttpResult:
        headers = {"x-functions-key": key} if key else {}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self.host.request(method, f"/api/{path}", headers=headers, body=data)


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=5) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "DEVHOST_FUNCTION_KEY": KEY,
            "TABLE_MESSAGE_LOG": "opmsg" + suffix,
            "TABLE_CALL_LOG": "opcall" + suffix,
            "TABLE_OPT_OUT": "opopt" + suffix,
            "TABLE_SMS_SCHEDULE": "opsched" + suffix,
            "OUTBOUND_CALL_QUEUE": "op-calls-" + suffix,
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }
        host = run_host_module(PROJECT_ROOT, env)
        settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
        yield Stack(
            host,
            standin,
            settings,
            RecordStore.messages(settings),
            OptOutStore.from_settings(settings),
        )


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def error_of(result: HttpResult) -> dict[str, Any]:
    assert result.headers["content-type"].startswith("application/json")
    body = result.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return dict(body["error"])


# --- keys -------------------------------------------------------------------------------------


def test_every_operator_route_needs_a_function_key(stack: Stack) -> None:
    for method, path in [("GET", "messages"), ("POST", "messages"), ("GET", "numbers")]:
        assert stack.call(method, path, key=None).status == 401
        assert stack.call(method, path, key="wrong").status == 401
    by_query = stack.host.request("GET", f"/api/openapi.json?code={KEY}")
    assert by_query.status == 200
    assert by_query.json()["openapi"].startswith("3.")


# --- POST /api/messages -----------------------------------------------------------------------


def test_send_now_records_and_follows_status_callbacks(stack: Stack) -> None:
    to = new_number()
    result = stack.call(
        "POST",
        "messages",
        {"to": to, "body": "Your order shipped", "mediaUrl": ["https://e.x/a.png"]},
    )
    assert result.status == 201, result.text
    answer = result.json()
    assert answer["status"] == "queued"
    sid = answer["sid"]
    assert sid.startswith("SM")
    sent = [r for r in stack.standin.requests("POST", resource="Messages") if r.form["To"] == [to]]
    assert len(sent) == 1
    form = sent[0].form
    assert form["Body"] == ["Your order shipped"]
    assert form["From"] == [BUSINESS]
    assert form["MediaUrl"] == ["https://e.x/a.png"]
    assert form["StatusCallback"] == [f"{stack.host.url}/api/status/message"]

    def delivered() -> dict[str, Any] | None:
        shown = stack.call("GET", f"messages/{sid}")
        return (
            shown.json() if shown.status == 200 and shown.json()["status"] == "delivered" else None
        )

    record = wait_for(delivered)
    assert record, stack.call("GET", f"messages/{sid}").text
    assert record["id"] == record["sid"] == sid
    assert (record["to"], record["from"], record["body"]) == (to, BUSINESS, "Your order shipped")
    assert (record["direction"], record["source"]) == ("outbound", "operator")
    assert record["mediaUrls"] == ["https://e.x/a.png"]


def test_send_now_with_an_explicit_sender(stack: Stack) -> None:
    to = new_number()
    result = stack.call("POST", "messages", {"to": to, "body": "hi", "from": "+15005550006"})
    assert result.status == 201
    sent = [r for r in stack.standin.requests("POST", resource="Messages") if r.form["To"] == [to]]
    assert sent[0].form["From"] == ["+15005550006"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"body": "x"}, "to", "missing_field"),
        ({"to": "12345", "body": "x"}, "to", "invalid_field"),
        ({"to": "+15558675310", "body": ""}, "body", "invalid_field"),
        (
            {"to": "+15558675310", "body": "x", "mediaUrl": ["http://e.x/a.png"]},
            "mediaUrl",
            "invalid_field",
        ),
        ({"to": "+15558675310", "body": "x", "colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_send_now_validation_names_the_field(
    stack: Stack, body: dict[str, Any], field: str, code: str
) -> None:
    before = len(stack.standin.requests("POST", resource="Messages"))
    result = stack.call("POST", "messages", body)
    assert result.status == 400
    error = error_of(result)
    assert (error["code"], error["field"]) == (code, field)
    assert len(stack.standin.requests("POST", resource="Messages")) == before


def test_send_now_refuses_bodies_that_are_not_json_objects(stack: Stack) -> None:
    for raw in [b"", b"to=+15558675310", b"[1, 2]", b"\xff"]:
        result = stack.call("POST", "messages", raw=raw)
        assert result.status == 400
        assert error_of(result)["code"] == "invalid_json"


def test_json_routes_answer_with_the_shells_headers_and_cap_bodies(stack: Stack) -> None:
    # Through the host as a browser or curl meets them: never cached, never sniffed, never framed.
    for method, path in [
        ("GET", "messages?limit=1"),
        ("GET", "messages/SMnope"),
        ("GET", "health"),
    ]:
        result = stack.call(method, path)
        assert result.headers["cache-control"] == "no-store", path
        assert result.headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in result.headers["content-security-policy"], path
    before = len(stack.standin.requests("POST", resource="Messages"))
    padded = {"to": new_number(), "body": "hi", "pad": "x" * 300_000}
    for path in ("messages", "calls", "sms/schedules", "lines/%2B15017122661/override"):
        result = stack.call("POST", path, padded)
        assert result.status == 413, (path, result.text)
        assert error_of(result)["code"] == "body_too_large"
    assert len(stack.standin.requests("POST", resource="Messages")) == before


def test_send_now_to_an_opted_out_number_is_refused_before_twilio(stack: Stack) -> None:
    to = new_number()
    stack.optouts.opt_out(to, How.KEYWORD, keyword="STOP")
    result = stack.call("POST", "messages", {"to": to, "body": "promo"})
    assert result.status == 400
    error = error_of(result)
    assert (error["code"], error["field"]) == ("21610", "to")
    assert not [r for r in stack.standin.requests(resource="Messages") if r.form.get("To") == [to]]


def test_an_opt_out_applies_whatever_sender_number_the_business_uses(stack: Stack) -> None:
    # README: "Opt-outs apply to the whole business, not one sender number." The customer
    # replies STOP to one of the business's numbers (not TWILIO_FROM_NUMBER); sending to them
    # is then refused from that number, from the default sender and from any other one.
    customer = new_number()
    other_line = "+15017122662"
    stop = send_sms(
        stack.host.url,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_=customer,
        to=other_line,
        body="STOP",
    )
    assert stop.status == 200, stop.lines
    record = stack.optouts.get(customer)
    assert record is not None
    assert record.business_number == other_line
    for sender in (None, other_line, BUSINESS, "+15017122663"):
        body: dict[str, Any] = {"to": customer, "body": "Our spring offer"}
        if sender:
            body["from"] = sender
        result = stack.call("POST", "messages", body)
        assert result.status == 400, (sender, result.body)
        assert error_of(result)["code"] == "21610"
    assert not [
        r for r in stack.standin.requests(resource="Messages") if r.form.get("To") == [customer]
    ]


@pytest.mark.parametrize(("to", "code"), [("+15005550001", "21211"), ("+15005550009", "21614")])
def test_twilio_permanent_errors_answer_4xx_with_twilios_code(
    stack: Stack, to: str, code: str
) -> None:
    result = stack.call("POST", "messages", {"to": to, "body": "x"})
    assert result.status == 400
    error = error_of(result)
    assert (error["code"], error["field"]) == (code, "to")
    assert error["moreInfo"] == f"https://www.twilio.com/docs/errors/{code}"


def test_twilio_21610_records_the_opt_out(stack: Stack) -> None:
    result = stack.call("POST", "messages", {"to": "+15005550004", "body": "x"})
    assert result.status == 400
    assert error_of(result)["code"] == "21610"
    record = stack.optouts.get("+15005550004")
    assert record is not None
    assert record.how == How.TWILIO_21610
    # Now the app refuses by itself, without asking Twilio.
    before = len(stack.standin.requests("POST", resource="Messages"))
    assert stack.call("POST", "messages", {"to": "+15005550004", "body": "x"}).status == 400
    assert len(stack.standin.requests("POST", resource="Messages")) == before


def test_twilio_transient_failure_is_503_with_retry_after_then_succeeds(stack: Stack) -> None:
    to = new_number()
    stack.standin.add_fault(to=to, status=503, times=1)
    first = stack.call("POST", "messages", {"to": to, "body": "retry me"})
    assert first.status == 503
    assert first.headers["retry-after"] == "5"
    assert error_of(first)["code"] == "twilio_unavailable"
    second = stack.call("POST", "messages", {"to": to, "body": "retry me"})
    assert second.status == 201
    stack.standin.add_fault(to=to, status=429, code=20429, times=1)
    limited = stack.call("POST", "messages", {"to": to, "body": "again"})
    assert (limited.status, limited.headers["retry-after"]) == (503, "10")


# --- GET /api/messages/{sid} and GET /api/messages --------------------------------------------


def test_unknown_message_is_404(stack: Stack) -> None:
    result = stack.call("GET", "messages/SM" + "0" * 32)
    assert result.status == 404
    assert error_of(result)["code"] == "not_found"
    assert stack.call("GET", "messages/" + quote("a#b?c", safe="")).status == 404


def test_history_is_newest_first_and_paged(stack: Stack) -> None:
    since = records.iso(datetime.now(UTC) - timedelta(milliseconds=1))
    recipients = [new_number() for _ in range(5)]
    sids = []
    for to in recipients:
        result = stack.call("POST", "messages", {"to": to, "body": "paged"})
        assert result.status == 201
        sids.append(result.json()["sid"])
        time.sleep(0.005)  # distinct creation milliseconds, so "newest first" is observable
    seen: list[str] = []
    cursor = None
    for _ in range(5):  # bounded: 5 records in pages of 2 take 3 pages
        query = f"messages?since={quote(since)}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = stack.call("GET", query)
        assert page.status == 200, page.text
        body = page.json()
        assert len(body["messages"]) <= 2
        seen += [m["sid"] for m in body["messages"] if m.get("source") == "operator"]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert [s for s in seen if s in sids] == list(reversed(sids))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("since=yesterday", "since"),
        ("until=2026-99-01", "until"),
        ("cursor=garbage", "cursor"),
    ],
)
def test_history_parameters_are_validated(stack: Stack, query: str, field: str) -> None:
    result = stack.call("GET", f"messages?{query}")
    assert result.status == 400
    assert error_of(result)["field"] == field


def test_empty_query_values_get_the_defaults_as_in_azure(stack: Stack) -> None:
    """The Functions host drops `limit=` before the function sees it: the default applies."""
    result = stack.call("GET", "messages?limit=&since=&cursor=")
    assert result.status == 200, result.text
    assert result.json()["limit"] == 50


# --- GET /api/numbers and GET /api/usage -------------------------------------------------------


def test_numbers_say_whether_their_webhooks_point_here(stack: Stack) -> None:
    stack.standin.set_numbers(
        [
            {
                "phone_number": BUSINESS,
                "friendly_name": "Main line",
                "capabilities": {"voice": True, "sms": True, "mms": True},
                "voice_url": f"{stack.host.url}/api/voice/incoming",
                "sms_url": f"{stack.host.url}/api/sms/incoming?code=abc",
            },
            {
                "phone_number": "+15005550006",
                "friendly_name": "Elsewhere",
                "voice_url": "https://old.example.com/voice",
                "sms_url": "",
            },
        ]
    )
    result = stack.call("GET", "numbers?limit=10")
    assert result.status == 200, result.text
    body = result.json()
    assert body["appBaseUrl"] == stack.host.url
    main, other = body["numbers"]
    assert (main["phoneNumber"], main["friendlyName"]) == (BUSINESS, "Main line")
    assert main["capabilities"] == {"voice": True, "sms": True, "mms": True, "fax": False}
    assert (main["voiceUrlPointsHere"], main["smsUrlPointsHere"]) == (True, True)
    assert (other["voiceUrlPointsHere"], other["smsUrlPointsHere"]) == (False, False)
    assert other["voiceUrl"] == "https://old.example.com/voice"
    assert len(stack.call("GET", "numbers?limit=1").json()["numbers"]) == 1
    assert error_of(stack.call("GET", "numbers?limit=1001"))["field"] == "limit"


def test_numbers_when_twilio_is_down(stack: Stack) -> None:
    stack.standin.add_fault(resource="IncomingPhoneNumbers", status=500, times=1)
    result = stack.call("GET", "numbers")
    assert (result.status, result.headers["retry-after"]) == (503, "5")


def test_usage_for_a_period_and_category(stack: Stack) -> None:
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=6)).isoformat()
    result = stack.call("GET", f"usage?start={start}&end={today}&category=sms-outbound")
    assert result.status == 200, result.text
    body = result.json()
    assert (body["start"], body["end"], body["category"]) == (
        start,
        today.isoformat(),
        "sms-outbound",
    )
    (record,) = body["usage"]
    assert record["category"] == "sms-outbound"
    assert (record["startDate"], record["endDate"]) == (start, today.isoformat())
    assert float(record["usage"]) > 0
    assert record["priceUnit"] == "usd"
    sent = stack.standin.requests("GET", resource="Records")[-1]
    assert sent.query["Category"] == ["sms-outbound"]
    assert sent.query["StartDate"] == [start]
    everything = stack.call("GET", "usage?limit=3").json()["usage"]
    assert len(everything) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2026-11-31", "start"),
        ("end=tomorrow", "end"),
        ("start=2026-11-02&end=2026-11-01", "end"),
        ("category=SMS%20Outbound", "category"),
        ("limit=0", "limit"),
    ],
)
def test_usage_parameters_are_validated(stack: Stack, query: str, field: str) -> None:
    result = stack.call("GET", f"usage?{query}")
    assert result.status == 400
    assert error_of(result)["field"] == field
