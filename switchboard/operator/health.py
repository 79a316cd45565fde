"""The health report of `GET /api/health`, as a pure function of what the shell measured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One dependency check: ok, not configured, or failing (with a non-secret detail)."""

    ok: bool
    detail: str
    configured: bool = True


def health_report(
    states: dict[str, str],
    setting_problems: list[str],
    storage: Check,
    twilio: Check,
    unusable_lines: list[dict[str, Any]] | None = None,
    messaging: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when settings are valid, every configured dependency answers
    and every stored line can be evaluated.

    `states` maps each setting to `present`, `missing` (needed, not set) or `optional` (not
    set: its default applies; `settings.setting_states`); `setting_problems` are names of
    invalid settings with the reason (never values). An unconfigured Twilio is reported, not a
    failure: the app answers webhooks without REST credentials. `unusable_lines` (number and
    version of each stored line that cannot be evaluated: its calls get its last good version
    or the default line) is None when the lines could not be read. `messaging` (the lines
    whose texts Twilio reports not registered or filtered: `switchboard.outbound.health`) is
    None when it could not be read; a problem there is the business's texts not arriving, so
    it makes the report `degraded` too.
    """
    healthy = (
        not setting_problems
        and storage.ok
        and (twilio.ok or not twilio.configured)
        and not unusable_lines
        and (messaging is None or bool(messaging.get("ok")))
    )

    def named(state: str) -> list[str]:
        return sorted(name for name, found in states.items() if found == state)

    body = {
        "status": "ok" if healthy else "degraded",
        "settings": {
            "present": named("present"),
            "missing": named("missing"),
            "optional": named("optional"),
            "invalid": setting_problems,
        },
        "storage": {"ok": storage.ok, "detail": storage.detail},
        "twilio": {"ok": twilio.ok, "configured": twilio.configured, "detail": twilio.detail},
    }
    if unusable_lines is not None:
        body["lines"] = {"ok": not unusable_lines, "unusable": unusable_lines}
    if messaging is not None:
        body["messaging"] = messaging
    return (200 if healthy else 503), body
