"""The one writer of MessageLog records, and the conversation index later capabilities read.

Every record a text creates is written here: what the app sends (`record_outbound`, sync, for
operator sends and notices; `AsyncMessageLogWriter`, for the scheduled-SMS timer) and what it
receives (`record_inbound`, for the SMS webhook). Status callbacks only merge into records
(`switchboard.status`).

Records (the layout of `switchboard.records`): PartitionKey = the id (the MessageSid, or the
app's id of a refused send), RowKey ``record``; a day index row; a SID alias when the id is not
Twilio's. Outbound records carry `Direction=outbound`, `To`, `From`, `Body`, `NumMedia`,
`MediaUrlsJson`, `Source` (the path: ``operator``, ``cli``, ``schedule``, ``automatic``),
`Purpose` and `Origin` (`switchboard.outbound.purposes`), `Line`, `Status`, `SentAt`, and
`ErrorCode`/`ErrorMessage` when it failed (and `Problem`, the plain words of a code that means
the text was not registered or was filtered: ``not registered (A2P 10DLC)``,
`switchboard.outbound.problems`). A send the policy refused is recorded too, with
``Status=skipped`` and `Reason` (``country not allowed``, ``daily limit``, ...): nothing is
dropped in silence. Recording is idempotent, and a record an early status callback created
(`Unknown=True`) is completed without its status moving back.

A text sent at most once per key (`Outbound.send_once`) is claimed first: its record is
inserted under the key with ``Status=claimed`` and `ClaimedAt` (`claim_outbound`: insert if
absent, with its day index row), then completed with Twilio's SID and status under the ETag the
insert answered (no read); `claimed` is the app's own word, below every status of Twilio's, so
Twilio's first answer or callback always moves it on.

Conversation index: one partition per conversation, the pair (line, other party), in the
MessageLog table:

    PartitionKey = ``conv-<line>-<other party>``  (``conv-+15017122661-+447911123456``)
    RowKey       = ``<inverted milliseconds, 14 digits>-<record id>``  (newest first)

with `Id` (the record), `Direction`, `At`, `From`, `To`, `Body`, `NumMedia`, `Purpose`,
`Origin`, `Author` (who at the business wrote a reply), and on an inbound text what it did
(`Reminder`, `Response`: the reminder it answered and what the answer means). Call events have
rows there too (`call_entry`: `Kind=call`, written by the conversations capability): RowKey
the call's start and its CallSid, `Event` (``missed``, ``voicemail``, ``answered``), `Status`,
`Duration`, `TakenBy`, `RecordingUrl`, `RecordingDuration`, `Transcript`, merged as the call's
callbacks arrive. A line's number never holds a hyphen (E.164, or a Messaging Service SID), so the
first hyphen after ``conv-`` separates the pair. Inbound texts get a row (line = `To`, other
party = `From`), and so does every text the app sends (line = the sender, other party = `To`),
including the answers the SMS webhook sends in its TwiML (`Id` = the inbound message they
answer), written with the inbound row in one transaction. A page of a conversation, newest
first, is one range read of its partition (`read_conversation`: `RowKey gt <cursor>`, at most
`limit` rows): it reads in proportion to the page, never the whole history; the row is the
event (its status, where it matters, by point read of `Id`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.data.tables import TableClient, UpdateMode

from switchboard import records
from switchboard.logbook.statuses import Kind, next_state
from switchboard.logbook.store import Entity, RecordStore
from switchboard.logs import get_logger
from switchboard.outbound.problems import problem_of
from switchboard.outbound.purposes import Origin, Purpose

logger = get_logger(__name__)

DIRECTION_OUTBOUND = "outbound"
DIRECTION_INBOUND = "inbound"
STATUS_SKIPPED = "skipped"
#: A text about to be sent once (`claim_outbound`): the app's own word, below Twilio's.
STATUS_CLAIMED = "claimed"
KIND_CALL = "call"
CONVERSATION_PREFIX = "conv-"
#: The longest body a conversation row keeps (Twilio's longest text).
CONVERSATION_BODY_CHARS = 1600
#: Rows per transaction at most (Table Storage).
MAX_BATCH = 100
# Facts only the app knows about what it sent: they replace whatever an early callback guessed.
_AUTHORITATIVE = (
    "Direction",
    "To",
    "From",
    "Body",
    "NumMedia",
    "MediaUrlsJson",
    "Source",
    "Purpose",
    "Origin",
    "Line",
    "Author",
)


# --------------------------------------------------------------------------------------------
# The conversation index (pure keys)


def conversation_partition(line: str, party: str) -> str | None:
    """The partition of the conversation between `line` and `party` (None when the pair
    cannot key a partition: nothing is indexed for it)."""
    if not line or not party:
        return None
    key = f"{CONVERSATION_PREFIX}{line.strip()}-{party.strip()}"
    return key if records.is_valid_key(key) else None


def conversation_entry(
    *,
    line: str,
    party: str,
    record_id: str,
    at: datetime,
    direction: str,
    from_: str | None,
    to: str | None,
    body: str,
    purpose: str | None = None,
    origin: str | None = None,
    media: int = 0,
    author: str | None = None,
) -> Entity | None:
    """One event of a conversation as an index row (None when it cannot be keyed)."""
    partition = conversation_partition(line, party)
    if partition is None or not records.is_valid_record_id(record_id):
        return None
    row: Entity = {
        "PartitionKey": partition,
        "RowKey": records.index_row(at, record_id),
        "Id": record_id,
        "Direction": direction,
        "At": at,
        "From": from_ or "",
        "To": to or "",
        "Body": (body or "")[:CONVERSATION_BODY_CHARS],
        "NumMedia": media,
    }
    if purpose:
        row["Purpose"] = purpose
    if origin:
        row["Origin"] = origin
    if author:
        row["Author"] = author
    return row


def call_entry(
    *,
    line: str,
    party: str,
    call_sid: str,
    at: datetime,
    fields: Mapping[str, Any],
    direction: str = DIRECTION_INBOUND,
) -> Entity | None:
    """A call's event in its conversation as an index row (None when it cannot be keyed):
    `fields` are the event's properties (`Event`, `Status`, ...), merged into the row as the
    call's callbacks arrive (the key stays: the call's start and its SID). `direction`:
    inbound (the party called the line) or outbound (the app called the party from it)."""
    partition = conversation_partition(line, party)
    if partition is None or not records.is_valid_record_id(call_sid):
        return None
    outbound = direction == DIRECTION_OUTBOUND
    return {
        "PartitionKey": partition,
        "RowKey": records.index_row(at, call_sid),
        "Id": call_sid,
        "Kind": KIND_CALL,
        "Direction": DIRECTION_OUTBOUND if outbound else DIRECTION_INBOUND,
        "At": at,
        "From": line if outbound else party,
        "To": party if outbound else line,
        **{k: v for k, v in fields.items() if v is not None},
    }


@dataclass(frozen=True)
class Page:
    """One page of a conversation, newest first, and the cursor of the next (None: the end)."""

    items: list[Entity]
    next_cursor: str | None


def read_conversation(
    table: TableClient, line: str, party: str, limit: int, after: str | None = None
) -> Page:
    """A page of the conversation (line, party), newest first: one range read of its
    partition, at most `limit` rows; `after` is the previous page's cursor (a RowKey)."""
    partition = conversation_partition(line, party)
    if partition is None or limit < 1:
        return Page([], None)
    if after is not None and not records.is_valid_key(after):
        return Page([], None)
    query = "PartitionKey eq @pk" + (" and RowKey gt @after" if after else "")
    parameters: dict[str, Any] = {"pk": partition}
    if after:
        parameters["after"] = after
    found: list[Entity] = []
    for row in table.query_entities(query, parameters=parameters, results_per_page=limit + 1):
        found.append(dict(row))
        if len(found) > limit:
            break
    items = found[:limit]
    more = len(found) > limit
    return Page(items, str(items[-1]["RowKey"]) if more and items else None)


