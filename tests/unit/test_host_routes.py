"""Pure parts of the devkit host: route templates, host.json, schedules, discovery, encodings."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import azure.functions as func
import pytest

from devkit.host_config import HostConfigError, load_host_config, parse_timespan
from devkit.host_functions import HostStartupError, discover_functions, resolve_expressions
from devkit.host_http import FunctionKeys, to_web_response
from devkit.host_queues import MessageDecodeError, decode_body, encode_body, resolve_connection
from devkit.host_routes import RouteTemplate, RouteTemplateError
from devkit.host_timers import CronSchedule, IntervalSchedule, parse_schedule, plan_next

# --- route templates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("voice/incoming", "/api/voice/incoming", {}),
        ("voice/incoming", "/API/Voice/Incoming/", {}),
        ("voice/incoming", "/api/voice/incoming/x", None),
        ("calls/{id}", "/api/calls/abc-1", {"id": "abc-1"}),
        ("calls/{id}", "/api/calls", None),
        ("calls/{id?}", "/api/calls", {}),
        ("calls/{id?}", "/api/calls/7", {"id": "7"}),
        ("calls/{id:int}", "/api/calls/7", {"id": "7"}),
        ("calls/{id:int}", "/api/calls/x7", None),
        ("calls/{id:int}", "/api/calls/99999999999", None),
        ("calls/{id:long}", "/api/calls/99999999999", {"id": "99999999999"}),
        ("calls/{id:int:min(10)}", "/api/calls/9", None),
        ("calls/{id:int:range(1,9)}", "/api/calls/9", {"id": "9"}),
        ("calls/{id:guid}", "/api/calls/not-a-guid", None),
        ("calls/{id:alpha:length(2)}", "/api/calls/ab", {"id": "ab"}),
        ("calls/{id:alpha:length(2)}", "/api/calls/abc", None),
        ("calls/{id:regex(^\\d{{3}}$)}", "/api/calls/123", {"id": "123"}),
        ("calls/{id:regex(^\\d{{3}}$)}", "/api/calls/1234", None),
        ("calls/{page=1}", "/api/calls", {"page": "1"}),
        ("files/{*rest}", "/api/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("files/{*rest}", "/api/files", {}),
        ("files/{**rest}", "/api/files/x", {"rest": "x"}),
        ("files/{name}.{ext?}", "/api/files/report.pdf", {"name": "report", "ext": "pdf"}),
        ("files/{name}.{ext?}", "/api/files/report", {"name": "report"}),
        ("", "/api", {}),
        ("{{literal}}", "/api/{literal}", {}),
    ],
)
def test_route_matching(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template, prefix="api").match(path) == expected


def test_empty_route_prefix_serves_at_the_root() -> None:
    route = RouteTemplate("hello/{name}", prefix="")
    assert route.match("/hello/world") == {"name": "world"}
    assert route.match("/api/hello/world") is None
    assert route.display == "/hello/{name}"


@pytest.mark.parametrize(
    "template",
    [
        "calls/{id",
        "calls/id}",
        "calls/{*rest}/more",
        "calls/{id?}/more",
        "calls/{id:unknown}",
        "calls/{id}/{id}",
        "calls/{1id}",
        "calls/{a}{b}",
        "calls//x",
    ],
)
def test_invalid_templates_are_refused(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate(template, prefix="api")


def test_precedence_literal_before_constrained_before_parameter_before_catch_all() -> None:
    templates = ["calls/{*rest}", "calls/{id}", "calls/{id:int}", "calls/latest"]
    ordered = sorted(templates, key=lambda t: RouteTemplate(t, prefix="api").precedence)
    assert ordered == ["calls/latest", "calls/{id:int}", "calls/{id}", "calls/{*rest}"]


# --- host.json -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:10", 10),
        ("00:01", 60),
        ("1.02:00:00", 93600),
        ("00:00:00.250", 0.25),
        ("2", 172800),
    ],
)
def test_parse_timespan(text: str, seconds: float) -> None:
    assert parse_timespan(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10s", "00:60:00", "1:2:3:4", ""])
def test_parse_timespan_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="TimeSpan"):
        parse_timespan(text)


def write_host_json(tmp_path: Path, data: object) -> Path:
    (tmp_path / "host.json").write_text(json.dumps(data))
    return tmp_path


def test_host_json_defaults_and_values(tmp_path: Path) -> None:
    defaults = load_host_config(write_host_json(tmp_path, {"version": "2.0"}))
    assert defaults.route_prefix == "api"
    assert defaults.queues.batch_size == 16
    assert defaults.queues.max_dequeue_count == 5
    assert defaults.queues.visibility_timeout == 0
    assert defaults.queues.max_polling_interval == 60
    assert defaults.queues.message_encoding == "base64"
    configured = load_host_config(
        write_host_json(
            tmp_path,
            {
                "version": "2.0",
                "functionTimeout": "00:10:00",
                "extensions": {
                    "http": {"routePrefix": ""},
                    "queues": {
                        "batchSize": 8,
                        "newBatchThreshold": 4,
                        "maxDequeueCount": 2,
                        "visibilityTimeout": "00:00:30",
                        "maxPollingInterval": "00:00:02",
                        "messageEncoding": "none",
                    },
                },
            },
        )
    )
    assert configured.route_prefix == ""
    assert configured.function_timeout == 600
    assert (configured.queues.batch_size, configured.queues.new_batch_threshold) == (8, 4)
    assert configured.queues.max_dequeue_count == 2
    assert configured.queues.visibility_timeout == 30
    assert configured.queues.max_polling_interval == 2
    assert configured.queues.message_encoding == "none"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({}, "'version'"),
        ({"version": "2.0", "extensions": []}, "'extensions'"),
        (
            {"version": "2.0", "extensions": {"queues": {"batchSize": 64}}},
            "'extensions.queues.batchSize'",
        ),
        (
            {"version": "2.0", "extensions": {"queues": {"visibilityTimeout": 5}}},
            "'extensions.queues.visibilityTimeout'",
        ),
        (
            {"version": "2.0", "extensions": {"queues": {"maxPollingInterval": "00:00:00.050"}}},
            "'extensions.queues.maxPollingInterval'",
        ),
        (
            {"version": "2.0", "extensions": {"http": {"routePrefix": 1}}},
            "'extensions.http.routePrefix'",
        ),
        ({"version": "2.0", "functionTimeout": "soon"}, "'functionTimeout'"),
    ],
)
def test_host_json_errors_name_the_key(tmp_path: Path, data: object, named: str) -> None:
    with pytest.raises(HostConfigError, match=r"host\.json") as raised:
        load_host_config(write_host_json(tmp_path, data))
    assert named in str(raised.value)


# --- schedules -------------------------------------------------------------------------------


def test_cron_schedule_is_seconds_first_and_utc() -> None:
    schedule = parse_schedule("*/15 * * * * *", UTC)
    start = datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)
    assert schedule.next_after(start) == datetime(2026, 1, 1, 12, 0, 15, tzinfo=UTC)
    five_fields = parse_schedule("*/5 * * * *", UTC)  # second 0, as the host accepts
    assert five_fields.next_after(start) == datetime(2026, 1, 1, 12, 5, tzinfo=UTC)


def test_cron_schedule_in_a_time_zone() -> None:
    schedule = CronSchedule("0 0 9 * * *", ZoneInfo("Europe/Paris"))
    start = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    assert schedule.next_after(start) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # CEST


def test_timespan_schedule_is_an_interval() -> None:
    schedule = parse_schedule("00:05:00", UTC)
    assert isinstance(schedule, IntervalSchedule)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.next_after(start) == start + timedelta(minutes=5)


@pytest.mark.parametrize("expression", ["61 * * * * *", "every minute", "* * * * * * * *"])
def test_bad_schedules_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="NCRONTAB"):
        parse_schedule(expression, UTC)


def test_missed_occurrence_is_caught_up_once() -> None:
    schedule = parse_schedule("*/1 * * * * *", UTC)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    # The run for t0 ended at t0 + 2.5 s: t0 + 1 s was missed and fires at once...
    nxt, catch_up = plan_next(schedule, t0, t0 + timedelta(seconds=2.5), was_catch_up=False)
    assert (nxt, catch_up) == (t0 + timedelta(seconds=1), True)
    # ...and if that run overran too, the host moves on to the next occurrence after now.
    later = t0 + timedelta(seconds=5.5)
    assert plan_next(schedule, nxt, later, was_catch_up=True) == (t0 + timedelta(seconds=6), False)
    # A run that ended in time waits for the next occurrence.
    on_time = plan_next(schedule, t0, t0 + timedelta(seconds=0.2), was_catch_up=False)
    assert on_time == (t0 + timedelta(seconds=1), False)


# --- discovery -------------------------------------------------------------------------------


def test_discovery_uses_the_app_metadata_and_resolves_settings() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="calls/{id}", methods=["GET"])
    def get_call(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")

    @app.timer_trigger(schedule="%SCHEDULE%", arg_name="timer")
    def tick(timer: func.TimerRequest, context: func.Context) -> None:
        return None

    @app.queue_trigger(arg_name="msg", queue_name="%QUEUE%-poison", connection="Storage")
    def poison(msg: func.QueueMessage) -> None:
        return None

    environ = {"SCHEDULE": "0 */1 * * * *", "QUEUE": "Outbound-Calls"}
    specs = {spec.name: spec for spec in discover_functions(app, environ, "api")}
    assert specs["get_call"].methods == frozenset({"GET"})
    assert specs["get_call"].auth_level == "function"
    assert specs["get_call"].trigger_param == "req"
    assert specs["tick"].schedule == "0 */1 * * * *"
    assert specs["tick"].context_param == "context"
    assert specs["poison"].queue_name == "outbound-calls-poison"  # lower-cased like the host
    assert specs["poison"].connection == "Storage"


def test_unset_setting_disables_only_its_function(caplog: pytest.LogCaptureFixture) -> None:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="%SMS_TIMER_SCHEDULE%", arg_name="timer")
    def tick(timer: func.TimerRequest) -> None:
        return None

    @app.route(route="x")
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")

    specs = discover_functions(app, {}, "api")
    assert [spec.name for spec in specs] == ["handler"]
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "The 'tick' function is in error" in message
    assert "SMS_TIMER_SCHEDULE" in message


def test_unset_setting_of_the_only_function_is_a_startup_error() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="%SMS_TIMER_SCHEDULE%", arg_name="timer")
    def tick(timer: func.TimerRequest) -> None:
        return None

    with pytest.raises(HostStartupError, match="no functions"):
        discover_functions(app, {}, "api")


def test_parameters_must_match_bindings() -> None:
    app = func.FunctionApp()

    @app.route(route="x")
    def handler(req: func.HttpRequest, extra: str) -> func.HttpResponse:
        return func.HttpResponse("x")

    with pytest.raises(HostStartupError, match="'extra'"):
        discover_functions(app, {}, "api")


def test_resolve_expressions_inside_text() -> None:
    assert resolve_expressions("%A%-%B%", {"A": "x", "B": "y"}, "here") == "x-y"
    assert resolve_expressions("no setting", {}, "here") == "no setting"


# --- queues and keys -------------------------------------------------------------------------


def test_base64_round_trip_and_refusal() -> None:
    stored = encode_body("héllo", "base64")
    assert base64.b64decode(stored) == "héllo".encode()
    assert decode_body(stored, "base64") == "héllo".encode()
    assert decode_body("aGk=\n", "base64") == b"hi"  # .NET ignores whitespace
    assert decode_body("plain", "none") == b"plain"
    with pytest.raises(MessageDecodeError):
        decode_body("not base64!", "base64")
    with pytest.raises(TypeError):
        encode_body({"a": 1}, "base64")


def test_connection_settings() -> None:
    assert "QueueEndpoint=http://127.0.0.1:10001/" in resolve_connection(
        "AzureWebJobsStorage", {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    )
    assert resolve_connection("Storage", {"AzureWebJobsStorage": "x"}) == "x"
    with pytest.raises(HostStartupError, match="'MyStorage'"):
        resolve_connection("MyStorage", {})


def test_function_keys() -> None:
    keys = FunctionKeys(function_key="f", master_key="m")
    assert keys.accepted("function") == ["f", "m"]
    assert keys.accepted("admin") == ["m"]
    assert FunctionKeys(function_key="f").accepted("admin") == ["f"]
    assert not FunctionKeys().enforced


def test_response_conversion_follows_the_worker() -> None:
    xml = to_web_response(func.HttpResponse("<Response/>", mimetype="text/xml"))
    assert xml.headers["Content-Type"] == "text/xml; charset=utf-8"
    binary = to_web_response(func.HttpResponse(b"\x00", mimetype="application/octet-stream"))
    assert binary.headers["Content-Type"] == "application/octet-stream"
    explicit = to_web_response(func.HttpResponse("{}", headers={"Content-Type": "application/x"}))
    assert explicit.headers["Content-Type"] == "application/x"
    assert to_web_response("text").status == 200
    assert to_web_response(None).status == 204
    with pytest.raises(TypeError):
        to_web_response({"not": "a response"})
