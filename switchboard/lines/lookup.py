"""The line a call or text is for: what a webhook asks, and nothing of the operator's API.

- `line_for(number, settings)`: the number's stored line from this instance's cache (0 storage
  reads while warm), else the default line of the app settings;
- `load(number, settings)`: the stored line read from storage (the cache's loader);
- `now(settings)`: the clock line hours are evaluated at, the real one or `LINES_CLOCK` outside
  Azure (a test or the simulator can place a call "at" a chosen instant).

Kept apart from `switchboard.lines.service` (which re-exports them) so that a cold webhook
imports neither the operator's API nor the document parser unless a stored line is read.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from switchboard.lines.cache import LineCache
from switchboard.lines.defaults import default_line
from switchboard.lines.model import Line
from switchboard.lines.store import LineStore
from switchboard.logs import get_logger
from switchboard.phone import mask
from switchboard.settings import Settings

logger = get_logger(__name__)

_lock = threading.Lock()
_caches: dict[int, LineCache] = {}
_started = time.monotonic()


# --------------------------------------------------------------------------------------------
# The clock and the line of a call


def now(settings: Settings) -> datetime:
    """Now for line hours: `LINES_CLOCK` (then running on) outside Azure, else the real clock."""
    if settings.lines_clock is not None and not settings.running_in_azure:
        return settings.lines_clock + (
            datetime.fromtimestamp(time.monotonic() - _started, UTC)
            - datetime.fromtimestamp(0, UTC)
        )
    return datetime.now(UTC)


def cache(settings: Settings) -> LineCache:
    """This instance's line cache (`LINES_CACHE_SECONDS`)."""
    ttl = settings.lines_cache_seconds
    with _lock:
        found = _caches.get(ttl)
        if found is None:
            found = _caches[ttl] = LineCache(float(ttl))
        return found


def forget_cached_lines() -> None:
    """Forget every cached line (tests)."""
    with _lock:
        for found in _caches.values():
            found.clear()


def load(number: str, settings: Settings) -> Line | None:
    """The stored line of `number` (None: none, or deleted). Storage errors propagate."""
    stored = LineStore.for_calls(settings).get(number)
    if stored is None or stored.document is None:
        return None
    from switchboard.lines import document  # a stored line only: the parser is not small

    try:
        return document.build_line(stored.document, number, stored.version)
    except Exception as exc:  # a document stored by a newer or broken version: default line
        logger.error(
            "lines: the stored line of %s cannot be read (%s); the default line answers",
            mask(number),
            type(exc).__name__,
        )
        return None


def line_for(number: str, settings: Settings) -> Line:
    """The line a call or text to `number` is for: its stored line, else the default line."""
    if number:
        found = cache(settings).get(number, lambda n: load(n, settings))
        if found is not None:
            return found
    return default_line(settings)