# --------------------------------------------------------------------------------------------
# Outbound records


def outbound_fields(
    *,
    sid: str | None,
    to: str,
    from_: str | None,
    body: str | None,
    media: Sequence[str] = (),
    source: str,
    status: str,
    sent_at: datetime | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
    purpose: Purpose | str | None = None,
    origin: Origin | str | None = None,
    line: str | None = None,
    reason: str | None = None,
    author: str | None = None,
) -> dict[str, Any]:
    """The MessageLog properties of a message the app sent (or tried to, or refused to).

    `source` says which path sent it (`operator`, `schedule`, `cli`, `automatic`, `test`, ...).
    """
    media_urls = [url for url in media if url]
    fields: dict[str, Any] = {
        "Direction": DIRECTION_OUTBOUND,
        "To": to,
        "Body": body or "",
        "NumMedia": len(media_urls),
        "MediaUrlsJson": json.dumps(media_urls),
        "Source": source,
        "Status": status,
        "SentAt": sent_at or records.utcnow(),
    }
    optional = {
        "Sid": sid,
        "From": from_,
        "ErrorCode": error_code,
        "ErrorMessage": error_message,
        # Twilio's "not registered" and "filtered" codes in plain words (`problems`).
        "Problem": problem_of(error_code),
        "Purpose": str(purpose) if purpose else None,
        "Origin": str(origin) if origin else None,
        "Line": line,
        "Reason": reason,
        "Author": author,
    }
    fields.update({k: v for k, v in optional.items() if v not in (None, "")})
    return fields


