"""Assembles the gRPC server: services, interceptor, health, reflection, TLS."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hub_client.hub.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    challenge_pb2,
    challenge_pb2_grpc,
    credential_pb2,
    credential_pb2_grpc,
    principal_pb2,
    principal_pb2_grpc,
    role_pb2,
    role_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from hub_server.auth import (
    Authenticator,
    FailureThrottle,
    hash_secret,
    new_client_id,
    new_secret,
)
from hub_server.config import ConfigError, Settings
from hub_server.interceptor import HubInterceptor
from hub_server.runtime import start_executor, stop_executor
from hub_server.services.challenges import ChallengeService
from hub_server.services.credentials import CredentialService
from hub_server.services.principals import PrincipalService, RoleService
from hub_server.services.tokens import AuditService, TokenService
from providers.base import Nameserver, Provider, ProviderContext, provider_type
from providers.embedded_server import EmbeddedDnsServer
from storage import models
from storage.database import open_database
from storage.embedded_store import DatabaseRecordStore
from storage.secretbox import SecretBox, load_master_key

logger = logging.getLogger(__name__)

SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (challenge_pb2, "ChallengeService"),
        (credential_pb2, "CredentialService"),
        (principal_pb2, "PrincipalService"),
        (role_pb2, "RoleService"),
        (token_pb2, "TokenService"),
        (audit_pb2, "AuditService"),
    )
)

# Metadata beyond this size is refused by the transport before any handler runs.
MAX_METADATA_BYTES = 16 * 1024


@dataclass
class Hub:
    """What a running hub holds: settings, its secret box, what providers borrow."""

    settings: Settings
    secret_box: SecretBox
    provider_context: ProviderContext

    def build_provider(self, row: models.StoredCredential) -> Provider:
        """A provider for a stored credential, its secrets decrypted in memory only."""
        cls = provider_type(row.provider_type)
        params = {**json.loads(row.parameters), **self.secret_box.decrypt(row.secrets)}
        return cls(params, self.provider_context)


def trusted_proxies(settings: Settings) -> frozenset[str]:
    """The gateways whose x-forwarded-for the hub believes, as IP addresses."""
    try:
        return frozenset(
            str(ipaddress.ip_address(text)) for text in settings.trusted_proxies
        )
    except ValueError:
        raise ConfigError("setting trusted_proxies: expected IP addresses") from None


def _nameservers(field: str, texts: list[str]) -> list[Nameserver]:
    try:
        return [Nameserver.parse(text) for text in texts]
    except ValueError:
        raise ConfigError(f"setting {field}: expected HOST:PORT addresses") from None


def open_hub(settings: Settings, *, create_key: bool = False) -> Hub:
    """Load the master key, then open (and migrate) the database."""
    # A hub without its key cannot serve; say so before touching the database.
    secret_box = SecretBox(
        load_master_key(
            settings.master_key or None,
            settings.effective_master_key_file,
            create=create_key,
        )
    )
    open_database(
        settings.effective_database_url, wait_seconds=settings.database_wait_seconds
    )
    context = ProviderContext(
        resolvers=_nameservers("resolvers", settings.resolvers),
        authoritative_port=settings.authoritative_port,
    )
    return Hub(settings, secret_box, context)


def initialise(settings: Settings) -> tuple[Path, bool]:
    """Prepare the database, the master key and the first Administrator token.

    Returns the credentials file and whether this call created it. An existing
    administrator or credentials file is left alone: nothing is overwritten.
    A data directory made here is for the owner only: the database holds the
    audit trail and the encrypted credentials.
    """
    Path(settings.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    open_hub(settings, create_key=True)
    path = settings.admin_credentials_file
    existing = (
        models.RoleAssignment.select()
        .where(models.RoleAssignment.role_id == "administrator")
        .exists()
    )
    if existing or path.exists():
        return path, False
    secret = new_secret()
    with models.database_proxy.atomic():
        principal = models.Principal.create(
            id=models.new_id("p"),
            type="user",
            title="Administrator",
            description="Created by hub-server init",
        )
        models.RoleAssignment.create(
            id=models.new_id("ra"), principal=principal.id, role_id="administrator"
        )
        token = models.Token.create(
            id=models.new_id("t"),
            client_id=new_client_id(),
            secret_hash=hash_secret(secret),
            principal=principal.id,
            title="Administrator (hub-server init)",
            scope="administrator",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "address": settings.listen,
        "client_id": token.client_id,
        "client_secret": secret,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    return path, True


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if not settings.tls_cert:
        return None
    key = Path(settings.tls_key).read_bytes()
    cert = Path(settings.tls_cert).read_bytes()
    client_ca = (
        Path(settings.tls_client_ca).read_bytes() if settings.tls_client_ca else None
    )
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


class HubServer:
    """A started hub: the gRPC server and the tasks that run beside it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hub = open_hub(settings)
        start_executor(settings.workers)
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server(
            interceptors=[
                HubInterceptor(
                    Authenticator(),
                    FailureThrottle(settings.auth_failure_max_delay),
                    trusted_proxies(settings),
                )
            ],
            options=[
                ("grpc.max_metadata_size", MAX_METADATA_BYTES),
                # Without this a second hub on the same address binds it too
                # and the kernel splits connections between them.
                ("grpc.so_reuseport", 0),
            ],
        )
        self.challenges = ChallengeService(self.hub)
        self.embedded: EmbeddedDnsServer | None = None
        self._add_services()
        self.port = 0

    def _add_services(self) -> None:
        challenge_pb2_grpc.add_ChallengeServiceServicer_to_server(
            self.challenges, self.server
        )
        credential_pb2_grpc.add_CredentialServiceServicer_to_server(
            CredentialService(self.hub), self.server
        )
        principal_pb2_grpc.add_PrincipalServiceServicer_to_server(
            PrincipalService(), self.server
        )
        role_pb2_grpc.add_RoleServiceServicer_to_server(RoleService(), self.server)
        token_pb2_grpc.add_TokenServiceServicer_to_server(TokenService(), self.server)
        audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditService(), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )

    async def start(self) -> None:
        await self._start_embedded_dns()
        credentials = _server_credentials(self.settings)
        try:
            if credentials is None:
                self.port = self.server.add_insecure_port(self.settings.listen)
            else:
                self.port = self.server.add_secure_port(
                    self.settings.listen, credentials
                )
        except RuntimeError as exc:
            raise ConfigError(
                f"setting listen: cannot listen on {self.settings.listen} "
                "(address in use, or not an address of this host)"
            ) from exc
        if credentials is None and not _is_loopback(self.settings.listen):
            logger.warning(
                "listening on %s without TLS: set tls_cert and tls_key",
                self.settings.listen,
            )
        await self.server.start()
        for name in ("", *SERVICE_NAMES):
            await _set_health(self.health, name, health_pb2.HealthCheckResponse.SERVING)
        self.challenges.engine.start_sweeper()
        logger.info("hub listening on %s", self.settings.listen)

    async def _start_embedded_dns(self) -> None:
        listen = self.settings.embedded_dns_listen
        if not listen:
            return
        if not self.settings.embedded_dns_zones:
            raise ConfigError("setting embedded_dns_zones: name at least one zone")
        address = _nameservers("embedded_dns_listen", [listen])[0]
        self.embedded = EmbeddedDnsServer(
            self.settings.embedded_dns_zones, DatabaseRecordStore()
        )
        await self.embedded.start(address.host, address.port)
        self.hub.provider_context.embedded = self.embedded
        logger.info(
            "embedded DNS serving %s on %s",
            ", ".join(self.settings.embedded_dns_zones),
            address,
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking calls, let calls in flight finish, close the database."""
        for name in ("", *SERVICE_NAMES):
            await _set_health(
                self.health, name, health_pb2.HealthCheckResponse.NOT_SERVING
            )
        await self.server.stop(grace)
        await self.challenges.engine.stop()
        if self.embedded is not None:
            await self.embedded.stop()
        stop_executor()
        models.database_proxy.close()
        logger.info("hub stopped")


async def _set_health(servicer: object, name: str, status: int) -> None:
    result = servicer.set(name, status)  # type: ignore[attr-defined]
    if asyncio.iscoroutine(result):
        await result


async def serve(settings: Settings) -> None:
    """Run the hub until SIGTERM or SIGINT, then shut down gracefully."""
    server = HubServer(settings)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    logger.info("shutting down")
    await server.stop()
