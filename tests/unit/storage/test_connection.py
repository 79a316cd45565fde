"""Storage settings in both forms the Functions host reads, and how the app knows it runs in Azure.

No I/O: clients are built, never used (their constructors do not touch the network). What they
do against a real account is in tests/integration/test_storage_identity.py (Azurite over HTTPS).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from switchboard import settings as settings_module
from switchboard.settings import (
    AZURE_HOST_MARKERS,
    MissingSettingError,
    Settings,
    SettingsError,
    load_settings,
)
from switchboard.storage import connection as storage_connection

ROOT = Path(__file__).resolve().parents[3]
CLIENT_ID = "9c3f2a1e-5b7d-4e8f-a0b1-c2d3e4f5a6b7"


def problems_of(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as info:
        load_settings(environ)
    return {p.name: p.reason for p in info.value.problems}


# --- the two forms ----------------------------------------------------------------------------


def test_connection_string_is_the_default_form() -> None:
    settings = load_settings({})
    assert settings.azure_web_jobs_storage == "UseDevelopmentStorage=true"
    assert not settings.storage_uses_identity
    assert storage_connection.connection_key(settings) == "UseDevelopmentStorage=true"


def test_account_name_gives_the_public_cloud_endpoints() -> None:
    settings = load_settings({"AzureWebJobsStorage__accountName": "switchboardprod"})
    assert settings.storage_uses_identity
    assert settings.azure_web_jobs_storage == ""
    assert storage_connection.table_endpoint(settings) == (
        "https://switchboardprod.table.core.windows.net"
    )
    assert storage_connection.queue_endpoint(settings) == (
        "https://switchboardprod.queue.core.windows.net"
    )


def test_service_uris_win_over_the_account_name() -> None:
    settings = load_settings(
        {
            "AzureWebJobsStorage__accountName": "switchboardprod",
            "AzureWebJobsStorage__tableServiceUri": "https://tables.example.net/",
            "AzureWebJobsStorage__queueServiceUri": "https://queues.example.net",
        }
    )
    assert storage_connection.table_endpoint(settings) == "https://tables.example.net"
    assert storage_connection.queue_endpoint(settings) == "https://queues.example.net"


def test_a_connection_string_wins_over_the_identity_settings() -> None:
    settings = load_settings(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "AzureWebJobsStorage__accountName": "switchboardprod",
        }
    )
    assert not settings.storage_uses_identity


@pytest.mark.parametrize(
    ("environ", "name", "reason"),
    [
        (
            {"AzureWebJobsStorage__tableServiceUri": "https://t.example.net"},
            "AzureWebJobsStorage__queueServiceUri",
            "is required with the other service URI",
        ),
        (
            {"AzureWebJobsStorage__queueServiceUri": "https://q.example.net"},
            "AzureWebJobsStorage__tableServiceUri",
            "is required with the other service URI",
        ),
        (
            {"AzureWebJobsStorage__accountName": "Switchboard_Prod"},
            "AzureWebJobsStorage__accountName",
            "must be a storage account name",
        ),
        (
            {"AzureWebJobsStorage__tableServiceUri": "http://t.example.net"},
            "AzureWebJobsStorage__tableServiceUri",
            "must be an absolute https URL",
        ),
        (
            {"AzureWebJobsStorage__credential": "clientsecret"},
            "AzureWebJobsStorage__credential",
            "must be managedidentity",
        ),
        (
            {"AzureWebJobsStorage__clientId": "my-identity"},
            "AzureWebJobsStorage__clientId",
            "must be a client id",
        ),
    ],
)
def test_bad_identity_settings_name_the_setting(
    environ: dict[str, str], name: str, reason: str
) -> None:
    found = problems_of(environ)
    assert name in found
    assert found[name].startswith(reason)
    for value in environ.values():
        assert value not in found[name]


def test_identity_without_an_endpoint_is_a_missing_setting() -> None:
    settings = Settings(azure_web_jobs_storage="")
    with pytest.raises(MissingSettingError) as info:
        storage_connection.queue_endpoint(settings)
    assert info.value.name == "AzureWebJobsStorage__queueServiceUri"


def test_credential_follows_the_host_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """`managedidentity` (+ client id) → ManagedIdentityCredential, else DefaultAzureCredential."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    storage_connection.forget_credentials()
    try:
        managed = load_settings(
            {
                "AzureWebJobsStorage__accountName": "switchboardprod",
                "AzureWebJobsStorage__credential": "ManagedIdentity",
                "AzureWebJobsStorage__clientId": CLIENT_ID,
            }
        )
        assert managed.storage_credential == "managedidentity"
        assert isinstance(storage_connection.credential(managed), ManagedIdentityCredential)
        default = load_settings({"AzureWebJobsStorage__accountName": "switchboardprod"})
        found = storage_connection.credential(default)
        assert isinstance(found, DefaultAzureCredential)
        assert storage_connection.credential(default) is found  # one per process
    finally:
        storage_connection.forget_credentials()


