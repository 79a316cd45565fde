"""The devkit host reads a binding's `connection` as the Functions host does: both forms."""

from __future__ import annotations

import pytest

from devkit.host_functions import HostStartupError
from devkit.host_queues import IdentityConnection, resolve_connection


def test_a_connection_string_wins_over_the_identity_settings() -> None:
    environ = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AzureWebJobsStorage__accountName": "switchboardprod",
    }
    assert "QueueEndpoint=http://127.0.0.1:10001/" in str(
        resolve_connection("AzureWebJobsStorage", environ)
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"AzureWebJobsStorage__accountName": "switchboardprod"},
            IdentityConnection("https://switchboardprod.queue.core.windows.net"),
        ),
        (
            {
                "AzureWebJobsStorage__queueServiceUri": "https://127.0.0.1:10001/devstoreaccount1/",
                "AzureWebJobsStorage__credential": "ManagedIdentity",
                "AzureWebJobsStorage__clientId": "9c3f2a1e-5b7d-4e8f-a0b1-c2d3e4f5a6b7",
            },
            IdentityConnection(
                "https://127.0.0.1:10001/devstoreaccount1",
                "managedidentity",
                "9c3f2a1e-5b7d-4e8f-a0b1-c2d3e4f5a6b7",
            ),
        ),
        (  # `connection="Storage"` finds AzureWebJobsStorage__* too, as the host does
            {"AzureWebJobsStorage__serviceUri": "https://q.example.net"},
            IdentityConnection("https://q.example.net"),
        ),
    ],
)
def test_the_identity_form(environ: dict[str, str], expected: IdentityConnection) -> None:
    setting = "Storage" if "AzureWebJobsStorage__serviceUri" in environ else "AzureWebJobsStorage"
    assert resolve_connection(setting, environ) == expected


def test_neither_form_names_the_setting_and_both_ways_to_set_it() -> None:
    with pytest.raises(HostStartupError, match=r"'MyStorage'.*MyStorage__queueServiceUri"):
        resolve_connection("MyStorage", {"MyStorage__tableServiceUri": "https://t.example.net"})
