"""The one table that turns the hub's errors into gRPC status codes."""

from __future__ import annotations

import grpc

from hub_server import errors as server_errors
from providers import errors as provider_errors
from storage import errors as storage_errors
from storage.errors import HubError

# Most specific classes first; the first isinstance match wins.
STATUS_TABLE: tuple[tuple[type[HubError], grpc.StatusCode], ...] = (
    (server_errors.ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (server_errors.AuthenticationError, grpc.StatusCode.UNAUTHENTICATED),
    (server_errors.PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (server_errors.FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (server_errors.ConflictError, grpc.StatusCode.ALREADY_EXISTS),
    (server_errors.ServerError, grpc.StatusCode.INTERNAL),
    (storage_errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (storage_errors.AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (storage_errors.DatabaseUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (storage_errors.DatabaseUrlError, grpc.StatusCode.INTERNAL),
    (storage_errors.SecretKeyError, grpc.StatusCode.INTERNAL),
    (storage_errors.StorageError, grpc.StatusCode.INTERNAL),
    (provider_errors.ProviderParameterError, grpc.StatusCode.INVALID_ARGUMENT),
    (provider_errors.UnknownProviderError, grpc.StatusCode.INVALID_ARGUMENT),
    (provider_errors.ZoneNotFoundError, grpc.StatusCode.FAILED_PRECONDITION),
    (provider_errors.ProviderAuthError, grpc.StatusCode.UNAVAILABLE),
    (provider_errors.ProviderRateLimitedError, grpc.StatusCode.UNAVAILABLE),
    (provider_errors.ProviderUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (provider_errors.PropagationError, grpc.StatusCode.UNAVAILABLE),
    (provider_errors.ProviderError, grpc.StatusCode.UNAVAILABLE),
    (HubError, grpc.StatusCode.INTERNAL),
)

# Internal errors keep their detail in the server log only.
_GENERIC = "internal error; the hub's log has the details"


def status_for(error: HubError) -> tuple[grpc.StatusCode, str]:
    """The status code and the message a client may see for ``error``."""
    for cls, code in STATUS_TABLE:
        if isinstance(error, cls):
            if code is grpc.StatusCode.INTERNAL:
                return code, _GENERIC
            return code, error.message
    return grpc.StatusCode.INTERNAL, _GENERIC
