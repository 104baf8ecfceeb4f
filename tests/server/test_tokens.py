"""TokenService on a real hub: secrets shown once, scopes, expiry, paging, WhoAmI."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from bench import bench_auth
from hub_client.client import Credentials, HubClient
from hub_client.hub.v1 import principal_pb2, token_pb2
from hub_server.actions import ROLES
from tests.server.auth_support import issue_token, refusal
from tests.servers.hub import HubServer


@pytest.fixture(scope="module")
def admin(hub: HubServer) -> Iterator[HubClient]:
    with hub.client() as client:
        yield client


@pytest.fixture(scope="module")
def viewer(admin: HubClient) -> str:
    """A principal holding hub-viewer and managed-challenge-consumer."""
    principal_id, _ = issue_token(
        admin,
        "token owner",
        {"hub-viewer": "", "managed-challenge-consumer": "www.demo.test"},
    )
    return principal_id


def _stamp(offset_seconds: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromSeconds(int(time.time()) + offset_seconds)
    return stamp


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def _create(admin: HubClient, principal_id: str, **fields: Any) -> Any:
    fields.setdefault("title", "a token")
    fields.setdefault("scope_role_ids", ["hub-viewer"])
    return admin.tokens.CreateToken(
        token_pb2.CreateTokenRequest(principal_id=principal_id, **fields)
    )


# -- the secret ---------------------------------------------------------------


def test_the_secret_has_at_least_256_bits_and_differs_per_token(
    admin: HubClient, viewer: str
) -> None:
    first = _create(admin, viewer)
    second = _create(admin, viewer)

    raw = base64.urlsafe_b64decode(first.secret + "=" * (-len(first.secret) % 4))
    assert len(raw) * 8 >= 256
    assert first.secret != second.secret
    assert first.token.client_id != second.token.client_id
    assert first.token.client_id not in first.secret


def test_the_secret_is_returned_only_at_creation(
    hub: HubServer, admin: HubClient, viewer: str
) -> None:
    created = _create(admin, viewer, title="shown once")
    token_id = created.token.id
    secret = created.secret.encode()

    with hub.client(Credentials(created.token.client_id, created.secret)) as owner:
        answers = [
            admin.tokens.GetToken(token_pb2.GetTokenRequest(id=token_id)),
            admin.tokens.ListTokens(token_pb2.ListTokensRequest(principal_id=viewer)),
            admin.tokens.ListTokens(token_pb2.ListTokensRequest()),
            owner.tokens.WhoAmI(token_pb2.WhoAmIRequest()),
            admin.tokens.UpdateToken(
                token_pb2.UpdateTokenRequest(
                    token=token_pb2.Token(id=token_id, title="renamed"),
                    update_mask=_mask("title"),
                )
            ),
            admin.tokens.RevokeToken(token_pb2.RevokeTokenRequest(id=token_id)),
        ]

    assert "secret" not in token_pb2.Token.DESCRIPTOR.fields_by_name
    for answer in answers:
        assert secret not in answer.SerializeToString()


def test_list_tokens_never_shows_a_secret_or_hash(
    admin: HubClient, viewer: str
) -> None:
    created = _create(admin, viewer, title="listed")

    listed = admin.tokens.ListTokens(token_pb2.ListTokensRequest(principal_id=viewer))

    text = str(listed)
    assert created.token.id in text
    assert created.secret not in text
    assert "pbkdf2" not in text


# -- WhoAmI -------------------------------------------------------------------


def test_who_am_i_describes_principal_token_roles_and_actions(
    hub: HubServer, admin: HubClient
) -> None:
    roles = {"hub-viewer": "", "managed-challenge-consumer": "www.demo.test"}
    principal_id, credentials = issue_token(admin, "who am i", roles)

    with hub.client(credentials) as client:
        answer = client.tokens.WhoAmI(token_pb2.WhoAmIRequest())

    expected_actions = (
        ROLES["hub-viewer"].actions | ROLES["managed-challenge-consumer"].actions
    )
    assert answer.principal.id == principal_id
    assert answer.principal.title == "who am i"
    assert answer.principal.enabled
    assert answer.token.client_id == credentials.client_id
    assert answer.token.principal_id == principal_id
    assert sorted(answer.token.scope_role_ids) == sorted(roles)
    assert list(answer.effective_role_ids) == sorted(roles)
    assert list(answer.actions) == sorted(expected_actions)
    assert {(a.role_id, a.domain_restrictions) for a in answer.role_assignments} == set(
        roles.items()
    )


def test_last_used_time_is_recorded(
    hub: HubServer, admin: HubClient, viewer: str
) -> None:
    created = _create(admin, viewer, title="unused at first")
    assert not created.token.HasField("last_used_time")

    with hub.client(Credentials(created.token.client_id, created.secret)) as owner:
        owner.tokens.WhoAmI(token_pb2.WhoAmIRequest())
    token = admin.tokens.GetToken(token_pb2.GetTokenRequest(id=created.token.id))

    assert token.HasField("last_used_time")
    assert token.last_used_time.seconds >= created.token.create_time.seconds


# -- scope and expiry ---------------------------------------------------------


def test_narrowing_the_scope_takes_effect_on_the_next_call(
    hub: HubServer, admin: HubClient, viewer: str
) -> None:
    created = _create(
        admin, viewer, scope_role_ids=["hub-viewer", "managed-challenge-consumer"]
    )
    request = principal_pb2.ListPrincipalsRequest()

    with hub.client(Credentials(created.token.client_id, created.secret)) as owner:
        assert owner.principals.ListPrincipals(request).principals
        admin.tokens.UpdateToken(
            token_pb2.UpdateTokenRequest(
                token=token_pb2.Token(
                    id=created.token.id,
                    scope_role_ids=["managed-challenge-consumer"],
                ),
                update_mask=_mask("scope_role_ids"),
            )
        )
        error = refusal(lambda: owner.principals.ListPrincipals(request))

    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert "'principal.read'" in error.message


def test_an_expiry_can_be_set_and_cleared(admin: HubClient, viewer: str) -> None:
    expiry = _stamp(3600)
    created = _create(admin, viewer, expire_time=expiry)
    assert created.token.expire_time == expiry

    cleared = admin.tokens.UpdateToken(
        token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id=created.token.id), update_mask=_mask("expire_time")
        )
    )

    assert not cleared.HasField("expire_time")


def test_revoking_twice_keeps_the_first_revoke_time(
    admin: HubClient, viewer: str
) -> None:
    created = _create(admin, viewer, title="revoke twice")
    request = token_pb2.RevokeTokenRequest(id=created.token.id)

    first = admin.tokens.RevokeToken(request)
    second = admin.tokens.RevokeToken(request)

    assert first.revoked and second.revoked
    assert second.revoke_time == first.revoke_time


# -- paging -------------------------------------------------------------------


def test_list_tokens_pages_through_every_token_once(admin: HubClient) -> None:
    principal_id, _ = issue_token(admin, "many tokens", {"hub-viewer": ""})
    created = {_create(admin, principal_id).token.id for _ in range(4)}

    seen: list[str] = []
    sizes: list[int] = []
    page_token = ""
    while True:
        page = admin.tokens.ListTokens(
            token_pb2.ListTokensRequest(
                principal_id=principal_id, page_size=2, page_token=page_token
            )
        )
        seen.extend(token.id for token in page.tokens)
        sizes.append(len(page.tokens))
        page_token = page.next_page_token
        if not page_token:
            break

    # Five in all: the one issue_token made and the four above.
    assert sizes == [2, 2, 1]
    assert len(seen) == len(set(seen)) == 5
    assert created < set(seen)


# -- validation: every field, named in the error ---------------------------------

LONG_TITLE = "t" * 201
LONG_DESCRIPTION = "d" * 2001

# (method, request factory taking the principal id and an existing token id,
#  status, the message the caller sees)
VALIDATION_CASES = [
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            title="x", scope_role_ids=["hub-viewer"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "principal_id: is required",
        id="create-principal-id-missing",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id="p" * 65, title="x", scope_role_ids=["hub-viewer"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "principal_id: is not a valid id",
        id="create-principal-id-too-long",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id="p-missing", title="x", scope_role_ids=["hub-viewer"]
        ),
        grpc.StatusCode.NOT_FOUND,
        "principal 'p-missing' not found",
        id="create-principal-unknown",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id=p, title="  ", scope_role_ids=["hub-viewer"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: is required",
        id="create-title-blank",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id=p, title=LONG_TITLE, scope_role_ids=["hub-viewer"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: must be at most 200 characters",
        id="create-title-too-long",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id=p, title="a\x07b", scope_role_ids=["hub-viewer"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: must not contain control characters",
        id="create-title-control-character",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id=p,
            title="x",
            description=LONG_DESCRIPTION,
            scope_role_ids=["hub-viewer"],
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "description: must be at most 2000 characters",
        id="create-description-too-long",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(principal_id=p, title="x"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "scope_role_ids: name at least one role",
        id="create-scope-empty",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id=p, title="x", scope_role_ids=["administrator"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "scope_role_ids: principal {p} does not hold role 'administrator'",
        id="create-scope-role-not-held",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id=p, title="x", scope_role_ids=["superuser"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "scope_role_ids: unknown role 'superuser'",
        id="create-scope-role-unknown",
    ),
    pytest.param(
        "CreateToken",
        lambda p, t: token_pb2.CreateTokenRequest(
            principal_id=p,
            title="x",
            scope_role_ids=["hub-viewer"],
            expire_time=_stamp(-60),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "expire_time: must lie in the future",
        id="create-expiry-in-the-past",
    ),
    pytest.param(
        "ListTokens",
        lambda p, t: token_pb2.ListTokensRequest(page_size=-1),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size: must not be negative",
        id="list-page-size-negative",
    ),
    pytest.param(
        "ListTokens",
        lambda p, t: token_pb2.ListTokensRequest(page_token="not-a-token"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token: is not a token from a previous call",
        id="list-page-token-forged",
    ),
    pytest.param(
        "ListTokens",
        lambda p, t: token_pb2.ListTokensRequest(principal_id="p-missing"),
        grpc.StatusCode.NOT_FOUND,
        "principal 'p-missing' not found",
        id="list-principal-unknown",
    ),
    pytest.param(
        "GetToken",
        lambda p, t: token_pb2.GetTokenRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "id: is required",
        id="get-id-missing",
    ),
    pytest.param(
        "GetToken",
        lambda p, t: token_pb2.GetTokenRequest(id="t-missing"),
        grpc.StatusCode.NOT_FOUND,
        "token 't-missing' not found",
        id="get-unknown",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id=t, title="x")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "update_mask: is required; allowed paths: "
        "['description', 'expire_time', 'scope_role_ids', 'title']",
        id="update-mask-missing",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id=t, client_id="hub_mine"),
            update_mask=_mask("client_id"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "update_mask: path 'client_id' cannot be changed; allowed: "
        "['description', 'expire_time', 'scope_role_ids', 'title']",
        id="update-mask-client-id",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(title="x"), update_mask=_mask("title")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "token.id: is required",
        id="update-id-missing",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id=t, title=""), update_mask=_mask("title")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "token.title: is required",
        id="update-title-blank",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id=t, description=LONG_DESCRIPTION),
            update_mask=_mask("description"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "token.description: must be at most 2000 characters",
        id="update-description-too-long",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id=t, expire_time=_stamp(-1)),
            update_mask=_mask("expire_time"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "token.expire_time: must lie in the future",
        id="update-expiry-in-the-past",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id=t), update_mask=_mask("scope_role_ids")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "token.scope_role_ids: name at least one role",
        id="update-scope-empty",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id=t, scope_role_ids=["hub-managed-instance"]),
            update_mask=_mask("scope_role_ids"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "token.scope_role_ids: principal {p} does not hold role 'hub-managed-instance'",
        id="update-scope-role-not-held",
    ),
    pytest.param(
        "UpdateToken",
        lambda p, t: token_pb2.UpdateTokenRequest(
            token=token_pb2.Token(id="t-missing", title="x"),
            update_mask=_mask("title"),
        ),
        grpc.StatusCode.NOT_FOUND,
        "token 't-missing' not found",
        id="update-unknown",
    ),
    pytest.param(
        "RevokeToken",
        lambda p, t: token_pb2.RevokeTokenRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "id: is required",
        id="revoke-id-missing",
    ),
    pytest.param(
        "RevokeToken",
        lambda p, t: token_pb2.RevokeTokenRequest(id="t-missing"),
        grpc.StatusCode.NOT_FOUND,
        "token 't-missing' not found",
        id="revoke-unknown",
    ),
]


@pytest.mark.parametrize(("method", "make", "code", "message"), VALIDATION_CASES)
def test_token_service_validation(
    admin: HubClient,
    viewer: str,
    method: str,
    make: Callable[[str, str], Any],
    code: grpc.StatusCode,
    message: str,
) -> None:
    token = _create(admin, viewer, title="unchanged")
    call = getattr(admin.tokens, method)

    error = refusal(lambda: call(make(viewer, token.token.id)))

    assert error.code is code
    assert error.message == message.format(p=viewer)
    after = admin.tokens.GetToken(token_pb2.GetTokenRequest(id=token.token.id))
    assert after == token.token


def test_the_authentication_benchmark_runs_at_a_tiny_size() -> None:
    figures = bench_auth.run(5)

    assert figures.calls == 5
    assert figures.who_am_i_p50 > 0
    assert figures.health_p50 > 0
    assert figures.ratio_p50 > 0
