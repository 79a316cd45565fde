"""At most once per key: what a send finds when it claims its key (pure).

A text sent because of something that may arrive twice (Twilio retrying a webhook with the same
MessageSid, the same webhook on two instances, an operator's request sent again with its key)
carries a key derived from its cause (``relay-<MessageSid>-<recipient digits>``), and its
MessageLog record is keyed by it. Sending is a small state machine, modelled on AWS Lambda
Powertools' idempotency utility:

- the record is absent: this send claims it (inserts it ``claimed``, with `ClaimedAt`), then
  checks the policy, sends, and completes it with Twilio's SID and status (or ``skipped`` /
  ``failed``): `Found.NEW`;
- the record has an outcome (a SID, or a status other than ``claimed``): nothing is sent again,
  the outcome is answered: `Found.DONE`;
- it is ``claimed`` within the lease: another instance (or this request's first try) is
  sending it right now; nothing is sent: `Found.BUSY`;
- it is ``claimed`` past the lease: its sender vanished between the claim and the record, so
  the text may or may not have gone: Twilio is asked (a message to the recipient with the body
  since the claim); found, it is recorded; not found, this send takes the claim over (under the
  record's ETag: one instance wins) and sends: `Found.DOUBT`.

The lease covers one Twilio request (15 s at most) and the writes around it with room to spare.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

#: How long a claim is its sender's alone.
LEASE = timedelta(seconds=60)
#: How far Twilio's clock may be from ours when it is asked about a send in doubt.
CLOCK_SKEW = timedelta(minutes=2)
CLAIMED = "claimed"


class Found(StrEnum):
    """What a send found under its key."""

    NEW = "new"
    DONE = "done"
    BUSY = "busy"
    DOUBT = "doubt"


def judge(record: Mapping[str, Any] | None, now: datetime, lease: timedelta = LEASE) -> Found:
    """What a send does with the record found under its key (see the module doc)."""
    if record is None:
        return Found.NEW
    if record.get("Sid") or str(record.get("Status") or "") != CLAIMED:
        return Found.DONE
    claimed = record.get("ClaimedAt")
    if isinstance(claimed, datetime) and now - claimed < lease:
        return Found.BUSY
    return Found.DOUBT


def asked_since(record: Mapping[str, Any], now: datetime) -> datetime:
    """Since when Twilio is asked about a send in doubt: its claim, less the clock skew."""
    claimed = record.get("ClaimedAt")
    return (claimed if isinstance(claimed, datetime) else now) - CLOCK_SKEW


def word_of(record: Mapping[str, Any]) -> str:
    """The word a finished send's record says: ``sent``, or ``skipped (why)`` / ``failed``."""
    status = str(record.get("Status") or "")
    if status == "skipped":
        return f"skipped ({record.get('Reason') or 'refused'})"
    if status == CLAIMED and not record.get("Sid"):
        return "sending"
    if status in ("failed", "undelivered") and not record.get("Sid"):
        return "failed"
    return "sent"
