"""Inbox users, codes and sessions at work: the operator's user management and signing in.

Every function raises `ApiError` for what the caller can fix and lets storage failures through
(the JSON route shell answers 503). Signing in never tells whether an address belongs to a user:
asking for a code answers the same, after the same work (one queue write), for every
well-formed address; the queue's function then sends a code only to a user's own address, at
most `codes.MAX_CODES_PER_HOUR` an hour. A wrong code, an expired one and an unknown address are
refused alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from switchboard import records
from switchboard.http import ApiError, invalid, not_found, unavailable
from switchboard.inbox import codes, sessions
from switchboard.inbox.remembered import REMEMBERED
from switchboard.inbox.store import AddressTaken, InboxUserStore, StoredUser
from switchboard.inbox.users import (
    USER_ID,
    InboxUser,
    address_kind,
    normalise_email,
    parse_user,
    user_json,
)
from switchboard.jsonroutes.auth import Role
from switchboard.logs import get_logger
from switchboard.settings import Settings

logger = get_logger(__name__)

_ATTEMPTS = 5
REJECTED = "that code is not right, or no longer valid: ask for a new one"


def store(settings: Settings) -> InboxUserStore:
    """The users' store of these settings."""
    return InboxUserStore.from_settings(settings)


def session_key(settings: Settings) -> str:
    """`INBOX_SESSION_KEY`, or 503 `not_configured` (the inbox cannot sign anyone in)."""
    key = settings.inbox_session_key
    if not key:
        raise unavailable("not_configured", "the inbox is not set up (INBOX_SESSION_KEY)")
    return key


# --- the operator's users ----------------------------------------------------------------


def _taken(exc: AddressTaken) -> ApiError:
    return ApiError(409, "address_taken", f"{exc.kind}: another inbox user has it", exc.kind)


def _stored(settings: Settings, user_id: str) -> StoredUser:
    found = store(settings).get(user_id) if USER_ID.fullmatch(user_id) else None
    if found is None:
        raise not_found("inbox user", user_id)
    return found


