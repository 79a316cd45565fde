"""Operator API: request validation, paging, JSON shapes, Twilio failures, OpenAPI coverage."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from switchboard import records
from switchboard import settings as settings_module
from switchboard.http import ApiError, parse_limit
from switchboard.logbook import listing
from switchboard.operator import api as operator_api
from switchboard.operator import blueprint as operator
from switchboard.operator import routes as operator_routes
from switchboard.operator import service as operator_service
from switchboard.twilio.client import IncomingNumber, UsageRecord
from switchboard.twilio.errors import TwilioFailure

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OPENAPI = Path(operator_routes.OPENAPI_PATH)


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


@pytest.mark.parametrize("raw", [None, b"", b"{", b"[1]", b'"x"', b"\xff\xfe", b"[" * 100_000])
def test_body_must_be_a_json_object(raw: bytes | None) -> None:
    error = error_of(operator_api.parse_json_object, raw)
    assert (error.status, error.code) == (400, "invalid_json")


# --- query parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [(None, 50), ("1", 1), (" 100 ", 100)])
def test_limit_accepts_1_to_100(raw: str | None, expected: int) -> None:
    params = {} if raw is None else {"limit": raw}
    assert parse_limit(params) == expected


@pytest.mark.parametrize("raw", ["", " ", "0", "101", "-1", "1.5", "ten", "٣", "1e2", "9" * 30])
def test_limit_out_of_range_is_400_naming_limit(raw: str) -> None:
    error = error_of(parse_limit, {"limit": raw})
    assert (error.status, error.field) == (400, "limit")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-01T09:00:00Z", datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01T10:00:00+01:00", datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01T09:00:00", datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
    ],
)
def test_since_is_iso_8601_in_utc(raw: str, expected: datetime) -> None:
    assert listing.parse_history_query({"since": raw}, NOW).since == expected


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "2026-13-01", "01/11/2026", "0001-01-01T00:00:00+01:00", "2026-11-01T25:00"],
)
def test_bad_since_is_400_naming_since(raw: str) -> None:
    error = error_of(listing.parse_history_query, {"since": raw}, NOW)
    assert (error.status, error.field) == (400, "since")


def test_history_defaults_and_clamps() -> None:
    query = listing.parse_history_query({}, NOW)
    assert query == listing.HistoryQuery(since=NOW - timedelta(days=30), limit=50)
    ancient = listing.parse_history_query({"since": "0001-01-01T00:00:00Z"}, NOW)
    assert ancient.since == datetime(1970, 1, 1, tzinfo=UTC)


def test_cursor_round_trip_and_tampering() -> None:
    row = records.index_row(NOW, "SM0123")
    cursor = listing.encode_cursor(row)
    assert listing.parse_history_query({"cursor": cursor}, NOW).after == row
    assert listing.index_row_time(row) == NOW
    for bad in ["nope", "!!!", cursor[:-1], listing.encode_cursor("12-x")]:
        error = error_of(listing.parse_history_query, {"cursor": bad}, NOW)
        assert (error.status, error.field) == (400, "cursor")


def test_window_within_31_days_reads_it_all() -> None:
    query = listing.HistoryQuery(since=NOW - timedelta(days=3), limit=10)
    window = listing.plan_window(query, NOW)
    assert window == listing.HistoryWindow(query.since, NOW, None, None)


def test_older_since_is_reached_page_by_page() -> None:
    query = listing.HistoryQuery(since=NOW - timedelta(days=100), limit=10)
    window = listing.plan_window(query, NOW)
    assert window is not None
    start = datetime(2026, 10, 24, tzinfo=UTC)  # 31 days including today
    assert (window.since, window.until) == (start, NOW)
    assert window.older is not None
    # An empty page still says where to continue; the next window ends where this one began.
    page = listing.history_page([], query, window)
    assert page["messages"] == []
    following = listing.parse_history_query(
        {"since": records.iso(query.since), "cursor": page["nextCursor"]}, NOW
    )
    next_window = listing.plan_window(following, NOW)
    assert next_window is not None
    assert next_window.until == start
    assert next_window.since == datetime(2026, 9, 24, tzinfo=UTC)


def test_cursor_older_than_since_matches_nothing() -> None:
    after = records.index_row(NOW - timedelta(days=10), "x")
    query = listing.HistoryQuery(since=NOW - timedelta(days=5), limit=10, after=after)
    assert listing.plan_window(query, NOW) is None


def entity(record_id: str, created: datetime) -> dict[str, Any]:
    return {
        "PartitionKey": record_id,
        "RowKey": "record",
        "Id": record_id,
        "Status": "sent",
        "CreatedAt": created,
        "UpdatedAt": created,
    }


def test_history_page_has_a_cursor_only_when_more_exist() -> None:
    query = listing.HistoryQuery(since=NOW - timedelta(days=1), limit=2)
    window = listing.plan_window(query, NOW)
    found = [entity(f"SM{i}", NOW - timedelta(minutes=i)) for i in range(3)]
    page = listing.history_page(found, query, window)
    assert [m["id"] for m in page["messages"]] == ["SM0", "SM1"]
    assert page["messages"][0]["createdAt"] == "2026-11-23T12:00:00.000Z"
    assert page["since"] == "2026-11-22T12:00:00.000Z"
    assert page["limit"] == 2
    after = listing.decode_cursor(page["nextCursor"])
    assert after == records.index_row(NOW - timedelta(minutes=1), "SM1")
    assert listing.history_page(found[:2], query, window)["nextCursor"] is None


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


# --- routes, called directly (Microsoft's guidance for v2 functions) --------------------------


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


@pytest.fixture
def app_settings(clean_env: pytest.MonkeyPatch) -> Iterator[None]:
    clean_env.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    clean_env.setenv("TWILIO_AUTH_TOKEN", "unit-test-token")
    clean_env.setenv("TWILIO_FROM_NUMBER", "+15017122661")
    settings_module.reset_settings_cache()
    yield
    settings_module.reset_settings_cache()


def answer(response: func.HttpResponse) -> tuple[int, Any]:
    assert response.mimetype == "application/json"
    return response.status_code, json.loads(response.get_body())


@pytest.mark.usefixtures("app_settings")
def test_route_answers_validation_errors_in_the_one_shape() -> None:
    status, body = answer(operator.send_message(http("POST", "messages", body=b"not json")))
    assert (status, body["error"]["code"]) == (400, "invalid_json")
    status, body = answer(operator.list_messages(http("GET", "messages", params={"limit": "0"})))
    assert (status, body["error"]["field"]) == (400, "limit")
    status, body = answer(operator.list_usage(http("GET", "usage", params={"end": "x"})))
    assert (status, body["error"]["field"]) == (400, "end")


@pytest.mark.usefixtures("app_settings")
def test_route_turns_a_bug_into_a_500_without_a_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise KeyError("secret internals")

    monkeypatch.setattr(operator_service, "get_message", broken)
    request = http("GET", "messages/SM1", route_params={"sid": "SM1"})
    status, body = answer(operator.get_message(request))
    assert status == 500
    assert body == {"error": {"code": "internal_error", "message": "unexpected error (logged)"}}


def test_invalid_settings_answer_503_naming_the_setting(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TWILIO_FROM_NUMBER", "not-a-number")
    settings_module.reset_settings_cache()
    try:
        status, body = answer(operator.list_numbers(http("GET", "numbers")))
    finally:
        settings_module.reset_settings_cache()
    assert status == 503
    assert "TWILIO_FROM_NUMBER" in body["error"]["message"]
    assert "not-a-number" not in body["error"]["message"]


def test_app_base_url_prefers_public_base_url_then_proxy_headers() -> None:
    settings = settings_module.load_settings({"PUBLIC_BASE_URL": "https://sb.example.com"})
    request = func.HttpRequest(
        method="GET",
        url="http://10.0.0.4:7071/api/numbers?code=k",
        headers={"x-forwarded-proto": "https", "x-forwarded-host": "proxy.example.com"},
        body=b"",
    )
    assert operator_routes.app_base_url(request, settings) == "https://sb.example.com"
    plain = settings_module.load_settings({})
    assert operator_routes.app_base_url(request, plain) == "https://proxy.example.com"


# --- the OpenAPI description ------------------------------------------------------------------


@cache
def registered_routes() -> frozenset[tuple[str, str]]:
    """(METHOD, /api/route) of every function-key HTTP function the FunctionApp registers."""
    from function_app import app

    # get_functions() refuses to run twice on one app (duplicate-name check): start afresh.
    app.functions_bindings = None
    found = set()
    for function in app.get_functions():
        trigger = function.get_trigger()
        if trigger is None or trigger.type != "httpTrigger":
            continue
        if str(getattr(trigger.auth_level, "value", trigger.auth_level)).lower() != "function":
            continue
        route = "/api/" + str(trigger.route).strip("/")
        # Route constraints ({id:int}) are not part of an OpenAPI path template.
        route = re.sub(r"\{\**([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", r"{\1}", route)
        for method in trigger.methods or ["GET", "POST"]:
            found.add((str(getattr(method, "value", method)).upper(), route))
    return frozenset(found)


def openapi_routes() -> frozenset[tuple[str, str]]:
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return frozenset(
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


def test_openapi_describes_every_operator_route_and_no_other() -> None:
    registered = registered_routes()
    assert ("GET", "/api/health") in registered
    assert ("POST", "/api/messages") in registered
    assert registered - openapi_routes() == set(), "routes missing from switchboard/openapi.json"
    assert openapi_routes() - registered == set(), "openapi.json describes routes the app lacks"


def test_openapi_refs_resolve_and_function_keys_are_the_security() -> None:
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert doc["openapi"].startswith("3.")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["functionKeyHeader"] == {
        **schemes["functionKeyHeader"],
        "type": "apiKey",
        "in": "header",
        "name": "x-functions-key",
    }
    assert (schemes["functionKeyQuery"]["in"], schemes["functionKeyQuery"]["name"]) == (
        "query",
        "code",
    )
    text = OPENAPI.read_text(encoding="utf-8")
    for ref in set(json.loads(json.dumps(_refs(doc)))):
        name = ref.removeprefix("#/components/schemas/")
        assert name in doc["components"]["schemas"], ref
    assert "x-functions-key" in text


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_openapi_route_serves_the_file() -> None:
    response = operator.openapi(http("GET", "openapi.json"))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body()) == json.loads(OPENAPI.read_text(encoding="utf-8"))
