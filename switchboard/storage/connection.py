"""How the app reaches Azure Storage: a connection string, or an identity, read as the host reads them.

The Functions host takes `AzureWebJobsStorage` in one of two forms, and so does the app (its tables
and queues live in the same account):

- `AzureWebJobsStorage`: a connection string (`UseDevelopmentStorage=true` for Azurite locally).
  It wins when set, as it does for the host.
- otherwise the identity-based form: `AzureWebJobsStorage__accountName` (the endpoints
  `https://NAME.table.core.windows.net` and `https://NAME.queue.core.windows.net`), or
  `AzureWebJobsStorage__tableServiceUri` and `__queueServiceUri` (other clouds, custom domains,
  Azurite over HTTPS). Requests carry a Microsoft Entra token: `ManagedIdentityCredential` when
  `AzureWebJobsStorage__credential=managedidentity` (with `__clientId` for a user-assigned
  identity), else `DefaultAzureCredential` (the app's managed identity in Azure, the developer's
  `az login` locally; `__clientId` picks a user-assigned identity), as the host itself does.

azure-identity (with msal) is imported only in the second form, so an app configured with a
connection string never pays for it at cold start. One credential serves the process (its token
cache is shared by every client); async clients use it through a small adapter, because
azure-identity's async credentials belong to one event loop and the timer opens a loop per run.
`credential_factory` is the seam tests use to give Azurite a static token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from switchboard.settings import MissingSettingError, Settings

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential
    from azure.data.tables import TableServiceClient
    from azure.data.tables.aio import TableServiceClient as AsyncTableServiceClient
    from azure.storage.queue import QueueClient

CONNECTION_SETTING = "AzureWebJobsStorage"


def _default_credential(credential: str | None, client_id: str | None) -> TokenCredential:
    """The credential the Functions host would use for these `AzureWebJobsStorage__*` values."""
    if credential == "managedidentity":
        from azure.identity import ManagedIdentityCredential

        return (
            ManagedIdentityCredential(client_id=client_id)
            if client_id
            else ManagedIdentityCredential()
        )
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id)


#: Builds the token credential from (`__credential`, `__clientId`); tests substitute a static one.
credential_factory: Callable[[str | None, str | None], TokenCredential] = _default_credential

_lock = threading.Lock()
_credentials: dict[tuple[str | None, str | None], TokenCredential] = {}


def uses_identity(settings: Settings) -> bool:
    """Whether storage is reached with a token rather than a connection string."""
    return settings.storage_uses_identity


def table_endpoint(settings: Settings) -> str:
    """The table service URL of the identity-based form."""
    return _endpoint(settings, settings.storage_table_service_uri, "table", "tableServiceUri")


def queue_endpoint(settings: Settings) -> str:
    """The queue service URL of the identity-based form."""
    return _endpoint(settings, settings.storage_queue_service_uri, "queue", "queueServiceUri")


def _endpoint(settings: Settings, explicit: str | None, service: str, name: str) -> str:
    if explicit:
        return explicit
    if settings.storage_account_name:
        return f"https://{settings.storage_account_name}.{service}.core.windows.net"
    raise MissingSettingError(
        f"{CONNECTION_SETTING}__{name}", f"{service} storage (or {CONNECTION_SETTING})"
    )


def connection_key(settings: Settings) -> str:
    """What clients and created tables are cached by: one account, one way of reaching it."""
    if not uses_identity(settings):
        return settings.azure_web_jobs_storage
    return "identity|" + "|".join(
        str(part)
        for part in (
            settings.storage_account_name,
            settings.storage_table_service_uri,
            settings.storage_queue_service_uri,
            settings.storage_credential,
            settings.storage_client_id,
        )
    )


def credential(settings: Settings) -> TokenCredential:
    """The process's token credential for the identity-based form (created on first use)."""
    key = (settings.storage_credential, settings.storage_client_id)
    with _lock:
        found = _credentials.get(key)
        if found is None:
            found = credential_factory(*key)
            _credentials[key] = found
        return found


def forget_credentials() -> None:
    """Drop cached credentials (tests that change `credential_factory`)."""
    with _lock:
        _credentials.clear()


class AsyncCredential:
    """An async credential over the process's sync one: the same token cache for every loop.

    The async pipelines ask for a token only when theirs is near expiry; a refresh (network I/O
    to the identity endpoint) runs in a worker thread, never on the event loop.
    """

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A token for `scopes`, from the sync credential's cache or a refresh."""
        return await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        """Nothing to release: the sync credential lives as long as the process."""

    async def __aenter__(self) -> AsyncCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


#: What a transport that trusts the environment reads: proxies and netrc credentials; and, for
#: requests (the sync clients) only, the CA bundles it takes from the environment only then.
_TRUSTED_ENVIRONMENT = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "netrc")
_REQUESTS_CA_BUNDLES = ("requests_ca_bundle", "curl_ca_bundle")


def transport_options(
    environ: Mapping[str, str] | None = None, *, sync: bool = True
) -> dict[str, Any]:
    """Transport options for the storage clients: the environment is not consulted on every
    request when it configures nothing for them.

    Trusting the environment (azure-core's default) makes aiohttp look for netrc credentials
    in a worker thread before every request, and both transports read the proxy variables
    again each time. With none of those variables and no netrc file that work finds nothing,
    so it is turned off; with any, the environment is trusted as before. `sync`: for requests,
    which also takes its CA bundle from the environment only when trusting it (aiohttp's trust
    store is OpenSSL's, `SSL_CERT_FILE`, either way).
    """
    source = os.environ if environ is None else environ
    names = {name.lower() for name in source}
    trusted = _TRUSTED_ENVIRONMENT + (_REQUESTS_CA_BUNDLES if sync else ())
    if any(name in names for name in trusted):
        return {}
    if os.path.exists(os.path.expanduser("~/.netrc")):
        return {}
    return {"use_env_settings": False}


def table_service(settings: Settings, **options: Any) -> TableServiceClient:
    """A sync TableServiceClient for the configured account."""
    from azure.data.tables import TableServiceClient

    options = {**transport_options(), **options}
    if not uses_identity(settings):
        return TableServiceClient.from_connection_string(settings.azure_web_jobs_storage, **options)
    return TableServiceClient(table_endpoint(settings), credential=credential(settings), **options)


@contextlib.asynccontextmanager
async def async_table_service(
    settings: Settings, **options: Any
) -> AsyncIterator[AsyncTableServiceClient]:
    """An async TableServiceClient for the configured account, closed on exit."""
    from azure.data.tables.aio import TableServiceClient

    options = {**transport_options(sync=False), **options}
    if not uses_identity(settings):
        service = TableServiceClient.from_connection_string(
            settings.azure_web_jobs_storage, **options
        )
    else:
        service = TableServiceClient(
            table_endpoint(settings),
            credential=AsyncCredential(credential(settings)),
            **options,
        )
    try:
        yield service
    finally:
        await service.close()


def queue_client(settings: Settings, name: str, **options: Any) -> QueueClient:
    """A sync QueueClient for queue `name` of the configured account."""
    from azure.storage.queue import QueueClient

    if not uses_identity(settings):
        return QueueClient.from_connection_string(settings.azure_web_jobs_storage, name, **options)
    return QueueClient(queue_endpoint(settings), name, credential=credential(settings), **options)
