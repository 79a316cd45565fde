"""The inbox's conversations in a real browser: Debian's chromium (Playwright) against the local
host, Azurite and the Twilio stand-in, driven by signed webhooks (one of each for the module).

- the owner signs in with the code the stand-in received and lands on the conversations; the
  first load of the list is measured on the wire (≤ 100 KB);
- a customer's signed text appears in the open list without a reload (the page polls with the
  list's validator); opening it marks it read; a reply from the box reaches the customer from
  the line's number exactly once; a customer who texted STOP meanwhile: the refusal in words,
  nothing sent; the next view shows the box closed and why;
- a voicemail plays through the app: the audio element loads from the app's own path (no Twilio
  URL in the page), its range requests are answered 206 with the stand-in's bytes; a staff user
  of another line gets 404 for it;
- texts, names and transcripts carrying script, event handlers, `javascript:` links, SVG and
  CSS are shown as sent and nothing runs;
- axe-core: 0 serious or critical violations in both views at 1280 and 375 px (screenshots for
  the README with `make screenshots`); the keyboard alone opens a conversation and sends.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from devkit.simulator import CallSession, send_sms, sign_and_post
from devkit.twilio_standin import TwilioStandin
from tests.e2e.browser import (
    SCREENSHOTS,
    TransferMeter,
    axe_violations,
    launch_browser,
    no_payload_ran,
    require_browser,
)
from tests.e2e.conftest import PROJECT_ROOT, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "5c" * 16
TOKEN = "inbox-conv-e2e-auth-token-0123456789"
KEY = "inbox-conv-e2e-function-key"
SESSION_KEY = "inbox-conv-e2e-session-key-0123456789abcdef"
MAIN = "+15017122661"
SUPPORT = "+15017122662"
OWNER_PHONE = "+15550001111"
STAFF_PHONE = "+15550002222"
DANA = "+15557770101"
ERIN = "+15557770102"
FRED = "+15557770103"
GINA = "+15557770104"
HANK = "+15557770105"
IVY = "+15557770106"
FIRST_LOAD_LIMIT = 100 * 1024
HOSTILE_TEXT = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
    '<a href="javascript:window.__pwned=1">tap</a><svg onload="window.__pwned=1"></svg>'
    "<style>*{display:none}</style>"
)
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">Fred <b style="color:red">Bold</b>'
HOSTILE_TRANSCRIPT = '<svg/onload="window.__pwned=1"> call me <a href="javascript:alert(1)">x</a>'

MAIN_LINE: dict[str, Any] = {
    "name": "Main line",
    "timeZone": "America/New_York",
    "open": [{"voicemail": {"transcribe": True}}],
}
SUPPORT_LINE: dict[str, Any] = {"name": "Support", "open": [{"hangup": {}}]}


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    browser: Any

    def api(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"x-functions-key": KEY, "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body)
        return self.host.request(method, f"/api/{path}", headers=headers, body=data)

    def text(self, sender: str, body: str, to: str = MAIN) -> None:
        result = send_sms(
            self.host.url, account_sid=ACCOUNT_SID, auth_token=TOKEN, from_=sender, to=to, body=body
        )
        assert result.ok, result.text()

    def texted(self, to: str) -> list[Any]:
        return [
            r for r in self.standin.requests("POST", resource="Messages") if r.param("To") == to
        ]

    def code(self, to: str, after: int) -> str:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            sent = self.texted(to)
            if len(sent) > after:
                found = re.search(r"\b(\d{6})\b", str(sent[-1].param("Body")))
                assert found is not None
                return found.group(1)
            self.standin.wait_idle(0.2)
        raise AssertionError(f"no code texted to {to}")

    def page(self, width: int = 1280, height: int = 800, state: Any = None) -> Any:
        context = self.browser.new_context(
            viewport={"width": width, "height": height}, storage_state=state, locale="en-US"
        )
        return context.new_page()

    def sign_in(self, page: Any, phone: str) -> None:
        before = len(self.texted(phone))
        page.goto(f"{self.host.url}/inbox/")
        page.get_by_label("Mobile number or e-mail address").fill(phone)
        page.get_by_role("button", name="Send me a code").click()
        page.get_by_label("6-digit code").fill(self.code(phone, before))
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Conversations", level=1).wait_for()

    def cookie(self, page: Any) -> str:
        return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())

    def conversation(self, line: str, customer: str) -> Any:
        found = self.api("GET", f"conversations/{quote(line)}/{quote(customer)}")
        assert found.status == 200, found.text
        return found.json()


@pytest.fixture(scope="module")
def stack(run_host_module: HostFactory) -> Iterator[Stack]:
    require_browser()
    suffix = uuid.uuid4().hex[:10]
    numbers = [{"phone_number": MAIN}, {"phone_number": SUPPORT}]
    with TwilioStandin(
        account_sid=ACCOUNT_SID, auth_token=TOKEN, numbers=numbers, callback_delay_ms=0
    ) as standin:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": MAIN,
            "DEVHOST_FUNCTION_KEY": KEY,
            "INBOX_SESSION_KEY": SESSION_KEY,
            "LINES_CACHE_SECONDS": "1",
            "SMS_TIMER_SCHEDULE": "*/2 * * * * *",
            **{
                name: prefix + suffix
                for name, prefix in (
                    ("TABLE_LINES", "icvlines"),
                    ("TABLE_INBOX_USERS", "icvusers"),
                    ("TABLE_CALL_LOG", "icvcalls"),
                    ("TABLE_MESSAGE_LOG", "icvmsgs"),
                    ("TABLE_OPT_OUT", "icvopt"),
                    ("TABLE_CONVERSATIONS", "icvconv"),
                    ("TABLE_CONTACTS", "icvcont"),
                    ("TABLE_SMS_SCHEDULE", "icvsched"),
                )
            },
            "OUTBOUND_CALL_QUEUE": "icv-calls-" + suffix,
        }
        host = run_host_module(PROJECT_ROOT, env)
        for browser in launch_browser():
            found = Stack(host, standin, browser)
            assert found.api("PUT", f"lines/{MAIN}", MAIN_LINE).status == 201
            assert found.api("PUT", f"lines/{SUPPORT}", SUPPORT_LINE).status == 201
            for user in (
                {"name": "Olivia Owner", "phone": OWNER_PHONE, "role": "owner"},
                {"name": "Sam Staff", "phone": STAFF_PHONE, "role": "staff", "lines": [SUPPORT]},
            ):
                made = found.api("POST", "inbox-users", user)
                assert made.status == 201, made.text
            yield found


@pytest.fixture(scope="module")
def owner_state(stack: Stack) -> Any:
    page = stack.page()
    stack.sign_in(page, OWNER_PHONE)
    state = page.context.storage_state()
    page.context.close()
    return state


# --- a text appears without a reload; a reply reaches the customer once ---------------------


def test_a_text_appears_without_a_reload_and_a_reply_reaches_the_customer_once(
    stack: Stack, owner_state: Any
) -> None:
    page = stack.page(state=owner_state)
    page.goto(f"{stack.host.url}/inbox/")
    page.get_by_role("heading", name="Conversations", level=1).wait_for()
    page.evaluate("() => { window.__samePage = true; }")
    stack.text(DANA, "Is my bike ready?")
    item = page.locator(f'li.conversation[data-customer="{DANA}"]')
    item.wait_for()
    assert page.evaluate("() => window.__samePage") is True  # no reload
    assert "Is my bike ready?" in item.inner_text()
    assert item.locator(".count").text_content() == "1 unread"
    item.get_by_role("link").click()
    page.get_by_role("heading", name=DANA, level=1).wait_for()
    page.get_by_text("Is my bike ready?", exact=True).wait_for()
    deadline = time.monotonic() + 15
    while stack.conversation(MAIN, DANA)["conversation"]["unread"] and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert stack.conversation(MAIN, DANA)["conversation"]["unread"] == 0
    box = page.get_by_label("Message")
    box.fill("Ready at 5, see you!")
    page.get_by_role("button", name="Send").click()
    page.locator("li.event.out").get_by_text("Ready at 5, see you!", exact=True).wait_for()
    assert stack.standin.wait_idle(5)
    sent = stack.texted(DANA)
    assert [(r.param("From"), r.param("Body")) for r in sent] == [(MAIN, "Ready at 5, see you!")]
    assert box.input_value() == ""
    # Another text while the conversation is open appears in it, again without a reload.
    stack.text(DANA, "Great, thanks")
    page.get_by_text("Great, thanks", exact=True).wait_for()
    assert page.evaluate("() => window.__samePage") is True
    page.context.close()


def test_an_opted_out_customer_cannot_be_texted_and_the_box_says_why(
    stack: Stack, owner_state: Any
) -> None:
    stack.text(ERIN, "Hello?")
    page = stack.page(state=owner_state)
    page.goto(f"{stack.host.url}/inbox/#/conversations/{quote(MAIN)}/{quote(ERIN)}")
    page.get_by_role("heading", name=ERIN, level=1).wait_for()
    stack.text(ERIN, "STOP")  # after the page was shown: the send itself is refused
    texted = len(stack.texted(ERIN))
    page.get_by_label("Message").fill("Anything else?")
    page.get_by_role("button", name="Send").click()
    error = page.locator("#r-body-error")
    error.wait_for()
    assert "opted out" in error.inner_text()
    assert page.get_by_label("Message").get_attribute("aria-invalid") == "true"
    assert len(stack.texted(ERIN)) == texted
    page.reload()
    page.locator("#r-refused").wait_for()
    assert "texted STOP" in page.locator("#r-refused").inner_text()
    assert page.get_by_label("Message").is_disabled()
    assert page.get_by_role("button", name="Send").is_disabled()
    page.context.close()


def test_a_reminder_and_the_customers_reply_to_it_are_in_the_conversation(
    stack: Stack, owner_state: Any
) -> None:
    created = stack.api(
        "POST",
        "sms/schedules",
        {
            "id": "appt-inbox-1",
            "to": HANK,
            "body": "Your appointment is tomorrow at 9. Reply C to confirm, X to cancel.",
            "sendAt": datetime.now(UTC).isoformat(timespec="seconds"),
            "replies": {"C": "confirmed", "X": "cancelled"},
        },
    )
    assert created.status == 201, created.text
    deadline = time.monotonic() + 30
    while stack.api("GET", "sms/schedules/appt-inbox-1").json()["status"] != "sent":
        assert time.monotonic() < deadline, "the timer never sent the reminder"
        time.sleep(0.2)
    stack.text(HANK, "c ")
    page = stack.page(state=owner_state)
    page.goto(f"{stack.host.url}/inbox/#/conversations/{quote(MAIN)}/{quote(HANK)}")
    page.get_by_text("Reply to a reminder: confirmed", exact=True).wait_for()
    outbound = page.locator("li.event.out")
    assert "Scheduled text or reminder" in outbound.first.inner_text()
    assert "Your appointment is tomorrow at 9." in outbound.first.inner_text()
    assert any("Answer to a reminder's reply" in t for t in outbound.all_inner_texts())
    page.context.close()


# --- a call the app placed -------------------------------------------------------------------


def test_a_call_the_app_placed_is_in_the_conversation_with_what_it_said(
    stack: Stack, owner_state: Any
) -> None:
    placed = stack.api(
        "POST", "calls", {"id": "table-ready-ivy", "to": IVY, "say": "Your table is ready."}
    )
    assert placed.status == 202, placed.text
    deadline = time.monotonic() + 30
    while not (sid := stack.api("GET", "calls/table-ready-ivy").json().get("sid")):
        assert time.monotonic() < deadline, "the call was never placed"
        stack.standin.wait_idle(0.2)
    # Its end, as Twilio reports it (no PUBLIC_BASE_URL here: the callback Twilio was given
    # points at the local default origin, so it is posted to this host, signed for it).
    ended = sign_and_post(
        f"{stack.host.url}/api/status/call?id=table-ready-ivy",
        {
            "AccountSid": ACCOUNT_SID,
            "CallSid": sid,
            "CallStatus": "completed",
            "CallDuration": "14",
            "Direction": "outbound-api",
            "From": MAIN,
            "To": IVY,
        },
        auth_token=TOKEN,
    )
    assert ended.status == 204
    page = stack.page(state=owner_state)
    page.goto(f"{stack.host.url}/inbox/#/conversations/{quote(MAIN)}/{quote(IVY)}")
    page.get_by_text("Answered (0:14)", exact=True).wait_for()
    call = page.locator("li.event.out.call")
    assert call.count() == 1
    shown = call.first.inner_text()
    assert "Automated call" in shown
    assert "Your table is ready." in shown
    page.context.close()


# --- a voicemail plays through the app --------------------------------------------------------


def _leave_voicemail(stack: Stack, caller: str, transcript: str) -> str:
    call = CallSession(
        stack.host.url,
        account_sid=ACCOUNT_SID,
        auth_token=TOKEN,
        from_=caller,
        to=MAIN,
        status_callback="/api/status/call",
        standin_url=stack.standin.base_url,
    )
    result = call.run(recording_duration=2, transcription_text=transcript)
    assert result.ok, result.text()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        events = stack.conversation(MAIN, caller)["events"]
        if any(e.get("transcript") for e in events):
            return str(call.call_sid)
        time.sleep(0.1)
    raise AssertionError("the voicemail's transcript never reached its conversation")


def test_a_voicemail_plays_through_the_app_with_range_requests(
    stack: Stack, owner_state: Any
) -> None:
    call_sid = _leave_voicemail(stack, GINA, "Please call me back about the order.")
    page = stack.page(state=owner_state)
    answers: list[tuple[str, int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            answers.append((r.url, r.status, r.headers.get("content-range")))
            if "/audio" in r.url
            else None
        ),
    )
    page.goto(f"{stack.host.url}/inbox/#/conversations/{quote(MAIN)}/{quote(GINA)}")
    page.get_by_text("Please call me back about the order.", exact=True).wait_for()
    audio = page.locator("audio")
    src = audio.get_attribute("src")
    assert src is not None
    assert src.startswith("/api/inbox/conversations/")
    html = page.content()
    assert "twilio.com" not in html
    assert stack.standin.base_url not in html
    loaded = page.evaluate(
        """() => new Promise((resolve) => {
            const audio = document.querySelector("audio");
            audio.addEventListener("loadedmetadata", () => resolve(audio.duration), { once: true });
            audio.addEventListener("error", () => resolve(-1), { once: true });
            audio.muted = true;
            audio.load();
            audio.play().catch(() => {});
        })"""
    )
    assert loaded > 0
    assert any(status == 206 and rng and rng.startswith("bytes 0-") for _, status, rng in answers)
    recordings = stack.standin.store.snapshot()["recordings"]
    recording = next(r for r in recordings if r["call_sid"] == call_sid)
    whole = stack.standin.recording_audio(recording["sid"], "mp3")
    cookie = stack.cookie(page)
    part = stack.host.request("GET", src, headers={"Cookie": cookie, "Range": "bytes=10-19"})
    assert part.status == 206
    assert part.body == whole[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(whole)}"
    asked = [r for r in stack.standin.requests("GET") if r.path.endswith(".mp3")]
    assert asked
    assert all(r.status == 206 for r in asked if r.range)
    assert stack.host.request("GET", src).status == 401  # no session
    other = src.replace(call_sid, "CA" + "0" * 32)
    assert stack.host.request("GET", other, headers={"Cookie": cookie}).status == 404
    page.context.close()
    staff = stack.page()
    stack.sign_in(staff, STAFF_PHONE)
    assert stack.host.request("GET", src, headers={"Cookie": stack.cookie(staff)}).status == 404
    assert staff.locator(f'li.conversation[data-customer="{GINA}"]').count() == 0
    staff.context.close()


# --- hostile strings --------------------------------------------------------------------------


def test_hostile_texts_names_and_transcripts_are_shown_as_sent(
    stack: Stack, owner_state: Any
) -> None:
    made = stack.api("POST", "contacts", {"name": HOSTILE_NAME, "numbers": [FRED]})
    assert made.status == 201, made.text
    stack.text(FRED, HOSTILE_TEXT)
    _leave_voicemail(stack, FRED, HOSTILE_TRANSCRIPT)
    page = stack.page(state=owner_state)
    page.goto(f"{stack.host.url}/inbox/#/conversations")
    item = page.locator(f'li.conversation[data-customer="{FRED}"]')
    item.wait_for()
    assert item.locator(".name").inner_text() == HOSTILE_NAME
    no_payload_ran(page)
    item.get_by_role("link").click()
    page.get_by_role("heading", name=HOSTILE_NAME, level=1).wait_for()
    shown = page.locator("li.event.in .body-text")
    texts = shown.all_inner_texts()
    assert HOSTILE_TEXT in texts
    assert HOSTILE_TRANSCRIPT in texts
    no_payload_ran(page)
    page.context.close()


# --- accessibility, phone width, keyboard, screenshots ---------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "label"), [(1280, 800, "desktop"), (375, 740, "phone")]
)
def test_the_conversation_views_pass_axe_at_desktop_and_phone_width(
    stack: Stack, owner_state: Any, width: int, height: int, label: str
) -> None:
    stack.text(DANA, "Can I come at 6 instead?")
    if stack.api("GET", f"conversations/{quote(MAIN)}/{quote(GINA)}").status == 404:
        _leave_voicemail(stack, GINA, "Please call me back about the order.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = stack.page(width, height, owner_state)
    found = {}
    for name, hash_, heading in (
        ("conversations", "#/conversations", "Conversations"),
        ("conversation", f"#/conversations/{quote(MAIN)}/{quote(GINA)}", GINA),
    ):
        page.goto(f"{stack.host.url}/inbox/{hash_}")
        page.get_by_role("heading", name=heading, level=1).wait_for()
        page.wait_for_load_state("networkidle")
        found[name] = axe_violations(page)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, name
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.context.close()
    assert {name: v for name, v in found.items() if v} == {}


def test_the_first_load_of_the_list_is_small(stack: Stack, owner_state: Any) -> None:
    stack.text(ERIN, "Are you open on Saturday?")
    page = stack.page(state=owner_state)
    meter = TransferMeter(page)
    page.goto(f"{stack.host.url}/inbox/")
    page.get_by_role("heading", name="Conversations", level=1).wait_for()
    page.locator("li.conversation").first.wait_for()
    page.wait_for_load_state("networkidle")
    total = meter.total
    print(f"first load of the conversation list: {total} bytes over {len(meter.by_url)} requests")
    assert 0 < total <= FIRST_LOAD_LIMIT, meter.by_url
    page.context.close()


def test_the_keyboard_alone_opens_a_conversation_and_replies(
    stack: Stack, owner_state: Any
) -> None:
    stack.text(DANA, "One more question")
    page = stack.page(state=owner_state)
    page.goto(f"{stack.host.url}/inbox/#/lines")
    page.get_by_role("heading", name="Lines", level=1).wait_for()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == "Conversations":
            break
    else:
        raise AssertionError("Tab never reached Conversations")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Conversations", level=1).wait_for()
    for _ in range(40):
        page.keyboard.press("Tab")
        found = f"document.activeElement.closest('li.conversation[data-customer=\"{DANA}\"]')"
        if page.evaluate(f"() => {found} !== null"):
            break
    else:
        raise AssertionError("Tab never reached Dana's conversation")
    page.keyboard.press("Enter")
    page.locator("#r-body").wait_for()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "r-body":
            break
    else:
        raise AssertionError("Tab never reached the reply box")
    assert page.evaluate("() => document.activeElement.tagName") == "TEXTAREA"
    before = len(stack.texted(DANA))
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Send"
    page.keyboard.press("Enter")
    page.locator("li.event.out").get_by_text("Typed without a mouse", exact=True).wait_for()
    assert [r.param("Body") for r in stack.texted(DANA)[before:]] == ["Typed without a mouse"]
    page.context.close()
