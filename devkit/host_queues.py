"""Storage queue triggers and queue outputs for `python -m devkit host`, run as the host runs them.

Per queue trigger: fetch up to `batchSize` messages (invisible for 10 minutes while processed, as
the host does), fetch again when no more than `newBatchThreshold` are in flight, back off
exponentially from 100 ms to `maxPollingInterval` while the queue is empty. A processed message is
deleted; a failed one becomes visible again after `visibilityTimeout`, and once its dequeue count
reaches `maxDequeueCount` it is copied to `<queue>-poison` and deleted. Message bodies are base64
(host.json `messageEncoding`); a message that does not decode fails its invocation like a binding
error, so it ends in the poison queue too. azure-storage-queue is imported only when needed.

Connections are read as the host reads them: a connection string, or the identity-based form
(`AzureWebJobsStorage__queueServiceUri` / `__accountName`, with `__credential` and `__clientId`)
with a token from azure-identity (the developer's `az login` locally, as Core Tools does).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.functions import _queue as azf_queue
from azure.functions.queue import QueueMessage

from devkit.azurite import DEFAULT_PORTS, connection_string
from devkit.host_config import MIN_POLLING_INTERVAL, QueueOptions
from devkit.host_functions import FunctionSpec, HostStartupError, OutputBinding
from devkit.host_invoke import Invoker

logger = logging.getLogger("devkit.host")
# The host keeps a message invisible for 10 minutes while its function runs.
PROCESSING_VISIBILITY_TIMEOUT = 600
STARTUP_CALL_TIMEOUT = 5.0
_WHITESPACE = re.compile(r"\s+")


class MessageDecodeError(ValueError):
    """A queue message that does not decode with the configured encoding."""


@dataclass(frozen=True)
class IdentityConnection:
    """An identity-based connection (`NAME__queueServiceUri` or `NAME__accountName`)."""

    queue_url: str
    credential: str | None = None  # `managedidentity`, else DefaultAzureCredential
    client_id: str | None = None

    def __str__(self) -> str:
        return f"identity|{self.queue_url}|{self.credential}|{self.client_id}"


def _default_credential(credential: str | None, client_id: str | None) -> Any:
    """The async credential the Functions host would use (a managed identity, or the developer's)."""
    if credential == "managedidentity":
        from azure.identity.aio import ManagedIdentityCredential

        return (
            ManagedIdentityCredential(client_id=client_id)
            if client_id
            else ManagedIdentityCredential()
        )
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id)


#: Builds an async token credential from (`__credential`, `__clientId`); tests substitute one.
credential_factory: Callable[[str | None, str | None], Any] = _default_credential


def _identity(prefix: str, environ: Mapping[str, str]) -> IdentityConnection | None:
    def value(key: str) -> str | None:
        return environ.get(f"{prefix}__{key}", "").strip() or None

    url = value("queueServiceUri") or value("serviceUri")
    if url is None and value("accountName"):
        url = f"https://{value('accountName')}.queue.core.windows.net"
    if url is None:
        return None
    credential = (value("credential") or "").lower() or None
    return IdentityConnection(url.rstrip("/"), credential, value("clientId"))


def _uses_https(connection: str | IdentityConnection) -> bool:
    """Whether the queue endpoint of a connection is HTTPS."""
    if isinstance(connection, IdentityConnection):
        return connection.queue_url.lower().startswith("https:")
    parts = dict(part.split("=", 1) for part in connection.split(";") if "=" in part)
    endpoint = parts.get("QueueEndpoint")
    if endpoint:
        return endpoint.lower().startswith("https:")
    return parts.get("DefaultEndpointsProtocol", "https").lower() == "https"


