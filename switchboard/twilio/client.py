"""The Twilio REST client of Switchboard: one factory (sync and async transports) and the few
REST requests the app makes, each written once.

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
- Each REST request (:func:`message_create`, :func:`call_create`, :func:`message_list`, the
  call queues' :func:`queue_create`, :func:`queue_fetch`, :func:`queue_front`, ...) is
  a :class:`RestCall`: its arguments are built and checked, and its answer parsed into plain
  dataclasses (never twilio instance objects), in one place for both transports. ``send_sms``,
  ``create_call``, ``list_messages``, ... run them on a synchronous client; ``send_sms_async``
  and ``create_call_async`` on an async one.
- Failures are classified by :func:`switchboard.twilio.errors.classify_twilio_error`, the same
  for both transports.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    NamedTuple,
    ParamSpec,
    Protocol,
    TypeVar,
)
from urllib.parse import urlsplit, urlunsplit

from switchboard.logs import get_logger
from switchboard.twilio.errors import classify_twilio_error

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from twilio.rest import Client

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_API_BASE_URL = "https://api.twilio.com"
#: Seconds a REST request may take (connect + read) before it fails as transient.
DEFAULT_TIMEOUT_SECONDS = 15.0
#: Twilio's API host; regional/edge forms are `api.<edge>.<region>.twilio.com`.
_TWILIO_API_HOST = "api.twilio.com"
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


def _is_twilio_api_host(hostname: str | None) -> bool:
    """api.twilio.com or one of its regional/edge forms."""
    host = (hostname or "").lower()
    return host == _TWILIO_API_HOST or (host.startswith("api.") and host.endswith(".twilio.com"))


def rewrite_api_url(url: str, base_url: str) -> str:
    """`url` with scheme, host and port of ``https://api.twilio.com`` replaced by `base_url`'s.

    URLs on other hosts are returned unchanged; a path in `base_url` becomes a prefix.
    """
    base = urlsplit(base_url)
    parts = urlsplit(url)
    if not _is_twilio_api_host(parts.hostname):
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

        def request(self, method: str, url: str, **options: Any) -> Response:
            return super().request(method, rewrite_api_url(url, self.base_url), **options)

    return RewritingTwilioHttpClient(config.base_url, config.pool_size, config.timeout)


def _async_http_client(config: _ClientConfig) -> Any:
    import aiohttp
    from twilio.http.async_http_client import AsyncTwilioHttpClient
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
            async with self._session().request(**kwargs) as response:
                text = await response.text()
                self.log_response(response.status, response)
                return Response(response.status, text, response.headers)

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
    status_callback_method: str | None = None
    voice_fallback_url: str | None = None
    voice_fallback_method: str | None = None
    sms_fallback_url: str | None = None
    sms_fallback_method: str | None = None


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


@dataclass(frozen=True)
class RecordingRecord:
    """A Recording resource, as plain data (``media_url``: where its audio is)."""

    sid: str
    account_sid: str | None
    call_sid: str | None
    status: str | None
    duration: int | None
    channels: int | None
    source: str | None
    media_url: str | None
    start_time: datetime | None
    date_created: datetime | None


@dataclass(frozen=True)
class QueueRecord:
    """A Queue resource (a call queue), as plain data."""

    sid: str
    friendly_name: str | None
    current_size: int | None
    max_size: int | None
    average_wait_time: int | None
    date_created: datetime | None
    date_updated: datetime | None


@dataclass(frozen=True)
class QueueMember:
    """A call waiting in a queue: its CallSid, its place and how long it has waited."""

    call_sid: str
    queue_sid: str | None
    position: int | None
    wait_time: int | None
    date_enqueued: datetime | None


@dataclass(frozen=True)
class Media:
    """A media file downloaded from Twilio: its bytes and their type."""

    content: bytes
    content_type: str


class MediaTooLarge(ValueError):
    """A media file is larger than the caller wanted to download."""


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


def _utc(moment: datetime | date | None) -> datetime | date | None:
    """Aware datetimes in UTC (the library formats them as ``...Z`` without converting)."""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment


def _capabilities(value: object) -> dict[str, bool]:
    raw = value if isinstance(value, dict) else {}
    return {str(k).lower(): bool(v) for k, v in raw.items()}


#: How a field's declared type is read from a twilio instance's attribute of the same name.
_READERS: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "str | None": _str,
    "int | None": _int,
    "datetime | None": _datetime,
    "date | None": _date,
    "dict[str, bool]": _capabilities,
}
R = TypeVar("R", bound="DataclassInstance")


def _reader(cls: type[R], **renamed: str) -> Callable[[Any], R]:
    """A parser of twilio instances into `cls`: each field read from the instance attribute of
    the same name (or the one `renamed` gives) and converted by the field's declared type."""
    plan = [
        (f.name, renamed.get(f.name, f.name), _READERS[str(f.type)])
        for f in dataclasses.fields(cls)
    ]

    def read(instance: Any) -> R:
        return cls(**{name: convert(getattr(instance, attr, None)) for name, attr, convert in plan})

    return read


