"""Where the outbound policy keeps what it counts: rows in the OptOut table.

The OptOut table is the per-number table of what decides whether the app may text a number;
anything listing opt-outs filters on RowKey ``optout``.

Subject rows (`SubjectStore`), one per outsider and line: PartitionKey = the subject as Twilio
writes it (`From`), RowKey = ``guard-<line number>``, beside the subject's opt-out (RowKey
``optout``), so one partition query (`load`) returns both (the SMS webhook already needed the
opt-out, so the windows add no read). Properties per purpose (`AutoReply`, `Help`, `Forward`,
`TextBack`, ... from `Purpose` values): `<P>Since`, `<P>Count`, `<P>Digest`, `<P>Held`,
`<P>Sid`; `Sent` (the digests of the last automatic texts to the subject, JSON), `Line`,
`UpdatedAt`. Written under the row's ETag (insert when absent, merge with `If-Match`): two
instances answering the same subject at once cannot both send; the loser reads and decides
again (`save` answers None). When storage cannot be read, nothing automatic goes out (the
line's budget cannot be known either): the outbound policy fails closed. Other rows a capability
keeps in the subject's partition come back with the same query when `load` is asked for them
(`also`: the reminders awaiting the subject's reply, `switchboard.schedules.replies`), so a
webhook that reads the partition anyway reads them for nothing.

Budget rows (`BudgetStore`), one per line, all in one partition so that `GET /api/health`
reads every line's in one query: PartitionKey = ``budget``, RowKey = the line's number.
Properties: `Day` (the line's local date), `Sent`, `Recent` (``<epoch s>:<key>`` of the burst
window's texts, ``;``-separated), `Skipped`, `Emails`, `EmailKeys` (JSON), `EmailsSkipped`,
`Relays`, `RelayKeys` (JSON), `RelaysSkipped` (the relay ceiling),
`Paused` (why, or empty), `PausedAt`, `TimeZone`, `UpdatedAt`. Every change is written under
the row's ETag, so no increment is ever lost across instances; each instance keeps the row it
last wrote (`WARM`) and writes its next change under that ETag straight away: an automatic
text costs one round trip while no other instance wrote in between (two when one did: the
conditional write fails, the row is read, the write is made again), and a webhook that sends
nothing automatic costs none.

Delivery problem rows (`ProblemStore`), one per line and kind of problem
(`switchboard.outbound.problems`: a text not registered, or filtered), all in one partition:
PartitionKey = ``delivery``, RowKey = ``<kind>-<line number>`` (``registration-+15017122661``).
Properties: `Kind`, `Line`, `Count`, `Since`, `Last`, `Codes` (JSON: code → texts),
`LastError` (Twilio's words), `ToldAt`, `Told` (how the owner was told, or why not),
`UpdatedAt`. Written under the row's ETag from the warm copy like the budget rows
(`ConditionalRows`, shared by both): a status callback that carries such a code costs one round
trip more on an instance that knows the row, and the conditional write that claims the owner's
notice is what makes it one notice, whatever the number of instances.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from switchboard import records
from switchboard.optouts import rules as optout
from switchboard.optouts.rules import OptOutRecord
from switchboard.outbound.budget import Budget
from switchboard.outbound.problems import DeliveryProblem, Kind
from switchboard.outbound.purposes import Purpose
from switchboard.outbound.windows import Tally
from switchboard.settings import Settings
from switchboard.storage import tables

T = TypeVar("T")
R = TypeVar("R")

ROW_PREFIX = "guard-"
BUDGET_PARTITION = "budget"
PROBLEM_PARTITION = "delivery"
#: The budget row of messages whose line is not known (a Messaging Service without a sender).
UNKNOWN_LINE = "unknown"
#: Rounds of conditional writes before giving up (other instances keep writing first): a
#: subject's row sees one writer at a time but for a retry; a line's budget row sees every
#: instance at once during an attack.
ROUNDS = 5
BUDGET_ROUNDS = 12


class Contended(RuntimeError):
    """Every round lost its write to another instance: nothing automatic goes out."""


def _written(result: Any) -> str:
    return str((result or {}).get("etag") or "") or "written"


def _conditional(table: TableClient, entity: dict[str, Any], etag: str | None) -> str | None:
    """Insert (no ETag) or merge under `etag`; the new ETag, or None when someone wrote first."""
    try:
        if etag is None:
            return _written(table.create_entity(entity))
        return _written(
            table.update_entity(
                entity,
                mode=UpdateMode.MERGE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        )
    except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
        return None


# --------------------------------------------------------------------------------------------
# Subject rows


def prefix(purpose: Purpose) -> str:
    """The property prefix of a purpose: `auto-reply` → `AutoReply`."""
    return "".join(part.capitalize() for part in str(purpose).split("-"))


def tally_from(entity: Mapping[str, Any], purpose: Purpose) -> Tally:
    """A purpose's tally from a subject row (an empty tally when absent)."""
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
    """A purpose's tally as subject-row properties."""
    p = prefix(purpose)
    return {
        f"{p}Since": tally.since,
        f"{p}Count": tally.count,
        f"{p}Digest": tally.digest_sent,
        f"{p}Held": tally.held,
        f"{p}Sid": tally.last_sid or "",
    }