def resolve_connection(setting: str, environ: Mapping[str, str]) -> str | IdentityConnection:
    """A binding's `connection` setting as the host finds it: a connection string or an identity.

    `NAME`, then `AzureWebJobsNAME`; `UseDevelopmentStorage=true` means Azurite's default ports.
    Without a connection string, `NAME__queueServiceUri` (or `__serviceUri`, or `__accountName`)
    with `__credential` / `__clientId` is the identity-based form, as in Azure.
    """
    for name in (setting, f"AzureWebJobs{setting}"):
        value = environ.get(name, "").strip()
        if value:
            break
    else:
        for prefix in (setting, f"AzureWebJobs{setting}"):
            identity = _identity(prefix, environ)
            if identity is not None:
                return identity
        raise HostStartupError(
            f"connection setting '{setting}' is not set: add it to local.settings.json 'Values' "
            f"(UseDevelopmentStorage=true for Azurite, or {setting}__queueServiceUri / "
            f"{setting}__accountName for an identity) or to the environment"
        )
    if value.replace(" ", "").rstrip(";").lower() == "usedevelopmentstorage=true":
        return connection_string(
            DEFAULT_PORTS["blob"], DEFAULT_PORTS["queue"], DEFAULT_PORTS["table"]
        )
    return value


def decode_body(content: str, encoding: str) -> bytes:
    """The message body bytes, decoded as the host does (.NET base64 ignores whitespace)."""
    if encoding == "none":
        return content.encode("utf-8")
    try:
        return base64.b64decode(_WHITESPACE.sub("", content), validate=True)
    except (binascii.Error, ValueError):
        raise MessageDecodeError(
            "the queue message is not valid base64 (host.json 'extensions.queues."
            "messageEncoding' is 'base64'; send with TextBase64EncodePolicy)"
        ) from None


def encode_body(value: Any, encoding: str) -> str:
    """The stored text of one output message (str, bytes or func.QueueMessage)."""
    if isinstance(value, str):
        body = value.encode("utf-8")
    elif isinstance(value, bytes | bytearray):
        body = bytes(value)
    elif isinstance(value, azf_queue.QueueMessage):
        body = value.get_body()
    else:
        raise TypeError(
            f"a queue output takes str, bytes or QueueMessage, not {type(value).__name__}"
        )
    if encoding == "none":
        return body.decode("utf-8")
    return base64.b64encode(body).decode("ascii")


def _output_items(value: Any) -> Iterable[Any]:
    if isinstance(value, list | tuple):
        return value
    return [value]


