"""What an instance remembers of the sessions it checked, so a poll that finds nothing new
costs one storage read (the view's change marker), not two.

A poll answered 304 carries nothing: no conversation, no name, not even whether anything
exists. So a conditional `GET` of the conversation list may rest on this instance's memory of
the session instead of reading the user's row again, as long as everything that ends or
narrows a session also moves the change markers the polls read
(`switchboard.conversations.service.move_markers`, called by `switchboard.inbox.service.sessions_narrowed`): the next poll anywhere then misses its
validator, is checked against storage as any other request, and is answered 401 (or sees only
what its user may see now). Every answer that carries anything (200, an error, any write, any
other route) is checked against storage as before (`switchboard.jsonroutes.shell`).

What is remembered is a pair: (session, validator) → the principal. A pair is remembered only
when a poll checked against storage (the user's row read first) then found its validator
unchanged (the marker read after the row): the marker was as the validator says when the row
said the session was live, so anything that ended the session after that read moved the
marker after it, and a poll that reads the marker again misses. (Remembering the session alone
would leave a gap: a request that read the row just before a sign-out and the marker just
after it would hand out a validator the moved marker matches.)

A conversation's poll works the same way with one more step, as its validator is its state
row's ETag, which what ends a session does not move: its pair also keeps its line's change
marker as read *before* the check that vouched (the witness), and the poll reads the state row
and the marker in one query; the pair counts only while the marker is as witnessed.

A pair lives `REMEMBER_FOR` (10 minutes) and never past the session's own expiry; at most
`MAX_PAIRS` are kept (the least recently used go first). Signing out and ending a user's
sessions on this instance forget that user's pairs at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from switchboard.inbox import sessions
from switchboard.jsonroutes.auth import Principal

#: How long a checked session vouches for a poll's validator on this instance.
REMEMBER_FOR = timedelta(minutes=10)
#: Pairs kept (each a few hundred bytes): a few per signed-in browser.
MAX_PAIRS = 4096


@dataclass(frozen=True)
class _Vouched:
    principal: Principal
    until: datetime
    #: The change marker's ETag read before the check that vouched (a conversation's poll,
    #: whose validator is its state row's: `witnessed`); None: none was.
    witness: str | None = None


class RememberedSessions:
    """(session, validator) pairs this instance checked against storage (thread-safe)."""

    def __init__(self, size: int = MAX_PAIRS) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._pairs: OrderedDict[tuple[str, str], _Vouched] = OrderedDict()
        #: Each checked session's expiry, by digest (what a pair may not outlive).
        self._expiry: OrderedDict[str, datetime] = OrderedDict()

    def checked(self, session_id: str, expires_at: datetime) -> None:
        """A full check found the session live until `expires_at` (the user's row)."""
        digest = sessions.session_digest(session_id)
        with self._lock:
            self._expiry[digest] = expires_at
            self._expiry.move_to_end(digest)
            while len(self._expiry) > self._size:
                self._expiry.popitem(last=False)

    def vouch(
        self,
        session_id: str,
        validator: str,
        principal: Principal,
        now: datetime,
        witness: str | None = None,
    ) -> bool:
        """Remember that `principal`'s session was checked against storage and then found
        `validator` current (a fully checked poll answered 304); `witness`: the line's change
        marker as read before that check (a conversation's poll). False when this instance did
        not check the session itself (nothing remembered)."""
        digest = sessions.session_digest(session_id)
        with self._lock:
            expires_at = self._expiry.get(digest)
            if expires_at is None or expires_at <= now or principal.remembered:
                return False
            key = (digest, validator)
            until = min(now + REMEMBER_FOR, expires_at)
            self._pairs[key] = _Vouched(principal, until, witness)
            self._pairs.move_to_end(key)
            while len(self._pairs) > self._size:
                self._pairs.popitem(last=False)
        return True

    def find(self, session_id: str, validators: list[str], now: datetime) -> Principal | None:
        """The principal remembered for the session and one of `validators` (a poll's
        `If-None-Match`), marked `remembered`; None when there is none or it is past its time."""
        digest = sessions.session_digest(session_id)
        with self._lock:
            for validator in validators:
                key = (digest, validator)
                found = self._pairs.get(key)
                if found is None:
                    continue
                if found.until <= now:
                    del self._pairs[key]
                    continue
                self._pairs.move_to_end(key)
                return Principal(
                    found.principal.kind,
                    user_id=found.principal.user_id,
                    role=found.principal.role,
                    lines=found.principal.lines,
                    remembered=True,
                )
        return None

    def witnessed(self, session_id: str, validator: str, witness: str | None) -> bool:
        """Whether the pair was vouched for with this change marker's ETag (read again now:
        the marker has not moved since the check)."""
        with self._lock:
            found = self._pairs.get((sessions.session_digest(session_id), validator))
        return found is not None and witness is not None and found.witness == witness

    def forget_user(self, user_id: str) -> None:
        """Forget every pair of a user (their sessions ended or changed here)."""
        with self._lock:
            for key in [k for k, v in self._pairs.items() if v.principal.user_id == user_id]:
                del self._pairs[key]

    def forget_session(self, session_id: str) -> None:
        """Forget one session (signed out here)."""
        digest = sessions.session_digest(session_id)
        with self._lock:
            self._expiry.pop(digest, None)
            for key in [k for k in self._pairs if k[0] == digest]:
                del self._pairs[key]

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._pairs.clear()
            self._expiry.clear()


REMEMBERED = RememberedSessions()
