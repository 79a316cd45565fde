"""Operator API requests and JSON shapes (pure): request validation, usage and numbers, Twilio failures."""

from __future__ import annotations

from datetime import date
from typing import Any

import azure.functions as func
import pytest

from switchboard.http import ApiError
from switchboard.operator import api as operator_api
from switchboard.twilio.client import IncomingNumber, UsageRecord
from switchboard.twilio.errors import TwilioFailure


def error_of(call: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- POST /api/messages body ---------------------------------------------------------------


def test_send_request_minimal_and_full() -> None:
    minimal = operator_api.parse_send_request({"to": "+15558675310", "body": "Hi"})
    assert minimal == operator_api.SendRequest(to="+15558675310", body="Hi")
    full = operator_api.parse_send_request(
        {
            "to": "+15558675310",
            "body": "Look",
            "from": "+15017122661",
            "mediaUrl": ["https://example.com/a.png", "https://cdn.example.com:8443/b.jpg?x=1"],
        }
    )
    assert full.from_ == "+15017122661"
    assert full.media_urls == (
        "https://example.com/a.png",
        "https://cdn.example.com:8443/b.jpg?x=1",
    )


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"body": "x"}, "to", "missing_field"),
        ({"to": None, "body": "x"}, "to", "missing_field"),
        ({"to": "5558675310", "body": "x"}, "to", "invalid_field"),
        ({"to": 15558675310, "body": "x"}, "to", "invalid_field"),
        ({"to": "+15558675310"}, "body", "missing_field"),
        ({"to": "+15558675310", "body": "   "}, "body", "invalid_field"),
        ({"to": "+15558675310", "body": "x" * 1601}, "body", "invalid_field"),
        ({"to": "+15558675310", "body": ["x"]}, "body", "invalid_field"),
        ({"to": "+15558675310", "body": "bad \ud800 text"}, "body", "invalid_field"),
        ({"to": "+15558675310", "body": "x", "from": "me"}, "from", "invalid_field"),
        ({"to": "+15558675310", "body": "x", "From": "+15017122661"}, "From", "unknown_field"),
        (
            {"to": "+15558675310", "body": "x", "mediaUrl": "https://a.b/c"},
            "mediaUrl",
            "invalid_field",
        ),
        (
            {"to": "+15558675310", "body": "x", "mediaUrl": ["http://a.b/c"]},
            "mediaUrl",
            "invalid_field",
        ),
        (
            {"to": "+15558675310", "body": "x", "mediaUrl": ["https://[::1"]},
            "mediaUrl",
            "invalid_field",
        ),
        (
            {"to": "+15558675310", "body": "x", "mediaUrl": ["https://a.b/c d"]},
            "mediaUrl",
            "invalid_field",
        ),
        (
            {"to": "+15558675310", "body": "x", "mediaUrl": ["https://a.b:99999/"]},
            "mediaUrl",
            "invalid_field",
        ),
        ({"to": "+15558675310", "body": "x", "mediaUrl": [1]}, "mediaUrl", "invalid_field"),
        (
            {"to": "+15558675310", "body": "x", "mediaUrl": ["https://a.b/"] * 11},
            "mediaUrl",
            "invalid_field",
        ),
    ],
)
def test_send_request_errors_name_the_field(data: dict[str, Any], field: str, code: str) -> None:
    error = error_of(operator_api.parse_send_request, data)
    assert (error.status, error.code, error.field) == (400, code, field)
    assert error.message.startswith(f"{field}: ")
    assert error.body() == {"error": {"code": code, "message": error.message, "field": field}}


# --- usage and numbers ------------------------------------------------------------------------


