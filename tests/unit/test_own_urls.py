"""Whether a URL leads back into this app: its own origins, or any Switchboard's webhooks."""

from __future__ import annotations

import pytest

from switchboard.own_urls import leads_back, normalise_origin
from switchboard.settings import app_origins, load_settings

OWN = frozenset({"https://app.example.com", "https://switchboard-prod.azurewebsites.net"})


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/api/voice/incoming",
        "https://APP.example.com:443/anything?x=1",
        "https://switchboard-prod.azurewebsites.net/api/lines",
        "https://elsewhere.example.org/api/voice/incoming",
        "https://elsewhere.example.org/API/SMS/incoming",
        "https://elsewhere.example.org/api/voice/x/../incoming",
        "https://elsewhere.example.org/api/%76oice/menu?at=open.0",
        "https://elsewhere.example.org//api/status/call",
        "https://elsewhere.example.org/static/../api/voice/incoming",
    ],
)
def test_urls_that_lead_back(url: str) -> None:
    assert leads_back(url, OWN)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/twiml",
        "https://app.example.com.evil.org/api/lines",
        "https://app.example.com:8443/twiml",
        "https://elsewhere.example.org/api/voicemail-box",
        "https://elsewhere.example.org/api/lines",
        "https://host:notaport/twiml",
    ],
)
def test_urls_elsewhere(url: str) -> None:
    assert not leads_back(url, OWN)


def test_the_apps_origins_from_the_settings() -> None:
    settings = load_settings(
        {
            "PUBLIC_BASE_URL": "https://Voice.Contoso.com/",
            "WEBSITE_HOSTNAME": "switchboard-prod.azurewebsites.net",
            "WEBSITE_SITE_NAME": "Switchboard-Prod",
        }
    )
    found = app_origins(settings, ("http://127.0.0.1:7071", None, "not a url:x"))
    assert found == {
        "https://voice.contoso.com",
        "https://switchboard-prod.azurewebsites.net",
        "http://127.0.0.1:7071",
    }
    assert normalise_origin("HTTPS://App.Example.COM:443/") == "https://app.example.com"


def test_a_voice_menu_redirect_into_the_app_is_an_invalid_setting() -> None:
    from switchboard.settings import SettingsError

    menu = '{"prompt": "p", "options": {"4": {"action": "redirect", "url": "%s"}}}'
    with pytest.raises(SettingsError) as refused:
        load_settings(
            {
                "PUBLIC_BASE_URL": "https://app.example.com",
                "VOICE_MENU": menu % "https://app.example.com/api/voice/incoming",
            }
        )
    assert "options.4.url: leads back into this app" in str(refused.value)
    load_settings({"VOICE_MENU": menu % "https://example.com/twiml"})
