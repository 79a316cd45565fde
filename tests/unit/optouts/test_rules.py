"""The one opt-out check every outbound SMS path makes (pure, with a lookup stub)."""

from __future__ import annotations

import pytest

from switchboard.optouts.rules import OptedOut, OptOutCheckFailed, OptOutRecord, ensure_can_text
from switchboard.records import utcnow


class _Lookup:
    def __init__(self, records: dict[str, OptOutRecord], broken: bool = False) -> None:
        self.records = records
        self.broken = broken

    def get(self, number: str) -> OptOutRecord | None:
        if self.broken:
            raise ConnectionError("storage down")
        return self.records.get(number)


def test_ensure_can_text() -> None:
    stopped = OptOutRecord("+15558675310", utcnow(), "keyword", keyword="STOP")
    lookup = _Lookup({stopped.number: stopped})
    ensure_can_text("+15551230000", lookup)
    with pytest.raises(OptedOut) as info:
        ensure_can_text(" +15558675310 ", lookup)
    assert "+1555***5310 has opted out: replied STOP" in str(info.value)
    assert "8675310" not in str(info.value)
    assert info.value.record is stopped
    with pytest.raises(OptOutCheckFailed):
        ensure_can_text("+15551230000", _Lookup({}, broken=True))