def list_users(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Every inbox user, with how many sessions each holds now."""
    moment = now or records.utcnow()
    users = store(settings).all()
    return {
        "items": [user_json(u, live_sessions=len(sessions.live(u.sessions, moment))) for u in users]
    }


def get_user(settings: Settings, user_id: str) -> dict[str, Any]:
    """One user."""
    user = _stored(settings, user_id).user
    return user_json(user, live_sessions=len(sessions.live(user.sessions, records.utcnow())))


def create_user(settings: Settings, data: Any) -> dict[str, Any]:
    """Name a new inbox user (201 from the route); 409 when an address is another user's."""
    now = records.utcnow()
    user = parse_user(data)
    user = replace(user, created_at=now, updated_at=now)
    try:
        store(settings).create(user)
    except AddressTaken as exc:
        raise _taken(exc) from None
    logger.info("Inbox user %s created (%s)", user.id, user.role.value)
    return user_json(user, live_sessions=0)


def sessions_narrowed(settings: Settings, *users: InboxUser) -> None:
    """What follows a stored change that ends or narrows `users`' sessions (the same user
    before and after): the change markers of every line they saw move (an owner's: every
    line's; always the account's), so a poll anywhere that rested on an instance's memory of
    their session is checked against storage again, and this instance forgets them now."""
    from switchboard.conversations.service import move_markers

    for user in users:
        REMEMBERED.forget_user(user.id)
    every = any(user.role is Role.OWNER for user in users)
    move_markers(settings, None if every else {line for user in users for line in user.lines})


def update_user(settings: Settings, user_id: str, data: Any) -> dict[str, Any]:
    """Change a user's name, addresses, role or lines (sessions kept: their role and lines
    apply from the next request, a poll's included: `sessions_narrowed`)."""
    for _ in range(_ATTEMPTS):
        before = _stored(settings, user_id)
        after = parse_user(data, current=before.user)
        after = replace(after, updated_at=records.utcnow())
        try:
            if store(settings).update(before, after):
                if (before.user.role, before.user.lines) != (after.role, after.lines):
                    sessions_narrowed(settings, before.user, after)
                return user_json(after)
        except AddressTaken as exc:
            raise _taken(exc) from None
    raise ApiError(409, "conflict", "the user keeps changing: try again")


def delete_user(settings: Settings, user_id: str) -> dict[str, Any]:
    """Remove a user (its sessions end first, so a failure between leaves the user there
    to remove again, never a session a poll could still rest on)."""
    end_sessions(settings, user_id)
    user = _stored(settings, user_id).user
    store(settings).delete(user)
    logger.info("Inbox user %s removed", user.id)
    return {"id": user.id, "deleted": True}


def end_sessions(settings: Settings, user_id: str) -> dict[str, Any]:
    """End every session of a user (their next request is refused: 401, a poll's too)."""
    for _ in range(_ATTEMPTS):
        found = _stored(settings, user_id)
        ended = len(sessions.live(found.user.sessions, records.utcnow()))
        if store(settings).save_sessions(found, ()):
            logger.info("Inbox user %s: %d sessions ended", user_id, ended)
            sessions_narrowed(settings, found.user)
            return {"id": user_id, "ended": ended}
    raise ApiError(409, "conflict", "the user keeps changing: try again")


# --- signing in --------------------------------------------------------------------------


#: A partition no user has (not of the form of a user's id): the rows a sign-in for an address
#: that is no user's reads instead of a user's.
NOBODY = "u-nobody"


def _holder(users: InboxUserStore, kind: str, address: str) -> str | None:
    """The user who signs in with this address now (the index row and the user's own row
    agree: an index row left by an interrupted change counts for nobody)."""
    user_id = users.user_for(kind, address)
    stored = users.get(user_id) if user_id is not None else None
    if stored is None or (kind, address) not in stored.user.addresses():
        return None
    return stored.user.id


def parse_address(raw: Any) -> tuple[str, str]:
    """(kind, address) of a sign-in address: an E.164 number or an e-mail address."""
    kind = address_kind(raw) if isinstance(raw, str) else None
    if kind is None:
        raise invalid("address", "must be a phone number such as +15017122661 or an e-mail address")
    address = raw.strip() if kind == "phone" else normalise_email(raw)
    return kind, address


#: The queue that carries each request for a code from the sign-in form to `request_code`.
CODE_QUEUE = "inbox-sign-in-codes"
#: A request still waiting after this long is dropped: whoever asked has given up or asked
#: again (the code it would send lives `codes.CODE_LIFETIME`).
CODE_REQUEST_MAX_AGE = timedelta(minutes=5)


def ask_for_code(settings: Settings, raw_address: Any) -> None:
    """What `POST /api/inbox/signin/code` does for any well-formed address: put the request on
    `CODE_QUEUE`, one queue write, and nothing else.

    Whether the address is a user's, has spent its allowance, or how long a text or an e-mail
    takes to go, is all decided later by the queue's function (`handle_code_request`), so the
    answer takes as long for an outsider's address as for a user's and tells nobody who the
    users are.
    """
    from switchboard.storage import queues

    session_key(settings)  # 503 when the inbox is not set up, whoever asks
    kind, address = parse_address(raw_address)
    queues.enqueue_json(
        CODE_QUEUE,
        {"kind": kind, "address": address, "at": records.iso(records.utcnow())},
        settings,
    )


def handle_code_request(
    body: bytes | str, settings: Settings | None = None, now: datetime | None = None
) -> str:
    """One message of `CODE_QUEUE`: the code sent, or nothing (returns what happened, for logs
    and tests). A message that is not a request, or one that waited longer than
    `CODE_REQUEST_MAX_AGE`, is logged and dropped; storage failing raises (the host retries the
    message, then parks it in the poison queue, which health counts)."""
    import json

    from switchboard.settings import get_settings

    moment = now or records.utcnow()
    try:
        message = json.loads(body)
        address = message["address"]
        asked = datetime.fromisoformat(message["at"])
        parse_address(address)
        if asked.tzinfo is None:
            raise ValueError("at: no offset")
    except (ValueError, KeyError, TypeError, ApiError):
        logger.error("Inbox code request not understood: dropped")
        return "malformed"
    if moment - asked > CODE_REQUEST_MAX_AGE:
        logger.warning("Inbox code request waited %s: dropped", moment - asked)
        return "stale"
    return request_code(settings or get_settings(), address, moment)


def request_code(settings: Settings, raw_address: Any, now: datetime | None = None) -> str:
    """Send a code to the address when it is an inbox user's and its hourly allowance is not
    spent; otherwise do nothing. Returns what it did (`sent`, `nobody`, `limited`, `raced`,
    `not_sent`), for logs and tests: the person who asked is never told."""
    from switchboard.inbox import delivery

    key = session_key(settings)
    kind, address = parse_address(raw_address)
    moment = now or records.utcnow()
    users = store(settings)
    user_id = _holder(users, kind, address)
    if user_id is None:
        logger.info("Inbox code asked for a %s that is no inbox user's", kind)
        return "nobody"
    state, etag = users.code_state(user_id, kind)
    if not codes.may_issue(state, moment):
        logger.warning("Inbox user %s: no more codes this hour by %s", user_id, kind)
        return "limited"
    code = codes.new_code()
    after = codes.issue(state, codes.code_hash(key, user_id, address, code), moment)
    if not users.save_code_state(user_id, kind, after, etag):
        return "raced"  # another request issued one at the same moment: that one goes out
    try:
        delivery.send_code(settings, kind, address, code)
    except Exception as exc:  # nobody is waiting for an answer; the operator's log says
        logger.error("Inbox code for %s could not be sent by %s: %s", user_id, kind, exc)
        return "not_sent"
    logger.info("Inbox code sent to user %s by %s", user_id, kind)
    return "sent"


@dataclass(frozen=True)
class Opened:
    """A session just opened: its user, id and signed cookie value."""

    user: InboxUser
    session_id: str
    cookie: str


def open_session(settings: Settings, user_id: str, now: datetime | None = None) -> Opened:
    """A new session for the user (the oldest dropped beyond the per-user maximum)."""
    key = session_key(settings)
    moment = now or records.utcnow()
    lifetime = timedelta(hours=settings.inbox_session_hours)
    session_id = sessions.new_session_id()
    for _ in range(_ATTEMPTS):
        found = store(settings).get(user_id)
        if found is None:
            raise ApiError(401, "code_rejected", REJECTED)
        entries = sessions.opened(found.user.sessions, session_id, moment, lifetime)
        if store(settings).save_sessions(found, entries):
            logger.info("Inbox user %s signed in", user_id)
            if len(sessions.live(found.user.sessions, moment)) >= len(entries):
                sessions_narrowed(settings, found.user)  # the oldest session was dropped
            return Opened(found.user, session_id, sessions.cookie_value(key, user_id, session_id))
    raise ApiError(409, "conflict", "signing in collided with another change: try again")


def verify_code(
    settings: Settings, raw_address: Any, raw_code: Any, now: datetime | None = None
) -> Opened:
    """Trade a good code for a session; 401 `code_rejected` for anything else (a wrong, spent,
    expired or unknown code, an address that is no user's)."""
    key = session_key(settings)
    kind, address = parse_address(raw_address)
    code = raw_code.strip() if isinstance(raw_code, str) else ""
    if not codes.is_code_shaped(code):
        raise invalid("code", "must be the 6 digits of the code you received")
    moment = now or records.utcnow()
    users = store(settings)
    user_id = _holder(users, kind, address)
    if user_id is None:
        # The reads a user's address costs (their row, then their code's), of rows no one has:
        # how long the refusal takes tells nobody whether the address is a user's.
        users.get(NOBODY)
        users.code_state(NOBODY, kind)
        raise ApiError(401, "code_rejected", REJECTED)
    given = codes.code_hash(key, user_id, address, code)
    for _ in range(_ATTEMPTS):
        state, etag = users.code_state(user_id, kind)
        verdict, after = codes.check(state, given, moment)
        if (
            after != state
            and etag is not None
            and not users.save_code_state(user_id, kind, after, etag)
        ):
            continue  # a concurrent try changed it: judge again on what it left
        break
    else:
        raise ApiError(409, "conflict", "too many tries at once: try again")
    if verdict is not codes.Verdict.ACCEPTED:
        logger.info("Inbox code refused for user %s (%s)", user_id, verdict.value)
        raise ApiError(401, "code_rejected", REJECTED)
    return open_session(settings, user_id, moment)


def platform_user(settings: Settings, principal_name: str | None) -> str:
    """The inbox user whose e-mail address is the platform's signed-in principal name."""
    if not principal_name or address_kind(principal_name) != "email":
        raise ApiError(401, "unauthenticated", "the platform's sign-in names no e-mail address")
    user_id = _holder(store(settings), "email", normalise_email(principal_name))
    if user_id is None:
        raise ApiError(403, "not_an_inbox_user", "this account is not an inbox user")
    return user_id


def sign_out(settings: Settings, user_id: str, session_id: str) -> None:
    """End one session."""
    moment = records.utcnow()
    for _ in range(_ATTEMPTS):
        found = store(settings).get(user_id)
        if found is None:
            return
        if store(settings).save_sessions(
            found, sessions.closed(found.user.sessions, session_id, moment)
        ):
            logger.info("Inbox user %s signed out", user_id)
            REMEMBERED.forget_session(session_id)
            sessions_narrowed(settings, found.user)
            return
    raise ApiError(409, "conflict", "signing out collided with another change: try again")
