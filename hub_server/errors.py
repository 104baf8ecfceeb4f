"""The server's error family: validation, authorisation and domain refusals."""

from __future__ import annotations

from storage.errors import HubError


class ServerError(HubError):
    """An error raised by the hub's own logic."""


class ValidationError(ServerError):
    """A request field breaks a rule; nothing was changed.

    The message names the field and the rule, e.g.
    ``identifier: label 'a..b' is empty``.
    """

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class AuthenticationError(ServerError):
    """Credentials are missing or refused; one message for every cause."""

    def __init__(self) -> None:
        super().__init__("missing or invalid client credentials")


class PermissionDeniedError(ServerError):
    """An authenticated caller asked for an action or a name it was not allowed."""

    def __init__(self, message: str, *, action: str = "", name: str = "") -> None:
        super().__init__(message)
        self.action = action
        self.name = name


class FailedPreconditionError(ServerError):
    """The request is well formed but the hub's state does not allow it."""


class ConflictError(ServerError):
    """The request conflicts with an existing object (a duplicate rule, say)."""
