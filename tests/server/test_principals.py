"""PrincipalService and RoleService on a real hub, field by field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import grpc
import pytest
from google.protobuf import field_mask_pb2

from hub_client.client import HubClient
from hub_client.hub.v1 import principal_pb2, role_pb2, token_pb2
from hub_server.actions import ACTIONS
from tests.server.auth_support import issue_token, refusal
from tests.servers.hub import HubServer

USER = principal_pb2.PRINCIPAL_TYPE_USER
APPLICATION = principal_pb2.PRINCIPAL_TYPE_APPLICATION
BUILT_IN_ROLES = {
    "administrator",
    "hub-managed-instance",
    "hub-viewer",
    "managed-challenge-admin",
    "managed-challenge-consumer",
}


@pytest.fixture(scope="module")
def admin(hub: HubServer) -> Iterator[HubClient]:
    with hub.client() as client:
        yield client


@pytest.fixture(scope="module")
def admin_principal_id(admin: HubClient) -> str:
    return str(admin.tokens.WhoAmI(token_pb2.WhoAmIRequest()).principal.id)


def _principal(admin: HubClient, title: str = "someone", **fields: Any) -> Any:
    fields.setdefault("type", principal_pb2.PRINCIPAL_TYPE_USER)
    return admin.principals.CreatePrincipal(
        principal_pb2.CreatePrincipalRequest(title=title, **fields)
    )


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


# -- what works -----------------------------------------------------------------


def test_create_get_update_and_delete_a_principal(admin: HubClient) -> None:
    created = _principal(
        admin,
        "  build server  ",
        type=principal_pb2.PRINCIPAL_TYPE_APPLICATION,
        description="runs certbot",
    )
    fetched = admin.principals.GetPrincipal(
        principal_pb2.GetPrincipalRequest(id=created.id)
    )
    updated = admin.principals.UpdatePrincipal(
        principal_pb2.UpdatePrincipalRequest(
            principal=principal_pb2.Principal(
                id=created.id, title="renamed", description="ignored"
            ),
            update_mask=_mask("title"),
        )
    )
    admin.principals.DeletePrincipal(
        principal_pb2.DeletePrincipalRequest(id=created.id)
    )
    gone = refusal(
        lambda: admin.principals.GetPrincipal(
            principal_pb2.GetPrincipalRequest(id=created.id)
        )
    )

    assert created.title == "build server"
    assert created.type == principal_pb2.PRINCIPAL_TYPE_APPLICATION
    assert created.enabled
    assert fetched == created
    assert updated.title == "renamed"
    assert updated.description == "runs certbot"
    assert updated.update_time.ToNanoseconds() >= created.update_time.ToNanoseconds()
    assert gone.code is grpc.StatusCode.NOT_FOUND
    assert gone.message == f"principal {created.id!r} not found"


def test_a_principal_can_be_created_disabled(admin: HubClient) -> None:
    created = _principal(admin, "dormant", disabled=True)

    assert not created.enabled


def test_deleting_a_principal_ends_its_tokens_and_assignments(
    hub: HubServer, admin: HubClient
) -> None:
    principal_id, credentials = issue_token(admin, "leaving", {"hub-viewer": ""})

    admin.principals.DeletePrincipal(
        principal_pb2.DeletePrincipalRequest(id=principal_id)
    )

    with hub.client(credentials) as client:
        error = refusal(lambda: client.tokens.WhoAmI(token_pb2.WhoAmIRequest()))
    tokens = admin.tokens.ListTokens(token_pb2.ListTokensRequest()).tokens
    assignments = admin.principals.ListRoleAssignments(
        principal_pb2.ListRoleAssignmentsRequest(page_size=1000)
    ).role_assignments
    assert error.code is grpc.StatusCode.UNAUTHENTICATED
    assert principal_id not in {t.principal_id for t in tokens}
    assert principal_id not in {a.principal_id for a in assignments}


def test_assign_role_normalises_restrictions_and_refuses_a_second_time(
    admin: HubClient,
) -> None:
    principal = _principal(admin, "assignee")
    request = principal_pb2.AssignRoleRequest(
        principal_id=principal.id,
        role_id="managed-challenge-consumer",
        domain_restrictions=" WWW.Demo.Test , *.Bücher.example ",
    )

    assignment = admin.principals.AssignRole(request)
    again = refusal(lambda: admin.principals.AssignRole(request))
    listed = admin.principals.ListRoleAssignments(
        principal_pb2.ListRoleAssignmentsRequest(principal_id=principal.id)
    )

    assert assignment.domain_restrictions == "www.demo.test; *.xn--bcher-kva.example"
    assert again.code is grpc.StatusCode.ALREADY_EXISTS
    assert again.message == (
        f"role assignment '{principal.id}/managed-challenge-consumer' already "
        "exists: remove it first to change it"
    )
    assert list(listed.role_assignments) == [assignment]


def test_remove_role_then_remove_again_is_not_found(admin: HubClient) -> None:
    principal = _principal(admin, "remover")
    admin.principals.AssignRole(
        principal_pb2.AssignRoleRequest(principal_id=principal.id, role_id="hub-viewer")
    )
    request = principal_pb2.RemoveRoleRequest(
        principal_id=principal.id, role_id="hub-viewer"
    )

    admin.principals.RemoveRole(request)
    again = refusal(lambda: admin.principals.RemoveRole(request))

    assert again.code is grpc.StatusCode.NOT_FOUND
    assert again.message == f"role assignment '{principal.id}/hub-viewer' not found"


def test_list_principals_pages_through_everyone_once(admin: HubClient) -> None:
    created = {_principal(admin, f"paged {n}").id for n in range(5)}

    seen: list[str] = []
    page_token = ""
    pages = 0
    while True:
        page = admin.principals.ListPrincipals(
            principal_pb2.ListPrincipalsRequest(page_size=2, page_token=page_token)
        )
        assert len(page.principals) <= 2
        seen.extend(p.id for p in page.principals)
        pages += 1
        page_token = page.next_page_token
        if not page_token:
            break

    assert len(seen) == len(set(seen))
    assert created <= set(seen)
    assert pages == -(-len(seen) // 2)


def test_list_role_assignments_pages_and_filters(admin: HubClient) -> None:
    principal = _principal(admin, "many roles")
    for role_id in sorted(BUILT_IN_ROLES):
        admin.principals.AssignRole(
            principal_pb2.AssignRoleRequest(principal_id=principal.id, role_id=role_id)
        )

    first = admin.principals.ListRoleAssignments(
        principal_pb2.ListRoleAssignmentsRequest(principal_id=principal.id, page_size=3)
    )
    second = admin.principals.ListRoleAssignments(
        principal_pb2.ListRoleAssignmentsRequest(
            principal_id=principal.id, page_size=3, page_token=first.next_page_token
        )
    )

    roles = [a.role_id for a in (*first.role_assignments, *second.role_assignments)]
    assert sorted(roles) == sorted(BUILT_IN_ROLES)
    assert first.next_page_token
    assert not second.next_page_token
    assert {a.principal_id for a in first.role_assignments} == {principal.id}


def test_roles_and_actions_are_listed(admin: HubClient) -> None:
    roles = admin.roles.ListRoles(role_pb2.ListRolesRequest()).roles
    actions = admin.roles.ListActions(role_pb2.ListActionsRequest()).actions
    consumer = admin.roles.GetRole(
        role_pb2.GetRoleRequest(id="managed-challenge-consumer")
    )

    assert {role.id for role in roles} == BUILT_IN_ROLES
    assert all(role.built_in for role in roles)
    assert {action.name for action in actions} == set(ACTIONS)
    assert all(action.description for action in actions)
    assert list(consumer.actions) == [
        "challenge.cleanup",
        "challenge.request",
        "operation.read",
        "self.read",
    ]


# -- validation: every field, named in the error ---------------------------------

# (service, method, request factory taking a principal id and the admin's own id,
#  status, the message the caller sees)
VALIDATION_CASES = [
    pytest.param(
        "principals",
        "CreatePrincipal",
        lambda p, me: principal_pb2.CreatePrincipalRequest(title="x"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "type: must be user, application or instance",
        id="create-type-unspecified",
    ),
    pytest.param(
        "principals",
        "CreatePrincipal",
        lambda p, me: principal_pb2.CreatePrincipalRequest(
            type=cast(Any, 99), title="x"
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "type: must be user, application or instance",
        id="create-type-unknown",
    ),
    pytest.param(
        "principals",
        "CreatePrincipal",
        lambda p, me: principal_pb2.CreatePrincipalRequest(type=USER, title=" "),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: is required",
        id="create-title-blank",
    ),
    pytest.param(
        "principals",
        "CreatePrincipal",
        lambda p, me: principal_pb2.CreatePrincipalRequest(type=USER, title="t" * 201),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: must be at most 200 characters",
        id="create-title-too-long",
    ),
    pytest.param(
        "principals",
        "CreatePrincipal",
        lambda p, me: principal_pb2.CreatePrincipalRequest(type=USER, title="a\x00b"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title: must not contain control characters",
        id="create-title-control-character",
    ),
    pytest.param(
        "principals",
        "CreatePrincipal",
        lambda p, me: principal_pb2.CreatePrincipalRequest(
            type=USER, title="x", description="d" * 2001
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "description: must be at most 2000 characters",
        id="create-description-too-long",
    ),
    pytest.param(
        "principals",
        "GetPrincipal",
        lambda p, me: principal_pb2.GetPrincipalRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "id: is required",
        id="get-id-missing",
    ),
    pytest.param(
        "principals",
        "GetPrincipal",
        lambda p, me: principal_pb2.GetPrincipalRequest(id="p" * 65),
        grpc.StatusCode.INVALID_ARGUMENT,
        "id: is not a valid id",
        id="get-id-too-long",
    ),
    pytest.param(
        "principals",
        "GetPrincipal",
        lambda p, me: principal_pb2.GetPrincipalRequest(id="p-missing"),
        grpc.StatusCode.NOT_FOUND,
        "principal 'p-missing' not found",
        id="get-unknown",
    ),
    pytest.param(
        "principals",
        "ListPrincipals",
        lambda p, me: principal_pb2.ListPrincipalsRequest(page_size=-5),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size: must not be negative",
        id="list-page-size-negative",
    ),
    pytest.param(
        "principals",
        "ListPrincipals",
        lambda p, me: principal_pb2.ListPrincipalsRequest(page_token="bzotMQ"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token: is not a token from a previous call",
        id="list-page-token-negative-offset",
    ),
    pytest.param(
        "principals",
        "UpdatePrincipal",
        lambda p, me: principal_pb2.UpdatePrincipalRequest(
            principal=principal_pb2.Principal(id=p, title="x")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "update_mask: is required; allowed paths: ['description', 'enabled', 'title']",
        id="update-mask-missing",
    ),
    pytest.param(
        "principals",
        "UpdatePrincipal",
        lambda p, me: principal_pb2.UpdatePrincipalRequest(
            principal=principal_pb2.Principal(id=p, type=APPLICATION),
            update_mask=_mask("type"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "update_mask: path 'type' cannot be changed; allowed: "
        "['description', 'enabled', 'title']",
        id="update-mask-type",
    ),
    pytest.param(
        "principals",
        "UpdatePrincipal",
        lambda p, me: principal_pb2.UpdatePrincipalRequest(
            principal=principal_pb2.Principal(title="x"), update_mask=_mask("title")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "principal.id: is required",
        id="update-id-missing",
    ),
    pytest.param(
        "principals",
        "UpdatePrincipal",
        lambda p, me: principal_pb2.UpdatePrincipalRequest(
            principal=principal_pb2.Principal(id=p), update_mask=_mask("title")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "principal.title: is required",
        id="update-title-blank",
    ),
    pytest.param(
        "principals",
        "UpdatePrincipal",
        lambda p, me: principal_pb2.UpdatePrincipalRequest(
            principal=principal_pb2.Principal(id=p, description="d" * 2001),
            update_mask=_mask("description"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "principal.description: must be at most 2000 characters",
        id="update-description-too-long",
    ),
    pytest.param(
        "principals",
        "UpdatePrincipal",
        lambda p, me: principal_pb2.UpdatePrincipalRequest(
            principal=principal_pb2.Principal(id=me, enabled=False),
            update_mask=_mask("enabled"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "principal.enabled: a principal cannot disable itself",
        id="update-disable-self",
    ),
    pytest.param(
        "principals",
        "UpdatePrincipal",
        lambda p, me: principal_pb2.UpdatePrincipalRequest(
            principal=principal_pb2.Principal(id="p-missing", title="x"),
            update_mask=_mask("title"),
        ),
        grpc.StatusCode.NOT_FOUND,
        "principal 'p-missing' not found",
        id="update-unknown",
    ),
    pytest.param(
        "principals",
        "DeletePrincipal",
        lambda p, me: principal_pb2.DeletePrincipalRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "id: is required",
        id="delete-id-missing",
    ),
    pytest.param(
        "principals",
        "DeletePrincipal",
        lambda p, me: principal_pb2.DeletePrincipalRequest(id=me),
        grpc.StatusCode.INVALID_ARGUMENT,
        "id: a principal cannot delete itself",
        id="delete-self",
    ),
    pytest.param(
        "principals",
        "DeletePrincipal",
        lambda p, me: principal_pb2.DeletePrincipalRequest(id="p-missing"),
        grpc.StatusCode.NOT_FOUND,
        "principal 'p-missing' not found",
        id="delete-unknown",
    ),
    pytest.param(
        "principals",
        "AssignRole",
        lambda p, me: principal_pb2.AssignRoleRequest(role_id="hub-viewer"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "principal_id: is required",
        id="assign-principal-id-missing",
    ),
    pytest.param(
        "principals",
        "AssignRole",
        lambda p, me: principal_pb2.AssignRoleRequest(principal_id=p),
        grpc.StatusCode.INVALID_ARGUMENT,
        "role_id: is required",
        id="assign-role-id-missing",
    ),
    pytest.param(
        "principals",
        "AssignRole",
        lambda p, me: principal_pb2.AssignRoleRequest(principal_id=p, role_id="root"),
        grpc.StatusCode.NOT_FOUND,
        "role 'root' not found",
        id="assign-role-unknown",
    ),
    pytest.param(
        "principals",
        "AssignRole",
        lambda p, me: principal_pb2.AssignRoleRequest(
            principal_id="p-missing", role_id="hub-viewer"
        ),
        grpc.StatusCode.NOT_FOUND,
        "principal 'p-missing' not found",
        id="assign-principal-unknown",
    ),
    pytest.param(
        "principals",
        "AssignRole",
        lambda p, me: principal_pb2.AssignRoleRequest(
            principal_id=p, role_id="hub-viewer", domain_restrictions="co.uk"
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "domain_restrictions: entry 'co.uk': 'co.uk' is a public suffix; "
        "name a domain below it",
        id="assign-restriction-public-suffix",
    ),
    pytest.param(
        "principals",
        "AssignRole",
        lambda p, me: principal_pb2.AssignRoleRequest(
            principal_id=p, role_id="hub-viewer", domain_restrictions="a..b"
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "domain_restrictions: 'a..b' has an empty label",
        id="assign-restriction-empty-label",
    ),
    pytest.param(
        "principals",
        "AssignRole",
        lambda p, me: principal_pb2.AssignRoleRequest(
            principal_id=p, role_id="hub-viewer", domain_restrictions="x.test; ;"
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "domain_restrictions: 'x.test; ;' has an empty entry",
        id="assign-restriction-empty-entry",
    ),
    pytest.param(
        "principals",
        "RemoveRole",
        lambda p, me: principal_pb2.RemoveRoleRequest(role_id="hub-viewer"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "principal_id: is required",
        id="remove-principal-id-missing",
    ),
    pytest.param(
        "principals",
        "RemoveRole",
        lambda p, me: principal_pb2.RemoveRoleRequest(principal_id=p),
        grpc.StatusCode.INVALID_ARGUMENT,
        "role_id: is required",
        id="remove-role-id-missing",
    ),
    pytest.param(
        "principals",
        "RemoveRole",
        lambda p, me: principal_pb2.RemoveRoleRequest(
            principal_id=p, role_id="hub-viewer"
        ),
        grpc.StatusCode.NOT_FOUND,
        "role assignment '{p}/hub-viewer' not found",
        id="remove-role-not-held",
    ),
    pytest.param(
        "principals",
        "ListRoleAssignments",
        lambda p, me: principal_pb2.ListRoleAssignmentsRequest(
            principal_id="p-missing"
        ),
        grpc.StatusCode.NOT_FOUND,
        "principal 'p-missing' not found",
        id="list-assignments-principal-unknown",
    ),
    pytest.param(
        "principals",
        "ListRoleAssignments",
        lambda p, me: principal_pb2.ListRoleAssignmentsRequest(page_size=-1),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size: must not be negative",
        id="list-assignments-page-size-negative",
    ),
    pytest.param(
        "roles",
        "GetRole",
        lambda p, me: role_pb2.GetRoleRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
        "id: is required",
        id="get-role-id-missing",
    ),
    pytest.param(
        "roles",
        "GetRole",
        lambda p, me: role_pb2.GetRoleRequest(id="Administrator "),
        grpc.StatusCode.NOT_FOUND,
        "role 'Administrator' not found",
        id="get-role-unknown",
    ),
    pytest.param(
        "roles",
        "ListRoles",
        lambda p, me: role_pb2.ListRolesRequest(page_token="abc"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token: is not a token from a previous call",
        id="list-roles-page-token",
    ),
]


@pytest.mark.parametrize(
    ("service", "method", "make", "code", "message"), VALIDATION_CASES
)
def test_principal_and_role_validation(
    admin: HubClient,
    admin_principal_id: str,
    service: str,
    method: str,
    make: Callable[[str, str], Any],
    code: grpc.StatusCode,
    message: str,
) -> None:
    principal = _principal(admin, "unchanged")
    before = admin.principals.ListPrincipals(
        principal_pb2.ListPrincipalsRequest(page_size=1000)
    ).principals
    call = getattr(getattr(admin, service), method)

    error = refusal(lambda: call(make(principal.id, admin_principal_id)))

    assert error.code is code
    assert error.message == message.format(p=principal.id)
    after = admin.principals.ListPrincipals(
        principal_pb2.ListPrincipalsRequest(page_size=1000)
    ).principals
    assert after == before
    assignments = admin.principals.ListRoleAssignments(
        principal_pb2.ListRoleAssignmentsRequest(principal_id=principal.id)
    )
    assert not assignments.role_assignments
