"""Publishing the fallback TwiML to its blob container, and reading it back as Twilio does.

The container (`FALLBACK_CONTAINER_URL`) allows anonymous read of a blob whose name is known and
nothing else: in Azure it is the `fallback` container of its own storage account (infra/
app.bicep), locally a container of Azurite. Writing needs a credential: the storage connection
string when the container is in that account (Azurite locally), else an Entra token
(`DefaultAzureCredential`: the `az login` of whoever runs `numbers wire`, who needs Storage Blob
Data Contributor on the container; `azd up` grants it to the person running it).

Documents are written with `Content-Type: text/xml` (Twilio reads TwiML by its type) and
`Cache-Control: no-cache`, so a document written again is what the next call gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from switchboard.settings import Settings

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

TIMEOUT_SECONDS = 10


class PublishError(RuntimeError):
    """The documents could not be written or read; the message says why (never a secret)."""


def _same_account(container_url: str, service_url: str) -> bool:
    return container_url.rstrip("/").lower().startswith(service_url.rstrip("/").lower() + "/")


def container_client(container_url: str, settings: Settings) -> ContainerClient:
    """A client of the container with the credential that can write it."""
    from azure.storage.blob import BlobServiceClient, ContainerClient

    connection = settings.azure_web_jobs_storage
    if connection:
        service = BlobServiceClient.from_connection_string(connection)
        if _same_account(container_url, service.url):
            name = container_url.rstrip("/").rsplit("/", 1)[1]
            return service.get_container_client(name)
    from azure.identity import DefaultAzureCredential

    return ContainerClient.from_container_url(container_url, credential=DefaultAzureCredential())


def publish(container_url: str, documents: Mapping[str, str], settings: Settings) -> None:
    """Write each `{blob name: TwiML}`; creates the container (anonymous blob read) if missing."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.blob import ContentSettings

    content = ContentSettings(content_type="text/xml; charset=utf-8", cache_control="no-cache")
    try:
        container = container_client(container_url, settings)
        for name, body in documents.items():
            blob = container.get_blob_client(name)
            try:
                blob.upload_blob(
                    body.encode("utf-8"),
                    overwrite=True,
                    content_settings=content,
                    timeout=TIMEOUT_SECONDS,
                )
            except ResourceNotFoundError:
                container.create_container(public_access="blob", timeout=TIMEOUT_SECONDS)
                blob.upload_blob(
                    body.encode("utf-8"),
                    overwrite=True,
                    content_settings=content,
                    timeout=TIMEOUT_SECONDS,
                )
    except AzureError as exc:
        raise PublishError(_why(exc, container_url)) from None
    except ValueError as exc:  # a malformed URL or connection string
        raise PublishError(f"{container_url}: {exc}") from None


def _why(exc: Any, container_url: str) -> str:
    status = getattr(exc, "status_code", None)
    if status == 403:
        return (
            f"not allowed to write {container_url} (HTTP 403): the account running this needs "
            "Storage Blob Data Contributor on the container"
        )
    if status is None:
        return f"cannot reach {container_url} ({type(exc).__name__})"
    return f"{container_url} answered HTTP {status} ({type(exc).__name__})"


def fetch(url: str) -> tuple[int | None, str]:
    """GET a published document anonymously, as Twilio does: (HTTP status or None, body)."""
    import requests

    try:
        answer = requests.get(url, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return None, type(exc).__name__
    return answer.status_code, answer.text
