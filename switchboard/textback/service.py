"""The entry point of the missed-call text-back: what the call status callback calls.

    on_call_ended(record, line, settings) -> str | None

`POST /api/status/call` (`switchboard.status.callbacks`) calls it after merging a callback into
the call's CallLog record, when `rules.may_apply(record)` (an inbound call that ended, nobody
took it, no text-back decided yet), with the line of the number called
(`switchboard.lines.lookup.line_for`: the default line of a number without a stored line has no
text-back, so nothing happens there).

It reads the record (the fields of `switchboard.textback.rules`), the caller's opt-out
(OptOut) and window (`windows`), and writes the text-back's schedule (SmsSchedule, id
``sys-textback-<CallSid>``: the scheduled-SMS timer sends it once, after the caller's quiet
hours, never to a number that opted out meanwhile), the window, and the record's `TextBack`,
`TextBackId`, `TextBackAt`. Returns what `TextBack` says (None: not a case for a text-back).
Storage failures raise (the caller logs them): nothing is then written on the record, so a
retried status callback decides again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from switchboard import records
from switchboard.aio import run_sync
from switchboard.lines.model import Line, TextBack
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.optouts import rules as optout
from switchboard.phone import mask
from switchboard.schedules import store as schedule_store
from switchboard.schedules.rules import NewSchedule
from switchboard.schedules.store import ScheduleStore
from switchboard.settings import Settings
from switchboard.textback import rules
from switchboard.textback.rules import Verdict
from switchboard.textback.windows import ScheduleTableWindows, SenderWindows

logger = get_logger(__name__)

#: The windows a text-back claims from (swap for issue 14's loop guard when it lands).
WindowsFactory = Callable[[schedule_store.TableSet], SenderWindows]


def _schedule_table_windows(opened: schedule_store.TableSet) -> SenderWindows:
    return ScheduleTableWindows(opened.schedules)


windows_factory: WindowsFactory = _schedule_table_windows


def own_numbers(settings: Settings) -> frozenset[str]:
    """The numbers a text-back never goes to besides the call's own (its `To`, its line):
    the app's sender. (Issue 14's own-numbers cache adds the account's IncomingPhoneNumbers.)"""
    return frozenset(n for n in (settings.twilio_from_number,) if n)


def on_call_ended(
    record: Mapping[str, Any],
    line: Line | None,
    settings: Settings,
    *,
    now: datetime | None = None,
    extra_own_numbers: Iterable[str] = (),
) -> str | None:
    """Decide, and send or skip, the text-back of an ended call (see the module doc)."""
    if line is None or line.text_back is None:
        return None
    verdict = rules.decide(record, line, own_numbers(settings) | set(extra_own_numbers))
    if verdict is None:
        return None
    moment = now or records.utcnow()
    record_id = str(record.get("PartitionKey") or record.get("Id") or "")
    call_sid = str(record.get("Sid") or record_id)
    caller = str(record.get("From") or "")
    schedule = rules.schedule_id(call_sid)
    if verdict.send:
        verdict = run_sync(_send(caller, line.text_back, call_sid, schedule, settings, moment))
    RecordStore.calls(settings).update(
        record_id,
        lambda current: rules.record_change(
            current, verdict, schedule if verdict.send else None, moment
        ),
    )
    logger.info(
        "text-back for call %s to %s: %s",
        call_sid,
        mask(caller),
        verdict.word,
        extra={"CallSid": call_sid},
    )
    return verdict.word


async def _send(
    caller: str,
    text_back: TextBack,
    call_sid: str,
    schedule: str,
    settings: Settings,
    now: datetime,
) -> Verdict:
    """The checks that need storage, then the schedule: opted out? texted within the window?"""
    async with schedule_store.open_tables(settings) as opened:
        lookup = await schedule_store.read_opt_out(opened.opt_outs, caller)
        try:
            optout.ensure_can_text(caller, lookup)
        except optout.OptedOut:
            return rules.skip("opted out")
        window = await windows_factory(opened).claim(
            caller,
            rules.PURPOSE,
            ref=call_sid,
            window=timedelta(hours=text_back.window_hours),
            now=now,
        )
        if not window.granted:
            return rules.skip(rules.window_words(text_back))
        await ScheduleStore(opened.schedules).create(
            NewSchedule(id=schedule, to=caller, body=text_back.message, send_at=now), now
        )
    return rules.SEND
