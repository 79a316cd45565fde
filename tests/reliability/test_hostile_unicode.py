"""Hostile Unicode: text that is not valid Unicode is refused, never a 5xx
and never a retry loop.

A lone surrogate (`"\\ud800"` in JSON, or a byte that is not UTF-8 on a command line, which
Python turns into `"\\udcff"`) cannot be encoded, hashed, stored or sent to Twilio. Unguarded it
survives validation in a call's `say` and `twiml`, then breaks the payload hash:

- `POST /api/calls` answers 503 "storage is unavailable" (or 500 for `twiml`), storage being fine;
- through the queue the message fails its 5 deliveries, 5 more in the poison handler, and ends in
  `<queue>-poison-poison` with no record (`GET /api/calls/{id}` → 404);
- `python -m switchboard call` dies with a UnicodeEncodeError traceback (exit status 1).

The contract: `400` naming the field, or one delivery and a `rejected` record naming it; the CLI
exits 2 naming the option, nothing enqueued. Settings are text from outside too: a setting that
is not valid Unicode is reported naming the setting. Text already stored (a row written by hand)
is shown, never a 500: the JSON escapes what UTF-8 cannot carry.

Schedules (`POST /api/sms/schedules`), `POST /api/messages`, the CSV import and the webhooks
already refuse or replace such text (checked while writing these tests); they are not repeated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devkit.twilio_standin import TwilioStandin
from switchboard.settings import SettingsError, load_settings
from tests.conftest import SCRUBBED_PREFIXES
from tests.e2e.conftest import PROJECT_ROOT, HostHandle
from tests.reliability.app_clients import operator_api, queue_depth
from tests.reliability.conftest import (
    HostFactory,
    app_env,
    b64,
    fast_app_dir,
    wait_until,
)

TO = "+15557770144"
#: Valid TwiML around a lone surrogate (JSON escapes keep the document itself ASCII).
TWIML = "<Response><Say>Hello \ud800</Say></Response>"
HOSTILE = {"say": "Your appointment is at 9 \ud800", "twiml": TWIML}


@dataclass
class Stack:
    host: HostHandle
    standin: TwilioStandin
    env: dict[str, str | None]
    connection: str

    @property
    def queue(self) -> str:
        return str(self.env["OUTBOUND_CALL_QUEUE"])

    def api(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        return operator_api(self.host, method, path, body)

    def depth(self, name: str) -> int:
        return queue_depth(self.connection, name)

    def enqueue(self, payload: dict[str, Any]) -> str:
        from azure.storage.queue import QueueClient

        client = QueueClient.from_connection_string(self.connection, self.queue)
        # json.dumps escapes the surrogate (ensure_ascii): the stored text is valid base64 of
        # valid UTF-8 JSON, exactly what any producer can put on the queue.
        return str(client.send_message(b64(json.dumps(payload).encode("ascii"))).id)

    def placed_to(self, number: str) -> list[Any]:
        return [
            r for r in self.standin.requests("POST", resource="Calls") if r.param("To") == number
        ]


@pytest.fixture(scope="module")
def stack(
    rel_host_module: HostFactory,
    standin: TwilioStandin,
    storage_connection_string: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Stack:
    env = app_env("unicode", TWILIO_API_BASE_URL=standin.base_url)
    app_dir = fast_app_dir(Path(tmp_path_factory.mktemp("unicode_app")))
    host = rel_host_module(app_dir, env)
    return Stack(host, standin, env, storage_connection_string)


@pytest.mark.parametrize("field", sorted(HOSTILE))
def test_an_operator_call_with_a_lone_surrogate_is_a_400_naming_the_field(
    stack: Stack, field: str
) -> None:
    """`POST /api/calls` with a lone surrogate in `say` / `twiml`. Unguarded: 503
    "storage is unavailable" for `say` (the payload hash raised UnicodeEncodeError), a 500 for
    `twiml`; nothing is enqueued either way."""
    call_id = f"uni-http-{field}-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"id": call_id, "to": TO, field: HOSTILE[field]}).encode("ascii")
    status, answer = stack.api("POST", "calls", body)
    assert status == 400, (status, answer)
    assert answer["error"]["field"] == field, answer
    assert stack.depth(stack.queue) == 0


@pytest.mark.parametrize("field", sorted(HOSTILE))
def test_a_queued_call_with_a_lone_surrogate_is_rejected_in_one_delivery(
    stack: Stack, field: str
) -> None:
    """The same through the queue. Unguarded: 5 failed deliveries, 5 more in the poison
    handler, the message parked in `<queue>-poison-poison`, and no record (404)."""
    call_id = f"uni-queue-{field}-{uuid.uuid4().hex[:8]}"
    message_id = stack.enqueue({"id": call_id, "to": TO, field: HOSTILE[field]})

    def settled() -> Any:
        status, shown = stack.api("GET", f"calls/{call_id}")
        if status == 200:
            return shown
        # Fail fast (not after a long timeout) once the host has given up on it.
        if stack.depth(stack.queue + "-poison") or stack.depth(stack.queue + "-poison-poison"):
            return {"status": "poisoned", "http": status}
        return None

    record = wait_until(settled, 30, f"call {call_id} recorded or poisoned")
    assert record["status"] == "rejected", record
    assert record.get("errorField") == field, record
    runs = [line for line in stack.host.lines if f"MessageId: {message_id}," in line]
    assert len(runs) == 1, runs
    assert stack.depth(stack.queue + "-poison") == 0
    assert stack.depth(stack.queue + "-poison-poison") == 0
    assert stack.placed_to(TO) == []


def cli(
    stack: Stack, *args: str, strict_output: bool = False
) -> tuple[subprocess.CompletedProcess[str], str]:
    """`python -m switchboard ARGS` in a fresh process, settings from its environment, with a
    queue of its own (returned with the result). `strict_output`: stdout as a UTF-8 terminal
    has it, where a character UTF-8 cannot carry is an error rather than replaced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update({k: v for k, v in stack.env.items() if v is not None})
    env["AzureWebJobsStorage"] = stack.connection
    env["OUTBOUND_CALL_QUEUE"] = "uni-cli-" + uuid.uuid4().hex[:12]
    env["PYTHONIOENCODING"] = "utf-8" if strict_output else "utf-8:backslashreplace"
    result = subprocess.run(
        [sys.executable, "-m", "switchboard", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=60,
    )
    return result, env["OUTBOUND_CALL_QUEUE"]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--say", os.fsdecode(b"Hello \xff from a Latin-1 shell")], id="say-bytes"),
        pytest.param(["--twiml", "<Response><Say>\udcff</Say></Response>"], id="twiml-bytes"),
        pytest.param(["--json", json.dumps({"to": TO, "say": "hi \ud800"})], id="json-escape"),
    ],
)
def test_the_cli_refuses_text_that_is_not_unicode(stack: Stack, args: list[str]) -> None:
    """`python -m switchboard call` with a non-UTF-8 byte in an option (Python gives
    it to the program as a lone surrogate) or an escaped surrogate in `--json`. Unguarded: a
    UnicodeEncodeError traceback and exit status 1 (the payload is encoded after validation)."""
    full = args if args[0] == "--json" else ["--to", TO, *args]
    result, queue = cli(stack, "call", *full)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    field = "say" if "say" in " ".join(args) else "twiml"
    assert field in result.stderr, result.stderr
    assert stack.depth(queue) == 0


