"""Who is signed in: the sign-in routes' admission, cookies by host, the platform's principal."""

from __future__ import annotations

import azure.functions as func
import pytest

from switchboard.http import ApiError
from switchboard.inbox import authenticator, sessions
from switchboard.jsonroutes.auth import INBOX_SIGN_IN, VISITOR
from switchboard.settings import load_settings, replace

KEY = "k" * 40
SETTINGS = load_settings({"INBOX_SESSION_KEY": KEY})


def _request(
    method: str = "GET", url: str = "http://127.0.0.1:7071/api/inbox/x", **headers: str
) -> func.HttpRequest:
    return func.HttpRequest(method, url, headers=headers, params={}, route_params={}, body=b"{}")


def test_sign_in_routes_admit_json_from_the_inbox_only() -> None:
    assert INBOX_SIGN_IN.authenticate(_request(), lambda: SETTINGS) is VISITOR
    ok = _request("POST", **{"content-type": "application/json", "sec-fetch-site": "same-origin"})
    assert INBOX_SIGN_IN.authenticate(ok, lambda: SETTINGS) is VISITOR
    for headers in (
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "application/json", "sec-fetch-site": "cross-site"},
        {"content-type": "application/json", "sec-fetch-site": "same-site"},
    ):
        with pytest.raises(ApiError) as caught:
            INBOX_SIGN_IN.authenticate(_request("POST", **headers), lambda: SETTINGS)
        assert caught.value.status == 403
    assert not VISITOR.sees_every_line


def test_the_plain_cookie_counts_on_loopback_only() -> None:
    value = sessions.cookie_value(KEY, "u0123456789abcdef", "A" * 32)
    local = _request(cookie=f"{sessions.LOOPBACK_COOKIE}={value}")
    assert authenticator.session_of(local, SETTINGS) == ("u0123456789abcdef", "A" * 32)
    remote = _request(
        url="https://inbox.example.com/api/inbox/x", cookie=f"{sessions.LOOPBACK_COOKIE}={value}"
    )
    assert authenticator.session_of(remote, SETTINGS) is None
    secure = _request(
        url="https://inbox.example.com/api/inbox/x", cookie=f"{sessions.SECURE_COOKIE}={value}"
    )
    assert authenticator.session_of(secure, SETTINGS) is not None
    in_azure = replace(SETTINGS, running_in_azure=True)
    assert authenticator.session_of(local, in_azure) is None
    assert authenticator.session_of(local, replace(SETTINGS, inbox_session_key=None)) is None


def test_the_platform_principal_is_read_only_when_the_platform_vouches_for_it() -> None:
    headers = {"x-ms-client-principal-name": "ana@example.com", "x-ms-client-principal-idp": "aad"}
    request = _request(**headers)
    assert authenticator.platform_principal_name(request, SETTINGS) is None  # not opted in
    opted = replace(SETTINGS, inbox_app_service_auth=True)
    assert authenticator.platform_principal_name(request, opted) is None  # not in Azure
    in_azure = replace(opted, running_in_azure=True)
    assert authenticator.platform_principal_name(request, in_azure) is None  # auth not on
    trusted = replace(in_azure, website_auth_enabled=True)
    assert authenticator.platform_principal_name(request, trusted) == "ana@example.com"
    other_idp = _request(**{**headers, "x-ms-client-principal-idp": "github"})
    assert authenticator.platform_principal_name(other_idp, trusted) is None


def test_settings_refuse_a_short_key_and_the_samples_in_azure() -> None:
    from switchboard.settings import SAMPLE_INBOX_SESSION_KEY, SettingsError

    with pytest.raises(SettingsError, match="INBOX_SESSION_KEY"):
        load_settings({"INBOX_SESSION_KEY": "short"})
    assert load_settings({"INBOX_SESSION_KEY": SAMPLE_INBOX_SESSION_KEY}).inbox_session_key
    with pytest.raises(SettingsError, match="sample"):
        load_settings({"INBOX_SESSION_KEY": SAMPLE_INBOX_SESSION_KEY, "WEBSITE_INSTANCE_ID": "x"})


def test_a_poll_gets_the_principal_remembered_for_its_session_and_validator_only() -> None:
    from datetime import timedelta

    from switchboard import records
    from switchboard.inbox.remembered import REMEMBERED
    from switchboard.jsonroutes.auth import inbox_user

    user, session = "u0123456789abcdef", "A" * 32
    owner = inbox_user(user, "owner")
    cookie = f"{sessions.LOOPBACK_COOKIE}={sessions.cookie_value(KEY, user, session)}"
    cookies = authenticator.CookieSessions()
    REMEMBERED.checked(session, records.utcnow() + timedelta(hours=1))
    cookies.remember_poll(_request(cookie=cookie), SETTINGS, owner, '"v1"')
    for sent in ('"v1"', 'W/"v1"', '"v0", "v1"'):
        found = cookies.remembered(_request(cookie=cookie, **{"if-none-match": sent}), SETTINGS)
        assert found is not None, sent
        assert (found.remembered, found.user_id) == (True, user)
    for headers in (
        {"cookie": cookie, "if-none-match": '"v2"'},  # another validator
        {"cookie": cookie},  # none
        {"cookie": cookie[:-2] + "AA", "if-none-match": '"v1"'},  # a forged cookie
    ):
        assert cookies.remembered(_request(**headers), SETTINGS) is None
    # A cookie of another user with the same session id names no remembered session.
    other = f"{sessions.LOOPBACK_COOKIE}={sessions.cookie_value(KEY, 'u' + 'f' * 16, session)}"
    assert cookies.remembered(_request(cookie=other, **{"if-none-match": '"v1"'}), SETTINGS) is None
