"""Lines at work: the line a call or text is for, and the operator's reads and writes.

- `line_for(number, settings)` is what a webhook asks: the number's stored line from this
  instance's cache (0 storage reads while warm), else the default line of the app settings.
- `get`, `put`, `delete`, `history`, `override`, `status`, `list_lines` serve the operator
  routes and the command line alike, raising `ApiError` (the one error shape) for anything the
  caller can fix or storage cannot do now.
- `now(settings)` is the clock line hours are evaluated at: the real one, or `LINES_CLOCK`
  outside Azure (a test or the simulator can place a call "at" a chosen instant). It changes
  evaluation only: what is written (`updatedAt`, an override's `setAt`) carries the real time.
- A stored line that cannot be evaluated (a document an older version stored, a bug) never
  makes a route fail: calls get its last good version or the default line
  (`switchboard.lines.lookup`), the listing marks it, its status says so.

`line_for`, `load`, `cache` and `now` live in `switchboard.lines.lookup` (what a webhook needs,
without the operator's API: cold starts import less) and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switchboard import records
from switchboard.http import (
    STORAGE_RETRY_AFTER,
    ApiError,
    invalid,
    not_found,
    storage_unavailable,
    unavailable,
)
from switchboard.lines import api, document
from switchboard.lines import hours as h
from switchboard.lines.defaults import default_line
from switchboard.lines.lookup import cache as cache
from switchboard.lines.lookup import forget_cached_lines as forget_cached_lines
from switchboard.lines.lookup import line_for as line_for
from switchboard.lines.lookup import load as load
from switchboard.lines.lookup import now as now
from switchboard.lines.lookup import usable_line as usable_line
from switchboard.lines.model import Line
from switchboard.lines.store import LineStore, StorageRefused, StoredLine, VersionConflict
from switchboard.logs import get_logger
from switchboard.own_urls import leads_back
from switchboard.settings import Settings, app_origins

logger = get_logger(__name__)

_WRITE_ATTEMPTS = 5


# --------------------------------------------------------------------------------------------
# The operator's reads and writes


def _store(settings: Settings) -> LineStore:
    return LineStore.from_settings(settings)


def _current(settings: Settings, number: str) -> StoredLine | None:
    try:
        return _store(settings).get(number)
    except ApiError:
        raise
    except Exception as exc:
        raise storage_unavailable(exc) from exc


def _live(settings: Settings, number: str) -> StoredLine:
    current = _current(settings, number)
    if current is None or current.document is None:
        raise not_found("line", number)
    return current


@dataclass(frozen=True)
class Written:
    """A write's outcome: the stored document, its version, and whether it created the line."""

    document: dict[str, Any]
    version: int
    created: bool = False
    warnings: list[dict[str, str]] = field(default_factory=list)


def get(settings: Settings, number: str) -> StoredLine:
    """The line's current version (404 when it has none)."""
    return _live(settings, api.require_number(number))


def too_large(stored_bytes: int | None = None) -> ApiError:
    """413: a document larger than Table Storage stores in one property."""
    size = f"{stored_bytes:,} bytes as stored; " if stored_bytes is not None else ""
    return ApiError(
        413,
        "too_large",
        f"the line document is too large: {size}a line is stored in one Table Storage property "
        f"of at most {document.MAX_STORED_BYTES:,} bytes (64 KiB, text counted in UTF-16)",
        "/",
    )


def _refused(exc: StorageRefused) -> ApiError:
    """A storage refusal as the API says it (already logged by the store): never a 412."""
    if exc.too_large:
        return too_large()
    return unavailable(
        "storage_refused", "storage refused the write, try again later", STORAGE_RETRY_AFTER
    )


