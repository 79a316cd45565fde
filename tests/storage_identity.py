"""Identity-based storage against Azurite for tests: TLS certificate, bearer tokens, credentials.

Azurite with `--oauth basic` (HTTPS only) checks a bearer token's issuer (`https://sts.windows.net/
...`), audience (`https://storage.azure.com`) and lifetime (`iat`, `nbf`, `exp`), never its
signature (node_modules/azurite/README.md "OAuth Configuration"): an unsigned JWT with those
claims is what a managed identity's token looks like to it.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devkit.azurite import Azurite

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
STORAGE_SCOPE = "https://storage.azure.com/.default"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A PEM certificate and key for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "azurite-cert.pem", directory / "azurite-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def bearer_token(lifetime: int = 3600, **claims: Any) -> str:
    """An unsigned JWT with the claims Azurite checks (issuer, audience, iat/nbf/exp)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    body = {
        "aud": "https://storage.azure.com",
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime,
        "oid": "00000000-0000-0000-0000-000000000001",
        "tid": TENANT,
        **claims,
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(body)}.c2lnbmF0dXJl"


@dataclass
class StaticCredential:
    """A `TokenCredential` handing out one token; records the scopes it was asked for."""

    token: str
    scopes: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass
class AsyncStaticCredential:
    """The async twin (`AsyncTokenCredential`), for the devkit host's queue clients."""

    sync: StaticCredential

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return self.sync.get_token(*scopes, **kwargs)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncStaticCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@dataclass
class SecureAzurite:
    azurite: Azurite
    ca_file: Path

    def identity_settings(self, **extra: str) -> dict[str, str]:
        return {
            "AzureWebJobsStorage__tableServiceUri": self.azurite.service_url("table"),
            "AzureWebJobsStorage__queueServiceUri": self.azurite.service_url("queue"),
            **extra,
        }


@pytest.fixture(scope="session")
def secure_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureAzurite]:
    """Azurite over HTTPS (a certificate made here) accepting bearer tokens, for the session."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("azurite-tls"))
    with Azurite(ports=0, https=(cert, key), oauth=True) as azurite:
        yield SecureAzurite(azurite, cert)
