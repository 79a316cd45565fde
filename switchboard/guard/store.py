"""Where the loop guard keeps its tallies: one row per subject in the OptOut table, beside the
subject's opt-out, so one partition query reads both (the SMS webhook already needed the
opt-out, so the guard adds no read).

Row: PartitionKey = the subject as Twilio writes it (`From`), RowKey = `guard`; for each
purpose, properties named after it (`AutoReply`, `Help`, `Forward`, ... from `Purpose` values):
`<P>Since`, `<P>Count`, `<P>Digest`, `<P>Held`, `<P>Sid`; and `UpdatedAt`. A purpose added later
simply adds its properties (Table Storage entities are schemaless).

Writes are ETag-conditioned (insert when absent, merge with `If-Match` otherwise): two instances
answering the same subject at once cannot both send; the loser re-reads and decides again
(`save` answers None). Tallies live in Table Storage so the guard holds across instances; when
storage cannot be reached, `LOCAL` (this instance's last known tallies, bounded) stands in, so
each instance still texts a subject at most once per window while storage is down.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from switchboard import records
from switchboard.guard.rules import Purpose, Tally
from switchboard.optouts import rules as optout
from switchboard.optouts.rules import OptOutRecord
from switchboard.settings import Settings, get_settings
from switchboard.storage import tables

ROW_KEY = "guard"
#: Subjects whose tallies this instance remembers for storage outages.
LOCAL_LIMIT = 10_000


def prefix(purpose: Purpose) -> str:
    """The property prefix of a purpose: `auto-reply` → `AutoReply`."""
    return "".join(part.capitalize() for part in str(purpose).split("-"))


def tally_from(entity: Mapping[str, Any], purpose: Purpose) -> Tally:
    """A purpose's tally from the guard row (an empty tally when absent)."""
    p = prefix(purpose)
    since = entity.get(f"{p}Since")
    return Tally(
        since=since if isinstance(since, datetime) else None,
        count=int(entity.get(f"{p}Count") or 0),
        digest_sent=bool(entity.get(f"{p}Digest")),
        held=int(entity.get(f"{p}Held") or 0),
        last_sid=entity.get(f"{p}Sid") or None,
    )


def tally_properties(purpose: Purpose, tally: Tally) -> dict[str, Any]:
    """A purpose's tally as guard-row properties."""
    p = prefix(purpose)
    return {
        f"{p}Since": tally.since,
        f"{p}Count": tally.count,
        f"{p}Digest": tally.digest_sent,
        f"{p}Held": tally.held,
        f"{p}Sid": tally.last_sid or "",
    }


@dataclass(frozen=True)
class SenderState:
    """What the OptOut table says about one subject: its opt-out and the guard's tallies."""

    subject: str
    opt_out: OptOutRecord | None = None
    tallies: dict[Purpose, Tally] = field(default_factory=dict)
    #: The guard row's ETag (None: no row yet); None with `stored=False`: not read from storage.
    etag: str | None = None
    stored: bool = True

    def tally(self, purpose: Purpose) -> Tally:
        """The tally of `purpose` (empty when none)."""
        return self.tallies.get(purpose, Tally())


class GuardStore:
    """The guard rows of the OptOut table (`TABLE_OPT_OUT`)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> GuardStore:
        """The store on the OptOut table."""
        s = settings or get_settings()
        return cls(tables.get_table(s.table_opt_out, s))

    def load(self, subject: str) -> SenderState:
        """The subject's opt-out and tallies: one partition query (at most two rows)."""
        key = optout.normalise_number(subject)
        if not records.is_valid_key(key):
            return SenderState(key)
        opt_out: OptOutRecord | None = None
        tallies: dict[Purpose, Tally] = {}
        etag: str | None = None
        for entity in tables.query(self.table, "PartitionKey eq @pk", {"pk": key}):
            if entity.get("RowKey") == optout.ROW_KEY:
                opt_out = optout.from_entity(dict(entity))
            elif entity.get("RowKey") == ROW_KEY:
                etag = tables.etag_of(entity)
                tallies = {p: tally_from(entity, p) for p in Purpose}
        return SenderState(key, opt_out, tallies, etag)

    def save(self, subject: str, changed: Mapping[Purpose, Tally], etag: str | None) -> str | None:
        """Write the changed tallies: insert when the row was absent (`etag` None), else merge
        under `If-Match`. The new ETag, or None when another instance wrote first (re-read and
        decide again)."""
        key = optout.normalise_number(subject)
        entity: dict[str, Any] = {"PartitionKey": key, "RowKey": ROW_KEY}
        for purpose, tally in changed.items():
            entity.update(tally_properties(purpose, tally))
        entity["UpdatedAt"] = records.utcnow()
        try:
            if etag is None:
                written = self.table.create_entity(entity)
            else:
                written = self.table.update_entity(
                    entity,
                    mode=UpdateMode.MERGE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return None
        return str(written.get("etag") or "") or "written"


class LocalTallies:
    """This instance's last known tallies per subject (bounded, least recently used dropped):
    what the guard decides from when storage cannot be read."""

    def __init__(self, limit: int = LOCAL_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._known: OrderedDict[str, dict[Purpose, Tally]] = OrderedDict()

    def get(self, subject: str) -> dict[Purpose, Tally]:
        """The tallies last known for `subject` (empty when none)."""
        with self._lock:
            found = self._known.get(subject)
            if found is None:
                return {}
            self._known.move_to_end(subject)
            return dict(found)

    def put(self, subject: str, tallies: Mapping[Purpose, Tally]) -> None:
        """Remember `subject`'s tallies."""
        with self._lock:
            merged = {**self._known.pop(subject, {}), **tallies}
            self._known[subject] = merged
            while len(self._known) > self.limit:
                self._known.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._known.clear()


#: This process's tallies, for storage outages.
LOCAL = LocalTallies()
