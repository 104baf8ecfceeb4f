"""The typed client turns every failed call into the exception of its status."""

from __future__ import annotations

import pytest

from hub_client.client import AsyncHubClient, Credentials, HubClient
from hub_client.errors import (
    HubClientError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
)
from hub_client.hub.v1 import principal_pb2, token_pb2
from tests.servers.hub import HubServer

CASES = [
    pytest.param(
        "bad-secret",
        lambda c: c.tokens.WhoAmI(token_pb2.WhoAmIRequest()),
        UnauthenticatedError,
        id="unauthenticated",
    ),
    pytest.param(
        "admin",
        lambda c: c.principals.GetPrincipal(
            principal_pb2.GetPrincipalRequest(id="p-x")
        ),
        NotFoundError,
        id="not-found",
    ),
    pytest.param(
        "admin",
        lambda c: c.principals.CreatePrincipal(principal_pb2.CreatePrincipalRequest()),
        InvalidArgumentError,
        id="invalid-argument",
    ),
]


def _credentials(hub: HubServer, who: str) -> Credentials:
    secret = hub.secret if who == "admin" else "not-the-secret"
    return Credentials(hub.client_id, secret)


@pytest.mark.parametrize(("who", "call", "expected"), CASES)
def test_sync_client_raises_typed_errors(
    hub: HubServer, who: str, call: object, expected: type[HubClientError]
) -> None:
    with (
        HubClient(hub.address, _credentials(hub, who)) as client,
        pytest.raises(expected) as caught,
    ):
        call(client)  # type: ignore[operator]
    assert caught.value.code is expected.code
    assert caught.value.message


@pytest.mark.parametrize(("who", "call", "expected"), CASES)
async def test_async_client_raises_typed_errors(
    hub: HubServer, who: str, call: object, expected: type[HubClientError]
) -> None:
    client = AsyncHubClient(hub.address, _credentials(hub, who))
    try:
        with pytest.raises(expected) as caught:
            await call(client)  # type: ignore[operator]
    finally:
        await client.close()
    assert caught.value.code is expected.code
    assert caught.value.message
