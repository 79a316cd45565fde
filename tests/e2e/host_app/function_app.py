"""A small FunctionApp used only by tests/e2e/test_host.py to exercise `python -m devkit host`.

Functions record what they received as JSON lines in `$HOST_TEST_OUT/<function>.jsonl`, so the
tests observe real outcomes from outside the host process.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
_lock = threading.Lock()


def record(function: str, data: dict[str, Any]) -> None:
    """Append one JSON line to the function's record file."""
    path = Path(os.environ["HOST_TEST_OUT"]) / f"{function}.jsonl"
    with _lock, path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(data) + "\n")


def as_json(data: Any, status: int = 200) -> func.HttpResponse:
    """A JSON response."""
    return func.HttpResponse(json.dumps(data), status_code=status, mimetype="application/json")


@app.route(route="echo", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    """Everything the host put in the request, and two settings."""
    return as_json(
        {
            "method": req.method,
            "url": req.url,
            "params": dict(req.params),
            "route_params": dict(req.route_params),
            "headers": {k: req.headers[k] for k in req.headers},
            "body": req.get_body().decode("utf-8", "replace"),
            "body_length": len(req.get_body()),
            "from_local_settings": os.environ.get("TEST_FROM_LOCAL_SETTINGS"),
            "overridden": os.environ.get("TEST_OVERRIDDEN"),
            "thread": threading.current_thread().name,
        }
    )


@app.route(route="secure", auth_level=func.AuthLevel.FUNCTION)
def secure(req: func.HttpRequest) -> str:
    """Function-level auth; returns a plain string."""
    return "secret stuff"


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    """Admin-level auth."""
    return func.HttpResponse("admin stuff")


@app.route(route="items/{id:int}/{name?}", methods=["GET"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    """Route parameters with a constraint and an optional segment."""
    return as_json({"route_params": dict(req.route_params)})


@app.route(route="items/latest", methods=["GET"])
def latest_item(req: func.HttpRequest) -> func.HttpResponse:
    """A literal segment wins over `{id:int}` (and `latest` is not an int anyway)."""
    return as_json({"latest": True})


@app.route(route="files/{*path}")
def files(req: func.HttpRequest) -> func.HttpResponse:
    """A catch-all parameter."""
    return as_json({"path": req.route_params.get("path")})


@app.route(route="custom")
def custom(req: func.HttpRequest) -> func.HttpResponse:
    """Status, headers, mimetype and charset."""
    return func.HttpResponse(
        "<Response/>",
        status_code=201,
        headers={"X-Custom": "yes"},
        mimetype="text/xml",
        charset="utf-8",
    )


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    """Always fails."""
    raise RuntimeError("kaboom-internal-detail")


@app.route(route="slow")
def slow(req: func.HttpRequest) -> func.HttpResponse:
    """Sleeps `s` seconds in a worker thread."""
    seconds = float(req.params.get("s", "1"))
    started = time.monotonic()
    time.sleep(seconds)
    return as_json({"started": started, "ended": time.monotonic()})


@app.route(route="whoami")
async def whoami(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """An async function taking the invocation context."""
    await asyncio.sleep(0.01)
    return as_json(
        {
            "invocation_id": context.invocation_id,
            "function_name": context.function_name,
            "function_directory": context.function_directory,
            "trace_parent": context.trace_context.trace_parent,
            "retry_count": context.retry_context.retry_count,
            "thread": threading.current_thread().name,
        }
    )


@app.route(route="enqueue", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="%TEST_QUEUE%", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    """A queue output binding: the body becomes a message of TEST_QUEUE."""
    out.set(req.get_body().decode("utf-8"))
    return func.HttpResponse(status_code=202)


@app.timer_trigger(schedule="%TEST_TIMER_SCHEDULE%", arg_name="timer")
def ticker(timer: func.TimerRequest) -> None:
    """Records each firing; runs longer than its one-second schedule (TEST_TIMER_SLEEP)."""
    started = datetime.now(UTC).timestamp()
    time.sleep(float(os.environ.get("TEST_TIMER_SLEEP", "0")))
    record(
        "ticker",
        {
            "start": started,
            "end": datetime.now(UTC).timestamp(),
            "past_due": timer.past_due,
            # The occurrence after the one this firing is for (the host's ScheduleStatus).
            "next": timer.schedule_status.get("Next"),
        },
    )


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True)
def on_startup(timer: func.TimerRequest) -> None:
    """Fires only because of run_on_startup (its schedule is once a year)."""
    record("on_startup", {"past_due": timer.past_due})


@app.queue_trigger(arg_name="msg", queue_name="%TEST_QUEUE%", connection="AzureWebJobsStorage")
def consume(msg: func.QueueMessage) -> None:
    """Records each message it processes."""
    record(
        "consume",
        {
            "id": msg.id,
            "body": msg.get_body().decode("utf-8"),
            "dequeue_count": msg.dequeue_count,
            "has_pop_receipt": bool(msg.pop_receipt),
            "insertion_time": msg.insertion_time.isoformat() if msg.insertion_time else None,
        },
    )


@app.queue_trigger(
    arg_name="message", queue_name="%TEST_FAIL_QUEUE%", connection="AzureWebJobsStorage"
)
async def always_fails(message: func.QueueMessage) -> None:
    """Records the dequeue count, then fails (an async queue function)."""
    record("always_fails", {"dequeue_count": message.dequeue_count})
    raise ValueError("this message can never be processed")
