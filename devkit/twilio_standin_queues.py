"""Twilio's call queues in the stand-in: the Queue resource, its members, and how calls move
through a queue (what the simulator plays: `<Enqueue>`, `<Leave>`, `<Dial><Queue>`).

As Twilio behaves (its TwiML and Queue resource documentation):

- A queue is made by `POST Queues.json` (`FriendlyName`, unique in the account, at most 64
  characters; `MaxSize` 1-5000), or on demand by the first `<Enqueue>` naming it, with the
  default size of 1000 (older accounts: 100). `GET`/`POST`/`DELETE Queues/{Sid}.json`,
  `GET Queues/{Sid}/Members.json`, `GET Members/{CallSid}.json` and `Members/Front.json` (404
  when the queue is empty). `current_size` counts the waiting calls, `average_wait_time` is the
  mean of their waits.
- `<Enqueue>` into a full queue does not enqueue: the action gets `QueueResult=queue-full`.
- A waiting call's view (`view`) gives what its wait URL receives: `QueuePosition` (1 for the
  front), `QueueSid`, `QueueTime` (seconds waited), `AvgQueueTime`, `CurrentQueueSize`,
  `MaxQueueSize`.
- `<Dial><Queue>` takes the front call (`dequeue`); with an empty queue the Dial waits for one
  until its timeout. The taken call is `bridged` until one side hangs up (`end_bridge`); then
  its `<Enqueue>` action gets `QueueResult=bridged`. `<Leave>` (and a caller hanging up) take a
  call out at once: `leave`, `hangup`.

Time in the queues runs on the stand-in's own clock, which tests move forward (`advance`)
rather than sleep: every waiting call's `QueueTime` grows, and its view changes. Each view has a
`version`; `wait_change` blocks until a call's view differs from the one a caller last saw, so
the simulator asks the wait URL again exactly when Twilio's parameters would differ.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

API_PREFIX = "/2010-04-01"
#: The size of a queue `<Enqueue>` makes on demand.
DEFAULT_MAX_SIZE = 1000
MAX_SIZE = 5000
WAITING, BRIDGED, ENDED, LEFT = "waiting", "bridged", "ended", "left"


class QueueError(Exception):
    """A REST request Twilio would refuse: `status`, `code`, `message` (Twilio's error JSON)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _first(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    return values[0] if values else None


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


@dataclass
class Member:
    """A call in (or just out of) a queue."""

    call_sid: str
    queue_sid: str
    entered: float  # the queue clock
    date_enqueued: datetime
    caller: dict[str, str] = field(default_factory=dict)  # the call's From, To, ...
    state: str = WAITING
    result: str | None = None
    dequeued_by: str | None = None
    waited: int | None = None  # QueueTime when it left the queue
    version: int = 0


@dataclass
class Queue:
    """A Queue resource."""

    sid: str
    friendly_name: str
    max_size: int
    date_created: datetime
    date_updated: datetime
    waiting: list[str] = field(default_factory=list)  # CallSids, front first


class QueueBook:
    """Every queue and member of the stand-in (thread-safe; blocking waits use a condition)."""

    def __init__(self, account_sid: str) -> None:
        self.account_sid = account_sid
        self._changed = threading.Condition()
        self.queues: dict[str, Queue] = {}
        self.members: dict[str, Member] = {}
        self.offset = 0.0

    # -- time ---------------------------------------------------------------------------------

    def clock(self) -> float:
        """The queues' clock (seconds; monotonic plus what `advance` added)."""
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the queues' clock forward: every waiting call has waited `seconds` more."""
        with self._changed:
            self.offset += max(0.0, seconds)
            for member in self.members.values():
                if member.state == WAITING:
                    member.version += 1
            self._changed.notify_all()

    def reset(self) -> None:
        """No queues, no members, the clock back to real time."""
        with self._changed:
            self.queues.clear()
            self.members.clear()
            self.offset = 0.0
            self._changed.notify_all()

    # -- the REST resource --------------------------------------------------------------------

    def _uri(self, sid: str) -> str:
        return f"{API_PREFIX}/Accounts/{self.account_sid}/Queues/{sid}"

    def _wait(self, member: Member, now: float) -> int:
        return max(0, int(now - member.entered))

    def queue_json(self, queue: Queue) -> dict[str, Any]:
        """Twilio's JSON of a Queue resource."""
        now = self.clock()
        waits = [self._wait(self.members[s], now) for s in queue.waiting]
        return {
            "account_sid": self.account_sid,
            "average_wait_time": int(sum(waits) / len(waits)) if waits else 0,
            "current_size": len(queue.waiting),
            "date_created": _rfc2822(queue.date_created),
            "date_updated": _rfc2822(queue.date_updated),
            "friendly_name": queue.friendly_name,
            "max_size": queue.max_size,
            "sid": queue.sid,
            "uri": self._uri(queue.sid) + ".json",
            "subresource_uris": {"members": self._uri(queue.sid) + "/Members.json"},
        }

    def member_json(self, member: Member, position: int) -> dict[str, Any]:
        """Twilio's JSON of a queue Member."""
        return {
            "call_sid": member.call_sid,
            "date_enqueued": _rfc2822(member.date_enqueued),
            "position": position,
            "queue_sid": member.queue_sid,
            "uri": f"{self._uri(member.queue_sid)}/Members/{member.call_sid}.json",
            "wait_time": self._wait(member, self.clock()),
        }

    @staticmethod
    def _max_size(raw: str | None, default: int) -> int:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise QueueError(400, 20001, "MaxSize must be an integer") from None
        if not 1 <= value <= MAX_SIZE:
            raise QueueError(400, 20001, f"MaxSize must be between 1 and {MAX_SIZE}")
        return value

    def _new(self, name: str, max_size: int) -> Queue:
        now = datetime.now(UTC).replace(microsecond=0)
        queue = Queue("QU" + uuid.uuid4().hex, name, max_size, now, now)
        self.queues[queue.sid] = queue
        return queue

    def _named(self, name: str) -> Queue | None:
        return next((q for q in self.queues.values() if q.friendly_name == name), None)

    def _check_name(self, name: str) -> None:
        if not name:
            raise QueueError(400, 20001, "Missing required parameter FriendlyName in the post body")
        if len(name) > 64:
            raise QueueError(400, 20001, "FriendlyName must be at most 64 characters")
        if self._named(name) is not None:
            raise QueueError(400, 20001, f"A queue with FriendlyName {name} already exists")

    def create(self, form: Mapping[str, list[str]]) -> dict[str, Any]:
        """`POST Queues.json`."""
        name = (form.get("FriendlyName") or [""])[0].strip()
        with self._changed:
            self._check_name(name)
            size = self._max_size(_first(form, "MaxSize"), DEFAULT_MAX_SIZE)
            return self.queue_json(self._new(name, size))

    def get(self, sid: str) -> Queue:
        """A queue, or Twilio's 404."""
        queue = self.queues.get(sid)
        if queue is None:
            raise QueueError(
                404, 20404, f"The requested resource {self._uri(sid)}.json was not found"
            )
        return queue

    def fetch(self, sid: str) -> dict[str, Any]:
        """`GET Queues/{Sid}.json`."""
        with self._changed:
            return self.queue_json(self.get(sid))

    def update(self, sid: str, form: Mapping[str, list[str]]) -> dict[str, Any]:
        """`POST Queues/{Sid}.json` (`FriendlyName`, `MaxSize`)."""
        with self._changed:
            queue = self.get(sid)
            name = (form.get("FriendlyName") or [""])[0].strip()
            if name and name != queue.friendly_name:
                self._check_name(name)
                queue.friendly_name = name
            queue.max_size = self._max_size(_first(form, "MaxSize"), queue.max_size)
            queue.date_updated = datetime.now(UTC).replace(microsecond=0)
            return self.queue_json(queue)

    def delete(self, sid: str) -> None:
        """`DELETE Queues/{Sid}.json`."""
        with self._changed:
            self.get(sid)
            del self.queues[sid]

    def listing(self) -> list[dict[str, Any]]:
        """`GET Queues.json` items, oldest first."""
        with self._changed:
            ordered = sorted(self.queues.values(), key=lambda q: (q.date_created, q.sid))
            return [self.queue_json(q) for q in ordered]

    def member_listing(self, sid: str) -> list[dict[str, Any]]:
        """`GET Queues/{Sid}/Members.json` items, front first."""
        with self._changed:
            queue = self.get(sid)
            return [self.member_json(self.members[s], n + 1) for n, s in enumerate(queue.waiting)]

    def member(self, sid: str, call_sid: str) -> dict[str, Any]:
        """`GET Queues/{Sid}/Members/{CallSid|Front}.json`."""
        with self._changed:
            queue = self.get(sid)
            if call_sid == "Front":
                if not queue.waiting:
                    raise QueueError(404, 20404, "The queue is empty")
                call_sid = queue.waiting[0]
            if call_sid not in queue.waiting:
                raise QueueError(404, 20404, f"Call {call_sid} is not in queue {sid}")
            return self.member_json(self.members[call_sid], queue.waiting.index(call_sid) + 1)

    # -- calls moving through queues ----------------------------------------------------------

    def _bump(self, queue: Queue) -> None:
        for sid in queue.waiting:
            self.members[sid].version += 1

    def view(self, call_sid: str) -> dict[str, Any]:
        """What a call in a queue knows (its wait URL's parameters), or `{"state": "none"}`."""
        with self._changed:
            return self._view(call_sid)

    def _view(self, call_sid: str) -> dict[str, Any]:
        member = self.members.get(call_sid)
        if member is None:
            return {"state": "none", "version": 0}
        queue = self.queues.get(member.queue_sid)
        now = self.clock()
        waits = [self._wait(self.members[s], now) for s in queue.waiting] if queue else []
        view: dict[str, Any] = {
            "state": member.state,
            "version": member.version,
            "callSid": member.call_sid,
            "queueSid": member.queue_sid,
            "queueName": queue.friendly_name if queue else "",
            "queueTime": member.waited if member.waited is not None else self._wait(member, now),
            "averageQueueTime": int(sum(waits) / len(waits)) if waits else 0,
            "size": len(queue.waiting) if queue else 0,
            "maxSize": queue.max_size if queue else 0,
            "result": member.result,
            "dequeuedBy": member.dequeued_by,
            "caller": dict(member.caller),
        }
        if queue is not None and call_sid in queue.waiting:
            view["position"] = queue.waiting.index(call_sid) + 1
        return view

    def enqueue(self, name: str, call_sid: str, caller: Mapping[str, str]) -> dict[str, Any]:
        """`<Enqueue>name</Enqueue>`: the call joins the queue (made on demand), or finds it
        full (`result: queue-full`)."""
        if not name or len(name) > 64:
            return {"result": "error", "state": "none", "version": 0}
        with self._changed:
            queue = self._named(name) or self._new(name, DEFAULT_MAX_SIZE)
            if len(queue.waiting) >= queue.max_size:
                return {
                    "result": "queue-full",
                    "queueSid": queue.sid,
                    "state": "none",
                    "version": 0,
                }
            member = Member(
                call_sid,
                queue.sid,
                self.clock(),
                datetime.now(UTC).replace(microsecond=0),
                dict(caller),
            )
            self.members[call_sid] = member
            queue.waiting.append(call_sid)
            self._changed.notify_all()
            return {**self._view(call_sid), "result": "queued"}

    def wait_change(self, call_sid: str, after: int, timeout: float) -> dict[str, Any]:
        """The call's view once its version is past `after` (or as it is after `timeout`)."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while True:
                member = self.members.get(call_sid)
                if member is None or member.version > after:
                    return self._view(call_sid)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self._view(call_sid)
                self._changed.wait(remaining)

    def _out(self, member: Member, state: str, result: str | None) -> None:
        queue = self.queues.get(member.queue_sid)
        if queue is not None and member.call_sid in queue.waiting:
            queue.waiting.remove(member.call_sid)
            self._bump(queue)
        member.waited = self._wait(member, self.clock())
        member.state, member.result = state, result
        member.version += 1
        self._changed.notify_all()

    def leave(self, call_sid: str, result: str = "leave") -> dict[str, Any]:
        """`<Leave>` (or the caller hanging up: `hangup`): out of the queue at once."""
        with self._changed:
            member = self.members.get(call_sid)
            if member is not None and member.state == WAITING:
                self._out(member, LEFT, result)
            return self._view(call_sid)

    def dequeue(self, name: str, dequeuer: str, timeout: float) -> dict[str, Any] | None:
        """`<Dial><Queue>name`: the front call, bridged to `dequeuer` (waits up to `timeout`
        for one); None when none came. `{"error": "no such queue"}` when the queue does not
        exist (Twilio fails the Dial)."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while True:
                queue = self._named(name)
                if queue is None:
                    return {"error": "no such queue"}
                if queue.waiting:
                    member = self.members[queue.waiting[0]]
                    self._out(member, BRIDGED, None)
                    member.dequeued_by = dequeuer
                    return self._view(member.call_sid)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def end_bridge(self, call_sid: str) -> dict[str, Any]:
        """One side of a bridged call hung up: the taken call's action gets `bridged`."""
        with self._changed:
            member = self.members.get(call_sid)
            if member is not None and member.state == BRIDGED:
                member.state, member.result = ENDED, "bridged"
                member.version += 1
                self._changed.notify_all()
            return self._view(call_sid)

    def snapshot(self) -> dict[str, Any]:
        """Every queue with its waiting calls (`GET /_standin/queues`)."""
        with self._changed:
            return {
                "clockOffset": self.offset,
                "queues": [
                    {**self.queue_json(q), "waiting": list(q.waiting)} for q in self.queues.values()
                ],
                "members": {sid: self._view(sid) for sid in self.members},
            }
