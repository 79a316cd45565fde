"""The JSON route shell called directly: one error shape for every failure, JSON bodies, the
security headers, the settings on first use, and the inbox session seam with a test double.
Every failure case runs through a sync and an async route: they share one core."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ServiceRequestError
from twilio.base.exceptions import TwilioRestException

from switchboard import settings as settings_module
from switchboard.http import ApiError, json_response
from switchboard.jsonroutes import auth
from switchboard.jsonroutes.auth import FUNCTION_KEY, OPERATOR, InboxSession, Principal, Role
from switchboard.jsonroutes.shell import (
    MAX_JSON_BODY_BYTES,
    SECURITY_HEADERS,
    ApiRequest,
    AsyncJsonRoute,
    JsonRoute,
    json_route,
    parse_json_body,
    parse_json_object,
)
from switchboard.settings import MissingSettingError


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    settings_module.reset_settings_cache()
    yield clean_env
    settings_module.reset_settings_cache()


@pytest.fixture
def broken_settings(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    env.setenv("TWILIO_FROM_NUMBER", "not-a-number")
    return env


def http(
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url="http://localhost:7071/api/things",
        headers=headers or {},
        params=params or {},
        route_params={},
        body=body,
    )


Work = Callable[[ApiRequest], func.HttpResponse]


def serve(kind: str, work: Work, req: func.HttpRequest, **declared: Any) -> func.HttpResponse:
    """Declare `work` as a sync or an async route and serve `req` through it."""
    declare = json_route(
        auth=declared.get("auth", FUNCTION_KEY),
        max_body_bytes=declared.get("max_body_bytes", MAX_JSON_BODY_BYTES),
    )
    if kind == "sync":

        def handler(request: ApiRequest) -> func.HttpResponse:
            return work(request)

        return declare(handler)(req)

    async def async_handler(request: ApiRequest) -> func.HttpResponse:
        await asyncio.sleep(0)
        return work(request)

    route = declare(async_handler)
    assert isinstance(route, AsyncJsonRoute)
    return asyncio.run(route(req))


def error_of(response: func.HttpResponse) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    body = json.loads(response.get_body())
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "field", "moreInfo"}
    return error


def assert_secured(response: func.HttpResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


KINDS = ["sync", "async"]


def raises(exc: Exception) -> Work:
    def work(request: ApiRequest) -> func.HttpResponse:
        raise exc

    return work


def test_declaring_picks_the_sync_or_async_route() -> None:
    @json_route(auth=FUNCTION_KEY)
    def plain(request: ApiRequest) -> func.HttpResponse:
        """Plain."""
        return json_response({})

    @json_route(auth=FUNCTION_KEY)
    async def waiting(request: ApiRequest) -> func.HttpResponse:
        return json_response({})

    assert isinstance(plain, JsonRoute)
    assert isinstance(waiting, AsyncJsonRoute)
    assert (plain.auth.mode, plain.__doc__) == (auth.AuthMode.FUNCTION_KEY, "Plain.")
    assert plain.name.endswith("test_declaring_picks_the_sync_or_async_route.<locals>.plain")


# --- failures: one shape, one mapping ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_api_error_is_answered_as_raised_with_the_security_headers(kind: str, env: Any) -> None:
    error = ApiError(409, "conflict", "id: already used", "id")
    response = serve(kind, raises(error), http())
    assert response.status_code == 409
    assert error_of(response) == {"code": "conflict", "message": "id: already used", "field": "id"}
    assert_secured(response)


@pytest.mark.parametrize("kind", KINDS)
def test_a_bug_is_a_500_without_its_trace_which_is_logged(
    kind: str, env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = serve(kind, raises(KeyError("secret internals")), http())
    assert response.status_code == 500
    assert error_of(response) == {"code": "internal_error", "message": "unexpected error (logged)"}
    assert b"secret internals" not in response.get_body()
    assert "secret internals" in caplog.text  # the trace is in the log
    assert_secured(response)


@pytest.mark.parametrize("kind", KINDS)
def test_broken_settings_are_503_naming_the_setting_to_the_operator_only(
    kind: str, broken_settings: Any
) -> None:
    def work(request: ApiRequest) -> func.HttpResponse:
        return json_response({"from": request.settings.twilio_from_number})

    response = serve(kind, work, http())
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "settings_invalid"
    assert "TWILIO_FROM_NUMBER" in error["message"]
    assert "not-a-number" not in error["message"]
    assert_secured(response)


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_setting_is_503_not_configured(kind: str, env: Any) -> None:
    missing = MissingSettingError("TWILIO_ACCOUNT_SID", "sending SMS")
    error = error_of(serve(kind, raises(missing), http()))
    assert error["code"] == "not_configured"
    assert "TWILIO_ACCOUNT_SID" in error["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_settings_are_loaded_only_when_the_handler_needs_them(
    kind: str, broken_settings: Any
) -> None:
    response = serve(kind, lambda request: json_response({"ok": True}), http())
    assert (response.status_code, json.loads(response.get_body())) == (200, {"ok": True})


@pytest.mark.parametrize("kind", KINDS)
def test_storage_failure_is_503_with_retry_after(
    kind: str, env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    failure = ServiceRequestError("connection refused by devstoreaccount1.table")
    response = serve(kind, raises(failure), http())
    assert (response.status_code, response.headers.get("Retry-After")) == (503, "5")
    assert error_of(response)["code"] == "storage_unavailable"
    assert "devstoreaccount1" not in caplog.text + response.get_body().decode()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("status", "retry_after"), [(503, "5"), (429, "10")])
def test_twilio_transient_failure_is_503_with_retry_after(
    kind: str, env: Any, status: int, retry_after: str
) -> None:
    failure = TwilioRestException(status, "https://api.twilio.com/x", "busy")
    response = serve(kind, raises(failure), http())
    assert (response.status_code, response.headers.get("Retry-After")) == (503, retry_after)
    assert error_of(response)["code"] == "twilio_unavailable"


@pytest.mark.parametrize("kind", KINDS)
def test_a_twilio_refusal_no_route_mapped_is_a_bug_not_a_retry(kind: str, env: Any) -> None:
    failure = TwilioRestException(400, "https://api.twilio.com/x", "bad", code=21211)
    response = serve(kind, raises(failure), http())
    assert response.status_code == 500
    assert "Retry-After" not in response.headers


# --- JSON bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [None, b"", b"  ", b"{", b"[1]", b'"x"', b"\xff\xfe", b"[" * 100_000]
)
def test_body_must_be_a_json_object(raw: bytes | None) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json_object(raw)
    assert (caught.value.status, caught.value.code, caught.value.field) == (
        400,
        "invalid_json",
        None,
    )


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"to": "+15558675310",\n "body": }', "line 2 column 10"),
        (b"\xff{}", "not UTF-8"),
        (b"", "empty"),
        (b"[" * 100_000, "not valid JSON"),
        # Which of two values was meant cannot be told (json.loads kept the last silently).
        (b'{"say": "a", "say": "b"}', "the key 'say' appears twice in one object"),
        (b'{"hours": {"mon": [], "mon": ["09:00-17:00"]}}', "the key 'mon' appears twice"),
    ],
)
def test_invalid_json_names_the_body_and_where_it_breaks(raw: bytes, says: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json_body(raw)
    assert "request body" in caught.value.message
    assert says in caught.value.message


def test_json_bodies_parse_as_json_does() -> None:
    assert parse_json_body(b'\xef\xbb\xbf{"a": [1, null]}') == {"a": [1, None]}  # a UTF-8 BOM
    assert parse_json_body(" 3 ") == 3
    assert parse_json_object('{"to": "+1"}') == {"to": "+1"}


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_json_is_400_before_the_settings_are_looked_at(
    kind: str, broken_settings: Any
) -> None:
    def work(request: ApiRequest) -> func.HttpResponse:
        data = request.json_object()
        return json_response({"from": request.settings.twilio_from_number, **data})

    response = serve(kind, work, http("POST", b"{nope"))
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_over_the_cap_is_413_and_never_reaches_the_handler(kind: str, env: Any) -> None:
    reached: list[bool] = []

    def work(request: ApiRequest) -> func.HttpResponse:
        reached.append(True)
        return json_response({})

    big = b'{"a": "' + b"x" * MAX_JSON_BODY_BYTES + b'"}'
    response = serve(kind, work, http("POST", big))
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"
    assert reached == []
    at_cap = b'"' + b"x" * (MAX_JSON_BODY_BYTES - 2) + b'"'
    assert serve(kind, work, http("POST", at_cap)).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_a_route_may_take_a_larger_body_and_no_more(kind: str, env: Any) -> None:
    def work(request: ApiRequest) -> func.HttpResponse:
        return json_response({"size": len(request.http.get_body())})

    file = b"x" * (MAX_JSON_BODY_BYTES * 2)
    taken = serve(kind, work, http("POST", file), max_body_bytes=len(file))
    assert json.loads(taken.get_body()) == {"size": len(file)}
    over = serve(kind, work, http("POST", file + b"x"), max_body_bytes=len(file))
    assert over.status_code == 413


def test_the_body_is_parsed_once_and_json_object_refuses_other_values(env: Any) -> None:
    request = ApiRequest(http("POST", b"[1, 2]"), OPERATOR)
    assert request.json() == [1, 2]
    assert request.json() is request.json()
    with pytest.raises(ApiError) as caught:
        request.json_object()
    assert caught.value.code == "invalid_json"


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_answer_carries_the_security_headers_and_keeps_the_handlers_own(
    kind: str, env: Any
) -> None:
    plain = serve(kind, lambda r: json_response({"a": 1}, 201, {"ETag": '"3"'}), http())
    assert (plain.status_code, plain.headers.get("ETag")) == (201, '"3"')
    assert_secured(plain)
    assert plain.headers.get("Cache-Control") == "no-store"
    cached = serve(
        kind, lambda r: json_response({}, headers={"Cache-Control": "private, max-age=5"}), http()
    )
    assert cached.headers.get("Cache-Control") == "private, max-age=5"
    assert cached.headers.get("X-Content-Type-Options") == "nosniff"


# --- the principal ----------------------------------------------------------------------------


def test_principals_see_their_lines() -> None:
    staff = auth.inbox_user("u1", "staff", ["+15017122661"])
    owner = auth.inbox_user("u2", Role.OWNER, ["+15017122661"])
    assert staff.may_see_line("+15017122661")
    assert not staff.may_see_line("+15017122662")
    assert (owner.may_see_line("+15017122662"), owner.lines) == (True, frozenset())
    assert (OPERATOR.may_see_line("+15017122662"), OPERATOR.is_operator) == (True, True)
    assert (staff.is_operator, staff.sees_every_line) == (False, False)
    with pytest.raises(ValueError, match="admin"):
        auth.inbox_user("u3", "admin")
    with pytest.raises(ValueError, match="needs an id"):
        auth.inbox_user("", "owner")


@pytest.mark.parametrize("kind", KINDS)
def test_a_function_key_route_hands_the_operator_to_its_handler(kind: str, env: Any) -> None:
    seen: list[Principal] = []

    def work(request: ApiRequest) -> func.HttpResponse:
        seen.append(request.principal)
        return json_response({})

    assert serve(kind, work, http()).status_code == 200
    assert seen == [OPERATOR]
    assert FUNCTION_KEY.host_auth_level == func.AuthLevel.FUNCTION


# --- the inbox session (a test double stands in for the inbox's sessions) ---------------------

STAFF = auth.inbox_user("staff-1", "staff", ["+15017122661"])


class Sessions:
    """A session authenticator double: cookie `session=good` is STAFF's, CSRF token `t0k`."""

    def __init__(self, principal: Principal | None = STAFF) -> None:
        self.user = principal
        self.asked: list[str] = []

    def principal(self, req: func.HttpRequest, settings: Any) -> Principal | None:
        self.asked.append("session")
        return self.user if "session=good" in (req.headers.get("cookie") or "") else None

    def csrf_valid(self, req: func.HttpRequest, principal: Principal, settings: Any) -> bool:
        self.asked.append("csrf")
        return req.headers.get("x-csrf-token") == "t0k"

    def remembered(self, req: func.HttpRequest, settings: Any) -> Principal | None:
        self.asked.append("remembered")
        if "session=" not in (req.headers.get("cookie") or ""):
            return None
        return Principal("inbox", STAFF.user_id, STAFF.role, STAFF.lines, remembered=True)