def _digests(raw: Any) -> tuple[str, ...]:
    try:
        found = json.loads(raw) if isinstance(raw, str) and raw else []
    except ValueError:
        return ()
    return tuple(str(d) for d in found if isinstance(d, str)) if isinstance(found, list) else ()


@dataclass(frozen=True)
class SenderState:
    """What the OptOut table says about one subject on one line: its opt-out, its tallies, the
    digests of the automatic texts sent to it."""

    subject: str
    line: str = ""
    opt_out: OptOutRecord | None = None
    tallies: dict[Purpose, Tally] = field(default_factory=dict)
    sent: tuple[str, ...] = ()
    #: The subject row's ETag (None: no row yet); with `stored=False`: not read from storage.
    etag: str | None = None
    stored: bool = True
    #: The other rows of the partition `load` was asked for (`also`), by RowKey, as read.
    rows: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def tally(self, purpose: Purpose) -> Tally:
        """The tally of `purpose` (empty when none)."""
        return self.tallies.get(purpose, Tally())


def subject_row(line: str) -> str:
    """The RowKey of a subject's row for `line`."""
    return ROW_PREFIX + (line or UNKNOWN_LINE)


class SubjectStore:
    """Subject rows of the OptOut table (`TABLE_OPT_OUT`)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings) -> SubjectStore:
        """The store on the OptOut table."""
        return cls(tables.get_table(settings.table_opt_out, settings))

    def load(self, subject: str, line: str, also: Sequence[str] = ()) -> SenderState:
        """The subject's opt-out, its row for `line` and the rows `also` names: one partition
        query (at most 2 + len(also) rows)."""
        key = optout.normalise_number(subject)
        row = subject_row(line)
        if not (records.is_valid_key(key) and records.is_valid_key(row)):
            return SenderState(key, line)
        extra = [k for k in dict.fromkeys(also) if records.is_valid_key(k) and k != row]
        opt_out: OptOutRecord | None = None
        found: Mapping[str, Any] | None = None
        rows: dict[str, Mapping[str, Any]] = {}
        # The SDK binds a parameter only when whitespace surrounds it: "( ... @row )".
        wanted = " or ".join(
            [
                "RowKey eq @optout",
                "RowKey eq @row",
                *(f"RowKey eq @also{n}" for n in range(len(extra))),
            ]
        )
        parameters = {"pk": key, "optout": optout.ROW_KEY, "row": row}
        parameters.update({f"also{n}": k for n, k in enumerate(extra)})
        for entity in tables.query(self.table, f"PartitionKey eq @pk and ( {wanted} )", parameters):
            if entity.get("RowKey") == optout.ROW_KEY:
                opt_out = optout.from_entity(dict(entity))
            elif entity.get("RowKey") == row:
                found = entity
            else:
                rows[str(entity.get("RowKey"))] = entity
        if found is None:
            return SenderState(key, line, opt_out, rows=rows)
        return SenderState(
            key,
            line,
            opt_out,
            {p: tally_from(found, p) for p in Purpose if f"{prefix(p)}Since" in found},
            _digests(found.get("Sent")),
            tables.etag_of(found),
            rows=rows,
        )

    def save(
        self,
        subject: str,
        line: str,
        changed: Mapping[Purpose, Tally],
        sent: tuple[str, ...] | None,
        etag: str | None,
    ) -> str | None:
        """Write the changed tallies (and the sent digests when given): insert when the row was
        absent (`etag` None), else merge under `If-Match`. The new ETag, or None when another
        instance wrote first (read and decide again)."""
        key = optout.normalise_number(subject)
        row = subject_row(line)
        if not (records.is_valid_key(key) and records.is_valid_key(row)):
            return "not stored"  # a subject that cannot key a row: nothing to remember
        entity: dict[str, Any] = {"PartitionKey": key, "RowKey": row, "Line": line}
        for purpose, tally in changed.items():
            entity.update(tally_properties(purpose, tally))
        if sent is not None:
            entity["Sent"] = json.dumps(list(sent))
        entity["UpdatedAt"] = records.utcnow()
        return _conditional(self.table, entity, etag)


# --------------------------------------------------------------------------------------------
# Budget rows


def _recent_text(recent: tuple[tuple[int, str], ...]) -> str:
    return ";".join(f"{at}:{key}" for at, key in recent)


def _recent_from(raw: Any) -> tuple[tuple[int, str], ...]:
    found: list[tuple[int, str]] = []
    for item in str(raw or "").split(";"):
        at, _, key = item.partition(":")
        if at.isdigit():
            found.append((int(at), key))
    return tuple(found)


def budget_from(entity: Mapping[str, Any]) -> Budget:
    """A line's budget from its row."""
    day = entity.get("Day")
    try:
        parsed = date.fromisoformat(str(day)) if day else None
    except ValueError:
        parsed = None
    paused_at = entity.get("PausedAt")
    return Budget(
        day=parsed,
        sent=int(entity.get("Sent") or 0),
        recent=_recent_from(entity.get("Recent")),
        skipped=int(entity.get("Skipped") or 0),
        emails=int(entity.get("Emails") or 0),
        email_keys=_digests(entity.get("EmailKeys")),
        emails_skipped=int(entity.get("EmailsSkipped") or 0),
        relays=int(entity.get("Relays") or 0),
        relay_keys=_digests(entity.get("RelayKeys")),
        relays_skipped=int(entity.get("RelaysSkipped") or 0),
        paused=str(entity.get("Paused") or "") or None,
        paused_at=paused_at if isinstance(paused_at, datetime) else None,
        time_zone=str(entity.get("TimeZone") or "UTC"),
    )


