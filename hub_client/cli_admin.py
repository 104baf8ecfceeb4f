"""hubctl commands for who may do what: whoami, principals, roles, tokens, audit."""

from __future__ import annotations

import time
from collections.abc import Sequence

import click
from google.protobuf.field_mask_pb2 import FieldMask

from hub_client.cli_common import (
    HubCommand,
    HubGroup,
    HubRefusedError,
    call,
    emit_json,
    emit_removed,
    enum_word,
    future_time,
    json_option,
    paged,
    past_time,
    print_fields,
    print_table,
    state,
    to_dict,
    when,
)
from hub_client.hub.v1 import audit_pb2, principal_pb2, role_pb2, token_pb2

_PRINCIPAL_TYPES = {
    "application": principal_pb2.PRINCIPAL_TYPE_APPLICATION,
    "user": principal_pb2.PRINCIPAL_TYPE_USER,
    "instance": principal_pb2.PRINCIPAL_TYPE_INSTANCE,
}

_OUTCOMES = {
    "success": audit_pb2.AUDIT_OUTCOME_SUCCESS,
    "denied": audit_pb2.AUDIT_OUTCOME_DENIED,
    "failure": audit_pb2.AUDIT_OUTCOME_FAILURE,
}


def _principal_type(value: int) -> str:
    return enum_word(value, principal_pb2.PrincipalType, "PRINCIPAL_TYPE_")


def _restrictions(rule: str) -> str:
    return rule or "any name"


# --- whoami ---------------------------------------------------------------------


@click.command(cls=HubCommand)
@json_option
def whoami() -> None:
    """Show the principal, token, roles and actions of the credentials in use."""
    answer = call(state().client().tokens.WhoAmI, token_pb2.WhoAmIRequest())
    if state().json:
        emit_json(to_dict(answer))
        return
    principal, token = answer.principal, answer.token
    print_fields(
        [
            ("Principal", f"{principal.id} ({principal.title})"),
            ("Type", _principal_type(principal.type)),
            ("Token", f"{token.id} ({token.title})"),
            ("Client id", token.client_id),
            ("Expires", when(token.expire_time) or "never"),
            ("Roles", ", ".join(answer.effective_role_ids)),
            ("Actions", ", ".join(answer.actions)),
        ]
    )
    for assignment in answer.role_assignments:
        restriction = _restrictions(assignment.domain_restrictions)
        click.echo(f"  {assignment.role_id}: {restriction}")


# --- principal ------------------------------------------------------------------


@click.group(cls=HubGroup)
def principal() -> None:
    """Users, applications and instances that hold roles and tokens."""


def _show_principal(item: principal_pb2.Principal) -> None:
    print_fields(
        [
            ("Id", item.id),
            ("Type", _principal_type(item.type)),
            ("Title", item.title),
            ("Description", item.description),
            ("Enabled", "yes" if item.enabled else "no"),
            ("Created", when(item.create_time)),
            ("Updated", when(item.update_time)),
        ]
    )


def _emit_principal(item: principal_pb2.Principal, verb: str) -> None:
    if state().json:
        emit_json(to_dict(item))
    else:
        click.echo(f"{verb} principal {item.id} ({item.title}).")


@principal.command("add")
@click.option(
    "--type",
    "kind",
    required=True,
    type=click.Choice(sorted(_PRINCIPAL_TYPES)),
    help="What the principal stands for.",
)
@click.option("--title", required=True, help="Short name, 1-200 characters.")
@click.option("--description", default="", help="Free text.")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@json_option
def principal_add(kind: str, title: str, description: str, disabled: bool) -> None:
    """Create a principal; prints its id."""
    request = principal_pb2.CreatePrincipalRequest(
        type=_PRINCIPAL_TYPES[kind],
        title=title,
        description=description,
        disabled=disabled,
    )
    created = call(state().client().principals.CreatePrincipal, request)
    _emit_principal(created, "Created")


@principal.command("list")
@json_option
def principal_list() -> None:
    """List principals in the order they were created."""
    client = state().client()
    items = paged(
        client.principals.ListPrincipals,
        principal_pb2.ListPrincipalsRequest(),
        "principals",
    )
    if state().json:
        emit_json([to_dict(item) for item in items])
        return
    print_table(
        ["ID", "TYPE", "TITLE", "ENABLED", "CREATED"],
        [
            [
                item.id,
                _principal_type(item.type),
                item.title,
                "yes" if item.enabled else "no",
                when(item.create_time),
            ]
            for item in items
        ],
    )


