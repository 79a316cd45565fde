"""Placing outbound calls: the origin status callbacks go to."""

from __future__ import annotations

from switchboard.calls.placing import callback_base_url
from switchboard.settings import load_settings


def test_callback_origin() -> None:
    base = load_settings({})
    assert callback_base_url(base, {}) == "http://localhost:7071"
    assert callback_base_url(base, {"WEBSITE_HOSTNAME": "sb.azurewebsites.net"}) == (
        "https://sb.azurewebsites.net"
    )
    public = load_settings({"PUBLIC_BASE_URL": "https://calls.example.com/"})
    assert callback_base_url(public, {"WEBSITE_HOSTNAME": "x"}) == "https://calls.example.com"
