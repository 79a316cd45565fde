"""Operator routes called directly (Microsoft's guidance for v2 functions), and OpenAPI coverage."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from switchboard import settings as settings_module
from switchboard.operator import blueprint as operator
from switchboard.operator import routes as operator_routes
from switchboard.operator import service as operator_service

OPENAPI = Path(operator_routes.OPENAPI_PATH)


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


def test_app_base_url_comes_from_trusted_configuration_never_from_headers() -> None:
    """PUBLIC_BASE_URL, else in Azure https://$WEBSITE_HOSTNAME; outside Azure the request's own
    origin only when it is a loopback address; never X-Forwarded-* (a forged header must not
    choose where Twilio sends callbacks)."""
    forged = {"x-forwarded-proto": "https", "x-forwarded-host": "proxy.example.com"}

    def request(url: str) -> func.HttpRequest:
        return func.HttpRequest(method="GET", url=url, headers=forged, body=b"")

    remote = request("http://10.0.0.4:7071/api/numbers?code=k")
    settings = settings_module.load_settings({"PUBLIC_BASE_URL": "https://sb.example.com"})
    assert operator_routes.app_base_url(remote, settings) == "https://sb.example.com"
    azure = settings_module.load_settings(
        {"WEBSITE_INSTANCE_ID": "i", "WEBSITE_HOSTNAME": "sb.azurewebsites.net"}
    )
    assert operator_routes.app_base_url(remote, azure) == "https://sb.azurewebsites.net"
    plain = settings_module.load_settings({})
    assert operator_routes.app_base_url(remote, plain) is None
    local = request("http://127.0.0.1:7071/api/numbers")
    assert operator_routes.app_base_url(local, plain) == "http://127.0.0.1:7071"
    assert operator_routes.app_base_url(request("http://localhost:7071/x"), plain) == (
        "http://localhost:7071"
    )


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
        route = "/" + str(trigger.route).strip("/")
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


def test_health_counts_every_queue_trigger_of_the_app() -> None:
    """The fixed queue names health reports are exactly the app's queue triggers besides the
    call queue (whose name is a setting)."""
    from function_app import app
    from switchboard.operator.routes import FIXED_QUEUES

    app.functions_bindings = None  # get_functions() refuses to run twice on one app
    triggers = {
        f.get_trigger().queue_name
        for f in app.get_functions()
        if f.get_trigger().type == "queueTrigger"
    }
    fixed = {name for name in triggers if "%" not in name and not name.endswith("-poison")}
    assert fixed == set(FIXED_QUEUES)


def test_openapi_documents_the_shells_body_cap_on_every_route_with_a_body() -> None:
    from switchboard.jsonroutes.shell import MAX_JSON_BODY_BYTES

    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    with_body = [
        operation
        for item in doc["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    assert len(with_body) == 7  # messages, calls, schedules, lines, override, inbox users (2)
    for operation in with_body:
        assert f"{MAX_JSON_BODY_BYTES:,}" in operation["responses"]["413"]["description"]
    assert f"{MAX_JSON_BODY_BYTES:,}" in doc["info"]["description"]


def test_health_names_a_line_that_cannot_be_evaluated() -> None:
    from switchboard.operator.commands import describe_health
    from switchboard.operator.health import Check, health_report

    unusable = [{"number": "+15017122661", "version": 4}]
    status, report = health_report({}, [], Check(True, "ok"), Check(True, "ok"), unusable)
    assert status == 503
    assert report["lines"] == {"ok": False, "unusable": unusable}
    assert "line +15017122661: version 4 cannot be evaluated" in describe_health(report)
    assert health_report({}, [], Check(True, "ok"), Check(True, "ok"), [])[0] == 200


def test_health_gives_one_sentence_per_kind_of_delivery_problem() -> None:
    from datetime import UTC, datetime

    from switchboard.operator.commands import describe_health
    from switchboard.operator.health import Check, health_report
    from switchboard.outbound.health import messaging_section
    from switchboard.outbound.problems import DeliveryProblem, Kind

    at = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    blocked = DeliveryProblem(
        "+15017122661",
        Kind.REGISTRATION,
        30,
        at,
        at,
        ((30034, 30),),
        "unregistered",
        at,
        "by e-mail",
    )
    messaging = messaging_section([blocked])
    assert set(messaging) == {"ok", "registration", "lines"}
    assert not messaging["ok"]
    assert messaging["registration"].startswith("30 texts from +15017122661 were blocked")
    assert messaging["lines"]["+15017122661"]["registration"] == {
        "texts": 30,
        "codes": {"30034": 30},
        "since": "2026-12-07T15:00:00.000Z",
        "last": "2026-12-07T15:00:00.000Z",
        "lastError": "unregistered",
        "toldAt": "2026-12-07T15:00:00.000Z",
        "told": "by e-mail",
    }
    ok, good = Check(True, "ok"), messaging_section([])
    assert good == {"ok": True, "lines": {}}
    assert health_report({}, [], ok, ok, [], good)[0] == 200
    status, report = health_report({}, [], ok, ok, [], messaging)
    assert status == 503
    assert report["status"] == "degraded"
    assert report["messaging"] is messaging
    described = describe_health(report)
    assert f"  TEXTS BLOCKED (not registered): {messaging['registration']}" in described
    assert "TEXTS FILTERED" not in described
