"""A typed client for the hub's six services, sync and asyncio flavours."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from hub_client.errors import from_rpc_error
from hub_client.hub.v1 import (
    audit_pb2_grpc,
    challenge_pb2_grpc,
    credential_pb2_grpc,
    principal_pb2_grpc,
    role_pb2_grpc,
    token_pb2_grpc,
)

DEFAULT_ADDRESS = "127.0.0.1:50051"

_STUBS = {
    "challenges": challenge_pb2_grpc.ChallengeServiceStub,
    "credentials": credential_pb2_grpc.CredentialServiceStub,
    "principals": principal_pb2_grpc.PrincipalServiceStub,
    "roles": role_pb2_grpc.RoleServiceStub,
    "tokens": token_pb2_grpc.TokenServiceStub,
    "audit": audit_pb2_grpc.AuditServiceStub,
}


@dataclass(frozen=True)
class Credentials:
    """An API token's client id and secret."""

    client_id: str
    secret: str
    # The address of the client a gateway (the REST bridge) calls for, so the
    # hub counts its authentication failures apart from the gateway's others.
    forwarded_for: str = ""

    def metadata(self) -> tuple[tuple[str, str], ...]:
        pairs: tuple[tuple[str, str], ...] = (
            ("x-client-id", self.client_id),
            ("x-client-secret", self.secret),
        )
        if self.forwarded_for:
            pairs += (("x-forwarded-for", self.forwarded_for),)
        return pairs

    @classmethod
    def from_env(cls) -> Credentials | None:
        """Read HUB_CLIENT_ID and HUB_CLIENT_SECRET; None when either is unset."""
        client_id = os.environ.get("HUB_CLIENT_ID", "")
        secret = os.environ.get("HUB_CLIENT_SECRET", "")
        return cls(client_id, secret) if client_id and secret else None


def channel_credentials(
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> grpc.ChannelCredentials:
    """TLS credentials: a CA to trust (system roots when None), and a client pair."""

    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as handle:
            return handle.read()

    return grpc.ssl_channel_credentials(read(ca_file), read(key_file), read(cert_file))


class _SyncService:
    """One service's methods; each call adds credentials and raises typed errors."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, method: str) -> Callable[..., Any]:
        rpc = getattr(self._stub, method)
        metadata = self._metadata

        def call(request: Any, timeout: float | None = None) -> Any:
            try:
                result = rpc(request, metadata=metadata, timeout=timeout)
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from None
            if isinstance(result, grpc.Call) and hasattr(result, "__iter__"):
                return _iterate(result)
            return result

        return call


def _iterate(stream: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from stream
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from None


class HubClient:
    """A blocking client: ``client.tokens.WhoAmI(WhoAmIRequest())``.

    Attributes ``challenges``, ``credentials``, ``principals``, ``roles``,
    ``tokens`` and ``audit`` each expose one service's methods. Failed calls raise
    ``HubClientError`` subclasses chosen by status code.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        credentials: Credentials | None = None,
        *,
        tls: grpc.ChannelCredentials | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        if channel is None:
            channel = (
                grpc.secure_channel(address, tls)
                if tls is not None
                else grpc.insecure_channel(address)
            )
        self.address = address
        self.channel = channel
        self.auth = credentials
        metadata = credentials.metadata() if credentials else ()
        for name, stub_class in _STUBS.items():
            setattr(self, name, _SyncService(stub_class(channel), metadata))

    challenges: Any
    credentials: Any
    principals: Any
    roles: Any
    tokens: Any
    audit: Any

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _AsyncService:
    """One service's methods for asyncio callers, with typed errors."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, method: str) -> Callable[..., Any]:
        rpc = getattr(self._stub, method)
        metadata = self._metadata

        async def call(request: Any, timeout: float | None = None) -> Any:
            try:
                return await rpc(request, metadata=metadata, timeout=timeout)
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from None

        return call

    def stream(self, method: str, request: Any) -> AsyncIterator[Any]:
        """Iterate a server-streaming method."""
        call = getattr(self._stub, method)(request, metadata=self._metadata)

        async def iterate() -> AsyncIterator[Any]:
            try:
                async for item in call:
                    yield item
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from None

        return iterate()


class AsyncHubClient:
    """The asyncio client; ``with_credentials`` gives views of one channel."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        credentials: Credentials | None = None,
        *,
        tls: grpc.ChannelCredentials | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if channel is None:
            channel = (
                grpc.aio.secure_channel(address, tls)
                if tls is not None
                else grpc.aio.insecure_channel(address)
            )
        self.address = address
        self.channel = channel
        metadata = credentials.metadata() if credentials else ()
        for name, stub_class in _STUBS.items():
            setattr(self, name, _AsyncService(stub_class(channel), metadata))

    challenges: Any
    credentials: Any
    principals: Any
    roles: Any
    tokens: Any
    audit: Any

    def with_credentials(self, credentials: Credentials | None) -> AsyncHubClient:
        """A client sharing this channel that sends other credentials."""
        return AsyncHubClient(self.address, credentials, channel=self.channel)

    async def close(self) -> None:
        await self.channel.close()
