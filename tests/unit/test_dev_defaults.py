"""One set of development defaults: the stand-in without a local.settings.json uses the sample's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.localsettings import development_defaults
from devkit.twilio_standin import _parser, build_from_args

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_sample_values() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert development_defaults() == {k: str(v) for k, v in sample.items()}


def test_standin_without_local_settings_uses_the_sample_credentials(
    clean_env: pytest.MonkeyPatch,
) -> None:
    standin = build_from_args(_parser().parse_args([]), {})
    config = standin.store.config
    sample = development_defaults()
    assert (config.account_sid, config.auth_token) == (
        sample["TWILIO_ACCOUNT_SID"],
        sample["TWILIO_AUTH_TOKEN"],
    )


def test_local_settings_and_the_command_line_still_win(clean_env: pytest.MonkeyPatch) -> None:
    local = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "from-local-settings"}
    config = build_from_args(_parser().parse_args([]), local).store.config
    assert (config.account_sid, config.auth_token) == ("AC" + "1" * 32, "from-local-settings")
    flags = _parser().parse_args(["--auth-token", "from-the-command-line"])
    assert build_from_args(flags, local).store.config.auth_token == "from-the-command-line"