@pytest.mark.parametrize("name", ["VOICE_GREETING", "SMS_AUTO_REPLY", "SMS_HELP_TEXT"])
def test_a_setting_that_is_not_unicode_is_reported_naming_it(name: str) -> None:
    """An app setting holding a byte that is not UTF-8 reaches Python as a lone surrogate
    (os.environ decodes with surrogateescape): it is refused, naming the setting, rather than
    its characters silently dropped from the TwiML (`switchboard/settings.py` checks it)."""
    raw = os.fsdecode(b"Thanks \xe9 for calling")
    with pytest.raises(SettingsError) as caught:
        load_settings({name: raw})
    assert [p.name for p in caught.value.problems] == [name]
    assert raw not in str(caught.value)  # never the value


def test_a_line_written_by_hand_with_a_lone_surrogate_is_shown_not_a_500(
    stack: Stack, tmp_path: Path
) -> None:
    """A line document put in the table by hand (not through the API's checks), its name holding
    a lone surrogate. Unguarded: `GET /api/lines` and `GET /api/lines/{number}` answer 500 (the
    JSON could not be encoded as UTF-8) and `lines show` / `lines export` die with a
    UnicodeEncodeError traceback. Now the JSON escapes it: valid JSON that reads back the same."""
    from switchboard.lines.store import LineStore

    number = "+15017770188"
    settings = load_settings(
        {
            **{k: v for k, v in stack.env.items() if v is not None},
            "AzureWebJobsStorage": stack.connection,
        }
    )
    name = "Front desk \ud800"
    document = {"name": name, "timezone": "America/New_York"}
    LineStore.from_settings(settings).write(
        number, document, change="put", now=datetime.now(UTC), expected=None
    )
    status, listing = stack.api("GET", "lines")
    assert status == 200, listing
    assert name in [item.get("name") for item in listing["items"]], listing
    status, shown = stack.api("GET", f"lines/{number}")
    assert status == 200, shown
    assert shown["name"] == name

    shown_cli, _ = cli(stack, "lines", "show", number, strict_output=True)
    assert shown_cli.returncode == 0, shown_cli.stderr
    assert json.loads(shown_cli.stdout)["name"] == name
    listed, _ = cli(stack, "lines", "list", strict_output=True)
    assert listed.returncode == 0, listed.stderr
    assert "Front desk \\ud800" in listed.stdout  # the one character escaped, the rest as is
    exported, _ = cli(stack, "lines", "export", str(tmp_path), strict_output=True)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((tmp_path / f"{number}.json").read_bytes())["name"] == name