def inbox_call(
    kind: str, sessions: Sessions, method: str = "GET", **headers: str
) -> tuple[func.HttpResponse, list[Principal]]:
    seen: list[Principal] = []

    def work(request: ApiRequest) -> func.HttpResponse:
        seen.append(request.principal)
        return json_response({"ok": True})

    names = {name.replace("_", "-"): value for name, value in headers.items()}
    response = serve(kind, work, http(method, b"{}", names), auth=InboxSession(sessions))
    return response, seen


@pytest.mark.parametrize("kind", KINDS)
def test_inbox_route_serves_a_valid_session_with_its_principal(kind: str, env: Any) -> None:
    response, seen = inbox_call(kind, Sessions(), cookie="session=good")
    assert response.status_code == 200
    assert seen == [STAFF]
    assert_secured(response)
    write, seen = inbox_call(
        kind,
        Sessions(),
        "POST",
        cookie="session=good",
        x_csrf_token="t0k",
        sec_fetch_site="same-origin",
    )
    assert (write.status_code, seen) == (200, [STAFF])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"cookie": "session=forged"},
        {"x_functions_key": "the-real-function-key"},
        {"authorization": "Bearer the-real-function-key"},
    ],
)
def test_inbox_route_without_a_session_is_401_whatever_else_it_carries(
    kind: str, env: Any, headers: dict[str, str]
) -> None:
    response, seen = inbox_call(kind, Sessions(), **headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"
    assert seen == []
    assert_secured(response)


@pytest.mark.parametrize("kind", KINDS)
def test_an_authenticator_cannot_let_the_operator_into_the_inbox(kind: str, env: Any) -> None:
    response, seen = inbox_call(kind, Sessions(OPERATOR), cookie="session=good")
    assert (response.status_code, seen) == (401, [])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "headers",
    [
        {"cookie": "session=good"},
        {"cookie": "session=good", "x_csrf_token": "wrong"},
        {"cookie": "session=good", "x_csrf_token": "t0k", "sec_fetch_site": "cross-site"},
        {"cookie": "session=good", "x_csrf_token": "t0k", "sec_fetch_site": "same-site"},
    ],
)
def test_inbox_write_without_its_csrf_token_or_from_another_site_is_403(
    kind: str, env: Any, headers: dict[str, str]
) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response, seen = inbox_call(kind, Sessions(), method, **headers)
        assert response.status_code == 403, method
        assert error_of(response)["code"] == "csrf_rejected"
        assert seen == []


