"""Who is signed in: the inbox's `SessionAuthenticator` for the JSON route shell.

A request's session is its cookie (`switchboard.inbox.sessions`): the signature is checked
first (a forged or altered cookie costs no storage read), then the user's row is read once
(the session must still be in it and unexpired; the role and lines are the row's, as they are
now). A poll of the conversation list or of a conversation that finds nothing new may instead
rest on this instance's memory of an earlier check (`switchboard.inbox.remembered`). Over https the cookie
is the `__Host-` one; the plain-named cookie of local development
counts only on a loopback address outside Azure, so no sibling host can toss one in.

**App Service Authentication.** When `INBOX_APP_SERVICE_AUTH=true`, the app runs in Azure and
the platform says its Authentication is on (`WEBSITE_AUTH_ENABLED=True`, which App Service sets
itself), `X-MS-CLIENT-PRINCIPAL-NAME` names who signed in with Microsoft Entra ID: the platform
removes that header from what clients send and sets it itself. Anywhere else the header is
anyone's to forge, so it is never read (`platform_principal_name`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.functions as func

from switchboard import records
from switchboard.inbox import sessions
from switchboard.inbox.remembered import REMEMBERED
from switchboard.jsonroutes.auth import InboxSession, Principal, inbox_user
from switchboard.settings import Settings, is_loopback_host

PRINCIPAL_NAME_HEADER = "x-ms-client-principal-name"
PRINCIPAL_IDP_HEADER = "x-ms-client-principal-idp"


def secure_cookies(req: func.HttpRequest, settings: Settings) -> bool:
    """Whether the session cookie is Secure: always in Azure, and anywhere but loopback."""
    if settings.running_in_azure:
        return True
    try:
        host = urlsplit(req.url).hostname
    except ValueError:
        return True
    return not is_loopback_host(host)


def session_of(req: func.HttpRequest, settings: Settings) -> tuple[str, str] | None:
    """(user id, session id) of the request's validly signed cookie, if any (no storage)."""
    key = settings.inbox_session_key
    if not key:
        return None
    names = [sessions.SECURE_COOKIE]
    if not secure_cookies(req, settings):
        names.append(sessions.LOOPBACK_COOKIE)
    header = req.headers.get("cookie")
    for name in names:
        value = sessions.cookie_from_header(header, name)
        if value:
            return sessions.parse_cookie_value(key, value)
    return None


def platform_sign_in_enabled(settings: Settings) -> bool:
    """Whether the platform's Entra ID sign-in is trusted (opted in, in Azure, switched on)."""
    return (
        settings.inbox_app_service_auth
        and settings.running_in_azure
        and settings.website_auth_enabled
    )


def platform_principal_name(req: func.HttpRequest, settings: Settings) -> str | None:
    """The Entra ID user the platform signed in, or None (always None unless trusted)."""
    if not platform_sign_in_enabled(settings):
        return None
    if (req.headers.get(PRINCIPAL_IDP_HEADER) or "").strip().lower() != "aad":
        return None
    name = (req.headers.get(PRINCIPAL_NAME_HEADER) or "").strip()
    return name or None


class CookieSessions:
    """The inbox's sessions, as the JSON route shell asks about them."""

    def principal(self, req: func.HttpRequest, settings: Settings) -> Principal | None:
        """The signed-in user, or None (no cookie, a bad signature, a session ended)."""
        found = session_of(req, settings)
        if found is None:
            return None
        user_id, session_id = found
        from switchboard.inbox.store import InboxUserStore

        stored = InboxUserStore.from_settings(settings).get(user_id)
        if stored is None:
            return None
        entry = sessions.find(stored.user.sessions, session_id, records.utcnow())
        if entry is None:
            return None
        REMEMBERED.checked(session_id, entry.expires_at)
        return inbox_user(stored.user.id, stored.user.role, stored.user.lines)

    def remembered(self, req: func.HttpRequest, settings: Settings) -> Principal | None:
        """The principal this instance remembers for the request's session and the validator
        it sends back (`If-None-Match`), or None (no storage read)."""
        found = session_of(req, settings)
        if found is None:
            return None
        header = req.headers.get("if-none-match") or ""
        validators = [v.strip().removeprefix("W/") for v in header.split(",")]
        principal = REMEMBERED.find(found[1], [v for v in validators if v], records.utcnow())
        return principal if principal is not None and principal.user_id == found[0] else None

    def remember_poll(
        self,
        req: func.HttpRequest,
        settings: Settings,
        principal: Principal,
        validator: str,
        witness: str | None = None,
    ) -> None:
        """A poll checked against storage found `validator` current: remember the pair
        (`witness`: the change marker read before the check, for a conversation's poll)."""
        found = session_of(req, settings)
        if found is not None and found[0] == principal.user_id:
            REMEMBERED.vouch(found[1], validator, principal, records.utcnow(), witness)

    def witnessed(
        self, req: func.HttpRequest, settings: Settings, validator: str, witness: str | None
    ) -> bool:
        """Whether the request's remembered pair was vouched for with this marker's ETag."""
        found = session_of(req, settings)
        return found is not None and REMEMBERED.witnessed(found[1], validator, witness)

    def csrf_valid(self, req: func.HttpRequest, principal: Principal, settings: Settings) -> bool:
        """Whether the write carries its session's CSRF token (`X-CSRF-Token`)."""
        found = session_of(req, settings)
        if found is None or found[0] != principal.user_id or not settings.inbox_session_key:
            return False
        return sessions.csrf_matches(
            settings.inbox_session_key, found[1], req.headers.get(sessions.CSRF_HEADER)
        )


COOKIES = CookieSessions()
SESSION = InboxSession(COOKIES)
#: The routes that answer polls (the conversation list, a conversation): a 304 may rest on a
#: remembered check.
POLLED_SESSION = InboxSession(COOKIES, polls=True)