def outbound_change(fields: dict[str, Any]) -> Any:
    """The `RecordStore.update` change that records an outbound message (see module doc)."""

    def change(current: Entity | None) -> dict[str, Any] | None:
        if current is None:
            return dict(fields)
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "Status":
                moved = next_state(Kind.MESSAGE, current.get("Status"), value)
                if moved is not None or not current.get("Status"):
                    changes[key] = moved or value
            elif key in _AUTHORITATIVE:
                if current.get(key) != value:
                    changes[key] = value
            elif current.get(key) in (None, "") and value not in (None, ""):
                changes[key] = value
        if current.get("Unknown"):
            changes["Unknown"] = False
        return changes or None

    return change


def record_outbound(
    store: RecordStore,
    sid: str | None,
    to: str,
    from_: str | None,
    body: str | None,
    media: Sequence[str] = (),
    source: str = "operator",
    *,
    status: str = "queued",
    record_id: str | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
    sent_at: datetime | None = None,
    purpose: Purpose | str | None = None,
    origin: Origin | str | None = None,
    line: str | None = None,
    reason: str | None = None,
    author: str | None = None,
    current: Entity | None = None,
) -> Entity | None:
    """Record a message the app sent (or tried to, or refused to); returns the stored record.

    `sid` is Twilio's MessageSid (None when nothing reached Twilio: then `record_id` is
    required). `status` is what Twilio answered (`queued`, `accepted`, ...), `failed`, or
    `skipped` with `reason`. The message's conversation row (`line`, `to`) is written with it.
    `current`: the record as the caller holds it (with its ETag: a claim), so that the write
    needs no read.
    """
    key = record_id or sid
    if not key:
        raise ValueError("record_outbound needs a sid or a record_id")
    fields = outbound_fields(
        sid=sid,
        to=to,
        from_=from_,
        body=body,
        media=media,
        source=source,
        status=status,
        sent_at=sent_at,
        error_code=error_code,
        error_message=error_message,
        purpose=purpose,
        origin=origin,
        line=line or from_,
        reason=reason,
        author=author,
    )
    if current is not None:
        result = store.update(key, outbound_change(fields), current=current)
    else:
        result = store.update(key, outbound_change(fields))
    if sid and sid != key:
        store.add_sid_alias(key, sid)
    created = (result or {}).get("CreatedAt")
    entry = conversation_entry(
        line=line or from_ or "",
        party=to,
        record_id=key,
        at=created if isinstance(created, datetime) else fields["SentAt"],
        direction=DIRECTION_OUTBOUND,
        from_=from_,
        to=to,
        body=body or "",
        purpose=fields.get("Purpose"),
        origin=fields.get("Origin"),
        media=fields["NumMedia"],
        author=author,
    )
    if entry is not None:
        store.table.upsert_entity(entry, mode=UpdateMode.REPLACE)
    return result


