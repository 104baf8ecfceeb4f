"""Who may call what: each built-in role against each action, and each way to fail."""

from __future__ import annotations

import base64
import contextlib
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, message, timestamp_pb2

from hub_client.client import Credentials, HubClient
from hub_client.errors import HubClientError
from hub_client.hub.v1 import (
    audit_pb2,
    challenge_pb2,
    credential_pb2,
    principal_pb2,
    role_pb2,
    token_pb2,
    token_pb2_grpc,
)
from tests.server.auth_support import (
    OTHER_VALUE,
    UNAUTHENTICATED_MESSAGE,
    VALUE,
    issue_token,
    provision_demo,
    refusal,
)
from tests.servers.hub import HubServer


@pytest.fixture(scope="module")
def table_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A hub serving demo.test; failures are slowed by at most 0.2 s here."""
    env = {"HUB_AUTH_FAILURE_MAX_DELAY": "0.2"}
    with HubServer(tmp_path_factory.mktemp("hub"), env=env) as hub:
        with hub.client() as admin:
            provision_demo(admin)
        yield hub


@pytest.fixture(scope="module")
def admin(table_hub: HubServer) -> Iterator[HubClient]:
    with table_hub.client() as client:
        yield client


# -- every built-in role against every kind of action ---------------------------


@dataclass(frozen=True)
class Probe:
    """One call that needs ``action``; an allowed caller sees ``allowed``."""

    action: str
    service: str
    method: str
    request: message.Message
    allowed: grpc.StatusCode = grpc.StatusCode.OK


# Writes name objects that do not exist: NOT_FOUND proves the call got past the
# action check without changing anything the other cases rely on.
PROBES = (
    Probe(
        "challenge.request",
        "challenges",
        "ResolveManagedChallenge",
        challenge_pb2.ResolveManagedChallengeRequest(identifier="www.demo.test"),
    ),
    Probe(
        "challenge.cleanup",
        "challenges",
        "CleanupChallenge",
        challenge_pb2.CleanupChallengeRequest(identifier="www.demo.test", value=VALUE),
    ),
    Probe(
        "challenge.read",
        "challenges",
        "ListManagedChallenges",
        challenge_pb2.ListManagedChallengesRequest(),
    ),
    Probe(
        "challenge.write",
        "challenges",
        "DeleteManagedChallenge",
        challenge_pb2.DeleteManagedChallengeRequest(id="mc-missing"),
        grpc.StatusCode.NOT_FOUND,
    ),
    Probe(
        "operation.read",
        "challenges",
        "GetOperation",
        challenge_pb2.GetOperationRequest(id="op-missing"),
        grpc.StatusCode.NOT_FOUND,
    ),
    Probe(
        "credential.read",
        "credentials",
        "ListProviders",
        credential_pb2.ListProvidersRequest(),
    ),
    Probe(
        "credential.write",
        "credentials",
        "DeleteStoredCredential",
        credential_pb2.DeleteStoredCredentialRequest(id="sc-missing"),
        grpc.StatusCode.NOT_FOUND,
    ),
    Probe(
        "principal.read",
        "principals",
        "ListPrincipals",
        principal_pb2.ListPrincipalsRequest(),
    ),
    Probe(
        "principal.write",
        "principals",
        "DeletePrincipal",
        principal_pb2.DeletePrincipalRequest(id="p-missing"),
        grpc.StatusCode.NOT_FOUND,
    ),
    Probe("role.read", "roles", "ListRoles", role_pb2.ListRolesRequest()),
    Probe("token.read", "tokens", "ListTokens", token_pb2.ListTokensRequest()),
    Probe(
        "token.write",
        "tokens",
        "RevokeToken",
        token_pb2.RevokeTokenRequest(id="t-missing"),
        grpc.StatusCode.NOT_FOUND,
    ),
    Probe("audit.read", "audit", "ListAuditEvents", audit_pb2.ListAuditEventsRequest()),
    Probe("self.read", "tokens", "WhoAmI", token_pb2.WhoAmIRequest()),
)

# What each built-in role may do, written out so a change to a role shows here.
ALLOWED: dict[str, set[str]] = {
    "administrator": {probe.action for probe in PROBES},
    "managed-challenge-admin": {
        "challenge.request",
        "challenge.cleanup",
        "challenge.read",
        "challenge.write",
        "operation.read",
        "credential.read",
        "credential.write",
        "role.read",
        "self.read",
    },
    "managed-challenge-consumer": {
        "challenge.request",
        "challenge.cleanup",
        "operation.read",
        "self.read",
    },
    "hub-managed-instance": {"self.read"},
    "hub-viewer": {
        "challenge.read",
        "operation.read",
        "credential.read",
        "principal.read",
        "role.read",
        "token.read",
        "audit.read",
        "self.read",
    },
}

ROLE_CASES = [
    pytest.param(
        role_id,
        probe,
        probe.action in allowed,
        id=f"{role_id}-{probe.action}-"
        + ("allowed" if probe.action in allowed else "denied"),
    )
    for role_id, allowed in ALLOWED.items()
    for probe in PROBES
]


@pytest.fixture(scope="module")
def role_tokens(admin: HubClient) -> dict[str, Credentials]:
    """One principal per built-in role, each with a token scoped to that role."""
    return {
        role_id: issue_token(admin, role_id, {role_id: ""})[1] for role_id in ALLOWED
    }


def _call(hub: HubServer, credentials: Credentials, probe: Probe) -> grpc.StatusCode:
    with hub.client(credentials) as client:
        try:
            getattr(getattr(client, probe.service), probe.method)(probe.request)
        except HubClientError as error:
            if error.code is grpc.StatusCode.PERMISSION_DENIED:
                assert f"action {probe.action!r} is not granted" in error.message
            return error.code
    return grpc.StatusCode.OK


@pytest.mark.parametrize(("role_id", "probe", "allowed"), ROLE_CASES)
def test_role_against_action(
    table_hub: HubServer,
    role_tokens: dict[str, Credentials],
    role_id: str,
    probe: Probe,
    allowed: bool,
) -> None:
    code = _call(table_hub, role_tokens[role_id], probe)

    assert code is (probe.allowed if allowed else grpc.StatusCode.PERMISSION_DENIED)


def test_a_denial_names_the_action_and_the_callers_roles(
    table_hub: HubServer, role_tokens: dict[str, Credentials]
) -> None:
    with table_hub.client(role_tokens["managed-challenge-consumer"]) as consumer:
        error = refusal(
            lambda: consumer.principals.ListPrincipals(
                principal_pb2.ListPrincipalsRequest()
            )
        )

    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert error.message == (
        "action 'principal.read' is not granted to this token "
        "(effective roles: managed-challenge-consumer)"
    )


# -- credentials that fail: one status, one message ------------------------------


def _who_am_i(hub: HubServer, credentials: Credentials) -> token_pb2.WhoAmIResponse:
    with hub.client(credentials) as client:
        return client.tokens.WhoAmI(token_pb2.WhoAmIRequest())


def _unauthenticated(hub: HubServer, credentials: Credentials) -> str:
    """The message of a WhoAmI call that must be refused as unauthenticated."""
    error = refusal(lambda: _who_am_i(hub, credentials))
    assert error.code is grpc.StatusCode.UNAUTHENTICATED
    return error.message


def test_wrong_secret_is_unauthenticated(
    table_hub: HubServer, role_tokens: dict[str, Credentials]
) -> None:
    good = role_tokens["hub-viewer"]
    wrong = Credentials(good.client_id, good.secret[:-2] + "xx")

    assert _unauthenticated(table_hub, wrong) == UNAUTHENTICATED_MESSAGE
    assert _who_am_i(table_hub, good).token.client_id == good.client_id


def test_unknown_client_id_is_unauthenticated(
    table_hub: HubServer, role_tokens: dict[str, Credentials]
) -> None:
    good = role_tokens["hub-viewer"]
    unknown = Credentials("hub_00000000000000000000", good.secret)

    assert _unauthenticated(table_hub, unknown) == UNAUTHENTICATED_MESSAGE


def test_a_revoked_token_fails_on_the_very_next_call(
    table_hub: HubServer, admin: HubClient
) -> None:
    _, credentials = issue_token(admin, "to revoke", {"hub-viewer": ""})
    token = _who_am_i(table_hub, credentials).token

    admin.tokens.RevokeToken(token_pb2.RevokeTokenRequest(id=token.id))

    assert _unauthenticated(table_hub, credentials) == UNAUTHENTICATED_MESSAGE


def test_an_expired_token_is_unauthenticated(
    table_hub: HubServer, admin: HubClient
) -> None:
    expiry = timestamp_pb2.Timestamp()
    expiry.FromSeconds(int(time.time()) + 2)
    _, credentials = issue_token(admin, "expiring", {"hub-viewer": ""}, None, expiry)
    assert _who_am_i(table_hub, credentials).token.HasField("expire_time")

    time.sleep(max(0.0, expiry.seconds - time.time()) + 0.2)

    assert _unauthenticated(table_hub, credentials) == UNAUTHENTICATED_MESSAGE


def test_a_disabled_principal_is_unauthenticated_until_enabled(
    table_hub: HubServer, admin: HubClient
) -> None:
    principal_id, credentials = issue_token(admin, "disable me", {"hub-viewer": ""})

    def set_enabled(enabled: bool) -> None:
        admin.principals.UpdatePrincipal(
            principal_pb2.UpdatePrincipalRequest(
                principal=principal_pb2.Principal(id=principal_id, enabled=enabled),
                update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
            )
        )

    set_enabled(False)
    assert _unauthenticated(table_hub, credentials) == UNAUTHENTICATED_MESSAGE

    set_enabled(True)
    assert _who_am_i(table_hub, credentials).principal.id == principal_id


# -- malformed metadata, sent through the generated stub directly -----------------


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


MetadataFactory = Callable[[Credentials], tuple[tuple[str, str], ...]]

METADATA_CASES = [
    pytest.param(lambda c: (), grpc.StatusCode.UNAUTHENTICATED, id="empty"),
    pytest.param(
        lambda c: (("x-client-id", c.client_id),),
        grpc.StatusCode.UNAUTHENTICATED,
        id="client-id-only",
    ),
    pytest.param(
        lambda c: (("x-client-secret", c.secret),),
        grpc.StatusCode.UNAUTHENTICATED,
        id="secret-only",
    ),
    pytest.param(
        lambda c: (("x-client-id", ""), ("x-client-secret", "")),
        grpc.StatusCode.UNAUTHENTICATED,
        id="empty-values",
    ),
    pytest.param(
        lambda c: (
            ("x-client-id", c.client_id),
            ("x-client-id", c.client_id),
            ("x-client-secret", c.secret),
        ),
        grpc.StatusCode.UNAUTHENTICATED,
        id="duplicated-client-id",
    ),
    pytest.param(
        lambda c: (
            ("authorization", _basic(c.client_id, c.secret)),
            ("x-client-id", c.client_id),
            ("x-client-secret", c.secret),
        ),
        grpc.StatusCode.UNAUTHENTICATED,
        id="basic-and-client-headers-at-once",
    ),
    pytest.param(
        lambda c: (("authorization", "Basic not*base64"),),
        grpc.StatusCode.UNAUTHENTICATED,
        id="basic-not-base64",
    ),
    pytest.param(
        lambda c: (
            ("authorization", "Basic " + base64.b64encode(b"no-colon").decode()),
        ),
        grpc.StatusCode.UNAUTHENTICATED,
        id="basic-without-colon",
    ),
    pytest.param(
        lambda c: (
            (
                "authorization",
                "Basic " + base64.b64encode(c.client_id.encode() + b":\xff").decode(),
            ),
        ),
        grpc.StatusCode.UNAUTHENTICATED,
        id="basic-not-utf8",
    ),
    pytest.param(
        lambda c: (("authorization", _basic(c.client_id, c.secret + "é")),),
        grpc.StatusCode.UNAUTHENTICATED,
        id="basic-non-ascii-secret",
    ),
    pytest.param(
        lambda c: (("authorization", "Bearer " + c.secret),),
        grpc.StatusCode.UNAUTHENTICATED,
        id="bearer-scheme",
    ),
    pytest.param(
        lambda c: (("x-client-id", c.client_id), ("x-client-secret", "x" * 65536)),
        # The transport refuses it before any handler runs.
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        id="64-kib-value",
    ),
    pytest.param(
        lambda c: (("x-client-id", "h" * 200), ("x-client-secret", c.secret)),
        grpc.StatusCode.UNAUTHENTICATED,
        id="over-long-client-id",
    ),
    pytest.param(
        lambda c: (("authorization", _basic(c.client_id, c.secret)),),
        grpc.StatusCode.OK,
        id="basic-works",
    ),
    pytest.param(
        lambda c: (("authorization", "basic " + _basic(c.client_id, c.secret)[6:]),),
        grpc.StatusCode.OK,
        id="basic-scheme-any-case",
    ),
]


def _raw_who_am_i(
    hub: HubServer, metadata: tuple[tuple[str, str], ...]
) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(hub.address) as channel:
        stub = token_pb2_grpc.TokenServiceStub(channel)
        try:
            stub.WhoAmI(token_pb2.WhoAmIRequest(), metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            assert isinstance(error, grpc.Call)
            return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize(("make_metadata", "expected"), METADATA_CASES)
def test_malformed_metadata(
    table_hub: HubServer,
    role_tokens: dict[str, Credentials],
    make_metadata: MetadataFactory,
    expected: grpc.StatusCode,
) -> None:
    credentials = role_tokens["hub-viewer"]

    code, details = _raw_who_am_i(table_hub, make_metadata(credentials))

    assert code is expected
    if code is grpc.StatusCode.UNAUTHENTICATED:
        assert details == UNAUTHENTICATED_MESSAGE
    assert credentials.secret not in details


def test_non_ascii_metadata_never_leaves_the_client(
    table_hub: HubServer, role_tokens: dict[str, Credentials]
) -> None:
    credentials = role_tokens["hub-viewer"]
    metadata = (("x-client-id", credentials.client_id), ("x-client-secret", "sécret"))

    code, _ = _raw_who_am_i(table_hub, metadata)

    # gRPC refuses a non-ASCII header value itself; the hub never sees the call.
    assert code is not grpc.StatusCode.OK
    assert _who_am_i(table_hub, credentials).token.client_id == credentials.client_id


# -- scope, role changes and domain restrictions ---------------------------------


def test_a_token_scope_narrower_than_the_roles_limits_the_token(
    table_hub: HubServer, admin: HubClient
) -> None:
    roles = {"administrator": "", "managed-challenge-consumer": ""}
    _, narrow = issue_token(admin, "narrow", roles, ["managed-challenge-consumer"])

    identity = _who_am_i(table_hub, narrow)
    with table_hub.client(narrow) as client:
        error = refusal(
            lambda: client.principals.ListPrincipals(
                principal_pb2.ListPrincipalsRequest()
            )
        )

    assert list(identity.effective_role_ids) == ["managed-challenge-consumer"]
    assert "principal.read" not in identity.actions
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert "'principal.read'" in error.message


def test_a_removed_role_stops_counting_and_comes_back_when_reassigned(
    table_hub: HubServer, admin: HubClient
) -> None:
    principal_id, credentials = issue_token(admin, "role churn", {"hub-viewer": ""})
    request = principal_pb2.ListPrincipalsRequest()

    with table_hub.client(credentials) as client:
        assert client.principals.ListPrincipals(request).principals

        admin.principals.RemoveRole(
            principal_pb2.RemoveRoleRequest(
                principal_id=principal_id, role_id="hub-viewer"
            )
        )
        error = refusal(lambda: client.principals.ListPrincipals(request))
        assert error.code is grpc.StatusCode.PERMISSION_DENIED
        assert "(effective roles: none)" in error.message

        admin.principals.AssignRole(
            principal_pb2.AssignRoleRequest(
                principal_id=principal_id, role_id="hub-viewer"
            )
        )
        assert client.principals.ListPrincipals(request).principals
        identity = client.tokens.WhoAmI(token_pb2.WhoAmIRequest())

    assert list(identity.token.scope_role_ids) == ["hub-viewer"]
    assert list(identity.effective_role_ids) == ["hub-viewer"]


@pytest.fixture(scope="module")
def www_consumer(admin: HubClient) -> Credentials:
    """A consumer whose role assignment admits only www.demo.test."""
    roles = {"managed-challenge-consumer": "www.demo.test"}
    return issue_token(admin, "www only", roles)[1]


def test_a_restricted_consumer_publishes_inside_its_restriction(
    table_hub: HubServer, www_consumer: Credentials
) -> None:
    with table_hub.client(www_consumer) as client:
        operation = client.challenges.PerformChallenge(
            challenge_pb2.PerformChallengeRequest(
                identifier="www.demo.test", value=VALUE, wait=True
            ),
            timeout=30,
        )
        cleaned = client.challenges.CleanupChallenge(
            challenge_pb2.CleanupChallengeRequest(
                identifier="www.demo.test", value=VALUE
            )
        )

    assert operation.state == challenge_pb2.OPERATION_STATE_READY, operation.reason
    assert operation.validation_name == "_acme-challenge.www.demo.test"
    assert cleaned.removed


@pytest.mark.parametrize(
    ("method", "request_type", "action"),
    [
        pytest.param(
            "PerformChallenge",
            challenge_pb2.PerformChallengeRequest,
            "challenge.request",
            id="perform",
        ),
        pytest.param(
            "CleanupChallenge",
            challenge_pb2.CleanupChallengeRequest,
            "challenge.cleanup",
            id="cleanup",
        ),
    ],
)
def test_a_name_outside_the_restriction_is_denied_naming_name_and_rule(
    table_hub: HubServer,
    www_consumer: Credentials,
    method: str,
    request_type: Any,
    action: str,
) -> None:
    request = request_type(identifier="Mail.Demo.Test", value=OTHER_VALUE)

    with table_hub.client(www_consumer) as client:
        error = refusal(lambda: getattr(client.challenges, method)(request))

    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert error.message == (
        f"name 'mail.demo.test' is outside this token's domain restrictions for "
        f"{action!r} (www.demo.test)"
    )


# -- throttling ----------------------------------------------------------------


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    with contextlib.suppress(HubClientError):
        call()
    return time.perf_counter() - started


def test_repeated_failures_slow_down_but_a_good_client_does_not(
    fresh_hub: HubServer,
) -> None:
    request = token_pb2.WhoAmIRequest()
    good = fresh_hub.client()
    bad = fresh_hub.client(Credentials(fresh_hub.client_id, "wrong-secret"))
    good.tokens.WhoAmI(request)  # warm the verified-secret cache
    failures: list[float] = []

    def fail_repeatedly() -> None:
        for _ in range(6):
            failures.append(_timed(lambda: bad.tokens.WhoAmI(request)))

    attacker = threading.Thread(target=fail_repeatedly)
    attacker.start()
    good_calls: list[float] = []
    while attacker.is_alive():
        good_calls.append(_timed(lambda: good.tokens.WhoAmI(request)))
    attacker.join()
    good.close()
    bad.close()

    assert all(b > a for a, b in zip(failures, failures[1:], strict=False))
    assert failures[-1] > 4 * failures[0]
    # The good client shares the peer address and keeps its pace meanwhile.
    assert len(good_calls) > 10
    assert statistics.median(good_calls) < failures[0]
    assert max(good_calls) < failures[-1] / 2
