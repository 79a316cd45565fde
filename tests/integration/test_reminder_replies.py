"""Reminders that take replies, against the session Azurite and the Twilio stand-in: the timer
sends a reminder and keeps it awaiting its reply; the SMS webhook (called in process with
signed requests) binds a customer's reply to it exactly once, answers it, tells the owner of a
cancellation, and treats a late or unknown reply as an ordinary text."""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from azure.data.tables import TableClient
from twilio.request_validator import RequestValidator

from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.contacts.lookup import contact_for
from switchboard.lines import lookup as lines
from switchboard.logbook.store import RecordStore
from switchboard.outbound import wording
from switchboard.outbound.messagelog import read_conversation
from switchboard.outbound.store import BUDGET_PARTITION
from switchboard.schedules import replies as reply_rules
from switchboard.schedules import rules as sched
from switchboard.schedules import timer as scheduler
from switchboard.schedules.store import ScheduleStore, open_tables
from switchboard.settings import Settings, get_settings, reset_settings_cache
from switchboard.sms import blueprint as sms_bp
from switchboard.storage import tables

STANDIN_SEED = 23
LINE = "+15017122661"
OWNER = "+15005550006"
URL = "http://localhost:7071/api/sms/incoming"
AUTO_REPLY = "Thanks, we will text you back soon."


@dataclass
class App:
    settings: Settings
    standin: TwilioStandin

    def schedule(self, schedule_id: str, to: str, **fields: Any) -> None:
        data = {"id": schedule_id, "to": to, "body": f"Reminder {schedule_id}: C or X"}
        data.setdefault("sendAt", records.iso(records.utcnow()))
        data.update(fields)
        schedule = sched.parse_new_schedule(
            data, now=records.utcnow(), max_lateness=timedelta(hours=1)
        )

        async def create() -> None:
            async with open_tables(self.settings) as opened:
                await ScheduleStore(opened.schedules).create(schedule, records.utcnow())

        asyncio.run(create())

    def run_timer(self) -> scheduler.RunReport:
        return asyncio.run(scheduler.run_once(self.settings))

    def view(self, schedule_id: str) -> dict[str, Any]:
        async def read() -> dict[str, Any] | None:
            async with open_tables(self.settings) as opened:
                return await ScheduleStore(opened.schedules).view(schedule_id)

        found = asyncio.run(read())
        assert found is not None
        return found

    def text(self, sender: str, body: str, sid: str | None = None) -> list[tuple[str, str]]:
        """One signed SMS to the line; the (to, body) of each <Message> of the answer."""
        params = {
            "MessageSid": sid or "SM" + uuid.uuid4().hex,
            "From": sender,
            "To": LINE,
            "Body": body,
            "NumMedia": "0",
        }
        signature = RequestValidator(self.standin.auth_token).compute_signature(URL, params)
        request = func.HttpRequest(
            method="POST",
            url=URL,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": str(signature),
            },
            body=urlencode(params).encode(),
        )
        answer = sms_bp.sms_incoming(request)
        assert answer.status_code == 200
        root = ET.fromstring(answer.get_body())  # noqa: S314 (the app's own answer)
        return [(m.get("to") or sender, m.text or "") for m in root.iter("Message")]

    def index_row(self, customer: str) -> dict[str, Any] | None:
        table = tables.get_table(self.settings.table_opt_out, self.settings)
        return tables.get_or_none(table, customer, reply_rules.index_row_key(LINE))


@pytest.fixture
def app(
    twilio: TwilioStandin,
    storage_connection_string: str,
    clean_env: pytest.MonkeyPatch,
    unique_name: str,
) -> Iterator[App]:
    for name, value in {
        "AzureWebJobsStorage": storage_connection_string,
        **twilio.settings(),
        "TWILIO_FROM_NUMBER": LINE,
        "TABLE_SMS_SCHEDULE": unique_name + "sched",
        "TABLE_MESSAGE_LOG": unique_name + "msg",
        "TABLE_OPT_OUT": unique_name + "opt",
        "SMS_AUTO_REPLY": AUTO_REPLY,
        "OWNER_NUMBER": OWNER,
    }.items():
        clean_env.setenv(name, value)
    reset_settings_cache()
    yield App(get_settings(), twilio)
    reset_settings_cache()


