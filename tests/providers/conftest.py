"""Fixtures shared by the provider tests: real BIND9 servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.base import ProviderContext
from providers.rfc2136 import Rfc2136Provider
from tests.servers.bind import BindServer, start_bind_group


@pytest.fixture(scope="module")
def bind_server() -> Iterator[BindServer]:
    """One BIND9 primary on 127.0.0.1, shared by a module's tests.

    Tests that share it write below names of their own, or undo what they add.
    """
    with BindServer() as server:
        yield server


@pytest.fixture
def bind_pair() -> Iterator[list[BindServer]]:
    """Two independent BIND9 servers on 127.0.0.1 and 127.0.0.2, one port.

    Both serve the same zones and are named by the zones' NS records; nothing
    copies changes between them, so a test decides how far the second lags.
    """
    servers = start_bind_group(2)
    yield servers
    for server in servers:
        server.stop()


def rfc2136_provider(server: BindServer, **overrides: str) -> Rfc2136Provider:
    """An rfc2136 provider aimed at ``server``, with parameters overridden."""
    params = {**server.provider_params(), **overrides}
    context = ProviderContext(
        resolvers=[server.nameserver], authoritative_port=server.port
    )
    return Rfc2136Provider(params, context)
