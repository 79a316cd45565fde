"""STOP under a storage outage: an opt-out is never lost silently.

Unguarded, with Table Storage down, a signed `STOP` gets `200 <Response/>`: Twilio records a
success, never retries, and the opt-out is never written; once storage is back the app texts
that number again (a scheduled SMS goes out, `POST /api/messages` sends).

After the fix:

- a STOP (or START) that cannot be recorded is answered `503` (no TwiML): Twilio logs error 11200
  against the MessageSid in its debugger, requests the number's fallback URL when one is set, and
  retries when the webhook URL carries connection overrides (`#rc=..&rp=5xx`); on long codes
  Twilio's own opt-out handling has already blocked the number whatever the app answers;
- the opt-out is recorded as soon as storage is back (the instance keeps what it could not write
  and writes it first; the timer reconciles the inbound keywords Twilio has since its watermark),
  before anything is sent again: the due SMS ends `skipped-opted-out`, `POST /api/messages`
  answers 400 `21610`, and the `OptOut` table holds the number (`How` = `keyword`).

The host, the Twilio stand-in and the dedicated Azurite (persisting to a folder on fixed ports,
so that stopping it is an outage and starting it again the recovery) are those of
`test_storage_outage.py`: its fixtures are reused here.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.reliability import test_storage_outage as storage_outage
from tests.reliability.app_clients import Answer, text
from tests.reliability.conftest import BUSINESS, wait_until

# The storage-outage fixtures: the dedicated Azurite (one per module, running at each test's
# start) and the host on it with the timer every 2 s (`storage_outage.Outage`).
storage = storage_outage.storage
running = storage_outage.running
outage = storage_outage.outage
Outage = storage_outage.Outage


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def opt_out_row(outage: Outage, number: str) -> dict[str, Any] | None:
    """The number's row in the OptOut table (Azurite), or None."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableClient

    table = TableClient.from_connection_string(
        outage.storage.connection_string, str(outage.env["TABLE_OPT_OUT"])
    )
    try:
        return dict(table.get_entity(number, "optout"))
    except ResourceNotFoundError:
        return None


def warm(outage: Outage) -> None:
    """The tables exist before the outage (as in any app that has run once)."""
    assert text(outage.host, new_number(), BUSINESS, "hello").status == 200


def stop_while_storage_is_down(outage: Outage, sender: str, down_for: float = 1.0) -> Answer:
    outage.storage.stop()
    try:
        return text(outage.host, sender, BUSINESS, "STOP")
    finally:
        time.sleep(down_for)
        outage.storage.restart()


def test_a_stop_that_cannot_be_recorded_is_not_answered_as_a_success(outage: Outage) -> None:
    """With storage down, a STOP must not get 200 (Twilio would record a success and
    never retry). Unguarded: `200 <Response/>`."""
    warm(outage)
    answer = stop_while_storage_is_down(outage, new_number(), down_for=0.0)
    assert 500 <= answer.status < 600, (answer.status, answer.body)
    assert "<Response" not in answer.body  # no TwiML with a failure


def test_a_stop_sent_during_an_outage_is_honoured_once_storage_is_back(outage: Outage) -> None:
    """After the outage the app must know about the STOP before it texts the number
    again. Unguarded: the opt-out is never written, the scheduled SMS is sent and so is the
    operator's message."""
    warm(outage)
    sender = new_number()
    schedule_id = "stop-out-" + uuid.uuid4().hex[:8]
    send_at = (datetime.now(UTC) + timedelta(seconds=8)).isoformat(timespec="seconds")
    status, shown = outage.api(
        "POST",
        "sms/schedules",
        {"id": schedule_id, "to": sender, "body": "Your reminder", "sendAt": send_at},
    )
    assert status == 201, shown
    stop_while_storage_is_down(outage, sender)

    def final() -> dict[str, Any] | None:
        code, view = outage.api("GET", f"sms/schedules/{schedule_id}")
        return view if code == 200 and view["status"] not in {"pending", "claimed"} else None

    result = wait_until(final, 40, f"schedule {schedule_id} final after the outage")
    assert result["status"] == "skipped-opted-out", (result, outage.created("Messages", sender))
    code, answer = outage.api("POST", "messages", {"to": sender, "body": "Still there?"})
    assert (code, answer["error"]["code"]) == (400, "21610"), (code, answer)
    assert outage.created("Messages", sender) == []

    def written() -> dict[str, Any] | None:
        # The journal is written at the start of the next trip once storage answers (a replay
        # that found storage still restarting waits a few seconds before the next try), and
        # until then the instance refuses the number from its journal, as above.
        text(outage.host, new_number(), BUSINESS, "hello")
        return opt_out_row(outage, sender)

    row = wait_until(written, 30, f"the opt-out of {sender} written after the outage", 0.5)
    assert row["How"] == "keyword"