def budget_properties(budget: Budget) -> dict[str, Any]:
    """A line's budget as row properties."""
    return {
        "Day": budget.day.isoformat() if budget.day else "",
        "Sent": budget.sent,
        "Recent": _recent_text(budget.recent),
        "Skipped": budget.skipped,
        "Emails": budget.emails,
        "EmailKeys": json.dumps(list(budget.email_keys)),
        "EmailsSkipped": budget.emails_skipped,
        "Relays": budget.relays,
        "RelayKeys": json.dumps(list(budget.relay_keys)),
        "RelaysSkipped": budget.relays_skipped,
        "Paused": budget.paused or "",
        "PausedAt": budget.paused_at,
        "TimeZone": budget.time_zone,
    }


def budget_key(line: str) -> str:
    """The RowKey of a line's budget row."""
    return line if line and records.is_valid_key(line) else UNKNOWN_LINE


class WarmRows:
    """The conditional rows this instance last read or wrote, with their ETags (thread-safe):
    keyed by the store (its table and partition) and the row."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], tuple[Any, str | None]] = {}

    def get(self, table: str, row: str) -> tuple[Any, str | None] | None:
        """The row as last known (with its ETag; None ETag: known absent)."""
        with self._lock:
            return self._rows.get((table, row))

    def put(self, table: str, row: str, value: Any, etag: str | None) -> None:
        """Remember a row as just read or written."""
        with self._lock:
            self._rows[(table, row)] = (value, etag)

    def drop(self, table: str, row: str) -> None:
        """Forget a row (another instance wrote it)."""
        with self._lock:
            self._rows.pop((table, row), None)

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._rows.clear()


#: This process's budget and problem rows.
WARM = WarmRows()


class ConditionalRows(Generic[T]):
    """Rows of one partition of the OptOut table, each changed only under its ETag, from this
    instance's warm copy first (see the module doc). A subclass says how a row reads and
    writes (`parse`, `properties`) and what an absent row is (`empty`)."""

    partition: str = ""

    def __init__(self, table: TableClient, warm: WarmRows = WARM) -> None:
        self.table = table
        self.warm = warm
        # The account's URL (a TableClient's `url` stops there) and the table's name: two tables
        # of one account (each test's own, in a shared process) never share a warm row.
        where = getattr(table, "url", "") or str(id(table))
        self._name = f"{where}/{getattr(table, 'table_name', '')}/{self.partition}"

    def parse(self, key: str, entity: Mapping[str, Any]) -> T:
        """A row's value."""
        raise NotImplementedError

    def properties(self, value: T) -> dict[str, Any]:
        """A value as row properties."""
        raise NotImplementedError

    def empty(self, key: str) -> T:
        """The value of an absent row."""
        raise NotImplementedError

    def read(self, key: str) -> tuple[T, str | None]:
        """A row as stored, and its ETag (None: no row)."""
        entity = tables.get_or_none(self.table, self.partition, key)
        if entity is None:
            found: tuple[T, str | None] = (self.empty(key), None)
        else:
            found = (self.parse(key, entity), tables.etag_of(entity))
        self.warm.put(self._name, key, *found)
        return found

    def change(self, key: str, decide: Callable[[T], tuple[R, T | None]]) -> R:
        """Apply `decide(value) -> (result, new value or None)` to a row under its ETag: from
        this instance's warm copy first, read again when another instance wrote in between.
        Raises `Contended` after `BUDGET_ROUNDS` lost writes, and storage errors."""
        for _ in range(BUDGET_ROUNDS):
            known = self.warm.get(self._name, key)
            value, etag = known if known is not None else self.read(key)
            result, changed = decide(value)
            if changed is None or changed == value:
                return result
            entity = {
                "PartitionKey": self.partition,
                "RowKey": key,
                **self.properties(changed),
                "UpdatedAt": records.utcnow(),
            }
            try:
                written = _conditional(self.table, entity, etag)
            except Exception:
                self.warm.drop(self._name, key)
                raise
            if written is not None:
                self.warm.put(self._name, key, changed, written)
                return result
            self.warm.drop(self._name, key)
        raise Contended(f"{self.partition} row {key}: {BUDGET_ROUNDS} writes lost to others")

    def all(self) -> dict[str, T]:
        """Every row of the partition (one query): RowKey → value."""
        return {
            str(entity["RowKey"]): self.parse(str(entity["RowKey"]), entity)
            for entity in tables.query(self.table, "PartitionKey eq @pk", {"pk": self.partition})
        }

    def delete(self, key: str) -> bool:
        """Remove a row (True when there was one; the SDK's delete succeeds either way)."""
        self.warm.drop(self._name, key)
        if tables.get_or_none(self.table, self.partition, key) is None:
            return False
        self.table.delete_entity(self.partition, key)
        return True


