"""Inbox sessions (pure): the signed cookie, its CSRF token, and each user's live sessions.

A session is a random id kept (as a SHA-256 digest) in the user's row with its expiry. The
cookie carries `<user id>.<session id>.<signature>`, the signature an HMAC-SHA256 under
`INBOX_SESSION_KEY`: a forged or altered cookie is refused before storage is read, a stolen
table holds no usable session, and a session ends for good when its row forgets it (sign out,
the owner ending a user's sessions, expiry). The CSRF token is an HMAC of the session id under
the same key: the page reads it once from `GET /api/inbox/session` and sends it with every
write (`X-CSRF-Token`); another site can neither read it nor compute it.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page or link
sends it), Path=/ and, except on a loopback address during development, Secure with the
`__Host-` prefix (https only, this host only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

#: The cookie's name over https (`__Host-`: Secure, Path=/, no Domain, or browsers refuse it)
#: and on a loopback address in development (plain http, where Secure cookies are not kept).
SECURE_COOKIE = "__Host-switchboard-inbox"
LOOPBACK_COOKIE = "switchboard-inbox"
CSRF_HEADER = "x-csrf-token"
#: Sessions one user may hold at once (phones, laptops): signing in again drops the oldest.
MAX_SESSIONS_PER_USER = 10
_TOKEN = re.compile(r"(u[0-9a-f]{16})\.([A-Za-z0-9_-]{32})\.([A-Za-z0-9_-]{43})")


def _mac(key: str, purpose: str, *parts: str) -> str:
    digest = hmac.new(key.encode(), "\0".join((purpose, *parts)).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def new_session_id() -> str:
    """A fresh random session id (192 bits)."""
    return secrets.token_urlsafe(24)


def session_digest(session_id: str) -> str:
    """What the user's row keeps of a session id."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def cookie_value(key: str, user_id: str, session_id: str) -> str:
    """The signed cookie value of a session."""
    return f"{user_id}.{session_id}.{_mac(key, 'session', user_id, session_id)}"


def parse_cookie_value(key: str, value: str) -> tuple[str, str] | None:
    """(user id, session id) when `value` is a well-formed cookie signed with `key`."""
    found = _TOKEN.fullmatch(value)
    if found is None:
        return None
    user_id, session_id, signature = found.groups()
    expected = _mac(key, "session", user_id, session_id)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    return user_id, session_id


def csrf_token(key: str, session_id: str) -> str:
    """The CSRF token of a session."""
    return _mac(key, "csrf", session_id)


def csrf_matches(key: str, session_id: str, given: str | None) -> bool:
    """Whether `given` is the session's CSRF token (compared in constant time)."""
    if not given or len(given) > 100:
        return False
    return hmac.compare_digest(given.encode(), csrf_token(key, session_id).encode())


def cookie_from_header(header: str | None, name: str) -> str | None:
    """The value of cookie `name` in a `Cookie` header (the first one; None when absent)."""
    for part in (header or "").split(";"):
        cookie_name, sep, value = part.strip().partition("=")
        if sep and cookie_name == name:
            return value.strip().strip('"')
    return None


def set_cookie(value: str, max_age: int, *, secure: bool) -> str:
    """The `Set-Cookie` header that stores a session in the browser."""
    name = SECURE_COOKIE if secure else LOOPBACK_COOKIE
    attributes = f"Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return f"{name}={value}; {attributes}" + ("; Secure" if secure else "")


def clear_cookie(*, secure: bool) -> str:
    """The `Set-Cookie` header that removes the session cookie."""
    return set_cookie("", 0, secure=secure)


@dataclass(frozen=True)
class SessionEntry:
    """One live session in a user's row."""

    digest: str
    created_at: datetime
    expires_at: datetime


def live(entries: Iterable[SessionEntry], now: datetime) -> tuple[SessionEntry, ...]:
    """The sessions that have not expired."""
    return tuple(e for e in entries if e.expires_at > now)


def find(entries: Iterable[SessionEntry], session_id: str, now: datetime) -> SessionEntry | None:
    """The live session with this id, if any."""
    digest = session_digest(session_id)
    for entry in entries:
        if entry.expires_at > now and hmac.compare_digest(entry.digest, digest):
            return entry
    return None


def opened(
    entries: Iterable[SessionEntry], session_id: str, now: datetime, lifetime: timedelta
) -> tuple[SessionEntry, ...]:
    """The live sessions with a new one added (the oldest dropped beyond the maximum)."""
    kept = sorted(live(entries, now), key=lambda e: e.created_at)
    kept.append(SessionEntry(session_digest(session_id), now, now + lifetime))
    return tuple(kept[-MAX_SESSIONS_PER_USER:])


def closed(
    entries: Iterable[SessionEntry], session_id: str, now: datetime
) -> tuple[SessionEntry, ...]:
    """The live sessions without this one (signing out)."""
    digest = session_digest(session_id)
    return tuple(e for e in live(entries, now) if e.digest != digest)
