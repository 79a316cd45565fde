"""The webhooks a number needs, what differs, and its fallback documents' names (pure)."""

from __future__ import annotations

from switchboard.numbers import wiring

CONTAINER = "https://stfb.blob.core.windows.net/fallback"
APP = "https://app.example.net"


def test_desired_webhooks_point_every_route_at_the_app_and_fallbacks_are_fetched_by_get() -> None:
    wanted = wiring.desired_webhooks(APP + "/", CONTAINER + "/v.xml", CONTAINER + "/s.xml")
    assert wanted == {
        "VoiceUrl": f"{APP}/api/voice/incoming",
        "VoiceMethod": "POST",
        "SmsUrl": f"{APP}/api/sms/incoming",
        "SmsMethod": "POST",
        "StatusCallback": f"{APP}/api/status/call",
        "StatusCallbackMethod": "POST",
        "VoiceFallbackUrl": f"{CONTAINER}/v.xml",
        "VoiceFallbackMethod": "GET",
        "SmsFallbackUrl": f"{CONTAINER}/s.xml",
        "SmsFallbackMethod": "GET",
    }
    assert "VoiceFallbackUrl" not in wiring.desired_webhooks(APP, None, None)


def test_differences_treat_a_missing_method_as_post_and_ignore_case() -> None:
    wanted = wiring.desired_webhooks(APP, None, None)
    current = {
        "VoiceUrl": f"{APP}/api/voice/incoming",
        "VoiceMethod": None,
        "SmsUrl": "https://old.example.net/api/sms/incoming",
        "SmsMethod": "post",
        "StatusCallback": "",
        "StatusCallbackMethod": "GET",
    }
    assert wiring.differences(current, wanted) == {
        "SmsUrl": ("https://old.example.net/api/sms/incoming", f"{APP}/api/sms/incoming"),
        "StatusCallback": ("", f"{APP}/api/status/call"),
        "StatusCallbackMethod": ("GET", "POST"),
    }
    assert wiring.differences(dict(wanted), wanted) == {}


def test_fallback_names_carry_the_digits_and_an_unguessable_token() -> None:
    token = wiring.new_token()
    assert len(token) == 32
    assert token != wiring.new_token()
    names = wiring.fallback_names("+15017122661", token)
    assert names == (
        f"voice-15017122661-{token}.xml",
        f"voice-15017122661-{token}-done.xml",
        f"sms-15017122661-{token}.xml",
    )


def test_the_token_of_a_number_already_wired_is_kept() -> None:
    token = "0123456789abcdef0123456789abcdef"
    url = wiring.blob_url(CONTAINER, wiring.fallback_names("+15017122661", token).voice)
    assert wiring.existing_token("+15017122661", url, CONTAINER) == token
    assert wiring.existing_token("+15017122661", url + "?x=1", CONTAINER + "/") == token
    assert wiring.existing_token("+15005550010", url, CONTAINER) is None  # another number's
    assert wiring.existing_token("+15017122661", url, "https://other/fallback") is None
    assert wiring.existing_token("+15017122661", None, CONTAINER) is None
    assert (
        wiring.existing_token("+15017122661", CONTAINER + "/voice-15017122661-zz.xml", CONTAINER)
        is None
    )
