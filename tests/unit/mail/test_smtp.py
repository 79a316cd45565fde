"""The SMTP settings: ports by TLS mode, what must be set, and what Azure refuses."""

from __future__ import annotations

import pytest

from switchboard.mail.smtp import SmtpConfig
from switchboard.settings import MissingSettingError, SettingsError, load_settings

BASE = {"SMTP_HOST": "smtp.example.com", "SMTP_FROM": "Acme <voicemail@acme.example>"}


@pytest.mark.parametrize(
    ("tls", "port"), [(None, 587), ("starttls", 587), ("IMPLICIT", 465), ("none", 25)]
)
def test_the_port_follows_the_tls_mode(tls: str | None, port: int) -> None:
    env = {**BASE, **({"SMTP_TLS": tls} if tls else {})}
    config = SmtpConfig.from_settings(load_settings(env))
    assert (config.tls, config.port) == ((tls or "starttls").lower(), port)
    assert config.sender_address == "voicemail@acme.example"
    explicit = SmtpConfig.from_settings(load_settings({**env, "SMTP_PORT": "2525"}))
    assert explicit.port == 2525


def test_host_and_sender_are_required_when_mail_is_sent() -> None:
    with pytest.raises(MissingSettingError) as missing:
        SmtpConfig.from_settings(load_settings({"SMTP_FROM": BASE["SMTP_FROM"]}))
    assert missing.value.name == "SMTP_HOST"
    with pytest.raises(MissingSettingError) as missing:
        SmtpConfig.from_settings(load_settings({"SMTP_HOST": "smtp.example.com"}))
    assert missing.value.name == "SMTP_FROM"


@pytest.mark.parametrize(
    ("env", "name", "words"),
    [
        ({"SMTP_TLS": "ssl"}, "SMTP_TLS", "starttls, implicit or none"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT", "between 1 and 65535"),
        ({"SMTP_HOST": "smtp://example.com"}, "SMTP_HOST", "host name"),
        ({"SMTP_FROM": "not an address"}, "SMTP_FROM", "e-mail address"),
        ({"SMTP_FROM": "a@b.co\r\nBcc: x@y.z"}, "SMTP_FROM", "one line"),
        ({"SMTP_USERNAME": "apikey"}, "SMTP_PASSWORD", "together"),
        (
            {"SMTP_TLS": "none", "WEBSITE_INSTANCE_ID": "x"},
            "SMTP_TLS",
            "only for a server on localhost",
        ),
    ],
)
def test_careless_smtp_settings_are_named(env: dict[str, str], name: str, words: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**BASE, **env})
    problems = {p.name: p.reason for p in raised.value.problems}
    assert words in problems[name]
    assert "x@y.z" not in str(raised.value)


def test_no_tls_is_fine_for_a_local_server_even_in_azure() -> None:
    settings = load_settings(
        {**BASE, "SMTP_HOST": "127.0.0.1", "SMTP_TLS": "none", "WEBSITE_INSTANCE_ID": "x"}
    )
    assert SmtpConfig.from_settings(settings).port == 25


def test_the_password_is_a_secret() -> None:
    settings = load_settings({**BASE, "SMTP_USERNAME": "apikey", "SMTP_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in repr(SmtpConfig.from_settings(settings))