@principal.command("show")
@click.argument("principal_id", metavar="ID")
@json_option
def principal_show(principal_id: str) -> None:
    """Show a principal and the roles it holds."""
    client = state().client()
    item = call(
        client.principals.GetPrincipal,
        principal_pb2.GetPrincipalRequest(id=principal_id),
    )
    assignments = paged(
        client.principals.ListRoleAssignments,
        principal_pb2.ListRoleAssignmentsRequest(principal_id=principal_id),
        "role_assignments",
    )
    if state().json:
        emit_json(
            {**to_dict(item), "role_assignments": [to_dict(a) for a in assignments]}
        )
        return
    _show_principal(item)
    click.echo("Roles:")
    for assignment in assignments:
        restriction = _restrictions(assignment.domain_restrictions)
        click.echo(f"  {assignment.role_id}: {restriction}")
    if not assignments:
        click.echo("  (none)")


def _update_principal(
    principal_id: str, changes: principal_pb2.Principal, paths: Sequence[str], verb: str
) -> None:
    changes.id = principal_id
    request = principal_pb2.UpdatePrincipalRequest(
        principal=changes, update_mask=FieldMask(paths=list(paths))
    )
    updated = call(state().client().principals.UpdatePrincipal, request)
    _emit_principal(updated, verb)


@principal.command("update")
@click.argument("principal_id", metavar="ID")
@click.option("--title", help="New short name.")
@click.option("--description", help="New free text (empty clears it).")
@json_option
def principal_update(
    principal_id: str, title: str | None, description: str | None
) -> None:
    """Change a principal's title or description."""
    changes = principal_pb2.Principal(title=title or "", description=description or "")
    paths = [
        path
        for path, value in (("title", title), ("description", description))
        if value is not None
    ]
    if not paths:
        raise click.UsageError("nothing to change; give --title or --description")
    _update_principal(principal_id, changes, paths, "Updated")


@principal.command("disable")
@click.argument("principal_id", metavar="ID")
@json_option
def principal_disable(principal_id: str) -> None:
    """Disable a principal: its tokens fail from the next call on."""
    changes = principal_pb2.Principal(enabled=False)
    _update_principal(principal_id, changes, ["enabled"], "Disabled")


@principal.command("enable")
@click.argument("principal_id", metavar="ID")
@json_option
def principal_enable(principal_id: str) -> None:
    """Enable a disabled principal again."""
    changes = principal_pb2.Principal(enabled=True)
    _update_principal(principal_id, changes, ["enabled"], "Enabled")


@principal.command("remove")
@click.argument("principal_id", metavar="ID")
@json_option
def principal_remove(principal_id: str) -> None:
    """Delete a principal with its role assignments and tokens."""
    request = principal_pb2.DeletePrincipalRequest(id=principal_id)
    call(state().client().principals.DeletePrincipal, request)
    emit_removed("principal", principal_id)


@principal.command("assign")
@click.argument("principal_id", metavar="ID")
@click.argument("role_id", metavar="ROLE")
@click.option(
    "--domains",
    default="",
    metavar="RULE",
    help="Domain Match Rule limiting the names, e.g. '*.example.com'.",
)
@json_option
def principal_assign(principal_id: str, role_id: str, domains: str) -> None:
    """Give a principal a role, optionally only for some names."""
    request = principal_pb2.AssignRoleRequest(
        principal_id=principal_id, role_id=role_id, domain_restrictions=domains
    )
    assignment = call(state().client().principals.AssignRole, request)
    if state().json:
        emit_json(to_dict(assignment))
        return
    restriction = _restrictions(assignment.domain_restrictions)
    click.echo(f"Assigned {assignment.role_id} to {principal_id} for {restriction}.")


@principal.command("unassign")
@click.argument("principal_id", metavar="ID")
@click.argument("role_id", metavar="ROLE")
@json_option
def principal_unassign(principal_id: str, role_id: str) -> None:
    """Take a role away from a principal."""
    request = principal_pb2.RemoveRoleRequest(
        principal_id=principal_id, role_id=role_id
    )
    call(state().client().principals.RemoveRole, request)
    if state().json:
        emit_json({"principal_id": principal_id, "role_id": role_id, "removed": True})
    else:
        click.echo(f"Removed {role_id} from {principal_id}.")


# --- role -----------------------------------------------------------------------


@click.group(cls=HubGroup)
def role() -> None:
    """The built-in roles and the actions they grant."""


@role.command("list")
@json_option
def role_list() -> None:
    """List the roles."""
    client = state().client()
    roles = paged(client.roles.ListRoles, role_pb2.ListRolesRequest(), "roles")
    if state().json:
        emit_json([to_dict(item) for item in roles])
        return
    print_table(
        ["ID", "TITLE", "ACTIONS"],
        [[item.id, item.title, ", ".join(item.actions)] for item in roles],
    )


