"""The Twilio REST client of Switchboard: one factory (sync and async), error classification and
the few typed REST operations the app performs.

Cold start matters in Azure Functions, so this module imports neither ``twilio.rest`` nor the
twilio HTTP clients, ``requests`` or ``aiohttp`` at import time: the factories import them on
first use.

- :func:`get_client` returns the process's cached synchronous client (thread-safe), built by
  :func:`build_client` from settings: API-key auth when ``TWILIO_API_KEY_SID`` and
  ``TWILIO_API_KEY_SECRET`` are set, else the account's auth token. ``TWILIO_API_BASE_URL`` is
  honoured by an HTTP client that rewrites ``https://api.twilio.com`` to that origin (the local
  stand-in or Prism); its connection pool holds ``SMS_SEND_CONCURRENCY`` connections for both
  ``http://`` and ``https://``; every request has a timeout.
- :func:`build_async_client` (or ``async with async_client(settings)``) gives a client whose
  ``*_async`` methods use aiohttp with the same rewriting, pool bound and timeout.
- :func:`classify_twilio_error` tells transient failures (429, 20429, 5xx, timeouts, connection
  errors) from permanent ones (other 4xx, with Twilio's code and message).
- :func:`send_sms`, :func:`create_call`, :func:`list_messages`, :func:`list_calls`, ... return
  plain dataclasses, never twilio instance objects.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import urlsplit, urlunsplit

from switchboard.logs import get_logger

if TYPE_CHECKING:
    from twilio.rest import Client

DEFAULT_API_BASE_URL = "https://api.twilio.com"
#: Seconds a REST request may take (connect + read) before it fails as transient.
DEFAULT_TIMEOUT_SECONDS = 15.0
#: Twilio's API host; regional/edge forms are `api.<edge>.<region>.twilio.com`.
_TWILIO_API_HOST = "api.twilio.com"
#: Twilio's codes for "too many requests" and its 5xx family.
_TRANSIENT_CODES = frozenset({20429, 20500, 20503, 20504})
#: HTTP statuses that are worth retrying besides 429 and 5xx.
_TRANSIENT_STATUSES = frozenset({408, 429})
#: Page sizes above this are rejected by Twilio.
MAX_PAGE_SIZE = 1000
CALL_PROGRESS_EVENTS = ("initiated", "ringing", "answered", "completed")
#: The twilio HTTP clients log every request at INFO, query strings included (phone numbers of
#: list filters): they log here instead, at WARNING unless someone lowers it on purpose, and
#: with numbers masked even then.
HTTP_LOGGER = get_logger("switchboard.twilio.client.http")
HTTP_LOGGER.setLevel(logging.WARNING)


class TwilioSettings(Protocol):
    """The settings the factory reads (``switchboard.settings.Settings`` satisfies it)."""

    @property
    def twilio_account_sid(self) -> str | None: ...
    @property
    def twilio_auth_token(self) -> str | None: ...
    @property
    def twilio_api_key_sid(self) -> str | None: ...
    @property
    def twilio_api_key_secret(self) -> str | None: ...
    @property
    def twilio_api_base_url(self) -> str: ...
    @property
    def sms_send_concurrency(self) -> int: ...


# --------------------------------------------------------------------------------------------
# Base URL rewriting
# --------------------------------------------------------------------------------------------


def rewrite_api_url(url: str, base_url: str) -> str:
    """`url` with scheme, host and port of ``https://api.twilio.com`` replaced by `base_url`'s.

    URLs on other hosts are returned unchanged; a path in `base_url` becomes a prefix.
    """
    base = urlsplit(base_url)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not (host == _TWILIO_API_HOST or (host.startswith("api.") and host.endswith(".twilio.com"))):
        return url
    if (base.scheme, base.netloc.lower(), base.path.rstrip("/")) == ("https", _TWILIO_API_HOST, ""):
        return url
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def _normalise_base_url(base_url: str | None) -> str:
    value = (base_url or DEFAULT_API_BASE_URL).strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        from switchboard.settings import SettingProblem, SettingsError

        raise SettingsError(
            [SettingProblem("TWILIO_API_BASE_URL", "must be an absolute http(s) URL")]
        )
    return value


def _form_items(data: Mapping[str, object] | None) -> list[tuple[str, str]] | None:
    """Form fields as (name, value) pairs: lists become repeated fields (MediaUrl, ...)."""
    if data is None:
        return None
    items: list[tuple[str, str]] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            items.extend((key, _form_value(v)) for v in value if v is not None)
        else:
            items.append((key, _form_value(value)))
    return items


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------------------------
# Factories
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ClientConfig:
    account_sid: str
    username: str
    password: str = field(repr=False)
    base_url: str
    pool_size: int
    timeout: float


def _client_config(settings: TwilioSettings, timeout: float) -> _ClientConfig:
    from switchboard.settings import MissingSettingError

    account_sid = settings.twilio_account_sid
    if not account_sid:
        raise MissingSettingError("TWILIO_ACCOUNT_SID", "Twilio REST calls")
    if settings.twilio_api_key_sid and settings.twilio_api_key_secret:
        username, password = settings.twilio_api_key_sid, settings.twilio_api_key_secret
    elif settings.twilio_auth_token:
        username, password = account_sid, settings.twilio_auth_token
    else:
        raise MissingSettingError(
            "TWILIO_AUTH_TOKEN", "Twilio REST calls (or TWILIO_API_KEY_SID with its secret)"
        )
    if timeout <= 0:
        raise ValueError("timeout must be above zero")
    return _ClientConfig(
        account_sid=account_sid,
        username=username,
        password=password,
        base_url=_normalise_base_url(settings.twilio_api_base_url),
        pool_size=max(1, int(settings.sms_send_concurrency)),
        timeout=timeout,
    )


def _sync_http_client(config: _ClientConfig) -> Any:
    from requests.adapters import HTTPAdapter
    from twilio.http.http_client import TwilioHttpClient
    from twilio.http.response import Response

    class RewritingTwilioHttpClient(TwilioHttpClient):  # type: ignore[misc]
        """TwilioHttpClient sending to `base_url` with a pool sized to the concurrency."""

        def __init__(self, base_url: str, pool_size: int, timeout: float) -> None:
            super().__init__(pool_connections=True, timeout=timeout, logger=HTTP_LOGGER)
            self.base_url = base_url
            for prefix in ("http://", "https://"):
                self.session.mount(
                    prefix,
                    HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0),
                )

        def request(
            self,
            method: str,
            url: str,
            params: dict[str, object] | None = None,
            data: dict[str, object] | None = None,
            headers: dict[str, str] | None = None,
            auth: tuple[str, str] | None = None,
            timeout: float | None = None,
            allow_redirects: bool = False,
        ) -> Response:
            return super().request(
                method,
                rewrite_api_url(url, self.base_url),
                params=params,
                data=data,
                headers=headers,
                auth=auth,
                timeout=timeout,
                allow_redirects=allow_redirects,
            )

    return RewritingTwilioHttpClient(config.base_url, config.pool_size, config.timeout)


def _async_http_client(config: _ClientConfig) -> Any:
    import aiohttp
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.http.request import Request as TwilioRequest
    from twilio.http.response import Response

    class RewritingAsyncTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
        """AsyncTwilioHttpClient sending to `base_url`, `pool_size` connections, a timeout.

        The aiohttp session is created on the first request, inside the running loop; close
        the client with ``await client.http_client.close()`` (or use ``async_client``).
        Repeated form fields (MediaUrl, StatusCallbackEvent) are sent as Twilio expects, and
        basic auth is written as a header (no aiohttp BasicAuth deprecation warning).
        """

        def __init__(self, base_url: str, pool_size: int, timeout: float) -> None:
            super().__init__(pool_connections=False, timeout=timeout, logger=HTTP_LOGGER)
            self.base_url = base_url
            self.pool_size = pool_size
            self.session: aiohttp.ClientSession | None = None

        def _session(self) -> aiohttp.ClientSession:
            if self.session is None or self.session.closed:
                connector = aiohttp.TCPConnector(
                    limit=self.pool_size, limit_per_host=self.pool_size
                )
                self.session = aiohttp.ClientSession(connector=connector)
            return self.session

        async def request(
            self,
            method: str,
            url: str,
            params: dict[str, object] | None = None,
            data: dict[str, object] | None = None,
            headers: dict[str, str] | None = None,
            auth: tuple[str, str] | None = None,
            timeout: float | None = None,  # noqa: ASYNC109 (the HttpClient interface)
            allow_redirects: bool = False,
        ) -> Response:
            if timeout is not None and timeout <= 0:
                raise ValueError(timeout)
            all_headers = dict(headers or {})
            if auth is not None:
                token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
                all_headers["Authorization"] = f"Basic {token}"
            target = rewrite_api_url(url, self.base_url)
            query = _form_items(params)
            body = _form_items(data)
            kwargs: dict[str, Any] = {
                "method": method.upper(),
                "url": target,
                "params": query,
                "headers": all_headers,
                "allow_redirects": allow_redirects,
                "timeout": aiohttp.ClientTimeout(total=timeout or self.timeout),
            }
            if all_headers.get("Content-Type") == "application/json":
                kwargs["json"] = data
            elif body is not None and kwargs["method"] not in {"GET", "DELETE"}:
                kwargs["data"] = aiohttp.FormData(body)
            self.log_request({**kwargs, "headers": headers, "auth": None, "data": data})
            self._test_only_last_request = TwilioRequest(
                method=kwargs["method"], url=target, params=params, data=data, headers=headers
            )
            async with self._session().request(**kwargs) as response:
                text = await response.text()
                self.log_response(response.status, response)
                self._test_only_last_response = Response(response.status, text, response.headers)
            return self._test_only_last_response

        async def close(self) -> None:
            session, self.session = self.session, None
            if session is not None:
                await session.close()

        async def __aexit__(self, *excinfo: object) -> None:
            await self.close()

    return RewritingAsyncTwilioHttpClient(config.base_url, config.pool_size, config.timeout)


def _make_client(config: _ClientConfig, http_client: Any) -> Client:
    from twilio.rest import Client

    if config.username == config.account_sid:
        return Client(config.username, config.password, http_client=http_client)
    return Client(config.username, config.password, config.account_sid, http_client=http_client)


def build_client(settings: TwilioSettings, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Client:
    """A new synchronous twilio Client for `settings` (prefer the cached :func:`get_client`).

    Raises ``MissingSettingError`` naming the missing credential setting.
    """
    config = _client_config(settings, timeout)
    return _make_client(config, _sync_http_client(config))


def build_async_client(
    settings: TwilioSettings, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> Client:
    """A new twilio Client for the ``*_async`` methods (aiohttp); close it with
    ``await close_async_client(client)`` or use :func:`async_client` instead."""
    config = _client_config(settings, timeout)
    return _make_client(config, _async_http_client(config))


async def close_async_client(client: Client) -> None:
    """Close the aiohttp session of a client from :func:`build_async_client`."""
    close = getattr(client.http_client, "close", None)
    if close is not None:
        await close()


@asynccontextmanager
async def async_client(
    settings: TwilioSettings,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,  # noqa: ASYNC109 (per-request HTTP timeout)
) -> AsyncIterator[Client]:
    """``async with async_client(settings) as client:`` an async client, closed at the end."""
    client = build_async_client(settings, timeout=timeout)
    try:
        yield client
    finally:
        await close_async_client(client)


_cache_lock = threading.Lock()
_cached_clients: dict[_ClientConfig, Client] = {}


def get_client(settings: TwilioSettings, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Client:
    """The process's synchronous client for these settings, built once (thread-safe).

    The cache is keyed by credentials, base URL, pool size and timeout, so changed settings
    (tests, key rotation after a settings reload) get a fresh client.
    """
    config = _client_config(settings, timeout)
    client = _cached_clients.get(config)
    if client is not None:
        return client
    with _cache_lock:
        client = _cached_clients.get(config)
        if client is None:
            client = _make_client(config, _sync_http_client(config))
            _cached_clients[config] = client
        return client


def reset_client_cache() -> None:
    """Forget cached clients (tests); their connection pools are closed."""
    with _cache_lock:
        clients = list(_cached_clients.values())
        _cached_clients.clear()
    for client in clients:
        session = getattr(client.http_client, "session", None)
        if session is not None:
            session.close()


# --------------------------------------------------------------------------------------------
# Error classification
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwilioFailure:
    """A failed Twilio request: whether retrying may help, HTTP status, Twilio code, message."""

    transient: bool
    status: int | None
    code: int | None
    message: str

    @property
    def permanent(self) -> bool:
        """The opposite of `transient`."""
        return not self.transient


def _is_instance(exc: BaseException, module: str, names: Iterable[str]) -> bool:
    """isinstance against classes of `module`, only if that module is already imported.

    An exception of a library that was never imported cannot exist, so this stays pure and
    import-free.
    """
    mod = sys.modules.get(module)
    if mod is None:
        return False
    classes = tuple(c for c in (getattr(mod, n, None) for n in names) if isinstance(c, type))
    return bool(classes) and isinstance(exc, classes)


def _strip_prefix(message: str) -> str:
    """Twilio's own message, without the library's "Unable to create record: " prefix."""
    if message.startswith("Unable to") and ": " in message:
        return message.split(": ", 1)[1]
    return message


def _http_failure(status: int, code: int | None, message: str) -> TwilioFailure:
    transient = status >= 500 or status in _TRANSIENT_STATUSES or code in _TRANSIENT_CODES
    return TwilioFailure(transient=transient, status=status, code=code, message=message)


def _twilio_code(raw: object, status: int | None) -> int | None:
    """Twilio's error code; the library fills the HTTP status in when Twilio sent none."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        code = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return None if code == status else code


