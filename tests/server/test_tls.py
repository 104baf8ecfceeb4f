"""TLS and mutual TLS on the hub's gRPC port, with a CA made in the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub_client.client import Credentials, HubClient, channel_credentials
from hub_client.errors import HubClientError
from hub_client.hub.v1 import token_pb2
from tests.servers.hub import HubServer


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


class Authority:
    """A throwaway certificate authority that issues server and client certs."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            self._builder(self.subject, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = directory / f"{name}.pem"
        self.cert_path.write_bytes(
            self.certificate.public_bytes(serialization.Encoding.PEM)
        )

    def _builder(
        self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )

    def issue(self, common_name: str, *, server: bool) -> Pair:
        """A leaf for 127.0.0.1 and localhost (server) or a client identity."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        usage = (
            ExtendedKeyUsageOID.SERVER_AUTH
            if server
            else ExtendedKeyUsageOID.CLIENT_AUTH
        )
        builder = (
            self._builder(subject, key.public_key())
            .add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.DNSName("localhost"),
                    ]
                ),
                critical=False,
            )
        certificate = builder.sign(self.key, hashes.SHA256())
        pair = Pair(
            self.directory / f"{self.name}-{common_name}.pem",
            self.directory / f"{self.name}-{common_name}.key",
        )
        pair.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        pair.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        pair.key.chmod(0o600)
        return pair


class TlsHub(HubServer):
    """The hub fixture, but it waits for health over TLS with ``credentials``."""

    def __init__(
        self, workdir: Path, env: dict[str, str], credentials: grpc.ChannelCredentials
    ) -> None:
        super().__init__(workdir, env)
        self.tls = credentials

    def _wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with grpc.secure_channel(self.address, self.tls) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"hub-server exited:\n{self.log()}")
                try:
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    return
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"hub did not start:\n{self.log()}"
                        ) from None
                time.sleep(0.1)


@dataclass(frozen=True)
class Pki:
    """The hub's CA and pairs, and a rogue CA nobody trusts."""

    ca: Authority
    server: Pair
    client: Pair
    rogue: Authority
    rogue_client: Pair


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = Authority(directory, "hub-ca")
    rogue = Authority(directory, "rogue-ca")
    return Pki(
        ca,
        ca.issue("hub", server=True),
        ca.issue("client", server=False),
        rogue,
        rogue.issue("client", server=False),
    )


def _trusting(pki: Pki, client: Pair | None = None) -> grpc.ChannelCredentials:
    return channel_credentials(
        str(pki.ca.cert_path),
        str(client.cert) if client else None,
        str(client.key) if client else None,
    )


@pytest.fixture(scope="module")
def tls_hub(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[HubServer]:
    env = {"HUB_TLS_CERT": str(pki.server.cert), "HUB_TLS_KEY": str(pki.server.key)}
    with TlsHub(tmp_path_factory.mktemp("hub"), env, _trusting(pki)) as hub:
        yield hub


@pytest.fixture(scope="module")
def mtls_hub(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[HubServer]:
    env = {
        "HUB_TLS_CERT": str(pki.server.cert),
        "HUB_TLS_KEY": str(pki.server.key),
        "HUB_TLS_CLIENT_CA": str(pki.ca.cert_path),
    }
    hub = TlsHub(tmp_path_factory.mktemp("hub"), env, _trusting(pki, pki.client))
    with hub:
        yield hub


def _who_am_i(hub: HubServer, tls: grpc.ChannelCredentials | None) -> str:
    """The caller's client id over a channel with ``tls`` (plaintext when None)."""
    credentials = Credentials(hub.client_id, hub.secret)
    with HubClient(hub.address, credentials, tls=tls) as client:
        return str(
            client.tokens.WhoAmI(token_pb2.WhoAmIRequest(), timeout=5).token.client_id
        )


def _refused(hub: HubServer, tls: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    with pytest.raises(HubClientError) as caught:
        _who_am_i(hub, tls)
    return caught.value.code


def test_a_tls_client_is_served(tls_hub: HubServer, pki: Pki) -> None:
    assert _who_am_i(tls_hub, _trusting(pki)) == tls_hub.client_id


def test_a_plaintext_client_is_refused(tls_hub: HubServer) -> None:
    assert _refused(tls_hub, None) is grpc.StatusCode.UNAVAILABLE


def test_a_client_trusting_another_ca_is_refused(tls_hub: HubServer, pki: Pki) -> None:
    other = channel_credentials(str(pki.rogue.cert_path))

    assert _refused(tls_hub, other) is grpc.StatusCode.UNAVAILABLE


def test_health_answers_over_tls(tls_hub: HubServer, pki: Pki) -> None:
    with grpc.secure_channel(tls_hub.address, _trusting(pki)) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )

    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_mtls_serves_a_client_with_a_certificate_from_the_ca(
    mtls_hub: HubServer, pki: Pki
) -> None:
    assert _who_am_i(mtls_hub, _trusting(pki, pki.client)) == mtls_hub.client_id


@pytest.mark.parametrize(
    "client",
    [
        pytest.param(None, id="no-client-certificate"),
        pytest.param("rogue", id="certificate-from-another-ca"),
    ],
)
def test_mtls_refuses_a_client_without_a_trusted_certificate(
    mtls_hub: HubServer, pki: Pki, client: str | None
) -> None:
    pair = pki.rogue_client if client == "rogue" else None

    assert _refused(mtls_hub, _trusting(pki, pair)) is grpc.StatusCode.UNAVAILABLE


def test_mtls_still_needs_a_token(mtls_hub: HubServer, pki: Pki) -> None:
    tls = _trusting(pki, pki.client)
    with (
        HubClient(mtls_hub.address, None, tls=tls) as client,
        pytest.raises(HubClientError) as caught,
    ):
        client.tokens.WhoAmI(token_pb2.WhoAmIRequest(), timeout=5)

    assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED


def test_mtls_refuses_a_plaintext_client(mtls_hub: HubServer) -> None:
    assert _refused(mtls_hub, None) is grpc.StatusCode.UNAVAILABLE
