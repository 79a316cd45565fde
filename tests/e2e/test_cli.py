"""`python -m switchboard` end to end: Azurite, the Twilio stand-in and (for calls) the local host.

Commands run in-process through click's CliRunner (one run as a real `python -m switchboard`
subprocess), with settings from the environment over a local.settings.json; outcomes are read
back from storage, the queue and the stand-in.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient
from click.testing import CliRunner, Result

from devkit.ports import free_port
from devkit.twilio_standin import TwilioStandin
from switchboard import cli
from switchboard.schedules.store import ScheduleStore, open_tables
from switchboard.settings import Settings, load_settings
from tests.e2e.conftest import PROJECT_ROOT, SCRUBBED_PREFIXES, HostFactory, HostHandle

ACCOUNT_SID = "AC" + "c1" * 16
TOKEN = "cli-e2e-auth-token-0123456789abcdef"
BUSINESS = "+15017122661"


@dataclass
class Stack:
    standin: TwilioStandin
    host: HostHandle
    env: dict[str, str]
    settings: Settings
    settings_file: Path

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        """`python -m switchboard --settings FILE ARGS...` in-process, in the stack's env."""
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(SCRUBBED_PREFIXES)
        }
        return CliRunner().invoke(
            cli.cli,
            ["--settings", str(self.settings_file), *args],
            env={**scrubbed, **self.env, **(env or {})},
            catch_exceptions=False,
        )


@pytest.fixture(scope="module")
def stack(
    run_host_module: HostFactory,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    with TwilioStandin(account_sid=ACCOUNT_SID, auth_token=TOKEN, callback_delay_ms=5) as standin:
        env = {
            "AzureWebJobsStorage": storage_connection_string,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_API_BASE_URL": standin.base_url,
            "TWILIO_FROM_NUMBER": BUSINESS,
            "TABLE_MESSAGE_LOG": "climsg" + suffix,
            "TABLE_CALL_LOG": "clicall" + suffix,
            "TABLE_OPT_OUT": "cliopt" + suffix,
            "TABLE_SMS_SCHEDULE": "clisched" + suffix,
            "OUTBOUND_CALL_QUEUE": "cli-calls-" + suffix,
            "SMS_TIMER_SCHEDULE": "0 0 0 1 1 *",
        }
        # The host must know its own URL for the calls' status callbacks: a free port, fixed.
        port = free_port()
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        host = run_host_module(PROJECT_ROOT, {**env, "TWILIO_AUTH_TOKEN": TOKEN}, port=port)
        # The auth token comes from the settings file: the environment overlays the file.
        settings_file = tmp_path_factory.mktemp("cli") / "local.settings.json"
        settings_file.write_text(
            json.dumps({"Values": {"TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_FROM_NUMBER": "+1"}}),
            encoding="utf-8",
        )
        settings = load_settings({**env, "TWILIO_AUTH_TOKEN": TOKEN})
        yield Stack(standin, host, env, settings, settings_file)


def wait_for(predicate: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


# --- settings ---------------------------------------------------------------------------------


def test_settings_file_values_are_overlaid_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"A": "file", "B": "file", "C": True}}), "utf-8")
    merged = cli.settings_environment(path, {"B": "env"})
    assert (merged["A"], merged["B"], merged["C"]) == ("file", "env", "true")


def test_invalid_settings_are_named_never_shown(stack: Stack) -> None:
    result = stack.run("numbers", env={"TWILIO_FROM_NUMBER": "secret-ish-value"})
    assert result.exit_code == 1
    assert "TWILIO_FROM_NUMBER" in result.output
    assert "secret-ish-value" not in result.output


# --- call ---------------------------------------------------------------------------------------


def test_call_is_validated_like_the_queue(stack: Stack) -> None:
    result = stack.run("call", "--to", "+15558675310", "--say", "hi", "--twiml", "<Response/>")
    assert result.exit_code == 2
    assert "twiml: give exactly one of say, twiml or url" in result.output
    result = stack.run("call", "--json", '{"to": "+15558675310", "say": "x", "colour": "red"}')
    assert result.exit_code == 2
    assert "colour" in result.output


