"""Serialises changes to one DNS name, within a process and across hubs."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator

import peewee as pw

from storage import models

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _lock_for(name: str) -> threading.Lock:
    with _guard:
        lock = _locks.get(name)
        if lock is None:
            if len(_locks) > 10_000:
                for key in [k for k, v in _locks.items() if not v.locked()]:
                    del _locks[key]
            lock = _locks[name] = threading.Lock()
        return lock


def _advisory_key(name: str) -> int:
    digest = hashlib.sha256(f"challenge-hub:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def name_lock(name: str) -> Iterator[None]:
    """Hold the lock for ``name`` while a provider reads, merges and writes it.

    Threads of this process queue on a lock per name; on PostgreSQL, hubs sharing
    the database also queue on an advisory lock keyed by the name (SQLite is one
    hub's file, so the process lock is enough).
    """
    with _lock_for(name):
        database = models.database_proxy.obj
        if not isinstance(database, pw.PostgresqlDatabase):
            yield
            return
        key = _advisory_key(name)
        database.execute_sql("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (key,))