class QueueService:
    """Async queue clients per (connection, queue); the sink of queue output bindings."""

    def __init__(self, environ: Mapping[str, str], options: QueueOptions) -> None:
        """Clients are created on demand; `close()` releases them."""
        self.environ = environ
        self.options = options
        self._clients: dict[tuple[str, str], Any] = {}
        self._credentials: dict[tuple[str | None, str | None], Any] = {}
        self._pollers: dict[tuple[str, str], list[QueuePoller]] = {}

    def key(self, setting: str, queue: str) -> tuple[str, str]:
        """Clients are shared by every binding that names the same account and queue."""
        return str(resolve_connection(setting, self.environ)), queue

    def client(self, setting: str, queue: str) -> Any:
        """The async QueueClient (messages read and written as stored text, no policy)."""
        key = self.key(setting, queue)
        if key not in self._clients:
            from azure.storage.queue.aio import QueueClient

            # Few, quick SDK retries (the storage default waits 15 s, then 18 s...): the poller
            # has its own backoff, and a local host should report a stopped Azurite in seconds.
            options: dict[str, Any] = {
                "retry_total": 2,
                "initial_backoff": 0.5,
                "increment_base": 1,
                "random_jitter_range": 0,
                "connection_timeout": 5,
                "read_timeout": 30,
            }
            connection = resolve_connection(setting, self.environ)
            # aiohttp fixes its trust store at import: a CA file named by SSL_CERT_FILE (a local
            # HTTPS Azurite, a corporate proxy) is handed to the client explicitly, for HTTPS
            # only: azure-core builds an SSL context from the file for every request it is
            # given to, which costs more CPU than the request itself.
            if self.environ.get("SSL_CERT_FILE") and _uses_https(connection):
                options["connection_verify"] = self.environ["SSL_CERT_FILE"]
            try:
                if isinstance(connection, IdentityConnection):
                    self._clients[key] = QueueClient(
                        connection.queue_url,
                        queue,
                        credential=self._credential(connection),
                        **options,
                    )
                else:
                    self._clients[key] = QueueClient.from_connection_string(
                        connection, queue, **options
                    )
            except ValueError:
                raise HostStartupError(
                    f"connection setting '{setting}' is not a valid storage connection string"
                ) from None
        return self._clients[key]

    def _credential(self, connection: IdentityConnection) -> Any:
        """One async credential per identity for the host's lifetime (its loop)."""
        key = (connection.credential, connection.client_id)
        if key not in self._credentials:
            self._credentials[key] = credential_factory(*key)
        return self._credentials[key]

    def register(self, setting: str, queue: str, poller: QueuePoller) -> None:
        """Let outputs to this queue wake its poller, as the host notifies its own listeners."""
        self._pollers.setdefault(self.key(setting, queue), []).append(poller)

    async def ensure_queue(self, setting: str, queue: str) -> None:
        """Create the queue if it does not exist."""
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self.client(setting, queue).create_queue()

    async def send(self, binding: OutputBinding, value: Any) -> None:
        """Deliver a queue output binding's value (one message per item of a list)."""
        assert binding.queue_name is not None
        assert binding.connection is not None
        client = self.client(binding.connection, binding.queue_name)
        texts = [encode_body(item, self.options.message_encoding) for item in _output_items(value)]
        await self.ensure_queue(binding.connection, binding.queue_name)
        for text in texts:
            await client.send_message(text)
        self.notify(binding.connection, binding.queue_name)

    def notify(self, setting: str, queue: str) -> None:
        """A message was just added to this queue: wake its pollers in this host."""
        for poller in self._pollers.get(self.key(setting, queue), []):
            poller.wake()

    async def close(self) -> None:
        """Close every client and credential."""
        clients, self._clients = list(self._clients.values()), {}
        credentials, self._credentials = list(self._credentials.values()), {}
        for client in [*clients, *credentials]:
            try:
                await client.close()
            except Exception as exc:  # closing is best effort during shutdown
                logger.debug(f"closing a queue client failed: {exc!r}")


