"""The client side: generated stubs, a typed client, hubctl and the REST bridge."""

from hub_client.client import HubClient, channel_credentials
from hub_client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    HubClientError,
    HubUnavailableError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)

__all__ = [
    "AlreadyExistsError",
    "FailedPreconditionError",
    "HubClient",
    "HubClientError",
    "HubUnavailableError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "channel_credentials",
]
