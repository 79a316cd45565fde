"""The entry point of the missed-call text-back: what the call status callback calls.

    on_call_ended(record, line, settings) -> str | None

`POST /api/status/call` (`switchboard.status.callbacks`) calls it after merging a callback into
the call's CallLog record, when `rules.may_apply(record)` (an inbound call that ended, nobody
took it, no text-back decided yet), with the line of the number called
(`switchboard.lines.lookup.line_for`: the default line of a number without a stored line has no
text-back, so nothing happens there).

It decides with the text-back's own rules (`rules.decide`: what the record says, who may be
texted), skips a caller who is a blocked contact (`switchboard.contacts.lookup`), then asks the
outbound policy (`switchboard.outbound`): the destination (our own
numbers, `OUTBOUND_ALLOWED_COUNTRIES`, premium-rate and satellite numbers), the caller's
opt-out and its window on this line (`textBack.windowHours`), and the line's budget of
automatic texts. When all say yes it writes the text-back's schedule (SmsSchedule, id
``sys-textback-<CallSid>``, from the line's number: the scheduled-SMS timer sends it once,
after the caller's quiet hours, never to a number that opted out meanwhile) and, in every case,
the record's `TextBack` (``sent`` or ``skipped (why)``), `TextBackId`, `TextBackAt`. Returns
what `TextBack` says (None: not a case for a text-back). Storage failures of the record or the
schedule raise (the caller logs them): nothing is then written on the record, so a retried
status callback decides again (the window and the budget count the call once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from switchboard import records
from switchboard.aio import run_sync
from switchboard.contacts.lookup import is_blocked
from switchboard.lines.model import Line
from switchboard.lines.sending import line_ref
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.outbound.purposes import Purpose
from switchboard.outbound.service import Message, Outbound
from switchboard.outbound.windows import Policy
from switchboard.phone import mask
from switchboard.schedules import store as schedule_store
from switchboard.schedules.rules import NewSchedule
from switchboard.schedules.store import ScheduleStore
from switchboard.settings import Settings
from switchboard.textback import rules
from switchboard.textback.rules import Verdict

logger = get_logger(__name__)


def on_call_ended(
    record: Mapping[str, Any],
    line: Line | None,
    settings: Settings,
    *,
    now: datetime | None = None,
    extra_own_numbers: Iterable[str] = (),
    outbound: Outbound | None = None,
) -> str | None:
    """Decide, and send or skip, the text-back of an ended call (see the module doc)."""
    if line is None or line.text_back is None:
        return None
    policy = outbound or Outbound(settings)
    called = str(record.get("To") or "")
    verdict = rules.decide(record, line, policy.ours(called, *extra_own_numbers))
    if verdict is None:
        return None
    moment = now or records.utcnow()
    record_id = str(record.get("PartitionKey") or record.get("Id") or "")
    call_sid = str(record.get("Sid") or record_id)
    caller = str(record.get("From") or "")
    schedule = rules.schedule_id(call_sid)
    if verdict.send and is_blocked(settings, caller):
        # Rejected when it called; blocked since (or rang through while storage was down).
        verdict = rules.skip("blocked contact")
    if verdict.send:
        verdict = _ask(policy, record, line, caller, call_sid, settings)
    if verdict.send:
        sender = line.number or rules.line_number(record)
        run_sync(_schedule(caller, line, sender, schedule, settings, moment))
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


def _ask(
    policy: Outbound,
    record: Mapping[str, Any],
    line: Line,
    caller: str,
    call_sid: str,
    settings: Settings,
) -> Verdict:
    """The outbound policy's answer: destination, opt-out, the caller's window, the budget."""
    assert line.text_back is not None
    decision = policy.ask(
        Message(
            Purpose.TEXT_BACK,
            line_ref(line, settings, rules.line_number(record)),
            caller,
            subject=caller,
            key=f"textback-{call_sid}",
            cause=call_sid,
            body=line.text_back.message,
            policy=Policy(1, timedelta(hours=line.text_back.window_hours)),
            also_own=(str(record.get("To") or ""),),
        )
    )
    return rules.SEND if decision.allowed else rules.skip(decision.reason or "refused")


async def _schedule(
    caller: str, line: Line, sender: str, schedule: str, settings: Settings, now: datetime
) -> None:
    """The text-back's schedule (idempotent on its id): the timer sends it."""
    assert line.text_back is not None
    async with schedule_store.open_tables(settings) as opened:
        await ScheduleStore(opened.schedules).create(
            NewSchedule(
                id=schedule,
                to=caller,
                body=line.text_back.message,
                send_at=now,
                line=sender or None,
                purpose=Purpose.TEXT_BACK.value,
            ),
            now,
        )
