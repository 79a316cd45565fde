"""The outbound path against the session Azurite and the Twilio stand-in: the budget counter
exact across instances racing on it (and its cost: one round trip while an instance's copy is
current), the conversation index read a page at a time, our own numbers as one answer (a line
PUT refuses a voicemail text to one of them), the timer's destination check and its records,
Twilio's pumping error pausing a line with one notice to the owner, the voicemail e-mail
ceiling, and a withheld caller's voicemail reaching its e-mail recipient."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableClient

from devkit.storage_counter import counting_table_requests
from devkit.twilio_standin import TwilioStandin
from switchboard import records
from switchboard.http import ApiError
from switchboard.lines import service as lines_service
from switchboard.lines.document import parse_line
from switchboard.lines.model import VoicemailStep
from switchboard.logbook.store import RecordStore
from switchboard.operator import service as operator_service
from switchboard.operator.api import SendRequest
from switchboard.outbound import messagelog
from switchboard.outbound.budget import BURST_LIMIT, Budget
from switchboard.outbound.messagelog import Answer, read_conversation
from switchboard.outbound.own_numbers import OWN_NUMBERS
from switchboard.outbound.purposes import Origin, Purpose
from switchboard.outbound.service import LineRef, Message, Outbound
from switchboard.outbound.store import BudgetStore, WarmRows
from switchboard.schedules import store as schedule_store
from switchboard.schedules import timer as scheduler
from switchboard.schedules.rules import NewSchedule
from switchboard.schedules.store import ScheduleStore
from switchboard.settings import Settings, load_settings
from switchboard.status import callbacks
from switchboard.storage import tables
from switchboard.twilio.webhook import TwilioRequest
from switchboard.voicemail.notices import RecordingEvent
from switchboard.voicemail.notify import on_recording

STANDIN_SEED = 21
LINE = "+15017122661"  # one of the stand-in account's numbers
SECOND = "+15005550010"  # the account's other number
OWNER = "+15005550006"
CUSTOMER = "+15557770101"
UZBEK = "+998901234567"


@pytest.fixture
def settings(storage_connection_string: str, twilio: TwilioStandin, unique_name: str) -> Settings:
    return load_settings(
        {
            "AzureWebJobsStorage": storage_connection_string,
            **twilio.settings(),
            "TWILIO_FROM_NUMBER": LINE,
            "OWNER_NUMBER": OWNER,
            "TABLE_CALL_LOG": unique_name + "c",
            "TABLE_SMS_SCHEDULE": unique_name + "s",
            "TABLE_MESSAGE_LOG": unique_name + "m",
            "TABLE_OPT_OUT": unique_name + "o",
            "TABLE_LINES": unique_name + "l",
            "AUTOMATIC_SMS_BURST_LIMIT": "5",
            "AUTOMATIC_SMS_DAILY_LIMIT": "8",
            "VOICEMAIL_EMAIL_DAILY_LIMIT": "2",
        }
    )


def texts_to(twilio: TwilioStandin, number: str) -> list[str]:
    return [
        str(r.param("Body"))
        for r in twilio.requests(method="POST", resource="Messages")
        if r.param("To") == number
    ]


# --------------------------------------------------------------------------------------------
# The budget counter


def test_instances_racing_on_a_lines_budget_never_exceed_it(
    settings: Settings, storage_connection_string: str, twilio: TwilioStandin
) -> None:
    """Eight instances (each its own table client and warm copy), five texts each at once:
    exactly the burst limit goes out, the line pauses once, its owner is told once."""
    name = settings.table_opt_out
    tables.get_table(name, settings)
    instances = 8
    barrier = threading.Barrier(instances)
    answers: list[tuple[bool, str | None]] = []
    lock = threading.Lock()

    def instance(n: int) -> None:
        client = TableClient.from_connection_string(storage_connection_string, name)
        policy = Outbound(settings, budget_rows=lambda s: BudgetStore(client, WarmRows()))
        line = LineRef(LINE, time_zone="America/New_York", owner_numbers=(OWNER,))
        barrier.wait()
        for k in range(5):
            decision = policy.charge(line, [f"i{n}-t{k}"])
            with lock:
                answers.append((decision.allowed, decision.reason))

    threads = [threading.Thread(target=instance, args=(n,)) for n in range(instances)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 40
    assert sum(allowed for allowed, _ in answers) == 5
    stored = Outbound(settings).budgets()[LINE]
    assert (stored.sent, stored.paused) == (5, BURST_LIMIT)
    # Every other text is refused: counted as skipped, or (a write lost to the others again and
    # again) refused without being counted: never sent.
    reasons = [reason for allowed, reason in answers if not allowed]
    assert set(reasons) <= {BURST_LIMIT, "another instance is answering"}
    assert stored.skipped == reasons.count(BURST_LIMIT)
    assert len(texts_to(twilio, OWNER)) == 1  # one notice, whoever tripped it


def test_an_automatic_text_costs_one_round_trip_while_the_instance_is_warm(
    settings: Settings,
) -> None:
    tables.get_table(settings.table_opt_out, settings)
    line = LineRef(LINE)
    with counting_table_requests() as counter:
        policy = Outbound(settings)
        assert policy.charge(line, ["a"]).allowed
        assert counter.total() == 2  # cold: the row read, then written
        counter.reset()
        assert policy.charge(line, ["b"]).allowed
        assert counter.snapshot() == {"MERGE entity": 1} or counter.total() == 1
        counter.reset()
        # Another instance writes in between: the conditional write fails, one read, again.
        other = Outbound(
            settings,
            budget_rows=lambda s: BudgetStore(tables.get_table(s.table_opt_out, s), WarmRows()),
        )
        assert other.charge(line, ["c"]).allowed
        counter.reset()
        assert policy.charge(line, ["d"]).allowed
        assert counter.total() == 3
        counter.reset()
        assert policy.charge(line, []).allowed  # nothing automatic: nothing at all
        assert counter.total() == 0
    assert Outbound(settings).budgets()[LINE].sent == 4


def test_storage_down_refuses_automatic_texts() -> None:
    dead = load_settings(
        {
            "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
            "KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
            "TWILIO_FROM_NUMBER": LINE,
            "OUTBOUND_ALLOWED_COUNTRIES": "US",
        }
    )
    policy = Outbound(dead)
    assert policy.charge(LineRef(LINE), ["x"]).word == "skipped (storage unavailable)"
    asked = policy.ask(Message(Purpose.TEXT_BACK, LineRef(LINE), CUSTOMER, subject=CUSTOMER))
    assert asked.word == "skipped (storage unavailable)"


# --------------------------------------------------------------------------------------------
# The conversation index


def test_a_conversation_is_read_a_page_at_a_time_newest_first(settings: Settings) -> None:
    store = RecordStore.messages(settings)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    expected: list[str] = []
    for n in range(7):
        sid = f"SM{n:032d}"
        at = start + timedelta(minutes=n)
        fields = {"Sid": sid, "Direction": "inbound", "From": CUSTOMER, "To": LINE, "Body": f"q{n}"}
        answers = [Answer(CUSTOMER, f"a{n}", Purpose.AUTO_REPLY)] if n % 3 == 0 else []
        assert messagelog.record_inbound(
            store, sid, fields, line=LINE, party=CUSTOMER, received_at=at, answers=answers
        )
        expected.append(f"q{n}")
        if answers:
            expected.append(f"a{n}")
    sent = messagelog.record_outbound(
        store,
        "SM" + "f" * 32,
        CUSTOMER,
        LINE,
        "see you",
        source="operator",
        purpose=Purpose.OPERATOR,
        origin=Origin.OPERATOR,
    )
    assert sent is not None
    expected.append("see you")
    # Another conversation of the same line, and of the same customer on another line.
    messagelog.record_outbound(store, "SM" + "e" * 32, "+15557770102", LINE, "other")
    messagelog.record_outbound(store, "SM" + "d" * 32, CUSTOMER, SECOND, "elsewhere")
    pages: list[list[str]] = []
    cursor = None
    with counting_table_requests() as counter:
        table = RecordStore.messages(settings).table
        counter.reset()
        while True:
            page = read_conversation(table, LINE, CUSTOMER, 4, cursor)
            pages.append([str(row["Body"]) for row in page.items])
            cursor = page.next_cursor
            if cursor is None:
                break
        assert counter.total() == len(pages)  # one range read per page
    assert [b for p in pages for b in p] == list(reversed(expected))
    assert [len(p) for p in pages] == [4, 4, 3]
    first = read_conversation(table, LINE, CUSTOMER, 1).items[0]
    assert (first["Direction"], first["Origin"], first["Purpose"]) == (
        "outbound",
        "operator",
        "operator",
    )


# --------------------------------------------------------------------------------------------
# Our own numbers, and a line naming numbers


def test_our_own_numbers_are_the_account_the_lines_and_the_sender(
    settings: Settings, twilio: TwilioStandin
) -> None:
    stored = {"name": "Third", "closed": [{"voicemail": {}}]}
    lines_service.put(settings, "+15017122663", stored, if_match=None, force=True)
    ours = Outbound(settings).ours()
    assert {LINE, SECOND, "+15017122663"} <= ours
    OWN_NUMBERS.forget()
    assert "+15017122663" in Outbound(settings).ours()  # read from the Lines table


@pytest.mark.parametrize(
    ("document", "pointer", "code"),
    [
        (
            {"closed": [{"voicemail": {"notify": {"sms": [OWNER, SECOND]}}}]},
            "/closed/0/voicemail/notify/sms/1",
            "forwards_to_own_number",
        ),
        (
            {"closed": [{"voicemail": {"notify": {"sms": [LINE]}}}]},
            "/closed/0/voicemail/notify/sms/0",
            "forwards_to_own_number",
        ),
        ({"sms": {"forwardTo": UZBEK}}, "/sms/forwardTo", "destination_not_allowed"),
        (
            {"open": [{"forward": {"to": "+19005550123"}}]},
            "/open/0/forward/to",
            "destination_not_allowed",
        ),
        (
            {"open": [{"queue": {"people": [{"name": "Ana", "number": OWNER}, {"number": LINE}]}}]},
            "/open/0/queue/people/1/number",
            "forwards_to_own_number",
        ),
        (
            {"open": [{"queue": {"people": [{"number": UZBEK}]}}]},
            "/open/0/queue/people/0/number",
            "destination_not_allowed",
        ),
    ],
)
def test_a_line_put_refuses_numbers_the_policy_refuses(
    settings: Settings, document: dict[str, Any], pointer: str, code: str
) -> None:
    with pytest.raises(ApiError) as refused:
        lines_service.put(settings, LINE, document, if_match=None, force=True)
    assert (refused.value.status, refused.value.code, refused.value.field) == (400, code, pointer)
    assert refused.value.message.startswith(pointer + ": ")


def test_an_operator_send_follows_the_country_list(
    settings: Settings, twilio: TwilioStandin
) -> None:
    with pytest.raises(ApiError) as refused:
        operator_service.send_message(
            settings, SendRequest(to=UZBEK, body="hello"), app_base_url=None
        )
    assert (refused.value.status, refused.value.code, refused.value.field) == (
        400,
        "destination_not_allowed",
        "to",
    )
    assert "OUTBOUND_ALLOWED_COUNTRIES" in refused.value.message
    assert texts_to(twilio, UZBEK) == []


# --------------------------------------------------------------------------------------------
# The timer


def test_the_timer_skips_a_refused_destination_and_records_the_line_of_its_own_texts(
    settings: Settings, twilio: TwilioStandin
) -> None:
    now = records.utcnow()

    async def create() -> None:
        async with schedule_store.open_tables(settings) as opened:
            store = ScheduleStore(opened.schedules)
            await store.create(NewSchedule("abroad", UZBEK, "hello", now), now)
            await store.create(
                NewSchedule(
                    "sys-textback-CA1",
                    CUSTOMER,
                    "Sorry we missed you",
                    now,
                    line=SECOND,
                    purpose=Purpose.TEXT_BACK.value,
                ),
                now,
            )

    asyncio.run(create())
    report = asyncio.run(scheduler.run_once(settings))
    assert (report.sent, report.skipped) == (1, 1)

    async def view(schedule_id: str) -> dict[str, Any] | None:
        async with schedule_store.open_tables(settings) as opened:
            return await ScheduleStore(opened.schedules).view(schedule_id)

    abroad = asyncio.run(view("abroad"))
    assert abroad is not None
    assert (abroad["status"], abroad["error"]["message"]) == ("skipped", "country not allowed")
    [request] = twilio.requests(method="POST", resource="Messages")
    assert (request.param("To"), request.param("From")) == (CUSTOMER, SECOND)
    record = RecordStore.messages(settings).get(str(asyncio.run(view("sys-textback-CA1"))["sid"]))  # type: ignore[index]
    assert record is not None
    assert (record["Line"], record["Purpose"], record["Origin"]) == (
        SECOND,
        "text-back",
        "automatic",
    )
    page = read_conversation(RecordStore.messages(settings).table, SECOND, CUSTOMER, 5)
    assert [row["Body"] for row in page.items] == ["Sorry we missed you"]


# --------------------------------------------------------------------------------------------
# Twilio's refusals


def test_two_tables_of_one_account_never_share_a_warm_budget_row(
    settings: Settings, storage_connection_string: str, unique_name: str
) -> None:
    """An instance keeps the budget rows it last wrote, keyed by the store. A TableClient's
    `url` is the account's, so two tables of one account (each test's own, in one process)
    once shared the key: a row written in one was taken as the other's."""
    warm = WarmRows()

    def store(name: str) -> BudgetStore:
        client = TableClient.from_connection_string(storage_connection_string, name)
        client.create_table()
        return BudgetStore(client, warm)

    first, second = store(unique_name + "a"), store(unique_name + "b")
    paused = Budget(day=date(2026, 12, 1), paused="Twilio error 30450")
    first.change(LINE, lambda budget: (None, paused))
    assert first.change(LINE, lambda budget: (budget, None)) == paused
    assert second.change(LINE, lambda budget: (budget, None)) == Budget()


