"""Opt-out changes an instance could not write yet: kept in memory, written first when storage
answers again (a STOP is never lost silently).

When Table Storage is down, the SMS webhook cannot record a STOP (or START). It answers 503, so
Twilio logs the failure (error 11200) and can retry or use the number's fallback URL, and it
keeps the change here. From then on, on this instance:

- `optouts.rules.ensure_can_text` (the one check every outbound SMS path makes) refuses a number
  whose latest pending change is an opt-out, before it even reads storage;
- the change is written as soon as storage answers: `OptOutStore.replay` runs first in every
  opt-out read (`OptOutStore.get`: operator and CLI sends), at the start of each SMS webhook trip
  and at the start of each timer run. Writing is idempotent (insert-if-absent, keyed by number;
  a Twilio retry of the same message finds the opt-out already there).

What it does not cover: the instance dying before storage comes back (the change lives in its
memory only). Twilio's own opt-out handling on long codes has already blocked the number by then
(later sends fail with 21610, which records the opt-out), and with connection overrides on the
webhook URL (`#rc=3&rp=5xx,ct,rt`) Twilio retries the STOP on another instance within seconds.

The journal keeps at most `LIMIT` changes (the oldest are dropped, logged): a bound on memory,
never reached by a real outage of minutes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from switchboard.logs import get_logger

logger = get_logger(__name__)

#: Most changes kept per instance.
LIMIT = 10_000
#: After a failed replay (storage still down), the next try waits this long (seconds), so an
#: outage does not cost every request one more storage timeout.
RETRY_AFTER = 5.0


@dataclass(frozen=True)
class PendingChange:
    """One keyword message whose opt-out (or opt-in) is not written yet."""

    number: str
    opted_out: bool  # True: STOP and the other opt-out words; False: START/YES/UNSTOP
    keyword: str
    message_sid: str
    at: datetime
    business_number: str | None = None


class Journal:
    """The pending changes of this process, oldest first (thread-safe)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._changes: OrderedDict[str, PendingChange] = OrderedDict()
        self._failed_at: float | None = None

    def due(self) -> bool:
        """Whether there is something to write and the last try did not fail just now."""
        if not self._changes:
            return False
        failed_at = self._failed_at
        return failed_at is None or time.monotonic() - failed_at >= RETRY_AFTER

    def failed(self) -> None:
        """A replay failed (storage still down): wait `RETRY_AFTER` before the next."""
        self._failed_at = time.monotonic()

    def __len__(self) -> int:
        return len(self._changes)

    def add(self, change: PendingChange) -> None:
        """Keep `change` (once per message: a Twilio retry of the same message replaces it)."""
        with self._lock:
            self._changes.pop(change.message_sid, None)
            self._changes[change.message_sid] = change
            while len(self._changes) > self.limit:
                _, dropped = self._changes.popitem(last=False)
                logger.error(
                    "opt-out journal full: dropped the pending change of message %s",
                    dropped.message_sid,
                )

    def pending(self) -> list[PendingChange]:
        """Every pending change, oldest first."""
        with self._lock:
            return list(self._changes.values())

    def latest_for(self, number: str) -> PendingChange | None:
        """The newest pending change of `number`, if any."""
        with self._lock:
            for change in reversed(self._changes.values()):
                if change.number == number:
                    return change
        return None

    def written(self, change: PendingChange) -> None:
        """`change` is in storage now: forget it (unless a newer one replaced it)."""
        with self._lock:
            self._failed_at = None
            if self._changes.get(change.message_sid) is change:
                del self._changes[change.message_sid]

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._changes.clear()
            self._failed_at = None


#: This process's journal.
PENDING = Journal()
