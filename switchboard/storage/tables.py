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

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
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


class TableCreations:
    """Which tables this process has created (or found), keyed by (connection, table name).

    The first caller of a table creates it; callers arriving meanwhile, in any thread or event
    loop, wait for that one creation instead of sending their own (a queue batch starts many
    invocations at once: without this each sent its create-table request). A failed creation
    is forgotten, so the next caller tries again. A sync caller never blocks on a creation an
    event loop is running (it could be its own loop's): it sends its own request instead.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._creations: dict[tuple[str, str], tuple[Future[None], bool]] = {}

    def _begin(self, key: tuple[str, str], is_async: bool) -> tuple[Future[None] | None, bool]:
        """(the creation to wait for, or None; whether this caller creates the table)."""
        with self._lock:
            found = self._creations.get(key)
            if found is None:
                mine: Future[None] = Future()
                self._creations[key] = (mine, is_async)
                return mine, True
            future, by_loop = found
            if by_loop and not is_async and not future.done():
                return None, True
            return future, False

    def _end(
        self, key: tuple[str, str], future: Future[None] | None, error: BaseException | None
    ) -> None:
        if future is None:
            return
        if error is None:
            future.set_result(None)
            return
        with self._lock:
            if self._creations.get(key, (None, False))[0] is future:
                del self._creations[key]
        future.set_exception(error)

    def ensure(self, key: tuple[str, str], create: Callable[[], object]) -> None:
        """Run `create` once for `key` (an existing table is not an error); others wait."""
        future, mine = self._begin(key, is_async=False)
        if not mine:
            assert future is not None
            future.result()
            return
        try:
            with contextlib.suppress(ResourceExistsError):
                create()
        except BaseException as exc:
            self._end(key, future, exc)
            raise
        self._end(key, future, None)

    async def ensure_async(
        self, key: tuple[str, str], create: Callable[[], Awaitable[object]]
    ) -> None:
        """`ensure` for async clients: waiting never blocks the event loop."""
        future, mine = self._begin(key, is_async=True)
        if not mine:
            assert future is not None
            await asyncio.wrap_future(future)
            return
        try:
            with contextlib.suppress(ResourceExistsError):
                await create()
        except BaseException as exc:
            self._end(key, future, exc)
            raise
        self._end(key, future, None)

    def forget(self) -> None:
        """Forget every table (tests that restart storage)."""
        with self._lock:
            self._creations.clear()


#: The tables of this process, for the sync clients here and the async ones of the timer.
created_tables = TableCreations()


def _service(settings: Settings) -> TableServiceClient:
    connection = storage_connection.connection_key(settings)
    with _lock:
        service = _services.get(connection)
        if service is None:
            service = storage_connection.table_service(settings, **CLIENT_OPTIONS)
            _services[connection] = service
        return service


def get_table(name: str, settings: Settings | None = None) -> TableClient:
    """A client for table `name`, creating the table on first use in this process (once,
    however many threads ask at the same time)."""
    settings = settings or get_settings()
    service = _service(settings)
    key = (storage_connection.connection_key(settings), name)
    created_tables.ensure(key, lambda: service.create_table(name))
    return service.get_table_client(name)


def forget_created_tables() -> None:
    """Forget which tables exist and the cached clients (tests that restart storage)."""
    created_tables.forget()
    with _lock:
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


def with_etag(entity: Mapping[str, Any], etag: str) -> Entity:
    """`entity` as the SDK returns one, carrying `etag` (what an insert answered), so that the
    next conditional write needs no read."""
    from azure.data.tables import TableEntity

    found = TableEntity(entity)
    found._metadata = {"etag": etag, "timestamp": None}
    return found


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
    try:
        service = storage_connection.table_service(
            settings,
            connection_timeout=timeout,
            read_timeout=timeout,
            retry_total=0,
        )
    except ValueError as exc:  # a connection string the SDK cannot read
        return False, type(exc).__name__
    try:
        next(iter(service.list_tables(results_per_page=1)), None)
    except Exception as exc:  # any failure means "not reachable"; the type is the detail
        return False, type(exc).__name__
    finally:
        service.close()
    return True, "ok"
