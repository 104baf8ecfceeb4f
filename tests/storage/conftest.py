"""Storage tests run on SQLite and on the suite's real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee as pw
import pytest

from storage import models
from storage.database import open_database
from tests.servers.postgres import PostgresServer


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty database of each kind the hub supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'hub.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def database(database_url: str) -> Iterator[pw.Database]:
    """The database opened as the hub opens it: connected, bound, migrated."""
    opened = open_database(database_url, wait_seconds=5)
    yield opened
    opened.close()
    models.database_proxy.initialize(None)
