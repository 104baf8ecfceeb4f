"""Actions, the built-in roles, and the action each RPC needs, in one place."""

from __future__ import annotations

from dataclasses import dataclass

ACTIONS: dict[str, str] = {
    "challenge.request": "publish dns-01 values for allowed names",
    "challenge.cleanup": "remove dns-01 values the hub published",
    "challenge.read": "list records and managed challenge configs",
    "challenge.write": "create, change and delete managed challenge configs",
    "operation.read": "follow the operations of published values",
    "credential.read": "list stored credentials (never their secrets)",
    "credential.write": "create, change, test and delete stored credentials",
    "principal.read": "list principals and role assignments",
    "principal.write": "create, change and delete principals; assign roles",
    "role.read": "list roles and actions",
    "token.read": "list API tokens (never their secrets)",
    "token.write": "create, change and revoke API tokens",
    "audit.read": "read the audit trail",
    "instance.join": "join the hub as a managed instance",
    "self.read": "describe the caller's own principal, token and roles",
}


@dataclass(frozen=True)
class BuiltinRole:
    """A role that ships with the hub; read-only."""

    id: str
    title: str
    description: str
    actions: frozenset[str]


def _role(role_id: str, title: str, description: str, *actions: str) -> BuiltinRole:
    unknown = set(actions) - set(ACTIONS)
    assert not unknown, f"role {role_id} names unknown actions {unknown}"
    return BuiltinRole(role_id, title, description, frozenset(actions))


ROLES: dict[str, BuiltinRole] = {
    role.id: role
    for role in (
        _role(
            "administrator",
            "Administrator",
            "Every action.",
            *ACTIONS,
        ),
        _role(
            "managed-challenge-admin",
            "Managed Challenge Admin",
            "Manages stored credentials and managed challenge configs.",
            "challenge.request",
            "challenge.cleanup",
            "challenge.read",
            "challenge.write",
            "operation.read",
            "credential.read",
            "credential.write",
            "role.read",
            "self.read",
        ),
        _role(
            "managed-challenge-consumer",
            "Managed Challenge Consumer",
            "Publishes and removes dns-01 values for allowed names; nothing else.",
            "challenge.request",
            "challenge.cleanup",
            "operation.read",
            "self.read",
        ),
        _role(
            "hub-managed-instance",
            "Hub Managed Instance",
            "A managed instance joined to the hub.",
            "instance.join",
            "self.read",
        ),
        _role(
            "hub-viewer",
            "Hub Viewer",
            "Reads everything but secrets; changes nothing.",
            "challenge.read",
            "operation.read",
            "credential.read",
            "principal.read",
            "role.read",
            "token.read",
            "audit.read",
            "self.read",
        ),
    )
}

# The action every RPC needs. A method missing here is refused, and a test checks
# that every method of every hub.v1 service is listed.
METHOD_ACTIONS: dict[str, str] = {
    "/hub.v1.ChallengeService/PerformChallenge": "challenge.request",
    "/hub.v1.ChallengeService/GetOperation": "operation.read",
    "/hub.v1.ChallengeService/WatchOperation": "operation.read",
    "/hub.v1.ChallengeService/CleanupChallenge": "challenge.cleanup",
    "/hub.v1.ChallengeService/ListRecords": "challenge.read",
    "/hub.v1.ChallengeService/CreateManagedChallenge": "challenge.write",
    "/hub.v1.ChallengeService/GetManagedChallenge": "challenge.read",
    "/hub.v1.ChallengeService/ListManagedChallenges": "challenge.read",
    "/hub.v1.ChallengeService/UpdateManagedChallenge": "challenge.write",
    "/hub.v1.ChallengeService/DeleteManagedChallenge": "challenge.write",
    "/hub.v1.ChallengeService/ResolveManagedChallenge": "challenge.request",
    "/hub.v1.CredentialService/ListProviders": "credential.read",
    "/hub.v1.CredentialService/CreateStoredCredential": "credential.write",
    "/hub.v1.CredentialService/ListStoredCredentials": "credential.read",
    "/hub.v1.CredentialService/GetStoredCredential": "credential.read",
    "/hub.v1.CredentialService/UpdateStoredCredential": "credential.write",
    "/hub.v1.CredentialService/DeleteStoredCredential": "credential.write",
    "/hub.v1.CredentialService/TestStoredCredential": "credential.write",
    "/hub.v1.PrincipalService/CreatePrincipal": "principal.write",
    "/hub.v1.PrincipalService/GetPrincipal": "principal.read",
    "/hub.v1.PrincipalService/ListPrincipals": "principal.read",
    "/hub.v1.PrincipalService/UpdatePrincipal": "principal.write",
    "/hub.v1.PrincipalService/DeletePrincipal": "principal.write",
    "/hub.v1.PrincipalService/AssignRole": "principal.write",
    "/hub.v1.PrincipalService/RemoveRole": "principal.write",
    "/hub.v1.PrincipalService/ListRoleAssignments": "principal.read",
    "/hub.v1.RoleService/ListRoles": "role.read",
    "/hub.v1.RoleService/GetRole": "role.read",
    "/hub.v1.RoleService/ListActions": "role.read",
    "/hub.v1.TokenService/CreateToken": "token.write",
    "/hub.v1.TokenService/ListTokens": "token.read",
    "/hub.v1.TokenService/GetToken": "token.read",
    "/hub.v1.TokenService/UpdateToken": "token.write",
    "/hub.v1.TokenService/RevokeToken": "token.write",
    "/hub.v1.TokenService/WhoAmI": "self.read",
    "/hub.v1.AuditService/ListAuditEvents": "audit.read",
}

# Methods anyone may call without credentials: health checks and reflection.
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# Actions that change nothing: calls needing only these are not audited on
# success (denials always are).
READ_ONLY_ACTIONS = frozenset(
    name for name in ACTIONS if name.endswith(".read") or name == "self.read"
)