class BudgetStore(ConditionalRows[Budget]):
    """Budget rows of the OptOut table (PartitionKey ``budget``, RowKey the line's number)."""

    partition = BUDGET_PARTITION

    @classmethod
    def from_settings(cls, settings: Settings) -> BudgetStore:
        """The store on the OptOut table."""
        return cls(tables.get_table(settings.table_opt_out, settings))

    def parse(self, key: str, entity: Mapping[str, Any]) -> Budget:
        """A line's budget from its row."""
        return budget_from(entity)

    def properties(self, value: Budget) -> dict[str, Any]:
        """A line's budget as row properties."""
        return budget_properties(value)

    def empty(self, key: str) -> Budget:
        """No budget spent yet."""
        return Budget()

    def read(self, key: str) -> tuple[Budget, str | None]:
        """A line's budget row as stored, and its ETag (None: no row)."""
        return super().read(budget_key(key))

    def change(self, key: str, decide: Callable[[Budget], tuple[R, Budget | None]]) -> R:
        """Change a line's budget under its row's ETag (see `ConditionalRows.change`)."""
        return super().change(budget_key(key), decide)


# --------------------------------------------------------------------------------------------
# Delivery problem rows


def problem_key(kind: Kind, line: str) -> str:
    """The RowKey of a line's problem row of `kind`: ``registration-+15017122661``."""
    key = f"{kind.value}-{line or UNKNOWN_LINE}"
    return key if records.is_valid_key(key) else f"{kind.value}-{UNKNOWN_LINE}"


