"""Small HTTP helpers shared by the blueprints: JSON bodies and the one error shape.

Every operator error is `{"error": {"code", "message", "field"?}}` with a 4xx status (SPEC).
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func


def json_response(
    data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    """A JSON response (UTF-8, compact)."""
    return func.HttpResponse(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str),
        status_code=status_code,
        mimetype="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(
    status_code: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    """The SPEC error body with its status."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return json_response({"error": error}, status_code, headers)


def twiml_response(xml: str, status_code: int = 200) -> func.HttpResponse:
    """TwiML as Twilio expects it: text/xml."""
    return func.HttpResponse(xml, status_code=status_code, mimetype="text/xml", charset="utf-8")


def plain_response(text: str, status_code: int) -> func.HttpResponse:
    """A short text/plain answer (Twilio callbacks: no detail, no TwiML)."""
    return func.HttpResponse(text, status_code=status_code, mimetype="text/plain")


def no_content() -> func.HttpResponse:
    """204, no body."""
    return func.HttpResponse(status_code=204)


def forbidden() -> func.HttpResponse:
    """403 with no TwiML: the answer to a request without a valid Twilio signature."""
    return func.HttpResponse("Forbidden", status_code=403, mimetype="text/plain")
