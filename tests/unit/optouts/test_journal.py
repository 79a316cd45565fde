"""The opt-out journal: a STOP that could not be written still blocks texts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchboard.optouts import journal as journal_module
from switchboard.optouts.journal import Journal, PendingChange
from switchboard.optouts.rules import How, OptedOut, OptOutRecord, ensure_can_text

NUMBER = "+15558675310"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Nobody:
    def get(self, number: str) -> OptOutRecord | None:
        return None


def change(sid: str, opted_out: bool = True, number: str = NUMBER) -> PendingChange:
    return PendingChange(number, opted_out, "STOP" if opted_out else "START", sid, AT)


def test_a_pending_stop_blocks_before_storage_is_asked_and_a_later_start_does_not() -> None:
    pending = Journal()
    ensure_can_text(NUMBER, Nobody(), pending)
    pending.add(change("SM1"))
    with pytest.raises(OptedOut) as caught:
        ensure_can_text(f" {NUMBER} ", Nobody(), pending)
    assert caught.value.record.how is How.KEYWORD
    assert caught.value.record.message_sid == "SM1"
    pending.add(change("SM2", opted_out=False))
    ensure_can_text(NUMBER, Nobody(), pending)  # the newest change wins
    ensure_can_text("+15558670000", Nobody(), pending)


def test_changes_are_kept_once_per_message_in_order_and_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pending = Journal(limit=2)
    pending.add(change("SM1"))
    pending.add(change("SM1"))
    assert len(pending) == 1
    pending.add(change("SM2", number="+15558670002"))
    pending.add(change("SM3", number="+15558670003"))
    assert [c.message_sid for c in pending.pending()] == ["SM2", "SM3"]
    assert "journal full" in caplog.text
    first = pending.pending()[0]
    pending.written(first)
    assert [c.message_sid for c in pending.pending()] == ["SM3"]


def test_a_failed_replay_waits_before_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(journal_module.time, "monotonic", lambda: clock[0])
    pending = Journal()
    assert not pending.due()  # nothing to write
    pending.add(change("SM1"))
    assert pending.due()
    pending.failed()
    assert not pending.due()
    clock[0] += journal_module.RETRY_AFTER
    assert pending.due()
