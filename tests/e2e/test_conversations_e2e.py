"""Conversations and the relay end to end, through TWO local hosts (`python -m devkit host`)
sharing Azurite's tables and the Twilio stand-in, driven by signed webhooks (the simulator's
`send_sms` and `CallSession`), the operator API and the command line:

- a customer texts the line: both relay people get it from the line's number with its tag;
- one replies from their phone through the other host: the customer gets it from the line's
  number, once, though the webhook is retried to both hosts at once;
- a tagged reply goes to an older conversation; `list` answers the open ones;
- a customer who texted STOP is not texted, and the relay person is told;
- a missed call lands in the caller's conversation, in order;
- a phone's vCard of 200 people imported over HTTP: one of them texts, and both relay people
  get the text under the contact's name; `list`, the API and the command line name them too; a
  blocked contact's text is relayed to nobody and opens no conversation;
- a page of conversations, with 10,000 stored events, reads entities in proportion to the page
  (counted on the command line's own clients: the same service the hosts run).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result

from devkit.conversation_history import seed_history
from devkit.simulator import CallSession, SmsResult, send_sms
from devkit.storage_counter import counting_table_requests
from devkit.twilio_standin import TwilioStandin
from switchboard import cli, records
from switchboard.lines.document import validate
from switchboard.lines.store import LineStore
from switchboard.settings import Settings, load_settings
from tests.contacts import address_book, import_over_http, vcard_file
from tests.e2e.conftest import PROJECT_ROOT, SCRUBBED_PREFIXES, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "d2" * 16
TOKEN = "conversations-e2e-token-0123456789"
LINE = "+15017122661"
HISTORY_LINE = "+15005550010"
ANA = "+15550000101"
BEN = "+15550000102"
DANA = "+15557770101"
ERIN = "+15557770102"
KEY = "conversations-e2e-function-key"


@dataclass
class Stack:
    first: HostHandle
    second: HostHandle
    standin: TwilioStandin
    env: dict[str, str]
    settings: Settings

    def text(self, host: HostHandle, sender: str, body: str, **more: Any) -> SmsResult:
        """A signed text to the line through `host`, as Twilio delivers it."""
        result = send_sms(
            host.url,
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            from_=sender,
            to=LINE,
            body=body,
            **more,
        )
        assert result.ok, result.text()
        return result

    def texts_to(self, number: str) -> list[str]:
        """What the stand-in was asked to send `number`, from the line's number."""
        found = []
        for request in self.standin.requests(method="POST", resource="Messages"):
            if request.param("To") == number:
                assert request.param("From") == LINE
                found.append(str(request.param("Body")))
        return found

    def api(self, host: HostHandle, method: str, path: str, body: str | None = None) -> Any:
        headers = {"x-functions-key": KEY, "Content-Type": "application/json"}
        return host.request(method, path, headers=headers, body=body)

    def cli(self, *args: str) -> Result:
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(SCRUBBED_PREFIXES)
        }
        return CliRunner().invoke(
            cli.cli, list(args), env={**scrubbed, **self.env}, catch_exceptions=False
        )


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=0) as standin:
        env = {
            "AzureWebJobsStorage": storage_connection_string,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": LINE,
            "DEVHOST_FUNCTION_KEY": KEY,
            "TABLE_CALL_LOG": "cvcall" + suffix,
            "TABLE_MESSAGE_LOG": "cvmsg" + suffix,
            "TABLE_SMS_SCHEDULE": "cvsch" + suffix,
            "TABLE_OPT_OUT": "cvopt" + suffix,
            "TABLE_LINES": "cvlines" + suffix,
            "TABLE_CONVERSATIONS": "cvconv" + suffix,
            "TABLE_CONTACTS": "cvcontacts" + suffix,
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
            "OUTBOUND_CALL_QUEUE": "cv-calls-" + suffix,
        }
        settings = load_settings(env)
        document = validate(
            {
                "name": "Bike shop",
                "timeZone": "America/New_York",
                "sms": {
                    "autoReply": "Thanks! We answer within the hour.",
                    "relay": [{"name": "Ana", "number": ANA}, {"name": "Ben", "number": BEN}],
                },
                "open": [{"voicemail": {}}],
            },
            LINE,
        )
        LineStore.from_settings(settings).write(
            LINE, document, change="put", now=records.utcnow(), expected=None
        )
        first = run_host_module(PROJECT_ROOT, env)
        second = run_host_module(PROJECT_ROOT, env)
        yield Stack(first, second, standin, env, settings)


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """`check()` once it is truthy (the stand-in records a request as the host makes it)."""
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_a_customer_text_reaches_both_relay_people_and_a_reply_reaches_the_customer_once(
    stack: Stack,
) -> None:
    answered = stack.text(stack.first, DANA, "Is my bike ready?").messages
    assert [m.body for m in answered] == ["Thanks! We answer within the hour."]
    relayed = "[+1555***0101 #A1] Is my bike ready?"
    assert stack.texts_to(ANA) == [relayed]
    assert stack.texts_to(BEN) == [relayed]
    # Ana answers from her phone; Twilio's webhook reaches the second host, and is retried
    # (the same MessageSid) to both hosts at once.
    sid = "SM" + uuid.uuid4().hex
    answer = stack.text(stack.second, ANA, "Ready at 5, see you!", message_sid=sid)
    assert answer.messages == []  # a reply that went out is not answered
    retries = [
        threading.Thread(
            target=stack.text, args=(host, ANA, "Ready at 5, see you!"), kwargs={"message_sid": sid}
        )
        for host in (stack.first, stack.second)
    ]
    for retry in retries:
        retry.start()
    for retry in retries:
        retry.join(timeout=30)
    assert stack.texts_to(DANA) == ["Ready at 5, see you!"]
    found = stack.api(stack.first, "GET", f"/api/conversations/{LINE}/{DANA}").json()
    assert found["conversation"]["tag"] == "A1"
    assert found["conversation"]["unread"] == 0  # answered: read
    bodies = [(e["direction"], e.get("body"), e.get("author")) for e in found["events"]]
    assert bodies == [
        ("outbound", "Ready at 5, see you!", "Ana"),
        ("outbound", "Thanks! We answer within the hour.", None),
        ("inbound", "Is my bike ready?", None),
    ]
    assert [e.get("status") for e in found["events"]] == ["queued", None, "received"]


