"""Every RPC of the hub.v1 contract names an action, and every action exists."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import ServiceDescriptor

from hub_client.hub.v1 import (
    audit_pb2,
    challenge_pb2,
    credential_pb2,
    principal_pb2,
    role_pb2,
    token_pb2,
)
from hub_server.actions import ACTIONS, METHOD_ACTIONS, READ_ONLY_ACTIONS, ROLES

_MODULES = (
    audit_pb2,
    challenge_pb2,
    credential_pb2,
    principal_pb2,
    role_pb2,
    token_pb2,
)


def _services() -> list[ServiceDescriptor]:
    return [
        service
        for module in _MODULES
        for service in module.DESCRIPTOR.services_by_name.values()
    ]


def _contract_methods() -> list[str]:
    """``/hub.v1.Service/Method`` for every method the generated descriptors hold."""
    return [
        f"/{service.full_name}/{method.name}"
        for service in _services()
        for method in service.methods
    ]


def test_the_contract_has_the_six_services() -> None:
    names = {service.full_name for service in _services()}
    assert names == {
        "hub.v1.AuditService",
        "hub.v1.ChallengeService",
        "hub.v1.CredentialService",
        "hub.v1.PrincipalService",
        "hub.v1.RoleService",
        "hub.v1.TokenService",
    }


@pytest.mark.parametrize("method", _contract_methods())
def test_every_method_declares_a_known_action(method: str) -> None:
    assert method in METHOD_ACTIONS, f"{method} has no entry in METHOD_ACTIONS"
    assert METHOD_ACTIONS[method] in ACTIONS


def test_no_action_is_declared_for_a_method_the_contract_lacks() -> None:
    assert set(METHOD_ACTIONS) - set(_contract_methods()) == set()


@pytest.mark.parametrize("role_id", sorted(ROLES))
def test_every_role_grants_only_known_actions(role_id: str) -> None:
    role = ROLES[role_id]
    assert role.actions
    assert role.actions <= set(ACTIONS)


def test_the_administrator_holds_every_action() -> None:
    assert ROLES["administrator"].actions == set(ACTIONS)


@pytest.mark.parametrize(
    ("role_id", "expected"),
    [
        pytest.param(
            "managed-challenge-consumer",
            {"challenge.request", "challenge.cleanup", "operation.read", "self.read"},
            id="consumer-only-publishes-and-cleans-up",
        ),
        pytest.param(
            "hub-managed-instance",
            {"instance.join", "self.read"},
            id="instance-only-joins",
        ),
    ],
)
def test_narrow_roles_hold_exactly_their_actions(
    role_id: str, expected: set[str]
) -> None:
    assert ROLES[role_id].actions == expected


def test_the_viewer_changes_nothing() -> None:
    assert ROLES["hub-viewer"].actions <= READ_ONLY_ACTIONS


def test_every_action_has_a_description() -> None:
    assert all(description.strip() for description in ACTIONS.values())
