"""Storage outages: Azurite stopped during webhooks, queue processing and timer runs, then
restarted on the same ports with the same data.

A dedicated Azurite persists to a temporary folder on three fixed free ports, so stopping it is
an outage and starting it again is the recovery (an in-memory Azurite would lose everything).

Through the local host (`test_outage_through_the_host`): while storage is down, calls are still
answered with TwiML, texts are answered 200 without anything automatic (the outbound policy fails
closed: a line's budget that cannot be read cannot be kept), a STOP that cannot be recorded
answers 503
(Twilio records the failure; `test_stop_outage.py` follows what happens next), status
callbacks answer the documented 503, operator routes answer 503 with the error shape (never 500),
the queue poller and the timer fail and keep going. After the restart, the outbound call whose
message became visible during the outage is placed exactly once, the SMS that fell due during
the outage is sent exactly once, what was written before is still there, and writes work again.

In process, two moments a host run cannot reach within a test's time: a timer run cut by the
outage after it claimed a schedule and while Twilio was accepting it (resolved after the claim's
lease by asking Twilio, never sent twice), and an outbound call that Twilio accepted just as
storage died (the redelivered message must not place a second call).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devkit.ports import free_port
from devkit.simulator import CallSession, send_sms, sign_and_post
from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.calls.store import IdempotencyStore
from switchboard.logbook.store import RecordStore
from switchboard.schedules import store as schedule_store
from switchboard.settings import Settings, load_settings
from switchboard.storage import queues, tables
from tests.e2e.conftest import HostHandle
from tests.reliability.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BUSINESS,
    FUNCTION_KEY,
    HostFactory,
    InProcessApp,
    RestartableAzurite,
    app_env,
    b64,
    fast_app_dir,
    in_process_settings,
    sized,
    twilio_functions,
    wait_until,
)

try:  # the queue logic lives beside the (thin) blueprint
    from switchboard.calls.placing import process_message, twilio_placer
except ImportError:  # pragma: no cover - before the blueprints were thinned
    from switchboard.calls.blueprint import process_message, twilio_placer  # type: ignore

CALLER = "+15557770101"


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableAzurite]:
    azurite = RestartableAzurite(tmp_path_factory.mktemp("azurite-data"))
    azurite.start()
    try:
        yield azurite
    finally:
        azurite.stop()


@pytest.fixture
def running(storage: RestartableAzurite) -> RestartableAzurite:
    """The dedicated Azurite, running at the start of the test (whatever the last one did)."""
    if storage.process is None or storage.process.poll() is not None:
        storage.restart()
    return storage


def settings_of(env: dict[str, str | None]) -> Settings:
    return load_settings({k: v for k, v in env.items() if v is not None})


def forget_storage_clients() -> None:
    """In-process clients must not reuse connections to the stopped process."""
    tables.forget_created_tables()
    queues.forget_clients()
    schedule_store.forget_created_tables()


# --- through the host ------------------------------------------------------------------------


class Outage:
    """The host, the stand-in and the dedicated Azurite of one outage scenario."""

    def __init__(
        self, host: HostHandle, standin: TwilioStandin, storage: RestartableAzurite, env: dict
    ) -> None:
        self.host = host
        self.standin = standin
        self.storage = storage
        self.env = env
        self.settings = settings_of(env)
        self.public = str(env["PUBLIC_BASE_URL"])

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"x-functions-key": FUNCTION_KEY, "Content-Type": "application/json"}
        data = json.dumps(body) if body is not None else None
        answer = self.host.request(method, f"/api/{path}", headers=headers, body=data)
        try:
            return answer.status, answer.json()
        except ValueError:
            return answer.status, answer.text

    def call(self, caller: str, digits: list[str]) -> Any:
        session = CallSession(
            self.host.url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            public_base_url=self.public,
            from_=caller,
            to=BUSINESS,
        )
        return session.run(digits=digits, dial_status="busy")

    def text(self, sender: str, body: str) -> Any:
        return send_sms(
            self.host.url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            public_base_url=self.public,
            from_=sender,
            to=BUSINESS,
            body=body,
        )

    def enqueue(self, payload: dict[str, Any], invisible_for: int = 0) -> str:
        from azure.storage.queue import QueueClient

        client = QueueClient.from_connection_string(
            self.storage.connection_string, str(self.env["OUTBOUND_CALL_QUEUE"])
        )
        message = client.send_message(
            b64(json.dumps(payload).encode()), visibility_timeout=invisible_for or None
        )
        return str(message.id)

    def call_record(self, record_id: str) -> dict[str, Any] | None:
        entity = RecordStore.calls(self.settings).get(record_id)
        return dict(entity) if entity is not None else None

    def schedule(self, schedule_id: str) -> dict[str, Any]:
        status, shown = self.api("GET", f"sms/schedules/{schedule_id}")
        assert status == 200, (status, shown)
        return dict(shown)

    def created(self, resource: str, to: str) -> list[Any]:
        return [
            r
            for r in self.standin.requests(method="POST", resource=resource)
            if r.param("To") == to and r.status == 201
        ]

    def executions(self, function: str) -> int:
        return sum(f"Executed 'Functions.{function}'" in line for line in self.host.lines)


@pytest.fixture
def outage(
    rel_host: HostFactory,
    standin: TwilioStandin,
    running: RestartableAzurite,
    tmp_path: Path,
) -> Iterator[Outage]:
    port = free_port()
    env = app_env(
        "outage",
        AzureWebJobsStorage=running.connection_string,
        TWILIO_API_BASE_URL=standin.base_url,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        SMS_TIMER_SCHEDULE="*/2 * * * * *",
        SMS_QUIET_HOURS=None,
    )
    host = rel_host(fast_app_dir(tmp_path), env, port=port)
    yield Outage(host, standin, running, env)
    forget_storage_clients()


def during_outage(outage: Outage, cycle: int) -> None:
    """Everything a caller, a texter, Twilio and an operator do while storage is down."""
    for n in range(2):
        call = outage.call(new_number(), digits=["1"])
        assert call.ok, call.text() + "\n" + outage.host.log_text()[-3000:]
        assert [step.status for step in call.webhooks] == [200] * len(call.webhooks)
        assert call.ended_by == "hangup"
        reply = outage.text(new_number(), f"Hello during outage {cycle}.{n}")
        assert reply.ok, reply.text()
        assert reply.status == 200
        assert "<Response" in reply.twiml
        assert "<Message" not in reply.twiml  # fail closed: nothing automatic
    # A STOP that cannot be recorded is not answered as a success (a 200 would tell Twilio it
    # was; a 503 is a failure Twilio records): the instance keeps it and writes it when storage
    # is back.
    stop = outage.text(new_number(), "STOP")
    assert stop.status == 503
    assert "<Response" not in stop.twiml
    callback = sign_and_post(
        outage.host.api("status/call"),
        {"CallSid": "CA" + uuid.uuid4().hex, "CallStatus": "completed"},
        auth_token=AUTH_TOKEN,
        public_base_url=outage.public,
    )
    assert callback.status == 503  # documented: storage down, Twilio's debugger shows it
    for method, path, body in [
        ("POST", "calls", {"to": new_number(), "say": "hi"}),
        ("GET", "calls/nope", None),
        ("POST", "sms/schedules", {"to": new_number(), "body": "x", "sendAt": iso(0)}),
        ("GET", "health", None),
    ]:
        status, answer = outage.api(method, path, body)
        assert status == 503, (method, path, status, answer)
        assert isinstance(answer, dict), answer
        if path != "health":
            assert answer["error"]["code"], answer
        else:
            assert answer["storage"]["ok"] is False


def iso(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


@sized(default=1, soak=4)
def test_outage_through_the_host(outage: Outage, size: int) -> None:
    before = outage.call(CALLER, digits=["2"])
    assert before.ok, before.text()
    assert outage.call_record(before.call_sid) is not None
    queued: list[tuple[str, str]] = []
    scheduled: list[tuple[str, str]] = []
    for cycle in range(size):
        # Due while storage is down: an SMS (the timer fires every 2 s) and a call message
        # that becomes visible then (the poller meets the outage).
        to_sms, to_call = new_number(), new_number()
        schedule_id = f"outage-{cycle}-{uuid.uuid4().hex[:8]}"
        status, shown = outage.api(
            "POST",
            "sms/schedules",
            {"id": schedule_id, "to": to_sms, "body": f"Reminder {cycle}", "sendAt": iso(3)},
        )
        assert status == 201, shown
        call_id = f"outage-call-{cycle}-{uuid.uuid4().hex[:8]}"
        outage.enqueue({"id": call_id, "to": to_call, "say": "Hello"}, invisible_for=3)
        scheduled.append((schedule_id, to_sms))
        queued.append((call_id, to_call))

        timer_runs = outage.executions("sms_schedule_timer")
        outage.storage.stop()
        down_since = time.monotonic()
        during_outage(outage, cycle)
        # Hold the outage until the SMS and the call message are due and the timer and the
        # poller have both met it.
        wait_until(
            lambda runs=timer_runs, since=down_since: (
                outage.executions("sms_schedule_timer") >= runs + 2 and time.monotonic() - since > 5
            ),
            30,
            "two timer runs during the outage",
        )
        outage.host.wait_for_log("polling queue", timeout=10)
        assert outage.host.process.poll() is None, "the host survived the outage"
        outage.storage.restart()

        for schedule_id, _ in scheduled:
            wait_until(
                lambda s=schedule_id: outage.schedule(s)["status"] == "sent",
                40,
                f"schedule {schedule_id} sent after the restart",
            )
        for call_id, _ in queued:
            wait_until(
                lambda c=call_id: (
                    (outage.call_record(c) or {}).get("IdempotencyStatus") == "completed"
                ),
                40,
                f"call {call_id} placed after the restart",
            )
    # Two more timer runs and queue visibility timeouts: still exactly one of each.
    runs = outage.executions("sms_schedule_timer")
    wait_until(lambda: outage.executions("sms_schedule_timer") >= runs + 2, 15, "two more runs")
    for schedule_id, to_sms in scheduled:
        assert len(outage.created("Messages", to_sms)) == 1, schedule_id
        assert (
            outage.schedule(schedule_id)["sid"]
            == outage.created("Messages", to_sms)[0].response["sid"]
        )
    for call_id, to_call in queued:
        assert len(outage.created("Calls", to_call)) == 1, call_id
        record = outage.call_record(call_id)
        assert record is not None
        assert record["Sid"] == outage.created("Calls", to_call)[0].response["sid"]
    # What was written before the outage is still there; writes work again.
    assert outage.call_record(before.call_sid) is not None
    after = outage.call(CALLER, digits=["2"])
    assert after.ok
    wait_until(lambda: outage.call_record(after.call_sid), 10, "a record written after")
    # Automatic texts went quiet during the outage only: a text now gets its reply again.
    reply = wait_until(
        lambda: (
            lambda answer: answer if "Thanks, we will text you back soon." in answer.twiml else None
        )(outage.text(new_number(), "Hello after the outage")),
        20,
        "an auto-reply after the outage",
    )
    assert reply.status == 200


# --- in process: a timer run cut by the outage -----------------------------------------------


def test_timer_run_cut_by_the_outage_sends_once(
    running: RestartableAzurite, standin: TwilioStandin
) -> None:
    from azure.data.tables import TableClient

    from switchboard.schedules import timer as scheduler
    from switchboard.schedules.rules import parse_new_schedule
    from switchboard.schedules.store import ScheduleStore, open_tables

    env = app_env(
        "cutrun",
        AzureWebJobsStorage=running.connection_string,
        TWILIO_API_BASE_URL=standin.base_url,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
        SMS_QUIET_HOURS=None,
    )
    settings = settings_of(env)
    to = new_number()
    # Twilio accepts this number's message slowly: the outage starts while it does.
    standin.add_fault(to=to, resource="Messages", status=None, delay_ms=2500)
    options = scheduler.RunOptions(
        lease=timedelta(seconds=6), lease_margin=timedelta(seconds=1), budget=timedelta(seconds=5)
    )
    schedule_id = "cut-" + uuid.uuid4().hex[:8]

    async def create() -> None:
        now = records.utcnow()
        schedule = parse_new_schedule(
            {"id": schedule_id, "to": to, "body": "Cut run", "sendAt": now.isoformat()},
            now=now,
            max_lateness=settings.sms_max_lateness,
        )
        async with open_tables(settings) as opened:
            await ScheduleStore(opened.schedules).create(schedule, now)

    async def view() -> dict[str, Any] | None:
        async with open_tables(settings) as opened:
            return await ScheduleStore(opened.schedules).view(schedule_id)

    asyncio.run(create())
    table = TableClient.from_connection_string(
        running.connection_string, settings.table_sms_schedule
    )
    outcome: list[Any] = []

    def first_run() -> None:
        try:
            outcome.append(asyncio.run(scheduler.run_once(settings, options)))
        except Exception as exc:  # the run may end with the storage error: that is the point
            outcome.append(exc)

    worker = threading.Thread(target=first_run)
    worker.start()
    try:
        wait_until(
            lambda: any(e.get("LeaseUntil") for e in table.list_entities()),
            15,
            "the run's claim",
            interval=0.05,
        )
        running.stop()
    finally:
        worker.join(60)
    assert not worker.is_alive()

    def sent_to() -> list[Any]:
        posts = standin.requests(method="POST", resource="Messages")
        return [r for r in posts if r.param("To") == to]

    wait_until(sent_to, 5, "Twilio got the message")
    running.restart()
    forget_storage_clients()
    assert len(sent_to()) == 1
    shown = asyncio.run(view())
    assert shown is not None
    assert shown["status"] != "sent", shown  # the outcome was lost
    # The next run sees a clock past the cut run's lease, as a run after it ran out would.
    report = asyncio.run(
        scheduler.run_once(
            settings,
            options,
            clock=lambda: records.utcnow() + options.lease + timedelta(seconds=0.5),
        )
    )
    shown = asyncio.run(view())
    assert shown is not None
    assert shown["status"] == "sent", (shown, report)
    sent = sent_to()
    assert len(sent) == 1, "recovered by asking Twilio, not sent again"
    assert shown["sid"] == sent[0].response["sid"]
    assert report.recovered_sent == 1, report


# --- in process: a call placed just as storage dies ------------------------------------------


@pytest.fixture
def calls_app(
    running: RestartableAzurite, standin: TwilioStandin
) -> Iterator[tuple[Settings, InProcessApp]]:
    env = app_env(
        "cutcall",
        AzureWebJobsStorage=running.connection_string,
        TWILIO_API_BASE_URL=standin.base_url,
        # Nobody listens there: the stand-in's status callbacks are lost.
        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
    )
    with in_process_settings(env):
        yield settings_of(env), InProcessApp(str(env["PUBLIC_BASE_URL"]), twilio_functions())
    forget_storage_clients()


def place_as_storage_dies(
    settings: Settings, storage: RestartableAzurite, call_id: str, to: str
) -> tuple[bytes, str]:
    """First delivery: Twilio accepts the call, then storage stops before it is recorded."""
    body = json.dumps({"id": call_id, "to": to, "say": "Hello"}).encode()
    real = twilio_placer(settings)
    sids: list[str] = []

    def place(request: Any, **kwargs: Any) -> tuple[str, str]:
        sid, status = real(request, **kwargs)
        sids.append(sid)
        storage.stop()
        return sid, status

    ledger = IdempotencyStore(RecordStore.calls(settings))
    outcome = process_message(body, "msg-1", 1, settings=settings, ledger=ledger, place=place)
    assert outcome.result == "placed"  # the host would now fail to delete the message
    storage.restart()
    forget_storage_clients()
    return body, sids[0]


def redeliver(settings: Settings, body: bytes, after: timedelta) -> Any:
    """The message comes back (its delete failed), `after` the first delivery."""
    ledger = IdempotencyStore(RecordStore.calls(settings))
    return process_message(
        body,
        "msg-1",
        2,
        settings=settings,
        ledger=ledger,
        place=twilio_placer(settings),
        now=lambda: records.utcnow() + after,
    )


def test_call_placed_as_storage_dies_then_a_callback_arrives(
    calls_app: tuple[Settings, InProcessApp], running: RestartableAzurite, standin: TwilioStandin
) -> None:
    settings, app = calls_app
    call_id, to = "cut-cb-" + uuid.uuid4().hex[:8], new_number()
    body, sid = place_as_storage_dies(settings, running, call_id, to)
    # Storage is back when Twilio's status callback (which carries ?id=) arrives.
    answer = app.post(
        "status/call",
        [("CallSid", sid), ("CallStatus", "ringing"), ("To", to)],
        url=app.url("status/call", f"id={call_id}"),
    )
    assert answer.status_code == 204
    outcome = redeliver(settings, body, after=timedelta(minutes=11))
    assert outcome.result == "already-placed", outcome
    placed = [r for r in standin.requests(method="POST", resource="Calls") if r.param("To") == to]
    assert len(placed) == 1
    record = RecordStore.calls(settings).get(call_id)
    assert record is not None
    assert record["Sid"] == sid


def test_call_placed_as_storage_dies_and_its_callbacks_lost_is_not_placed_twice(
    calls_app: tuple[Settings, InProcessApp], running: RestartableAzurite, standin: TwilioStandin
) -> None:
    settings, _ = calls_app
    call_id, to = "cut-lost-" + uuid.uuid4().hex[:8], new_number()
    body, sid = place_as_storage_dies(settings, running, call_id, to)
    # The host could not delete the message: it is back after the 10-minute processing
    # visibility, past the claim's lease (5 min 30 s); every status callback was lost.
    outcome = redeliver(settings, body, after=timedelta(minutes=11))
    placed = [r for r in standin.requests(method="POST", resource="Calls") if r.param("To") == to]
    assert len(placed) == 1, f"{len(placed)} calls placed for one message"
    # Twilio was asked, and the record completed with the call it has.
    assert outcome.result == "already-placed", outcome
    record = RecordStore.calls(settings).get(call_id)
    assert record is not None
    assert (record["Sid"], record["IdempotencyStatus"]) == (sid, "completed")
