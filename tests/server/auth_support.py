"""Helpers for authentication and authorisation tests against a real hub."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import timestamp_pb2

from hub_client.client import Credentials, HubClient
from hub_client.errors import HubClientError
from hub_client.hub.v1 import challenge_pb2, credential_pb2, principal_pb2, token_pb2

UNAUTHENTICATED_MESSAGE = "missing or invalid client credentials"
# A well-formed dns-01 value: 43 characters of base64url.
VALUE = "A" * 43
OTHER_VALUE = "B" * 43
DEMO_RULE = "**.demo.test"


def issue_token(
    admin: HubClient,
    title: str,
    roles: dict[str, str],
    scope: list[str] | None = None,
    expire_time: timestamp_pb2.Timestamp | None = None,
) -> tuple[str, Credentials]:
    """A new principal holding ``roles`` (role id -> domain restrictions).

    Returns the principal id and a token scoped to ``scope`` (all roles if None).
    """
    principal = admin.principals.CreatePrincipal(
        principal_pb2.CreatePrincipalRequest(
            type=principal_pb2.PRINCIPAL_TYPE_APPLICATION, title=title
        )
    )
    for role_id, restrictions in roles.items():
        admin.principals.AssignRole(
            principal_pb2.AssignRoleRequest(
                principal_id=principal.id,
                role_id=role_id,
                domain_restrictions=restrictions,
            )
        )
    created = admin.tokens.CreateToken(
        token_pb2.CreateTokenRequest(
            principal_id=principal.id,
            title=title,
            scope_role_ids=list(roles) if scope is None else scope,
            expire_time=expire_time,
        )
    )
    return principal.id, Credentials(created.token.client_id, created.secret)


def provision_demo(admin: HubClient) -> str:
    """An embedded-DNS credential and a config serving every name in demo.test."""
    credential = admin.credentials.CreateStoredCredential(
        credential_pb2.CreateStoredCredentialRequest(
            title="embedded", provider_type="embedded"
        )
    )
    config = admin.challenges.CreateManagedChallenge(
        challenge_pb2.CreateManagedChallengeRequest(
            managed_challenge=challenge_pb2.ManagedChallenge(
                title="demo.test",
                challenge_type="dns-01",
                credential_id=credential.id,
                domain_match_rule=DEMO_RULE,
                ttl=60,
                propagation=challenge_pb2.PropagationSettings(timeout_seconds=20),
            )
        )
    )
    return str(config.id)


def refusal(call: Callable[[], Any]) -> HubClientError:
    """Run ``call``, which must fail, and return the typed error."""
    with pytest.raises(HubClientError) as caught:
        call()
    return caught.value
