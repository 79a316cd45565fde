"""The operator's commands (click; not deployed): send now, records, history, usage, health.

    python -m switchboard sms send --to +15558675310 --body "Your order has shipped."
    python -m switchboard show call reminder-42 | show message SM...
    python -m switchboard messages list [--since ISO] [--until ISO] [--limit N] [--cursor C]
    python -m switchboard usage --start 2026-11-01 --end 2026-11-30
    python -m switchboard health

The same core as the HTTP operator API (`switchboard.operator.service`), so a text sent from a
shell is checked, sent and recorded exactly like one sent through `POST /api/messages`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from switchboard.commandline import (
    Context,
    api_failure,
    echo_json,
    fail,
    not_running_message,
    pass_context,
    settings_environment,
    silent_services,
    table,
    usage_error,
)
from switchboard.http import ApiError
from switchboard.settings import Settings


@click.command("send")
@click.option("--to", required=True, help="Recipient (E.164).")
@click.option("--body", required=True, help="The text (at most 1,600 characters).")
@click.option("--from", "from_", help="Sender (E.164); default the Messaging Service or number.")
@click.option("--media-url", "media_urls", multiple=True, help="An https media URL (repeatable).")
@pass_context
def send_command(
    context: Context, to: str, body: str, from_: str | None, media_urls: Sequence[str]
) -> None:
    """Send an SMS now (opt-out check, MessageLog record), like POST /api/messages."""
    from switchboard.operator import api as operator_api
    from switchboard.operator import service as operator_service

    data: dict[str, Any] = {"to": to, "body": body}
    if from_ is not None:
        data["from"] = from_
    if media_urls:
        data["mediaUrl"] = list(media_urls)
    try:
        request = operator_api.parse_send_request(data)
    except ApiError as exc:
        usage_error(exc)
    settings = context.settings
    try:
        result = operator_service.send_message(
            settings, request, app_base_url=local_callback_origin(settings), source="cli"
        )
    except ApiError as exc:
        raise api_failure(exc) from None  # a refused destination or opt-out: exit 2, as a 400
    click.echo(f"Sent {result['sid']} ({result['status']})")


def local_callback_origin(settings: Settings) -> str | None:
    """Where the message's status callbacks go: `PUBLIC_BASE_URL`, else (outside Azure, with
    the local Twilio stand-in) the local host, so a text sent from a shell moves past `queued`
    like one sent through the API. Never a guess for real Twilio, which cannot reach it."""
    from urllib.parse import urlsplit

    from switchboard.settings import callback_origin, is_loopback_host

    origin = callback_origin(settings)
    if origin or settings.running_in_azure:
        return origin
    if is_loopback_host(urlsplit(settings.twilio_api_base_url).hostname):
        return f"http://localhost:{local_app_port()}"
    return None


def local_app_port() -> int:
    """The local host's port: `Host.LocalHttpPort` of ./local.settings.json, else 7071."""
    import json
    from pathlib import Path

    try:
        data = json.loads(Path("local.settings.json").read_text(encoding="utf-8-sig"))
        return int(data["Host"]["LocalHttpPort"])
    except (OSError, ValueError, KeyError, TypeError):
        return 7071


# --- show -------------------------------------------------------------------------------------


@click.group("show")
def show_group() -> None:
    """Show a call's or a message's record."""


def _show(record: Callable[[Settings, str], dict[str, Any]], context: Context, key: str) -> None:
    try:
        echo_json(record(context.settings, key))
    except ApiError as exc:
        fail(exc)


@show_group.command("call")
@click.argument("call_id")
@pass_context
def show_call(context: Context, call_id: str) -> None:
    """A call's record, by the app's id or the CallSid."""
    from switchboard.operator import service as operator_service

    _show(operator_service.get_call, context, call_id)


@show_group.command("message")
@click.argument("sid")
@pass_context
def show_message(context: Context, sid: str) -> None:
    """A message's record, by its MessageSid."""
    from switchboard.operator import service as operator_service

    _show(operator_service.get_message, context, sid)


# --- history: calls list, messages list -----------------------------------------------------------


def history_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--since, --until, --limit, --cursor, --json: the listing's filters and paging."""
    for option in reversed(
        [
            click.option("--since", help="ISO-8601; default 30 days before --until."),
            click.option("--until", help="ISO-8601; default now."),
            click.option("--limit", default="20", show_default=True, help="1-100 per page."),
            click.option("--cursor", help="The cursor the previous page printed."),
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
        ]
    ):
        command = option(command)
    return command


def print_history(
    context: Context,
    kind: str,
    options: dict[str, Any],
    columns: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]],
    annotate: Callable[[Any, list[dict[str, Any]]], Any] | None = None,
) -> None:
    """One page of CallLog or MessageLog records, newest first, like GET /api/{kind}
    (`annotate(settings, records)` adds what the route adds, such as contact names)."""
    from switchboard import records
    from switchboard.http import storage_unavailable
    from switchboard.logbook.listing import STORAGE_ERRORS, list_history, parse_history_query
    from switchboard.logbook.store import RecordStore

    as_json = options.pop("as_json")
    params = {k: v for k, v in options.items() if v}
    try:
        query = parse_history_query(params, records.utcnow())
    except ApiError as exc:
        usage_error(exc)
    settings = context.settings
    try:
        store = RecordStore.calls(settings) if kind == "calls" else RecordStore.messages(settings)
        page = list_history(store, query, records.utcnow(), key=kind)
    except STORAGE_ERRORS as exc:
        fail(storage_unavailable(exc))
    except ApiError as exc:
        fail(exc)
    if annotate is not None:
        annotate(settings, page[kind])
    if as_json:
        echo_json(page)
        return
    items = page.get(kind) or page.get("items") or []
    if not items:
        click.echo(f"No {kind} in that period.")
    else:
        click.echo(
            table(
                [[str(get(item) or "") for _, get in columns] for item in items],
                [name for name, _ in columns],
            )
        )
    if page.get("nextCursor"):
        # The next page is of the same query: its cursor means nothing without it.
        import shlex

        same = [f"--{k} {shlex.quote(str(v))}" for k, v in params.items() if k != "cursor"]
        again = " ".join([f"python -m switchboard {kind} list", *same])
        click.echo(f"more: {again} --cursor {page['nextCursor']}")


