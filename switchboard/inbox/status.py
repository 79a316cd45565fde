"""The inbox's status page: what is set up and what is not, in words (for the owner).

`describe(...)` is pure: from which settings are set, the settings' problems, whether storage
and Twilio answer, the lines and the users, it says each thing in a sentence, `ok` or not.
`report(settings)` measures those things (the same checks as `GET /api/health`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from switchboard.settings import Settings


def item(ok: bool, what: str, detail: str) -> dict[str, Any]:
    """One line of the report."""
    return {"ok": ok, "what": what, "detail": detail}


def describe(
    present: Mapping[str, bool],
    problems: Sequence[str],
    storage_ok: bool,
    twilio: tuple[bool, bool],
    lines: Sequence[Mapping[str, Any]] | None,
    user_count: int | None,
    messaging: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The report's lines: `twilio` is (configured, answering); `lines` None when unknown;
    `messaging` the health report's section of texts not registered or filtered (None:
    unknown)."""
    found = [
        item(
            storage_ok,
            "Storage",
            "Table Storage answers: calls, texts and changes are recorded."
            if storage_ok
            else "Table Storage does not answer: nothing can be recorded or changed right now.",
        )
    ]
    configured, answering = twilio
    if not configured:
        found.append(
            item(
                False,
                "Twilio account",
                "Not set up: the app answers calls and texts, but "
                "cannot send a text or place a call (TWILIO_ACCOUNT_SID and a credential).",
            )
        )
    else:
        found.append(
            item(
                answering,
                "Twilio account",
                "Set up and answering."
                if answering
                else "Set up, but Twilio does not answer right now.",
            )
        )
    sender = present.get("TWILIO_FROM_NUMBER") or present.get("TWILIO_MESSAGING_SERVICE_SID")
    found.append(
        item(
            bool(sender),
            "Sending number",
            "Set: texts and calls go out from the business."
            if sender
            else "Not set (TWILIO_FROM_NUMBER): nothing can be sent.",
        )
    )
    public = present.get("PUBLIC_BASE_URL")
    found.append(
        item(
            bool(public),
            "Public address",
            "Set: Twilio reports what happens to each text."
            if public
            else "Not set (PUBLIC_BASE_URL): texts go without delivery reports.",
        )
    )
    mail = present.get("SMTP_HOST") and present.get("SMTP_FROM")
    found.append(
        item(
            bool(mail),
            "E-mail",
            "Set up: voicemail e-mails and sign-in codes by e-mail go out."
            if mail
            else "Not set up (SMTP_HOST, SMTP_FROM): no e-mail can be sent.",
        )
    )
    for problem in problems:
        name, _, reason = problem.partition(":")
        found.append(item(False, f"Setting {name}", f"Invalid: {reason.strip()}"))
    if lines is not None:
        if not lines:
            found.append(
                item(
                    True,
                    "Lines",
                    "No line is set up: every number follows the default settings (VOICE_*).",
                )
            )
        for line in lines:
            label = str(line.get("name") or line.get("number"))
            unusable = line.get("unusable")
            if unusable:
                found.append(
                    item(
                        False,
                        f"Line {label}",
                        f"{line.get('number')}: version {unusable.get('version')} cannot be "
                        "evaluated (its last good version or the default settings answer): "
                        "save the line again.",
                    )
                )
                continue
            state = line.get("state") or "unknown"
            found.append(item(True, f"Line {label}", f"{line.get('number')}: {state} now."))
    sentences = messaging or {}
    for kind, what in MESSAGING_ITEMS.items():
        if sentences.get(kind):
            found.append(item(False, what, str(sentences[kind])))
    if user_count is not None:
        found.append(item(user_count > 0, "Inbox users", f"{user_count} people can sign in."))
    return found


#: How the status page names each kind of delivery problem (`switchboard.outbound.problems`).
MESSAGING_ITEMS = {
    "registration": "Texts blocked: sender not registered",
    "filtered": "Texts filtered by the carriers",
}


def report(settings: Settings) -> dict[str, Any]:
    """The status report of the running app."""
    from switchboard import settings as settings_module
    from switchboard.storage import tables

    present = settings_module.presence()
    try:
        settings_module.load_settings()
        problems: list[str] = []
    except settings_module.SettingsError as exc:
        problems = [str(p) for p in exc.problems]
    storage_ok, _ = tables.storage_reachable(settings)
    configured = settings.twilio_rest_configured
    answering = False
    if configured:
        from switchboard.twilio import client as twilio_client

        answering, _ = twilio_client.twilio_reachable(settings)
    lines = users = messaging = None
    if storage_ok:
        from switchboard.inbox.store import InboxUserStore
        from switchboard.lines import service as lines_service
        from switchboard.outbound.health import messaging_report
        from switchboard.outbound.service import Outbound

        lines = lines_service.list_lines(settings)["items"]
        users = len(InboxUserStore.from_settings(settings).all())
        messaging = messaging_report(Outbound(settings))
    items = describe(
        present, problems, storage_ok, (configured, answering), lines, users, messaging
    )
    return {"ok": all(i["ok"] for i in items), "items": items}
