"""`python -m switchboard numbers [list|wire|check]`: the account's numbers and their webhooks.

    python -m switchboard numbers                       # the account's numbers (as before)
    python -m switchboard numbers check [--app URL]     # per number: wired here? a line?
    python -m switchboard numbers wire +15017122661 --app https://APP.azurewebsites.net
    python -m switchboard numbers wire --all --app https://APP.azurewebsites.net

`wire` sets each number's VoiceUrl, SmsUrl and StatusCallback to the app and its fallback URLs
to the static documents it publishes first (`FALLBACK_CONTAINER_URL`); a number already wired
is left alone (nothing is sent to Twilio), so it can run after every deployment or line change.
`--app` defaults to `PUBLIC_BASE_URL`.
"""

from __future__ import annotations

from typing import Any

import click

from switchboard.commandline import (
    Context,
    echo_json,
    fail,
    pass_context,
    table,
    usage_error,
    yes_no,
)
from switchboard.http import ApiError
from switchboard.numbers import fallback, wiring
from switchboard.phone import is_e164
from switchboard.settings import Settings, is_loopback_host, parse_url


@click.group("numbers", invoke_without_command=True)
@click.option("--limit", default="50", help="At most this many (1-1000).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def numbers(ctx: click.Context, limit: str, as_json: bool) -> None:
    """The account's phone numbers; `wire` points them at this app, `check` compares."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_command, limit=limit, as_json=as_json)


@numbers.command("list")
@click.option("--limit", default="50", help="At most this many (1-1000).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_command(context: Context, limit: str, as_json: bool) -> None:
    """The account's phone numbers and whether their webhooks point at this app."""
    from switchboard.operator import api as operator_api
    from switchboard.operator import service as operator_service

    try:
        count = operator_api.parse_numbers_query({"limit": limit})
    except ApiError as exc:
        usage_error(exc)
    settings = context.settings
    try:
        result = operator_service.list_numbers(settings, count, settings.public_base_url)
    except ApiError as exc:
        fail(exc)
    if as_json:
        echo_json(result)
        return
    rows = [
        (
            n["phoneNumber"],
            n["friendlyName"] or "",
            ",".join(k for k, v in sorted(n["capabilities"].items()) if v),
            n["voiceUrl"] or "-",
            yes_no(n["voiceUrlPointsHere"]),
            n["smsUrl"] or "-",
            yes_no(n["smsUrlPointsHere"]),
        )
        for n in result["numbers"]
    ]
    headers = ("NUMBER", "NAME", "CAPABILITIES", "VOICE URL", "HERE", "SMS URL", "HERE")
    click.echo(table(rows, headers))
    if not settings.public_base_url:
        click.echo("(HERE is ? because PUBLIC_BASE_URL is not set)")


# --------------------------------------------------------------------------------------------
# What the commands share
# --------------------------------------------------------------------------------------------


def _app_origin(settings: Settings, app: str | None) -> str:
    raw = app or settings.public_base_url
    if not raw:
        raise click.UsageError("give --app https://<your app> (or set PUBLIC_BASE_URL)")
    try:
        origin = parse_url(origin_only=True)(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--app") from None
    local_twilio = is_loopback_host(_host(settings.twilio_api_base_url))
    if not origin.startswith("https://") and not local_twilio:
        raise click.BadParameter(
            "must be https: Twilio calls webhooks on the internet", param_hint="--app"
        )
    if is_loopback_host(_host(origin)) and not local_twilio:
        raise click.BadParameter(
            "is this machine: Twilio cannot reach it (use a tunnel's https origin)",
            param_hint="--app",
        )
    return origin


def _host(url: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname


def _account_numbers(settings: Settings) -> list[Any]:
    from switchboard.operator.service import twilio_call
    from switchboard.twilio import client as twilio_client

    return twilio_call(
        settings, "numbers list", lambda client: twilio_client.list_incoming_numbers(client, 1000)
    )


def _current(number: Any) -> dict[str, str | None]:
    return {
        "VoiceUrl": number.voice_url,
        "VoiceMethod": number.voice_method,
        "VoiceFallbackUrl": number.voice_fallback_url,
        "VoiceFallbackMethod": number.voice_fallback_method,
        "SmsUrl": number.sms_url,
        "SmsMethod": number.sms_method,
        "SmsFallbackUrl": number.sms_fallback_url,
        "SmsFallbackMethod": number.sms_fallback_method,
        "StatusCallback": number.status_callback,
        "StatusCallbackMethod": number.status_callback_method,
    }


def _lines(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every stored line's document by number ({} when there are none)."""
    from switchboard.lines import service as lines_service

    found = lines_service.list_lines(settings)["items"]
    documents = {
        item["number"]: lines_service.get(settings, item["number"]).document for item in found
    }
    return {number: document for number, document in documents.items() if document is not None}


def _fallback_container(settings: Settings) -> str | None:
    container = settings.fallback_container_url
    twilio_is_local = is_loopback_host(_host(settings.twilio_api_base_url))
    if container and is_loopback_host(_host(container)) and not twilio_is_local:
        raise click.ClickException(
            "FALLBACK_CONTAINER_URL is on this machine: real Twilio cannot fetch it "
            "(use the fallback container azd created, or unset it to wire without fallbacks)"
        )
    return container


def _documents(
    settings: Settings,
    number: str,
    line: dict[str, Any] | None,
    own: set[str],
    container: str,
    token: str,
) -> tuple[wiring.FallbackNames, dict[str, str], fallback.FallbackPlan]:
    names = wiring.fallback_names(number, token)
    plan = fallback.plan(
        number,
        line,
        owner_number=settings.owner_number,
        voice_forward_to=settings.voice_forward_to,
        own_numbers=own,
        ring_seconds=settings.voice_ring_timeout,
        voicemail_seconds=settings.voice_voicemail_max_length,
        voice=settings.voice_tts_voice,
        language=settings.voice_language,
    )
    done_url = wiring.blob_url(container, names.voicemail_done)
    documents = {
        names.voice: fallback.voice_twiml(plan, done_url),
        names.voicemail_done: fallback.voicemail_done_twiml(plan),
        names.sms: fallback.sms_twiml(),
    }
    return names, documents, plan


# --------------------------------------------------------------------------------------------
# wire
# --------------------------------------------------------------------------------------------


@numbers.command("wire")
@click.argument("number", required=False)
@click.option("--all", "all_numbers", is_flag=True, help="Every number of the account.")
@click.option("--app", help="The app's https origin (default PUBLIC_BASE_URL).")
@pass_context
def wire_command(context: Context, number: str | None, all_numbers: bool, app: str | None) -> None:
    """Point NUMBER (or --all) at the app: webhooks, status callback and fallback documents."""
    if bool(number) == all_numbers:
        raise click.UsageError("give a NUMBER or --all")
    if number is not None and not is_e164(number.strip()):
        raise click.BadParameter(
            "must be an E.164 number such as +15017122661", param_hint="NUMBER"
        )
    settings = context.settings
    origin = _app_origin(settings, app)
    container = _fallback_container(settings)
    try:
        account = _account_numbers(settings)
        lines = _lines(settings) if container else {}
    except ApiError as exc:
        fail(exc)
    own = {n.phone_number for n in account}
    chosen = [n for n in account if all_numbers or n.phone_number == number.strip()]  # type: ignore[union-attr]
    if not chosen:
        raise click.ClickException(
            f"{number} is not a number of this account (`python -m switchboard numbers` lists them)"
        )
    if not container:
        click.echo(
            "note: FALLBACK_CONTAINER_URL is not set: no fallback documents (a caller hears "
            "Twilio's error message when the app cannot answer)",
            err=True,
        )
    counts = {"wired": 0, "unchanged": 0}
    for found in chosen:
        counts[_wire_one(settings, found, origin, container, lines, own)] += 1
    click.echo(f"{counts['wired']} wired, {counts['unchanged']} already wired (unchanged)")


def _wire_one(
    settings: Settings,
    number: Any,
    origin: str,
    container: str | None,
    lines: dict[str, dict[str, Any]],
    own: set[str],
) -> str:
    from switchboard.numbers.publish import PublishError, publish
    from switchboard.operator.service import twilio_call
    from switchboard.twilio import client as twilio_client

    phone = number.phone_number
    voice_fallback = sms_fallback = None
    if container:
        token = wiring.existing_token(phone, number.voice_fallback_url, container)
        token = token or wiring.new_token()
        names, documents, plan = _documents(
            settings, phone, lines.get(phone), own, container, token
        )
        try:
            publish(container, documents, settings)
        except PublishError as exc:
            raise click.ClickException(f"{phone}: fallback not published: {exc}") from None
        voice_fallback = wiring.blob_url(container, names.voice)
        sms_fallback = wiring.blob_url(container, names.sms)
        reach = f"dials {plan.forward_to}, then voicemail" if plan.forward_to else "voicemail"
        click.echo(f"{phone}: fallback published ({reach}): {voice_fallback}")
    wanted = wiring.desired_webhooks(origin, voice_fallback, sms_fallback)
    changes = wiring.differences(_current(number), wanted)
    if not changes:
        click.echo(f"{phone}: already points at {origin} (unchanged)")
        return "unchanged"
    try:
        twilio_call(
            settings,
            "number update",
            lambda client: twilio_client.update_incoming_number(
                client, number.sid, {name: value for name, (_, value) in changes.items()}
            ),
        )
    except ApiError as exc:
        fail(exc)
    click.echo(f"{phone}: wired to {origin} ({', '.join(changes)})")
    return "wired"


# --------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------


@numbers.command("check")
@click.option("--app", help="The app's origin (default PUBLIC_BASE_URL).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def check_command(context: Context, app: str | None, as_json: bool) -> None:
    """For each number of the account: do its webhooks point at this app (what differs), is its
    fallback published, has it a line."""
    from switchboard.numbers.publish import fetch

    settings = context.settings
    origin = _app_origin(settings, app)
    container = settings.fallback_container_url
    try:
        account = _account_numbers(settings)
        lines = _lines(settings)
    except ApiError as exc:
        fail(exc)
    report = []
    for number in account:
        current = _current(number)
        wanted = wiring.desired_webhooks(origin, None, None)
        differs = wiring.differences(current, wanted)
        fallback_state = "none"
        voice_fallback = number.voice_fallback_url
        if voice_fallback:
            if container and voice_fallback.startswith(container.rstrip("/") + "/"):
                status, body = fetch(voice_fallback)
                fallback_state = (
                    "published"
                    if status == 200 and "<Response" in body
                    else (f"not readable (HTTP {status})" if status else f"not reachable ({body})")
                )
            else:
                fallback_state = "elsewhere"
        report.append(
            {
                "number": number.phone_number,
                "wired": not differs,
                "differs": {k: {"now": v[0], "wanted": v[1]} for k, v in differs.items()},
                "fallback": fallback_state,
                "line": number.phone_number in lines,
            }
        )
    if as_json:
        echo_json({"app": origin, "numbers": report})
        return
    rows = [
        (
            r["number"],
            "yes" if r["wired"] else "NO",
            r["fallback"],
            "yes" if r["line"] else "no (default line)",
        )
        for r in report
    ]
    click.echo(f"Webhooks compared with {origin}")
    click.echo(table(rows, ("NUMBER", "WIRED HERE", "FALLBACK", "LINE")))
    for r in report:
        for name, values in r["differs"].items():
            click.echo(f"  {r['number']} {name}: {values['now'] or '(none)'} -> {values['wanted']}")
    unwired = [r["number"] for r in report if not r["wired"] or r["fallback"] == "none"]
    if unwired:
        click.echo(
            f"{len(unwired)} number(s) to wire: python -m switchboard numbers wire --all --app {origin}"
        )
