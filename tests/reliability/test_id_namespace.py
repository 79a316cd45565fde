"""Id namespaces: ids the app derives live where no caller can write.

Unguarded an operator can create a schedule whose id is the one the app will derive for a
recurrence's next occurrence (`<root>@<UTC yyyyMMddTHHmmZ>`): when the root is sent, the
insert-if-absent of the occurrence finds that row and takes it for the occurrence, so the
recurrence is silently taken over (no further occurrence is ever created) and
`DELETE /api/sms/schedules/<root>` cancels the unrelated schedule. The same class: the CLI
import derives `csv-<hash>` ids, a create without id gets `sch-<uuid>`; CallLog keeps its day
index in partitions `idx-YYYYMMDD` and looks records up by Twilio SID (`CA` + 32 hex) too.

After the fix, caller-chosen ids are refused (400 naming `id`) when they are in a derived
namespace: any `@`, and the prefixes `due-`, `done-`, `csv-`, `sch-` for schedules; `idx-`,
`sys-` and Twilio's SID shape for calls. The app's own writes (occurrences, the CSV import) keep them, and
an occurrence row the app finds already there is used only if it is that recurrence's (its root
and previous occurrence match).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.app_clients import operator_api as api
from tests.reliability.conftest import HostFactory, app_env, wait_until


@pytest.fixture(scope="module")
def host(rel_host_module: HostFactory, standin: TwilioStandin) -> HostHandle:
    env = app_env(
        "ids",
        TWILIO_API_BASE_URL=standin.base_url,
        SMS_TIMER_SCHEDULE="*/2 * * * * *",
        SMS_QUIET_HOURS=None,
    )
    return rel_host_module(PROJECT_ROOT, env)


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


@pytest.mark.parametrize(
    "chosen",
    [
        "rec1@20261201T0832Z",
        "invoice@home",
        "csv-" + "0123456789abcdef" * 2 + "01234567",
        "sch-" + uuid.uuid4().hex,
    ],
    ids=["occurrence", "at-sign", "csv-import", "generated"],
)
def test_schedule_ids_in_a_derived_namespace_are_refused(host: HostHandle, chosen: str) -> None:
    """`POST /api/sms/schedules` with an id the app derives (or could). Unguarded: 201."""
    status, answer = api(
        host,
        "POST",
        "sms/schedules",
        {"id": chosen, "to": "+15557770160", "body": "Unrelated", "sendAt": soon(3600)},
    )
    assert status == 400, (status, answer)
    assert answer["error"]["field"] == "id", answer


def test_a_chosen_id_cannot_take_over_a_recurrence(host: HostHandle) -> None:
    """The scenario: a schedule created under the id of a recurrence's next occurrence
    before the recurrence runs. Unguarded it becomes the occurrence: the root's `next` points at the
    unrelated schedule (its body, its recipient) and `DELETE` of the root cancels it."""
    root = "rec-" + uuid.uuid4().hex[:8]
    next_year = datetime.now(UTC).year + 1
    occurrence = f"{root}@{next_year}0101T0000Z"  # "0 0 1 1 *" in UTC: next January 1st
    hijack = api(
        host,
        "POST",
        "sms/schedules",
        {"id": occurrence, "to": "+15557770161", "body": "Unrelated", "sendAt": soon(86_400)},
    )
    status, created = api(
        host,
        "POST",
        "sms/schedules",
        {
            "id": root,
            "to": "+15557770162",
            "body": "Happy new year from us",
            "sendAt": soon(2),
            "timeZone": "UTC",
            "recurrence": "0 0 1 1 *",
        },
    )
    assert status == 201, created

    def sent() -> dict[str, Any] | None:
        code, view = api(host, "GET", f"sms/schedules/{root}")
        return view if code == 200 and view["status"] == "sent" and view.get("next") else None

    view = wait_until(sent, 30, f"{root} sent with its next occurrence")
    assert view["next"] == occurrence
    code, following = api(host, "GET", f"sms/schedules/{occurrence}")
    assert code == 200, following
    assert (following["to"], following["body"]) == ("+15557770162", "Happy new year from us"), (
        f"the occurrence is the chosen schedule: {following} (its create answered {hijack[0]})"
    )
    code, cancelled = api(host, "DELETE", f"sms/schedules/{root}")
    assert code == 200, cancelled
    code, after = api(host, "GET", f"sms/schedules/{occurrence}")
    assert (after["status"], after["body"]) == ("cancelled", "Happy new year from us"), after
    assert hijack[0] == 400, hijack


@pytest.mark.parametrize(
    "chosen",
    ["idx-20261201", "CA" + "0123456789abcdef" * 2, "sys-callback-CA1"],
    ids=["index-partition", "twilio-call-sid", "apps-own-call"],
)
def test_call_ids_in_a_derived_namespace_are_refused(host: HostHandle, chosen: str) -> None:
    """`POST /api/calls` with an id that is a CallLog index partition, has the shape of a
    Twilio CallSid (which `GET /api/calls/{id}` also resolves) or is one of the ids of the
    calls the app places by itself (which conversations leave out). Unguarded: 202."""
    status, answer = api(host, "POST", "calls", {"id": chosen, "to": "+15557770163", "say": "hi"})
    assert status == 400, (status, answer)
    assert answer["error"]["field"] == "id", answer
