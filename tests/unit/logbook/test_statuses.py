"""Status words of messages and calls: their order, terminal states, the callback URL."""

from __future__ import annotations

import itertools

import pytest

from switchboard.logbook import statuses
from switchboard.logbook.statuses import Kind, next_state, rank


def test_message_order() -> None:
    chain = ["accepted", "scheduled", "queued", "sending", "sent", "delivered", "read"]
    for earlier, later in itertools.pairwise(chain):
        assert rank(Kind.MESSAGE, earlier) < rank(Kind.MESSAGE, later)
        assert next_state(Kind.MESSAGE, earlier, later) == later
        assert next_state(Kind.MESSAGE, later, earlier) is None


def test_call_order() -> None:
    chain = ["queued", "initiated", "ringing", "in-progress", "completed"]
    for earlier, later in itertools.pairwise(chain):
        assert next_state(Kind.CALL, earlier, later) == later
        assert next_state(Kind.CALL, later, earlier) is None


@pytest.mark.parametrize("final", ["delivered", "undelivered", "failed", "read", "canceled"])
@pytest.mark.parametrize("earlier", ["accepted", "scheduled", "queued", "sending", "sent"])
def test_message_terminal_never_moves_back(final: str, earlier: str) -> None:
    assert statuses.is_terminal(Kind.MESSAGE, final)
    assert next_state(Kind.MESSAGE, final, earlier) is None


@pytest.mark.parametrize("final", ["completed", "busy", "no-answer", "canceled", "failed"])
@pytest.mark.parametrize("earlier", ["queued", "initiated", "ringing", "in-progress"])
def test_call_terminal_never_moves_back(final: str, earlier: str) -> None:
    assert statuses.is_terminal(Kind.CALL, final)
    assert next_state(Kind.CALL, final, earlier) is None


def test_read_follows_delivered_and_same_state_does_not_move() -> None:
    assert next_state(Kind.MESSAGE, "delivered", "read") == "read"
    assert next_state(Kind.MESSAGE, "read", "delivered") is None
    assert next_state(Kind.MESSAGE, "sent", "sent") is None


def test_unknown_statuses() -> None:
    # App-set statuses rank below Twilio's; an unknown incoming word never moves a record.
    assert next_state(Kind.MESSAGE, "received", "queued") == "queued"
    assert next_state(Kind.CALL, "dead-lettered", "completed") == "completed"
    assert next_state(Kind.MESSAGE, "queued", "partially_delivered") is None
    assert next_state(Kind.MESSAGE, None, "SENT") == "sent"


def test_status_callback_url() -> None:
    assert (
        statuses.status_callback_url("https://x.example/", Kind.MESSAGE, "a b/c")
        == "https://x.example/api/status/message?id=a%20b%2Fc"
    )
    assert statuses.status_callback_url("https://x", Kind.CALL) == "https://x/api/status/call"
