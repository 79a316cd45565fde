"""Shared fixtures: a real Azurite for the session (free ports, in memory), fresh names per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devkit.azurite import Azurite
from tests.storage_identity import secure_azurite  # noqa: F401  (HTTPS Azurite with bearer tokens)

#: Settings of the shell that must not reach the app under test (a developer's real Twilio
#: credentials, say): in-process tests drop them with `clean_env`, hosts never inherit them.
SCRUBBED_PREFIXES = (
    "TWILIO_",
    "SMS_",
    "VOICE_",
    "TABLE_",
    "PUBLIC_BASE_URL",
    "WEBSITE_",
    "OUTBOUND_CALL_QUEUE",
    "OWNER_NUMBER",
    "OWNER_EMAIL",
    "OUTBOUND_ALLOWED_COUNTRIES",
    "AUTOMATIC_SMS_",
    "DEVHOST_",
    "AzureWebJobs",
    "PYTHON_THREADPOOL_THREAD_COUNT",
    "INBOX_",
    # What the platform sets in Azure (switchboard.settings.AZURE_HOST_MARKERS)
    "CONTAINER_NAME",
    "LEGION_SERVICE_HOST",
    "MANAGED_ENVIRONMENT",
)


@pytest.fixture(autouse=True)
def _fresh_process_memory() -> Iterator[None]:
    """What the app keeps in process memory across requests starts empty for every test: the
    opt-out journal, our own numbers (one cache, which the lines' writes use too), the budget
    rows this instance keeps warm, the inbox sessions it remembers and the contacts it
    remembers."""
    from switchboard.contacts.lookup import forget_cached_contacts
    from switchboard.inbox.remembered import REMEMBERED
    from switchboard.optouts.journal import PENDING
    from switchboard.outbound.own_numbers import OWN_NUMBERS
    from switchboard.outbound.store import WARM

    for memory in (PENDING, WARM, REMEMBERED):
        memory.clear()
    OWN_NUMBERS.forget()
    forget_cached_contacts()
    yield
    for memory in (PENDING, WARM, REMEMBERED):
        memory.clear()
    OWN_NUMBERS.forget()
    forget_cached_contacts()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite on free loopback ports for the whole session, in memory."""
    with Azurite(ports=0) as instance:
        yield instance


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite) -> str:
    """`AzureWebJobsStorage` for the session's Azurite."""
    return azurite.connection_string


@pytest.fixture
def unique_name() -> str:
    """A fresh lowercase alphanumeric name (valid for tables and queues) for test isolation."""
    return "t" + uuid.uuid4().hex[:20]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without any Switchboard or Twilio setting leaking in from the shell."""
    for name in list(os.environ):
        if name.startswith(SCRUBBED_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    return monkeypatch