def test_usage_query() -> None:
    query = operator_api.parse_usage_query(
        {"start": "2026-11-01", "end": "2026-11-30", "category": "sms-outbound", "limit": "10"}
    )
    assert query == operator_api.UsageQuery(
        date(2026, 11, 1), date(2026, 11, 30), "sms-outbound", 10
    )
    assert operator_api.parse_usage_query({}) == operator_api.UsageQuery(None, None, None, 50)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-11-31"}, "start"),
        ({"start": "20261101"}, "start"),
        ({"end": "-30days"}, "end"),
        ({"start": "2026-11-02", "end": "2026-11-01"}, "end"),
        ({"category": "SMS Outbound"}, "category"),
        ({"category": "x" * 101}, "category"),
        ({"limit": "1001"}, "limit"),
    ],
)
def test_usage_query_errors(params: dict[str, str], field: str) -> None:
    error = error_of(operator_api.parse_usage_query, params)
    assert (error.status, error.field) == (400, field)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://sb.example.com/api/voice/incoming", True),
        ("https://SB.example.com:443/api/voice/incoming/?code=abc", True),
        ("http://sb.example.com/api/voice/incoming", False),
        ("https://other.example.com/api/voice/incoming", False),
        ("https://sb.example.com/api/sms/incoming", False),
        ("https://sb.example.com:8443/api/voice/incoming", False),
        ("https://[bad/api/voice/incoming", False),
        ("", False),
        (None, False),
    ],
)
def test_points_here(url: str | None, expected: bool) -> None:
    assert operator_api.points_here(url, "https://sb.example.com", "voice/incoming") is expected


def test_points_here_is_unknown_without_the_apps_url() -> None:
    assert operator_api.points_here("https://x/api/voice/incoming", None, "voice/incoming") is None


def test_number_and_usage_json() -> None:
    number = IncomingNumber(
        sid="PN1",
        phone_number="+15017122661",
        friendly_name="Main",
        capabilities={"voice": True, "sms": True},
        voice_url="https://sb.example.com/api/voice/incoming",
        voice_method="POST",
        sms_url="https://elsewhere.example.com/sms",
        sms_method="POST",
        status_callback=None,
    )
    shown = operator_api.number_json(number, "https://sb.example.com")
    assert shown["capabilities"] == {"voice": True, "sms": True, "mms": False, "fax": False}
    assert (shown["voiceUrlPointsHere"], shown["smsUrlPointsHere"]) == (True, False)
    assert shown["phoneNumber"] == "+15017122661"
    usage = UsageRecord(
        category="sms-outbound",
        description="Outbound SMS",
        usage="12",
        usage_unit="messages",
        count="12",
        count_unit="messages",
        price="0.09480",
        price_unit="usd",
        start_date=date(2026, 11, 1),
        end_date=date(2026, 11, 23),
    )
    assert operator_api.usage_json(usage) == {
        "category": "sms-outbound",
        "description": "Outbound SMS",
        "usage": "12",
        "usageUnit": "messages",
        "count": "12",
        "countUnit": "messages",
        "price": "0.09480",
        "priceUnit": "usd",
        "startDate": "2026-11-01",
        "endDate": "2026-11-23",
    }


# --- Twilio failures --------------------------------------------------------------------------


def test_transient_twilio_failure_is_503_with_retry_after() -> None:
    error = operator_api.twilio_error(TwilioFailure(True, 503, 20503, "Service Unavailable"))
    assert (error.status, error.code, error.headers()) == (
        503,
        "twilio_unavailable",
        {"Retry-After": "5"},
    )
    limited = operator_api.twilio_error(TwilioFailure(True, 429, 20429, "Too Many Requests"))
    assert limited.headers() == {"Retry-After": "10"}


def test_permanent_twilio_failure_is_400_with_twilios_code_and_field() -> None:
    error = operator_api.twilio_error(
        TwilioFailure(
            False, 400, 21211, "The 'To' number +15005550001 is not a valid phone number."
        )
    )
    assert error.status == 400
    assert error.body() == {
        "error": {
            "code": "21211",
            "message": "The 'To' number +15005550001 is not a valid phone number.",
            "field": "to",
            "moreInfo": "https://www.twilio.com/docs/errors/21211",
        }
    }
    sender = operator_api.twilio_error(TwilioFailure(False, 400, 21606, "not capable"))
    assert sender.field == "from"


@pytest.mark.parametrize("status", [401, 403, 404, None])
def test_twilio_refusing_the_apps_credentials_is_not_the_callers_fault(status: int | None) -> None:
    error = operator_api.twilio_error(TwilioFailure(False, status, 20003, "Authenticate"))
    assert (error.status, error.code) == (502, "twilio_rejected")
    assert "Authenticate" not in error.message


def http(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url=f"http://localhost:7071/api/{path}",
        headers={"content-type": "application/json"},
        params=params or {},
        route_params=route_params or {},
        body=body,
    )
