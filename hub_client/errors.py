"""Typed exceptions for gRPC status codes the hub answers with."""

from __future__ import annotations

import grpc
import grpc.aio


class HubClientError(Exception):
    """The hub refused or failed a call; ``code`` is the gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(HubClientError):
    """A request field broke a rule; the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class UnauthenticatedError(HubClientError):
    """Credentials are missing or were refused."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(HubClientError):
    """The caller may not do this action, or not for this name."""

    code = grpc.StatusCode.PERMISSION_DENIED


class NotFoundError(HubClientError):
    """The object named does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(HubClientError):
    """An object with the same key exists."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(HubClientError):
    """The hub's state does not allow the request (no config serves a name, say)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class HubUnavailableError(HubClientError):
    """The hub could not be reached, or a DNS back end could not."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(HubClientError):
    """The call took longer than its deadline."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class UnimplementedError(HubClientError):
    """The hub does not serve this method."""

    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(HubClientError):
    """The hub failed unexpectedly; its log has the details."""

    code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[HubClientError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        UnauthenticatedError,
        PermissionDeniedError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        HubUnavailableError,
        DeadlineExceededError,
        UnimplementedError,
        InternalError,
    )
}


def from_rpc_error(exc: grpc.RpcError) -> HubClientError:
    """Turn a failed call into the typed exception for its status code."""
    # Both grpc.Call (sync) and grpc.aio.AioRpcError carry code() and details().
    if isinstance(exc, (grpc.Call, grpc.aio.AioRpcError)):
        code, details = exc.code(), exc.details() or ""
    else:
        code, details = grpc.StatusCode.UNKNOWN, ""
    cls = _BY_CODE.get(code, HubClientError)
    error = cls(details or code.name.lower())
    error.code = code
    return error
