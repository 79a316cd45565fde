"""`python -m switchboard conversations ...`: conversations from a shell (click; not deployed).

    python -m switchboard conversations list [--line +15017122661] [--state open] [--limit 20]
                                             [--before NEXT] [--json]
    python -m switchboard conversations show +15017122661 +15558675310 [--limit 50] [--json]
    python -m switchboard conversations reply +15017122661 +15558675310 "See you at 9."
                                              [--media https://...] [--key KEY]
    python -m switchboard conversations done +15017122661 +15558675310 [--reopen]

The same service as `/api/conversations...` (`switchboard.conversations.service`), as the
operator, against the app's storage and Twilio, with the same checks: a number or a cursor it
cannot take exits 2 naming it; an opted-out customer or a destination the outbound policy
refuses exits 2 naming the rule (`switchboard.commandline`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from switchboard.commandline import echo_json, storage_failed, table
from switchboard.jsonroutes.auth import OPERATOR

T = TypeVar("T")


def _storage(what: str, call: Callable[[], T]) -> T:
    """`call()`, a storage failure leaving as one line (the `ApiError`s pass to the group)."""
    from azure.core.exceptions import AzureError

    try:
        return call()
    except AzureError as exc:
        storage_failed(f"{what}: storage is unavailable", exc)


@click.group("conversations")
def conversations() -> None:
    """Each customer's texts and calls with a line, as one thread; reply from the line."""


@conversations.command("list")
@click.option("--line", help="Only this line's (E.164).")
@click.option("--state", type=click.Choice(["open", "done"]), help="Only open or done ones.")
@click.option("--before", help="The previous page's nextBefore, or an ISO-8601 instant.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(
    obj: Any, line: str | None, state: str | None, before: str | None, limit: int, as_json: bool
) -> None:
    """The conversations, newest activity first."""
    from switchboard.conversations import api, service

    params = {"limit": str(limit)}
    params.update({k: v for k, v in (("line", line), ("state", state), ("before", before)) if v})
    query = api.list_query(params)
    found = _storage(
        "conversations not listed",
        lambda: service.list_conversations(obj.settings, OPERATOR, query),
    )
    if as_json:
        echo_json(found)
        return
    items = found["conversations"]
    if not items:
        click.echo("No conversations.")
        return
    rows = [
        [
            f"#{c['tag']}",
            c["line"],
            f"{c['name']} ({c['customer']})" if c.get("name") else c["customer"],
            c["state"],
            c["unread"],
            c["lastActivityAt"] or "",
            (c["preview"] or "")[:50],
        ]
        for c in items
    ]
    click.echo(table(rows, ["tag", "line", "customer", "state", "unread", "last", "latest"]))
    if found["nextBefore"]:
        click.echo(f"More: --before {found['nextBefore']}")


@conversations.command("show")
@click.argument("line")
@click.argument("customer")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--before", help="The previous page's nextBefore.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show_command(
    obj: Any, line: str, customer: str, limit: int, before: str | None, as_json: bool
) -> None:
    """A conversation and its latest events (texts and calls)."""
    from switchboard.conversations import api, service

    line, customer = api.conversation_path({"line": line, "customer": customer})
    params = {"limit": str(limit), **({"before": before} if before else {})}
    limit, cursor = api.events_query(params)
    found = _storage(
        "conversation not read",
        lambda: service.show_conversation(
            obj.settings, OPERATOR, line, customer, limit=limit, before=cursor
        ),
    )
    if as_json:
        echo_json(found)
        return
    summary = found["conversation"]
    who = (
        f"{summary['name']} ({summary['customer']})" if summary.get("name") else summary["customer"]
    )
    click.echo(
        f"#{summary['tag']} {who} on {summary['line']}: {summary['state']}, "
        f"{summary['unread']} unread"
        + (f", assigned to {summary['assignedTo']}" if summary.get("assignedTo") else "")
    )
    for event in reversed(found["events"]):
        click.echo(event_line(event))
    if found["nextBefore"]:
        click.echo(f"Older: --before {found['nextBefore']}")


def event_line(event: Mapping[str, Any]) -> str:
    """One event of `conversations show` as a line: when, its direction (`<` the customer's,
    `>` the business's), what it was (a call's outcome, length, who took it, its call back and
    its words: a voicemail's length and transcript, or what a placed call said), its author and
    status."""
    arrow = "<" if event.get("direction") == "inbound" else ">"
    what = event.get("body") or event.get("event") or ""
    if event.get("kind") == "call":
        what = f"call: {event.get('event') or event.get('status') or ''}"
        # A voicemail's length is its message's, as the inbox shows it; else the call's.
        duration = event.get("recordingDuration") or event.get("duration")
        if isinstance(duration, int) and duration > 0:
            minutes, seconds = divmod(duration, 60)
            what += f" ({minutes}:{seconds:02d})"
        if event.get("takenBy"):
            what += f" by {event['takenBy']}"
        if event.get("callback"):
            what += f" (call back: {event['callback']})"
        words = event.get("transcript") or event.get("body")
        if words:
            what += f": {words}"
    by = f" ({event['author']})" if event.get("author") else ""
    status = f" [{event['status']}]" if event.get("status") else ""
    return f"{event.get('at') or '':24} {arrow} {what}{by}{status}"


@conversations.command("reply")
@click.argument("line")
@click.argument("customer")
@click.argument("body", required=False, default="")
@click.option("--media", "media", multiple=True, help="An https media URL (repeatable).")
@click.option("--key", help="An idempotency key: the same key again sends nothing twice.")
@click.pass_obj
def reply_command(
    obj: Any, line: str, customer: str, body: str, media: tuple[str, ...], key: str | None
) -> None:
    """Text the customer from the line's number (opt-outs and destinations checked)."""
    from switchboard.conversations import api, service

    line, customer = api.conversation_path({"line": line, "customer": customer})
    data: dict[str, Any] = {}
    if body:
        data["body"] = body
    if media:
        data["mediaUrl"] = list(media)
    if key:
        data["key"] = key
    request = api.reply_request(data)
    sent = _storage(
        "reply not sent",
        lambda: service.send_reply(obj.settings, OPERATOR, line, customer, request),
    )
    state = "already sent" if sent["repeat"] else sent["status"]
    click.echo(f"{sent['id']}: {state} ({sent['sid'] or 'no SID'})")


@conversations.command("done")
@click.argument("line")
@click.argument("customer")
@click.option("--reopen", is_flag=True, help="Open it again instead.")
@click.pass_obj
def done_command(obj: Any, line: str, customer: str, reopen: bool) -> None:
    """Mark a conversation done (a new text from the customer opens it again)."""
    from switchboard.conversations import api, service

    line, customer = api.conversation_path({"line": line, "customer": customer})
    change = api.change_request({"state": "open" if reopen else "done"})
    found = _storage(
        "conversation not changed",
        lambda: service.change_conversation(obj.settings, OPERATOR, line, customer, change),
    )
    click.echo(f"#{found['tag']} {found['customer']} on {found['line']}: {found['state']}")