def test_clients_point_at_the_configured_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    class Token:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise AssertionError("no request is made here")

    monkeypatch.setattr(storage_connection, "credential_factory", lambda *_: Token())
    storage_connection.forget_credentials()
    try:
        settings = load_settings({"AzureWebJobsStorage__accountName": "switchboardprod"})
        service = storage_connection.table_service(settings)
        assert service.url.startswith("https://switchboardprod.table.core.windows.net")
        queue = storage_connection.queue_client(settings, "outbound-calls")
        assert queue.url == "https://switchboardprod.queue.core.windows.net/outbound-calls"
    finally:
        storage_connection.forget_credentials()


# --- azure-identity only when the identity form is used (cold start) ------------------------

BUILD_CLIENTS = """
import asyncio, json, sys
from switchboard.storage import connection as storage_connection
from switchboard.settings import load_settings

settings = load_settings(json.loads(sys.argv[1]))
storage_connection.table_service(settings)
storage_connection.queue_client(settings, "outbound-calls")

async def main():
    async with storage_connection.async_table_service(settings):
        pass

asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after_building_clients(environ: dict[str, str]) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobs", "AZURE_"))}
    done = subprocess.run(
        [sys.executable, "-c", BUILD_CLIENTS, json.dumps(environ)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_connection_string_never_imports_azure_identity() -> None:
    modules = _modules_after_building_clients({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert "azure.data.tables.aio" in modules  # the clients were really built
    assert "azure.storage.queue" in modules
    assert [m for m in modules if m.startswith(("azure.identity", "msal"))] == []


def test_the_identity_form_imports_it() -> None:
    modules = _modules_after_building_clients(
        {"AzureWebJobsStorage__accountName": "switchboardprod"}
    )
    assert "azure.identity" in modules


# --- running in Azure, on every plan ----------------------------------------------------------

PLANS: dict[str, dict[str, str]] = {
    # App Service plans set WEBSITE_INSTANCE_ID and WEBSITE_SKU.
    "windows consumption": {"WEBSITE_INSTANCE_ID": "a1b2c3", "WEBSITE_SKU": "Dynamic"},
    "premium": {"WEBSITE_INSTANCE_ID": "a1b2c3", "WEBSITE_SKU": "ElasticPremium"},
    "dedicated": {"WEBSITE_INSTANCE_ID": "a1b2c3", "WEBSITE_SKU": "PremiumV3"},
    # Linux Consumption ("Atlas") has no WEBSITE_INSTANCE_ID: the container's and the site's name.
    "linux consumption": {
        "CONTAINER_NAME": "E9911CE2-637643180180219000",
        "WEBSITE_SITE_NAME": "switchboard",
    },
    # Flex Consumption ("Legion"), specialized and in placeholder mode (no SKU yet).
    "flex consumption": {
        "WEBSITE_SKU": "FlexConsumption",
        "CONTAINER_NAME": "switchboard-7f9c",
        "WEBSITE_POD_NAME": "switchboard-7f9c",
        "LEGION_SERVICE_HOST": "10.0.0.4",
    },
    "flex consumption placeholder": {
        "WEBSITE_POD_NAME": "pod-0",
        "LEGION_SERVICE_HOST": "10.0.0.4",
    },
    "container apps": {"MANAGED_ENVIRONMENT": "true", "CONTAINER_APP_NAME": "switchboard"},
}


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_validate_signature_false_is_never_honoured_in_azure(plan: str) -> None:
    settings = load_settings({"TWILIO_VALIDATE_SIGNATURE": "false", **PLANS[plan]})
    assert settings.running_in_azure
    assert settings.signature_validation_enabled is True


def test_core_tools_and_the_devkit_are_not_azure() -> None:
    local = {
        "TWILIO_VALIDATE_SIGNATURE": "false",
        "FUNCTIONS_CORETOOLS_ENVIRONMENT": "true",
        "AZURE_FUNCTIONS_ENVIRONMENT": "Development",
        "WEBSITE_SITE_NAME": "switchboard-local",
        "CONTAINER_NAME": " ",
    }
    settings = load_settings(local)
    assert not settings.running_in_azure
    assert settings.signature_validation_enabled is False


def test_every_plan_is_covered_by_the_markers() -> None:
    for plan, environ in PLANS.items():
        assert set(environ) & set(AZURE_HOST_MARKERS) or set(environ) >= set(
            settings_module.LINUX_CONSUMPTION_MARKERS
        ), plan


def test_a_development_container_is_not_azure() -> None:
    """Docker-style containers (and this project's CI machines) set CONTAINER_NAME only."""
    settings = load_settings({"TWILIO_VALIDATE_SIGNATURE": "false", "CONTAINER_NAME": "dev-box"})
    assert not settings.running_in_azure
    assert settings.signature_validation_enabled is False


def test_in_azure_the_ignored_setting_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in AZURE_HOST_MARKERS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_VALIDATE_SIGNATURE", "false")
    monkeypatch.setenv("CONTAINER_NAME", "switchboard-7f9c")
    monkeypatch.setenv("WEBSITE_SITE_NAME", "switchboard")
    settings_module.reset_settings_cache()
    try:
        with caplog.at_level(logging.WARNING):
            assert settings_module.get_settings().signature_validation_enabled
        assert any(
            "ignored in Azure (CONTAINER_NAME is set)" in r.getMessage() for r in caplog.records
        )
    finally:
        settings_module.reset_settings_cache()


def test_the_environment_is_trusted_only_when_it_configures_a_proxy_or_netrc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Trusting it costs aiohttp a netrc lookup in a worker thread before every request.
    monkeypatch.setenv("HOME", str(tmp_path))
    assert storage_connection.transport_options({}) == {"use_env_settings": False}
    assert storage_connection.transport_options({"PATH": "/usr/bin"}) == {"use_env_settings": False}
    for name in ("HTTPS_PROXY", "http_proxy", "ALL_PROXY", "NO_PROXY", "NETRC"):
        assert storage_connection.transport_options({name: "x"}) == {}, name
        assert storage_connection.transport_options({name: "x"}, sync=False) == {}, name
    # requests takes its CA bundle from the environment only when trusting it; aiohttp's trust
    # store is OpenSSL's either way.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        assert storage_connection.transport_options({name: "x"}) == {}, name
        off = storage_connection.transport_options({name: "x"}, sync=False)
        assert off == {"use_env_settings": False}, name
    (tmp_path / ".netrc").write_text("machine example.com login a password b\n")
    assert storage_connection.transport_options({}) == {}


def test_storage_clients_skip_the_environment_when_it_configures_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in list(os.environ):
        if name.lower() in {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "netrc"} | {
            "requests_ca_bundle",
            "curl_ca_bundle",
        }:
            monkeypatch.delenv(name)
    settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    service = storage_connection.table_service(settings)
    assert service._client._client._pipeline._transport._use_env_settings is False
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    service = storage_connection.table_service(settings)
    assert service._client._client._pipeline._transport._use_env_settings is True
