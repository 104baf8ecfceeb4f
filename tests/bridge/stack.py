"""The pieces bridge, end-to-end and benchmark runs share: a zone, tokens, a bridge."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from hub_client.client import Credentials, HubClient
from hub_client.hub.v1 import (
    challenge_pb2,
    credential_pb2,
    principal_pb2,
    token_pb2,
)
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer
from tests.servers.pebble import PebbleServer, start_pebble
from tests.servers.ports import free_port

CONSUMER_ROLE = "managed-challenge-consumer"
EXAMPLE_RULE = "example.com; *.example.com"

# example.com without the CNAMEs and the delegated child of the default test
# zones: an ACME client follows a CNAME at the validation name by itself, and
# these runs are about the plain path. The SPF record shows foreign values stay.
EXAMPLE_ZONES = ("example.com",)
EXAMPLE_RECORDS: Mapping[str, tuple[str, ...]] = {
    "example.com": ('@ TXT "v=spf1 -all"',),
}


def start_example_bind() -> BindServer:
    """A BIND9 serving only example.com, started."""
    return BindServer(zones=EXAMPLE_ZONES, records=EXAMPLE_RECORDS).start()


def hub_env(bind: BindServer) -> dict[str, str]:
    """Hub settings that make it check propagation on the test's BIND9."""
    return {
        "HUB_RESOLVERS": bind.server,
        "HUB_AUTHORITATIVE_PORT": str(bind.port),
        "HUB_PROPAGATION_TIMEOUT": "30",
    }


def provision_example_com(admin: HubClient, bind: BindServer) -> str:
    """An rfc2136 credential for ``bind`` and a config serving example.com.

    Returns the config id.
    """
    credential = admin.credentials.CreateStoredCredential(
        credential_pb2.CreateStoredCredentialRequest(
            title="test BIND9",
            provider_type="rfc2136",
            parameters=bind.provider_params(),
        )
    )
    config = admin.challenges.CreateManagedChallenge(
        challenge_pb2.CreateManagedChallengeRequest(
            managed_challenge=challenge_pb2.ManagedChallenge(
                title="example.com on BIND9",
                challenge_type="dns-01",
                credential_id=credential.id,
                domain_match_rule=EXAMPLE_RULE,
                ttl=60,
                propagation=challenge_pb2.PropagationSettings(
                    timeout_seconds=30, nameservers=[bind.server]
                ),
            )
        )
    )
    return str(config.id)


def consumer_token(
    admin: HubClient, title: str, domain_restrictions: str = ""
) -> Credentials:
    """A new principal with the consumer role, and a token scoped to that role."""
    principal = admin.principals.CreatePrincipal(
        principal_pb2.CreatePrincipalRequest(
            type=principal_pb2.PRINCIPAL_TYPE_APPLICATION, title=title
        )
    )
    admin.principals.AssignRole(
        principal_pb2.AssignRoleRequest(
            principal_id=principal.id,
            role_id=CONSUMER_ROLE,
            domain_restrictions=domain_restrictions,
        )
    )
    created = admin.tokens.CreateToken(
        token_pb2.CreateTokenRequest(
            principal_id=principal.id, title=title, scope_role_ids=[CONSUMER_ROLE]
        )
    )
    return Credentials(created.token.client_id, created.secret)


def acme_txt_values(bind: BindServer, names: tuple[str, ...]) -> dict[str, set[str]]:
    """The TXT values at ``_acme-challenge.<name>`` for each name that has any."""
    found = {}
    for name in names:
        values = bind.read_txt(f"_acme-challenge.{name}")
        if values:
            found[name] = values
    return found


# Fixtures: conftest modules import these by name.


@pytest.fixture(scope="module")
def example_bind() -> Iterator[BindServer]:
    """BIND9 serving example.com, one per test module."""
    server = start_example_bind()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def example_hub(
    tmp_path_factory: pytest.TempPathFactory, example_bind: BindServer
) -> Iterator[HubServer]:
    """A hub whose config serves example.com on ``example_bind`` by RFC 2136."""
    with HubServer(tmp_path_factory.mktemp("hub"), env=hub_env(example_bind)) as hub:
        with hub.client() as admin:
            provision_example_com(admin, example_bind)
        yield hub


@pytest.fixture(scope="module")
def consumer(example_hub: HubServer) -> Credentials:
    """A Managed Challenge Consumer token without domain restrictions."""
    with example_hub.client() as admin:
        return consumer_token(admin, "consumer")


@pytest.fixture(scope="module")
def www_only_consumer(example_hub: HubServer) -> Credentials:
    """A consumer token whose role assignment admits only www.example.com."""
    with example_hub.client() as admin:
        return consumer_token(admin, "www only", domain_restrictions="www.example.com")


class BridgeProcess:
    """``hub-bridge`` as a child process on a free loopback port."""

    def __init__(
        self,
        hub_address: str,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        *,
        scheme: str = "http",
    ) -> None:
        self.hub_address = hub_address
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_path = workdir / "bridge.log"
        self._env = {
            **os.environ,
            "HUB_ADDRESS": hub_address,
            "HUB_BRIDGE_LISTEN": f"127.0.0.1:{self.port}",
            **(env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        """Start the bridge and wait until its health check says the hub answers."""
        executable = shutil.which("hub-bridge", path=str(Path(sys.executable).parent))
        command = (
            [executable] if executable else [sys.executable, "-m", "hub_client.bridge"]
        )
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [*command, "--log-level", "info"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"hub-bridge exited:\n{self.log_text()}")
            try:
                # Only readiness is checked here; tests check the certificate.
                answer = httpx.get(f"{self.url}/healthz", timeout=1, verify=False)
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub-bridge is not healthy:\n{self.log_text()}")
            time.sleep(0.05)

    def log_text(self) -> str:
        """What the bridge logged so far."""
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def stop(self) -> None:
        """Stop the bridge; safe to call twice."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> BridgeProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture(scope="module")
def bridge_process(
    tmp_path_factory: pytest.TempPathFactory, example_hub: HubServer
) -> Iterator[BridgeProcess]:
    """``hub-bridge`` running against the module's hub."""
    with BridgeProcess(
        example_hub.address, tmp_path_factory.mktemp("bridge")
    ) as bridge:
        yield bridge


@pytest.fixture(scope="module")
def pebble(
    tmp_path_factory: pytest.TempPathFactory, example_bind: BindServer
) -> Iterator[PebbleServer]:
    """Pebble checking dns-01 answers on the module's BIND9."""
    server = start_pebble(tmp_path_factory.mktemp("pebble"), example_bind.nameserver)
    try:
        yield server
    finally:
        server.stop()
