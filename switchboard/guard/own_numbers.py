"""The account's own numbers, which no automatic text goes to or answers.

`TWILIO_FROM_NUMBER`, the number a message was sent to (its `To`: Twilio delivered it to us) and
the account's IncomingPhoneNumbers, read from Twilio at most once per `REFRESH` per instance
(the first read is time-boxed to `TIMEOUT`; after a failure the known numbers serve and Twilio
is asked again after `RETRY`). Without the list the guard's other rules (one automatic text per
subject per window, no answer to our own texts) still end every loop.

When per-number lines land (issue 17), their numbers (the `Lines` table) belong here too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from switchboard.logs import get_logger
from switchboard.settings import Settings

logger = get_logger(__name__)

#: How long an instance keeps the account's numbers.
REFRESH = 600.0
#: After a failed read, ask Twilio again no sooner than this.
RETRY = 60.0
#: The read's budget (a webhook waits for it at most once per REFRESH).
TIMEOUT = 2.0

Fetch = Callable[[Settings], Iterable[str]]


def fetch_from_twilio(settings: Settings) -> list[str]:
    """The account's IncomingPhoneNumbers (imports the Twilio client on first use)."""
    from switchboard.twilio import client as twilio_client

    client = twilio_client.get_client(settings, timeout=TIMEOUT)
    return [n.phone_number for n in twilio_client.list_incoming_numbers(client, 1000)]


class OwnNumbers:
    """The account's numbers, cached for the process."""

    def __init__(
        self, fetch: Fetch = fetch_from_twilio, clock: Callable[[], float] = time.monotonic
    ):
        self.fetch = fetch
        self.clock = clock
        self._lock = threading.Lock()
        self._numbers: frozenset[str] = frozenset()
        self._fetched_at: float | None = None
        self._failed_at: float | None = None

    def account_numbers(self, settings: Settings) -> frozenset[str]:
        """The IncomingPhoneNumbers as last read (read now when stale and not failing)."""
        with self._lock:
            now = self.clock()
            fresh = self._fetched_at is not None and now - self._fetched_at < REFRESH
            failing = self._failed_at is not None and now - self._failed_at < RETRY
            if fresh or failing or not settings.twilio_rest_configured:
                return self._numbers
            try:
                self._numbers = frozenset(n.strip() for n in self.fetch(settings) if n)
                self._fetched_at, self._failed_at = now, None
            except Exception as exc:  # Twilio unreachable: the known numbers serve
                self._failed_at = now
                logger.warning(
                    "could not read the account's numbers from Twilio (%s): the loop guard uses "
                    "the numbers it knows",
                    type(exc).__name__,
                )
            return self._numbers

    def get(self, settings: Settings, *also: str | None) -> frozenset[str]:
        """Every number of ours: TWILIO_FROM_NUMBER, `also` (a message's `To`) and the
        account's IncomingPhoneNumbers."""
        known = {n.strip() for n in (settings.twilio_from_number, *also) if n and n.strip()}
        return frozenset(known) | self.account_numbers(settings)

    def forget(self) -> None:
        """Read again on next use (tests)."""
        with self._lock:
            self._numbers, self._fetched_at, self._failed_at = frozenset(), None, None


#: This process's cache.
OWN_NUMBERS = OwnNumbers()