@role.command("show")
@click.argument("role_id", metavar="ROLE")
@json_option
def role_show(role_id: str) -> None:
    """Show a role and what each of its actions allows."""
    client = state().client()
    item = call(client.roles.GetRole, role_pb2.GetRoleRequest(id=role_id))
    if state().json:
        emit_json(to_dict(item))
        return
    actions = call(client.roles.ListActions, role_pb2.ListActionsRequest()).actions
    meaning = {action.name: action.description for action in actions}
    print_fields(
        [
            ("Id", item.id),
            ("Title", item.title),
            ("Description", item.description),
            ("Built in", "yes" if item.built_in else "no"),
        ]
    )
    click.echo("Actions:")
    print_table(
        ["  ACTION", "ALLOWS"],
        [[f"  {name}", meaning.get(name, "")] for name in item.actions],
    )


# --- token ----------------------------------------------------------------------


@click.group(cls=HubGroup)
def token() -> None:
    """API tokens: a client id and a secret shown once, scoped to roles."""


def _token_status(item: token_pb2.Token) -> str:
    if item.revoked:
        return "revoked"
    if item.HasField("expire_time") and item.expire_time.ToSeconds() <= time.time():
        return "expired"
    return "active"


def _token_dict(item: token_pb2.Token) -> dict[str, object]:
    return {**to_dict(item), "status": _token_status(item)}


def _show_token(item: token_pb2.Token) -> None:
    print_fields(
        [
            ("Id", item.id),
            ("Client id", item.client_id),
            ("Principal", item.principal_id),
            ("Title", item.title),
            ("Description", item.description),
            ("Roles", ", ".join(item.scope_role_ids)),
            ("Status", _token_status(item)),
            ("Expires", when(item.expire_time) or "never"),
            ("Revoked", when(item.revoke_time)),
            ("Last used", when(item.last_used_time) or "never"),
            ("Created", when(item.create_time)),
        ]
    )


def _held_roles(principal_id: str) -> list[str]:
    assignments = paged(
        state().client().principals.ListRoleAssignments,
        principal_pb2.ListRoleAssignmentsRequest(principal_id=principal_id),
        "role_assignments",
    )
    return [assignment.role_id for assignment in assignments]


@token.command("create")
@click.option("--principal", "principal_id", required=True, metavar="ID")
@click.option("--title", required=True, help="Short name, 1-200 characters.")
@click.option("--description", default="", help="Free text.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE",
    help="Role the token may use (repeat); default: every role the principal holds.",
)
@click.option(
    "--expires",
    metavar="WHEN",
    help="Expiry: 90d, 12h, 30m from now, or an RFC 3339 time; default never.",
)
@json_option
def token_create(
    principal_id: str,
    title: str,
    description: str,
    roles: tuple[str, ...],
    expires: str | None,
) -> None:
    """Create a token and print its client id and secret, shown only this once."""
    request = token_pb2.CreateTokenRequest(
        principal_id=principal_id, title=title, description=description
    )
    if expires is not None:
        request.expire_time.CopyFrom(future_time(expires, "--expires"))
    scope = list(roles) or _held_roles(principal_id)
    if not scope:
        raise HubRefusedError(
            f"principal {principal_id} holds no role; assign one first with: "
            f"hubctl principal assign {principal_id} ROLE"
        )
    request.scope_role_ids.extend(scope)

    created = call(state().client().tokens.CreateToken, request)
    if state().json:
        emit_json({**_token_dict(created.token), "secret": created.secret})
        return
    print_fields(
        [
            ("Token", created.token.id),
            ("Principal", created.token.principal_id),
            ("Roles", ", ".join(created.token.scope_role_ids)),
            ("Expires", when(created.token.expire_time) or "never"),
            ("Client id", created.token.client_id),
            ("Secret", created.secret),
        ]
    )
    click.echo("Store the secret now: the hub keeps only a hash of it.", err=True)


@token.command("list")
@click.option("--principal", "principal_id", default="", metavar="ID")
@json_option
def token_list(principal_id: str) -> None:
    """List tokens, all or one principal's; secrets are never shown."""
    items = paged(
        state().client().tokens.ListTokens,
        token_pb2.ListTokensRequest(principal_id=principal_id),
        "tokens",
    )
    if state().json:
        emit_json([_token_dict(item) for item in items])
        return
    print_table(
        ["ID", "CLIENT ID", "PRINCIPAL", "TITLE", "ROLES", "STATUS", "EXPIRES"],
        [
            [
                item.id,
                item.client_id,
                item.principal_id,
                item.title,
                ",".join(item.scope_role_ids),
                _token_status(item),
                when(item.expire_time) or "never",
            ]
            for item in items
        ],
    )


