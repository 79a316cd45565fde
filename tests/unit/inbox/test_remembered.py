"""An instance's memory of the sessions it checked: a (session, validator) pair vouched for only
after a check of this instance, for at most 10 minutes and never past the session's expiry,
forgotten when the user's sessions end here, bounded in size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.inbox.remembered import REMEMBER_FOR, RememberedSessions
from switchboard.jsonroutes.auth import Principal, inbox_user

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
OWNER = inbox_user("u" + "1" * 16, "owner")
STAFF = inbox_user("u" + "2" * 16, "staff", ["+15017122661"])
SESSION = "s" * 32
OTHER_SESSION = "t" * 32


def checked(expires_in: timedelta = timedelta(hours=12)) -> RememberedSessions:
    memory = RememberedSessions()
    memory.checked(SESSION, NOW + expires_in)
    return memory


def test_a_vouched_pair_gives_back_the_principal_marked_remembered() -> None:
    memory = checked()
    assert memory.vouch(SESSION, '"v1"', OWNER, NOW)
    found = memory.find(SESSION, ['"v0"', '"v1"'], NOW + timedelta(minutes=1))
    assert found is not None
    assert found.remembered
    assert (found.user_id, found.role, found.lines) == (OWNER.user_id, OWNER.role, OWNER.lines)
    # Another validator, another session: nothing.
    assert memory.find(SESSION, ['"v2"'], NOW) is None
    assert memory.find(OTHER_SESSION, ['"v1"'], NOW) is None


def test_only_a_session_this_instance_checked_is_vouched_for() -> None:
    memory = RememberedSessions()
    assert not memory.vouch(SESSION, '"v1"', OWNER, NOW)
    assert memory.find(SESSION, ['"v1"'], NOW) is None
    remembered = Principal("inbox", OWNER.user_id, OWNER.role, remembered=True)
    assert not checked().vouch(SESSION, '"v1"', remembered, NOW)  # never from memory itself


def test_a_pair_lasts_ten_minutes() -> None:
    memory = checked()
    memory.vouch(SESSION, '"v1"', OWNER, NOW)
    assert memory.find(SESSION, ['"v1"'], NOW + REMEMBER_FOR - timedelta(seconds=1))
    assert memory.find(SESSION, ['"v1"'], NOW + REMEMBER_FOR) is None
    assert memory.find(SESSION, ['"v1"'], NOW) is None  # gone for good once past


def test_a_pair_never_outlives_its_session() -> None:
    memory = checked(expires_in=timedelta(minutes=3))
    memory.vouch(SESSION, '"v1"', OWNER, NOW)
    assert memory.find(SESSION, ['"v1"'], NOW + timedelta(minutes=2, seconds=59))
    assert memory.find(SESSION, ['"v1"'], NOW + timedelta(minutes=3)) is None
    expired = checked(expires_in=timedelta(0))
    assert not expired.vouch(SESSION, '"v1"', OWNER, NOW)


def test_ending_a_users_sessions_or_one_session_here_forgets_them() -> None:
    memory = checked()
    memory.checked(OTHER_SESSION, NOW + timedelta(hours=1))
    memory.vouch(SESSION, '"v1"', OWNER, NOW)
    memory.vouch(OTHER_SESSION, '"v1"', STAFF, NOW)
    memory.forget_user(str(OWNER.user_id))
    assert memory.find(SESSION, ['"v1"'], NOW) is None
    assert memory.find(OTHER_SESSION, ['"v1"'], NOW) is not None
    memory.forget_session(OTHER_SESSION)
    assert memory.find(OTHER_SESSION, ['"v1"'], NOW) is None
    assert not memory.vouch(OTHER_SESSION, '"v2"', STAFF, NOW)  # checked again first


def test_the_memory_is_bounded_the_least_recently_used_going_first() -> None:
    memory = RememberedSessions(size=2)
    memory.checked(SESSION, NOW + timedelta(hours=1))
    for n in range(3):
        memory.vouch(SESSION, f'"v{n}"', OWNER, NOW)
    assert memory.find(SESSION, ['"v0"'], NOW) is None
    assert memory.find(SESSION, ['"v1"'], NOW) is not None
    assert memory.find(SESSION, ['"v2"'], NOW) is not None


def test_a_conversations_pair_counts_only_while_its_marker_is_as_witnessed() -> None:
    memory = checked()
    memory.vouch(SESSION, '"c1"', OWNER, NOW)  # seeded: no marker witnessed yet
    assert memory.find(SESSION, ['"c1"'], NOW) is not None
    assert not memory.witnessed(SESSION, '"c1"', "m1")
    memory.vouch(SESSION, '"c1"', OWNER, NOW, witness="m1")
    assert memory.witnessed(SESSION, '"c1"', "m1")
    assert not memory.witnessed(SESSION, '"c1"', "m2")  # the marker moved since
    assert not memory.witnessed(SESSION, '"c1"', None)
    assert not memory.witnessed(OTHER_SESSION, '"c1"', "m1")
