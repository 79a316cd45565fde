"""The `CallQueue` table: what the app keeps of each line's call queue (Twilio keeps the callers).

Layout (PartitionKey = the line's E.164 number):

- RowKey `line`: the line's queue (`rules.QueueState`): `QueueSid` and `MaxSize` (the Twilio
  queue as the app made it), `PeopleJson` (who is ringing or busy: number -> state, offer id,
  until), `Offers` (a counter: each offer's calls get ids of their own), `ActiveAt`.
- RowKey `cb-<CallSid>`: one callback (`rules.Callback`): `Caller`, `ArrivedAt` (its place in
  line), `RequestedAt`, `Status`, `At`, `Person`, `PersonName`, `AcceptedAt`. A callback's row
  is deleted once its outcome is on the caller's CallLog record, so the table only ever holds
  what is live: the timer reads all of it.

Every change is written under the row's ETag (an insert when new): two instances deciding for
the same line at once cannot both win; the loser reads again (`ROUNDS`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from azure.data.tables import TableClient, UpdateMode

from switchboard.callqueue import rules
from switchboard.callqueue.rules import Callback, Engaged, QueueState
from switchboard.settings import Settings
from switchboard.storage import tables

T = TypeVar("T")

STATE_ROW = "line"
CALLBACK_PREFIX = "cb-"
_CALLBACK_END = "cb."  # the first key after every `cb-...`
_STATES = frozenset({rules.RINGING, rules.BUSY, rules.RESTING})
#: Rounds of read-decide-write before giving up to other writers.
ROUNDS = 8


class Contended(RuntimeError):
    """Every conditional write lost to other instances."""


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def state_from(entity: Any) -> QueueState:
    """The queue state of a `line` row (a malformed part is read as empty)."""
    people: dict[str, Engaged] = {}
    try:
        raw = json.loads(str(entity.get("PeopleJson") or "{}"))
    except ValueError:
        raw = {}
    if isinstance(raw, dict):
        for number, value in raw.items():
            if not isinstance(value, dict):
                continue
            until = _time(value.get("until"))
            state, offer = value.get("state"), value.get("offer")
            if until is not None and state in _STATES and isinstance(offer, str):
                people[str(number)] = Engaged(str(state), offer, until)
    size = entity.get("MaxSize")
    return QueueState(
        queue_sid=str(entity.get("QueueSid") or "") or None,
        max_size=size if isinstance(size, int) else None,
        people=MappingProxyType(people),
        offers=int(entity.get("Offers") or 0),
        active_at=_time(entity.get("ActiveAt")),
    )


def state_entity(line: str, state: QueueState) -> dict[str, Any]:
    """The `line` row of a queue state."""
    people = {
        number: {"state": e.state, "offer": e.offer, "until": _stamp(e.until)}
        for number, e in sorted(state.people.items())
    }
    entity: dict[str, Any] = {
        "PartitionKey": line,
        "RowKey": STATE_ROW,
        "PeopleJson": json.dumps(people, separators=(",", ":")),
        "Offers": state.offers,
    }
    if state.queue_sid:
        entity["QueueSid"] = state.queue_sid
    if state.max_size is not None:
        entity["MaxSize"] = state.max_size
    if state.active_at is not None:
        entity["ActiveAt"] = state.active_at
    return entity


def callback_from(entity: Any) -> Callback | None:
    """The callback of a `cb-` row (None when it is not one the app wrote)."""
    call_sid = str(entity.get("RowKey", ""))[len(CALLBACK_PREFIX) :]
    arrived, requested = _time(entity.get("ArrivedAt")), _time(entity.get("RequestedAt"))
    if not rules.is_call_sid(call_sid) or arrived is None or requested is None:
        return None
    return Callback(
        call_sid=call_sid,
        caller=str(entity.get("Caller") or ""),
        arrived_at=arrived,
        requested_at=requested,
        status=str(entity.get("Status") or rules.WAITING),
        at=str(entity.get("At") or ""),
        person=str(entity.get("Person") or "") or None,
        person_name=str(entity.get("PersonName") or "") or None,
        accepted_at=_time(entity.get("AcceptedAt")),
    )


def callback_entity(line: str, callback: Callback) -> dict[str, Any]:
    """The `cb-` row of a callback."""
    entity: dict[str, Any] = {
        "PartitionKey": line,
        "RowKey": CALLBACK_PREFIX + callback.call_sid,
        "Caller": callback.caller,
        "ArrivedAt": callback.arrived_at,
        "RequestedAt": callback.requested_at,
        "Status": callback.status,
        "At": callback.at,
    }
    if callback.person:
        entity["Person"] = callback.person
    if callback.person_name:
        entity["PersonName"] = callback.person_name
    if callback.accepted_at is not None:
        entity["AcceptedAt"] = callback.accepted_at
    return entity


class CallQueueStore:
    """The `CallQueue` table (see the module doc)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings) -> CallQueueStore:
        """The store of `TABLE_CALL_QUEUE` (the table is created on first use)."""
        return cls(tables.get_table(settings.table_call_queue, settings))

    # --- the line's state ---------------------------------------------------------------------

    def state(self, line: str) -> tuple[QueueState, str | None]:
        """The line's queue state and its ETag (an empty state and None when absent)."""
        entity = tables.get_or_none(self.table, line, STATE_ROW)
        if entity is None:
            return QueueState(), None
        return state_from(entity), tables.etag_of(entity)

    def save_state(self, line: str, state: QueueState, etag: str | None) -> bool:
        """Write the state under `etag` (insert when None); False when someone wrote first."""
        entity = state_entity(line, state)
        if etag is None:
            return tables.insert_if_absent(self.table, entity)
        return tables.update_if_unchanged(self.table, entity, etag, mode=UpdateMode.REPLACE)

    def change_state(
        self, line: str, decide: Callable[[QueueState], tuple[T, QueueState | None]]
    ) -> T:
        """Read the state, `decide` (pure: a result and the new state, None for no change),
        write it under the ETag read; again on a lost race. Raises `Contended`."""
        for _ in range(ROUNDS):
            state, etag = self.state(line)
            result, changed = decide(state)
            if changed is None or changed == state:
                return result
            if self.save_state(line, changed, etag):
                return result
        raise Contended(f"the queue of {line}: every write lost to other instances")

    def delete_state(self, line: str, etag: str) -> bool:
        """Delete the line's row if unchanged since `etag`."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            self.table.delete_entity(
                line, STATE_ROW, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    # --- callbacks ------------------------------------------------------------------------------

    def callbacks(self, line: str) -> list[tuple[Callback, str]]:
        """The line's live callbacks with their ETags (one partition range read)."""
        found: list[tuple[Callback, str]] = []
        for entity in tables.query(
            self.table,
            "PartitionKey eq @line and RowKey ge @first and RowKey lt @end",
            {"line": line, "first": CALLBACK_PREFIX, "end": _CALLBACK_END},
        ):
            callback = callback_from(entity)
            if callback is not None:
                found.append((callback, tables.etag_of(entity)))
        return found

    def callback(self, line: str, call_sid: str) -> tuple[Callback, str] | None:
        """One callback and its ETag, or None."""
        if not rules.is_call_sid(call_sid):
            return None
        entity = tables.get_or_none(self.table, line, CALLBACK_PREFIX + call_sid)
        if entity is None:
            return None
        callback = callback_from(entity)
        return (callback, tables.etag_of(entity)) if callback is not None else None

    def add_callback(self, line: str, callback: Callback) -> bool:
        """Keep a new callback; False when the call already has one (a retried request)."""
        return tables.insert_if_absent(self.table, callback_entity(line, callback))

    def save_callback(self, line: str, callback: Callback, etag: str) -> bool:
        """Write a callback under its ETag; False when someone changed it first."""
        return tables.update_if_unchanged(
            self.table, callback_entity(line, callback), etag, mode=UpdateMode.REPLACE
        )

    def delete_callback(self, line: str, call_sid: str) -> None:
        """Forget a finished callback (its outcome is on the caller's CallLog record)."""
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self.table.delete_entity(line, CALLBACK_PREFIX + call_sid)

    # --- everything (the timer) -----------------------------------------------------------------

    def everything(self) -> dict[str, tuple[QueueState | None, list[tuple[Callback, str]]]]:
        """Every line's state and live callbacks (the table only holds what is live)."""
        found: dict[str, tuple[QueueState | None, list[tuple[Callback, str]]]] = {}
        for entity in self.table.list_entities():
            line = str(entity.get("PartitionKey", ""))
            state, callbacks = found.get(line, (None, []))
            row = str(entity.get("RowKey", ""))
            if row == STATE_ROW:
                state = state_from(entity)
            elif row.startswith(CALLBACK_PREFIX):
                callback = callback_from(entity)
                if callback is not None:
                    callbacks = [*callbacks, (callback, tables.etag_of(entity))]
            found[line] = (state, callbacks)
        return found


def with_status(callback: Callback, status: str, **changes: Any) -> Callback:
    """The callback in another state."""
    return replace(callback, status=status, **changes)
