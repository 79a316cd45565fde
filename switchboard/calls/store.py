"""The idempotency records of outbound calls, kept on their CallLog record (Table Storage).

One entity per call id holds both the idempotency state (`IdempotencyStatus`, `PayloadHash`,
`LeaseUntil`) and the outcome operators read (`Status`, `Sid`, `Attempts`, `LastErrorCode`,
`LastErrorMessage`, and `ErrorCode`/`ErrorMessage` once the call failed for good). A call placed
on its first delivery costs three storage round trips: the insert (the claim), its index row
and the outcome (the CallSid on the record). Its SID alias (`RecordStore.add_sid_alias`, for
lookups by CallSid) is written by the call's first status callback, which carries `?id=` and
records on the record that the alias exists (`switchboard.status.callbacks`): Twilio sends
`initiated` as soon as it creates the call. None of the exactly-once guarantee rests on the
alias: the insert-if-absent claim, ETag takeovers and the lease keep a second worker off the
id, and an attempt in doubt asks Twilio before placing again. A call adopted that way (VERIFY)
writes its alias at once, so two ids in doubt never take the same call.

Concurrency (see `switchboard.calls.idempotency` for the decisions):
- a claim is an insert-if-absent (409: someone has the id) or, for a takeover, a replace under
  the ETag of the record that was read and judged claimable (412: someone else moved first);
- the lease holder writes its outcome with an unconditional MERGE of the properties it owns, so
  status callbacks merging other properties meanwhile are neither lost nor a reason to fail.

`ClaimedAt` is when the attempts that may have reached Twilio began (a claim sets it, a VERIFY
takeover keeps it) and `Unverified` marks a pending record whose last create got no answer: both
serve the check with Twilio before an attempt in doubt is repeated.

`Status` is the call's public status (the README's words): `queued` until Twilio reports progress
through status callbacks (`switchboard.logbook.statuses` moves it forward only), or `rejected`,
`failed`, `dead-lettered` set here. Properties are never set to None: the table SDK drops None
values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.data.tables import UpdateMode

from switchboard import records
from switchboard.calls import idempotency
from switchboard.calls.idempotency import IdempotencyRecord, State, Verdict
from switchboard.calls.request import CallRequest
from switchboard.logbook.calls import PLACED
from switchboard.logbook.store import RecordStore
from switchboard.logs import get_logger
from switchboard.storage import tables

logger = get_logger(__name__)

#: The `Direction` of the records of the calls placed here (what the status callback and the
#: conversations read: `switchboard.logbook.calls`).
DIRECTION = PLACED
#: Raw text of a rejected message kept for operators (Table string properties hold 32K chars).
PAYLOAD_KEEP_CHARS = 8000
# Properties a claim removes from a rejected record it takes over.
_REJECTION_PROPERTIES = ("ErrorCode", "ErrorMessage", "ErrorField", "Payload")
# Claim attempts when racing other workers (each loses only to a real change).
_CLAIM_ROUNDS = 8

Entity = dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """The result of trying to claim an id: the verdict and the record as judged."""

    verdict: Verdict
    record: IdempotencyRecord


def to_idempotency_record(entity: Mapping[str, Any]) -> IdempotencyRecord:
    """The state machine's view of a CallLog entity."""
    lease = entity.get("LeaseUntil")
    claimed = entity.get("ClaimedAt")
    attempts = entity.get("Attempts")
    etag = getattr(entity, "metadata", {}).get("etag")
    return IdempotencyRecord(
        key=str(entity.get("Id") or entity.get("PartitionKey")),
        state=idempotency.parse_state(entity.get("IdempotencyStatus")),
        payload_hash=entity.get("PayloadHash"),
        lease_until=lease if isinstance(lease, datetime) else None,
        attempts=attempts if isinstance(attempts, int) else 0,
        sid=entity.get("Sid") or None,
        etag=str(etag) if etag else None,
        claimed_at=claimed if isinstance(claimed, datetime) else None,
        unverified=entity.get("Unverified") is True,
    )


def _request_properties(request: CallRequest, from_: str | None) -> Entity:
    properties: Entity = {
        "Direction": DIRECTION,
        "To": request.to,
        "RequestJson": json.dumps(
            {k: v for k, v in request.to_message().items() if k != "id"},
            separators=(",", ":"),
            ensure_ascii=False,
        ),
    }
    if from_:
        properties["From"] = from_
    return properties


