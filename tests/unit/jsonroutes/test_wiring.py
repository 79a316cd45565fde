"""Every HTTP function of the built app goes through a shell: the JSON route shell (with a declared
authentication matching the auth level it is registered with), the signature-checking webhook
shell for Twilio's webhooks, or the inbox's static shell for its page and assets. A new route
that answers by itself fails here.

Where each may live: every route but the static ones is under `api/` (host.json's route prefix
is empty so that the inbox's page can be `/inbox/`, and each route names `api/` itself); inbox
session routes only under `api/inbox/`, the sign-in routes only under `api/inbox/signin`, and
nothing else there; the static shell only under `inbox/`, anonymous.

Each function is called once with a stub request while both shells are replaced by recorders,
so nothing runs behind them (no settings, no storage): what is checked is the wiring alone.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest

from switchboard.inbox import assets
from switchboard.jsonroutes import shell
from switchboard.jsonroutes.auth import FUNCTION_KEY, INBOX_SIGN_IN, AuthMode, InboxSession
from switchboard.twilio import webhook as twilio_webhook_module

#: Where the inbox's JSON lives: only session and sign-in routes there, and none elsewhere.
INBOX_PREFIX = "api/inbox/"
SIGN_IN_PREFIX = "api/inbox/signin"
#: Where the inbox's page and assets live (the static shell, anonymous).
STATIC_PREFIX = "inbox/"
API_PREFIX = "api/"


@dataclass(frozen=True)
class Wiring:
    """What one HTTP function reached: `json` (a JSON route), `twilio` (the webhook shell) or
    `static` (the inbox's static shell)."""

    shell: str
    route: shell.JsonRoute | shell.AsyncJsonRoute | None = None


def _level(value: Any) -> str:
    return str(getattr(value, "value", value)).lower()


def _stub_request(route: str, methods: list[str]) -> func.HttpRequest:
    path = re.sub(r"\{\**([A-Za-z_]\w*)[^}]*\}", "x", route)
    return func.HttpRequest(
        method=methods[0] if methods else "GET",
        url=f"http://localhost:7071/api/{path}",
        headers={},
        params={},
        route_params={name: "x" for name in re.findall(r"\{\**([A-Za-z_]\w*)", route)},
        body=b"",
    )


@pytest.fixture
def recorders(monkeypatch: pytest.MonkeyPatch) -> list[Wiring]:
    """Both shells replaced by recorders of what reached them."""
    reached: list[Wiring] = []

    def json_route(self: shell.JsonRoute, req: func.HttpRequest) -> func.HttpResponse:
        reached.append(Wiring("json", self))
        return func.HttpResponse(status_code=204)

    async def async_json_route(
        self: shell.AsyncJsonRoute, req: func.HttpRequest
    ) -> func.HttpResponse:
        reached.append(Wiring("json", self))
        return func.HttpResponse(status_code=204)

    def twilio_webhook(req: func.HttpRequest, respond: Any) -> func.HttpResponse:
        reached.append(Wiring("twilio"))
        return func.HttpResponse(status_code=204)

    def static_shell(self: assets.StaticShell, req: func.HttpRequest) -> func.HttpResponse:
        reached.append(Wiring("static"))
        return func.HttpResponse(status_code=204)

    monkeypatch.setattr(assets.StaticShell, "__call__", static_shell)
    monkeypatch.setattr(shell.JsonRoute, "__call__", json_route)
    monkeypatch.setattr(shell.AsyncJsonRoute, "__call__", async_json_route)
    monkeypatch.setattr(twilio_webhook_module, "twilio_webhook", twilio_webhook)
    return reached


@dataclass(frozen=True)
class HttpFunction:
    """One HTTP function of an app, and what calling it reached (or how it failed to)."""

    route: str
    auth_level: str
    reached: Wiring | str


def http_functions(app: func.FunctionApp, reached: list[Wiring]) -> dict[str, HttpFunction]:
    """Every HTTP function of `app`, called once with a stub request (the shells recorded)."""
    app.functions_bindings = None  # get_functions() refuses to run twice on one app
    found: dict[str, HttpFunction] = {}
    for function in app.get_functions():
        trigger = function.get_trigger()
        if trigger is None or trigger.type != "httpTrigger":
            continue
        route = str(trigger.route).strip("/")
        methods = [str(getattr(m, "value", m)).upper() for m in trigger.methods or []]
        reached.clear()
        outcome: Wiring | str
        try:
            answer = function.get_user_function()(_stub_request(route, methods))
            if inspect.isawaitable(answer):
                answer = asyncio.run(answer)
        except Exception as exc:
            outcome = f"raised {type(exc).__name__} instead of reaching a shell"
        else:
            if len(reached) == 1 and isinstance(answer, func.HttpResponse):
                outcome = reached[0]
            else:
                outcome = f"reached {len(reached)} shells (one expected)"
        name = function.get_function_name()
        found[name] = HttpFunction(route, _level(trigger.auth_level), outcome)
    return found


def wiring_problems(app: func.FunctionApp, reached: list[Wiring]) -> dict[str, str]:
    """Each HTTP function of `app` that is not wired through a shell as it must be, and why."""
    problems: dict[str, str] = {}
    for name, function in http_functions(app, reached).items():
        wiring, level, route = function.reached, function.auth_level, function.route
        if isinstance(wiring, str):
            problems[name] = wiring
        elif wiring.shell == "static":
            if level != "anonymous" or not route.startswith(STATIC_PREFIX):
                problems[name] = f"the static shell on /{route} with auth level {level}"
        elif not route.startswith(API_PREFIX):
            problems[name] = f"/{route} is outside /api/"
        elif wiring.shell == "twilio":
            if level != "anonymous":
                problems[name] = f"a Twilio webhook registered with auth level {level}"
        else:
            assert wiring.route is not None
            declared = wiring.route.auth
            mode = declared.mode
            inbox_route = route.startswith(INBOX_PREFIX) or route == INBOX_PREFIX.rstrip("/")
            if _level(declared.host_auth_level) != level:
                problems[name] = f"declares {mode.value} but is registered with auth level {level}"
            elif (mode in (AuthMode.INBOX_SESSION, AuthMode.INBOX_SIGN_IN)) != inbox_route or (
                mode is AuthMode.INBOX_SIGN_IN
            ) != route.startswith(SIGN_IN_PREFIX):
                problems[name] = f"{mode.value} on /{route}"
    return problems


def test_every_http_function_of_the_app_goes_through_a_shell(recorders: list[Wiring]) -> None:
    from function_app import app

    assert wiring_problems(app, recorders) == {}


def test_the_operator_api_is_function_key_json_routes_and_twilio_has_its_own(
    recorders: list[Wiring],
) -> None:
    from function_app import app

    modes: dict[str, str] = {}
    for name, function in http_functions(app, recorders).items():
        assert isinstance(function.reached, Wiring), (name, function.reached)
        route = function.reached.route
        modes[name] = route.auth.mode.value if route is not None else function.reached.shell
    assert {name for name, mode in modes.items() if mode == "twilio"} == {
        "voice_incoming",
        "voice_menu",
        "voice_dial_complete",
        "voice_whisper",
        "voice_recording",
        "voice_queue_wait",
        "voice_queue_result",
        "voice_queue_offer",
        "voice_queue_connect",
        "sms_incoming",
        "status_message",
        "status_call",
    }
    keyed = {name for name, mode in modes.items() if mode == AuthMode.FUNCTION_KEY.value}
    inbox = {name for name in modes if name.startswith("inbox_")}
    assert keyed == set(modes) - {n for n, m in modes.items() if m == "twilio"} - inbox | {
        "inbox_users_operator",
        "inbox_user_operator",
        "inbox_user_signout_operator",
    }
    assert {"health", "openapi", "send_message", "calls", "create_sms_schedule", "lines_item"} <= (
        keyed
    )
    assert modes["inbox_app"] == "static"
    assert modes["inbox_signin_code"] == AuthMode.INBOX_SIGN_IN.value
    assert modes["inbox_lines"] == AuthMode.INBOX_SESSION.value


# --- the check itself fails on a route that bypasses the shells --------------------------------


class _NoSessions:
    def principal(self, req: func.HttpRequest, settings: Any) -> None:
        return None

    def csrf_valid(self, req: func.HttpRequest, principal: Any, settings: Any) -> bool:
        return False

    def remembered(self, req: func.HttpRequest, settings: Any) -> None:
        return None


@shell.json_route(auth=FUNCTION_KEY)
def _keyed(request: shell.ApiRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=200)


@shell.json_route(auth=InboxSession(_NoSessions()))
def _session(request: shell.ApiRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=200)


@shell.json_route(auth=INBOX_SIGN_IN)
def _visitor(request: shell.ApiRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=200)


def _rogue_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.function_name("answers_by_itself")
    @app.route(route="api/rogue", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def answers_by_itself(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("{}", mimetype="application/json")

    @app.function_name("key_route_left_open")
    @app.route(route="api/open", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def key_route_left_open(req: func.HttpRequest) -> func.HttpResponse:
        return _keyed(req)

    @app.function_name("session_route_behind_a_key")
    @app.route(route="api/inbox/keyed", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def session_route_behind_a_key(req: func.HttpRequest) -> func.HttpResponse:
        return _session(req)

    @app.function_name("session_route_outside_the_inbox")
    @app.route(route="api/conversations", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def session_route_outside_the_inbox(req: func.HttpRequest) -> func.HttpResponse:
        return _session(req)

    @app.function_name("key_route_in_the_inbox")
    @app.route(route="api/inbox/messages", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def key_route_in_the_inbox(req: func.HttpRequest) -> func.HttpResponse:
        return _keyed(req)

    @app.function_name("inbox_route")
    @app.route(
        route="api/inbox/conversations", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS
    )
    def inbox_route(req: func.HttpRequest) -> func.HttpResponse:
        return _session(req)

    @app.function_name("keyed_route")
    @app.route(route="api/things/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    async def keyed_route(req: func.HttpRequest) -> func.HttpResponse:
        return _keyed(req)

    @app.function_name("sign_in_outside_sign_in")
    @app.route(route="api/inbox/lines", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
    def sign_in_outside_sign_in(req: func.HttpRequest) -> func.HttpResponse:
        return _visitor(req)

    @app.function_name("outside_api")
    @app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def outside_api(req: func.HttpRequest) -> func.HttpResponse:
        return _keyed(req)

    @app.function_name("static_behind_a_key")
    @app.route(route="inbox/{*path}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def static_behind_a_key(req: func.HttpRequest) -> func.HttpResponse:
        return assets.INBOX_APP(req)

    @app.function_name("static_route")
    @app.route(route="inbox/x/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def static_route(req: func.HttpRequest) -> func.HttpResponse:
        return assets.INBOX_APP(req)

    return app


def test_the_check_names_every_route_wired_wrong(recorders: list[Wiring]) -> None:
    problems = wiring_problems(_rogue_app(), recorders)
    assert set(problems) == {
        "answers_by_itself",
        "key_route_left_open",
        "session_route_behind_a_key",
        "session_route_outside_the_inbox",
        "key_route_in_the_inbox",
        "sign_in_outside_sign_in",
        "outside_api",
        "static_behind_a_key",
    }
    assert problems["answers_by_itself"] == "reached 0 shells (one expected)"
    assert "anonymous" in problems["key_route_left_open"]
    assert "inbox_session" in problems["session_route_behind_a_key"]