def test_call_is_enqueued_base64_and_placed_then_shown(stack: Stack) -> None:
    to = new_number()
    call_id = "cli-call-" + uuid.uuid4().hex[:8]
    result = stack.run("call", "--to", to, "--say", "Your table is ready.", "--id", call_id)
    assert result.exit_code == 0, result.output
    assert f"Enqueued call {call_id}" in result.output

    # The host's queue trigger (base64, as the Functions host expects) places it with Twilio.
    def placed() -> dict[str, Any] | None:
        shown = stack.run("show", "call", call_id)
        if shown.exit_code != 0:
            return None
        record: dict[str, Any] = json.loads(shown.stdout)
        return record if record.get("sid") and record.get("status") == "completed" else None

    record = wait_for(placed)
    assert record, stack.host.log_text()[-3000:]
    assert (record["id"], record["to"]) == (call_id, to)
    twilio_call = stack.standin.call(record["sid"])
    assert twilio_call is not None
    assert "Your table is ready." in str(stack.standin.requests("POST", resource="Calls")[-1].form)
    missing = stack.run("show", "call", "no-such-call")
    assert missing.exit_code == 1
    assert "no call with id no-such-call" in missing.output


def test_call_message_on_the_queue_is_base64_json(stack: Stack) -> None:
    # A separate queue (no trigger listens to it) to look at the raw message text.
    queue = "cli-raw-" + uuid.uuid4().hex[:10]
    result = stack.run(
        "call",
        "--to",
        "+15558675310",
        "--url",
        "https://example.com/twiml",
        "--id",
        "raw-1",
        env={"OUTBOUND_CALL_QUEUE": queue},
    )
    assert result.exit_code == 0, result.output
    client = QueueClient.from_connection_string(stack.env["AzureWebJobsStorage"], queue)
    try:
        (message,) = list(client.receive_messages(max_messages=5))
        decoded = json.loads(base64.b64decode(message.content))
        assert decoded == {"id": "raw-1", "to": "+15558675310", "url": "https://example.com/twiml"}
    finally:
        client.delete_queue()


# --- sms send and show message ------------------------------------------------------------------


def test_sms_send_then_show_message(stack: Stack) -> None:
    to = new_number()
    result = stack.run("sms", "send", "--to", to, "--body", "From the shell")
    assert result.exit_code == 0, result.output
    sid = result.stdout.split()[1]
    assert sid.startswith("SM")
    sent = [r for r in stack.standin.requests("POST", resource="Messages") if r.form["To"] == [to]]
    assert sent[0].form["StatusCallback"] == [f"{stack.host.url}/api/status/message"]

    def delivered() -> dict[str, Any] | None:
        shown = stack.run("show", "message", sid)
        record: dict[str, Any] = json.loads(shown.stdout) if shown.exit_code == 0 else {}
        return record if record.get("status") == "delivered" else None

    record = wait_for(delivered)
    assert record
    assert (record["to"], record["body"], record["source"]) == (to, "From the shell", "cli")


def test_sms_send_errors(stack: Stack) -> None:
    invalid = stack.run("sms", "send", "--to", "12", "--body", "x")
    assert invalid.exit_code == 2
    assert "to: must be an E.164 phone number" in invalid.output
    refused = stack.run("sms", "send", "--to", "+15005550001", "--body", "x")
    assert refused.exit_code == 1
    assert "Twilio error 21211" in refused.output
    missing = stack.run("show", "message", "SM" + "0" * 32)
    assert missing.exit_code == 1


def test_as_a_real_subprocess(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchboard",
            "--settings",
            str(stack.settings_file),
            "usage",
            "--category",
            "sms-outbound",
        ],
        cwd=PROJECT_ROOT,
        env={**env, **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["CATEGORY", "DESCRIPTION", "USAGE", "PRICE"]
    assert done.stdout.splitlines()[1].startswith("sms-outbound")


# --- numbers and usage ----------------------------------------------------------------------------


def test_numbers_table_and_json(stack: Stack) -> None:
    stack.standin.set_numbers(
        [
            {
                "phone_number": BUSINESS,
                "friendly_name": "Main line",
                "voice_url": f"{stack.host.url}/api/voice/incoming",
                "sms_url": "https://old.example.com/sms",
            }
        ]
    )
    table = stack.run("numbers")
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:3] == ["NUMBER", "NAME", "CAPABILITIES"]
    assert row.split()[:3] == [BUSINESS, "Main", "line"]
    assert row.split()[-4:] == [
        f"{stack.host.url}/api/voice/incoming",
        "yes",
        "https://old.example.com/sms",
        "no",
    ]
    as_json = json.loads(stack.run("numbers", "--json").stdout)
    assert as_json["numbers"][0]["smsUrlPointsHere"] is False
    assert stack.run("numbers", "--limit", "0").exit_code == 2