def _from_response(response: object, fallback: str) -> TwilioFailure | None:
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    code: int | None = None
    message = fallback
    try:
        payload = json.loads(str(getattr(response, "text", "")))
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = _twilio_code(payload.get("code"), status)
        message = str(payload.get("message") or payload.get("detail") or fallback)
    return _http_failure(status, code, message)


def classify_twilio_error(exc: BaseException) -> TwilioFailure:
    """Classify any failure of a Twilio REST call (pure; no import, no I/O).

    Transient: HTTP 429 or Twilio code 20429, 408, any 5xx, timeouts and connection errors of
    requests, urllib3, aiohttp or the OS (also when wrapped in a ``TwilioException``).
    Permanent: other 4xx (with Twilio's code and message) and anything unrecognised.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        result = _classify_one(current)
        if result is not None:
            return result
        current = current.__cause__ or current.__context__
    return TwilioFailure(transient=False, status=None, code=None, message=_describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _classify_one(exc: BaseException) -> TwilioFailure | None:
    twilio_mod = "twilio.base.exceptions"
    if _is_instance(exc, twilio_mod, ["TwilioRestException", "TwilioServiceException"]):
        status = getattr(exc, "status", None)
        raw_message = getattr(exc, "msg", None) or getattr(exc, "detail", None)
        raw_message = raw_message or getattr(exc, "title", None) or _describe(exc)
        message = _strip_prefix(str(raw_message))
        if not isinstance(status, int):
            return TwilioFailure(
                False, None, _twilio_code(getattr(exc, "code", None), None), message
            )
        return _http_failure(status, _twilio_code(getattr(exc, "code", None), status), message)
    if _is_instance(exc, twilio_mod, ["TwilioException"]):
        # Page.process_response raises TwilioException("Unable to fetch page", response).
        for arg in exc.args[1:]:
            result = _from_response(arg, str(exc.args[0]))
            if result is not None:
                return result
        return None  # look at the cause (a transport error wrapped by the caller), if any
    if _is_instance(
        exc,
        "requests.exceptions",
        ["Timeout", "ConnectionError", "ChunkedEncodingError", "ContentDecodingError"],
    ):
        return TwilioFailure(True, None, None, _describe(exc))
    if _is_instance(exc, "requests.exceptions", ["RequestException"]):
        response = getattr(exc, "response", None)
        result = _from_response(response, _describe(exc)) if response is not None else None
        return result or TwilioFailure(False, None, None, _describe(exc))
    if _is_instance(
        exc,
        "urllib3.exceptions",
        ["TimeoutError", "ProtocolError", "NewConnectionError", "MaxRetryError"],
    ):
        return TwilioFailure(True, None, None, _describe(exc))
    if _is_instance(exc, "aiohttp", ["ClientResponseError"]):
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status > 0:
            return _http_failure(status, None, str(getattr(exc, "message", "")) or _describe(exc))
        return TwilioFailure(True, None, None, _describe(exc))
    if _is_instance(exc, "aiohttp", ["InvalidURL"]):
        return TwilioFailure(False, None, None, _describe(exc))
    if _is_instance(
        exc, "aiohttp", ["ClientConnectionError", "ClientPayloadError", "ServerTimeoutError"]
    ):
        return TwilioFailure(True, None, None, _describe(exc))
    if isinstance(exc, TimeoutError | ConnectionError):
        return TwilioFailure(True, None, None, _describe(exc))
    return None


# --------------------------------------------------------------------------------------------
# REST operations (plain results)
# --------------------------------------------------------------------------------------------


class Created(NamedTuple):
    """A created message or call: its SID and Twilio's initial status (``queued``)."""

    sid: str
    status: str


