"""PrincipalService and RoleService: who may call, and which roles they hold."""

from __future__ import annotations

from typing import Any

import peewee as pw
from google.protobuf import empty_pb2

from hub_client.hub.v1 import principal_pb2 as pb
from hub_client.hub.v1 import principal_pb2_grpc, role_pb2, role_pb2_grpc
from hub_server import audit
from hub_server.actions import ACTIONS, ROLES, BuiltinRole
from hub_server.errors import ValidationError
from hub_server.interceptor import current_caller
from hub_server.rules import parse_rule
from hub_server.runtime import blocking
from hub_server.services.common import check_id, check_text, mask_paths, page, timestamp
from storage import models
from storage.errors import AlreadyExistsError, NotFoundError

_TYPES = {
    pb.PRINCIPAL_TYPE_USER: "user",
    pb.PRINCIPAL_TYPE_APPLICATION: "application",
    pb.PRINCIPAL_TYPE_INSTANCE: "instance",
}
_TYPE_VALUES = {name: value for value, name in _TYPES.items()}


def principal_message(row: models.Principal) -> pb.Principal:
    return pb.Principal(
        id=row.id,
        type=_TYPE_VALUES.get(row.type, pb.PRINCIPAL_TYPE_UNSPECIFIED),  # type: ignore[arg-type]
        title=row.title,
        description=row.description,
        enabled=row.enabled,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def assignment_message(row: models.RoleAssignment) -> pb.RoleAssignment:
    return pb.RoleAssignment(
        id=row.id,
        principal_id=row.principal_id,
        role_id=row.role_id,
        domain_restrictions=row.domain_restrictions,
        create_time=timestamp(row.created_at),
    )


def get_principal_row(principal_id: str, field: str = "id") -> models.Principal:
    principal_id = check_id(field, principal_id)
    row = models.Principal.get_or_none(models.Principal.id == principal_id)
    if row is None:
        raise NotFoundError("principal", principal_id)
    return row


def check_role_id(role_id: str, field: str = "role_id") -> BuiltinRole:
    role_id = check_id(field, role_id)
    role = ROLES.get(role_id)
    if role is None:
        raise NotFoundError("role", role_id)
    return role


class PrincipalService(principal_pb2_grpc.PrincipalServiceServicer):
    """Creates and manages principals and their role assignments."""

    async def CreatePrincipal(
        self, request: pb.CreatePrincipalRequest, context: Any
    ) -> pb.Principal:
        return await blocking(_create_principal, request)

    async def GetPrincipal(
        self, request: pb.GetPrincipalRequest, context: Any
    ) -> pb.Principal:
        return await blocking(lambda: principal_message(get_principal_row(request.id)))

    async def ListPrincipals(
        self, request: pb.ListPrincipalsRequest, context: Any
    ) -> pb.ListPrincipalsResponse:
        def run() -> pb.ListPrincipalsResponse:
            query = models.Principal.select().order_by(
                models.Principal.created_at, models.Principal.id
            )
            rows, token = page(query, request.page_size, request.page_token)
            return pb.ListPrincipalsResponse(
                principals=[principal_message(r) for r in rows], next_page_token=token
            )

        return await blocking(run)

    async def UpdatePrincipal(
        self, request: pb.UpdatePrincipalRequest, context: Any
    ) -> pb.Principal:
        return await blocking(_update_principal, request)

    async def DeletePrincipal(
        self, request: pb.DeletePrincipalRequest, context: Any
    ) -> empty_pb2.Empty:
        def run() -> empty_pb2.Empty:
            row = get_principal_row(request.id)
            audit.note(target=row.id)
            if row.id == current_caller().principal_id:
                raise ValidationError("id", "a principal cannot delete itself")
            with models.database_proxy.atomic():
                row.delete_instance(recursive=True)
            return empty_pb2.Empty()

        return await blocking(run)

    async def AssignRole(
        self, request: pb.AssignRoleRequest, context: Any
    ) -> pb.RoleAssignment:
        return await blocking(_assign_role, request)

    async def RemoveRole(
        self, request: pb.RemoveRoleRequest, context: Any
    ) -> empty_pb2.Empty:
        def run() -> empty_pb2.Empty:
            principal = get_principal_row(request.principal_id, "principal_id")
            role = check_role_id(request.role_id)
            audit.note(target=f"{principal.id}/{role.id}")
            deleted = (
                models.RoleAssignment.delete()
                .where(
                    (models.RoleAssignment.principal == principal.id)
                    & (models.RoleAssignment.role_id == role.id)
                )
                .execute()
            )
            if not deleted:
                raise NotFoundError("role assignment", f"{principal.id}/{role.id}")
            return empty_pb2.Empty()

        return await blocking(run)

    async def ListRoleAssignments(
        self, request: pb.ListRoleAssignmentsRequest, context: Any
    ) -> pb.ListRoleAssignmentsResponse:
        def run() -> pb.ListRoleAssignmentsResponse:
            query = models.RoleAssignment.select().order_by(
                models.RoleAssignment.created_at, models.RoleAssignment.id
            )
            if request.principal_id:
                principal = get_principal_row(request.principal_id, "principal_id")
                query = query.where(models.RoleAssignment.principal == principal.id)
            rows, token = page(query, request.page_size, request.page_token)
            return pb.ListRoleAssignmentsResponse(
                role_assignments=[assignment_message(r) for r in rows],
                next_page_token=token,
            )

        return await blocking(run)


def _create_principal(request: pb.CreatePrincipalRequest) -> pb.Principal:
    kind = _TYPES.get(request.type)
    if kind is None:
        raise ValidationError("type", "must be user, application or instance")
    row = models.Principal.create(
        id=models.new_id("p"),
        type=kind,
        title=check_text("title", request.title, required=True, limit=200),
        description=check_text(
            "description", request.description, required=False, limit=2000
        ),
        enabled=not request.disabled,
    )
    audit.note(target=row.id)
    return principal_message(row)


def _update_principal(request: pb.UpdatePrincipalRequest) -> pb.Principal:
    paths = mask_paths(request.update_mask, ("title", "description", "enabled"))
    row = get_principal_row(request.principal.id, "principal.id")
    audit.note(target=row.id)
    given = request.principal
    if "title" in paths:
        row.title = check_text("principal.title", given.title, required=True, limit=200)
    if "description" in paths:
        row.description = check_text(
            "principal.description", given.description, required=False, limit=2000
        )
    if "enabled" in paths:
        if not given.enabled and row.id == current_caller().principal_id:
            raise ValidationError(
                "principal.enabled", "a principal cannot disable itself"
            )
        row.enabled = given.enabled
    row.updated_at = models.utcnow()
    row.save()
    return principal_message(row)


def _assign_role(request: pb.AssignRoleRequest) -> pb.RoleAssignment:
    principal = get_principal_row(request.principal_id, "principal_id")
    role = check_role_id(request.role_id)
    audit.note(target=f"{principal.id}/{role.id}")
    restrictions = ""
    if request.domain_restrictions.strip():
        restrictions = str(
            parse_rule(request.domain_restrictions, "domain_restrictions")
        )
    try:
        with models.database_proxy.atomic():
            row = models.RoleAssignment.create(
                id=models.new_id("ra"),
                principal=principal.id,
                role_id=role.id,
                domain_restrictions=restrictions,
            )
    except pw.IntegrityError:
        raise AlreadyExistsError(
            "role assignment",
            f"{principal.id}/{role.id}",
            "remove it first to change it",
        ) from None
    return assignment_message(row)


def role_message(role: BuiltinRole) -> role_pb2.Role:
    return role_pb2.Role(
        id=role.id,
        title=role.title,
        description=role.description,
        actions=sorted(role.actions),
        built_in=True,
    )


class RoleService(role_pb2_grpc.RoleServiceServicer):
    """Lists the built-in roles and the actions they grant."""

    async def ListRoles(
        self, request: role_pb2.ListRolesRequest, context: Any
    ) -> role_pb2.ListRolesResponse:
        if request.page_size < 0:
            raise ValidationError("page_size", "must not be negative")
        if request.page_token:
            raise ValidationError("page_token", "is not a token from a previous call")
        roles = [role_message(ROLES[key]) for key in sorted(ROLES)]
        return role_pb2.ListRolesResponse(roles=roles)

    async def GetRole(
        self, request: role_pb2.GetRoleRequest, context: Any
    ) -> role_pb2.Role:
        return role_message(check_role_id(request.id, "id"))

    async def ListActions(
        self, request: role_pb2.ListActionsRequest, context: Any
    ) -> role_pb2.ListActionsResponse:
        return role_pb2.ListActionsResponse(
            actions=[
                role_pb2.Action(name=name, description=ACTIONS[name])
                for name in sorted(ACTIONS)
            ]
        )
