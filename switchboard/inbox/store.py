"""The `InboxUsers` table: inbox users, the addresses they sign in with, codes and sessions.

Layout:

- PartitionKey = the user id, RowKey `user`: `Name`, `Role`, `Phone`, `Email`, `Lines` (JSON),
  `CreatedAt`, `UpdatedAt`, and `Sessions` (JSON: each live session's digest, start and
  expiry). Checking a session is one point read of this row, which also says the user's role
  and lines as they are now; ending sessions is one write of it under its ETag.
- PartitionKey = the user id, RowKey `code-phone` / `code-email`: that address's live code
  (`CodeHash`, `ExpiresAt`, `Tries`) and the codes it got this hour (`Issued`, JSON).
- PartitionKey `address`, RowKey `phone:+1555...` or `email:<sha256 of the address>`:
  `UserId`. One address names one user (created with the user, refused when taken); the
  e-mail address is hashed because a RowKey may not hold `/`, `#`, `?` or `\\`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from switchboard.inbox.codes import CodeState
from switchboard.inbox.sessions import SessionEntry
from switchboard.inbox.users import InboxUser
from switchboard.jsonroutes.auth import Role
from switchboard.records import iso
from switchboard.settings import Settings
from switchboard.storage import tables

USER_ROW = "user"
ADDRESS_PARTITION = "address"


class AddressTaken(Exception):
    """Another user already signs in with this address."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def address_key(kind: str, address: str) -> str:
    """The RowKey of an address's index row."""
    if kind == "email":
        return "email:" + hashlib.sha256(address.encode()).hexdigest()
    return f"phone:{address}"


def _when(raw: Any) -> datetime | None:
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and raw:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return None


def _sessions(raw: Any) -> tuple[SessionEntry, ...]:
    if not isinstance(raw, str) or not raw:
        return ()
    found = []
    for digest, created, expires in json.loads(raw):
        created_at, expires_at = _when(created), _when(expires)
        if created_at and expires_at:
            found.append(SessionEntry(str(digest), created_at, expires_at))
    return tuple(found)


def _sessions_text(entries: tuple[SessionEntry, ...]) -> str:
    return json.dumps([[e.digest, iso(e.created_at), iso(e.expires_at)] for e in entries])


@dataclass(frozen=True)
class StoredUser:
    """A user as read, with the ETag of its row (for writes)."""

    user: InboxUser
    etag: str


def _user(entity: Mapping[str, Any]) -> InboxUser:
    return InboxUser(
        id=str(entity["PartitionKey"]),
        name=str(entity.get("Name") or ""),
        role=Role(str(entity.get("Role") or "staff")),
        phone=entity.get("Phone") or None,
        email=entity.get("Email") or None,
        lines=tuple(json.loads(entity.get("Lines") or "[]")),
        created_at=_when(entity.get("CreatedAt")),
        updated_at=_when(entity.get("UpdatedAt")),
        sessions=_sessions(entity.get("Sessions")),
    )


def _profile(user: InboxUser) -> dict[str, Any]:
    return {
        "PartitionKey": user.id,
        "RowKey": USER_ROW,
        "Name": user.name,
        "Role": user.role.value,
        "Phone": user.phone or "",
        "Email": user.email or "",
        "Lines": json.dumps(list(user.lines)),
        "CreatedAt": iso(user.created_at) if user.created_at else "",
        "UpdatedAt": iso(user.updated_at) if user.updated_at else "",
    }


