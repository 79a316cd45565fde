"""Call and message records: the keys in Table Storage and the JSON operators see (pure).

Table layout (the same for `CallLog` and `MessageLog`):

- the record: PartitionKey = the record's id (a CallSid/MessageSid for inbound traffic, the app's
  id for outbound calls), RowKey = `record`. A point lookup by id.
- a SID alias, when the id is not Twilio's SID: PartitionKey = the SID, RowKey = `sid`, property
  `Id`. Status callbacks carry only the SID (and, for what the app placed, `?id=` in the callback
  URL, which Twilio signs), so either way they find the record with point lookups.
- an index row per record for "recent first" listings: PartitionKey = `idx-YYYYMMDD` (UTC day of
  creation), RowKey = `<inverted milliseconds>-<id>` so a day's rows come newest first. A listing
  reads only the index partitions of the days it covers, then the records by point lookup.
- idempotency markers for retried webhooks: PartitionKey = the record id, RowKey = `step-<name>`.

Entity properties are PascalCase; `to_json` turns a record into camelCase JSON with ISO-8601 UTC
times and `error: {code, message}` when something failed.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

RECORD_ROW = "record"
SID_ROW = "sid"
#: On a record kept under the app's id: the SID whose alias row points at it (written once).
SID_ALIAS = "SidAlias"
INDEX_PREFIX = "idx-"
#: Ids the app derives for what it sends or places by itself (scheduled texts, notices, the
#: call queue's calls) start with this: a namespace no operator's id may use.
DERIVED_ID_PREFIX = "sys-"
STEP_PREFIX = "step-"
# Milliseconds until 9999-12-31: subtracting now gives a RowKey that sorts newest first.
_MAX_MS = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)
_HIDDEN = {"PartitionKey", "RowKey", "ErrorCode", "ErrorMessage", "Timestamp", "etag", SID_ALIAS}
# The longest prefix `index_row` puts before an id: inverted milliseconds (at most 15 digits)
# and a hyphen.
_INDEX_PREFIX_CHARS = 16
# Table keys may not contain / \ # ? or control characters (nor lone surrogates: not UTF-8).
# The pattern compiles on first use (`re` keeps it): printable keys without those four
# characters (SIDs, numbers, ids: nearly every key) never need it.
_BAD_KEY_CHARS = r"[/\\#?\x00-\x1f\x7f-\x9f\ud800-\udfff]"
_KEY_SEPARATORS = frozenset("/\\#?")


def utcnow() -> datetime:
    """Now, in UTC (the one clock records use)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utf16_bytes(value: str) -> int:
    # Keys are nearly always ASCII (SIDs, numbers, ids): two bytes a character, counted without
    # encoding (nor loading the UTF-16 codec on a cold instance's first call).
    if value.isascii():
        return 2 * len(value)
    return len(value.encode("utf-16-le", errors="surrogatepass"))


def _has_bad_key_char(value: str) -> bool:
    # Control characters and lone surrogates are all unprintable.
    if value.isprintable() and _KEY_SEPARATORS.isdisjoint(value):
        return False
    return re.search(_BAD_KEY_CHARS, value) is not None


def is_valid_key(value: str) -> bool:
    """Whether a value may be used as a PartitionKey/RowKey (≤ 1 KiB, no forbidden characters).

    Table Storage counts the 1 KiB in UTF-16: at most 512 characters of the BMP.
    """
    size = _utf16_bytes(value)
    return 0 < size <= 1024 and not _has_bad_key_char(value)


def is_valid_record_id(value: str) -> bool:
    """Whether a value can key a CallLog/MessageLog record: itself and its index RowKey
    (`index_row`: at most 16 ASCII characters, digits and a hyphen, before it) must both be
    valid table keys."""
    size = _utf16_bytes(value)
    return 0 < size <= 1024 - 2 * _INDEX_PREFIX_CHARS and not _has_bad_key_char(value)


def index_partition(created: datetime) -> str:
    """The index partition of the UTC day a record was created."""
    return INDEX_PREFIX + created.astimezone(UTC).strftime("%Y%m%d")


def index_row(created: datetime, record_id: str) -> str:
    """The index RowKey: sorts newest first within a day."""
    inverted = _MAX_MS - int(created.timestamp() * 1000)
    return f"{inverted:014d}-{record_id}"


def index_partitions_between(since: datetime, until: datetime) -> list[str]:
    """Index partitions from `until`'s day back to `since`'s day (newest first)."""
    days = []
    day = until.astimezone(UTC).date()
    first = since.astimezone(UTC).date()
    while day >= first:
        days.append(INDEX_PREFIX + day.strftime("%Y%m%d"))
        day -= timedelta(days=1)
    return days


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:] if name else name


def to_json(entity: dict[str, Any]) -> dict[str, Any]:
    """A stored record as the operator API's JSON: camelCase keys, ISO times, error object."""
    result: dict[str, Any] = {}
    for key, value in entity.items():
        if key in _HIDDEN:
            continue
        if isinstance(value, datetime):
            value = iso(value)
        elif key.endswith("Json") and isinstance(value, str):
            key = key[: -len("Json")]
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        result[_camel(key)] = value
    if entity.get("ErrorCode") is not None or entity.get("ErrorMessage"):
        code = entity.get("ErrorCode")
        result["error"] = {"code": code, "message": entity.get("ErrorMessage") or ""}
    return result
