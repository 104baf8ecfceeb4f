"""Who is calling: token secrets, their hashes, and the caller's effective rights."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from passlib.hash import pbkdf2_sha256

from hub_server.actions import ROLES
from hub_server.errors import AuthenticationError, PermissionDeniedError
from hub_server.rules import DomainMatchRule, parse_rule
from storage import models

logger = logging.getLogger(__name__)

# pbkdf2-sha256 at this cost takes tens of milliseconds: slow for a guesser, and
# paid once per token and process thanks to the verified-secret cache below.
_HASHER = pbkdf2_sha256.using(rounds=120000)
LAST_USED_RESOLUTION = 60.0


CLIENT_ID_PATTERN = re.compile(r"hub_[0-9a-f]{20}")


def new_client_id() -> str:
    return f"hub_{secrets.token_hex(10)}"


def loggable_client_id(client_id: str) -> str:
    """The presented client id if it has the form of one, else a placeholder.

    A caller who swaps id and secret must not get its secret into the audit
    trail, so anything that is not shaped like a client id is not recorded.
    """
    return client_id if CLIENT_ID_PATTERN.fullmatch(client_id) else "(malformed)"


def new_secret() -> str:
    """A secret of 256 random bits, url-safe."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


@dataclass(frozen=True)
class Grant:
    """One effective role assignment: a role and its optional name restriction."""

    role_id: str
    actions: frozenset[str]
    restriction: DomainMatchRule | None
    assignment: models.RoleAssignment


@dataclass
class Caller:
    """An authenticated caller and what it may do."""

    principal: models.Principal
    token: models.Token
    grants: list[Grant]
    peer: str = ""
    actions: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.actions = frozenset(a for g in self.grants for a in g.actions)

    @property
    def principal_id(self) -> str:
        return str(self.principal.id)

    @property
    def client_id(self) -> str:
        return str(self.token.client_id)

    def require(self, action: str) -> None:
        """Raise PermissionDeniedError unless some effective role grants ``action``."""
        if action not in self.actions:
            raise PermissionDeniedError(
                f"action {action!r} is not granted to this token "
                f"(effective roles: {', '.join(self.role_ids) or 'none'})",
                action=action,
            )

    @property
    def role_ids(self) -> list[str]:
        return sorted({g.role_id for g in self.grants})

    def allows_name(self, action: str, identifier: str) -> bool:
        """Whether a role granting ``action`` admits ``identifier``."""
        return any(
            action in g.actions
            and (g.restriction is None or g.restriction.matches(identifier))
            for g in self.grants
        )

    def require_name(self, action: str, identifier: str) -> None:
        """Raise PermissionDeniedError naming the caller's restrictions if refused."""
        if self.allows_name(action, identifier):
            return
        rules = [
            str(g.restriction) if g.restriction else "*"
            for g in self.grants
            if action in g.actions
        ]
        raise PermissionDeniedError(
            f"name {identifier!r} is outside this token's domain restrictions for "
            f"{action!r} ({'; '.join(rules) or 'no role grants it'})",
            action=action,
            name=identifier,
        )


