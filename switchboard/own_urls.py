"""Origins, and whether a URL leads back into this app (pure).

A line's `redirect` step (and a `VOICE_MENU` redirect) hands a call to TwiML elsewhere. Pointed
at one of this app's own webhooks, the call would start over, and over: Twilio follows a
`<Redirect>` without limit. So a redirect may not name

- any URL on one of the app's own origins (`switchboard.settings.app_origins`:
  `PUBLIC_BASE_URL`, in Azure `https://$WEBSITE_HOSTNAME` and
  `https://$WEBSITE_SITE_NAME.azurewebsites.net`, and the origin the operator's own request
  arrived on, such as a custom domain or a tunnel the settings do not name);
- a Twilio-facing webhook path of any Switchboard (`/api/voice/...`, `/api/sms/...`,
  `/api/status/...`) on any host: a second deployment redirecting back to this one would loop
  between the two, which no hop count on either side could see.

Paths are compared as a web server resolves them (percent-escapes decoded, `.` and `..`
segments resolved, case folded: Azure Functions routes ignore case). Origins are compared as
Twilio requests (and signs) them: `normalise_origin`.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit, urlunsplit

#: The Twilio-facing routes of the app, under the Functions host's route prefix (`/api`).
WEBHOOK_PATH_PREFIXES = ("/api/voice/", "/api/sms/", "/api/status/")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(value: str) -> str:
    """An origin as Twilio requests (and signs) it: scheme and host in lower case, the default
    port dropped, no trailing slash (`HTTPS://App.Example.COM:443/` → `https://app.example.com`)."""
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6: urlsplit drops the brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, "", "", ""))


def _resolved_path(path: str) -> str:
    decoded = unquote(path or "/").replace("\\", "/")
    resolved = posixpath.normpath("/" + decoded.lstrip("/"))
    return resolved.casefold() + ("/" if decoded.endswith("/") and resolved != "/" else "")


def leads_back(url: str, origins: frozenset[str]) -> bool:
    """Whether `url` is on one of `origins` (normalised: the app's own) or is any Switchboard's
    Twilio-facing webhook."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        origin = normalise_origin(text) if parts.hostname else ""
    except ValueError:  # a port that is not a number: no origin of ours either
        parts, origin = urlsplit(text.split("?", 1)[0]), ""
    if origin and origin in origins:
        return True
    path = _resolved_path(parts.path)
    return any(path.startswith(prefix) for prefix in WEBHOOK_PATH_PREFIXES)
