"""Settings: every rule, the documented defaults, errors that name the setting and never show the value."""

from __future__ import annotations

import json
import logging
from datetime import time, timedelta
from pathlib import Path

import pytest

from switchboard import settings as settings_module
from switchboard.settings import (
    MissingSettingError,
    QuietHours,
    SettingsError,
    load_settings,
    presence,
    setting_names,
)

ROOT = Path(__file__).resolve().parents[2]
SID = "AC" + "0123456789abcdef" * 2


def problems_of(env: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    return {p.name: p.reason for p in info.value.problems}


def test_defaults_follow_the_spec() -> None:
    s = load_settings({})
    assert s.azure_web_jobs_storage == "UseDevelopmentStorage=true"
    assert s.twilio_api_base_url == "https://api.twilio.com"
    assert s.twilio_validate_signature is True
    assert s.outbound_call_queue == "outbound-calls"
    assert s.sms_timer_schedule == "0 */1 * * * *"
    assert s.sms_max_lateness == timedelta(hours=24)
    assert s.sms_quiet_hours is None
    assert s.sms_send_concurrency == 32
    assert s.sms_max_per_second is None
    assert (s.table_call_log, s.table_message_log, s.table_sms_schedule, s.table_opt_out) == (
        "CallLog",
        "MessageLog",
        "SmsSchedule",
        "OptOut",
    )
    assert s.twilio_account_sid is None
    assert s.voice_menu is None


def test_valid_values_are_parsed() -> None:
    s = load_settings(
        {
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "tok",
            "TWILIO_FROM_NUMBER": "+15017122661",
            "SMS_MAX_LATENESS": "P1DT12H",
            "SMS_QUIET_HOURS": "21:00-08:00",
            "SMS_SEND_CONCURRENCY": "8",
            "SMS_MAX_PER_SECOND": "2.5",
            "TWILIO_VALIDATE_SIGNATURE": "FALSE",
            "PUBLIC_BASE_URL": "https://switchboard.example.com/",
            "VOICE_BLOCKED_CALLERS": "+15558675310, +442071838750",
            "SMS_TIMER_SCHEDULE": "*/10  * * * * *",
        }
    )
    assert s.sms_max_lateness == timedelta(days=1, hours=12)
    assert s.sms_quiet_hours == QuietHours(time(21), time(8))
    assert s.sms_send_concurrency == 8
    assert s.sms_max_per_second == 2.5
    assert s.twilio_validate_signature is False
    assert s.public_base_url == "https://switchboard.example.com"
    assert s.voice_blocked_callers == ("+15558675310", "+442071838750")
    assert s.sms_timer_schedule == "*/10 * * * * *"


@pytest.mark.parametrize(
    ("name", "value", "reason_part"),
    [
        ("TWILIO_ACCOUNT_SID", "AC123", "AC followed by 32 hexadecimal"),
        ("TWILIO_API_KEY_SID", "SKnothex" + "z" * 26, "SK followed by 32"),
        ("TWILIO_MESSAGING_SERVICE_SID", "AC" + "0" * 32, "MG followed by 32"),
        ("TWILIO_FROM_NUMBER", "5558675310", "E.164"),
        ("TWILIO_FROM_NUMBER", "+1 501 712 2661", "E.164"),
        ("OWNER_NUMBER", "+1234", "E.164"),
        ("TWILIO_API_BASE_URL", "ftp://example.com", "http(s) URL"),
        ("PUBLIC_BASE_URL", "https://example.com/api?x=1", "origin only"),
        ("PUBLIC_BASE_URL", "example.com", "URL"),
        ("TWILIO_VALIDATE_SIGNATURE", "maybe", "true or false"),
        ("OUTBOUND_CALL_QUEUE", "Outbound_Calls", "queue name"),
        ("SMS_TIMER_SCHEDULE", "*/5 * * * *", "six-field"),
        ("SMS_TIMER_SCHEDULE", "0 61 * * * *", "not a valid NCRONTAB"),
        ("SMS_MAX_LATENESS", "24h", "ISO-8601 duration"),
        ("SMS_MAX_LATENESS", "PT0S", "longer than zero"),
        ("SMS_QUIET_HOURS", "9pm-8am", "24-hour"),
        ("SMS_QUIET_HOURS", "25:00-08:00", "24-hour"),
        ("SMS_QUIET_HOURS", "08:00-08:00", "must differ"),
        ("SMS_SEND_CONCURRENCY", "0", "between 1 and 256"),
        ("SMS_SEND_CONCURRENCY", "lots", "whole number"),
        ("SMS_MAX_PER_SECOND", "-1", "above 0"),
        ("SMS_MAX_PER_SECOND", "nan", "above 0"),
        ("TABLE_CALL_LOG", "call-log", "table name"),
        ("VOICE_RING_TIMEOUT", "2", "between 5 and 600"),
        ("VOICE_BLOCKED_CALLERS", "+15558675310,12345", "entry 2"),
        ("VOICE_MENU", "{not json", "not valid JSON"),
        ("VOICE_MENU", '{"prompt": "p", "options": {"1": {"action": "fly"}}}', "options.1.action"),
        (
            "VOICE_MENU",
            '{"prompt": "p", "options": {"1": {"action": "forward", "to": "555"}}}',
            "options.1.to",
        ),
        ("VOICE_MENU", '{"prompt": "p", "options": {"12": {"action": "hangup"}}}', "options.12"),
        # A byte that is not UTF-8 reaches os.environ as a lone surrogate.
        ("VOICE_GREETING", "Thanks \udce9 for calling", "UTF-8"),
        ("SMS_AUTO_REPLY", "Merci \udce9", "UTF-8"),
        ("VOICE_MENU", '{"prompt": "\udce9", "options": {}}', "UTF-8"),
    ],
)
def test_each_rule_names_the_setting_and_hides_the_value(
    name: str, value: str, reason_part: str
) -> None:
    found = problems_of({name: value})
    assert list(found) == [name]
    assert reason_part in found[name]
    with pytest.raises(SettingsError) as info:
        load_settings({name: value})
    text = str(info.value)
    assert name in text
    if len(value) > 3:
        assert value not in text


def test_all_problems_are_reported_at_once() -> None:
    found = problems_of(
        {"SMS_SEND_CONCURRENCY": "x", "TWILIO_FROM_NUMBER": "x", "SMS_QUIET_HOURS": "x"}
    )
    assert set(found) == {"SMS_SEND_CONCURRENCY", "TWILIO_FROM_NUMBER", "SMS_QUIET_HOURS"}


def test_api_key_needs_both_halves() -> None:
    found = problems_of({"TWILIO_API_KEY_SID": "SK" + "a" * 32})
    assert "TWILIO_API_KEY_SECRET" in found


def test_empty_values_count_as_unset() -> None:
    s = load_settings({"TWILIO_FROM_NUMBER": "", "SMS_QUIET_HOURS": "  "})
    assert s.twilio_from_number is None
    assert s.sms_quiet_hours is None


def test_secrets_are_masked_in_repr_and_str() -> None:
    token = "s3cr3t-token-value"
    secret = "api-key-secret-value"
    conn = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5"
    s = load_settings(
        {
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": token,
            "TWILIO_API_KEY_SID": "SK" + "b" * 32,
            "TWILIO_API_KEY_SECRET": secret,
            "AzureWebJobsStorage": conn,
        }
    )
    for text in (repr(s), str(s), f"{s}", f"{s!r}"):
        assert token not in text
        assert secret not in text
        assert "c2VjcmV0a2V5" not in text
        assert "twilio_auth_token='***'" in text
    assert s.uses_api_key


def test_require_names_the_missing_setting() -> None:
    s = load_settings({})
    with pytest.raises(MissingSettingError) as info:
        s.require("twilio_auth_token", "webhook signatures")
    assert info.value.name == "TWILIO_AUTH_TOKEN"
    assert "webhook signatures" in str(info.value)


def test_signature_validation_can_be_disabled_only_outside_azure() -> None:
    assert (
        load_settings({"TWILIO_VALIDATE_SIGNATURE": "false"}).signature_validation_enabled is False
    )
    in_azure = load_settings({"TWILIO_VALIDATE_SIGNATURE": "false", "WEBSITE_INSTANCE_ID": "abc"})
    assert in_azure.signature_validation_enabled is True


def test_get_settings_logs_a_failure_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SMS_SEND_CONCURRENCY", "many")
    settings_module.reset_settings_cache()
    try:
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                with pytest.raises(SettingsError):
                    settings_module.get_settings()
        errors = [r for r in caplog.records if "SMS_SEND_CONCURRENCY" in r.getMessage()]
        assert len(errors) == 1
        assert "many" not in errors[0].getMessage()
    finally:
        settings_module.reset_settings_cache()


def test_disabled_validation_warns_at_load(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TWILIO_VALIDATE_SIGNATURE", "false")
    for name in settings_module.AZURE_HOST_MARKERS:  # a dev container may set CONTAINER_NAME
        monkeypatch.delenv(name, raising=False)
    settings_module.reset_settings_cache()
    try:
        with caplog.at_level(logging.WARNING):
            settings_module.get_settings()
        assert any("NOT validated" in r.getMessage() for r in caplog.records)
    finally:
        settings_module.reset_settings_cache()


def test_quiet_hours_wrap_midnight() -> None:
    window = QuietHours(time(21), time(8))
    assert window.contains(time(23, 30))
    assert window.contains(time(7, 59))
    assert not window.contains(time(8, 0))
    assert not window.contains(time(12))
    day = QuietHours(time(12), time(14))
    assert day.contains(time(13))
    assert not day.contains(time(14))


def test_presence_reports_names_not_values() -> None:
    found = presence({"TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM_NUMBER": " "})
    assert found["TWILIO_AUTH_TOKEN"] is True
    assert found["TWILIO_FROM_NUMBER"] is False
    assert "tok" not in json.dumps(found)


def test_sample_settings_cover_every_setting_and_are_valid() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    platform = {
        "WEBSITE_INSTANCE_ID",
        "WEBSITE_SITE_NAME",
        "WEBSITE_HOSTNAME",
        "WEBSITE_AUTH_ENABLED",
    }
    assert set(setting_names()) - platform <= set(sample)
    settings = load_settings(sample)
    assert settings.voice_menu is not None
    assert sample["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_public_base_url_must_be_https_in_azure() -> None:
    assert load_settings({"PUBLIC_BASE_URL": "http://localhost:7071"}).public_base_url
    found = problems_of({"PUBLIC_BASE_URL": "http://app.example.com", "WEBSITE_INSTANCE_ID": "i"})
    assert found == {"PUBLIC_BASE_URL": "must be an https origin in Azure"}
    https = {"PUBLIC_BASE_URL": "https://app.example.com", "WEBSITE_INSTANCE_ID": "i"}
    assert load_settings(https).public_base_url == "https://app.example.com"


def test_lines_clock_is_a_date_a_test_means() -> None:
    from switchboard.settings import SettingsError, load_settings

    assert load_settings({"LINES_CLOCK": "2026-12-24T09:00:00-05:00"}).lines_clock is not None
    for far in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1800-01-01T00:00:00Z"):
        with pytest.raises(SettingsError) as refused:
            load_settings({"LINES_CLOCK": far})
        assert "LINES_CLOCK: must be a date between the years 1970 and 2199" in str(refused.value)


def test_a_duration_too_long_for_python_is_an_invalid_setting() -> None:
    """Before: OverflowError escaped the settings, and every webhook answered 500."""
    from switchboard.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as refused:
        load_settings({"SMS_MAX_LATENESS": "P99999999999D"})
    assert "SMS_MAX_LATENESS: is out of range" in str(refused.value)


def test_settings_are_built_from_their_fields_and_stay_frozen() -> None:
    import dataclasses

    from switchboard.settings import Settings

    plain = Settings()
    for field in dataclasses.fields(Settings):
        if field.default is not dataclasses.MISSING:
            assert getattr(plain, field.name) == field.default
    assert plain.voice_blocked_callers == ()
    with pytest.raises(TypeError, match="no_such_setting"):
        Settings(no_such_setting=1)  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.voice_ring_timeout = 5  # type: ignore[misc]
    changed = settings_module.replace(plain, voice_ring_timeout=30)
    assert (changed.voice_ring_timeout, plain.voice_ring_timeout) == (30, 20)


@pytest.mark.parametrize("raw", ["garbage", ";;", "AccountKey=c2VjcmV0", "=x;AccountName=a"])
def test_a_malformed_storage_connection_string_is_named_never_shown(raw: str) -> None:
    """Before: taken, then `health` died with a ValueError traceback and other commands blamed
    storage ("retry later") or Twilio."""
    with pytest.raises(SettingsError) as caught:
        load_settings({"AzureWebJobsStorage": raw})
    assert [p.name for p in caught.value.problems] == ["AzureWebJobsStorage"]
    assert raw not in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        "UseDevelopmentStorage=true",
        "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=c2VjcmV0;"
        "EndpointSuffix=core.windows.net",
        "TableEndpoint=https://contoso.table.core.windows.net/;SharedAccessSignature=sv=2022&sig=x",
    ],
)
def test_storage_connection_strings_as_azure_writes_them_are_taken(raw: str) -> None:
    assert load_settings({"AzureWebJobsStorage": raw}).azure_web_jobs_storage == raw


@pytest.mark.parametrize("raw", ["https://a b", "https://a b.example.com/", "https://exa mple.com"])
def test_a_url_whose_host_is_no_host_is_refused(raw: str) -> None:
    """Before: taken, and `numbers wire --app 'https://a b'` wired numbers to it."""
    with pytest.raises(SettingsError) as caught:
        load_settings({"PUBLIC_BASE_URL": raw})
    assert [p.name for p in caught.value.problems] == ["PUBLIC_BASE_URL"]
    assert "invalid host" in str(caught.value)


@pytest.mark.parametrize(
    "raw", ["https://app.azurewebsites.net", "http://127.0.0.1:7071", "http://[::1]:7071"]
)
def test_urls_on_names_and_addresses_are_taken(raw: str) -> None:
    assert load_settings({"PUBLIC_BASE_URL": raw}).public_base_url == raw
