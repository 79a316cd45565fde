"""Secrets and phone numbers in logs: a scan of everything the reliability suite made the app log.

Runs last (see conftest). What is scanned:

- the whole output (stdout and stderr) of every `python -m devkit host` the reliability tests
  started: the app's log lines (the host prints them as the Functions host would send them to
  Application Insights), the host's own lines (function listing, Executing/Executed, queue and
  timer lines) and every traceback. Nothing is excluded: the host's own lines carry no numbers
  or secrets either, so a hit anywhere is a leak somebody must look at;
- every record of the `switchboard.*` loggers emitted in this process during the suite (the
  in-process fuzzing, forgeries and outage tests), formatted with its exception text.

What must not appear: the auth token, the API key secret, the function key (also as the basic
auth header value they would make), and any full E.164 number (`\\+\\d{8,15}`). The only text
allowed to match the number pattern is the app's own example in its validation messages
("such as +15558675310", "(e.g. +15017122661)"): documentation, no one's number, and no test
uses those numbers.

So that the scan means something even when this file runs alone, it first drives the paths
that handle secrets and numbers: operator routes with the key in the header and in `?code=`,
a wrong key, REST calls with API-key auth to the Twilio stand-in, Twilio errors whose message
quotes the number (the test "magic numbers"), queued calls that fail, webhooks (genuine and forged with `?code=`), a 21610 status callback, and a
host whose settings are invalid (their values must not be logged either).
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from devkit.ports import free_port
from devkit.simulator import CallSession, send_sms, sign_and_post
from devkit.twilio_standin import TwilioStandin
from tests.e2e.conftest import PROJECT_ROOT, HostHandle, start_host
from tests.reliability.conftest import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    BUSINESS,
    FUNCTION_KEY,
    CapturedLog,
    HostFactory,
    HostOutputs,
    InProcessApp,
    app_env,
    fast_app_dir,
    in_process_settings,
    sized,
    twilio_functions,
    wait_until,
)

E164 = re.compile(r"\+\d{8,15}")
#: The app's own examples in validation messages (documentation, not anybody's number).
EXAMPLES = ("such as +15558675310", "such as +15017122661", "(e.g. +15017122661)")
INVALID_SID = "ACnotAsid0Distinctive7Q"
INVALID_FROM = "+1-555-NOPE-Distinct9"


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


FORBIDDEN = {
    "auth token": AUTH_TOKEN,
    "API key secret": API_KEY_SECRET,
    "function key": FUNCTION_KEY,
    "basic auth (API key)": basic(API_KEY_SID, API_KEY_SECRET),
    "basic auth (auth token)": basic(ACCOUNT_SID, AUTH_TOKEN),
    "invalid setting value (account SID)": INVALID_SID,
    "invalid setting value (sender)": INVALID_FROM,
}


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def numbers_in(text: str) -> list[str]:
    for example in EXAMPLES:
        text = text.replace(example, "such as <example>")
    return E164.findall(text)


def leaks(lines: list[str]) -> list[str]:
    """Every line holding a secret or a full phone number, with what it holds."""
    found = []
    for line in lines:
        for name, secret in FORBIDDEN.items():
            if secret in line:
                found.append(f"{name}: {line[:300]}")
        hits = numbers_in(line)
        if hits:
            found.append(f"numbers {hits}: {line[:300]}")
    return found


def drive(host: HostHandle, standin: TwilioStandin, public: str) -> None:
    """Exercise every path that handles a secret or a number (see the module doc)."""
    key = {"x-functions-key": FUNCTION_KEY, "Content-Type": "application/json"}
    health = host.request("GET", "/api/health", headers=key)
    assert health.status == 200, health.text  # the report says which check failed
    assert host.request("GET", f"/api/health?code={FUNCTION_KEY}").status == 200
    assert host.request("GET", f"/api/calls?limit=5&code={FUNCTION_KEY}").status == 200
    assert host.request("GET", "/api/calls", headers={"x-functions-key": "wrong"}).status == 401
    for to in (new_number(), "+15005550001", "+15005550004"):
        answer = host.request(
            "POST", "/api/messages", headers=key, body=f'{{"to": "{to}", "body": "Hello"}}'
        )
        assert answer.status < 500, answer.text
    bad_to = "scan-to-" + uuid.uuid4().hex[:8]
    answer = host.request(
        "POST",
        "/api/calls",
        headers=key,
        body=f'{{"id": "{bad_to}", "to": "+15005550001", "say": "x"}}',
    )
    assert answer.status == 202, answer.text
    caller = new_number()
    call = CallSession(
        host.url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        public_base_url=public,
        from_=caller,
        to=BUSINESS,
    ).run(digits=["1"], dial_status="no-answer")
    assert call.ok, call.text()
    for body in ("Hello there", "STOP", "START", "HELP"):
        reply = send_sms(
            host.url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            public_base_url=public,
            from_=caller,
            to=BUSINESS,
            body=body,
        )
        assert reply.ok, reply.text()
    forged = sign_and_post(
        host.api("sms/incoming") + f"?code={FUNCTION_KEY}",
        {"From": caller, "To": BUSINESS, "Body": "x", "MessageSid": "SM" + uuid.uuid4().hex},
        auth_token="not-the-token",
        public_base_url=public,
    )
    assert forged.status == 403
    callback = sign_and_post(
        host.api("status/message"),
        {"MessageSid": "SM" + uuid.uuid4().hex, "MessageStatus": "failed", "ErrorCode": "21610"}
        | {"To": caller, "From": BUSINESS},
        auth_token=AUTH_TOKEN,
        public_base_url=public,
    )
    assert callback.status == 204

    wait_until(
        lambda: (
            host.request("GET", f"/api/calls/{bad_to}", headers=key).json().get("status")
            == "failed"
        ),
        30,
        "the failing call to settle",
    )
    standin.wait_idle(10)


def drive_in_process(storage_connection_string: str) -> None:
    """The same kinds of requests to the functions called in this process."""
    env = app_env("scanip", AzureWebJobsStorage=storage_connection_string)
    caller = new_number()
    with in_process_settings(env):
        app = InProcessApp("https://switchboard-scan.example.net", twilio_functions())
        message = [("MessageSid", "SM" + uuid.uuid4().hex), ("From", caller), ("To", BUSINESS)]
        assert app.post("sms/incoming", [*message, ("Body", "STOP")]).status_code == 200
        assert app.post("sms/incoming", message, token="wrong").status_code == 403
        call = [("CallSid", "CA" + uuid.uuid4().hex), ("From", caller), ("To", BUSINESS)]
        assert app.post("voice/incoming", call).status_code == 200
        status = [("MessageSid", "SM" + uuid.uuid4().hex), ("MessageStatus", "failed")]
        status += [("ErrorCode", "21610"), ("To", caller)]
        assert app.post("status/message", status).status_code == 204


@sized(default="default", soak="soak")
def test_no_secret_or_number_in_any_log(
    rel_host: HostFactory,
    standin: TwilioStandin,
    host_outputs: HostOutputs,
    app_log: CapturedLog,
    storage_connection_string: str,
    tmp_path: Path,
    size: str,
) -> None:
    drive_in_process(storage_connection_string)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = app_env(
        "scan",
        TWILIO_API_BASE_URL=standin.base_url,
        PUBLIC_BASE_URL=public,
        SMS_TIMER_SCHEDULE="*/2 * * * * *",
        SMS_QUIET_HOURS=None,
        VOICE_FORWARD_TO=new_number(),
    )
    host = rel_host(fast_app_dir(tmp_path), env, port=port)
    drive(host, standin, public)
    broken = rel_host(
        PROJECT_ROOT,
        app_env("scanbad", TWILIO_ACCOUNT_SID=INVALID_SID, TWILIO_FROM_NUMBER=INVALID_FROM),
    )
    answer = sign_and_post(
        broken.api("voice/incoming"), {"From": new_number()}, auth_token=AUTH_TOKEN
    )
    assert answer.status == 503
    health = broken.request("GET", "/api/health", headers={"x-functions-key": FUNCTION_KEY})
    assert health.status == 503
    assert "TWILIO_ACCOUNT_SID" in health.text
    assert INVALID_SID not in health.text
    broken.wait_for_log("TWILIO_ACCOUNT_SID")
    for handle in (host, broken):
        handle.stop(timeout=10)

    host_lines = [line for handle in host_outputs.hosts for line in handle.lines]
    with app_log.lock:
        records = [text for _, text in app_log.records]
    assert host_lines
    assert records
    problems = leaks(host_lines) + leaks(records)
    assert not problems, f"{len(problems)} leaking lines:\n" + "\n".join(problems[:40])


def test_twilio_error_messages_in_logs_mask_numbers(
    standin: TwilioStandin, storage_connection_string: str, tmp_path: Path
) -> None:
    """Twilio's error messages quote the number; the `switchboard.logs` filter masks it."""
    port = free_port()
    env = app_env(
        "scanmagic",
        TWILIO_API_BASE_URL=standin.base_url,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        SMS_TIMER_SCHEDULE="*/2 * * * * *",
        SMS_QUIET_HOURS=None,
    )
    host = start_host(
        fast_app_dir(tmp_path), env, storage_connection_string=storage_connection_string, port=port
    )
    try:
        key = {"x-functions-key": FUNCTION_KEY, "Content-Type": "application/json"}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        schedule_id = "magic-" + uuid.uuid4().hex[:8]
        call_id = "magic-" + uuid.uuid4().hex[:8]
        schedule = (
            f'{{"id": "{schedule_id}", "to": "+15005550001", "body": "x", "sendAt": "{now}"}}'
        )
        call = f'{{"id": "{call_id}", "to": "{new_number()}", "from": "+15005550001", "say": "x"}}'
        assert host.request("POST", "/api/sms/schedules", headers=key, body=schedule).status == 201
        assert host.request("POST", "/api/calls", headers=key, body=call).status == 202

        def settled() -> bool:
            shown = host.request("GET", f"/api/sms/schedules/{schedule_id}", headers=key)
            placed = host.request("GET", f"/api/calls/{call_id}", headers=key)
            return (
                shown.json().get("status") == "failed" and placed.json().get("status") == "failed"
            )

        wait_until(settled, 30, "the failing schedule and call to settle")
    finally:
        host.stop(timeout=10)
    problems = leaks(host.lines)
    assert not problems, "\n".join(problems)
