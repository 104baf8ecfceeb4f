"""Every HubError subclass maps to a gRPC status; internal ones say nothing more."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import grpc
import pytest

import hub_server
import providers
import storage
from hub_server.status import status_for
from storage.errors import HubError

# A word that would leak if an internal error's own message reached a client.
_DETAIL = "sensitive-detail-7f3a"


def _import_all(package: ModuleType) -> None:
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(info.name)


def _subclasses(cls: type[HubError]) -> list[type[HubError]]:
    found: list[type[HubError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def _error_classes() -> list[type[HubError]]:
    """HubError and its subclasses defined in storage, providers and hub_server."""
    for package in (storage, providers, hub_server):
        _import_all(package)
    packages = ("storage", "providers", "hub_server")
    classes: set[type[HubError]] = {HubError, *_subclasses(HubError)}
    return sorted(
        (cls for cls in classes if cls.__module__.split(".")[0] in packages),
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def _instance(cls: type[HubError]) -> HubError:
    """An instance whose every required argument carries the detail marker."""
    arguments: dict[str, object] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        if parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        arguments[name] = None if name == "retry_after" else f"{_DETAIL}-{name}"
    return cls(**arguments)  # type: ignore[arg-type]


ERROR_CLASSES = _error_classes()


def test_the_walk_finds_every_layer() -> None:
    modules = {cls.__module__.split(".")[0] for cls in ERROR_CLASSES}
    assert modules == {"storage", "providers", "hub_server"}
    assert len(ERROR_CLASSES) >= 20


@pytest.mark.parametrize(
    "cls", ERROR_CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}"
)
def test_every_error_maps_to_a_known_status(cls: type[HubError]) -> None:
    error = _instance(cls)

    code, message = status_for(error)

    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK)
    if code is grpc.StatusCode.INTERNAL:
        assert message == "internal error; the hub's log has the details"
        assert _DETAIL not in message
    else:
        assert message == error.message


@pytest.mark.parametrize(
    ("error", "code"),
    [
        pytest.param(
            hub_server.errors.ValidationError("title", "is required"),
            grpc.StatusCode.INVALID_ARGUMENT,
            id="validation",
        ),
        pytest.param(
            hub_server.errors.AuthenticationError(),
            grpc.StatusCode.UNAUTHENTICATED,
            id="authentication",
        ),
        pytest.param(
            hub_server.errors.PermissionDeniedError("no", action="audit.read"),
            grpc.StatusCode.PERMISSION_DENIED,
            id="permission",
        ),
        pytest.param(
            storage.errors.NotFoundError("principal", "p-1"),
            grpc.StatusCode.NOT_FOUND,
            id="not-found",
        ),
        pytest.param(
            storage.errors.AlreadyExistsError("role assignment", "p-1/administrator"),
            grpc.StatusCode.ALREADY_EXISTS,
            id="already-exists",
        ),
        pytest.param(
            providers.errors.ZoneNotFoundError("no zone holds x.example"),
            grpc.StatusCode.FAILED_PRECONDITION,
            id="zone-not-found",
        ),
        pytest.param(
            providers.errors.ProviderAuthError("refused"),
            grpc.StatusCode.UNAVAILABLE,
            id="provider-auth",
        ),
        pytest.param(
            storage.errors.SecretKeyError("bad master key"),
            grpc.StatusCode.INTERNAL,
            id="secret-key",
        ),
    ],
)
def test_representative_errors_map_to_the_documented_status(
    error: HubError, code: grpc.StatusCode
) -> None:
    assert status_for(error)[0] is code
