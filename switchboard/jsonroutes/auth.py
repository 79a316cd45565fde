"""Who may call a JSON route, and who is calling: each route's authentication and the principal.

A route declares one of three ways in (`switchboard.jsonroutes.shell.json_route(auth=...)`):

- `FUNCTION_KEY`, the operator's API: the Functions host checks the key before the function runs
  (the route is registered with auth level FUNCTION), so a request that reaches the shell is the
  operator's and the principal is `OPERATOR`.
- `InboxSession(authenticator)`, the owner's inbox: the route is ANONYMOUS at the host (a browser
  holds no function key) and the shell asks the authenticator which session the request carries;
  a write also needs that session's CSRF token and must not come from another site. Only the
  session is looked at, so a function key never opens an inbox route. A route that answers
  polls (`InboxSession(authenticator, polls=True)`) may take a conditional `GET`'s principal
  from the authenticator's memory of an earlier check (`Principal.remembered`): only a 304
  (which carries nothing) may rest on it; any other answer is checked against storage first
  (`ApiRequest.verify`, and the shell makes sure of it).
- `InboxSignIn()`, the inbox's way to a session (asking for a code, trading it for a session):
  anonymous at the host and in the shell (the principal is `VISITOR`), but a write must come
  from the inbox's own pages: JSON (a cross-site form cannot send it without a CORS preflight,
  which the app never grants) and not marked by the browser as sent from another site.

Sessions themselves (codes, cookies, signing, revocation) belong to the inbox: this module only
says what an authenticator answers (`SessionAuthenticator`), so the shell stays the one place
that refuses a request without a valid session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol

import azure.functions as func

from switchboard.http import ApiError

if TYPE_CHECKING:
    from switchboard.settings import Settings

#: Methods that change nothing: they need a session, not a CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: `Sec-Fetch-Site` values a browser sends for a request the inbox's own pages made (absent:
#: not a browser, or an old one; the CSRF token still has to match).
_OWN_SITE = frozenset({"", "same-origin"})


class AuthMode(StrEnum):
    """How a route's callers prove who they are."""

    FUNCTION_KEY = "function_key"
    INBOX_SESSION = "inbox_session"
    INBOX_SIGN_IN = "inbox_sign_in"


