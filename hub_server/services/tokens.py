"""TokenService and AuditService: API tokens, the caller's identity, the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub_client.hub.v1 import audit_pb2, audit_pb2_grpc, token_pb2, token_pb2_grpc
from hub_server import audit
from hub_server.actions import ROLES
from hub_server.auth import hash_secret, new_client_id, new_secret
from hub_server.errors import ValidationError
from hub_server.interceptor import current_caller
from hub_server.names import normalize_name
from hub_server.runtime import blocking
from hub_server.services.common import (
    check_id,
    check_text,
    from_timestamp,
    mask_paths,
    page,
    timestamp,
)
from hub_server.services.principals import (
    assignment_message,
    get_principal_row,
    principal_message,
)
from storage import models
from storage.errors import NotFoundError


def token_message(row: models.Token) -> token_pb2.Token:
    """The public description of a token; the hash and secret never appear."""
    return token_pb2.Token(
        id=row.id,
        client_id=row.client_id,
        principal_id=row.principal_id,
        title=row.title,
        description=row.description,
        scope_role_ids=row.scope_role_ids,
        expire_time=timestamp(row.expires_at),
        revoked=row.revoked_at is not None,
        revoke_time=timestamp(row.revoked_at),
        last_used_time=timestamp(row.last_used_at),
        create_time=timestamp(row.created_at),
    )


def _get_token_row(token_id: str, field: str = "id") -> models.Token:
    token_id = check_id(field, token_id)
    row = models.Token.get_or_none(models.Token.id == token_id)
    if row is None:
        raise NotFoundError("token", token_id)
    return row


def _check_scope(principal_id: str, role_ids: list[str], field: str) -> str:
    """Scope role ids as stored; each must be a role the principal holds now."""
    if not role_ids:
        raise ValidationError(field, "name at least one role")
    held = {
        a.role_id
        for a in models.RoleAssignment.select().where(
            models.RoleAssignment.principal == principal_id
        )
    }
    scope: list[str] = []
    for role_id in role_ids:
        role = ROLES.get(role_id.strip())
        if role is None:
            raise ValidationError(field, f"unknown role {role_id.strip()!r}")
        if role.id not in held:
            raise ValidationError(
                field, f"principal {principal_id} does not hold role {role.id!r}"
            )
        if role.id not in scope:
            scope.append(role.id)
    return " ".join(scope)


def _check_expiry(stamp: Any, field: str) -> dt.datetime:
    expires = from_timestamp(stamp)
    if expires <= models.utcnow():
        raise ValidationError(field, "must lie in the future")
    return expires


class TokenService(token_pb2_grpc.TokenServiceServicer):
    """Creates, lists and revokes API tokens; tells a caller who it is."""

    async def CreateToken(
        self, request: token_pb2.CreateTokenRequest, context: Any
    ) -> token_pb2.CreateTokenResponse:
        return await blocking(_create_token, request)

    async def ListTokens(
        self, request: token_pb2.ListTokensRequest, context: Any
    ) -> token_pb2.ListTokensResponse:
        def run() -> token_pb2.ListTokensResponse:
            query = models.Token.select().order_by(
                models.Token.created_at, models.Token.id
            )
            if request.principal_id:
                principal = get_principal_row(request.principal_id, "principal_id")
                query = query.where(models.Token.principal == principal.id)
            rows, token = page(query, request.page_size, request.page_token)
            return token_pb2.ListTokensResponse(
                tokens=[token_message(r) for r in rows], next_page_token=token
            )

        return await blocking(run)

    async def GetToken(
        self, request: token_pb2.GetTokenRequest, context: Any
    ) -> token_pb2.Token:
        return await blocking(lambda: token_message(_get_token_row(request.id)))

    async def UpdateToken(
        self, request: token_pb2.UpdateTokenRequest, context: Any
    ) -> token_pb2.Token:
        return await blocking(_update_token, request)

    async def RevokeToken(
        self, request: token_pb2.RevokeTokenRequest, context: Any
    ) -> token_pb2.Token:
        def run() -> token_pb2.Token:
            row = _get_token_row(request.id)
            audit.note(target=row.id)
            if row.revoked_at is None:
                row.revoked_at = models.utcnow()
                models.Token.update(revoked_at=row.revoked_at).where(
                    (models.Token.id == row.id) & models.Token.revoked_at.is_null()
                ).execute()
            return token_message(row)

        return await blocking(run)

    async def WhoAmI(
        self, request: token_pb2.WhoAmIRequest, context: Any
    ) -> token_pb2.WhoAmIResponse:
        caller = current_caller()
        return token_pb2.WhoAmIResponse(
            principal=principal_message(caller.principal),
            token=token_message(caller.token),
            effective_role_ids=caller.role_ids,
            actions=sorted(caller.actions),
            role_assignments=[assignment_message(g.assignment) for g in caller.grants],
        )


def _create_token(
    request: token_pb2.CreateTokenRequest,
) -> token_pb2.CreateTokenResponse:
    principal = get_principal_row(request.principal_id, "principal_id")
    title = check_text("title", request.title, required=True, limit=200)
    description = check_text(
        "description", request.description, required=False, limit=2000
    )
    scope = _check_scope(principal.id, list(request.scope_role_ids), "scope_role_ids")
    expires = (
        _check_expiry(request.expire_time, "expire_time")
        if request.HasField("expire_time")
        else None
    )
    secret = new_secret()
    row = models.Token.create(
        id=models.new_id("t"),
        client_id=new_client_id(),
        secret_hash=hash_secret(secret),
        principal=principal.id,
        title=title,
        description=description,
        scope=scope,
        expires_at=expires,
    )
    audit.note(target=row.id)
    return token_pb2.CreateTokenResponse(token=token_message(row), secret=secret)


def _update_token(request: token_pb2.UpdateTokenRequest) -> token_pb2.Token:
    paths = mask_paths(
        request.update_mask, ("title", "description", "expire_time", "scope_role_ids")
    )
    row = _get_token_row(request.token.id, "token.id")
    audit.note(target=row.id)
    given = request.token
    if "title" in paths:
        row.title = check_text("token.title", given.title, required=True, limit=200)
    if "description" in paths:
        row.description = check_text(
            "token.description", given.description, required=False, limit=2000
        )
    if "expire_time" in paths:
        row.expires_at = (
            _check_expiry(given.expire_time, "token.expire_time")
            if given.HasField("expire_time")
            else None
        )
    if "scope_role_ids" in paths:
        row.scope = _check_scope(
            row.principal_id, list(given.scope_role_ids), "token.scope_role_ids"
        )
    row.save()
    return token_message(row)


_OUTCOMES = {
    audit_pb2.AUDIT_OUTCOME_SUCCESS: "success",
    audit_pb2.AUDIT_OUTCOME_DENIED: "denied",
    audit_pb2.AUDIT_OUTCOME_FAILURE: "failure",
}
_OUTCOME_VALUES = {name: value for value, name in _OUTCOMES.items()}


def audit_message(row: models.AuditEvent) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        id=str(row.id),
        time=timestamp(row.time),
        principal_id=row.principal_id,
        client_id=row.client_id,
        peer=row.peer,
        action=row.action,
        method=row.method,
        target=row.target,
        name=row.name,
        outcome=_OUTCOME_VALUES.get(row.outcome, audit_pb2.AUDIT_OUTCOME_UNSPECIFIED),  # type: ignore[arg-type]
        reason=row.reason,
    )


class AuditService(audit_pb2_grpc.AuditServiceServicer):
    """Lists audit events, newest first."""

    async def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: Any
    ) -> audit_pb2.ListAuditEventsResponse:
        return await blocking(_list_audit_events, request)


def _list_audit_events(
    request: audit_pb2.ListAuditEventsRequest,
) -> audit_pb2.ListAuditEventsResponse:
    event = models.AuditEvent
    query = event.select().order_by(event.time.desc(), event.id.desc())
    if request.principal_id:
        query = query.where(
            event.principal_id == check_id("principal_id", request.principal_id)
        )
    if request.action:
        query = query.where(
            event.action
            == check_text("action", request.action, required=True, limit=64)
        )
    if request.name:
        query = query.where(event.name == normalize_name(request.name, "name"))
    if request.outcome:
        outcome = _OUTCOMES.get(request.outcome)
        if outcome is None:
            raise ValidationError("outcome", "is not a known outcome")
        query = query.where(event.outcome == outcome)
    if request.HasField("start_time"):
        query = query.where(event.time >= from_timestamp(request.start_time))
    if request.HasField("end_time"):
        query = query.where(event.time < from_timestamp(request.end_time))
    rows, token = page(query, request.page_size, request.page_token)
    return audit_pb2.ListAuditEventsResponse(
        events=[audit_message(r) for r in rows], next_page_token=token
    )