def parse_basic(header: str) -> tuple[str, str] | None:
    """Client id and secret from an ``authorization: Basic`` value, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def credentials_from_metadata(
    metadata: Sequence[tuple[str, str | bytes]],
) -> tuple[str, str] | None:
    """The client id and secret a call presents, or None when absent or malformed.

    Each of ``x-client-id``, ``x-client-secret`` and ``authorization`` may appear
    once; a repeated key, a binary value or both forms at once are malformed.
    """
    seen: dict[str, str] = {}
    for key, value in metadata:
        key = key.lower()
        if key not in ("x-client-id", "x-client-secret", "authorization"):
            continue
        if key in seen or not isinstance(value, str):
            return None
        seen[key] = value
    if "authorization" in seen:
        if "x-client-id" in seen or "x-client-secret" in seen:
            return None
        return parse_basic(seen["authorization"])
    client_id = seen.get("x-client-id", "")
    secret = seen.get("x-client-secret", "")
    if not client_id or not secret:
        return None
    return client_id, secret


class FailureThrottle:
    """Slows down repeated authentication failures per client id and per peer.

    Each failure doubles the delay for its keys, up to ``max_delay``; a quiet
    minute forgets them. Only failing calls wait, so nobody else is locked out.
    """

    def __init__(self, max_delay: float = 2.0, first_delay: float = 0.05) -> None:
        self.max_delay = max_delay
        self.first_delay = first_delay
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def record_failure(self, *keys: str) -> float:
        """Count a failure for each key; return the delay to apply now."""
        now = time.monotonic()
        delay = 0.0
        with self._lock:
            if len(self._failures) > 100_000:
                self._forget_old(now)
            for key in keys:
                if not key:
                    continue
                count, last = self._failures.get(key, (0, now))
                count = 1 if now - last > 60 else count + 1
                self._failures[key] = (count, now)
                delay = max(delay, self.first_delay * 2 ** (count - 1))
        return min(delay, self.max_delay)

    def _forget_old(self, now: float) -> None:
        self._failures = {k: v for k, v in self._failures.items() if now - v[1] < 60}


class Authenticator:
    """Checks credentials against the database on every call.

    The token row is read on every call, so revocation, expiry and a disabled
    principal take effect at once on every hub sharing the database. Only the
    slow hash check is cached: a keyed digest of a secret that matched a given
    stored hash, so a changed hash or secret is checked again in full.
    """

    def __init__(self) -> None:
        self._cache_key = secrets.token_bytes(32)
        self._verified: dict[str, tuple[str, bytes]] = {}
        self._lock = threading.Lock()

    def _digest(self, secret: str) -> bytes:
        return hmac.new(self._cache_key, secret.encode(), hashlib.sha256).digest()

    def _secret_matches(self, token: models.Token, secret: str) -> bool:
        digest = self._digest(secret)
        with self._lock:
            cached = self._verified.get(token.client_id)
        if cached is not None and cached[0] == token.secret_hash:
            return hmac.compare_digest(cached[1], digest)
        if not _HASHER.verify(secret, token.secret_hash):
            return False
        with self._lock:
            if len(self._verified) > 50_000:
                self._verified.clear()
            self._verified[token.client_id] = (token.secret_hash, digest)
        return True

    def authenticate(self, client_id: str, secret: str, peer: str = "") -> Caller:
        """Return the caller, or raise AuthenticationError (one message for all)."""
        if len(client_id) > 64 or len(secret) > 256:
            raise AuthenticationError()
        token = (
            models.Token.select(models.Token, models.Principal)
            .join(models.Principal)
            .where(models.Token.client_id == client_id)
            .first()
        )
        if token is None:
            # Spend the same effort as a real check so timing tells nothing.
            _HASHER.verify(secret, _DUMMY_HASH)
            raise AuthenticationError()
        if not self._secret_matches(token, secret):
            raise AuthenticationError()
        now = models.utcnow()
        if token.revoked_at is not None or not token.principal.enabled:
            raise AuthenticationError()
        if token.expires_at is not None and token.expires_at <= now:
            raise AuthenticationError()
        self._touch(token, now)
        return Caller(token.principal, token, load_grants(token), peer)

    def _touch(self, token: models.Token, now: dt.datetime) -> None:
        last = token.last_used_at
        if last is None or (now - last).total_seconds() > LAST_USED_RESOLUTION:
            models.Token.update(last_used_at=now).where(
                models.Token.id == token.id
            ).execute()
            token.last_used_at = now


_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(32))


def load_grants(token: models.Token) -> list[Grant]:
    """The token's effective roles: in its scope and held by its principal now."""
    scope = set(token.scope_role_ids)
    grants = []
    assignments = models.RoleAssignment.select().where(
        models.RoleAssignment.principal == token.principal_id
    )
    for assignment in assignments:
        role = ROLES.get(assignment.role_id)
        if role is None or assignment.role_id not in scope:
            continue
        restriction = (
            parse_rule(assignment.domain_restrictions, "domain_restrictions")
            if assignment.domain_restrictions
            else None
        )
        grants.append(Grant(role.id, role.actions, restriction, assignment))
    return grants
