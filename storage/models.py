"""Peewee models: every row the hub keeps, with the indexes its lookups use."""

from __future__ import annotations

import datetime as dt
import secrets

import peewee as pw

database_proxy = pw.DatabaseProxy()


def utcnow() -> dt.datetime:
    """Now, in UTC, without tzinfo: every stored time is naive UTC."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def new_id(prefix: str) -> str:
    """A short random id with a readable prefix, e.g. ``p-3f2a9c1d0b7e``."""
    return f"{prefix}-{secrets.token_hex(6)}"


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    """The migration level of the database: one row per applied version."""

    version = pw.IntegerField(primary_key=True)
    applied_at = pw.DateTimeField(default=utcnow)


class Principal(BaseModel):
    """A user, application or managed instance."""

    id = pw.CharField(primary_key=True, max_length=32)
    type = pw.CharField(max_length=16)
    title = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    enabled = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow, index=True)
    updated_at = pw.DateTimeField(default=utcnow)


class RoleAssignment(BaseModel):
    """A role held by a principal, optionally restricted to a Domain Match Rule."""

    id = pw.CharField(primary_key=True, max_length=32)
    principal = pw.ForeignKeyField(Principal, on_delete="CASCADE", backref="roles")
    principal_id: str
    role_id = pw.CharField(max_length=64)
    domain_restrictions = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("principal", "role_id"), True),)


class Token(BaseModel):
    """An API token; only a salted hash of its secret is kept."""

    id = pw.CharField(primary_key=True, max_length=32)
    client_id = pw.CharField(max_length=64, unique=True)
    secret_hash = pw.CharField(max_length=255)
    principal = pw.ForeignKeyField(Principal, on_delete="CASCADE", backref="tokens")
    principal_id: str
    title = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    scope = pw.TextField(default="")  # role ids separated by spaces
    expires_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow, index=True)

    @property
    def scope_role_ids(self) -> list[str]:
        return self.scope.split()


class StoredCredential(BaseModel):
    """A provider type with its parameters; secret ones are encrypted."""

    id = pw.CharField(primary_key=True, max_length=32)
    title = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    provider_type = pw.CharField(max_length=64)
    parameters = pw.TextField(default="{}")  # JSON of the non-secret parameters
    secrets = pw.TextField(default="")  # Fernet token of the JSON of the secret ones
    created_at = pw.DateTimeField(default=utcnow, index=True)
    updated_at = pw.DateTimeField(default=utcnow)


class ManagedChallengeConfig(BaseModel):
    """Which credential serves which names, and how."""

    id = pw.CharField(primary_key=True, max_length=32)
    title = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    challenge_type = pw.CharField(max_length=16, default="dns-01")
    credential = pw.ForeignKeyField(
        StoredCredential, on_delete="RESTRICT", backref="configs"
    )
    credential_id: str
    domain_match_rule = pw.TextField()
    ttl = pw.IntegerField(default=60)
    skip_propagation_check = pw.BooleanField(default=False)
    propagation_timeout = pw.IntegerField(default=0)
    nameservers = pw.TextField(default="")  # host:port separated by spaces
    follow_cname = pw.BooleanField(default=False)
    max_record_age = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=utcnow, index=True)
    updated_at = pw.DateTimeField(default=utcnow)


class RuleEntry(BaseModel):
    """One entry of a config's rule; unique, so matching is an indexed lookup."""

    entry = pw.CharField(max_length=260, unique=True)
    config = pw.ForeignKeyField(
        ManagedChallengeConfig, on_delete="CASCADE", backref="entries"
    )
    config_id: str


class ChallengeRecord(BaseModel):
    """A TXT value the hub published (or is publishing) for a client."""

    id = pw.CharField(primary_key=True, max_length=32)
    identifier = pw.CharField(max_length=260)
    validation_name = pw.CharField(max_length=260, index=True)
    zone = pw.CharField(max_length=260, default="")
    value = pw.CharField(max_length=64)
    config_id = pw.CharField(max_length=32, default="")
    credential_id = pw.CharField(max_length=32, default="")
    principal_id = pw.CharField(max_length=32, default="", index=True)
    client_id = pw.CharField(max_length=64, default="")
    active = pw.BooleanField(default=True, index=True)
    # The value was at the name before the hub added it (put there by hand or
    # by another tool): cleanup leaves it in DNS. Added in version 3.
    preexisting = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow, index=True)
    removed_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("validation_name", "value", "active"), False),)


class Operation(BaseModel):
    """The progress of publishing one record; survives restarts."""

    id = pw.CharField(primary_key=True, max_length=32)
    record = pw.ForeignKeyField(ChallengeRecord, on_delete="CASCADE", backref="ops")
    record_id: str
    state = pw.CharField(max_length=16, index=True)
    reason = pw.TextField(default="")
    requested_ttl = pw.IntegerField(default=0)
    ttl = pw.IntegerField(default=0)
    servers = pw.TextField(default="")  # host:port separated by spaces
    servers_pending = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class AuditEvent(BaseModel):
    """A change or a denied request. Never holds a secret."""

    id = pw.AutoField()
    time = pw.DateTimeField(default=utcnow, index=True)
    principal_id = pw.CharField(max_length=32, default="", index=True)
    client_id = pw.CharField(max_length=64, default="")
    peer = pw.CharField(max_length=128, default="")
    action = pw.CharField(max_length=64, default="", index=True)
    method = pw.CharField(max_length=128, default="")
    target = pw.CharField(max_length=128, default="")
    name = pw.CharField(max_length=260, default="", index=True)
    outcome = pw.CharField(max_length=16, index=True)
    reason = pw.TextField(default="")


class EmbeddedTxtRecord(BaseModel):
    """A TXT value served by the hub's embedded DNS server (added in version 2)."""

    id = pw.AutoField()
    name = pw.CharField(max_length=260, index=True)
    value = pw.CharField(max_length=255)
    ttl = pw.IntegerField(default=60)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("name", "value"), True),)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    SchemaVersion,
    Principal,
    RoleAssignment,
    Token,
    StoredCredential,
    ManagedChallengeConfig,
    RuleEntry,
    ChallengeRecord,
    Operation,
    AuditEvent,
    EmbeddedTxtRecord,
)