def _write(
    settings: Settings,
    number: str,
    stored: dict[str, Any] | None,
    change: str,
    expected: StoredLine | None,
) -> StoredLine:
    try:
        written = _store(settings).write(
            number, stored, change=change, now=records.utcnow(), expected=expected
        )
    except VersionConflict:
        raise ApiError(
            412, "precondition_failed", "the line was changed meanwhile: GET it again and retry"
        ) from None
    except StorageRefused as exc:
        raise _refused(exc) from None
    except ApiError:
        raise
    except Exception as exc:
        raise storage_unavailable(exc) from exc
    cache(settings).put(
        number, document.build_line(stored, number, written.version) if stored else None
    )
    if stored:
        from switchboard.outbound.own_numbers import OWN_NUMBERS

        OWN_NUMBERS.remember(number)  # ours from now on, on this instance at once
    return written


def account_numbers(settings: Settings) -> frozenset[str] | None:
    """The account's incoming numbers (the outbound path's cache), or None when Twilio cannot
    say."""
    from switchboard.outbound.own_numbers import OWN_NUMBERS

    return OWN_NUMBERS.known_account_numbers(settings)


def check_account_number(settings: Settings, number: str, force: bool) -> list[dict[str, str]]:
    """400 when `number` is not one of the account's numbers (unless `force`); a warning when
    Twilio cannot be asked."""
    if force:
        return []
    numbers = account_numbers(settings)
    if numbers is None:
        return [
            {
                "code": "account_numbers_unknown",
                "message": "the account's numbers could not be listed: not checked",
            }
        ]
    if number not in numbers:
        raise ApiError(
            400,
            "not_account_number",
            f"{number} is not one of the account's numbers (to keep it anyway: ?force=true "
            "over HTTP, --force on the command line)",
            "number",
        )
    return []


def check_loops(settings: Settings, number: str, stored: dict[str, Any]) -> None:
    """400 naming the pointer of a forward, ring-group person, `sms.forwardTo` or voicemail
    `notify.sms` number the outbound policy refuses: one of the app's own numbers (this line,
    every line, TWILIO_FROM_NUMBER, the account's numbers), where a call or text comes straight
    back (`forwards_to_own_number`), or a country or kind of number it never reaches
    (`destination_not_allowed`)."""
    from switchboard.outbound.destinations import OWN_NUMBER, explain
    from switchboard.outbound.service import Outbound

    destinations = Outbound(settings).destinations
    for where, target in document.forwarding_targets(stored):
        problem = destinations.problem(target, also_own=(number,))
        if problem is None:
            continue
        code = "forwards_to_own_number" if problem == OWN_NUMBER else "destination_not_allowed"
        raise ApiError(
            400,
            code,
            f"{where}: {explain(problem, destinations.describe())}",
            where,
            extra={"reason": problem},
        )


def check_redirects(
    settings: Settings, stored: dict[str, Any], request_origin: str | None = None
) -> None:
    """400 naming the pointer of a `redirect` step that leads back into this app (its own
    origins, `request_origin` among them, or any Switchboard's webhooks): Twilio would follow
    it for ever, the call starting over each time."""
    origins = app_origins(settings, (request_origin,))
    for where, url in document.redirect_targets(stored):
        if leads_back(url, origins):
            raise ApiError(
                400,
                "redirects_to_this_app",
                f"{where}: leads back into this app's own webhooks: the call would start over "
                "and over",
                where,
            )


