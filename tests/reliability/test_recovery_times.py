"""Recovery times: what kill -9 costs, and the SMS lease made short and safe.

A timer run claims due schedules with a lease (`LeaseUntil`); a run killed mid-way leaves its
claims until the lease runs out, then a later run asks Twilio whether each went out and sends
only what did not. Unguarded the lease is 5 minutes (`scheduler.RunOptions.lease`), so after kill -9
a due SMS goes out ~6 minutes late (the README says otherwise).

The lease only has to outlive what a run does between claiming a row and starting its send:
a run never starts a send later than `LeaseUntil - margin`, a chunk is claimed just ahead of its
senders (at most 3 × SMS_SEND_CONCURRENCY rows, or 10 s of sends under SMS_MAX_PER_SECOND), and a
send is one Twilio request with a 15 s timeout. With a margin of 30 s (the request timeout plus
clock skew between instances) a lease of 2 minutes leaves 90 s from claim to send start; a row
not started by then is left for the next run, never sent twice. Recovery after kill -9 is then
at most lease + one timer period (2 min + 1 min by default).

Outbound calls are bounded by the Functions host, not the app: the queue listener keeps a message
invisible for 10 minutes while it runs (renewed every 5), so the message of a killed worker comes
back ~10 minutes after it was received; the call's idempotency lease (5 min 30 s) has expired by
then, and the worker asks Twilio before placing it (`test_storage_outage.py` covers the "once").
That figure is stated in the README and docs/SCALING.md, not tested here (10 minutes).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import HostHandle
from tests.reliability.app_clients import operator_api as api
from tests.reliability.conftest import (
    HostFactory,
    app_env,
    fast_app_dir,
    wait_until,
)

#: The lease bounds of the design: long enough for claim → send start (≥ 45 s: the request
#: timeout plus the margin), short enough that kill -9 costs at most ~3 minutes (≤ 120 s).
LEASE_RANGE = (45.0, 120.0)


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def due_row(connection: str, table: str, schedule_id: str) -> dict[str, Any] | None:
    """The schedule's due row in SmsSchedule (Azurite), while it has one."""
    from azure.data.tables import TableClient

    client = TableClient.from_connection_string(connection, table)
    rows = client.query_entities("Id eq @id", parameters={"id": schedule_id})
    due = [dict(r) for r in rows if str(r["PartitionKey"]).startswith("due-")]
    return due[0] if due else None


def env_for(name: str, standin: TwilioStandin) -> dict[str, str | None]:
    return app_env(
        name,
        TWILIO_API_BASE_URL=standin.base_url,
        SMS_TIMER_SCHEDULE="*/2 * * * * *",
        SMS_QUIET_HOURS=None,
    )


def claim_a_slow_send(
    host: HostHandle,
    standin: TwilioStandin,
    env: dict[str, str | None],
    connection: str,
    hold_ms: int,
) -> tuple[str, str, dict[str, Any]]:
    """A schedule due now whose send Twilio holds `hold_ms`; returns (id, to, its claimed due
    row, read while the send is in flight)."""
    to = new_number()
    standin.add_fault(
        to=to, resource="Messages", method="POST", status=None, delay_ms=hold_ms, times=1
    )
    schedule_id = "lease-" + uuid.uuid4().hex[:8]
    now = datetime.now(UTC).isoformat(timespec="seconds")
    status, shown = api(
        host, "POST", "sms/schedules", {"id": schedule_id, "to": to, "body": "Lease", "sendAt": now}
    )
    assert status == 201, shown

    def claimed() -> dict[str, Any] | None:
        row = due_row(connection, str(env["TABLE_SMS_SCHEDULE"]), schedule_id)
        return row if row and row.get("Status") == "claimed" and row.get("LeaseUntil") else None

    return schedule_id, to, wait_until(claimed, 20, f"{schedule_id} claimed", interval=0.05)


def test_the_sms_claim_lease_is_short_enough_to_recover_quickly(
    rel_host: HostFactory, standin: TwilioStandin, storage_connection_string: str, tmp_path: Path
) -> None:
    """The lease a run takes on a due SMS, read from its due row in Azurite. Unguarded:
    300 s (a run killed after claiming delays the SMS by ~6 minutes)."""
    env = env_for("lease", standin)
    host = rel_host(fast_app_dir(tmp_path), env)
    schedule_id, _, row = claim_a_slow_send(
        host, standin, env, storage_connection_string, hold_ms=4000
    )
    lease = (row["LeaseUntil"] - row["ClaimedAt"]).total_seconds()
    # Let the held send finish before the host stops (nothing left in flight at the stand-in).
    wait_until(
        lambda: api(host, "GET", f"sms/schedules/{schedule_id}")[1].get("status") == "sent",
        20,
        f"{schedule_id} sent",
    )
    low, high = LEASE_RANGE
    assert low <= lease <= high, f"lease {lease:.0f} s"


@pytest.mark.slow
def test_an_sms_claimed_by_a_killed_run_goes_out_once_within_three_minutes(
    rel_host: HostFactory, standin: TwilioStandin, storage_connection_string: str, tmp_path: Path
) -> None:
    """Measured: kill -9 the host while its run is sending; a new host (same tables)
    sends the SMS once, at most lease + a timer period after the kill (≤ 150 s with a 2-minute
    lease and a 2 s timer). Unguarded: ~300 s."""
    env = env_for("killed", standin)
    (tmp_path / "a").mkdir()
    first = rel_host(fast_app_dir(tmp_path / "a"), env)
    schedule_id, to, _ = claim_a_slow_send(
        first, standin, env, storage_connection_string, hold_ms=10_000
    )
    os.killpg(first.process.pid, signal.SIGKILL)  # the host we started, and only it
    first.process.wait(10)
    killed_at = time.monotonic()
    (tmp_path / "b").mkdir()
    second = rel_host(fast_app_dir(tmp_path / "b"), env)

    def sent() -> bool:
        status, shown = api(second, "GET", f"sms/schedules/{schedule_id}")
        return status == 200 and shown["status"] == "sent"

    wait_until(sent, 200, f"{schedule_id} sent after the kill", interval=1.0)
    recovered_in = time.monotonic() - killed_at
    print(f"\nkill -9 during a scheduled send: sent once {recovered_in:.0f} s after the kill")
    created = [
        r
        for r in standin.requests("POST", resource="Messages")
        if r.param("To") == to and r.status == 201
    ]
    assert len(created) == 1, created
    assert recovered_in <= 150, f"sent {recovered_in:.0f} s after kill -9"
