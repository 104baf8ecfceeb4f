"""Database URLs, connections, and the versioned migrations applied at start."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee as pw
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator
from playhouse.migrate import migrate as run_migrations

from storage import models
from storage.errors import DatabaseUnavailableError, DatabaseUrlError

logger = logging.getLogger(__name__)

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "normal",
}


class QueuedWriteSqliteDatabase(pw.SqliteDatabase):
    """SQLite whose writers in this process take turns on a lock.

    SQLite lets one writer in at a time and makes the others sleep and retry
    (the busy timeout, in steps of up to 100 ms); with many calls at once those
    sleeps, not the writes, set the pace. A lock held from BEGIN to COMMIT, or
    around a lone write, makes writers queue instead. Readers never take it:
    in WAL mode they do not block writers.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock = threading.RLock()

    def begin(self, lock_type: str | None = None) -> None:
        self._write_lock.acquire()
        try:
            # IMMEDIATE takes SQLite's write lock now: a deferred transaction
            # that reads, then writes cannot wait for the lock in WAL mode
            # (SQLITE_BUSY at once, whatever the busy timeout says).
            super().begin("IMMEDIATE")
        except BaseException:
            self._write_lock.release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._write_lock.release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._write_lock.release()

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        if self.in_transaction() or sql.lstrip()[:6].upper() in ("SELECT", "PRAGMA"):
            return super().execute_sql(sql, params)
        with self._write_lock:
            return super().execute_sql(sql, params)


def database_from_url(url: str) -> pw.Database:
    """Build (not connect) a database for ``sqlite:///PATH`` or ``postgresql://...``.

    Raises:
        DatabaseUrlError: the URL is malformed or its scheme is not supported.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc:
            raise DatabaseUrlError(
                f"database_url: sqlite URLs have no host, write sqlite:///PATH "
                f"(got host {parts.netloc!r})"
            )
        path = unquote(parts.path)[1:] if parts.path.startswith("/") else ""
        if not path:
            raise DatabaseUrlError("database_url: sqlite URL names no file path")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return QueuedWriteSqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10)
    if parts.scheme in ("postgresql", "postgres"):
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise DatabaseUrlError("database_url: postgresql URL names no database")
        try:
            port = parts.port
        except ValueError as exc:
            raise DatabaseUrlError("database_url: port is not a number") from exc
        # Query parameters go to the driver as they are (sslmode=require, ...).
        options: dict[str, Any] = dict(parse_qsl(parts.query))
        return pw.PostgresqlDatabase(
            dbname,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or None,
            port=port,
            connect_timeout=5,
            **options,
        )
    raise DatabaseUrlError(
        f"database_url: scheme {parts.scheme!r} is not supported "
        "(use sqlite:///PATH or postgresql://USER@HOST/DB)"
    )


def describe_url(url: str) -> str:
    """The URL without its password, for log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def open_database(
    url: str, *, wait_seconds: float = 30.0, sleep: Callable[[float], None] = time.sleep
) -> pw.Database:
    """Connect to the database at ``url``, bind the models, and migrate it.

    A server that cannot be reached is retried for ``wait_seconds``.

    Raises:
        DatabaseUrlError: the URL is bad.
        DatabaseUnavailableError: the database could not be reached in time.
    """
    database = database_from_url(url)
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            database.connect(reuse_if_open=True)
            break
        except pw.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise DatabaseUnavailableError(
                    f"database_url: cannot connect to {describe_url(url)}"
                ) from exc
            logger.debug("database not reachable yet, retrying in %.1fs", delay)
            sleep(delay)
            delay = min(delay * 2, 2.0)
    models.database_proxy.initialize(database)
    migrate(database)
    return database


def _version_1(database: pw.Database) -> None:
    """The first schema: principals to audit events."""
    database.create_tables(
        [
            models.Principal,
            models.RoleAssignment,
            models.Token,
            models.StoredCredential,
            models.ManagedChallengeConfig,
            models.RuleEntry,
            models.ChallengeRecord,
            models.Operation,
            models.AuditEvent,
        ],
        safe=True,
    )


def _version_2(database: pw.Database) -> None:
    """Records served by the embedded DNS server live in the database too."""
    database.create_tables([models.EmbeddedTxtRecord], safe=True)


def _version_3(database: pw.Database) -> None:
    """Records remember a value that was at the name before the hub added it."""
    columns = {column.name for column in database.get_columns("challenge_record")}
    if "preexisting" in columns:
        return  # created by version 1 from the current model
    migrator: SchemaMigrator = (
        PostgresqlMigrator(database)
        if isinstance(database, pw.PostgresqlDatabase)
        else SqliteMigrator(database)
    )
    run_migrations(
        migrator.add_column(
            "challenge_record", "preexisting", pw.BooleanField(default=False)
        )
    )


# Append only: a released version never changes, and none drops data.
MIGRATIONS: tuple[Callable[[pw.Database], None], ...] = (
    _version_1,
    _version_2,
    _version_3,
)
LATEST_VERSION = len(MIGRATIONS)


def schema_version(database: pw.Database) -> int:
    """The highest migration applied, or 0 for an empty database."""
    if not database.table_exists(models.SchemaVersion._meta.table_name):
        return 0
    latest = models.SchemaVersion.select(pw.fn.MAX(models.SchemaVersion.version))
    return latest.scalar() or 0


def migrate(database: pw.Database, target: int = LATEST_VERSION) -> int:
    """Apply the migrations above the database's version up to ``target``.

    Each version runs in its own transaction; hubs starting together on one
    PostgreSQL database take turns through an advisory lock.
    """
    with database.atomic():
        if isinstance(database, pw.PostgresqlDatabase):
            database.execute_sql("SELECT pg_advisory_xact_lock(7201)")
        database.create_tables([models.SchemaVersion], safe=True)
        current = schema_version(database)
        for version in range(current + 1, target + 1):
            logger.info("migrating database to schema version %d", version)
            MIGRATIONS[version - 1](database)
            models.SchemaVersion.create(version=version)
    return max(current, target)