@dataclass(frozen=True)
class Claim:
    """A text's claim: its record as stored (with its ETag), and whether this call made it."""

    record: Entity
    new: bool


def claim_outbound(
    store: RecordStore, record_id: str, fields: Mapping[str, Any], now: datetime
) -> Claim:
    """Claim the sending of a text: insert its record under `record_id` (``Status=claimed``,
    `ClaimedAt`) and its day index row; when the record exists already (a retry, another
    instance), the record as stored and `new=False`. Storage errors raise."""
    from switchboard.storage import tables

    if not records.is_valid_record_id(record_id):
        raise ValueError("record id cannot be a table key")
    entity: Entity = {
        "PartitionKey": record_id,
        "RowKey": records.RECORD_ROW,
        "Id": record_id,
        "CreatedAt": now,
        "UpdatedAt": now,
        **fields,
        "Status": STATUS_CLAIMED,
        "ClaimedAt": now,
    }
    try:
        answer = store.table.create_entity(entity)
    except ResourceExistsError:
        found = store.get(record_id)
        if found is None:  # removed meanwhile (by hand): nothing to go on, claim again
            return claim_outbound(store, record_id, fields, now)
        return Claim(found, False)
    store.table.upsert_entity(
        {
            "PartitionKey": records.index_partition(now),
            "RowKey": records.index_row(now, record_id),
            "Id": record_id,
        }
    )
    return Claim(tables.with_etag(entity, str((answer or {}).get("etag") or "")), True)


def take_over(store: RecordStore, claim: Claim, now: datetime) -> Claim | None:
    """Take a claim whose holder vanished (its lease ended, Twilio has no such text): its
    `ClaimedAt` moved to `now` under its ETag; None when another instance moved first."""
    from switchboard.storage import tables

    change = {
        "PartitionKey": claim.record["PartitionKey"],
        "RowKey": records.RECORD_ROW,
        "ClaimedAt": now,
        "UpdatedAt": now,
    }
    if not tables.update_if_unchanged(store.table, change, tables.etag_of(claim.record)):
        return None
    found = store.get(str(claim.record["PartitionKey"]))
    return Claim(found, True) if found is not None else None


# --------------------------------------------------------------------------------------------
# Inbound records


@dataclass(frozen=True)
class Answer:
    """A text the SMS webhook answers with in its TwiML (recorded in the conversation)."""

    to: str
    body: str
    purpose: Purpose
    media: int = 0


def record_inbound(
    store: RecordStore,
    record_id: str,
    fields: Mapping[str, Any],
    *,
    line: str,
    party: str,
    received_at: datetime,
    steps: Sequence[str] = (),
    answers: Sequence[Answer] = (),
    outcome: Mapping[str, Any] | None = None,
) -> bool:
    """Record an incoming message (`fields`: its properties) with its step markers, its day
    index row and its conversation rows: its own, and the answers of its TwiML that go back to
    `party` (one transaction: they share the partition); an answer to someone else (a forward)
    gets a row in that conversation. `outcome`: what the text did, kept on its own conversation
    row so a view of the conversation shows it (the reminder it answered: `Reminder`,
    `Response`). False when it was already recorded (a Twilio retry)."""
    if not store.create(record_id, dict(fields), created=received_at, steps=steps):
        return False
    same: list[Entity] = []
    inbound = conversation_entry(
        line=line,
        party=party,
        record_id=record_id,
        at=received_at,
        direction=DIRECTION_INBOUND,
        from_=party,
        to=line,
        body=str(fields.get("Body") or ""),
        media=int(fields.get("NumMedia") or 0),
    )
    if inbound is not None:
        inbound.update(outcome or {})
        same.append(inbound)
    others: list[Entity] = []
    for n, answer in enumerate(answers, start=1):
        # A millisecond apart, in order: the answer sorts after (newer than) the text.
        at = received_at + timedelta(milliseconds=n)
        entry = conversation_entry(
            line=line,
            party=answer.to,
            record_id=record_id,
            at=at,
            direction=DIRECTION_OUTBOUND,
            from_=line,
            to=answer.to,
            body=answer.body,
            purpose=answer.purpose.value,
            origin=Origin.AUTOMATIC.value,
            media=answer.media,
        )
        if entry is None:
            continue
        entry["RowKey"] = records.index_row(at, f"{record_id}-{answer.purpose.value}")
        (same if answer.to == party and inbound is not None else others).append(entry)
    if len(same) == 1:
        store.table.upsert_entity(same[0], mode=UpdateMode.REPLACE)
    elif same:
        store.table.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE}) for e in same])
    for entry in others:
        store.table.upsert_entity(entry, mode=UpdateMode.REPLACE)
    return True