@click.group("messages")
def messages_group() -> None:
    """Texts sent and received (MessageLog)."""


@messages_group.command("list")
@history_options
@pass_context
def messages_list(context: Context, /, **options: Any) -> None:
    """Recent messages, newest first, a page at a time (like GET /api/messages)."""
    print_history(
        context,
        "messages",
        options,
        [
            ("CREATED", lambda m: m.get("createdAt")),
            ("DIRECTION", lambda m: m.get("direction")),
            ("FROM", lambda m: m.get("from")),
            ("TO", lambda m: m.get("to")),
            ("STATUS", message_status),
            ("BODY", lambda m: " ".join(str(m.get("body") or "").split())[:40]),
        ],
    )


def message_status(message: dict[str, Any]) -> str:
    """A message's status as `messages list` shows it: with the plain words of a delivery
    problem (``undelivered: not registered (A2P 10DLC)``), else with Twilio's code."""
    status = str(message.get("status") or "")
    if message.get("problem"):
        return f"{status}: {message['problem']}"
    code = (message.get("error") or {}).get("code")
    return f"{status} ({code})" if code else status


# --- usage ------------------------------------------------------------------------------------


@click.command("usage")
@click.option("--start", help="First day, YYYY-MM-DD (GMT).")
@click.option("--end", help="Last day, YYYY-MM-DD (GMT).")
@click.option("--category", help="A Twilio usage category, e.g. sms-outbound.")
@click.option("--limit", default="50", help="At most this many records (1-1000).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def usage_command(
    context: Context,
    start: str | None,
    end: str | None,
    category: str | None,
    limit: str,
    as_json: bool,
) -> None:
    """Twilio usage records (category, usage, price) for a period."""
    from switchboard.operator import api as operator_api
    from switchboard.operator import service as operator_service

    params = {"start": start, "end": end, "category": category, "limit": limit}
    try:
        query = operator_api.parse_usage_query({k: v for k, v in params.items() if v})
    except ApiError as exc:
        usage_error(exc)
    try:
        result = operator_service.list_usage(context.settings, query)
    except ApiError as exc:
        fail(exc)
    if as_json:
        echo_json(result)
        return
    rows = [
        (
            u["category"],
            u["description"] or "",
            f"{u['usage'] or ''} {u['usageUnit'] or ''}".strip(),
            f"{u['price'] or ''} {u['priceUnit'] or ''}".strip(),
        )
        for u in result["usage"]
    ]
    click.echo(table(rows, ("CATEGORY", "DESCRIPTION", "USAGE", "PRICE")))


# --- health -----------------------------------------------------------------------------------


@click.command("health")
@click.option("--json", "as_json", is_flag=True, help="Print the report of GET /api/health.")
@click.pass_obj
def health_command(context: Context, as_json: bool) -> None:
    """The settings (set, missing and needed, optional) and whether storage and Twilio answer,
    as GET /api/health reports them; exit status 1 when something needs fixing."""
    from switchboard.operator.routes import health_check

    environ = settings_environment(context.settings_file)
    status, report = health_check(environ)
    if as_json:
        echo_json(report)
    else:
        click.echo(describe_health(report))
        silent = silent_services(context.settings) if status != 200 else []
        if silent:
            click.echo("  " + not_running_message(silent))
    if status != 200 or report["settings"]["missing"]:
        raise click.exceptions.Exit(1)


#: How the command names each kind of delivery problem of the report's `messaging` section.
MESSAGING_LABELS = {"registration": "TEXTS BLOCKED (not registered)", "filtered": "TEXTS FILTERED"}


def describe_health(report: dict[str, Any]) -> str:
    """The health report in sentences a person reads (pure)."""
    settings = report["settings"]
    lines = [f"Switchboard: {'ok' if report['status'] == 'ok' else 'needs attention'}"]
    lines.append(f"  settings set: {len(settings['present'])}")
    if settings["missing"]:
        lines.append("  NEEDED, not set: " + ", ".join(settings["missing"]))
    if settings["invalid"]:
        lines.append("  INVALID:")
        lines += [f"    {problem}" for problem in settings["invalid"]]
    if settings.get("optional"):
        lines.append(
            f"  optional, not set (defaults apply): {len(settings['optional'])} (--json lists them)"
        )
    storage = report["storage"]
    lines.append(f"  storage: {'answers' if storage['ok'] else 'FAILS: ' + storage['detail']}")
    twilio = report["twilio"]
    if not twilio["configured"]:
        lines.append("  Twilio: not configured (webhooks work; sending needs credentials)")
    else:
        lines.append(f"  Twilio: {'answers' if twilio['ok'] else 'FAILS: ' + twilio['detail']}")
    for name, depth in sorted((report.get("queues") or {}).items()):
        if depth:
            lines.append(f"  queue {name}: {depth}")
    messaging = report.get("messaging") or {}
    for kind, label in MESSAGING_LABELS.items():
        if messaging.get(kind):
            lines.append(f"  {label}: {messaging[kind]}")
    for line in (report.get("lines") or {}).get("unusable") or []:
        lines.append(
            f"  line {line['number']}: version {line['version']} cannot be evaluated (its last "
            "good version or the default line answers): write it again"
        )
    return "\n".join(lines)
