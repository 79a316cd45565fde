"""Fixtures the unit tests of several capabilities share."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


def _machine_zone(monkeypatch: pytest.MonkeyPatch, zone: str) -> Iterator[None]:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def local_clock_far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is Kathmandu (+05:45): results must not depend on it."""
    yield from _machine_zone(monkeypatch, "Asia/Kathmandu")


@pytest.fixture
def local_clock_a_day_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is Kiritimati (+14:00): most of the world's today is its
    tomorrow there, so a rule that read the machine's date would pick the wrong day."""
    yield from _machine_zone(monkeypatch, "Pacific/Kiritimati")
