"""Outbound calls from a shell (click; not deployed).

    python -m switchboard call --to +15558675310 --say "Your appointment is tomorrow at 9."
    python -m switchboard calls list [--since ISO] [--until ISO] [--limit N] [--cursor C]

`call` validates like the queue's consumer and enqueues (base64, as the host reads it); the
call is placed by the app's queue function. `calls list` reads CallLog like GET /api/calls.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from switchboard.commandline import (
    Context,
    api_failure,
    parse_json_text,
    pass_context,
    storage_failed,
)
from switchboard.operator.commands import history_options, print_history
from switchboard.settings import Settings


@click.command("call")
@click.option("--to", help="The number to call (E.164).")
@click.option("--from", "from_", help="Caller ID (E.164); default TWILIO_FROM_NUMBER.")
@click.option("--say", help="Text to speak.")
@click.option("--twiml", help="TwiML to run instead of --say.")
@click.option("--url", help="An https URL returning TwiML, instead of --say.")
@click.option("--voice", help="Voice for --say, e.g. Polly.Joanna.")
@click.option("--language", help="Language for --say, e.g. en-US.")
@click.option("--timeout", type=int, help="Seconds to ring (5-600).")
@click.option(
    "--machine-detection",
    type=click.Choice(["Enable", "DetectMessageEnd"]),
    help="Answering-machine detection.",
)
@click.option("--record/--no-record", default=None, help="Record the call.")
@click.option("--id", "call_id", help="Idempotency key (default: the queue message id).")
@click.option(
    "--json",
    "json_text",
    help="The whole queue message as a JSON object ('-' reads stdin); replaces the options.",
)
@pass_context
def call_command(context: Context, /, json_text: str | None, **options: Any) -> None:
    """Enqueue an outbound call (validated like a queue message, sent base64-encoded)."""
    from switchboard.calls.request import InvalidCallRequest, parse_call_request
    from switchboard.logbook.listing import STORAGE_ERRORS
    from switchboard.storage.queues import enqueue_json

    if json_text is not None:
        raw = sys.stdin.read() if json_text == "-" else json_text
        message: Any = parse_json_text(raw, "--json")
    else:
        names = {"from_": "from", "call_id": "id", "machine_detection": "machineDetection"}
        message = {names.get(k, k): v for k, v in options.items() if v is not None}
    try:
        request = parse_call_request(message)
    except InvalidCallRequest as exc:
        raise click.UsageError(str(exc)) from None
    settings = context.settings
    _require_destination(settings, request.to)
    payload = request.to_message()
    try:
        message_id = enqueue_json(settings.outbound_call_queue, payload, settings)
    except STORAGE_ERRORS as exc:
        storage_failed("the call queue is not available", exc)
    call_id = request.id or message_id
    click.echo(f"Enqueued call {call_id} on queue {settings.outbound_call_queue}")


def _require_destination(settings: Settings, to: str) -> None:
    """The outbound policy's destination rules, as for `POST /api/calls` (the error names the
    rule)."""
    from switchboard.outbound.purposes import Channel
    from switchboard.outbound.service import Outbound, Refused

    try:
        Outbound(settings).require(to, channel=Channel.CALL)
    except Refused as exc:
        raise api_failure(exc.api_error("to")) from None  # as the API's 400: exit 2


@click.group("calls")
def calls_group() -> None:
    """Calls received and placed (CallLog)."""


@calls_group.command("list")
@history_options
@pass_context
def calls_list(context: Context, /, **options: Any) -> None:
    """Recent calls, newest first, a page at a time (like GET /api/calls), with the other
    party's contact name."""
    from switchboard.calls.routes import with_contact_names

    print_history(
        context,
        "calls",
        options,
        [
            ("CREATED", lambda c: c.get("createdAt")),
            ("DIRECTION", lambda c: c.get("direction")),
            ("FROM", lambda c: c.get("from")),
            ("TO", lambda c: c.get("to")),
            ("CONTACT", lambda c: c.get("contactName")),
            ("STATUS", lambda c: c.get("status")),
            ("HANDLING", lambda c: c.get("handling")),
        ],
        annotate=with_contact_names,
    )
