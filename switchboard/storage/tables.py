"""Azure Table Storage: clients from `AzureWebJobsStorage`, tables created once per process.

`UseDevelopmentStorage=true` and explicit connection strings (Azurite on custom ports, or an Azure
account) both work: the SDK parses them; so does the identity-based form
(`AzureWebJobsStorage__accountName`, see `storage_connection`). Clients retry briefly and time out fast, because a webhook
must still answer Twilio (15 s budget) when storage is down; callers treat a storage error as
"not recorded" and log it.

The helpers here are the few operations the app needs, with the ETag semantics spelled out:
`insert_if_absent` (create, 409 → False), `update_if_unchanged` (replace/merge with an ETag
condition, 412 → False) and `get_or_none`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from switchboard.settings import Settings, get_settings
from switchboard.storage import connection as storage_connection

# Fast failure: connect in 3 s, two retries with a short backoff. The SDK's defaults (4 retries,
# exponential from 0.8 s) would hold a webhook for ~15 s when storage is unreachable.
CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 3,
    "read_timeout": 10,
    "retry_total": 2,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 2,
}

Entity = dict[str, Any]

_lock = threading.Lock()
_services: dict[str, TableServiceClient] = {}
_created: set[tuple[str, str]] = set()


def _service(settings: Settings) -> TableServiceClient:
    connection = storage_connection.connection_key(settings)
    with _lock:
        service = _services.get(connection)
        if service is None:
            service = storage_connection.table_service(settings, **CLIENT_OPTIONS)
            _services[connection] = service
        return service


def get_table(name: str, settings: Settings | None = None) -> TableClient:
    """A client for table `name`, creating the table on first use in this process."""
    settings = settings or get_settings()
    service = _service(settings)
    key = (storage_connection.connection_key(settings), name)
    if key not in _created:
        with contextlib.suppress(ResourceExistsError):
            service.create_table(name)
        with _lock:
            _created.add(key)
    return service.get_table_client(name)


def forget_created_tables() -> None:
    """Forget which tables exist (tests that restart storage)."""
    with _lock:
        _created.clear()
        _services.clear()


def get_or_none(table: TableClient, partition_key: str, row_key: str) -> Entity | None:
    """The entity, or None when absent."""
    try:
        # The SDK's TableEntity is a dict that also carries `.metadata` (the ETag): keep it.
        return table.get_entity(partition_key, row_key)
    except ResourceNotFoundError:
        return None


def insert_if_absent(table: TableClient, entity: Mapping[str, Any]) -> bool:
    """Create the entity; False when one with the same keys already exists."""
    try:
        table.create_entity(dict(entity))
    except ResourceExistsError:
        return False
    return True


def etag_of(entity: Any) -> str:
    """The ETag the SDK attached to an entity it returned."""
    return str(entity.metadata["etag"])


def update_if_unchanged(
    table: TableClient,
    entity: Mapping[str, Any],
    etag: str,
    *,
    mode: UpdateMode = UpdateMode.MERGE,
) -> bool:
    """Update the entity only if its ETag is still `etag`; False when someone changed it first."""
    try:
        table.update_entity(
            dict(entity), mode=mode, etag=etag, match_condition=MatchConditions.IfNotModified
        )
    except (ResourceModifiedError, ResourceNotFoundError):
        return False
    return True


def query(
    table: TableClient,
    filter_text: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    select: Iterable[str] | None = None,
    page_size: int | None = None,
) -> Iterator[Entity]:
    """Entities matching an OData filter (parameters bound by the SDK, never concatenated)."""
    yield from table.query_entities(
        filter_text,
        parameters=dict(parameters or {}),
        select=list(select) if select else None,
        results_per_page=page_size,
    )


def storage_reachable(settings: Settings, timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the table service answers (one quick request, no retries): (ok, detail)."""
    service = storage_connection.table_service(
        settings,
        connection_timeout=timeout,
        read_timeout=timeout,
        retry_total=0,
    )
    try:
        next(iter(service.list_tables(results_per_page=1)), None)
    except Exception as exc:  # any failure means "not reachable"; the type is the detail
        return False, type(exc).__name__
    finally:
        service.close()
    return True, "ok"