class Role(StrEnum):
    """An inbox user's role: the owner sees everything, staff the lines they are given."""

    OWNER = "owner"
    STAFF = "staff"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator (with a function key), an inbox user, or a visitor who
    is not signed in yet (the inbox's sign-in routes only).

    `lines` are the E.164 numbers a staff user may see; the operator and the owner see every
    line whatever it holds.
    """

    kind: Literal["operator", "inbox", "visitor"]
    user_id: str | None = None
    role: Role | None = None
    lines: frozenset[str] = frozenset()
    #: Taken from an instance's memory of an earlier check, not from storage: only an answer
    #: that carries nothing (a poll's 304) may rest on it.
    remembered: bool = False

    @property
    def is_operator(self) -> bool:
        """The operator's API key, not a person signed in to the inbox."""
        return self.kind == "operator"

    @property
    def sees_every_line(self) -> bool:
        """The operator and the owner see every line; staff only theirs (a visitor none)."""
        return self.is_operator or (self.kind == "inbox" and self.role is Role.OWNER)

    def may_see_line(self, number: str) -> bool:
        """Whether the caller may see (and act on) the line with this number."""
        return self.sees_every_line or number in self.lines


#: The principal of every function-key route.
OPERATOR = Principal("operator")
#: The principal of the inbox's sign-in routes: nobody yet.
VISITOR = Principal("visitor")


def inbox_user(user_id: str, role: Role | str, lines: Iterable[str] = ()) -> Principal:
    """An inbox user's principal (an owner's `lines` are not kept: the owner sees all)."""
    if not user_id:
        raise ValueError("an inbox user needs an id")
    checked = Role(role)
    kept = frozenset() if checked is Role.OWNER else frozenset(lines)
    return Principal("inbox", user_id=user_id, role=checked, lines=kept)


class SessionAuthenticator(Protocol):
    """What the inbox provides so the shell can check its sessions."""

    def principal(self, req: func.HttpRequest, settings: Settings) -> Principal | None:
        """The inbox user whose valid (signed, unexpired, not revoked) session the request
        carries; None when it carries none."""

    def csrf_valid(self, req: func.HttpRequest, principal: Principal, settings: Settings) -> bool:
        """Whether a write carries the CSRF token of `principal`'s session."""

    def remembered(self, req: func.HttpRequest, settings: Settings) -> Principal | None:
        """The principal an earlier check on this instance vouched for, for this conditional
        request's session and validator (no storage read; `Principal.remembered`), or None."""


class Auth(Protocol):
    """A route's authentication: its mode, the host's auth level it needs, the check."""

    @property
    def mode(self) -> AuthMode:
        """How callers prove who they are."""

    @property
    def host_auth_level(self) -> func.AuthLevel:
        """The auth level the route must be registered with (checked by a test of the app)."""

    def authenticate(self, req: func.HttpRequest, settings: Callable[[], Settings]) -> Principal:
        """The caller's principal, or `ApiError` 401/403. `settings` loads them on demand."""


@dataclass(frozen=True)
class FunctionKey:
    """The host checked the function key: the caller is the operator."""

    @property
    def mode(self) -> AuthMode:
        """`AuthMode.FUNCTION_KEY`."""
        return AuthMode.FUNCTION_KEY

    @property
    def host_auth_level(self) -> func.AuthLevel:
        """FUNCTION: the host refuses a request without the key (401) before the shell runs."""
        return func.AuthLevel.FUNCTION

    def authenticate(self, req: func.HttpRequest, settings: Callable[[], Settings]) -> Principal:
        """`OPERATOR`: nothing left to check here."""
        return OPERATOR


FUNCTION_KEY = FunctionKey()


@dataclass(frozen=True)
class InboxSession:
    """The route is anonymous at the host; the shell checks the inbox session itself."""

    authenticator: SessionAuthenticator
    #: The route answers polls: a conditional GET may rest on a remembered principal.
    polls: bool = False

    @property
    def mode(self) -> AuthMode:
        """`AuthMode.INBOX_SESSION`."""
        return AuthMode.INBOX_SESSION

    @property
    def host_auth_level(self) -> func.AuthLevel:
        """ANONYMOUS: a browser has no function key, and a key must not stand in for a session."""
        return func.AuthLevel.ANONYMOUS

    def authenticate(self, req: func.HttpRequest, settings: Callable[[], Settings]) -> Principal:
        """The session's user; 401 without a valid session, 403 for a write without the
        session's CSRF token or sent from another site. A poll (`polls`, a GET with
        `If-None-Match`) may get the principal remembered for its session and validator."""
        if self.polls and req.method.upper() == "GET" and req.headers.get("if-none-match"):
            found = self.authenticator.remembered(req, settings())
            if found is not None and found.kind == "inbox" and found.remembered:
                return found
        return self.verify(req, settings)

    def verify(self, req: func.HttpRequest, settings: Callable[[], Settings]) -> Principal:
        """The session's user as storage says now (see `authenticate`)."""
        loaded = settings()
        principal = self.authenticator.principal(req, loaded)
        if principal is None or principal.kind != "inbox":
            raise ApiError(401, "unauthenticated", "sign in to the inbox first")
        if req.method.upper() not in SAFE_METHODS and (
            _from_another_site(req) or not self.authenticator.csrf_valid(req, principal, loaded)
        ):
            raise ApiError(403, "csrf_rejected", "this change needs the page's CSRF token")
        return principal


def _from_another_site(req: func.HttpRequest) -> bool:
    site = (req.headers.get("sec-fetch-site") or "").strip().lower()
    return site not in _OWN_SITE


@dataclass(frozen=True)
class InboxSignIn:
    """The inbox's sign-in routes: no session yet, writes only from the inbox's own pages."""

    @property
    def mode(self) -> AuthMode:
        """`AuthMode.INBOX_SIGN_IN`."""
        return AuthMode.INBOX_SIGN_IN

    @property
    def host_auth_level(self) -> func.AuthLevel:
        """ANONYMOUS: whoever signs in has neither a key nor a session yet."""
        return func.AuthLevel.ANONYMOUS

    def authenticate(self, req: func.HttpRequest, settings: Callable[[], Settings]) -> Principal:
        """`VISITOR`; 403 for a write that is not JSON or that the browser says came from
        another site (so no other site can sign a browser in, or spend codes, through it)."""
        if req.method.upper() not in SAFE_METHODS:
            content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
            if content_type != "application/json" or _from_another_site(req):
                raise ApiError(403, "csrf_rejected", "sign in from the inbox's own page")
        return VISITOR


INBOX_SIGN_IN = InboxSignIn()
