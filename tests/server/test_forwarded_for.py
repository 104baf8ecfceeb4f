"""A gateway's x-forwarded-for keeps one client's failures from slowing the rest."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hub_client.hub.v1 import audit_pb2, token_pb2, token_pb2_grpc
from tests.servers.hub import HubServer


def _failed_call(hub: HubServer, forwarded_for: str) -> float:
    """One call with an unknown client id; returns how long the refusal took."""
    metadata = (
        ("x-client-id", f"hub_{secrets.token_hex(10)}"),
        ("x-client-secret", "not-a-secret-of-anyone"),
        ("x-forwarded-for", forwarded_for),
    )
    with grpc.insecure_channel(hub.address) as channel:
        stub = token_pb2_grpc.TokenServiceStub(channel)
        started = time.perf_counter()
        with pytest.raises(grpc.RpcError) as caught:
            stub.WhoAmI(token_pb2.WhoAmIRequest(), metadata=metadata)
        elapsed = time.perf_counter() - started
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    return elapsed


def test_failures_count_per_forwarded_client(fresh_hub: HubServer) -> None:
    guesser = [_failed_call(fresh_hub, "192.0.2.1") for _ in range(6)]
    bystander = _failed_call(fresh_hub, "192.0.2.2")

    # The guesser's refusals slow down; a first failure of another client behind
    # the same gateway is not charged for them.
    assert guesser[-1] > 4 * guesser[0]
    assert bystander < guesser[-1] / 2


def test_audit_names_the_forwarded_client(fresh_hub: HubServer) -> None:
    _failed_call(fresh_hub, "2001:db8::7")

    with fresh_hub.client() as admin:
        events = admin.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(outcome=audit_pb2.AUDIT_OUTCOME_DENIED)
        ).events

    assert [e.peer.endswith(" for 2001:db8::7") for e in events] == [True]


def test_a_malformed_forwarded_address_is_ignored(fresh_hub: HubServer) -> None:
    _failed_call(fresh_hub, "not an address")

    with fresh_hub.client() as admin:
        events = admin.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(outcome=audit_pb2.AUDIT_OUTCOME_DENIED)
        ).events

    assert len(events) == 1
    assert " for " not in events[0].peer
    assert events[0].peer.startswith("ipv4:127.0.0.1:")


@pytest.fixture
def untrusting_hub(tmp_path: Path) -> Iterator[HubServer]:
    """A hub that trusts no gateway: x-forwarded-for counts for nothing."""
    with HubServer(tmp_path / "hub", env={"HUB_TRUSTED_PROXIES": ""}) as server:
        yield server


def test_an_untrusted_peer_cannot_escape_the_throttle_by_forging_addresses(
    untrusting_hub: HubServer,
) -> None:
    # Each failure claims another client address; they all count for the peer.
    delays = [_failed_call(untrusting_hub, f"192.0.2.{n}") for n in range(1, 7)]

    with untrusting_hub.client() as admin:
        events = admin.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(outcome=audit_pb2.AUDIT_OUTCOME_DENIED)
        ).events

    assert delays[-1] > 4 * delays[0]
    assert len(events) == 6
    assert all(" for " not in e.peer for e in events)