def customer() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def test_a_confirmation_is_bound_once_answered_and_shown_in_the_conversation(app: App) -> None:
    dana = customer()
    app.schedule("appt-1", dana, replies={"C": "confirmed", "X": "cancelled"})
    report = app.run_timer()
    assert (report.sent, report.reminders) == (1, 1)
    (waiting,) = reply_rules.index_entries(app.index_row(dana))
    assert (waiting.schedule_id, [c.key for c in waiting.choices]) == ("appt-1", ["C", "X"])

    sid = "SM" + uuid.uuid4().hex
    assert app.text(dana, "c ", sid) == [(dana, wording.reminder_answer("confirmed"))]
    shown = app.view("appt-1")
    assert shown["response"] == "confirmed"
    responded_at = shown["respondedAt"]
    # Twilio retries the same reply: the same answer, the binding and its counts unchanged.
    assert app.text(dana, "c ", sid) == [(dana, wording.reminder_answer("confirmed"))]
    assert app.view("appt-1")["respondedAt"] == responded_at
    budget = tables.get_or_none(
        tables.get_table(app.settings.table_opt_out, app.settings), BUDGET_PARTITION, LINE
    )
    assert budget is not None
    assert budget["Sent"] == 1

    messages = RecordStore.messages(app.settings)
    record = messages.get(sid)
    assert record is not None
    assert (record["Reminder"], record["ReminderResponse"], record["ReminderAnswer"]) == (
        "appt-1",
        "confirmed",
        "sent",
    )
    page = read_conversation(messages.table, LINE, dana, 10)
    inbound = [row for row in page.items if row["Direction"] == "inbound"]
    assert [(row["Body"], row["Reminder"], row["Response"]) for row in inbound] == [
        ("c ", "appt-1", "confirmed")
    ]
    answers = [row for row in page.items if row.get("Purpose") == "reminder-answer"]
    assert len(answers) == 1
    # The reminder is answered: another "X" is an ordinary text (auto-reply, forward).
    later = app.text(dana, "X")
    assert (dana, AUTO_REPLY) in later
    assert any(to == OWNER for to, _ in later)
    assert app.view("appt-1")["response"] == "confirmed"
    assert reply_rules.index_entries(app.index_row(dana))[0].responded == sid


def test_a_cancellation_tells_the_owner_and_a_late_reply_is_an_ordinary_text(app: App) -> None:
    dana, eli = customer(), customer()
    app.schedule("appt-2", dana, replies={"C": "confirmed", "X": "cancelled"})
    # Sent now, but its replies were taken only until a minute ago.
    past = records.utcnow() - timedelta(minutes=5)
    app.schedule(
        "appt-3",
        eli,
        sendAt=records.iso(past),
        replies={"C": "confirmed"},
        replyUntil=records.iso(past + timedelta(minutes=4)),
    )
    assert app.run_timer().reminders == 2
    answer = app.text(dana, "x")
    assert answer[0] == (dana, wording.reminder_answer("cancelled"))
    assert answer[1][0] == OWNER
    assert answer[1][1].startswith(f"{dana} replied X (cancelled) to reminder appt-2:")
    assert "Reminder appt-2: C or X" in answer[1][1]
    assert app.view("appt-2")["response"] == "cancelled"

    late = app.text(eli, "C")
    assert (eli, AUTO_REPLY) in late
    assert "response" not in app.view("appt-3")


