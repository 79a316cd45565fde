"""Every switchboard logger masks phone numbers, whatever text reaches it."""

from __future__ import annotations

import logging

import pytest

from switchboard.logs import get_logger, mask_numbers


def test_mask_numbers_in_free_text() -> None:
    text = "The 'To' number +15005550001 is not a valid phone number (from +442071838750)."
    masked = mask_numbers(text)
    assert "+15005550001" not in masked
    assert "+1500***0001" in masked
    assert "+4420***8750" in masked
    assert mask_numbers("order 12345678 costs +5") == "order 12345678 costs +5"


def test_logger_masks_arguments_messages_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    logger = get_logger("switchboard.test_logs")
    assert get_logger("switchboard.test_logs").filters.count(logger.filters[0]) == 1
    with caplog.at_level(logging.INFO, logger="switchboard.test_logs"):
        logger.info("call to %s failed: %s", "+15558675310", "Twilio said +15005550009")
        try:
            raise ValueError("bad number +15558675310")
        except ValueError:
            logger.exception("while sending")
    text = caplog.text
    assert "+15558675310" not in text
    assert "+15005550009" not in text
    assert "+1555***5310" in text
    assert "ValueError: bad number +1555***5310" in text
