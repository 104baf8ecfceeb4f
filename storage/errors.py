"""The root of every error the hub raises, and the storage layer's family."""

from __future__ import annotations


class HubError(Exception):
    """Root of the hub's own errors; each layer derives its family from it.

    Messages are built from fields, never from secrets: a subclass that wraps a
    foreign exception keeps it as ``__cause__`` and does not copy its text unless
    the text is known to be free of credentials.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StorageError(HubError):
    """A database operation failed."""


class NotFoundError(StorageError):
    """A row the caller named does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class AlreadyExistsError(StorageError):
    """A row with the same unique key exists."""

    def __init__(self, kind: str, key: str, detail: str = "") -> None:
        message = f"{kind} {key!r} already exists"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.kind = kind
        self.key = key


class DatabaseUnavailableError(StorageError):
    """The database could not be reached or opened."""


class DatabaseUrlError(StorageError):
    """The database URL is malformed or names an unsupported scheme."""


class SecretKeyError(StorageError):
    """The master key is missing, malformed, or does not decrypt a stored secret."""
