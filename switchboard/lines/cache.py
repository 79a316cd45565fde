"""The lines a webhook needs, from memory: 0 storage reads while warm (`LINES_CACHE_SECONDS`).

Each instance keeps what it last read of each number (its Line, or "no line": the default line)
for `LINES_CACHE_SECONDS` (15 by default). A change made elsewhere is seen by every instance
within that time; a change made here is seen here at once (the writer refreshes the entry).

When storage cannot be read, the last known version is kept (however old) and the caller is
answered with it; a number never read falls back to the default line. A caller is always answered,
and while storage is down only one call per number and TTL waits for it to fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from switchboard.lines.model import Line
from switchboard.logs import get_logger
from switchboard.phone import mask

logger = get_logger(__name__)

#: What the cache asks for on a miss: the number's Line, or None when it has none (or is deleted).
Loader = Callable[[str], Line | None]


@dataclass
class _Entry:
    line: Line | None
    fetched: float  # time.monotonic() of the read


class LineCache:
    """Lines by number, each kept for `ttl` seconds; thread-safe."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        #: Storage reads made by this cache (the benchmark and tests count them).
        self.loads = 0

    def get(self, number: str, load: Loader) -> Line | None:
        """The line of `number` (None: the default line), reading storage when stale."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(number)
        if entry is not None and now - entry.fetched < self.ttl:
            return entry.line
        try:
            self.loads += 1
            line = load(number)
        except Exception as exc:  # storage down: the last known version, else the default line
            logger.warning(
                "lines: could not read the line of %s (%s); using %s",
                mask(number),
                type(exc).__name__,
                "the last known version" if entry is not None else "the default line",
            )
            known = entry.line if entry is not None else None
            # Asked again only after a TTL: while storage is down, one call per TTL waits for it.
            self.put(number, known)
            return known
        self.put(number, line)
        return line

    def put(self, number: str, line: Line | None) -> None:
        """Remember `line` as just read (a writer calls this after its write)."""
        with self._lock:
            self._entries[number] = _Entry(line, self._clock())

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._entries.clear()
