"""The lines a webhook needs, from memory: 0 storage reads while warm (`LINES_CACHE_SECONDS`).

Each instance keeps what it last read of each number (its Line, or "no line": the default line)
for `LINES_CACHE_SECONDS` (15 by default). A change made elsewhere is seen by every instance
within that time; a change made here is seen here at once (the writer refreshes the entry).

When storage cannot be read, the last known version is kept (however old) and the caller is
answered with it; a number never read falls back to the default line. A caller is always answered,
and while storage is down only one call per number and TTL waits for it to fail
(`switchboard.ttlcache`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from switchboard.lines.model import Line
from switchboard.ttlcache import TtlCache

#: What the cache asks for on a miss: the number's Line, or None when it has none (or is deleted).
Loader = Callable[[str], Line | None]


class LineCache(TtlCache[Line | None]):
    """Lines by number (None: the default line), each kept for `ttl` seconds; thread-safe."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl, missing=None, what="line", fallback="the default line", clock=clock)