def _key_parts(key: str) -> tuple[Kind, str]:
    kind, _, line = key.partition("-")
    try:
        return Kind(kind), line
    except ValueError:
        return Kind.REGISTRATION, line


def _moment(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def problem_from(key: str, entity: Mapping[str, Any]) -> DeliveryProblem:
    """A line's delivery problem from its row."""
    kind, line = _key_parts(key)
    try:
        raw = json.loads(str(entity.get("Codes") or "{}"))
    except ValueError:
        raw = {}
    codes = tuple(
        sorted(
            (int(code), int(n))
            for code, n in (raw.items() if isinstance(raw, dict) else ())
            if str(code).isdigit() and isinstance(n, int)
        )
    )
    return DeliveryProblem(
        line=str(entity.get("Line") or line),
        kind=kind,
        count=int(entity.get("Count") or 0),
        since=_moment(entity.get("Since")),
        last=_moment(entity.get("Last")),
        codes=codes,
        error=str(entity.get("LastError") or ""),
        told_at=_moment(entity.get("ToldAt")),
        told=str(entity.get("Told") or ""),
    )


def problem_properties(problem: DeliveryProblem) -> dict[str, Any]:
    """A line's delivery problem as row properties."""
    return {
        "Kind": problem.kind.value,
        "Line": problem.line,
        "Count": problem.count,
        "Since": problem.since,
        "Last": problem.last,
        "Codes": json.dumps({str(code): n for code, n in problem.codes}),
        "LastError": problem.error,
        "ToldAt": problem.told_at,
        "Told": problem.told,
    }


class ProblemStore(ConditionalRows[DeliveryProblem]):
    """Delivery problem rows of the OptOut table: PartitionKey ``delivery``, RowKey
    ``<kind>-<line>`` (`problem_key`); every line's in one partition, so a report reads them in
    one query. Written under the row's ETag like the budget rows (a warm instance counts a
    failure in one round trip)."""

    partition = PROBLEM_PARTITION

    @classmethod
    def from_settings(cls, settings: Settings) -> ProblemStore:
        """The store on the OptOut table."""
        return cls(tables.get_table(settings.table_opt_out, settings))

    def parse(self, key: str, entity: Mapping[str, Any]) -> DeliveryProblem:
        """A problem from its row."""
        return problem_from(key, entity)

    def properties(self, value: DeliveryProblem) -> dict[str, Any]:
        """A problem as row properties."""
        return problem_properties(value)

    def empty(self, key: str) -> DeliveryProblem:
        """No failure counted yet."""
        kind, line = _key_parts(key)
        return DeliveryProblem(line, kind)
