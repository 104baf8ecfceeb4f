"""Fixtures shared by the whole suite: the real hub, started on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.hub import HubServer
from tests.servers.postgres import PostgresServer


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A running hub with its Administrator credentials (one per test module)."""
    server = HubServer(tmp_path_factory.mktemp("hub"))
    with server:
        yield server


@pytest.fixture
def fresh_hub(tmp_path: Path) -> Iterator[HubServer]:
    """A hub of the test's own, for tests that change global state."""
    with HubServer(tmp_path / "hub") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the run; ``create_database()`` makes a fresh one."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a database of its own on the session's PostgreSQL."""
    return postgres_server.create_database()