@pytest.mark.parametrize("kind", KINDS)
def test_inbox_route_with_broken_settings_is_503_without_detail(
    kind: str, broken_settings: Any
) -> None:
    sessions = Sessions()
    response, seen = inbox_call(kind, sessions, cookie="session=good")
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "settings_invalid"
    assert "TWILIO" not in error["message"]
    assert (seen, sessions.asked) == ([], [])
    assert InboxSession(sessions).host_auth_level == func.AuthLevel.ANONYMOUS


# --- a poll's remembered principal: only a 304 rests on it ------------------------------------


def poll_call(
    kind: str, sessions: Sessions, status: int, *, etag: str = '"v1"', raises: bool = False
) -> tuple[func.HttpResponse, list[Principal]]:
    """A GET with `If-None-Match` to a route that answers polls; the handler answers `status`
    (or raises 404) without checking the principal itself."""
    seen: list[Principal] = []

    def work(request: ApiRequest) -> func.HttpResponse:
        seen.append(request.principal)
        if raises:
            raise ApiError(404, "not_found", "no such thing")
        return func.HttpResponse(status_code=status)

    headers = {"cookie": "session=stolen", "if-none-match": etag}
    polled = InboxSession(sessions, polls=True)
    return serve(kind, work, http("GET", b"", headers), auth=polled), seen