class IdempotencyStore:
    """Claims and outcomes of outbound calls on the CallLog table."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self.table = store.table

    # --- reads ---

    def get(self, key: str) -> IdempotencyRecord | None:
        """The idempotency view of the record `key`, or None."""
        entity = self.store.get(key)
        return to_idempotency_record(entity) if entity is not None else None

    # --- claims ---

    def claim(
        self,
        key: str,
        request: CallRequest,
        *,
        from_: str | None,
        now: datetime,
        lease: timedelta = idempotency.DEFAULT_LEASE,
        message_id: str | None = None,
    ) -> Claim:
        """Try to become the one worker placing call `key`.

        CLAIM means the caller holds the lease and must write an outcome (`complete`, `fail`
        or `release`). VERIFY means the same, but an earlier attempt may have reached Twilio:
        the caller must ask Twilio for that call (`idempotency.find_placed_call`, from the
        returned record's `claimed_at`) before placing one. Any other verdict means: do not
        call Twilio.
        """
        payload_hash = request.payload_hash()
        fields: Entity = {
            **_request_properties(request, from_),
            "Status": "queued",
            "IdempotencyStatus": State.IN_PROGRESS.value,
            "PayloadHash": payload_hash,
            "LeaseUntil": idempotency.lease_until(now, lease),
            "ClaimedAt": now,
            "Attempts": 0,
        }
        if message_id:
            fields["QueueMessageId"] = message_id
        for _ in range(_CLAIM_ROUNDS):
            if self.store.create(key, fields, created=now):
                return Claim(Verdict.CLAIM, IdempotencyRecord(key, State.IN_PROGRESS, payload_hash))
            entity = self.store.get(key)
            if entity is None:
                continue  # deleted between the two requests: try the insert again
            current = to_idempotency_record(entity)
            verdict = idempotency.evaluate(current, payload_hash, now)
            if verdict is Verdict.ALREADY_PLACED:
                self._merge_if_unchanged(
                    entity, {"IdempotencyStatus": State.COMPLETED.value}, now=now
                )
                return Claim(verdict, current)
            if verdict not in {Verdict.CLAIM, Verdict.VERIFY}:
                return Claim(verdict, current)
            replacement = {
                k: v for k, v in entity.items() if k not in _REJECTION_PROPERTIES
            }  # the rejection reason of a rejected record goes with its takeover
            replacement.update(fields)
            replacement["Attempts"] = current.attempts
            replacement["CreatedAt"] = entity.get("CreatedAt", now)
            replacement["UpdatedAt"] = now
            if current.state is not State.REJECTED:
                # A pending record keeps whatever status callbacks wrote; fields["Status"] is
                # only for new records and rejected ones coming back to life.
                replacement["Status"] = entity.get("Status") or "queued"
            attempts = current.attempts
            claimed_at: datetime | None = now
            if verdict is Verdict.VERIFY:
                # Keep the start of the doubt, so that a check that fails and is retried (or
                # whose worker stops) still looks back to the attempt in doubt.
                claimed_at = idempotency.doubt_since(current) or now
                replacement["ClaimedAt"] = claimed_at
                replacement["Unverified"] = True
                attempts = idempotency.attempts_made(current)
            else:
                replacement.pop("Unverified", None)
            if tables.update_if_unchanged(
                self.table, replacement, tables.etag_of(entity), mode=UpdateMode.REPLACE
            ):
                return Claim(
                    verdict,
                    IdempotencyRecord(
                        key,
                        State.IN_PROGRESS,
                        payload_hash,
                        attempts=attempts,
                        claimed_at=claimed_at,
                        unverified=verdict is Verdict.VERIFY,
                    ),
                )
            # 412: another worker changed it first; judge again what it wrote.
        current = self.get(key) or IdempotencyRecord(key, None)
        return Claim(Verdict.IN_FLIGHT, current)

    def register(
        self, key: str, request: CallRequest, *, from_: str | None, now: datetime
    ) -> Entity | None:
        """Create a `pending` record before enqueuing (POST /api/calls).

        Returns None when created, else the existing entity: the caller compares payload hashes
        (`to_idempotency_record`) to answer "same request again" or "conflict".
        """
        payload_hash = request.payload_hash()
        fields: Entity = {
            **_request_properties(request, from_),
            "Status": "queued",
            "IdempotencyStatus": State.PENDING.value,
            "PayloadHash": payload_hash,
            "Attempts": 0,
        }
        for _ in range(_CLAIM_ROUNDS):
            if self.store.create(key, fields, created=now):
                return None
            existing = self.store.get(key)
            if existing is not None:
                return existing
        raise idempotency_conflict(key)

    # --- outcomes (lease holder) ---

    def complete(
        self,
        key: str,
        sid: str,
        attempts: int,
        *,
        now: datetime,
        placed_at: datetime | None = None,
        alias: bool = False,
    ) -> None:
        """Twilio accepted the call: store its SID on the record.

        `placed_at`: when Twilio created it, for a call found in Twilio (default `now`).
        `alias`: also write the SID alias now (a call found in Twilio for an attempt in doubt;
        a call just placed gets it from its first status callback).
        """
        self._merge(
            key,
            {
                "IdempotencyStatus": State.COMPLETED.value,
                "Sid": sid,
                "Attempts": attempts,
                "PlacedAt": placed_at or now,
            },
            now=now,
        )
        if alias:
            self.store.add_sid_alias(key, sid)

    def fail(
        self, key: str, attempts: int, code: int | str | None, message: str, *, now: datetime
    ) -> None:
        """Twilio refused the call for good: `failed` with Twilio's code and message."""
        error = _error_properties(code, message)
        self._merge(
            key,
            {
                "IdempotencyStatus": State.FAILED.value,
                "Status": "failed",
                "Attempts": attempts,
                **error,
                **{"Last" + name: value for name, value in error.items()},
                "LastAttemptAt": now,
            },
            now=now,
        )

    def release(
        self,
        key: str,
        attempts: int,
        code: int | str | None,
        message: str,
        *,
        now: datetime,
        uncertain: bool = False,
    ) -> None:
        """A transient failure: record the attempt and give the id back for the next delivery.

        `uncertain`: Twilio may have created the call (no answer to the create, or the check
        with Twilio failed): the next delivery asks Twilio before placing (VERIFY).
        """
        error = _error_properties(code, message)
        self._merge(
            key,
            {
                "IdempotencyStatus": State.PENDING.value,
                # An expired lease rather than none: MERGE cannot remove a property.
                "LeaseUntil": now,
                "Unverified": uncertain,
                "Attempts": attempts,
                **{"Last" + name: value for name, value in error.items()},
                "LastAttemptAt": now,
            },
            now=now,
        )

    # --- rejected and dead-lettered ---

    def reject(
        self,
        key: str,
        reason: str,
        field: str | None,
        raw: str,
        *,
        now: datetime,
        message_id: str | None = None,
    ) -> bool:
        """Record an invalid message as `rejected`; False when the id already has a record.

        An existing record is never overwritten by an invalid message (the id may be a call that
        was placed): the rejection is then only logged.
        """
        fields: Entity = {
            "Direction": DIRECTION,
            "Status": "rejected",
            "IdempotencyStatus": State.REJECTED.value,
            "ErrorCode": "invalid-message",
            "ErrorMessage": reason,
            "Payload": raw[:PAYLOAD_KEEP_CHARS],
            "Attempts": 0,
        }
        if field:
            fields["ErrorField"] = field
        if message_id:
            fields["QueueMessageId"] = message_id
        return self.store.create(key, fields, created=now)

    def dead_letter(
        self,
        key: str,
        request: CallRequest | None,
        *,
        now: datetime,
        message_id: str | None = None,
    ) -> State | None:
        """The poison handler's write: returns the state written, or None when nothing changed."""
        for _ in range(_CLAIM_ROUNDS):
            entity = self.store.get(key)
            current = to_idempotency_record(entity) if entity is not None else None
            if (
                current is not None
                and request is not None
                and current.state not in {None, State.REJECTED}
                and current.payload_hash != request.payload_hash()
            ):
                return None  # a conflicting copy: the record belongs to another payload
            action = idempotency.on_poison(current, now)
            if action.state is None:
                logger.info("Poison message for call %s: nothing to do (%s)", key, action.reason)
                return None
            if entity is None:
                fields: Entity = {
                    "Direction": DIRECTION,
                    "Status": State.DEAD_LETTERED.value,
                    "IdempotencyStatus": State.DEAD_LETTERED.value,
                    "ErrorCode": "dead-lettered",
                    "ErrorMessage": action.reason,
                    "Attempts": 0,
                }
                if request is not None:
                    fields.update(_request_properties(request, request.from_))
                    fields["PayloadHash"] = request.payload_hash()
                if message_id:
                    fields["QueueMessageId"] = message_id
                if self.store.create(key, fields, created=now):
                    return State.DEAD_LETTERED
                continue
            if action.state is State.COMPLETED:
                update: Entity = {"IdempotencyStatus": State.COMPLETED.value}
            else:
                update = {
                    "IdempotencyStatus": State.DEAD_LETTERED.value,
                    "Status": State.DEAD_LETTERED.value,
                    "ErrorCode": entity.get("LastErrorCode", "dead-lettered"),
                    "ErrorMessage": entity.get("LastErrorMessage") or action.reason,
                    "DeadLetteredAt": now,
                }
                if entity.get("Status") not in {None, "", "queued"}:
                    # Status callbacks arrived: Twilio's word stays (a status never goes backwards).
                    update.pop("Status")
            if self._merge_if_unchanged(entity, update, now=now):
                return action.state
        return None

    # --- helpers ---

    def _merge(self, key: str, properties: Entity, *, now: datetime) -> None:
        self.table.update_entity(
            {
                "PartitionKey": key,
                "RowKey": records.RECORD_ROW,
                **properties,
                "UpdatedAt": now,
            },
            mode=UpdateMode.MERGE,
        )

    def _merge_if_unchanged(self, entity: Any, properties: Entity, *, now: datetime) -> bool:
        return tables.update_if_unchanged(
            self.table,
            {
                "PartitionKey": entity["PartitionKey"],
                "RowKey": entity["RowKey"],
                **properties,
                "UpdatedAt": now,
            },
            tables.etag_of(entity),
            mode=UpdateMode.MERGE,
        )


def idempotency_conflict(key: str) -> RuntimeError:
    """A record that kept appearing and vanishing under our requests (never seen in practice)."""
    return RuntimeError(f"call {key}: the record changed under every attempt")


def _error_properties(code: int | str | None, message: str) -> Entity:
    properties: Entity = {"ErrorMessage": message[:PAYLOAD_KEEP_CHARS]}
    if code is not None:
        properties["ErrorCode"] = code
    return properties
