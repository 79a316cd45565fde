"""Our own numbers, one answer everywhere: what no automatic text goes to or answers.

- the account's IncomingPhoneNumbers, read from Twilio (the first read time-boxed to
  `TIMEOUT`);
- every stored line (the `Lines` table's current rows: RowKey ``line``, not deleted), read
  from storage;
- `TWILIO_FROM_NUMBER`, and a number a request shows is ours (the `To` of a text Twilio
  delivered to us: `get(settings, *also)`).

A Messaging Service's senders are numbers of the account (a sender pool holds the account's
IncomingPhoneNumbers, short codes and alphanumeric sender IDs, and the last two are never
texted anyway), so the list above covers `TWILIO_MESSAGING_SERVICE_SID` too.

Each instance reads both lists at most once per `REFRESH`; after a failure the numbers it knows
serve and it asks again after `RETRY`. A line written on this instance is known at once
(`remember`). Without the lists, the other rules (one automatic text per subject per window,
no answer to a text we sent, the budget) still end every loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from switchboard.logs import get_logger
from switchboard.settings import Settings

logger = get_logger(__name__)

#: How long an instance keeps the account's numbers and the lines' numbers.
REFRESH = 600.0
#: After a failed read, ask again no sooner than this.
RETRY = 60.0
#: The Twilio read's budget (a webhook waits for it at most once per REFRESH).
TIMEOUT = 2.0
#: The `Lines` table's row holding a line's current version (`switchboard.lines.store`
#: writes it; a unit test checks the two agree).
LINE_ROW = "line"

Fetch = Callable[[Settings], Iterable[str]]


def fetch_from_twilio(settings: Settings) -> list[str]:
    """The account's IncomingPhoneNumbers (imports the Twilio client on first use)."""
    from switchboard.twilio import client as twilio_client

    client = twilio_client.get_client(settings, timeout=TIMEOUT)
    return [n.phone_number for n in twilio_client.list_incoming_numbers(client, 1000)]


def fetch_lines(settings: Settings) -> list[str]:
    """The numbers of every stored line that is not deleted (one query of the `Lines` table's
    current rows; an absent table has none)."""
    from azure.core.exceptions import ResourceNotFoundError

    from switchboard.storage import tables

    table = tables.get_table(settings.table_lines, settings)
    try:
        rows = tables.query(
            table, "RowKey eq @row", {"row": LINE_ROW}, select=["PartitionKey", "Deleted"]
        )
        return [str(r["PartitionKey"]) for r in rows if not r.get("Deleted")]
    except ResourceNotFoundError:
        return []


class _Source:
    """One list of numbers, read at most once per REFRESH (RETRY after a failure)."""

    def __init__(self, name: str, fetch: Fetch, clock: Callable[[], float]) -> None:
        self.name = name
        self.fetch = fetch
        self.clock = clock
        self.numbers: frozenset[str] = frozenset()
        self.fetched_at: float | None = None
        self.failed_at: float | None = None

    def current(self, settings: Settings, enabled: bool) -> frozenset[str]:
        now = self.clock()
        fresh = self.fetched_at is not None and now - self.fetched_at < REFRESH
        failing = self.failed_at is not None and now - self.failed_at < RETRY
        if fresh or failing or not enabled:
            return self.numbers
        try:
            self.numbers = frozenset(n.strip() for n in self.fetch(settings) if n and n.strip())
            self.fetched_at, self.failed_at = now, None
        except Exception as exc:  # unreachable: the known numbers serve
            self.failed_at = now
            logger.warning(
                "could not read %s (%s): the outbound policy uses the numbers it knows",
                self.name,
                type(exc).__name__,
            )
        return self.numbers

    def forget(self) -> None:
        self.numbers, self.fetched_at, self.failed_at = frozenset(), None, None


class OwnNumbers:
    """Our own numbers, cached for the process."""

    def __init__(
        self,
        fetch: Fetch = fetch_from_twilio,
        lines: Fetch = fetch_lines,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._account = _Source("the account's numbers from Twilio", fetch, clock)
        self._lines = _Source("the lines' numbers", lines, clock)
        self._remembered: set[str] = set()

    def account_numbers(self, settings: Settings) -> frozenset[str]:
        """The IncomingPhoneNumbers as last read (read now when stale and not failing)."""
        with self._lock:
            return self._account.current(settings, settings.twilio_rest_configured)

    def known_account_numbers(self, settings: Settings) -> frozenset[str] | None:
        """The IncomingPhoneNumbers, or None when Twilio has not answered yet (not configured,
        or failing): a caller that must not guess (a line's PUT) says so instead."""
        with self._lock:
            numbers = self._account.current(settings, settings.twilio_rest_configured)
            return numbers if self._account.fetched_at is not None else None

    def line_numbers(self, settings: Settings) -> frozenset[str]:
        """The numbers of the stored lines as last read, and those written here since."""
        with self._lock:
            return self._lines.current(settings, True) | self._remembered

    def get(self, settings: Settings, *also: str | None) -> frozenset[str]:
        """Every number of ours: TWILIO_FROM_NUMBER, `also`, the lines and the account's."""
        known = {n.strip() for n in (settings.twilio_from_number, *also) if n and n.strip()}
        return frozenset(known) | self.account_numbers(settings) | self.line_numbers(settings)

    def remember(self, number: str) -> None:
        """A line written on this instance is ours from now on (the next read confirms it)."""
        with self._lock:
            self._remembered.add(number)

    def forget(self) -> None:
        """Read again on next use (tests)."""
        with self._lock:
            self._account.forget()
            self._lines.forget()
            self._remembered.clear()


#: This process's cache.
OWN_NUMBERS = OwnNumbers()