def test_a_refusal_reported_with_only_the_number_is_counted_in_the_lines_zone(
    settings: Settings,
) -> None:
    """The timer's and the dialer's Twilio errors know only the sending number
    (`lines.sending.line_ref_of`): its stored line names its zone, a number with no stored line
    is the default line's (UTC), and no number at all leaves the budget's own zone."""
    from switchboard.lines.sending import line_ref_of

    document = {"name": "Main line", "timeZone": "America/New_York", "open": [{"hangup": {}}]}
    lines_service.put(settings, LINE, document, if_match=None, force=True)
    assert line_ref_of(LINE, settings).time_zone == "America/New_York"
    assert line_ref_of("+15017122669", settings).time_zone == "UTC"
    assert line_ref_of("", settings).time_zone is None


def test_a_pumping_error_on_a_message_pauses_its_line_and_tells_the_owner_once(
    settings: Settings, twilio: TwilioStandin
) -> None:
    sid = "SM" + uuid.uuid4().hex
    messagelog.record_outbound(RecordStore.messages(settings), sid, CUSTOMER, LINE, "hi")
    for _ in range(2):
        request = TwilioRequest(
            url="https://switchboard.example/api/status/message",
            params={
                "MessageSid": sid,
                "MessageStatus": "failed",
                "ErrorCode": "30450",
                "To": CUSTOMER,
                "From": LINE,
            },
        )
        assert callbacks.on_message(request, settings).status_code == 204
    budget = Outbound(settings).budgets()[LINE]
    assert budget.paused == "Twilio error 30450"
    [notice] = texts_to(twilio, OWNER)
    assert "paused" in notice
    assert "Twilio error 30450" in notice
    refused = Outbound(settings).ask(
        Message(Purpose.AUTO_REPLY, LineRef(LINE), CUSTOMER, subject=CUSTOMER, key="k")
    )
    assert refused.word == "skipped (Twilio error 30450)"


