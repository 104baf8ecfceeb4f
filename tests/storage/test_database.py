"""Database URLs, connecting, SQLite pragmas and migrations on both back ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import peewee as pw
import pytest

from storage import models
from storage.database import (
    LATEST_VERSION,
    database_from_url,
    describe_url,
    migrate,
    open_database,
    schema_version,
)
from storage.errors import DatabaseUnavailableError, DatabaseUrlError
from tests.servers.ports import free_port
from tests.servers.postgres import PostgresServer


def _tables(database: pw.Database) -> set[str]:
    return set(database.get_tables())


def test_a_new_database_is_at_the_latest_version(database: pw.Database) -> None:
    assert schema_version(database) == LATEST_VERSION
    assert {model._meta.table_name for model in models.ALL_MODELS} <= _tables(database)


def test_migrating_again_changes_nothing(database: pw.Database) -> None:
    models.Principal.create(id="p-1", type="user", title="Administrator")

    assert migrate(database) == LATEST_VERSION

    assert schema_version(database) == LATEST_VERSION
    assert models.SchemaVersion.select().count() == LATEST_VERSION
    assert models.Principal.get_by_id("p-1").title == "Administrator"


@pytest.fixture
def version_1_database(database_url: str) -> Iterator[str]:
    """A database left at schema version 1 with a row in every table, then closed."""
    database = database_from_url(database_url)
    models.database_proxy.initialize(database)
    database.connect()
    assert migrate(database, target=1) == 1
    principal = models.Principal.create(id="p-old", type="user", title="Old admin")
    models.RoleAssignment.create(
        id="ra-old", principal=principal.id, role_id="administrator"
    )
    models.Token.create(
        id="t-old",
        client_id="cid-old",
        secret_hash="hash",
        principal=principal.id,
        title="old token",
        scope="administrator",
    )
    credential = models.StoredCredential.create(
        id="c-old", title="BIND", provider_type="rfc2136", secrets="ciphertext"
    )
    config = models.ManagedChallengeConfig.create(
        id="mc-old", title="old", credential=credential.id, domain_match_rule="*"
    )
    models.RuleEntry.create(entry="*", config=config.id)
    record = models.ChallengeRecord.create(
        id="r-old",
        identifier="example.com",
        validation_name="_acme-challenge.example.com",
        value="B" * 43,
    )
    models.Operation.create(id="op-old", record=record.id, state="ready")
    models.AuditEvent.create(action="token.write", outcome="ok")
    database.close()
    models.database_proxy.initialize(None)
    yield database_url


def test_version_1_upgrades_at_open_and_keeps_every_row(
    version_1_database: str,
) -> None:
    database = open_database(version_1_database, wait_seconds=5)
    try:
        assert schema_version(database) == LATEST_VERSION
        assert models.EmbeddedTxtRecord._meta.table_name in _tables(database)
        assert models.Principal.get_by_id("p-old").title == "Old admin"
        assert models.RoleAssignment.get_by_id("ra-old").role_id == "administrator"
        assert models.Token.get_by_id("t-old").client_id == "cid-old"
        assert models.StoredCredential.get_by_id("c-old").secrets == "ciphertext"
        assert models.ManagedChallengeConfig.get_by_id("mc-old").credential.id == (
            "c-old"
        )
        assert [e.entry for e in models.RuleEntry.select()] == ["*"]
        assert models.ChallengeRecord.get_by_id("r-old").value == "B" * 43
        assert models.Operation.get_by_id("op-old").state == "ready"
        assert models.AuditEvent.select().count() == 1
    finally:
        database.close()
        models.database_proxy.initialize(None)


def test_an_empty_database_has_version_0(database_url: str) -> None:
    database = database_from_url(database_url)
    models.database_proxy.initialize(database)
    database.connect()
    try:
        assert schema_version(database) == 0
    finally:
        database.close()
        models.database_proxy.initialize(None)


def test_sqlite_pragmas_are_in_force(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path}/hub.db")
    try:
        pragma = {
            name: database.execute_sql(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    finally:
        database.close()
        models.database_proxy.initialize(None)

    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000}


def test_sqlite_creates_the_directory_of_its_file(tmp_path: Path) -> None:
    path = Path(str(tmp_path), "deep", "er", "hub.db")

    database = open_database(f"sqlite:///{path}")
    database.close()
    models.database_proxy.initialize(None)

    assert path.is_file()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param("mysql://hub@db/hub", "scheme 'mysql'", id="mysql"),
        pytest.param("sqlite://host/x.db", "no host", id="sqlite-with-host"),
        pytest.param("sqlite://", "no file path", id="sqlite-without-path"),
        pytest.param("postgresql://hub@db", "names no database", id="pg-no-db"),
        pytest.param("postgresql://hub@db/", "names no database", id="pg-slash"),
        pytest.param("postgresql://hub@db:x/hub", "port", id="pg-bad-port"),
        pytest.param("hub.db", "scheme ''", id="bare-path"),
    ],
)
def test_bad_urls_name_the_setting(url: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        database_from_url(url)

    assert str(caught.value).startswith("database_url: ")
    assert problem in str(caught.value)


def test_describe_url_hides_the_password() -> None:
    assert describe_url("postgresql://hub:s3cret@db:5432/hub") == (
        "postgresql://hub:***@db:5432/hub"
    )
    assert describe_url("sqlite:///var/hub.db") == "sqlite:///var/hub.db"


def test_unreachable_postgresql_is_retried_then_refused() -> None:
    # Nothing listens on a port that was just free: every connect is refused.
    url = f"postgresql://hub:pa55word@127.0.0.1:{free_port()}/hub"
    started = time.monotonic()

    with pytest.raises(DatabaseUnavailableError) as caught:
        open_database(url, wait_seconds=1.5)

    elapsed = time.monotonic() - started
    assert elapsed >= 1.5  # retried for the whole wait, not given up at once
    message = str(caught.value)
    assert message.startswith("database_url: cannot connect to ")
    assert "pa55word" not in message
    assert "hub:***@127.0.0.1" in message


@pytest.mark.postgres
def test_a_database_that_appears_later_is_used(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url("hub_not_yet")
    delays: list[float] = []

    def create_on_second_try(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 2:
            postgres_server.create_database("hub_not_yet")

    database = open_database(url, wait_seconds=30, sleep=create_on_second_try)
    try:
        assert schema_version(database) == LATEST_VERSION
    finally:
        database.close()
        models.database_proxy.initialize(None)
    # Back-off doubles from 0.2s.
    assert delays[:2] == [0.2, 0.4]
