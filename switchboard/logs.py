"""Loggers that never write a full phone number (SPEC "Logs and privacy").

Code masks the numbers it logs itself (`phone.mask`), but text from elsewhere also reaches the
logs: Twilio's error messages quote numbers ("The 'To' number +15005550001 is not a valid phone
number."), exceptions carry request values. Every `switchboard` logger therefore gets a filter that
masks any E.164-looking number in the final message and in the exception text, so one overlooked
call site cannot leak a number. Records in Table Storage keep the numbers: operators need them.
"""

from __future__ import annotations

import logging
import re

from switchboard.phone import mask

_NUMBER = re.compile(r"\+[1-9]\d{7,14}")


def mask_numbers(text: str) -> str:
    """Every E.164-looking number in `text` masked (`+15558675310` → `+1555***5310`)."""
    return _NUMBER.sub(lambda found: mask(found.group()), text)


class MaskNumbersFilter(logging.Filter):
    """Rewrites a record's message (and exception text) with phone numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_numbers(record.exc_text)
        return True


_FILTER = MaskNumbersFilter()


def get_logger(name: str) -> logging.Logger:
    """`logging.getLogger(name)` with the number-masking filter attached (once)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