def checked(
    settings: Settings,
    number: str,
    body: Any,
    *,
    force: bool = False,
    request_origin: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Every check a write makes, without writing: the document (schema and what it cannot
    say, the instants' windows, the stored size), the account's number, forwards to our own
    numbers and redirects into this app. Returns the document to store and the warnings;
    raises the `ApiError` the route answers (400 with every problem's pointer, 413)."""
    number = api.require_number(number)
    try:
        stored = document.validate(body, number, now=records.utcnow(), clock=now(settings))
    except document.DocumentTooLarge as exc:
        raise too_large(exc.stored_bytes) from None
    except document.LineError as exc:
        raise invalid_line(exc) from None
    warnings = check_account_number(settings, number, force)
    check_loops(settings, number, stored)
    check_redirects(settings, stored, request_origin)
    return stored, warnings


def put(
    settings: Settings,
    number: str,
    body: Any,
    *,
    if_match: str | None,
    force: bool = False,
    change: str = "put",
    request_origin: str | None = None,
) -> Written:
    """Create or replace a line's document (`If-Match` as in `api.check_precondition`)."""
    number = api.require_number(number)
    precondition = api.parse_if_match(if_match)
    stored, warnings = checked(settings, number, body, force=force, request_origin=request_origin)
    current = _current(settings, number)
    api.check_precondition(precondition, current)
    written = _write(settings, number, stored, change, current)
    created = current is None or current.document is None
    return Written(stored, written.version, created, warnings)


def invalid_line(exc: document.LineError) -> ApiError:
    """400 `invalid_line`: the first problem as the message, every problem in `errors`."""
    return ApiError(
        400,
        "invalid_line",
        str(exc),
        exc.pointer or "/",
        extra={"errors": [{"field": p.pointer or "/", "message": p.message} for p in exc.problems]},
    )


def delete(settings: Settings, number: str, *, if_match: str | None) -> int:
    """Delete a line (its history stays); the version that recorded the deletion."""
    number = api.require_number(number)
    precondition = api.parse_if_match(if_match)
    current = _live(settings, number)
    if precondition is not None:
        api.check_precondition(precondition, current)
    return _write(settings, number, None, "delete", current).version


def history(settings: Settings, number: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """Versions newest first, paged."""
    number = api.require_number(number)
    before = api.decode_cursor(cursor) if cursor else None
    try:
        found = _store(settings).history(number, limit + 1, before_version=before)
    except Exception as exc:
        raise storage_unavailable(exc) from exc
    if not found and before is None:
        raise not_found("line", number)
    page = found[:limit]
    more = len(found) > limit and page
    return {
        "items": [api.history_json(v) for v in page],
        "nextCursor": api.encode_cursor(page[-1].version) if more else None,
    }


def override(settings: Settings, number: str, body: Any, moment: datetime | None = None) -> Line:
    """Set or clear a line's override; returns the line as written. `moment` is the line's
    clock (default `now(settings)`): an override without `until` lasts until the next change
    of the hours after it; what is written carries the real time."""
    number = api.require_number(number)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    moment = moment or now(settings)
    request = api.parse_override(body, moment)
    for _ in range(_WRITE_ATTEMPTS):
        current = _live(settings, number)
        assert current.document is not None
        changed = api.apply_override(current.document, request)
        written_at = records.utcnow()
        try:
            stored = document.validate(changed, number, now=written_at, clock=moment)
        except document.DocumentTooLarge as exc:
            raise too_large(exc.stored_bytes) from None
        except document.LineError as exc:
            raise invalid_line(exc) from None
        if request.state is not None and "until" not in stored["override"]:
            raise ApiError(
                400,
                "no_next_change",
                "this line's hours never change: give until",
                "until",
            )
        line = document.build_line(stored, number, current.version + 1)
        try:
            written = _store(settings).write(
                number,
                stored,
                change="clear-override" if request.clear else "override",
                now=written_at,
                expected=current,
            )
        except VersionConflict:
            continue  # someone wrote in between: apply the override to their version
        except StorageRefused as exc:
            raise _refused(exc) from None
        except Exception as exc:
            raise storage_unavailable(exc) from exc
        line = line._replace(version=written.version)
        cache(settings).put(number, line)
        return line
    raise ApiError(409, "conflict", "the line keeps changing: try again")


def status(settings: Settings, number: str, moment: datetime | None = None) -> dict[str, Any]:
    """The line's state now, why, and the next change (the default line when none is stored).
    A stored version that cannot be evaluated: the status of the line that answers instead
    (its last good version, else the default line), saying so under `unusable`."""
    number = api.require_number(number)
    moment = moment or now(settings)
    current = _current(settings, number)
    line: Line | None = None
    broken: StoredLine | None = None
    if current is not None and current.document is not None:
        line = usable_line(current, moment, strict=True)
        if line is None:
            broken = current
            try:
                line = load(number, settings)  # the last good version, if any
            except Exception as exc:
                raise storage_unavailable(exc) from exc
    if line is None:
        line = default_line(settings)._replace(number=number)
    try:
        body = api.status_json(line, h.status(line.schedule, moment), moment)
    except Exception:  # the fallback's own status (the default line's cannot fail)
        logger.exception("lines: the status of a line could not be worked out")
        line = default_line(settings)._replace(number=number)
        body = api.status_json(line, h.status(line.schedule, moment), moment)
    if broken is not None:
        body["unusable"] = api.unusable_json(broken)
    return body


def list_lines(settings: Settings) -> dict[str, Any]:
    """Every stored line with its state now; one that cannot be evaluated is listed with
    `unusable` (what answers its calls instead) and no state."""
    moment = now(settings)
    try:
        found = _store(settings).list_current()
    except Exception as exc:
        raise storage_unavailable(exc) from exc
    items = []
    for stored in found:
        assert stored.document is not None
        line = usable_line(stored, moment, strict=True)
        if line is None:
            items.append({**api.summary_json(stored, None), "unusable": api.unusable_json(stored)})
            continue
        state, reason, holiday = h.state_at(line.schedule, moment)
        items.append(api.summary_json(stored, h.LineStatus(state, reason, holiday)))
    return {"items": items}


def unusable_lines(settings: Settings) -> list[dict[str, Any]]:
    """The stored lines that cannot be evaluated now (health reports them); storage errors
    propagate."""
    moment = now(settings)
    return [
        {"number": stored.number, "version": stored.version}
        for stored in _store(settings).list_current()
        if usable_line(stored, moment, strict=True) is None
    ]


# --------------------------------------------------------------------------------------------
# What a call would hear (the command line's `lines preview` and the inbox's preview)

#: The caller a preview assumes when none is given (a number that is nobody's).
SAMPLE_CALLER = "+15558675310"


def answering_line(settings: Settings, number: str) -> Line:
    """The line that answers `number`'s calls: its stored document, else (none, or one that
    cannot be evaluated) the default line of the settings."""
    number = api.require_number(number)
    try:
        stored = get(settings, number)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return default_line(settings)._replace(number=number)
    usable = usable_line(stored, now(settings), strict=True)
    return usable or default_line(settings)._replace(number=number)


def instant_for(raw: str, line: Line) -> datetime:
    """An ISO-8601 time as an instant: an offset is honoured, a plain local time is in the
    line's zone. `ValueError` saying what is expected otherwise."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(
            "must be an ISO-8601 time such as 2026-12-24T09:00 (the line's zone) or "
            "2026-12-24T09:00-05:00"
        ) from None
    if not 1970 <= value.year <= 2199:
        raise ValueError("must be a date between the years 1970 and 2199")
    if value.tzinfo is None:
        value = value.replace(tzinfo=line.schedule.zone)
    return value


def preview(
    settings: Settings, number: str, at: str | None = None, caller: str | None = None
) -> dict[str, Any]:
    """What a call from `caller` (default `SAMPLE_CALLER`) at `at` (ISO-8601, default now)
    to the line would hear, and what the app would send because of it, as JSON; 400 naming
    `at` or `from` when either is not what it must be. Reads the line, places nothing."""
    from switchboard.lines.preview import preview as describe_call
    from switchboard.phone import is_e164

    who = (caller or SAMPLE_CALLER).strip()
    if not is_e164(who):
        raise invalid("from", "must be an E.164 number such as +15558675310")
    line = answering_line(settings, number)
    try:
        moment = instant_for(at, line) if at and at.strip() else now(settings)
    except ValueError as exc:
        raise invalid("at", str(exc)) from None
    found = describe_call(line, moment, who)
    return {
        "number": line.number,
        "name": line.name,
        "caller": who,
        **found._asdict(),
        "at": found.at.isoformat(),
        "timeZone": getattr(line.schedule.zone, "key", "UTC"),
    }