@token.command("show")
@click.argument("token_id", metavar="ID")
@json_option
def token_show(token_id: str) -> None:
    """Show one token."""
    item = call(
        state().client().tokens.GetToken, token_pb2.GetTokenRequest(id=token_id)
    )
    if state().json:
        emit_json(_token_dict(item))
    else:
        _show_token(item)


@token.command("update")
@click.argument("token_id", metavar="ID")
@click.option("--title", help="New short name.")
@click.option("--description", help="New free text (empty clears it).")
@click.option(
    "--role", "roles", multiple=True, metavar="ROLE", help="New scope (repeat)."
)
@click.option("--expires", metavar="WHEN", help="New expiry: 90d, 12h or RFC 3339.")
@click.option("--no-expiry", is_flag=True, help="Remove the expiry.")
@json_option
def token_update(
    token_id: str,
    title: str | None,
    description: str | None,
    roles: tuple[str, ...],
    expires: str | None,
    no_expiry: bool,
) -> None:
    """Change a token's title, description, scope or expiry."""
    if expires is not None and no_expiry:
        raise click.UsageError("give --expires or --no-expiry, not both")
    changes = token_pb2.Token(id=token_id, title=title or "")
    changes.description = description or ""
    changes.scope_role_ids.extend(roles)
    paths = [
        path
        for path, given in (
            ("title", title is not None),
            ("description", description is not None),
            ("scope_role_ids", bool(roles)),
            ("expire_time", expires is not None or no_expiry),
        )
        if given
    ]
    if not paths:
        raise click.UsageError(
            "nothing to change; give --title, --description, --role, --expires or "
            "--no-expiry"
        )
    if expires is not None:
        changes.expire_time.CopyFrom(future_time(expires, "--expires"))

    request = token_pb2.UpdateTokenRequest(
        token=changes, update_mask=FieldMask(paths=paths)
    )
    item = call(state().client().tokens.UpdateToken, request)
    if state().json:
        emit_json(_token_dict(item))
    else:
        click.echo(f"Updated token {item.id} ({item.title}).")


@token.command("revoke")
@click.argument("token_id", metavar="ID")
@json_option
def token_revoke(token_id: str) -> None:
    """Revoke a token at once; revoking it again changes nothing."""
    request = token_pb2.RevokeTokenRequest(id=token_id)
    item = call(state().client().tokens.RevokeToken, request)
    if state().json:
        emit_json(_token_dict(item))
    else:
        click.echo(f"Revoked token {item.id} (client id {item.client_id}).")


# --- audit ----------------------------------------------------------------------


@click.group(cls=HubGroup)
def audit() -> None:
    """The audit trail of changes and denied requests."""


@audit.command("list")
@click.option("--principal", "principal_id", default="", metavar="ID")
@click.option("--action", default="", help="e.g. challenge.request")
@click.option("--name", default="", help="Only events about this DNS name.")
@click.option("--outcome", type=click.Choice(sorted(_OUTCOMES)))
@click.option("--since", metavar="WHEN", help="1h, 7d ago, or an RFC 3339 time.")
@click.option("--until", metavar="WHEN", help="1h, 7d ago, or an RFC 3339 time.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Most events to show, newest first.",
)
@json_option
def audit_list(
    principal_id: str,
    action: str,
    name: str,
    outcome: str | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> None:
    """List audit events, newest first."""
    request = audit_pb2.ListAuditEventsRequest(
        principal_id=principal_id, action=action, name=name
    )
    if outcome is not None:
        request.outcome = _OUTCOMES[outcome]
    if since is not None:
        request.start_time.CopyFrom(past_time(since, "--since"))
    if until is not None:
        request.end_time.CopyFrom(past_time(until, "--until"))

    events = paged(state().client().audit.ListAuditEvents, request, "events", limit)
    if state().json:
        emit_json([to_dict(event) for event in events])
        return
    print_table(
        ["TIME", "PRINCIPAL", "ACTION", "TARGET", "NAME", "OUTCOME", "REASON"],
        [
            [
                when(event.time),
                event.principal_id or event.client_id,
                event.action,
                event.target,
                event.name,
                enum_word(event.outcome, audit_pb2.AuditOutcome, "AUDIT_OUTCOME_"),
                event.reason,
            ]
            for event in events
        ],
    )


COMMANDS: list[click.Command] = [whoami, principal, role, token, audit]
