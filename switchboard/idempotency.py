"""Exactly-once placement of outbound calls: the idempotency state machine (pure).

Modelled on AWS Lambda Powertools' idempotency utility: one record per idempotency key (the
call's `id`) with a status, a hash of the payload and, while a worker is placing the call, a lease
that expires after the function timeout. The storage adapter
(`switchboard.adapters.idempotency_store`) creates records with insert-if-absent and changes them
only under an ETag match; this module decides what each observation means.

States (`IdempotencyStatus` on the CallLog record):

    (none) ──claim──▶ in-progress ──Twilio accepted──▶ completed
                          │ ├──────permanent error───▶ failed
                          │ └──────transient error───▶ pending ──claim──▶ in-progress ...
    (none) ──invalid──▶ rejected ──a valid message with that id──▶ in-progress
    pending / in-progress with an expired lease ──poison handler──▶ dead-lettered
    pending (created by POST /api/calls before enqueuing) ──claim──▶ in-progress

Rules, in the order `evaluate` applies them:

- a different payload under the same key is a CONFLICT: never a call, whatever the state
  (a `rejected` record has no payload to compare with: see below);
- `completed`, `failed`, `dead-lettered`: DONE, never a second call;
- a record that already holds a CallSid (a status callback carrying `?id=` found it, for example
  after a timeout whose call Twilio did create) is ALREADY_PLACED: it is marked completed;
- `in-progress` under a live lease: IN_FLIGHT, another worker is placing it (the message is
  retried later, so nothing is lost if that worker then fails);
- `pending`, an expired `in-progress` and `rejected`: CLAIM (a takeover, under the ETag read).
  A rejected id never reached Twilio, so a corrected message may reuse it.

The lease is the function timeout plus a margin, counted from the claim (which happens after the
function started): the host stops a function at its timeout, so no two live workers can hold the
same lease, and the holder may write its outcome without an ETag (status callbacks touch other
properties of the same entity and would only make an ETag condition fail for nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

#: host.json `functionTimeout` (5 minutes, the Consumption plan default).
FUNCTION_TIMEOUT = timedelta(minutes=5)
#: Added to the function timeout so that a lease always outlives the worker that holds it.
LEASE_MARGIN = timedelta(seconds=30)
DEFAULT_LEASE = FUNCTION_TIMEOUT + LEASE_MARGIN


class State(StrEnum):
    """Idempotency status of a call record."""

    PENDING = "pending"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    DEAD_LETTERED = "dead-lettered"


FINAL_STATES = frozenset({State.COMPLETED, State.FAILED, State.DEAD_LETTERED})


class Verdict(StrEnum):
    """What a worker holding a valid message should do, given the stored record."""

    CLAIM = "claim"  # take the record (ETag-conditioned) and place the call
    DONE = "done"  # final already: no call, return normally
    ALREADY_PLACED = "already-placed"  # Twilio has the call (a CallSid is known): mark completed
    CONFLICT = "conflict"  # same id, different payload: no call, return normally
    IN_FLIGHT = "in-flight"  # another worker holds a live lease: retry the message later


@dataclass(frozen=True)
class IdempotencyRecord:
    """What the state machine needs of a stored record."""

    key: str
    state: State | None
    payload_hash: str | None = None
    lease_until: datetime | None = None
    attempts: int = 0
    sid: str | None = None
    etag: str | None = None

    def lease_live(self, now: datetime) -> bool:
        """Whether an in-progress lease still protects the worker holding it."""
        return (
            self.state is State.IN_PROGRESS
            and self.lease_until is not None
            and self.lease_until > now
        )


def parse_state(value: object) -> State | None:
    """The State of a stored value (None for records the queue never touched: inbound calls)."""
    try:
        return State(str(value)) if value else None
    except ValueError:
        return None


def evaluate(record: IdempotencyRecord, payload_hash: str, now: datetime) -> Verdict:
    """The verdict for a valid message with `payload_hash` meeting an existing `record`."""
    if record.state is None:
        # A record that the outbound path did not create (an inbound CallSid used as an id):
        # the id is taken by something else.
        return Verdict.CONFLICT
    if record.state is not State.REJECTED and record.payload_hash != payload_hash:
        return Verdict.CONFLICT
    if record.state in FINAL_STATES:
        return Verdict.DONE
    if record.sid and record.state in {State.PENDING, State.IN_PROGRESS}:
        return Verdict.ALREADY_PLACED
    if record.lease_live(now):
        return Verdict.IN_FLIGHT
    return Verdict.CLAIM


def lease_until(now: datetime, lease: timedelta = DEFAULT_LEASE) -> datetime:
    """When a lease taken `now` expires."""
    return now + lease


@dataclass(frozen=True)
class PoisonAction:
    """What the poison handler writes: the new state, or nothing (`state` None)."""

    state: State | None
    reason: str


def on_poison(record: IdempotencyRecord | None, now: datetime) -> PoisonAction:
    """The poison handler's decision for the record of a message the host gave up on.

    - no record: the message never got far enough to write one (storage failing on every
      delivery): dead-lettered;
    - pending, or in-progress with an expired lease: dead-lettered with the last error;
    - in-progress under a live lease: left alone, the worker holding it writes the outcome (this
      is another copy of the same id that kept meeting it);
    - a record with a CallSid: completed, the call exists;
    - final or rejected: nothing to do.
    """
    if record is None:
        return PoisonAction(State.DEAD_LETTERED, "no record was written before the retries ran out")
    if record.state in {State.PENDING, State.IN_PROGRESS} and record.sid:
        return PoisonAction(State.COMPLETED, "Twilio reported the call")
    if record.state is State.PENDING:
        return PoisonAction(State.DEAD_LETTERED, "the retries ran out")
    if record.state is State.IN_PROGRESS:
        if record.lease_live(now):
            return PoisonAction(None, "another worker holds the lease")
        return PoisonAction(
            State.DEAD_LETTERED, "the worker placing it stopped; Twilio may or may not have it"
        )
    return PoisonAction(None, f"already {record.state}" if record.state else "not an outbound call")
