"""A reply to a reminder is bound once across instances and Twilio's retries.

Twilio retries an SMS webhook with the same MessageSid (and `I-Twilio-Idempotency-Token`) when
the first request timed out, and the retry may reach another instance while the first is still
working. Two hosts on the same tables get the same reply at the same moment: the reminder
records one response (one ETag-conditioned write wins, the other instance finds the reply its
own), both answer with the same TwiML (Twilio acts on the one it receives), and nothing is
counted twice: one record, one answer in the conversation, one charge on the line's budget,
one tally on the customer's window.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest

from devkit.simulator import sign_and_post
from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.logbook.store import RecordStore
from switchboard.outbound import wording
from switchboard.outbound.messagelog import read_conversation
from switchboard.outbound.purposes import Purpose
from switchboard.outbound.store import BUDGET_PARTITION, SubjectStore
from switchboard.schedules import rules as sched
from switchboard.schedules import timer as scheduler
from switchboard.schedules.store import ScheduleStore, open_tables
from switchboard.settings import Settings, load_settings
from switchboard.storage import tables
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.app_clients import outbound_of, sms_params
from tests.reliability.conftest import AUTH_TOKEN, BUSINESS, OWNER, HostFactory, app_env

#: Reminders answered at once by two instances (each a separate race).
ROUNDS = 6


@dataclass
class Pair:
    hosts: tuple[HostHandle, HostHandle]
    settings: Settings


@pytest.fixture(scope="module")
def pair(
    rel_host_module: HostFactory, standin: TwilioStandin, storage_connection_string: str
) -> Pair:
    env = app_env("remind", TWILIO_API_BASE_URL=standin.base_url)
    hosts = (rel_host_module(PROJECT_ROOT, env), rel_host_module(PROJECT_ROOT, env))
    values = {k: v for k, v in env.items() if v is not None}
    return Pair(hosts, load_settings({**values, "AzureWebJobsStorage": storage_connection_string}))


def send_reminders(settings: Settings, to_ids: dict[str, str]) -> None:
    """Create one reminder with C/X per customer and send them all (one timer run)."""

    async def create() -> None:
        async with open_tables(settings) as opened:
            store = ScheduleStore(opened.schedules)
            for customer, schedule_id in to_ids.items():
                schedule = sched.parse_new_schedule(
                    {
                        "id": schedule_id,
                        "to": customer,
                        "body": "Tomorrow at 9. Reply C to confirm, X to cancel.",
                        "sendAt": records.iso(records.utcnow()),
                        "replies": {"C": "confirmed", "X": "cancelled"},
                    },
                    now=records.utcnow(),
                    max_lateness=timedelta(hours=1),
                )
                await store.create(schedule, records.utcnow())

    asyncio.run(create())
    report = asyncio.run(scheduler.run_once(settings))
    assert report.reminders == len(to_ids), report


def at_once(hosts: tuple[HostHandle, HostHandle], params: dict[str, str]) -> list[tuple[int, str]]:
    """The same signed webhook (one MessageSid, one idempotency token) to both hosts at the
    same moment; each one's (status, TwiML)."""
    barrier = threading.Barrier(len(hosts))
    answers: list[tuple[int, str]] = [(0, "")] * len(hosts)
    token = "idem-" + uuid.uuid4().hex

    def post(index: int) -> None:
        barrier.wait()
        response = sign_and_post(
            hosts[index].api("sms/incoming"),
            params,
            auth_token=AUTH_TOKEN,
            idempotency_token=token,
            timeout=15,
        )
        answers[index] = (response.status, response.body)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(hosts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


def test_two_instances_given_the_same_reply_bind_it_once(pair: Pair) -> None:
    customers = {"+1555" + str(uuid.uuid4().int)[:7]: f"rel-appt-{n}" for n in range(ROUNDS)}
    send_reminders(pair.settings, customers)
    settings = pair.settings
    messages = RecordStore.messages(settings)
    opt_outs = tables.get_table(settings.table_opt_out, settings)
    schedules = tables.get_table(settings.table_sms_schedule, settings)
    for n, (customer, schedule_id) in enumerate(customers.items()):
        word, means = ("C", "confirmed") if n % 2 else ("x", "cancelled")
        params = sms_params(customer, BUSINESS, f" {word} ")
        answers = at_once(pair.hosts, params)
        assert [status for status, _ in answers] == [200, 200], answers
        for _, twiml in answers:
            sent = outbound_of(twiml, sender=customer, texted=BUSINESS)
            assert [m.body for m in sent if m.to == customer] == [wording.reminder_answer(means)]
            notices = [m for m in sent if m.to == OWNER]
            assert len(notices) == (1 if means == "cancelled" else 0), twiml
        id_row = tables.get_or_none(schedules, schedule_id, sched.ID_ROW)
        assert id_row is not None
        assert (id_row["Response"], id_row["ResponseSid"]) == (means, params["MessageSid"])
        record = messages.get(params["MessageSid"])
        assert record is not None
        assert record["Reminder"] == schedule_id
        page = read_conversation(messages.table, BUSINESS, customer, 20)
        inbound = [row for row in page.items if row["Direction"] == "inbound"]
        answered = [row for row in page.items if row.get("Purpose") == "reminder-answer"]
        assert (len(inbound), len(answered)) == (1, 1), page.items
        assert inbound[0]["Response"] == means
        state = SubjectStore(opt_outs).load(customer, BUSINESS)
        assert state.tally(Purpose.REMINDER_ANSWER).count == 1
    budget = tables.get_or_none(opt_outs, BUDGET_PARTITION, BUSINESS)
    assert budget is not None
    # Each reply charged once: its answer, and the owner's note of each cancellation.
    assert budget["Sent"] == ROUNDS + ROUNDS // 2
