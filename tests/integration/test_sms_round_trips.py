"""An incoming SMS is one trip: storage requests counted per message against Azurite.

Each table request the SDK makes is counted (a request is one round trip: the clients retry
only on failures); the tables are created before counting, as a warm process has them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from azure.data.tables import TableClient
from twilio.request_validator import RequestValidator

from devkit.azurite import Azurite
from switchboard import records
from switchboard.contacts import lookup as contacts
from switchboard.contacts import service as contact_service
from switchboard.lines import lookup as lines
from switchboard.logbook.store import RecordStore
from switchboard.outbound.own_numbers import OWN_NUMBERS
from switchboard.settings import get_settings, reset_settings_cache
from switchboard.sms import blueprint as sms_bp
from switchboard.storage import tables

TOKEN = "sms-round-trip-token-0123456789"
URL = "http://localhost:7071/api/sms/incoming"
SENDER = "+15558675310"
_REQUESTS = (
    "get_entity",
    "create_entity",
    "upsert_entity",
    "update_entity",
    "delete_entity",
    "submit_transaction",
    "query_entities",
    "list_entities",
)


@pytest.fixture
def requests_made(
    azurite: Azurite, clean_env: pytest.MonkeyPatch, unique_name: str
) -> Iterator[list[str]]:
    """Settings on fresh tables, and the list of table requests made (cleared per message)."""
    for name, value in {
        "AzureWebJobsStorage": azurite.connection_string,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TABLE_MESSAGE_LOG": unique_name + "msg",
        "TABLE_OPT_OUT": unique_name + "opt",
        "TABLE_CONTACTS": unique_name + "contacts",
        "TABLE_CONVERSATIONS": unique_name + "conv",
        "SMS_AUTO_REPLY": "Thanks, we got it.",
        "LINES_CACHE_SECONDS": "600",
    }.items():
        clean_env.setenv(name, value)
    reset_settings_cache()
    settings = get_settings()
    tables.get_table(settings.table_message_log, settings)
    tables.get_table(settings.table_opt_out, settings)
    tables.get_table(settings.table_conversations, settings)
    # A warm instance knows the texted line (the line cache), the sender (nobody's number: the
    # contact cache) and its own numbers (read once per 10 minutes), as it has its tables.
    contacts.forget_cached_contacts()
    lines.line_for("+15017122661", settings)
    contacts.contact_for(settings, SENDER)
    OWN_NUMBERS.get(settings)
    made: list[str] = []
    for name in _REQUESTS:
        original = getattr(TableClient, name)

        def counted(
            self: TableClient, *args: Any, __name: str = name, __call: Any = original, **kwargs: Any
        ) -> Any:
            made.append(__name)
            return __call(self, *args, **kwargs)

        clean_env.setattr(TableClient, name, counted)
    yield made
    reset_settings_cache()


def post(made: list[str], body: str, sid: str | None = None) -> tuple[int, str]:
    """Post one signed SMS; (requests made, MessageSid)."""
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "From": SENDER,
        "To": "+15017122661",
        "Body": body,
        "NumMedia": "0",
    }
    signature = str(RequestValidator(TOKEN).compute_signature(URL, params))
    request = func.HttpRequest(
        method="POST",
        url=URL,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        body=urlencode(params).encode(),
    )
    made.clear()
    assert sms_bp.sms_incoming(request).status_code == 200
    return len(made), params["MessageSid"]


def test_round_trips_per_incoming_sms(requests_made: list[str]) -> None:
    made = requests_made
    # The sender's partition (opt-out and its tallies on the line in one query), the tallies
    # written when something automatic goes out, the line's budget (read once by this instance,
    # then one conditional write per automatic answer), the text's conversation (its state read,
    # one transaction, which also lists the line among those with conversations the first
    # time), the record, its day index row, its conversation rows (the text and its answer in
    # one transaction).
    assert post(made, "hello")[0] == 7 + 2
    assert made[2:4] == ["get_entity", "create_entity"]  # the budget row: read, then written
    assert post(made, "hello again")[0] == 4 + 2  # auto-reply already sent: no tally, no budget
    assert "update_entity" not in made
    assert post(made, "help")[0] == 6 + 2  # the first HELP answer: its tally and the budget
    assert made.count("update_entity") == 2  # both under the ETags this instance holds
    assert post(made, "help")[0] == 4 + 2
    count, stop = post(made, "STOP")
    # marker read, opt-out insert, record + marker (one transaction), index, conversation row:
    # STOP and START leave the conversation's state alone (they are the keyword's, first)
    assert count == 5
    assert post(made, "START")[0] == 6  # marker read, opt-out read, delete, record + marker, ...
    assert post(made, "START")[0] == 5  # not opted out: nothing to delete
    assert post(made, "STOP", sid=stop)[0] == 2  # a retry: marker read, record exists


def test_a_blocked_contacts_text_is_recorded_and_gets_nothing(
    requests_made: list[str],
) -> None:
    made = requests_made
    settings = get_settings()
    contact_service.set_blocked(settings, SENDER, True)  # heard at once by this instance
    contacts.forget_cached_contacts()  # as another instance: it reads the contact once
    count, sid = post(made, "hello")
    # The sender's contact (one point read), then the record, its index, its conversation:
    # no opt-out or tallies read, no budget, nothing automatic.
    assert (count, made[0]) == (4, "get_entity")
    assert post(made, "help")[0] == 3  # warm: the record alone; HELP gets nothing either
    record = RecordStore.messages(settings).get(sid)
    assert record is not None
    assert record["BlockedContact"] == contact_service.get(settings, SENDER).contact.id
    assert post(made, "STOP")[0] == 5  # a legal duty: the opt-out is applied as ever
    from switchboard.optouts.store import OptOutStore

    assert OptOutStore.from_settings(settings).get(SENDER) is not None


def test_stop_writes_its_record_and_marker_together(requests_made: list[str]) -> None:
    _, sid = post(requests_made, "stop")
    store = RecordStore.messages(get_settings())
    rows = {r["RowKey"] for r in tables.query(store.table, "PartitionKey eq @pk", {"pk": sid})}
    assert rows == {records.RECORD_ROW, records.STEP_PREFIX + "keyword"}
    assert "submit_transaction" in requests_made


def test_steps_are_written_alone_when_the_record_exists(requests_made: list[str]) -> None:
    store = RecordStore.messages(get_settings())
    record_id = "SM" + uuid.uuid4().hex
    assert store.create(record_id, {"Status": "received"})
    assert not store.has_step(record_id, "keyword")
    assert not store.create(record_id, {"Status": "received"}, steps=("keyword",))
    assert store.has_step(record_id, "keyword")


def test_a_word_that_could_answer_a_reminder_costs_no_read_when_the_partition_is_read(
    requests_made: list[str],
) -> None:
    # With an auto-reply the sender's partition is read anyway: the reminders awaiting a reply
    # come back in the same query (0 more), for a single word as for a sentence. (Each text's
    # conversation adds its two, as elsewhere.)
    assert post(requests_made, "ok")[0] == 7 + 2
    assert requests_made.count("query_entities") == 1 + 1  # and the conversation's state
    assert "get_entity" in requests_made  # the line's budget row, read once by this instance
    assert post(requests_made, "Is the shop open on Sunday?")[0] == 4 + 2


def test_a_word_that_could_answer_a_reminder_costs_one_point_read_without_automatic_texts(
    requests_made: list[str], clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.delenv("SMS_AUTO_REPLY")
    reset_settings_cache()
    settings = get_settings()
    tables.get_table(settings.table_sms_schedule, settings)
    made = requests_made
    # Nothing automatic: the record, its index row, its conversation row, its conversation's
    # state (one query, one transaction)...
    assert post(made, "Is the shop open on Sunday?")[0] == 3 + 2
    assert "get_entity" not in made
    assert made.count("query_entities") == 1
    # ...and for a text that could be a reply, one point read of its reminders' row.
    assert post(made, "c")[0] == 4 + 2
    assert made.count("get_entity") == 1
    assert made.count("query_entities") == 1
