"""The line a call or text is for: what a webhook asks, and nothing of the operator's API.

- `line_for(number, settings)`: the number's stored line from this instance's cache (0 storage
  reads while warm), else the default line of the app settings;
- `load(number, settings)`: the stored line read from storage (the cache's loader);
- `now(settings)`: the clock line hours are evaluated at, the real one or `LINES_CLOCK` outside
  Azure (a test or the simulator can place a call "at" a chosen instant);
- `usable_line(stored, moment)`: a stored version's Line when it can be evaluated, else None
  (logged once per number and version).

A stored line that cannot be evaluated (a document an older version of the app stored before
its instants were bounded, a bug) never fails a call: `load` answers with the line's last good
version (the newest of the few versions before it that can be evaluated), else with the default
line, and logs one error per process for that version.

Kept apart from `switchboard.lines.service` (which re-exports them) so that a cold webhook
imports neither the operator's API nor the document parser unless a stored line is read.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from switchboard.lines.cache import LineCache
from switchboard.lines.defaults import default_line
from switchboard.lines.hours import state_at
from switchboard.lines.model import Line
from switchboard.lines.store import LineStore, StoredLine
from switchboard.logs import get_logger
from switchboard.phone import mask
from switchboard.settings import Settings

logger = get_logger(__name__)

#: Versions read back from a line's history for its last good one (one query).
LAST_GOOD_LOOKBACK = 5

_lock = threading.Lock()
_caches: dict[int, LineCache] = {}
_started = time.monotonic()
#: (number, version) of stored lines found unusable and logged (once per process each).
_reported: set[tuple[str, int]] = set()


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
    found = _caches.get(ttl)  # every call but the first: one lookup, no lock
    if found is not None:
        return found
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


def usable_line(stored: StoredLine, moment: datetime, *, strict: bool = False) -> Line | None:
    """The Line of a stored version when it can be evaluated (no control characters in its
    text, built, and its state worked out at `moment`), else None; the first failure of each
    version is logged as an error. `strict` (the operator's routes, which may take the time)
    also checks the document against the schema, as a write would have."""
    if stored.document is None:
        return None
    from switchboard.lines import document  # a stored line only: the parser is not small

    try:
        problems = (
            document.stored_problems(stored.document, stored.number)
            if strict
            else document.text_problems(stored.document)
        )
        if problems:
            report_unusable(stored.number, stored.version, str(problems[0]))
            return None
        line = document.build_line(stored.document, stored.number, stored.version)
        state_at(line.schedule, moment)
    except Exception as exc:  # a document stored by an older or broken version
        report_unusable(stored.number, stored.version, type(exc).__name__)
        return None
    return line


def report_unusable(number: str, version: int | None, why: str) -> None:
    """Log that a stored version of a line cannot be used (once per process and version)."""
    key = (number, version or 0)
    with _lock:
        first = key not in _reported
        _reported.add(key)
    if first:
        logger.error(
            "lines: version %d of the line of %s cannot be evaluated (%s); its last good "
            "version or the default line answers",
            version or 0,
            mask(number),
            why,
        )


def load(number: str, settings: Settings) -> Line | None:
    """The stored line of `number` (None: none, deleted, or neither it nor its last few
    versions can be evaluated). Storage errors propagate."""
    store = LineStore.for_calls(settings)
    stored = store.get(number)
    if stored is None or stored.document is None:
        return None
    moment = now(settings)
    line = usable_line(stored, moment)
    if line is not None:
        return line
    for older in store.history(number, LAST_GOOD_LOOKBACK, before_version=stored.version):
        if older.document is None:
            break  # deleted in between: nothing older answers for this line
        line = usable_line(older, moment)
        if line is not None:
            return line
    return None


def line_for(number: str, settings: Settings) -> Line:
    """The line a call or text to `number` is for: its stored line, else the default line."""
    if number:
        found = cache(settings).get(number, lambda n: load(n, settings))
        if found is not None:
            return found
    return default_line(settings)
