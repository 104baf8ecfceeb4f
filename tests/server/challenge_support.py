"""Helpers and fixtures for challenge tests against a real hub and real DNS servers."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from hub_client.client import HubClient
from hub_client.hub.v1 import challenge_pb2, credential_pb2
from hub_server.names import dns01_value
from tests.bridge.stack import hub_env
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer
from tests.servers.powerdns import PowerDnsServer, start_powerdns

READY = challenge_pb2.OPERATION_STATE_READY
FAILED = challenge_pb2.OPERATION_STATE_FAILED
CLEANED = challenge_pb2.OPERATION_STATE_CLEANED
PRESENTING = challenge_pb2.OPERATION_STATE_PRESENTING
PROPAGATING = challenge_pb2.OPERATION_STATE_PROPAGATING
EXAMPLE_RULE = "example.com; *.example.com"


def new_value() -> str:
    """A fresh dns-01 value: 43 characters of unpadded base64url."""
    return dns01_value(secrets.token_hex(16))


def create_credential(
    admin: HubClient, params: dict[str, str], provider_type: str = "rfc2136"
) -> str:
    """Store a credential; returns its id."""
    created = admin.credentials.CreateStoredCredential(
        credential_pb2.CreateStoredCredentialRequest(
            title=f"{provider_type} for tests",
            provider_type=provider_type,
            parameters=params,
        )
    )
    return str(created.id)


def create_config(
    admin: HubClient,
    credential_id: str,
    rule: str,
    *,
    timeout: int = 30,
    nameservers: tuple[str, ...] = (),
    **fields: object,
) -> challenge_pb2.ManagedChallenge:
    """A dns-01 config serving ``rule`` through the credential."""
    return admin.challenges.CreateManagedChallenge(
        challenge_pb2.CreateManagedChallengeRequest(
            managed_challenge=challenge_pb2.ManagedChallenge(
                title=f"config for {rule}",
                challenge_type="dns-01",
                credential_id=credential_id,
                domain_match_rule=rule,
                propagation=challenge_pb2.PropagationSettings(
                    timeout_seconds=timeout, nameservers=list(nameservers)
                ),
                **fields,  # type: ignore[arg-type]
            )
        )
    )


def perform(
    client: HubClient, identifier: str, value: str, *, wait: bool = True, **extra: str
) -> challenge_pb2.Operation:
    """PerformChallenge for ``identifier``, by default waiting for a final state."""
    return client.challenges.PerformChallenge(
        challenge_pb2.PerformChallengeRequest(
            identifier=identifier, value=value, wait=wait, **extra
        ),
        timeout=60,
    )


def cleanup(
    client: HubClient, identifier: str, value: str, **extra: str
) -> challenge_pb2.CleanupChallengeResponse:
    """CleanupChallenge for ``value`` at ``identifier``."""
    return client.challenges.CleanupChallenge(
        challenge_pb2.CleanupChallengeRequest(
            identifier=identifier, value=value, **extra
        ),
        timeout=60,
    )


def list_records(
    client: HubClient, name: str = "", state: int = 0
) -> list[challenge_pb2.ChallengeRecord]:
    """The challenge records ListRecords returns for ``name`` and ``state``."""
    answer = client.challenges.ListRecords(
        challenge_pb2.ListRecordsRequest(name=name, state=state)  # type: ignore[arg-type]
    )
    return list(answer.records)


def wait_for_state(
    client: HubClient, operation_id: str, states: set[int], timeout: float = 30
) -> challenge_pb2.Operation:
    """Poll GetOperation until the operation reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        operation = client.challenges.GetOperation(
            challenge_pb2.GetOperationRequest(id=operation_id)
        )
        if operation.state in states:
            return operation
        assert time.monotonic() < deadline, f"still {operation}"
        time.sleep(0.1)


def pdns_env(pdns: PowerDnsServer) -> dict[str, str]:
    """Hub settings that make it resolve and check zones on ``pdns``."""
    return {
        "HUB_RESOLVERS": f"127.0.0.1:{pdns.dns_port}",
        "HUB_AUTHORITATIVE_PORT": str(pdns.dns_port),
    }


def pdns_params(pdns: PowerDnsServer, api_url: str = "") -> dict[str, str]:
    """Parameters of a powerdns credential for ``pdns`` (or an API at ``api_url``)."""
    return {
        "api_url": api_url or pdns.api_url,
        "api_key": pdns.api_key,
        # The zone's NS host has no address: name the server to check.
        "nameservers": f"127.0.0.1:{pdns.dns_port}",
    }


# Fixtures: tests/server/conftest.py imports these by name.


@pytest.fixture(scope="module")
def bind() -> Iterator[BindServer]:
    """BIND9 with the default test zones (CNAMEs, delegation, foreign TXT)."""
    server = BindServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bind_hub(
    tmp_path_factory: pytest.TempPathFactory, bind: BindServer
) -> Iterator[HubServer]:
    """A hub that discovers and checks authoritative servers on ``bind``."""
    with HubServer(tmp_path_factory.mktemp("hub"), env=hub_env(bind)) as hub:
        yield hub


@pytest.fixture(scope="module")
def pdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerDnsServer]:
    """PowerDNS serving example.com, written through its HTTP API."""
    server = start_powerdns(tmp_path_factory.mktemp("pdns"))
    try:
        yield server
    finally:
        server.stop()