@dataclass(frozen=True)
class MessageRecord:
    """A Message resource, as plain data."""

    sid: str
    account_sid: str | None
    to: str | None
    from_: str | None
    body: str | None
    status: str | None
    direction: str | None
    num_media: int | None
    num_segments: int | None
    error_code: int | None
    error_message: str | None
    messaging_service_sid: str | None
    price: str | None
    price_unit: str | None
    date_created: datetime | None
    date_sent: datetime | None
    date_updated: datetime | None


@dataclass(frozen=True)
class CallRecord:
    """A Call resource, as plain data."""

    sid: str
    account_sid: str | None
    to: str | None
    from_: str | None
    status: str | None
    direction: str | None
    duration: int | None
    answered_by: str | None
    price: str | None
    price_unit: str | None
    date_created: datetime | None
    start_time: datetime | None
    end_time: datetime | None


@dataclass(frozen=True)
class IncomingNumber:
    """An IncomingPhoneNumber: number, name, capabilities and webhook URLs."""

    sid: str
    phone_number: str
    friendly_name: str | None
    capabilities: dict[str, bool]
    voice_url: str | None
    voice_method: str | None
    sms_url: str | None
    sms_method: str | None
    status_callback: str | None


@dataclass(frozen=True)
class UsageRecord:
    """A usage record for a period and category (amounts as Twilio's decimal strings)."""

    category: str
    description: str | None
    usage: str | None
    usage_unit: str | None
    count: str | None
    count_unit: str | None
    price: str | None
    price_unit: str | None
    start_date: date | None
    end_date: date | None


