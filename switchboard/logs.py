"""Loggers that never write a full phone number, nor a line an outsider shaped.

Code masks the numbers it logs itself (`phone.mask`), but text from elsewhere also reaches the
logs: Twilio's error messages quote numbers ("The 'To' number +15005550001 is not a valid phone
number."), exceptions carry request values. Every `switchboard` logger therefore gets a filter that
masks any E.164-looking number in the final message and in the exception text, so one overlooked
call site cannot leak a number. Records in Table Storage keep the numbers: operators need them.

The same filter writes every control character of a message as an escape (`\n`, `\x1b`): a
value that reaches a message (a JSON pointer naming a key, an exception's text) can neither
start a forged log line nor drive a terminal.

Both patterns compile on first use (most messages hold no `+` and nothing unprintable, and
skip them): every module logs, and a cold start pays for nothing it does not log.
"""

from __future__ import annotations

import logging
import re

from switchboard.patterns import CONTROL_CHARACTERS
from switchboard.phone import mask

_NUMBER = r"\+[1-9][0-9]{7,14}"


def mask_numbers(text: str) -> str:
    """Every E.164-looking number in `text` masked (`+15558675310` → `+1555***5310`)."""
    if "+" not in text:
        return text
    return re.sub(_NUMBER, lambda found: mask(found.group()), text)


def escape_controls(text: str) -> str:
    """`text` with each control character written as its escape (one line, nothing hidden)."""
    if text.isprintable():  # every control character is unprintable
        return text
    return re.sub(
        CONTROL_CHARACTERS, lambda found: found.group().encode("unicode_escape").decode(), text
    )


class MaskNumbersFilter(logging.Filter):
    """Rewrites a record's message (and exception text) with phone numbers masked, and the
    message's control characters escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = escape_controls(mask_numbers(message))
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
