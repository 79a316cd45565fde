"""Session cookies and CSRF tokens (pure): signed, bound, compared in constant time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switchboard.inbox import sessions

KEY = "s" * 40
USER = "u0123456789abcdef"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_cookie_value_round_trips_only_under_its_key() -> None:
    session_id = sessions.new_session_id()
    value = sessions.cookie_value(KEY, USER, session_id)
    assert sessions.parse_cookie_value(KEY, value) == (USER, session_id)
    assert sessions.parse_cookie_value("t" * 40, value) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),
        lambda v: "u1123456789abcdef" + v[17:],
        lambda v: v + ".",
        lambda v: v.replace(".", "_", 1),
        lambda v: "",
        lambda v: v + "\n",
    ],
)
def test_an_altered_cookie_is_refused(change: object) -> None:
    value = sessions.cookie_value(KEY, USER, sessions.new_session_id())
    assert sessions.parse_cookie_value(KEY, change(value)) is None  # type: ignore[operator]


def test_csrf_token_is_the_sessions_own() -> None:
    first, second = sessions.new_session_id(), sessions.new_session_id()
    token = sessions.csrf_token(KEY, first)
    assert sessions.csrf_matches(KEY, first, token)
    assert not sessions.csrf_matches(KEY, second, token)
    assert not sessions.csrf_matches(KEY, first, None)
    assert not sessions.csrf_matches(KEY, first, token + "x" * 100)


def test_the_cookie_header_is_httponly_strict_and_secure_off_loopback() -> None:
    secure = sessions.set_cookie("v", 3600, secure=True)
    assert secure.startswith("__Host-switchboard-inbox=v;")
    for attribute in ("Path=/", "Max-Age=3600", "HttpOnly", "SameSite=Strict", "Secure"):
        assert attribute in secure
    local = sessions.set_cookie("v", 3600, secure=False)
    assert local.startswith("switchboard-inbox=v;")
    assert "Secure" not in local
    assert "Max-Age=0" in sessions.clear_cookie(secure=True)
    header = "a=1; switchboard-inbox=abc; __Host-switchboard-inbox=def"
    assert sessions.cookie_from_header(header, sessions.LOOPBACK_COOKIE) == "abc"
    assert sessions.cookie_from_header(header, sessions.SECURE_COOKIE) == "def"
    assert sessions.cookie_from_header(None, sessions.SECURE_COOKIE) is None


def test_live_sessions_expire_close_and_are_bounded() -> None:
    entries: tuple[sessions.SessionEntry, ...] = ()
    ids = [sessions.new_session_id() for _ in range(sessions.MAX_SESSIONS_PER_USER + 2)]
    for minute, session_id in enumerate(ids):
        entries = sessions.opened(
            entries, session_id, NOW + timedelta(minutes=minute), timedelta(hours=1)
        )
    assert len(entries) == sessions.MAX_SESSIONS_PER_USER
    assert sessions.find(entries, ids[0], NOW) is None  # the oldest made room
    assert sessions.find(entries, ids[-1], NOW + timedelta(minutes=20)) is not None
    assert sessions.find(entries, ids[-1], NOW + timedelta(hours=2)) is None  # expired
    closed = sessions.closed(entries, ids[-1], NOW + timedelta(minutes=20))
    assert sessions.find(closed, ids[-1], NOW + timedelta(minutes=20)) is None
    assert len(closed) == sessions.MAX_SESSIONS_PER_USER - 1
    assert all(ids[-1] not in e.digest for e in entries)  # only digests are kept