def test_usage_with_period_and_errors(stack: Stack) -> None:
    today = datetime.now(UTC).date()
    result = stack.run(
        "usage", "--start", str(today - timedelta(days=3)), "--end", str(today), "--json"
    )
    assert result.exit_code == 0, result.output
    categories = {u["category"] for u in json.loads(result.stdout)["usage"]}
    assert {"sms-outbound", "calls-inbound", "totalprice"} <= categories
    bad = stack.run("usage", "--start", "2026-11-02", "--end", "2026-11-01")
    assert bad.exit_code == 2
    assert "end: must not be before start" in bad.output
    stack.standin.add_fault(resource="Records", status=503, times=1)
    down = stack.run("usage")
    assert down.exit_code == 1
    assert "retry in 5 s" in down.output


# --- sms schedule ---------------------------------------------------------------------------------


def view(settings: Settings, schedule_id: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        async with open_tables(settings) as opened:
            return await ScheduleStore(opened.schedules).view(schedule_id)

    return asyncio.run(read())


def test_sms_schedule_is_idempotent_on_its_id(stack: Stack) -> None:
    schedule_id = "cli-" + uuid.uuid4().hex[:8]
    send_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    args = [
        "sms",
        "schedule",
        "--to",
        "+15558675310",
        "--body",
        "Reminder",
        "--send-at",
        send_at,
        "--id",
        schedule_id,
        "--time-zone",
        "America/New_York",
    ]
    first = stack.run(*args)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(f"Scheduled {schedule_id}")
    again = stack.run(*args)
    assert again.exit_code == 0
    assert again.stdout.startswith("Already scheduled (unchanged)")
    changed = stack.run(*args[:4], "--body", "Other text", *args[6:])
    assert changed.exit_code == 1
    assert "already exists with a different message" in changed.output
    shown = view(stack.settings, schedule_id)
    assert shown is not None
    assert (shown["status"], shown["body"], shown["timeZone"]) == (
        "pending",
        "Reminder",
        "America/New_York",
    )
    bad = stack.run(
        "sms", "schedule", "--to", "+15558675310", "--body", "x", "--send-at", "tomorrow"
    )
    assert bad.exit_code == 2
    assert "sendAt" in bad.output


# --- sms import -------------------------------------------------------------------------------------


def schedule_ids(settings: Settings) -> set[str]:
    service = TableServiceClient.from_connection_string(settings.azure_web_jobs_storage)
    table = service.get_table_client(settings.table_sms_schedule)
    return {
        str(e["PartitionKey"])
        for e in table.query_entities("RowKey eq 'schedule'", select=["PartitionKey"])
    }


def test_import_1000_rows_with_3_bad_ones_then_rerun_changes_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    before = schedule_ids(stack.settings)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    lines = ["to,body,sendAt,timeZone"]
    for i in range(1000):
        lines.append(
            f'+1555{2000000 + i},"Hello #{i}, see you soon",{(start + timedelta(minutes=i)).isoformat()},'
        )
    lines[1 + 10] = "+1555000,Bad number,2027-01-01T09:00:00Z,"  # line 12
    lines[1 + 500] = "+15558675310,,2027-01-01T09:00:00Z,"  # line 502: no body
    lines[1 + 900] = "+15558675310,Bad zone,2027-01-01T09:00:00Z,Mars/Olympus"  # line 902
    csv_file = tmp_path / "reminders.csv"
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    strict = stack.run("sms", "import", str(csv_file))
    assert strict.exit_code == 2  # input the command cannot take
    assert "Read 1000 rows from reminders.csv: 997 valid, 3 invalid." in strict.stdout
    assert "line 12: to must be an E.164 phone number" in strict.stdout
    assert "line 502: body is required" in strict.stdout
    assert "line 902: timeZone must be an IANA time zone" in strict.stdout
    assert "nothing was imported" in strict.output
    assert schedule_ids(stack.settings) == before

    started = time.monotonic()
    imported = stack.run("sms", "import", str(csv_file), "--skip-invalid")
    assert imported.exit_code == 0, imported.output
    assert "997 created, 0 already there (unchanged), 3 invalid rows skipped" in imported.stdout
    after = schedule_ids(stack.settings)
    new_ids = after - before
    assert len(new_ids) == 997
    assert all(i.startswith("csv-") for i in new_ids)
    first_duration = time.monotonic() - started

    rerun = stack.run("sms", "import", str(csv_file), "--skip-invalid")
    assert rerun.exit_code == 0, rerun.output
    assert "0 created, 997 already there (unchanged), 3 invalid rows skipped" in rerun.stdout
    assert schedule_ids(stack.settings) == after
    one = view(stack.settings, sorted(new_ids)[0])
    assert one is not None
    assert one["status"] == "pending"
    assert one["body"].startswith("Hello #")
    assert first_duration < 60


def test_import_reports_header_and_row_shape_problems(stack: Stack, tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("to,body,when\n", encoding="utf-8")
    result = stack.run("sms", "import", str(unknown))
    assert result.exit_code == 2
    assert "unknown column 'when'" in result.output
    send_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
    shaped = tmp_path / "shaped.csv"
    shaped.write_text(
        f"id,to,body,send_at\n"
        f'dup-1,+15558675310,"multi\nline",{send_at}\n'
        f"\n"
        f"dup-1,+15558675310,other,{send_at}\n"
        f"x,+15558675310,too,many,{send_at}\n",
        encoding="utf-8",
    )
    result = stack.run("sms", "import", str(shaped))
    assert result.exit_code == 2
    assert "line 5: id: dup-1 is used on line 2 for another message" in result.stdout
    assert "line 6: has 5 fields, the header has 4" in result.stdout


def test_the_shell_follows_the_country_list_and_names_the_rule(
    stack: Stack, tmp_path: Path
) -> None:
    """The account's country is the US (OUTBOUND_ALLOWED_COUNTRIES unset): the CLI refuses a
    text, a schedule, a call and a CSV row to Uzbekistan with the rule, and sends nothing."""
    before = len(stack.standin.requests(method="POST"))
    abroad = "is in a country OUTBOUND_ALLOWED_COUNTRIES does not allow (allowed: US)"
    cases: list[tuple[tuple[str, ...], str]] = [
        (("sms", "send", "--to", "+998901234567", "--body", "x"), abroad),
        (
            (
                "sms",
                "schedule",
                "--to",
                "+998901234567",
                "--body",
                "x",
                "--send-at",
                "2030-01-01T09:00:00Z",
            ),
            abroad,
        ),
        (("call", "--to", "+998901234567", "--say", "hi"), abroad),
        # A premium-rate number, whatever the country.
        (("call", "--to", "+19005550123", "--say", "hi"), "is a premium-rate number"),
    ]
    for args, rule in cases:
        refused = stack.run(*args)
        assert refused.exit_code == 2, refused.output  # the API's 400: input it refuses
        assert f"to: {rule}" in refused.output, refused.output
    csv_file = tmp_path / "abroad.csv"
    csv_file.write_text("to,body,sendAt\n+998901234567,hello,2030-01-01T09:00:00Z\n")
    imported = stack.run("sms", "import", str(csv_file))
    assert imported.exit_code == 2  # invalid rows: the import's input errors
    assert (
        "line 2: to: is in a country OUTBOUND_ALLOWED_COUNTRIES does not allow" in imported.stdout
    )
    assert len(stack.standin.requests(method="POST")) == before


def test_outbound_status_and_resume(stack: Stack) -> None:
    from switchboard.outbound.service import LineRef, Outbound

    policy = Outbound(stack.settings)
    assert policy.trip(LineRef(BUSINESS), "Twilio error 30450")  # this paused it
    shown = stack.run("outbound", "status")
    assert shown.exit_code == 0, shown.output
    assert "Allowed countries: US" in shown.output
    assert f"{BUSINESS}  paused (Twilio error 30450" in shown.output
    resumed = stack.run("outbound", "resume", BUSINESS)
    assert resumed.exit_code == 0, resumed.output
    as_json = json.loads(stack.run("outbound", "status", "--json").output)
    assert as_json["lines"][BUSINESS]["state"] == "active"
    bad = stack.run("outbound", "resume", "12")
    assert bad.exit_code == 2


# --- the tour's commands: schedules, history, health, lines preview, nothing running -----------


def test_schedules_list_show_cancel_and_the_list_route(stack: Stack) -> None:
    ids = [f"tour-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    base = datetime.now(UTC) + timedelta(days=300)
    for i, schedule_id in enumerate(ids):
        at = (base + timedelta(minutes=i)).isoformat()
        result = stack.run(
            "sms", "schedule", "--to", new_number(), "--body", f"r{i}", "--send-at", at,
            "--id", schedule_id,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    every: list[str] = []
    cursor: str | None = None
    for _ in range(100):  # other tests of the module schedule a thousand more
        args = ("--cursor", cursor) if cursor else ()
        listed = stack.run("schedules", "list", "--limit", "100", "--json", *args)
        assert listed.exit_code == 0, listed.output
        page = json.loads(listed.output)
        every += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert [i for i in every if i in ids] == ids  # soonest first
    assert len(every) == len(set(every))
    shown = stack.run("schedules", "show", ids[1])
    assert json.loads(shown.output)["status"] == "pending"
    cancelled = stack.run("schedules", "cancel", ids[1])
    assert cancelled.exit_code == 0, cancelled.output
    assert f"Cancelled {ids[1]}" in cancelled.output
    again = stack.run("schedules", "cancel", ids[1])
    assert again.exit_code == 0
    assert "already cancelled (unchanged)" in again.output
    unknown = stack.run("schedules", "cancel", "no-such-schedule")
    assert unknown.exit_code == 1
    assert "no schedule with id no-such-schedule" in unknown.output
    # The route pages with a cursor; the cancelled one is gone.
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        query = "limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = stack.host.request("GET", stack.host.api(f"sms/schedules?{query}"))
        assert page.status == 200, page.text
        body = page.json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert [i for i in seen if i in ids] == [ids[0], ids[2]]
    bad = stack.host.request("GET", stack.host.api("sms/schedules?cursor=nope"))
    assert bad.status == 400
    assert bad.json()["error"]["field"] == "cursor"
    table = stack.run("schedules", "list")
    assert "DUE" in table.output


def test_messages_and_calls_list(stack: Stack) -> None:
    to = new_number()
    assert stack.run("sms", "send", "--to", to, "--body", "listed").exit_code == 0
    listed = stack.run("messages", "list", "--limit", "100")
    assert listed.exit_code == 0, listed.output
    assert to in listed.output
    assert "STATUS" in listed.output
    as_json = stack.run("messages", "list", "--limit", "1", "--json")
    page = json.loads(as_json.output)
    assert len(page["messages"]) == 1
    assert page["nextCursor"]
    more = stack.run("messages", "list", "--limit", "1", "--cursor", page["nextCursor"])
    assert more.exit_code == 0, more.output
    bad = stack.run("messages", "list", "--since", "yesterday")
    assert bad.exit_code == 2
    assert "since" in bad.output
    calls = stack.run("calls", "list")
    assert calls.exit_code == 0, calls.output


def test_health_reads_as_sentences(stack: Stack) -> None:
    result = stack.run("health")
    assert "storage: answers" in result.output, result.output
    assert "Twilio: answers" in result.output
    assert "optional, not set (defaults apply)" in result.output
    report = json.loads(stack.run("health", "--json").output)
    assert "WEBSITE_INSTANCE_ID" not in json.dumps(report)  # platform variables: never listed
    assert "SMTP_HOST" in report["settings"]["optional"]
    assert "SMTP_HOST" not in report["settings"]["missing"]
    missing = stack.run("health", env={"TWILIO_FROM_NUMBER": None})
    assert missing.exit_code == 1
    assert "NEEDED, not set: AzureWebJobsStorage" not in missing.output
    assert "TWILIO_FROM_NUMBER" in missing.output


def test_lines_preview_status_at_and_history(stack: Stack, tmp_path: Path) -> None:
    env = {"TABLE_LINES": "tourlines" + uuid.uuid4().hex[:8]}
    line = tmp_path / "main.json"
    line.write_text(
        json.dumps(
            {
                "name": "Main line",
                "timeZone": "America/New_York",
                "hours": {"mon-fri": ["08:30-17:30"]},
                "holidays": [{"date": "12-24", "hours": ["08:30-12:00"], "name": "Christmas Eve"}],
                "greeting": {"open": {"say": "Thanks for calling Acme."},
                             "closed": {"say": "Acme is closed."}},
                "closed": [{"voicemail": {"notify": {"sms": ["+15005550011"]}}}],
                "textBack": {"message": "Sorry we missed you."},
            }
        ),
        encoding="utf-8",
    )  # fmt: skip
    written = stack.run("lines", "set", BUSINESS, str(line), "--force", env=env)
    assert written.exit_code == 0, written.output
    assert "Calls hear it within 15 s" in written.output
    morning = stack.run(
        "lines", "preview", BUSINESS, "--at", "2026-12-24T09:00", "--from", "+15558675310", env=env
    )
    assert morning.exit_code == 0, morning.output
    assert "open (holiday: Christmas Eve)" in morning.output
    assert 'greeting: says "Thanks for calling Acme."' in morning.output
    afternoon = stack.run("lines", "preview", BUSINESS, "--at", "2026-12-24T14:00", env=env)
    assert 'says "Acme is closed."' in afternoon.output
    assert "a voicemail leaves a text to +15005550011" in afternoon.output
    assert 'a text to +15558675310: "Sorry we missed you."' in afternoon.output
    status = stack.run("lines", "status", BUSINESS, "--at", "2026-12-24T14:00-05:00", env=env)
    assert json.loads(status.output)["state"] == "closed"
    history = stack.run("lines", "history", BUSINESS, env=env)
    assert history.exit_code == 0, history.output
    assert "v1" in history.output
    assert "Main line" in history.output
    bad = stack.run("lines", "preview", BUSINESS, "--at", "tomorrow", env=env)
    assert bad.exit_code == 2


def test_nothing_running_says_start_make_run(stack: Stack) -> None:
    closed = free_port()
    env: dict[str, str | None] = {
        "AzureWebJobsStorage": (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            f"TableEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
            f"QueueEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
        ),
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{closed}",
    }
    for args in (
        ("lines", "list"),
        ("schedules", "list"),
        ("messages", "list"),
        ("sms", "send", "--to", "+15558675310", "--body", "x"),
        ("numbers",),
    ):
        result = stack.run(*args, env=env)
        assert result.exit_code == 1, (args, result.output)
        assert f"nothing answers at 127.0.0.1:{closed}" in result.output, (args, result.output)
        assert "start `make run`" in result.output
        assert "Traceback" not in result.output


def test_the_next_page_hint_repeats_the_query_it_belongs_to(stack: Stack) -> None:
    """The printed "more:" command pages the same query (before: only `--cursor`, so the next
    page ran with the default period and page size, where that cursor means nothing)."""
    for body in ("first of two", "second of two"):
        assert stack.run("sms", "send", "--to", new_number(), "--body", body).exit_code == 0
    since = "2000-01-01T00:00:00Z"
    first = stack.run("messages", "list", "--since", since, "--limit", "1")
    assert first.exit_code == 0, first.output
    hint = [line for line in first.output.splitlines() if line.startswith("more: ")]
    assert len(hint) == 1, first.output
    command = shlex.split(hint[0].removeprefix("more: "))
    assert command[:4] == ["python", "-m", "switchboard", "messages"]
    assert command[command.index("--since") + 1] == since
    assert command[command.index("--limit") + 1] == "1"
    following = stack.run(*command[3:])
    assert following.exit_code == 0, following.output
    rows = [line for line in following.output.splitlines() if line.startswith("20")]
    assert len(rows) == 1, following.output  # one more record, of the same query


def test_a_number_not_the_accounts_is_refused_with_the_option_that_insists(
    stack: Stack, tmp_path: Path
) -> None:
    """The refusal names the command line's `--force` too (it said only the API's
    `?force=true`)."""
    env = {"TABLE_LINES": "forcelines" + uuid.uuid4().hex[:8]}
    line = tmp_path / "other.json"
    line.write_text(json.dumps({"name": "Not ours"}), encoding="utf-8")
    stranger = new_number()  # a number the stand-in's account does not hold
    refused = stack.run("lines", "set", stranger, str(line), env=env)
    assert refused.exit_code == 2, refused.output
    assert f"{stranger} is not one of the account's numbers" in refused.output
    assert "--force on the command line" in refused.output
    assert stack.run("lines", "set", stranger, str(line), "--force", env=env).exit_code == 0
