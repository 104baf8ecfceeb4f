"""Errors raised by DNS providers; messages never carry credentials."""

from __future__ import annotations

from storage.errors import HubError


class ProviderError(HubError):
    """A DNS back end refused or failed a request.

    ``zone`` and ``name`` say where; the message is written by the provider from
    facts it knows to be free of credentials, never copied from a back end's
    answer without scrubbing.
    """

    def __init__(
        self, message: str, *, provider: str = "", zone: str = "", name: str = ""
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.zone = zone
        self.name = name


class ProviderParameterError(ProviderError):
    """A provider parameter is missing, unknown or malformed."""

    def __init__(self, field: str, rule: str, *, provider: str = "") -> None:
        super().__init__(f"parameter {field!r}: {rule}", provider=provider)
        self.field = field
        self.rule = rule


class UnknownProviderError(ProviderError):
    """No provider of that type is registered."""

    def __init__(self, provider_type: str) -> None:
        super().__init__(
            f"unknown provider type {provider_type!r}", provider=provider_type
        )


class ZoneNotFoundError(ProviderError):
    """No zone served by the back end contains the name."""


class ProviderAuthError(ProviderError):
    """The back end refused the credentials."""


class ProviderRateLimitedError(ProviderError):
    """The back end asked us to slow down and kept doing so past the retries."""


class ProviderUnavailableError(ProviderError):
    """The back end could not be reached or timed out."""


class PropagationError(ProviderError):
    """Authoritative servers could not be found or queried."""