class InboxUserStore:
    """Reads and writes of the `InboxUsers` table (sync: the inbox's routes are sync)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxUserStore:
        """The store on the configured table (created on first use)."""
        return cls(tables.get_table(settings.table_inbox_users, settings))

    # --- users ---------------------------------------------------------------------------

    def get(self, user_id: str) -> StoredUser | None:
        """The user and its row's ETag (one point read), or None."""
        entity = tables.get_or_none(self.table, user_id, USER_ROW)
        if entity is None:
            return None
        return StoredUser(_user(entity), tables.etag_of(entity))

    def all(self) -> list[InboxUser]:
        """Every user, by name."""
        found = tables.query(
            self.table,
            "RowKey eq @row and PartitionKey ne @index",
            {"row": USER_ROW, "index": ADDRESS_PARTITION},
        )
        return sorted((_user(e) for e in found), key=lambda u: (u.name.lower(), u.id))

    def user_for(self, kind: str, address: str) -> str | None:
        """The id of the user who signs in with this address (one point read)."""
        entity = tables.get_or_none(self.table, ADDRESS_PARTITION, address_key(kind, address))
        return str(entity["UserId"]) if entity is not None else None

    def _claim(self, user: InboxUser) -> list[str]:
        """Index rows for the user's addresses; AddressTaken (and none kept) when one is
        another user's."""
        claimed: list[str] = []
        for kind, address in user.addresses():
            key = address_key(kind, address)
            if tables.insert_if_absent(
                self.table, {"PartitionKey": ADDRESS_PARTITION, "RowKey": key, "UserId": user.id}
            ):
                claimed.append(key)
                continue
            owner = tables.get_or_none(self.table, ADDRESS_PARTITION, key)
            if owner is not None and owner.get("UserId") == user.id:
                continue
            for undo in claimed:
                self._delete(ADDRESS_PARTITION, undo)
            raise AddressTaken(kind)
        return claimed

    def _delete(self, partition: str, row: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.table.delete_entity(partition, row)

    def create(self, user: InboxUser) -> InboxUser:
        """Store a new user (its addresses first: AddressTaken when one is someone's)."""
        self._claim(user)
        self.table.create_entity(_profile(user))
        return user

    def update(self, before: StoredUser, after: InboxUser) -> bool:
        """Replace the profile under its ETag (sessions kept); False when it changed meanwhile."""
        self._claim(after)
        if not tables.update_if_unchanged(self.table, _profile(after), before.etag):
            return False
        kept = {address_key(k, a) for k, a in after.addresses()}
        for kind, address in before.user.addresses():
            if address_key(kind, address) not in kept:
                self._delete(ADDRESS_PARTITION, address_key(kind, address))
                self._delete(before.user.id, f"code-{kind}")
        return True

    def delete(self, user: InboxUser) -> None:
        """Remove a user, its addresses, codes and sessions."""
        for kind, address in user.addresses():
            self._delete(ADDRESS_PARTITION, address_key(kind, address))
        for row in (USER_ROW, "code-phone", "code-email"):
            self._delete(user.id, row)

    def save_sessions(self, stored: StoredUser, entries: tuple[SessionEntry, ...]) -> bool:
        """Write the user's live sessions under the row's ETag; False when it changed."""
        entity = {"PartitionKey": stored.user.id, "RowKey": USER_ROW}
        entity["Sessions"] = _sessions_text(entries)
        return tables.update_if_unchanged(self.table, entity, stored.etag, mode=UpdateMode.MERGE)

    # --- codes ---------------------------------------------------------------------------

    def code_state(self, user_id: str, kind: str) -> tuple[CodeState, str | None]:
        """An address's code state and its row's ETag (None: no row yet)."""
        entity = tables.get_or_none(self.table, user_id, f"code-{kind}")
        if entity is None:
            return CodeState(), None
        issued = tuple(t for t in map(_when, json.loads(entity.get("Issued") or "[]")) if t)
        state = CodeState(
            code_hash=entity.get("CodeHash") or None,
            expires_at=_when(entity.get("ExpiresAt")),
            tries=int(entity.get("Tries") or 0),
            issued=issued,
        )
        return state, tables.etag_of(entity)

    def save_code_state(self, user_id: str, kind: str, state: CodeState, etag: str | None) -> bool:
        """Write an address's code state: created when `etag` is None, else under it; False
        when someone wrote first."""
        entity = {
            "PartitionKey": user_id,
            "RowKey": f"code-{kind}",
            "CodeHash": state.code_hash or "",
            "ExpiresAt": iso(state.expires_at) if state.expires_at else "",
            "Tries": state.tries,
            "Issued": json.dumps([iso(t) for t in state.issued]),
        }
        if etag is None:
            return tables.insert_if_absent(self.table, entity)
        return tables.update_if_unchanged(self.table, entity, etag, mode=UpdateMode.REPLACE)
