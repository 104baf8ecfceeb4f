"""Many threads of one hub write to SQLite at once without 'database is locked'."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import peewee as pw
import pytest

from storage import models
from storage.database import (
    SQLITE_PRAGMAS,
    QueuedWriteSqliteDatabase,
    database_from_url,
    migrate,
)

THREADS = 12
WRITES = 40


def _hammer(database: pw.SqliteDatabase) -> list[BaseException]:
    """Each thread mixes lone inserts and read-then-write transactions."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(WRITES):
                models.AuditEvent.create(outcome="success", target=f"{n}-{i}")
                with database.atomic():
                    models.AuditEvent.select().count()
                    models.AuditEvent.create(outcome="failure", target=f"{n}-{i}")
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture
def queued(tmp_path: Path) -> Iterator[QueuedWriteSqliteDatabase]:
    # A busy timeout of 1 ms: any writer left to SQLite's own retrying fails.
    database = QueuedWriteSqliteDatabase(
        str(tmp_path / "hub.db"), pragmas={**SQLITE_PRAGMAS, "busy_timeout": 1}
    )
    models.database_proxy.initialize(database)
    migrate(database)
    yield database
    database.close()
    models.database_proxy.initialize(None)


def test_the_hub_opens_sqlite_with_queued_writers(tmp_path: Path) -> None:
    database = database_from_url(f"sqlite:///{tmp_path / 'hub.db'}")

    assert isinstance(database, QueuedWriteSqliteDatabase)


def test_concurrent_writers_take_turns(queued: QueuedWriteSqliteDatabase) -> None:
    errors = _hammer(queued)

    assert errors == []
    assert models.AuditEvent.select().count() == THREADS * WRITES * 2


def test_a_failed_transaction_releases_the_turn(
    queued: QueuedWriteSqliteDatabase,
) -> None:
    with pytest.raises(ZeroDivisionError), queued.atomic():
        models.AuditEvent.create(outcome="success")
        _ = 1 / 0

    done = threading.Event()

    def write() -> None:
        models.AuditEvent.create(outcome="success")
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(timeout=10)

    assert done.is_set()
    assert models.AuditEvent.select().count() == 1