# --------------------------------------------------------------------------------------------
# The timer's writer (async)


@dataclass
class AsyncMessageLogWriter:
    """MessageLog records of scheduled texts sent by the timer: the record (one insert; the
    layout of `RecordStore.create`), its day index row (upserted in transactions by `flush`)
    and its conversation row."""

    table: Any  # azure.data.tables.aio.TableClient
    settings: Any
    #: Index rows per transaction at most (and how many gather before they are written).
    batch_size: int = MAX_BATCH
    _index: list[Entity] = field(default_factory=list)

    async def record_sent(
        self,
        *,
        sid: str,
        to: str,
        from_: str | None,
        body: str,
        status: str,
        sent_at: datetime,
        schedule_id: str,
        line: str | None = None,
        purpose: Purpose | str | None = None,
        origin: Origin | str | None = None,
    ) -> None:
        """Record a message Twilio accepted (idempotent: a repeat or a record an early status
        callback created is completed by `record_outbound`)."""
        fields = outbound_fields(
            sid=sid,
            to=to,
            from_=from_,
            body=body,
            source="schedule",
            status=status,
            sent_at=sent_at,
            purpose=purpose or Purpose.SCHEDULE,
            origin=origin or Origin.SCHEDULE,
            line=line or from_,
        )
        fields["ScheduleId"] = schedule_id
        entity = {
            "PartitionKey": sid,
            "RowKey": records.RECORD_ROW,
            "Id": sid,
            "CreatedAt": sent_at,
            "UpdatedAt": sent_at,
            **fields,
            "Sid": sid,
        }
        try:
            # Nothing to read back: Table Storage need not echo the entity (204, not 201).
            await self.table.create_entity(entity, response_preference="return-no-content")
        except ResourceExistsError:
            await asyncio.to_thread(self._complete_existing, fields)
            return
        self._index.append(
            {
                "PartitionKey": records.index_partition(sent_at),
                "RowKey": records.index_row(sent_at, sid),
                "Id": sid,
            }
        )
        entry = conversation_entry(
            line=line or from_ or "",
            party=to,
            record_id=sid,
            at=sent_at,
            direction=DIRECTION_OUTBOUND,
            from_=from_,
            to=to,
            body=body,
            purpose=fields.get("Purpose"),
            origin=fields.get("Origin"),
        )
        if entry is not None:
            await self.table.upsert_entity(entry, mode=UpdateMode.REPLACE)
        if len(self._index) >= self.batch_size:
            await self.flush()

    def _complete_existing(self, fields: dict[str, Any]) -> None:
        store = RecordStore.messages(self.settings)
        record_outbound(
            store,
            fields["Sid"],
            fields["To"],
            fields.get("From"),
            fields["Body"],
            source="schedule",
            status=fields["Status"],
            sent_at=fields["SentAt"],
            purpose=fields.get("Purpose"),
            origin=fields.get("Origin"),
            line=fields.get("Line"),
        )

    async def flush(self) -> None:
        """Write the day index rows collected so far (transactions per day partition)."""
        pending, self._index = self._index, []
        groups: dict[str, list[Entity]] = {}
        for row in pending:
            groups.setdefault(row["PartitionKey"], []).append(row)
        for group in groups.values():
            for start in range(0, len(group), self.batch_size):
                batch = group[start : start + self.batch_size]
                try:
                    await self.table.submit_transaction(
                        [("upsert", row, {"mode": UpdateMode.MERGE}) for row in batch]
                    )
                except HttpResponseError as exc:
                    logger.warning("MessageLog index rows not written (%s)", type(exc).__name__)