class QueuePoller:
    """Polls one queue for one queueTrigger function."""

    def __init__(
        self, spec: FunctionSpec, service: QueueService, options: QueueOptions, invoker: Invoker
    ) -> None:
        """The queue and connection come from the function's resolved trigger."""
        assert spec.queue_name is not None
        assert spec.connection is not None
        self.spec = spec
        self.queue = spec.queue_name
        self.poison_queue = f"{spec.queue_name}-poison"
        self.connection = spec.connection
        self.service = service
        self.options = options
        self.invoker = invoker
        self.client = service.client(self.connection, self.queue)
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._failing = False

    def wake(self) -> None:
        """Poll now (a message was just added by this host)."""
        self._wake.set()

    async def start(self) -> None:
        """Create the queue (bounded; a failure is reported and polling retries later)."""
        try:
            await asyncio.wait_for(
                self.service.ensure_queue(self.connection, self.queue), STARTUP_CALL_TIMEOUT
            )
        except Exception as exc:
            logger.warning(
                f"Functions.{self.spec.name}: cannot create queue '{self.queue}' with connection "
                f"'{self.connection}' yet ({type(exc).__name__}); polling will keep trying"
            )

    async def run(self, stopping: asyncio.Event) -> None:
        """Poll until `stopping`, then wait for the messages in flight."""
        interval = MIN_POLLING_INTERVAL
        try:
            while not stopping.is_set():
                if len(self._in_flight) > self.options.new_batch_threshold:
                    await self._wait_for_capacity(stopping)
                    continue
                messages = await self._receive()
                if messages is None:  # storage error: back off like an empty queue
                    await self._idle(stopping, interval)
                    interval = min(interval * 2, self.options.max_polling_interval)
                    continue
                if messages:
                    interval = MIN_POLLING_INTERVAL
                    for message in messages:
                        task = asyncio.create_task(self._process(message))
                        self._in_flight.add(task)
                        task.add_done_callback(self._in_flight.discard)
                    continue
                await self._idle(stopping, interval)
                interval = min(interval * 2, self.options.max_polling_interval)
        finally:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _wait_for_capacity(self, stopping: asyncio.Event) -> None:
        stop = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait({stop, *self._in_flight}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()

    async def _idle(self, stopping: asyncio.Event, seconds: float) -> None:
        """Sleep `seconds` unless stopping or woken by a local output to this queue."""
        self._wake.clear()
        waiters = {asyncio.create_task(stopping.wait()), asyncio.create_task(self._wake.wait())}
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _receive(self) -> list[Any] | None:
        """One GetMessages call; None when storage failed (reported once per outage)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            pages = self.client.receive_messages(
                messages_per_page=self.options.batch_size,
                max_messages=self.options.batch_size,
                visibility_timeout=PROCESSING_VISIBILITY_TIMEOUT,
            ).by_page()
            messages: list[Any] = []
            async for page in pages:
                messages = [message async for message in page]
                break
        except ResourceNotFoundError:
            await self.start()  # deleted while running: the host recreates it too
            return []
        except Exception as exc:
            if not self._failing:
                logger.warning(
                    f"Functions.{self.spec.name}: polling queue '{self.queue}' failed "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                    "retrying with backoff"
                )
            self._failing = True
            return None
        if self._failing:
            logger.info(f"Functions.{self.spec.name}: polling queue '{self.queue}' works again")
            self._failing = False
        return messages

    def _bind(self, message: Any) -> Any:
        """The trigger argument: a QueueMessage, or str/bytes when annotated so."""
        body = decode_body(message.content or "", self.options.message_encoding)
        annotation = self.spec.trigger_annotation
        if annotation in (str, "str"):
            return body.decode("utf-8")
        if annotation in (bytes, "bytes"):
            return body
        return QueueMessage(  # type: ignore[no-untyped-call]
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            pop_receipt=message.pop_receipt,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
        )

    async def _process(self, message: Any) -> None:
        """Invoke, then delete, release or poison, as the host's QueueProcessor does."""
        dequeue_count = int(message.dequeue_count or 0)
        max_count = self.options.max_dequeue_count
        try:
            if dequeue_count > max_count:  # already over the limit (e.g. after a crash)
                await self._move_to_poison(message)
                return
            inserted = message.inserted_on.isoformat() if message.inserted_on else "?"
            result = await self.invoker.invoke(
                self.spec,
                lambda: self._bind(message),
                reason=f"New queue message detected on '{self.queue}'.",
                details=(
                    f"Trigger Details: MessageId: {message.id}, DequeueCount: {dequeue_count}, "
                    f"InsertedOn: {inserted}"
                ),
            )
            if result.succeeded:
                await self.client.delete_message(message.id, message.pop_receipt)
            elif dequeue_count >= max_count:
                await self._move_to_poison(message)
            else:
                await self.client.update_message(
                    message.id,
                    message.pop_receipt,
                    visibility_timeout=math.ceil(self.options.visibility_timeout),
                )
        except asyncio.CancelledError:
            # Stopped mid-invocation (shutdown timeout): make the message visible again now
            # rather than in 10 minutes, as the host releases messages it abandons.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.client.update_message(
                        message.id, message.pop_receipt, visibility_timeout=0
                    ),
                    2.0,
                )
            raise
        except Exception as exc:
            # The message stays invisible until the processing timeout ends, then comes back.
            logger.warning(
                f"Functions.{self.spec.name}: settling message {message.id} on '{self.queue}' "
                f"failed ({type(exc).__name__}); it will be visible again within "
                f"{PROCESSING_VISIBILITY_TIMEOUT // 60} minutes"
            )

    async def _move_to_poison(self, message: Any) -> None:
        logger.warning(
            f"Message has reached MaxDequeueCount of {self.options.max_dequeue_count}. "
            f"Moving message to queue '{self.poison_queue}'."
        )
        await self.service.ensure_queue(self.connection, self.poison_queue)
        poison = self.service.client(self.connection, self.poison_queue)
        await poison.send_message(message.content)  # the stored text, still encoded
        await self.client.delete_message(message.id, message.pop_receipt)
        self.service.notify(self.connection, self.poison_queue)