def test_a_tagged_reply_reaches_an_older_conversation_and_list_answers(stack: Stack) -> None:
    stack.text(stack.second, ERIN, "Do you sell helmets?")
    assert stack.texts_to(BEN)[-1] == "[+1555***0102 #B1] Do you sell helmets?"
    stack.text(stack.first, BEN, "#a1 Also, your lights are fixed.")
    assert stack.texts_to(DANA)[-1] == "Also, your lights are fixed."
    stack.text(stack.second, BEN, "Yes, from $40.")  # no tag: the last relayed to Ben
    assert stack.texts_to(ERIN) == ["Yes, from $40."]
    listing = stack.text(stack.first, ANA, "list").messages
    assert len(listing) == 1
    assert listing[0].to is None  # the answer goes back to Ana
    assert "#B1" in listing[0].body
    assert "#A1" in listing[0].body
    done = stack.text(stack.second, ANA, "#A1 done").messages
    assert "#A1 closed" in done[0].body
    page = stack.api(stack.second, "GET", f"/api/conversations?line={LINE}&state=open").json()
    assert [c["tag"] for c in page["conversations"]] == ["B1"]


def test_an_opted_out_customer_is_not_texted(stack: Stack) -> None:
    stack.text(stack.first, ERIN, "STOP")
    before = len(stack.texts_to(ERIN))
    told = stack.text(stack.second, BEN, "#B1 Thanks for your visit!").messages
    assert "opted out" in told[0].body
    sent = stack.api(
        stack.first,
        "POST",
        f"/api/conversations/{LINE}/{ERIN}/messages",
        '{"body": "One more thing"}',
    )
    assert sent.status == 400
    assert sent.json()["error"]["code"] == "opted_out"
    assert len(stack.texts_to(ERIN)) == before


