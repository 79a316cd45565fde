"""The `Conversations` table (`TABLE_CONVERSATIONS`): every line's conversations, their tags,
their activity index, the relay's pointers and the change markers, in one partition for the
business (the design: `switchboard.conversations.rules`).

    PartitionKey = ``account`` (every row)
      RowKey ``<line>|c-<customer>``          the conversation's state (`rules.state_row`)
      RowKey ``<line>|t-<tag>``               `Customer`: whose conversation a tag names
      RowKey ``<line>|o-<inverted ms>-<customer>`` / ``<line>|d-...``   the activity index
                                              (open / done)
      RowKey ``<line>|r-<relay person>``      `Customer`, `Tag`, `At`: the conversation last
                                              relayed to that person (where their plain
                                              replies go)
      RowKey ``line|<line>``                  `NextTag`: the sequence of the line's next tag;
                                              the rows of this family list the lines that
                                              have conversations (one range read)
      RowKey ``changed|<line>``, ``changed``  `At`: the line's and the account's change
                                              markers, replaced by every transaction (a
                                              poller's validator: `marker`)

One partition holds a small business's conversations with room to spare (Azure's target for a
partition is 2,000 entities a second: a few hundred texts' transactions of about six rows; a
busy shop gets a few texts a minute), and lets every write be one transaction with the rows all
lines share. Every write of a conversation is one transaction,
conditioned on the state row's ETag (a new conversation: inserted, with its tag's row and the
line's counter under its ETag; the line's first: the counter inserted), so two instances
recording events of one conversation at once never lose one and never give two conversations
one tag: the loser reads again and applies its event to what won. An event costs two round
trips (the state row and the counter read in one query, then the transaction), none when it
was recorded already (a retry).
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from switchboard.conversations import rules
from switchboard.conversations.rules import Change, Conversation, Cursor, Event
from switchboard.logs import get_logger
from switchboard.settings import Settings
from switchboard.storage import tables

logger = get_logger(__name__)

#: Rounds of a write lost to another instance before giving up, and the most a round waits
#: before the next: a random share of a window that doubles each round up to `BACKOFF_CAP`
#: (instances that collided do not collide again in step, and a crowd of them on one line
#: spreads out within a few rounds; sixteen lost in a row wait at most about 4.6 s in all,
#: inside the 15 s Twilio gives a webhook).
ROUNDS = 16
BACKOFF = 0.02
BACKOFF_CAP = 0.4
_CONFLICTS = frozenset({404, 409, 412})
#: Operations Table Storage takes in one transaction.
MAX_TRANSACTION = 100


class Contended(RuntimeError):
    """Every round lost its write to other instances."""


@dataclass(frozen=True)
class Loaded:
    """A conversation's state row and the line's counter, as read (with their ETags)."""

    conversation: Conversation | None
    etag: str | None
    next_tag: int
    meta_etag: str | None


@dataclass(frozen=True)
class Recorded:
    """What recording an event did: the conversation after it, whether it was new, and
    whether anything was written (False: the event was recorded already)."""

    conversation: Conversation
    created: bool
    written: bool


@dataclass(frozen=True)
class Page:
    """A page of conversations, newest activity first, and the cursor of the next."""

    items: list[Conversation]
    next_cursor: Cursor | None


class ConversationStore:
    """The conversations of every line (see the module doc)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversationStore:
        """The store on `TABLE_CONVERSATIONS`."""
        return cls(tables.get_table(settings.table_conversations, settings))

    # --- reads ----------------------------------------------------------------------------

    def load(self, line: str, customer: str) -> Loaded:
        """The conversation's state row and the line's counter: one query (≤ 2 rows)."""
        # The SDK binds a parameter only when whitespace surrounds it: "( ... @row )".
        query = "PartitionKey eq @pk and ( RowKey eq @state or RowKey eq @meta )"
        state_key = rules.state_key(line, customer)
        conversation: Conversation | None = None
        etag: str | None = None
        next_tag, meta_etag = 0, None
        found = tables.query(
            self.table,
            query,
            {"pk": rules.PARTITION, "state": state_key, "meta": rules.line_key(line)},
        )
        for entity in found:
            if entity.get("RowKey") == state_key:
                conversation, etag = rules.from_row(entity, line), tables.etag_of(entity)
            else:
                next_tag = max(0, int(entity.get("NextTag") or 0))
                meta_etag = tables.etag_of(entity)
        return Loaded(conversation, etag, next_tag, meta_etag)

    def get(self, line: str, customer: str) -> Conversation | None:
        """A conversation's state (one point read), or None."""
        if not rules.keyable(line, customer):
            return None
        found = tables.get_or_none(self.table, rules.PARTITION, rules.state_key(line, customer))
        return rules.from_row(found, line) if found is not None else None

    def customer_of_tag(self, line: str, tag: str) -> str | None:
        """Whose conversation `tag` names on `line` (one point read), or None."""
        if rules.LINE_END in line:
            return None
        found = tables.get_or_none(self.table, rules.PARTITION, rules.tag_key(line, tag))
        return str(found["Customer"]) if found is not None and found.get("Customer") else None

    def pointer(self, line: str, person: str) -> tuple[str, str] | None:
        """(customer, tag) of the last text relayed to `person` on `line` (one point read)."""
        if rules.LINE_END in line:
            return None
        found = tables.get_or_none(self.table, rules.PARTITION, rules.relay_key(line, person))
        if found is None or not found.get("Customer"):
            return None
        return str(found["Customer"]), str(found.get("Tag") or "")

    def marker(self, key: str) -> str | None:
        """The ETag of one change marker (`rules.view_marker_key`; None: never written): one
        point read. Anything a list of its lines shows moves it."""
        row = tables.get_or_none(self.table, rules.PARTITION, key)
        return tables.etag_of(row) if row is not None else None

    def probe(self, line: str, customer: str) -> tuple[str | None, str | None]:
        """The ETags of a conversation's state row (it moves with every event and change of
        the conversation) and of its line's change marker (None: absent), in one query: a poll
        of the conversation reads nothing else."""
        if not rules.keyable(line, customer):
            return None, None
        state_key, marker_key = rules.state_key(line, customer), rules.line_marker_key(line)
        found = {
            str(row["RowKey"]): tables.etag_of(row)
            for row in tables.query(
                self.table,
                "PartitionKey eq @pk and ( RowKey eq @state or RowKey eq @marker )",
                {"pk": rules.PARTITION, "state": state_key, "marker": marker_key},
            )
        }
        return found.get(state_key), found.get(marker_key)

    def known_lines(self) -> list[str]:
        """Every line that has conversations (one range read of the lines' rows)."""
        return self._family(rules.LINE_ROW_PREFIX)

    def _family(self, prefix: str) -> list[str]:
        """The lines of a family of rows (``line|<line>``, ``changed|<line>``)."""
        low, high = rules.family_bounds(prefix)
        rows = tables.query(
            self.table,
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": rules.PARTITION, "low": low, "high": high},
            select=["RowKey"],
        )
        return sorted(str(row["RowKey"])[len(prefix) :] for row in rows)

    def page(
        self, lines: Sequence[str], states: Sequence[str], cursor: Cursor | None, limit: int
    ) -> Page:
        """A page of the conversations of `lines` in `states`, newest activity first, after
        `cursor`: the ranges of the lines' activity index merged, each read in pages of its
        share (`rules.page_size`), so the entities read follow the page, not the history."""
        ranges = [(line, state) for line in lines for state in states]
        if not ranges or limit < 1:
            return Page([], None)
        size = rules.page_size(limit, len(ranges))
        streams = [self._range(line, state, cursor, size) for line, state in ranges]
        found: list[tuple[tuple[str, str], Conversation]] = []
        for sort_key, conversation in heapq.merge(*streams, key=lambda item: item[0]):
            found.append((sort_key, conversation))
            if len(found) > limit:
                break
        items = [c for _, c in found[:limit]]
        more = len(found) > limit
        last = found[limit - 1][0] if more else None
        return Page(items, Cursor(*last) if last is not None else None)

    def _range(
        self, line: str, state: str, cursor: Cursor | None, size: int
    ) -> Iterator[tuple[tuple[str, str], Conversation]]:
        low, high = rules.range_bounds(line, state, cursor)
        rows = tables.query(
            self.table,
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": rules.PARTITION, "low": low, "high": high},
            page_size=size,
        )
        for row in rows:
            suffix = rules.suffix_of(str(row["RowKey"]))
            if cursor is not None and not cursor.admits(suffix, line):
                continue
            yield (suffix, line), rules.from_row(row, line)

    # --- writes ---------------------------------------------------------------------------

    def record(
        self,
        line: str,
        customer: str,
        event: Event,
        *,
        now: datetime,
        relayed_to: Iterable[str] = (),
        loaded: Loaded | None = None,
    ) -> Recorded:
        """Apply `event` to the conversation (line, customer), creating it with the line's
        next tag when it has none; `relayed_to`: relay people whose pointer moves to it, in
        the same transaction. `loaded`: what the caller read just before (saves the read)."""
        people = tuple(relayed_to)
        known = loaded
        for round_ in range(ROUNDS):
            _back_off(round_)
            current = known if known is not None else self.load(line, customer)
            known = None
            created = current.conversation is None
            base = current.conversation or rules.new_conversation(
                line, customer, rules.tag_for(current.next_tag), now
            )
            after = rules.apply_event(base, event)
            if after is None:
                assert current.conversation is not None
                return Recorded(current.conversation, False, False)
            operations = self._state_operations(base if not created else None, after, current)
            for person in people:
                operations.append(("upsert", _pointer(line, person, after, now), _REPLACE))
            if self._submit([*operations, *_markers([line], now)]):
                return Recorded(after, created, True)
        raise Contended(f"conversation of line {line}: every write lost to other instances")

    def change(
        self, line: str, customer: str, change: Change, *, now: datetime
    ) -> Conversation | None:
        """Apply someone's change (state, assignment, read mark); None: no such conversation."""
        for round_ in range(ROUNDS):
            _back_off(round_)
            current = self.load(line, customer)
            if current.conversation is None:
                return None
            after = rules.apply_change(current.conversation, change, now)
            if after == current.conversation:
                return after
            operations = self._state_operations(current.conversation, after, current)
            if self._submit([*operations, *_markers([line], now)]):
                return after
        raise Contended(f"conversation of line {line}: every write lost to other instances")

    def touch_markers(self, lines: Iterable[str] | None, *, now: datetime) -> int:
        """Replace the account's change marker and `lines`' (None: every line's that has one),
        so every view of them misses its validator once: what ends or narrows someone's
        sessions calls it, after the change is stored, so a poll answered from an instance's
        memory of a session checks the session again. One transaction per 99 lines (None:
        one range read first). Returns the markers replaced."""
        wanted = self._family(rules.LINE_MARKER_PREFIX) if lines is None else lines
        operations = _markers(wanted, now)
        for start in range(0, len(operations), MAX_TRANSACTION):
            self.table.submit_transaction(operations[start : start + MAX_TRANSACTION])
        return len(operations)

    def _state_operations(
        self, before: Conversation | None, after: Conversation, current: Loaded
    ) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """The transaction that moves a conversation from `before` (None: new) to `after`."""
        if before is None:
            meta: dict[str, Any] = {
                "PartitionKey": rules.PARTITION,
                "RowKey": rules.line_key(after.line),
                "NextTag": current.next_tag + 1,
            }
            return [
                ("create", rules.state_row(after), {}),
                ("create", _tag_row(after), {}),
                (
                    ("create", meta, {})
                    if current.meta_etag is None
                    else ("update", meta, _conditional(current.meta_etag))
                ),
                ("upsert", rules.index_row(after), _REPLACE),
            ]
        assert current.etag is not None
        operations: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("update", rules.state_row(after), {**_conditional(current.etag), **_REPLACE})
        ]
        if before.activity_key != after.activity_key:
            old = {"PartitionKey": rules.PARTITION, "RowKey": before.activity_key}
            operations.append(("delete", old, {}))
        operations.append(("upsert", rules.index_row(after), _REPLACE))
        return operations

    def _submit(self, operations: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> bool:
        """Submit one transaction; False when another instance wrote first (read again)."""
        try:
            self.table.submit_transaction(operations)
        except TableTransactionError as exc:
            if exc.status_code in _CONFLICTS:
                return False
            raise
        return True


_REPLACE: dict[str, Any] = {"mode": UpdateMode.REPLACE}


def _markers(
    lines: Iterable[str], now: datetime
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The account's change marker and `lines`' replaced, unconditionally (concurrent writers
    never conflict on them: each only moves their ETags)."""
    return [("upsert", row, _REPLACE) for row in rules.marker_rows(lines, now)]


def _back_off(round_: int) -> None:
    """Wait a random while before a round after a lost one (none before the first)."""
    if round_:
        time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF * 2 ** (round_ - 1))))


def _conditional(etag: str) -> dict[str, Any]:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _tag_row(conversation: Conversation) -> dict[str, Any]:
    return {
        "PartitionKey": rules.PARTITION,
        "RowKey": rules.tag_key(conversation.line, conversation.tag),
        "Customer": conversation.customer,
    }


def _pointer(line: str, person: str, conversation: Conversation, now: datetime) -> dict[str, Any]:
    return {
        "PartitionKey": rules.PARTITION,
        "RowKey": rules.relay_key(line, person),
        "Customer": conversation.customer,
        "Tag": conversation.tag,
        "At": now,
    }