@pytest.mark.parametrize("kind", KINDS)
def test_a_304_may_rest_on_a_remembered_principal(kind: str, env: Any) -> None:
    sessions = Sessions()
    response, seen = poll_call(kind, sessions, 304)
    assert response.status_code == 304
    assert [p.remembered for p in seen] == [True]
    assert sessions.asked == ["remembered"]  # storage never asked


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("raises", [False, True])
def test_any_other_answer_on_a_remembered_principal_is_checked_first(
    kind: str, env: Any, raises: bool
) -> None:
    # The session ended since (the cookie is no longer "good"): the answer is 401, not the
    # handler's 200 or 404.
    sessions = Sessions()
    response, _ = poll_call(kind, sessions, 200, raises=raises)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"
    assert sessions.asked == ["remembered", "session"]
    assert_secured(response)


@pytest.mark.parametrize("kind", KINDS)
def test_a_route_that_does_not_answer_polls_never_gets_a_remembered_principal(
    kind: str, env: Any
) -> None:
    sessions = Sessions()
    response, seen = inbox_call(kind, sessions, cookie="session=good", if_none_match='"v1"')
    assert response.status_code == 200
    assert seen == [STAFF]
    assert "remembered" not in sessions.asked


def test_verify_replaces_a_remembered_principal_with_what_storage_says(env: Any) -> None:
    remembered = Principal("inbox", STAFF.user_id, STAFF.role, STAFF.lines, remembered=True)
    checks: list[str] = []

    def check() -> Principal:
        checks.append("row")
        return STAFF

    request = ApiRequest(http(), remembered, check=check)
    assert request.unchecked
    assert request.verify() == STAFF
    assert request.verify() == STAFF
    assert (checks, request.unchecked) == (["row"], False)
    bare = ApiRequest(http(), remembered)
    with pytest.raises(ApiError) as refused:
        bare.verify()
    assert refused.value.status == 401
