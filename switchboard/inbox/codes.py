"""One-time sign-in codes (pure): issued, stored hashed, limited, checked once.

A code is 6 random digits, lives `CODE_LIFETIME` (10 minutes) and opens one session: the first
good try uses it up. What is stored is an HMAC of the code under the session key, bound to the
user and the address it was sent to, so a copy of the table neither shows a live code nor lets
anyone test guesses offline. Each address gets at most `MAX_CODES_PER_HOUR` codes an hour
(every code sent costs an SMS or an e-mail), and each code at most `MAX_TRIES` wrong tries (a
million codes, five tries: one chance in 200,000 per code, five codes an hour).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_CODES_PER_HOUR = 5
MAX_TRIES = 5
RATE_WINDOW = timedelta(hours=1)


def new_code() -> str:
    """Six random digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def is_code_shaped(raw: str) -> bool:
    """Whether `raw` is six ASCII digits (anything else is never looked up)."""
    return len(raw) == CODE_DIGITS and raw.isascii() and raw.isdigit()


def code_hash(key: str, user_id: str, address: str, code: str) -> str:
    """The stored form of a code: HMAC-SHA256 under the session key, bound to user and address."""
    message = f"sign-in-code\0{user_id}\0{address}\0{code}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeState:
    """An address's sign-in state: its live code (hashed) and the codes it got this hour."""

    code_hash: str | None = None
    expires_at: datetime | None = None
    tries: int = 0
    issued: tuple[datetime, ...] = ()


def recent(state: CodeState, now: datetime) -> tuple[datetime, ...]:
    """The issue times within the rate window."""
    return tuple(t for t in state.issued if now - t < RATE_WINDOW)


def may_issue(state: CodeState, now: datetime) -> bool:
    """Whether the address may get another code now."""
    return len(recent(state, now)) < MAX_CODES_PER_HOUR


def issue(state: CodeState, hashed: str, now: datetime) -> CodeState:
    """The state once a new code (`hashed`) was sent: it replaces any earlier one."""
    return CodeState(hashed, now + CODE_LIFETIME, 0, (*recent(state, now), now))


class Verdict(StrEnum):
    """What a try at a code found."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    EXPIRED = "expired"
    NO_CODE = "no_code"
    TOO_MANY_TRIES = "too_many_tries"


def check(state: CodeState, given_hash: str, now: datetime) -> tuple[Verdict, CodeState]:
    """The verdict on a try and the state to store after it (a good code is used up, a wrong
    one counts, an expired or spent one is forgotten)."""
    if state.code_hash is None or state.expires_at is None:
        return Verdict.NO_CODE, state
    if now >= state.expires_at:
        return Verdict.EXPIRED, replace(state, code_hash=None, expires_at=None, tries=0)
    if state.tries >= MAX_TRIES:
        return Verdict.TOO_MANY_TRIES, replace(state, code_hash=None, expires_at=None)
    if hmac.compare_digest(state.code_hash, given_hash):
        return Verdict.ACCEPTED, replace(state, code_hash=None, expires_at=None, tries=0)
    tries = state.tries + 1
    if tries >= MAX_TRIES:
        return Verdict.TOO_MANY_TRIES, replace(state, code_hash=None, expires_at=None, tries=0)
    return Verdict.WRONG, replace(state, tries=tries)
