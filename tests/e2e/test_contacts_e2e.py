"""Contacts end to end, through `python -m devkit host` with Azurite and the Twilio stand-in:
the operator API (function key), a phone's vCard of 200 people imported over HTTP, a blocked
contact whose call is rejected and whose text gets nothing (STOP still counts), and a
contact's name in the voicemail text and the call listing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devkit.simulator import CallSession, send_sms
from devkit.twilio_standin import TwilioStandin
from switchboard.optouts.store import OptOutStore
from switchboard.settings import Settings, load_settings
from tests.contacts import address_book, import_over_http, vcard_file
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "c7" * 16
TOKEN = "contacts-e2e-auth-token-0123456789"
KEY = "contacts-e2e-function-key"
LINE = "+15017122661"
OWNER = "+15550000091"
AUTO_REPLY = "Thanks, we will text you back soon."

DOCUMENT: dict[str, Any] = {
    "name": "Main line",
    "open": [{"voicemail": {"notify": {"sms": [OWNER]}}}],
    "sms": {"autoReply": AUTO_REPLY, "forwardTo": OWNER},
}


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    settings: Settings

    def api(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        sent = {"x-functions-key": KEY, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        return self.host.request(method, path, headers=sent, body=data)

    def texts_to(self, number: str) -> list[str]:
        return [
            str(r.param("Body"))
            for r in self.standin.requests(method="POST", resource="Messages")
            if r.param("To") == number
        ]

    def call(self, caller: str) -> Any:
        session = CallSession(
            self.host.url,
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            from_=caller,
            to=LINE,
            standin_url=self.standin.base_url,
            status_callback="/api/status/call",
        )
        return session, session.run()

    def text(self, sender: str, body: str) -> Any:
        return send_sms(
            self.host.url,
            account_sid=ACCOUNT_SID,
            auth_token=TOKEN,
            from_=sender,
            to=LINE,
            body=body,
        )


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory, storage_connection_string: str) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with TwilioStandin(
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        callback_delay_ms=0,
        numbers=[{"phone_number": LINE}],
    ) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": LINE,
            "DEVHOST_FUNCTION_KEY": KEY,
            "TABLE_CALL_LOG": "ctcall" + suffix,
            "TABLE_MESSAGE_LOG": "ctmsg" + suffix,
            "TABLE_SMS_SCHEDULE": "ctsch" + suffix,
            "TABLE_OPT_OUT": "ctopt" + suffix,
            "TABLE_LINES": "ctlines" + suffix,
            "TABLE_CONTACTS": "ctcontacts" + suffix,
            "OUTBOUND_CALL_QUEUE": "ct-calls-" + suffix,
            "SMS_TIMER_SCHEDULE": "*/1 * * * * *",
        }
        host = run_host_module(PROJECT_ROOT, env)
        settings = load_settings({**env, "AzureWebJobsStorage": storage_connection_string})
        stack = Stack(host, standin, settings)
        written = stack.api("PUT", f"/api/lines/{LINE}", DOCUMENT)
        assert written.status == 201, written.text
        yield stack


def test_the_api_keeps_contacts_with_versions(stack: Stack) -> None:
    created = stack.api(
        "POST",
        "/api/contacts",
        {"name": "Ana Lima", "numbers": [{"number": "(201) 555-0142", "label": "mobile"}]},
    )
    assert created.status == 201, created.text
    contact = created.json()
    assert (contact["numbers"], created.headers["etag"]) == (
        [{"number": "+12015550142", "label": "mobile"}],
        '"1"',
    )
    assert created.headers["location"] == f"/api/contacts/{contact['id']}"
    by_number = stack.api("GET", "/api/contacts/+12015550142")
    assert by_number.json()["id"] == contact["id"]
    blind = stack.api("PUT", f"/api/contacts/{contact['id']}", {"name": "Ana"})
    assert blind.status == 428
    replaced = stack.api(
        "PUT",
        f"/api/contacts/{contact['id']}",
        {**by_number.json(), "company": "Lima Bakery"},
        {"If-Match": '"1"'},
    )
    assert (replaced.status, replaced.json()["company"]) == (200, "Lima Bakery")
    stale = stack.api(
        "PATCH", f"/api/contacts/{contact['id']}", {"tags": ["VIP"]}, {"If-Match": '"1"'}
    )
    assert stale.status == 412
    taken = stack.api("POST", "/api/contacts", {"name": "Other", "numbers": ["+12015550142"]})
    assert (taken.status, taken.json()["error"]["code"]) == (409, "number_taken")
    bad = stack.api("POST", "/api/contacts", {"numbers": ["call me"], "colour": "red"})
    assert bad.status == 400
    assert [e["field"] for e in bad.json()["error"]["errors"]] == ["/colour", "/numbers/0"]
    found = stack.api("GET", "/api/contacts?q=lim")
    assert [item["name"] for item in found.json()["items"]] == ["Ana Lima"]
    deleted = stack.api("DELETE", f"/api/contacts/{contact['id']}")
    assert deleted.json() == {"id": contact["id"], "deleted": True}
    assert stack.api("GET", "/api/contacts/+12015550142").status == 404


def test_a_phones_vcard_of_200_people_imported_over_http_once(stack: Stack) -> None:
    book = address_book(200, seed=7, area="973")
    text = vcard_file(book)
    assert import_over_http(stack.host, KEY, text) == {
        "entries": 200,
        "created": 200,
        "updated": 0,
        "unchanged": 0,
        "dryRun": False,
    }
    assert import_over_http(stack.host, KEY, text)["unchanged"] == 200
    person = book[123]
    shown = stack.api("GET", f"/api/contacts/{person.number}")
    assert shown.json()["name"] == person.name
    broken = stack.host.request(
        "POST",
        "/api/contacts/import",
        headers={"x-functions-key": KEY, "Content-Type": "text/vcard"},
        body=text.replace(book[3].written, "no number here"),
    )
    assert broken.status == 400
    [problem] = broken.json()["error"]["errors"]
    assert problem["field"].startswith("entry 4 (line ")
    assert "'no number here' is not a phone number" in problem["message"]
    exported = stack.api("GET", "/api/contacts/export?format=csv")
    assert exported.status == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.count(person.number) == 1


def test_a_blocked_contacts_call_is_rejected_and_its_text_gets_nothing(stack: Stack) -> None:
    blocked, other = "+12015550166", "+12015550167"
    for name, number, block in (("Pest", blocked, True), ("Fine", other, False)):
        made = stack.api(
            "POST", "/api/contacts", {"name": name, "numbers": [number], "blocked": block}
        )
        assert made.status == 201, made.text

    session, transcript = stack.call(blocked)
    assert [verb.name for verb in transcript.verbs] == ["Reject"]
    record = stack.api("GET", f"/api/calls/{session.call_sid}").json()
    assert (record["handling"], record["contactName"]) == ("rejected", "Pest")
    assert record["blockedContact"] == stack.api("GET", f"/api/contacts/{blocked}").json()["id"]

    answered = stack.text(blocked, "hello?")
    assert answered.ok, answered.text()
    assert answered.messages == []  # no auto-reply, no forward
    help_asked = stack.text(blocked, "HELP")
    assert help_asked.messages == []
    served = stack.text(other, "hello")  # a contact not blocked: answered as ever
    assert sorted((m.to or "", m.body) for m in served.messages)[0] == ("", AUTO_REPLY)
    assert any(m.to == OWNER for m in served.messages)
    assert not any("hello?" in body for body in stack.texts_to(OWNER))
    # STOP is a legal duty: a blocked contact can still opt out.
    assert stack.text(blocked, "STOP").ok
    assert OptOutStore.from_settings(stack.settings).get(blocked) is not None
    # Unblocked through the API: this host hears it at once.
    changed = stack.api("PATCH", f"/api/contacts/{blocked}", {"blocked": False})
    assert changed.json()["blocked"] is False
    _, again = stack.call(blocked)
    assert "Reject" not in [verb.name for verb in again.verbs]


def test_a_contacts_name_shows_in_the_voicemail_text_and_the_call_list(stack: Stack) -> None:
    caller = "+12015550123"
    made = stack.api("POST", "/api/contacts", {"name": "Dana Reyes", "numbers": [caller]})
    assert made.status == 201, made.text
    session, transcript = stack.call(caller)
    assert "Record" in [verb.name for verb in transcript.verbs], transcript.text()
    heading = "Voicemail on Main line from Dana Reyes (+1 201-555-0123) (0:07). Listen: "
    texts = wait_for(lambda: [t for t in stack.texts_to(OWNER) if t.startswith(heading)])
    assert len(texts) == 1, stack.texts_to(OWNER)
    listed = stack.api("GET", "/api/calls?limit=10").json()["calls"]
    mine = next(call for call in listed if call["id"] == session.call_sid)
    assert mine["contactName"] == "Dana Reyes"
    strangers = [call for call in listed if call["from"] == "+12015550199"]
    assert all(call["contactName"] is None for call in strangers)