_message = _reader(MessageRecord)
# CallInstance names it `_from` (MessageInstance `from_`).
_call = _reader(CallRecord, from_="_from")
_number = _reader(IncomingNumber)
_usage = _reader(UsageRecord)
_recording = _reader(RecordingRecord)
_queue = _reader(QueueRecord)
_member = _reader(QueueMember)


# --- the requests: each written once, for both transports ---


@dataclass(frozen=True)
class RestCall(Generic[T]):
    """One REST request of the twilio library, written once: the resource it goes to, the
    method, its arguments, and how the answer becomes plain data.

    Only the transport differs: `send` calls the method on a synchronous client, `send_async`
    its ``*_async`` twin (same arguments, same answer) on a client from `build_async_client`.
    """

    resource: Callable[[Client], Any]
    method: str
    arguments: Mapping[str, Any]
    read: Callable[[Any], T]

    def send(self, client: Client) -> T:
        """The request on a synchronous client (requests)."""
        return self.read(getattr(self.resource(client), self.method)(**self.arguments))

    async def send_async(self, client: Client) -> T:
        """The request on an async client (aiohttp)."""
        answer = await getattr(self.resource(client), self.method + "_async")(**self.arguments)
        return self.read(answer)


def _on_sync_client(build: Callable[P, RestCall[T]]) -> Callable[Concatenate[Client, P], T]:
    """`build`'s request as a function of a synchronous client: ``f(client, **arguments)``."""

    def send(client: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return build(*args, **kwargs).send(client)

    send.__doc__ = build.__doc__
    return send


def _on_async_client(
    build: Callable[P, RestCall[T]],
) -> Callable[Concatenate[Client, P], Awaitable[T]]:
    """`build`'s request as a coroutine function of an async client."""

    async def send(client: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await build(*args, **kwargs).send_async(client)

    send.__doc__ = build.__doc__
    return send


def _created(instance: Any) -> Created:
    return Created(str(instance.sid), str(instance.status))


def _page(limit: int) -> dict[str, int]:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return {"limit": limit, "page_size": min(limit, MAX_PAGE_SIZE)}


def _listed(read: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    return lambda instances: [read(instance) for instance in instances]


def _given(**arguments: Any) -> dict[str, Any]:
    """The arguments that are set (None and empty values are left out, as Twilio expects)."""
    return {name: value for name, value in arguments.items() if value not in (None, "", [], ())}


def message_create(
    *,
    to: str,
    body: str | None,
    from_: str | None = None,
    messaging_service_sid: str | None = None,
    status_callback: str | None = None,
    media_urls: Sequence[str] | None = None,
) -> RestCall[Created]:
    """Send an SMS/MMS (POST Messages.json); returns (sid, status). Raises Twilio's errors.

    Checked before any request: a sender (`from_` or a Messaging Service) and a body or media.
    """
    if not from_ and not messaging_service_sid:
        raise ValueError("send_sms needs from_ or messaging_service_sid")
    media = [url for url in media_urls or () if url]
    if not body and not media:
        raise ValueError("send_sms needs a body or media_urls")
    arguments = _given(
        to=to,
        body=body,
        from_=from_,
        messaging_service_sid=messaging_service_sid,
        status_callback=status_callback,
        media_url=media,
    )
    return RestCall(lambda client: client.messages, "create", arguments, _created)


def call_create(
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
) -> RestCall[Created]:
    """Place an outbound call (POST Calls.json) with TwiML or a TwiML URL; returns (sid, status).

    `status_callback_events` are sent only with a `status_callback` (POST).
    """
    if (twiml is None) == (url is None):
        raise ValueError("create_call needs exactly one of twiml and url")
    arguments: dict[str, Any] = {"to": to, "from_": from_}
    if twiml is not None:
        arguments["twiml"] = twiml
    else:
        arguments.update(url=url, method="POST")
    if status_callback:
        arguments.update(status_callback=status_callback, status_callback_method="POST")
        if status_callback_events:
            arguments["status_callback_event"] = list(status_callback_events)
    if machine_detection:
        arguments["machine_detection"] = machine_detection
    if timeout is not None:
        arguments["timeout"] = int(timeout)
    if record is not None:
        arguments["record"] = bool(record)
    return RestCall(lambda client: client.calls, "create", arguments, _created)


def message_fetch(sid: str) -> RestCall[MessageRecord]:
    """GET Messages/{sid}.json."""
    return RestCall(lambda client: client.messages(sid), "fetch", {}, _message)


def call_fetch(sid: str) -> RestCall[CallRecord]:
    """GET Calls/{sid}.json."""
    return RestCall(lambda client: client.calls(sid), "fetch", {}, _call)


def message_list(
    *,
    to: str | None = None,
    from_: str | None = None,
    date_sent: date | datetime | None = None,
    date_sent_before: date | datetime | None = None,
    date_sent_after: date | datetime | None = None,
    limit: int = 50,
) -> RestCall[list[MessageRecord]]:
    """Messages, newest first, filtered like Twilio (``DateSent``, ``DateSent<``, ``DateSent>``).

    At most `limit` records are read (paging stops there).
    """
    arguments = {
        **_page(limit),
        **_given(
            to=to,
            from_=from_,
            date_sent=_utc(date_sent),
            date_sent_before=_utc(date_sent_before),
            date_sent_after=_utc(date_sent_after),
        ),
    }
    return RestCall(lambda client: client.messages, "list", arguments, _listed(_message))


def call_list(
    *,
    to: str | None = None,
    from_: str | None = None,
    start_time_after: date | datetime | None = None,
    limit: int = 50,
) -> RestCall[list[CallRecord]]:
    """Calls, newest first, filtered like Twilio (``To``, ``From``, ``StartTime>``: started on
    or after; Twilio documents it by day, so callers compare times themselves).

    A call not yet dialed has no start time and only appears without ``StartTime>``. At most
    `limit` records are read (paging stops there).
    """
    arguments = {
        **_page(limit),
        **_given(to=to, from_=from_, start_time_after=_utc(start_time_after)),
    }
    return RestCall(lambda client: client.calls, "list", arguments, _listed(_call))


def incoming_number_list(limit: int = 50) -> RestCall[list[IncomingNumber]]:
    """The account's incoming phone numbers (at most `limit`)."""
    return RestCall(
        lambda client: client.incoming_phone_numbers, "list", _page(limit), _listed(_number)
    )


#: What `incoming_number_update` may change: IncomingPhoneNumbers' own parameter names.
NUMBER_WEBHOOK_FIELDS = (
    "VoiceUrl",
    "VoiceMethod",
    "VoiceFallbackUrl",
    "VoiceFallbackMethod",
    "SmsUrl",
    "SmsMethod",
    "SmsFallbackUrl",
    "SmsFallbackMethod",
    "StatusCallback",
    "StatusCallbackMethod",
)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def incoming_number_update(sid: str, changes: Mapping[str, str]) -> RestCall[IncomingNumber]:
    """POST IncomingPhoneNumbers/{sid}.json with only `changes` (names of
    `NUMBER_WEBHOOK_FIELDS`). Twilio's description types the URLs as URIs, so an empty value
    (which would clear one) is refused here rather than sent."""
    unknown = set(changes) - set(NUMBER_WEBHOOK_FIELDS)
    if unknown:
        raise ValueError(f"not a webhook field of a number: {sorted(unknown)}")
    empty = sorted(name for name, value in changes.items() if not value)
    if empty:
        raise ValueError(f"empty value for {empty}: Twilio expects a URL or method")
    arguments = {_snake(name): value for name, value in changes.items()}
    return RestCall(lambda client: client.incoming_phone_numbers(sid), "update", arguments, _number)


def usage_record_list(
    start_date: date | None = None,
    end_date: date | None = None,
    category: str | None = None,
    limit: int = 50,
) -> RestCall[list[UsageRecord]]:
    """Usage records for the period [start_date, end_date] (dates in GMT), one per category."""
    arguments = {
        **_page(limit),
        **_given(start_date=start_date, end_date=end_date, category=category),
    }
    return RestCall(lambda client: client.usage.records, "list", arguments, _listed(_usage))


def recording_fetch(sid: str) -> RestCall[RecordingRecord]:
    """GET Recordings/{sid}.json."""
    return RestCall(lambda client: client.recordings(sid), "fetch", {}, _recording)


#: Twilio's bounds on a queue's `MaxSize`.
QUEUE_MAX_SIZE = 5000


def _max_size(max_size: int) -> int:
    if not 1 <= max_size <= QUEUE_MAX_SIZE:
        raise ValueError(f"max_size must be 1-{QUEUE_MAX_SIZE}")
    return max_size


def queue_create(*, friendly_name: str, max_size: int) -> RestCall[QueueRecord]:
    """POST Queues.json: a call queue named `friendly_name` (at most 64 characters, unique in
    the account) holding at most `max_size` calls."""
    if not 0 < len(friendly_name) <= 64:
        raise ValueError("a queue's friendly_name is 1-64 characters")
    arguments = {"friendly_name": friendly_name, "max_size": _max_size(max_size)}
    return RestCall(lambda client: client.queues, "create", arguments, _queue)


def queue_fetch(sid: str) -> RestCall[QueueRecord]:
    """GET Queues/{sid}.json (its `current_size` and `average_wait_time` as of now)."""
    return RestCall(lambda client: client.queues(sid), "fetch", {}, _queue)


def queue_update(sid: str, *, max_size: int) -> RestCall[QueueRecord]:
    """POST Queues/{sid}.json with a new `MaxSize`."""
    arguments = {"max_size": _max_size(max_size)}
    return RestCall(lambda client: client.queues(sid), "update", arguments, _queue)


def queue_delete(sid: str) -> RestCall[bool]:
    """DELETE Queues/{sid}.json (Twilio refuses a queue that still holds calls)."""
    return RestCall(lambda client: client.queues(sid), "delete", {}, bool)


def queue_list(limit: int = 100) -> RestCall[list[QueueRecord]]:
    """The account's queues (at most `limit`)."""
    return RestCall(lambda client: client.queues, "list", _page(limit), _listed(_queue))


def queue_front(sid: str) -> RestCall[QueueMember]:
    """GET Queues/{sid}/Members/Front.json: the call at the front (404 when the queue is
    empty)."""
    return RestCall(lambda client: client.queues(sid).members("Front"), "fetch", {}, _member)


def account_fetch() -> RestCall[str]:
    """The account's status (``active``, ``suspended``, ``closed``): a cheap health probe."""
    return RestCall(
        lambda client: client.api.v2010.accounts(client.account_sid),
        "fetch",
        {},
        lambda account: str(account.status),
    )


#: The requests on the process's synchronous client (`get_client`): ``send_sms(client, ...)``.
send_sms = _on_sync_client(message_create)
create_call = _on_sync_client(call_create)
fetch_message = _on_sync_client(message_fetch)
fetch_call = _on_sync_client(call_fetch)
list_messages = _on_sync_client(message_list)
list_calls = _on_sync_client(call_list)
list_incoming_numbers = _on_sync_client(incoming_number_list)
update_incoming_number = _on_sync_client(incoming_number_update)
list_usage_records = _on_sync_client(usage_record_list)
fetch_account_status = _on_sync_client(account_fetch)
fetch_recording = _on_sync_client(recording_fetch)
create_queue = _on_sync_client(queue_create)
fetch_queue = _on_sync_client(queue_fetch)
update_queue = _on_sync_client(queue_update)
delete_queue = _on_sync_client(queue_delete)
list_queues = _on_sync_client(queue_list)
fetch_queue_front = _on_sync_client(queue_front)
#: The same requests on an async client (`async_client`): ``await send_sms_async(client, ...)``.
send_sms_async = _on_async_client(message_create)
create_call_async = _on_async_client(call_create)


def find_sent(client: Client, *, to: str, body: str, since: datetime) -> MessageRecord | None:
    """A message Twilio has to `to` with `body` since `since` (None: none): how a send whose
    outcome was lost (its worker stopped, its answer never came) learns whether it went.

    Twilio takes no idempotency key on Messages and echoes nothing of the request but its
    fields, so the match is on the recipient, the time and the body; a failed message with an
    error does not count. Sent messages carry `DateSent`, queued ones not yet: the newest
    messages to `to` are looked at too (two list requests, 20 messages each at most).
    """
    text = body.strip()
    candidates = list_messages(client, to=to, date_sent_after=since, limit=20)
    candidates += list_messages(client, to=to, limit=20)
    for message in candidates:
        when = message.date_sent or message.date_created
        if when is not None and when < since:
            continue
        if (message.status or "") in {"failed", "canceled"} and message.error_code:
            continue
        if text and text in (message.body or ""):
            return message
    return None


def recording_media_url(media_url: str, extension: str = "mp3") -> str:
    """The URL of a recording's audio in a format: Twilio serves its own recordings as WAV at
    the media URL and as MP3 with `.mp3` appended; an externally stored one is used as given."""
    parts = urlsplit(media_url)
    path = parts.path.removesuffix(".json")
    if not _is_twilio_api_host(parts.hostname) or path.endswith((".mp3", ".wav")):
        return media_url
    return urlunsplit((parts.scheme, parts.netloc, f"{path}.{extension}", parts.query, ""))


#: Seconds a media download from a host other than Twilio's API may take in all.
MEDIA_TIMEOUT_SECONDS = 30.0


class MediaRefused(ValueError):
    """A media URL the app will not fetch (plain http to another host in Azure, no host)."""


def credentials_go_to(url: str, base_url: str) -> bool:
    """Whether a request to `url` may carry the account's credentials: only to Twilio's own
    API host (`api.twilio.com` and its regional forms, over https) and to the configured
    `TWILIO_API_BASE_URL` (the stand-in or Prism locally), compared by origin."""
    parts = urlsplit(url)
    if (
        parts.scheme == "https"
        and _is_twilio_api_host(parts.hostname)
        and parts.port
        in (
            None,
            443,
        )
    ):
        return True
    base = urlsplit(base_url)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or _port(parts.scheme)) == (
        base.scheme,
        (base.hostname or "").lower(),
        base.port or _port(base.scheme),
    )


def _port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)


def download_media(
    settings: TwilioSettings,
    url: str,
    *,
    max_bytes: int,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    require_https: bool = False,
) -> Media:
    """The bytes of a media URL (a recording's audio); `MediaTooLarge` past `max_bytes`.

    The account's credentials go with the request only to Twilio's API host or the configured
    ``TWILIO_API_BASE_URL`` (`credentials_go_to`): a recording kept in External Storage has a
    `media_url` on the owner's storage host, which must never see the auth token that signs
    every webhook. Such a URL is fetched without credentials, over https only when
    `require_https` (in Azure: `MediaRefused` otherwise), with a timeout for the whole download
    (`MEDIA_TIMEOUT_SECONDS` at most), and read no further than `max_bytes`.

    The twilio library reads answers as text, so this goes through requests itself. Redirects
    are followed (requests drops the credentials when the host changes). Failures raise requests'
    errors, which `classify_twilio_error` classifies like every REST failure.
    """
    part = download_media_range(
        settings, url, None, max_bytes=max_bytes, timeout=timeout, require_https=require_https
    )
    return Media(part.content, part.content_type)


@dataclass(frozen=True)
class MediaPart:
    """What a media host answered a request for a range of a file (or the whole of it)."""

    content: bytes
    content_type: str
    #: 200 (the whole file: the host ignored the range, or none was asked) or 206 (a part).
    status: int
    #: The host's `Content-Range` of a 206 (``bytes 0-99/4096``).
    content_range: str | None = None


def download_media_range(
    settings: TwilioSettings,
    url: str,
    byte_range: str | None,
    *,
    max_bytes: int,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    require_https: bool = False,
) -> MediaPart:
    """`download_media` asking for `byte_range` (a `Range` header's value, ``bytes=0-``), as
    a browser seeking in an audio file does: Twilio's media host answers 206 with the part
    and its `Content-Range`, or 200 with the whole file (the caller cuts it); a range past
    the end is answered 416, which raises like every failure (`requests.HTTPError`)."""
    import time

    import requests

    config = _client_config(settings, timeout)
    target = rewrite_api_url(url, config.base_url)
    parts = urlsplit(target)
    if not parts.hostname or parts.scheme not in ("http", "https"):
        raise MediaRefused("not an absolute http(s) URL")
    authenticated = credentials_go_to(target, config.base_url)
    if not authenticated and require_https and parts.scheme != "https":
        raise MediaRefused("media on another host is fetched over https only")
    budget = config.timeout if authenticated else min(config.timeout, MEDIA_TIMEOUT_SECONDS)
    deadline = time.monotonic() + budget
    with requests.get(
        target,
        auth=(config.username, config.password) if authenticated else None,
        headers={"Range": byte_range} if byte_range else None,
        timeout=budget,
        stream=True,
    ) as response:
        response.raise_for_status()
        declared = _int(response.headers.get("Content-Length"))
        if declared is not None and declared > max_bytes:
            raise MediaTooLarge(f"{declared} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise MediaTooLarge(f"more than {max_bytes} bytes")
            if time.monotonic() > deadline:  # a server trickling bytes: the timeout is per read
                raise requests.Timeout(f"the download took longer than {budget:.0f} s")
            chunks.append(chunk)
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        partial = response.status_code == 206
        content_range = response.headers.get("Content-Range") if partial else None
    return MediaPart(
        b"".join(chunks),
        content_type.split(";")[0].strip().lower(),
        206 if partial else 200,
        content_range,
    )


def twilio_reachable(settings: TwilioSettings, timeout: float = 5.0) -> tuple[bool, str]:
    """Whether the REST API answers with these credentials: (ok, non-secret detail)."""
    try:
        status = fetch_account_status(get_client(settings, timeout=timeout))
    except Exception as exc:  # any failure is "not reachable"; the detail says which kind
        failure = classify_twilio_error(exc)
        return False, f"HTTP {failure.status}" if failure.status else type(exc).__name__
    return status == "active", f"account {status}"