# --------------------------------------------------------------------------------------------
# Voicemail notices


def _voicemail(settings: Settings, caller: str | None) -> RecordingEvent:
    call_sid, recording_sid = "CA" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
    RecordStore.calls(settings).create(
        call_sid, {"Sid": call_sid, "Direction": "inbound", "From": caller or "", "To": LINE}
    )
    return RecordingEvent(
        call_sid=call_sid,
        recording_sid=recording_sid,
        recording_url=f"https://api.twilio.com/2010-04-01/Recordings/{recording_sid}",
        caller=caller,
        called=LINE,
        duration=12,
        recording_status="completed",
    )


def test_voicemail_notices_ask_per_recipient_and_emails_have_a_daily_ceiling(
    settings: Settings,
) -> None:
    line = parse_line({"name": "Main line", "closed": [{"voicemail": {}}]}, LINE)[1]
    step = VoicemailStep(notify_sms=(OWNER, SECOND), notify_email=("ann@example.com",))
    queued: list[Any] = []
    reports = [
        on_recording(
            _voicemail(settings, caller),
            line,
            step,
            settings,
            enqueue=lambda m, d: queued.append(m),
        )
        for caller in ("anonymous", "ACMEBANK", "+12015550123")
    ]
    # A withheld or alphanumeric caller holds back nothing: the e-mail goes, and so does the
    # text to the owner; the text to one of our own numbers never does.
    for report in reports[:2]:
        assert report.email == {"ann@example.com": "queued"}
        assert report.sms[SECOND] == "skipped (one of our numbers)"
        assert report.sms[OWNER].startswith("sys-vm-")
    # VOICEMAIL_EMAIL_DAILY_LIMIT=2: the third voicemail's e-mail is skipped, and counted.
    assert reports[2].email == {"ann@example.com": "skipped (daily e-mail limit)"}
    assert len(queued) == 2
    budget = Outbound(settings).budgets()[LINE]
    assert (budget.emails, budget.emails_skipped) == (2, 1)


def test_a_geo_permission_refusal_of_an_operator_send_pauses_the_line_it_was_sent_from(
    settings: Settings, twilio: TwilioStandin
) -> None:
    # Twilio's test number for 21408 (Messaging Geo Permissions): sent from TWILIO_FROM_NUMBER.
    with pytest.raises(ApiError) as refused:
        operator_service.send_message(
            settings, SendRequest(to="+15005550003", body="hello"), app_base_url=None
        )
    assert (refused.value.status, refused.value.code) == (400, "21408")
    assert Outbound(settings).budgets()[LINE].paused == "Twilio error 21408"
    [notice] = texts_to(twilio, OWNER)
    assert "Twilio error 21408" in notice