def test_a_reply_answers_the_most_recent_reminder_that_takes_it(app: App) -> None:
    dana = customer()
    for schedule_id, replies in (
        ("older", {"C": "confirmed"}),
        ("newer", {"Y": "confirmed", "N": "declined"}),
        ("newest", {"C": {"means": "confirmed", "answer": "Great!"}}),
    ):
        app.schedule(schedule_id, dana, replies=replies)
        assert app.run_timer().reminders == 1
    entries = reply_rules.index_entries(app.index_row(dana))
    assert [e.schedule_id for e in entries] == ["newest", "newer", "older"]
    assert app.text(dana, "N") == [(dana, wording.reminder_answer("declined"))]
    assert app.text(dana, "c") == [(dana, "Great!")]
    assert app.text(dana, "C") == [(dana, wording.reminder_answer("confirmed"))]
    assert [app.view(i)["response"] for i in ("newer", "newest", "older")] == [
        "declined",
        "confirmed",
        "confirmed",
    ]
    assert (dana, AUTO_REPLY) in app.text(dana, "C")  # none left to answer


def test_an_unknown_word_or_a_customer_without_reminders_is_an_ordinary_text(app: App) -> None:
    dana = customer()
    app.schedule("appt-4", dana, replies={"C": "confirmed"})
    app.run_timer()
    assert (dana, AUTO_REPLY) in app.text(dana, "Q")
    assert "response" not in app.view("appt-4")
    stranger = customer()
    assert (stranger, AUTO_REPLY) in app.text(stranger, "C")
    assert app.index_row(stranger) is None


def test_send_time_and_the_default_reply_until(app: App) -> None:
    dana = customer()
    app.schedule("appt-5", dana, replies={"C": "confirmed"}, timeZone="America/New_York")
    app.run_timer()
    shown = app.view("appt-5")
    sent_at = datetime.fromisoformat(shown["sentAt"].replace("Z", "+00:00"))
    until = sched.reply_deadline(sent_at, dana, "America/New_York")
    assert shown["replyUntil"] == records.iso(until)
    (entry,) = reply_rules.index_entries(app.index_row(dana))
    assert entry.until == until


def test_what_binding_a_reply_costs(app: App, clean_env: pytest.MonkeyPatch) -> None:
    """Three requests more than an auto-reply (whose own requests are listed): the schedule's id row read, its response
    written under its ETag, the reminder marked answered on its row."""
    dana = customer()
    app.schedule("appt-6", dana, replies={"C": "confirmed"})
    app.run_timer()
    lines.line_for(LINE, app.settings)  # a warm instance knows the line
    contact_for(app.settings, dana)  # and the sender (nobody's number: the contact cache)
    made: list[str] = []
    for name in (
        "get_entity",
        "create_entity",
        "upsert_entity",
        "update_entity",
        "delete_entity",
        "submit_transaction",
        "query_entities",
    ):
        original = getattr(TableClient, name)

        def counted(
            self: TableClient, *args: Any, __name: str = name, __call: Any = original, **kw: Any
        ) -> Any:
            made.append(__name)
            return __call(self, *args, **kw)

        clean_env.setattr(TableClient, name, counted)
    assert app.text(dana, "C") == [(dana, wording.reminder_answer("confirmed"))]
    assert made == [
        "query_entities",  # the sender's partition: opt-out, tallies, reminders
        "get_entity",  # the schedule's id row
        "update_entity",  # its response (If-Match)
        "update_entity",  # the reminder marked answered (If-Match)
        "create_entity",  # the sender's tallies on the line
        "get_entity",  # the line's budget (once per instance)
        "create_entity",  # the line's budget charged
        "query_entities",  # the conversation's state and the line's tag counter
        "submit_transaction",  # the conversation's state written (and the line listed)
        "create_entity",  # the text's record
        "upsert_entity",  # its day index row
        "submit_transaction",  # its conversation rows: the text and the answer
    ]


def test_storage_that_fails_reading_the_reminders_ends_the_storage_work(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One failure, one timeout: the text gets nothing automatic and nothing is tried again."""
    from switchboard.sms import webhook

    attempts: list[str] = []

    def down(settings: Settings) -> Any:
        attempts.append("OptOut")
        raise ConnectionError("storage down (stub)")

    monkeypatch.setattr(webhook, "optout_store_factory", down)
    assert app.text(customer(), "c") == []
    assert attempts == ["OptOut"]