def test_a_missed_call_lands_in_the_callers_conversation(stack: Stack) -> None:
    caller = "+15557770103"
    call = CallSession(
        stack.second.url,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_=caller,
        to=LINE,
        status_callback="/api/status/call",
    )
    transcript = call.run(recording_duration=0)
    assert transcript.ok, transcript.text()

    def called() -> Any:
        response = stack.api(stack.first, "GET", f"/api/conversations/{LINE}/{caller}")
        return response.json() if response.status == 200 else None

    found = called()
    assert found is not None
    assert found["conversation"]["preview"] == "missed call"
    assert found["conversation"]["unread"] == 1
    assert [(e["kind"], e.get("event")) for e in found["events"]] == [("call", "missed")]
    result = stack.cli("conversations", "reply", LINE, caller, "Sorry we missed you!")
    assert result.exit_code == 0, result.output
    assert wait_for(lambda: stack.texts_to(caller)) == ["Sorry we missed you!"]


def test_a_contact_from_an_imported_vcard_is_named_in_relays_and_listings(stack: Stack) -> None:
    book = address_book(200)
    imported = import_over_http(stack.first, KEY, vcard_file(book))
    assert (imported["entries"], imported["created"]) == (200, 200)
    customer = book[58]  # a number the phone kept in national form, read in the line's region
    assert customer.written.startswith("(201)")
    # The other host never saw the import: it reads the contact (one point read) on the text.
    stack.text(stack.second, customer.number, "Can I bring the bike at 8?")
    tag = stack.api(stack.first, "GET", f"/api/conversations/{LINE}/{customer.number}").json()[
        "conversation"
    ]["tag"]
    relayed = f"[{customer.name} #{tag}] Can I bring the bike at 8?"
    assert stack.texts_to(ANA)[-1] == relayed
    assert stack.texts_to(BEN)[-1] == relayed
    assert f"#{tag} {customer.name} (1 unread): Can I bring" in (
        stack.text(stack.first, ANA, "list").messages[0].body
    )
    page = stack.api(stack.second, "GET", f"/api/conversations?line={LINE}&state=open").json()
    named = {c["customer"]: c.get("name") for c in page["conversations"]}
    assert named[customer.number] == customer.name
    assert all(name is None for number, name in named.items() if number != customer.number)
    shown = stack.api(stack.second, "GET", f"/api/conversations/{LINE}/{customer.number}").json()
    assert shown["conversation"]["name"] == customer.name
    listed = stack.cli("conversations", "list", "--line", LINE, "--state", "open")
    assert customer.name in listed.output, listed.output
    # A blocked contact's text is kept on its record, and goes no further.
    pest = book[59]
    blocked = stack.api(stack.first, "PATCH", f"/api/contacts/{pest.number}", '{"blocked": true}')
    assert blocked.status == 200, blocked.text
    before = (len(stack.texts_to(ANA)), len(stack.texts_to(BEN)))
    assert stack.text(stack.first, pest.number, "Buy followers now").messages == []
    assert (len(stack.texts_to(ANA)), len(stack.texts_to(BEN))) == before
    none = stack.api(stack.second, "GET", f"/api/conversations/{LINE}/{pest.number}")
    assert none.status == 404


def test_a_page_of_conversations_reads_in_proportion_to_the_page(stack: Stack) -> None:
    """10,000 events on another line of the account, beside what the hosts wrote."""
    events = seed_history(
        stack.settings, [HISTORY_LINE], per_line=250, events_each=40, now=datetime.now(UTC)
    )
    assert events == 10_000
    with counting_table_requests() as counter:
        counter.reset()
        listed = stack.cli("conversations", "list", "--limit", "20", "--json")
        read = counter.entities()
    assert listed.exit_code == 0, listed.output
    assert read <= 2 * 21 + 2 + 4 * 2, read  # the page, each range's share, the lines
    shown = stack.cli("conversations", "list", "--line", LINE)
    assert "#A1" in shown.output
