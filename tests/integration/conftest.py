"""Fixtures of the integration layer: one Twilio stand-in per module, reset for every test.

A module sets `STANDIN_SEED` to get its own SIDs and numbers (default 0).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.twilio_standin import TwilioStandin


@pytest.fixture(scope="module")
def standin(request: pytest.FixtureRequest) -> Iterator[TwilioStandin]:
    seed = getattr(request.module, "STANDIN_SEED", 0)
    with TwilioStandin(seed=seed, callback_delay_ms=0) as instance:
        yield instance


@pytest.fixture
def twilio(standin: TwilioStandin) -> TwilioStandin:
    standin.reset()
    return standin