def _str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _int(value: object) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _datetime(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _utc(moment: datetime | date) -> datetime | date:
    """Aware datetimes in UTC (the library formats them as ``...Z`` without converting)."""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment


def _message(instance: Any) -> MessageRecord:
    return MessageRecord(
        sid=str(instance.sid),
        account_sid=_str(instance.account_sid),
        to=_str(instance.to),
        from_=_str(instance.from_),
        body=_str(instance.body),
        status=_str(instance.status),
        direction=_str(instance.direction),
        num_media=_int(instance.num_media),
        num_segments=_int(instance.num_segments),
        error_code=_int(instance.error_code),
        error_message=_str(instance.error_message),
        messaging_service_sid=_str(instance.messaging_service_sid),
        price=_str(instance.price),
        price_unit=_str(instance.price_unit),
        date_created=_datetime(instance.date_created),
        date_sent=_datetime(instance.date_sent),
        date_updated=_datetime(instance.date_updated),
    )


def _call(instance: Any) -> CallRecord:
    return CallRecord(
        sid=str(instance.sid),
        account_sid=_str(instance.account_sid),
        to=_str(instance.to),
        # CallInstance names it `_from` (MessageInstance `from_`)
        from_=_str(getattr(instance, "from_", None) or getattr(instance, "_from", None)),
        status=_str(instance.status),
        direction=_str(instance.direction),
        duration=_int(instance.duration),
        answered_by=_str(instance.answered_by),
        price=_str(instance.price),
        price_unit=_str(instance.price_unit),
        date_created=_datetime(instance.date_created),
        start_time=_datetime(instance.start_time),
        end_time=_datetime(instance.end_time),
    )


def _number(instance: Any) -> IncomingNumber:
    raw_caps = instance.capabilities if isinstance(instance.capabilities, dict) else {}
    capabilities = {str(k).lower(): bool(v) for k, v in raw_caps.items()}
    return IncomingNumber(
        sid=str(instance.sid),
        phone_number=str(instance.phone_number),
        friendly_name=_str(instance.friendly_name),
        capabilities=capabilities,
        voice_url=_str(instance.voice_url),
        voice_method=_str(instance.voice_method),
        sms_url=_str(instance.sms_url),
        sms_method=_str(instance.sms_method),
        status_callback=_str(instance.status_callback),
    )


def _usage(instance: Any) -> UsageRecord:
    return UsageRecord(
        category=str(instance.category),
        description=_str(instance.description),
        usage=_str(instance.usage),
        usage_unit=_str(instance.usage_unit),
        count=_str(instance.count),
        count_unit=_str(instance.count_unit),
        price=_str(instance.price),
        price_unit=_str(instance.price_unit),
        start_date=_date(instance.start_date),
        end_date=_date(instance.end_date),
    )


def _sms_arguments(
    *,
    to: str,
    body: str | None,
    from_: str | None,
    messaging_service_sid: str | None,
    status_callback: str | None,
    media_urls: Sequence[str] | None,
) -> dict[str, Any]:
    if not from_ and not messaging_service_sid:
        raise ValueError("send_sms needs from_ or messaging_service_sid")
    media = [url for url in media_urls or () if url]
    if not body and not media:
        raise ValueError("send_sms needs a body or media_urls")
    arguments: dict[str, Any] = {"to": to}
    if body:
        arguments["body"] = body
    if from_:
        arguments["from_"] = from_
    if messaging_service_sid:
        arguments["messaging_service_sid"] = messaging_service_sid
    if status_callback:
        arguments["status_callback"] = status_callback
    if media:
        arguments["media_url"] = media
    return arguments


def _call_arguments(
    *,
    to: str,
    from_: str,
    twiml: str | None,
    url: str | None,
    status_callback: str | None,
    status_callback_events: Sequence[str],
    machine_detection: str | None,
    timeout: int | None,
    record: bool | None,
) -> dict[str, Any]:
    if (twiml is None) == (url is None):
        raise ValueError("create_call needs exactly one of twiml and url")
    arguments: dict[str, Any] = {"to": to, "from_": from_}
    if twiml is not None:
        arguments["twiml"] = twiml
    else:
        arguments["url"] = url
        arguments["method"] = "POST"
    if status_callback:
        arguments["status_callback"] = status_callback
        arguments["status_callback_method"] = "POST"
        if status_callback_events:
            arguments["status_callback_event"] = list(status_callback_events)
    if machine_detection:
        arguments["machine_detection"] = machine_detection
    if timeout is not None:
        arguments["timeout"] = int(timeout)
    if record is not None:
        arguments["record"] = bool(record)
    return arguments


def send_sms(
    client: Client,
    *,
    to: str,
    body: str | None,
    from_: str | None = None,
    messaging_service_sid: str | None = None,
    status_callback: str | None = None,
    media_urls: Sequence[str] | None = None,
) -> Created:
    """Send an SMS/MMS (POST Messages.json); returns (sid, status). Raises Twilio's errors."""
    message = client.messages.create(
        **_sms_arguments(
            to=to,
            body=body,
            from_=from_,
            messaging_service_sid=messaging_service_sid,
            status_callback=status_callback,
            media_urls=media_urls,
        )
    )
    return Created(str(message.sid), str(message.status))


async def send_sms_async(
    client: Client,
    *,
    to: str,
    body: str | None,
    from_: str | None = None,
    messaging_service_sid: str | None = None,
    status_callback: str | None = None,
    media_urls: Sequence[str] | None = None,
) -> Created:
    """:func:`send_sms` with a client from :func:`build_async_client`."""
    message = await client.messages.create_async(
        **_sms_arguments(
            to=to,
            body=body,
            from_=from_,
            messaging_service_sid=messaging_service_sid,
            status_callback=status_callback,
            media_urls=media_urls,
        )
    )
    return Created(str(message.sid), str(message.status))


def create_call(
    client: Client,
    *,
    to: str,
    from_: str,
    twiml: str | None = None,
    url: str | None = None,
    status_callback: str | None = None,
    status_callback_events: Sequence[str] = CALL_PROGRESS_EVENTS,
    machine_detection: str | None = None,
    timeout: int | None = None,
    record: bool | None = None,
) -> Created:
    """Place an outbound call (POST Calls.json) with TwiML or a TwiML URL; returns (sid, status).

    `status_callback_events` are sent only with a `status_callback` (POST).
    """
    call = client.calls.create(
        **_call_arguments(
            to=to,
            from_=from_,
            twiml=twiml,
            url=url,
            status_callback=status_callback,
            status_callback_events=status_callback_events,
            machine_detection=machine_detection,
            timeout=timeout,
            record=record,
        )
    )
    return Created(str(call.sid), str(call.status))


async def create_call_async(
    client: Client,
    *,
    to: str,
    from_: str,
    twiml: str | None = None,
    url: str | None = None,
    status_callback: str | None = None,
    status_callback_events: Sequence[str] = CALL_PROGRESS_EVENTS,
    machine_detection: str | None = None,
    timeout: int | None = None,  # noqa: ASYNC109 (Twilio's ring timeout, not ours)
    record: bool | None = None,
) -> Created:
    """:func:`create_call` with a client from :func:`build_async_client`."""
    call = await client.calls.create_async(
        **_call_arguments(
            to=to,
            from_=from_,
            twiml=twiml,
            url=url,
            status_callback=status_callback,
            status_callback_events=status_callback_events,
            machine_detection=machine_detection,
            timeout=timeout,
            record=record,
        )
    )
    return Created(str(call.sid), str(call.status))


def fetch_message(client: Client, sid: str) -> MessageRecord:
    """GET Messages/{sid}.json."""
    return _message(client.messages(sid).fetch())


def fetch_call(client: Client, sid: str) -> CallRecord:
    """GET Calls/{sid}.json."""
    return _call(client.calls(sid).fetch())


def _limit(limit: int) -> tuple[int, int]:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return limit, min(limit, MAX_PAGE_SIZE)


def list_messages(
    client: Client,
    *,
    to: str | None = None,
    from_: str | None = None,
    date_sent: date | datetime | None = None,
    date_sent_before: date | datetime | None = None,
    date_sent_after: date | datetime | None = None,
    limit: int = 50,
) -> list[MessageRecord]:
    """Messages, newest first, filtered like Twilio (``DateSent``, ``DateSent<``, ``DateSent>``).

    At most `limit` records are read (paging stops there).
    """
    count, page_size = _limit(limit)
    arguments: dict[str, Any] = {"limit": count, "page_size": page_size}
    if to:
        arguments["to"] = to
    if from_:
        arguments["from_"] = from_
    if date_sent is not None:
        arguments["date_sent"] = _utc(date_sent)
    if date_sent_before is not None:
        arguments["date_sent_before"] = _utc(date_sent_before)
    if date_sent_after is not None:
        arguments["date_sent_after"] = _utc(date_sent_after)
    return [_message(m) for m in client.messages.list(**arguments)]


def list_calls(
    client: Client,
    *,
    to: str | None = None,
    from_: str | None = None,
    start_time_after: date | datetime | None = None,
    limit: int = 50,
) -> list[CallRecord]:
    """Calls, newest first, filtered like Twilio (``To``, ``From``, ``StartTime>``: started on
    or after; Twilio documents it by day, so callers compare times themselves).

    A call not yet dialed has no start time and only appears without ``StartTime>``. At most
    `limit` records are read (paging stops there).
    """
    count, page_size = _limit(limit)
    arguments: dict[str, Any] = {"limit": count, "page_size": page_size}
    if to:
        arguments["to"] = to
    if from_:
        arguments["from_"] = from_
    if start_time_after is not None:
        arguments["start_time_after"] = _utc(start_time_after)
    return [_call(c) for c in client.calls.list(**arguments)]


def list_incoming_numbers(client: Client, limit: int = 50) -> list[IncomingNumber]:
    """The account's incoming phone numbers (at most `limit`)."""
    count, page_size = _limit(limit)
    return [
        _number(n) for n in client.incoming_phone_numbers.list(limit=count, page_size=page_size)
    ]


def list_usage_records(
    client: Client,
    start_date: date | None = None,
    end_date: date | None = None,
    category: str | None = None,
    limit: int = 50,
) -> list[UsageRecord]:
    """Usage records for the period [start_date, end_date] (dates in GMT), one per category."""
    count, page_size = _limit(limit)
    arguments: dict[str, Any] = {"limit": count, "page_size": page_size}
    if start_date is not None:
        arguments["start_date"] = start_date
    if end_date is not None:
        arguments["end_date"] = end_date
    if category:
        arguments["category"] = category
    return [_usage(r) for r in client.usage.records.list(**arguments)]


def fetch_account_status(client: Client) -> str:
    """The account's status (``active``, ``suspended``, ``closed``): a cheap health probe."""
    account = client.api.v2010.accounts(client.account_sid).fetch()
    return str(account.status)


def twilio_reachable(settings: TwilioSettings, timeout: float = 5.0) -> tuple[bool, str]:
    """Whether the REST API answers with these credentials: (ok, non-secret detail)."""
    try:
        status = fetch_account_status(get_client(settings, timeout=timeout))
    except Exception as exc:  # any failure is "not reachable"; the detail says which kind
        failure = classify_twilio_error(exc)
        return False, f"HTTP {failure.status}" if failure.status else type(exc).__name__
    return status == "active", f"account {status}"
