"""hubctl over TLS and mutual TLS to a real hub with certificates made here."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.cli.conftest import run_hubctl
from tests.servers.hub import HubServer


@dataclass
class Pki:
    """A CA, a server pair for 127.0.0.1 and a client pair, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _issue(
    directory: Path,
    name: str,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    server: bool = False,
) -> tuple[x509.Name, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), True)
    )
    if server:
        san = x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        )
        builder = builder.add_extension(san, critical=False)
    certificate = builder.sign(issuer_key, hashes.SHA256())
    (directory / f"{name}.pem").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
    )
    key_path = directory / f"{name}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return subject, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = _issue(directory, "ca", None)
    _issue(directory, "server", ca, server=True)
    _issue(directory, "client", ca)
    return Pki(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )


class _MutualTlsHub(HubServer):
    """The hub with TLS that asks for client certificates; health over TLS too."""

    def __init__(self, workdir: Path, pki: Pki) -> None:
        super().__init__(
            workdir,
            env={
                "HUB_TLS_CERT": str(pki.server_cert),
                "HUB_TLS_KEY": str(pki.server_key),
                "HUB_TLS_CLIENT_CA": str(pki.ca),
            },
        )
        self.pki = pki

    def _wait_serving(self, timeout: float) -> None:
        tls = grpc.ssl_channel_credentials(
            self.pki.ca.read_bytes(),
            self.pki.client_key.read_bytes(),
            self.pki.client_cert.read_bytes(),
        )
        deadline = time.monotonic() + timeout
        with grpc.secure_channel(self.address, tls) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"hub-server exited:\n{self.log()}")
                try:
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    return
                except grpc.RpcError:
                    time.sleep(0.1)
        raise RuntimeError(f"hub-server did not start:\n{self.log()}")


@pytest.fixture(scope="module")
def tls_hub(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[HubServer]:
    with _MutualTlsHub(tmp_path_factory.mktemp("tls-hub"), pki) as server:
        yield server


def test_mutual_tls_by_flags(tls_hub: HubServer, pki: Pki) -> None:
    result = run_hubctl(
        "--ca-file", str(pki.ca), "--cert-file", str(pki.client_cert),
        "--key-file", str(pki.client_key), "whoami", "--json",
        env=tls_hub.env(),
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert result.json()["token"]["client_id"] == tls_hub.client_id


def test_mutual_tls_by_environment(tls_hub: HubServer, pki: Pki) -> None:
    environment = {
        **tls_hub.env(),
        "HUB_CA_FILE": str(pki.ca),
        "HUB_CERT_FILE": str(pki.client_cert),
        "HUB_KEY_FILE": str(pki.client_key),
    }

    assert run_hubctl("whoami", env=environment).code == 0


def test_mutual_tls_by_profile(tls_hub: HubServer, pki: Pki, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    document = json.loads(tls_hub.profile_path.read_text())
    document |= {
        "ca_file": str(pki.ca),
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
    }
    profile.write_text(json.dumps(document))
    profile.chmod(0o600)

    result = run_hubctl("--profile", str(profile), "whoami")

    assert result.code == 0, result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param([], "closed the connection; it may want TLS", id="plaintext"),
        pytest.param(
            ["--ca-file", "CA"],
            "closed the connection; it may want TLS (--tls or --ca-file) or a "
            "client certificate",
            id="no-client-certificate",
        ),
        pytest.param(
            ["--tls"],
            "its certificate is not trusted; give the CA that signed it with --ca-file",
            id="untrusted-server",
        ),
    ],
)
def test_refused_connections_are_one_line_and_exit_1(
    tls_hub: HubServer, pki: Pki, flags: list[str], message: str
) -> None:
    flags = [str(pki.ca) if flag == "CA" else flag for flag in flags]

    result = run_hubctl(*flags, "--timeout", "5", "whoami", env=tls_hub.env())

    assert result.code == 1
    # gRPC's C core may log the failed handshake itself before hubctl's line.
    lines = [line for line in result.stderr.splitlines() if not _core_log(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: the hub at {tls_hub.address}") or (
        lines[0].startswith(f"Error: TLS handshake with {tls_hub.address}")
    )
    assert message in lines[0]


def _core_log(line: str) -> bool:
    return re.match(r"^[IWE]\d{4} \d", line) is not None


def test_an_unreadable_ca_file_is_a_usage_error(
    tls_hub: HubServer, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.pem"

    result = run_hubctl("--ca-file", str(missing), "whoami", env=tls_hub.env())

    assert result.code == 2
    assert f"cannot read TLS file {missing}" in result.stderr
