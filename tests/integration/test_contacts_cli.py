"""`python -m switchboard contacts ...` against Azurite (click's CliRunner, in-process): what
an owner types, what it prints, and what it leaves in the Contacts table; input it cannot
take exits 2 with every problem, never a traceback."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from devkit.ports import free_port
from switchboard import cli
from switchboard.contacts import lookup, service
from switchboard.settings import Settings, load_settings
from tests.conftest import SCRUBBED_PREFIXES
from tests.contacts import address_book, vcard_file


@dataclass
class Shell:
    env: dict[str, str]
    settings: Settings
    folder: Path

    def run(self, *args: str) -> Result:
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(SCRUBBED_PREFIXES)
        }
        settings_file = self.folder / "local.settings.json"
        return CliRunner().invoke(
            cli.cli,
            ["--settings", str(settings_file), *args],
            env={**scrubbed, **self.env},
            catch_exceptions=False,
        )


@pytest.fixture
def shell(storage_connection_string: str, unique_name: str, tmp_path: Path) -> Iterator[Shell]:
    env = {
        "AzureWebJobsStorage": storage_connection_string,
        "TABLE_CONTACTS": unique_name,
        "TABLE_CALL_LOG": unique_name + "calls",
        "TWILIO_FROM_NUMBER": "+15017122661",
    }
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {}}), encoding="utf-8")
    lookup.forget_cached_contacts()
    yield Shell(env, load_settings(env), tmp_path)
    lookup.forget_cached_contacts()


def test_add_show_set_block_and_remove(shell: Shell) -> None:
    added = shell.run(
        "contacts", "add", "--name", "Dana Reyes", "--number", "mobile: (201) 555-0123",
        "--email", "dana@example.com", "--tag", "VIP",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.output.startswith("added Dana Reyes [c")
    shown = shell.run("contacts", "show", "+1 201 555 0123")
    assert shown.exit_code == 0, shown.output
    assert "number: +12015550123 (mobile)" in shown.output
    assert "blocked: no" in shown.output
    changed = shell.run(
        "contacts", "set", "+12015550123", "--add-number", "work: +12015550100",
        "--add-tag", "plumbing", "--company", "Reyes Plumbing",
    )  # fmt: skip
    assert changed.exit_code == 0, changed.output
    contact = service.get(shell.settings, "+12015550100").contact
    assert (contact.company, contact.tags, len(contact.numbers)) == (
        "Reyes Plumbing",
        ("VIP", "plumbing"),
        2,
    )
    blocked = shell.run("contacts", "block", "+12015550100")
    assert blocked.exit_code == 0, blocked.output
    assert "Dana Reyes: blocked" in blocked.output
    assert "LINES_CACHE_SECONDS" in blocked.output
    assert shell.run("contacts", "block", "+12015550123").output.startswith(
        "Dana Reyes: already blocked"
    )
    # A number nobody has becomes a contact of its own, blocked.
    stranger = shell.run("contacts", "block", "+12015550999")
    assert "+12015550999: a new contact [c" in stranger.output
    listed = shell.run("contacts", "list", "--blocked", "--json")
    assert sorted(item["name"] or "-" for item in json.loads(listed.output)["items"]) == [
        "-",
        "Dana Reyes",
    ]
    assert "Dana Reyes" in shell.run("contacts", "list", "--search", "rey").output
    assert shell.run("contacts", "unblock", contact.id).exit_code == 0
    assert not service.get(shell.settings, contact.id).contact.blocked
    removed = shell.run("contacts", "remove", contact.id)
    assert removed.output.strip() == "Dana Reyes: removed"
    missing = shell.run("contacts", "show", contact.id)
    assert missing.exit_code == 2
    assert "no contact" in missing.output


def test_what_cannot_be_taken_exits_2_naming_each_problem(shell: Shell) -> None:
    bad = shell.run("contacts", "add", "--number", "call me", "--email", "nope")
    assert bad.exit_code == 2
    assert "/numbers/0: 'call me' is not a phone number" in bad.output
    assert "/emails/0: 'nope' is not an e-mail address" in bad.output
    assert "Traceback" not in bad.output
    assert shell.run("contacts", "add").exit_code == 2  # neither a name nor a number
    assert shell.run("contacts", "set", "+12015550123").exit_code == 2  # nobody's number


def test_import_a_phones_vcard_then_again_and_export(shell: Shell) -> None:
    book = address_book(40)
    good = shell.folder / "phone.vcf"
    good.write_text(vcard_file(book), encoding="utf-8")
    dry = shell.run("contacts", "import", str(good), "--dry-run")
    assert dry.output.startswith("phone.vcf: would import 40 contact(s): 40 created")
    assert service.list_contacts(shell.settings)["items"] == []
    first = shell.run("contacts", "import", str(good))
    assert first.exit_code == 0, first.output
    assert "40 created, 0 updated, 0 unchanged" in first.output
    again = shell.run("contacts", "import", str(good))
    assert "0 created, 0 updated, 40 unchanged" in again.output

    broken = shell.folder / "broken.vcf"
    broken.write_text(
        vcard_file(book[:2]).replace(book[1].written, "not a number") + "BEGIN:VCARD\nFN:x\n",
        encoding="utf-8",
    )
    refused = shell.run("contacts", "import", str(broken))
    assert refused.exit_code == 2
    lines = refused.output.splitlines()
    assert lines[0] == "Error: broken.vcf: nothing imported:"
    assert any("entry 3 (line" in line and "never closed" in line for line in lines)
    assert any("entry 2 (line" in line and "'not a number'" in line for line in lines)
    assert "Traceback" not in refused.output
    not_text = shell.folder / "photo.vcf"
    not_text.write_bytes(b"BEGIN:VCARD\n\xff\xfe\n")
    assert shell.run("contacts", "import", str(not_text)).exit_code == 2

    exported = shell.folder / "all.csv"
    done = shell.run("contacts", "export", str(exported))
    assert done.exit_code == 0, done.output
    text = exported.read_text(encoding="utf-8-sig")
    assert text.count("\n") == 41  # the header and one row a contact
    assert book[0].number in text
    stdout = shell.run("contacts", "export", "--format", "vcard")
    assert stdout.output.count("BEGIN:VCARD") == 40
    back = shell.run("contacts", "import", str(exported))
    assert "40 unchanged" in back.output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["contacts", "export", "{missing}/book.csv"], id="contacts-no-folder"),
        pytest.param(["contacts", "export", "/dev/full"], id="contacts-no-space"),
        pytest.param(
            ["schedules", "export", "--from", "2026-01-01", "--output", "{missing}/days.csv"],
            id="schedules-no-folder",
        ),
        pytest.param(
            ["schedules", "export", "--from", "2026-01-01", "--output", "/dev/full"],
            id="schedules-no-space",
        ),
        pytest.param(["lines", "export", "{file}/lines"], id="lines-under-a-file"),
    ],
)
def test_an_export_the_file_system_refuses_is_one_line_naming_the_file(
    shell: Shell, args: list[str]
) -> None:
    """Before: each a traceback (FileNotFoundError, IsADirectoryError, OSError: no space left,
    NotADirectoryError), exit status 1."""
    assert shell.run("contacts", "add", "--name", "Quinn").exit_code == 0  # something to write
    a_file = shell.folder / "plain.txt"
    a_file.write_text("x", encoding="utf-8")
    places = {"missing": shell.folder / "nowhere", "folder": shell.folder, "file": a_file}
    filled = [arg.format(**places) for arg in args]
    result = shell.run(*filled)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: cannot write "), lines
    assert "Traceback" not in result.output


def test_adding_a_contact_with_storage_down_is_one_line(shell: Shell) -> None:
    """Before: a ServiceRequestError traceback (the table was made outside the storage guard)."""
    closed = free_port()
    shell.env["AzureWebJobsStorage"] = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"TableEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
        f"QueueEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
    )
    shell.env["TABLE_CONTACTS"] = "downcontacts" + uuid.uuid4().hex[:8]
    result = shell.run("contacts", "add", "--name", "Quinn")
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
