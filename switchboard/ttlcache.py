"""What an instance keeps of what it read, for a while: a webhook's answer from memory.

`TtlCache` keeps each key's value for `ttl` seconds (at most `size` keys when bounded, the least
recently used going first). A miss or a stale entry asks its loader; when the loader fails
(storage down) the last known value is kept, however old, else the `missing` value, and it is
asked again only after another TTL: while storage is down, one request per key and TTL waits for
it, and every request is answered. A writer puts what it wrote, so its own instance hears a
change at once; the others within the TTL. Lines and contacts keep their reads here.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from switchboard.logs import get_logger
from switchboard.phone import mask

logger = get_logger(__name__)

V = TypeVar("V")


class TtlCache(Generic[V]):
    """Values by key (a phone number), each kept for `ttl` seconds; thread-safe.

    `what` names a value in the log ("line", "contact"); `missing` is the answer when a key was
    never read and its loader fails, and `fallback` says what that answer means to a reader.
    """

    def __init__(
        self,
        ttl: float,
        *,
        missing: V,
        what: str,
        fallback: str,
        size: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self._missing = missing
        self._what = what
        self._fallback = fallback
        self._clock = clock
        # Each key's (value, the clock's time of its read): a pair, not a class of its own (one
        # class fewer for every cold start to define).
        self._entries: OrderedDict[str, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()
        #: Storage reads made by this cache (the benchmark and tests count them).
        self.loads = 0

    def get(self, key: str, load: Callable[[str], V]) -> V:
        """The value of `key`, reading it with `load` when absent or stale."""
        now = self._clock()
        if self.size is None:
            entry = self._entries.get(key)  # one step under the GIL; no order to keep
        else:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
        if entry is not None and now - entry[1] < self.ttl:
            return entry[0]
        try:
            with self._lock:
                self.loads += 1
            value = load(key)
        except Exception as exc:  # storage down: the last known value, else `missing`
            logger.warning(
                "could not read the %s of %s (%s); using %s",
                self._what,
                mask(key),
                type(exc).__name__,
                "the last known one" if entry is not None else self._fallback,
            )
            known = entry[0] if entry is not None else self._missing
            self.put(key, known)  # asked again after a TTL: one wait per key and TTL
            return known
        self.put(key, value)
        return value

    def fresh(self, key: str) -> bool:
        """Whether `key` is known and younger than the TTL (`get` would read nothing)."""
        with self._lock:
            entry = self._entries.get(key)
        return entry is not None and self._clock() - entry[1] < self.ttl

    def put(self, key: str, value: V) -> None:
        """Remember `value` as just read (a writer calls this after its write)."""
        with self._lock:
            self._entries[key] = (value, self._clock())
            self._entries.move_to_end(key)
            while self.size is not None and len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (tests), the count of reads too: a test that counts them starts
        from nothing, whatever ran before it in the process."""
        with self._lock:
            self._entries.clear()
            self.loads = 0
