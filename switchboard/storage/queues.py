"""Azure Storage queues: clients from `AzureWebJobsStorage`, base64 as the Functions host expects.

The Functions host's queue trigger decodes message text as base64 (host.json
`extensions.queues.messageEncoding`), so every message the app sends is encoded with
`TextBase64EncodePolicy`. azure.storage.queue costs ~0.5 s to import, so it is imported on first
use, never at module import (cold starts answer Twilio webhooks, which never need a queue).
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import TYPE_CHECKING, Any

from switchboard.settings import Settings, get_settings
from switchboard.storage import connection as storage_connection

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

_lock = threading.Lock()
_clients: dict[tuple[str, str], QueueClient] = {}


def get_queue(name: str, settings: Settings | None = None) -> QueueClient:
    """A base64-encoding client for queue `name`, creating the queue on first use."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

    settings = settings or get_settings()
    key = (storage_connection.connection_key(settings), name)
    with _lock:
        client = _clients.get(key)
    if client is not None:
        return client
    client = storage_connection.queue_client(
        settings,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
        connection_timeout=3,
        read_timeout=10,
        retry_total=2,
        retry_backoff_factor=0.2,
    )
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    with _lock:
        _clients.setdefault(key, client)
        return _clients[key]


def enqueue_json(name: str, payload: Any, settings: Settings | None = None) -> str:
    """Send `payload` as compact JSON text on queue `name`; returns the queue message id."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    message = get_queue(name, settings).send_message(text)
    return str(message.id)


def forget_clients() -> None:
    """Drop cached clients (tests that restart storage)."""
    with _lock:
        _clients.clear()


def queue_depths(
    names: list[str], settings: Settings, timeout: float = 3.0
) -> dict[str, int | None]:
    """Approximate message counts of existing queues (0 when absent, None when unreadable).

    One quick request per queue, no retries, and no queue is created: for `/api/health`.
    """
    from azure.core.exceptions import ResourceNotFoundError

    depths: dict[str, int | None] = {}
    for name in names:
        client = storage_connection.queue_client(
            settings,
            name,
            connection_timeout=timeout,
            read_timeout=timeout,
            retry_total=0,
        )
        try:
            depths[name] = int(client.get_queue_properties().approximate_message_count or 0)
        except ResourceNotFoundError:
            depths[name] = 0
        except Exception:  # unreadable is reported as unknown, never as an error of /health
            depths[name] = None
        finally:
            client.close()
    return depths
