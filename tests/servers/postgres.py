"""A real PostgreSQL server on a loopback port, one database per test.

Debian's binaries (``/usr/lib/postgresql/<version>/bin``) run in a temporary
directory: ``initdb`` with trust authentication, then ``postgres`` in the
foreground as a child process, its socket directory inside the temporary
directory. PostgreSQL refuses to run as root, so under root both run as the
``postgres`` user, which then owns the directory.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg2

from tests.servers.ports import free_port

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0
SUPERUSER = "postgres"


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's ``bin`` directory."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not found:
        raise FileNotFoundError("PostgreSQL is not installed (no initdb/postgres)")
    return Path(found[-1]).parent


class PostgresServer:
    """``postgres`` on ``127.0.0.1`` at a free port; ``create_database`` per test."""

    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        self.workdir = Path(tempfile.mkdtemp(prefix="hub-postgres-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        # initdb and postgres refuse root; the run-as user must own the files.
        self._user = SUPERUSER if os.geteuid() == 0 else None
        if self._user is not None:
            account = pwd.getpwnam(self._user)
            os.chown(self.workdir, account.pw_uid, account.pw_gid)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def url(self, database: str) -> str:
        """The URL of ``database`` on this server, as the hub's settings take it."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str = "") -> str:
        """Create an empty database (a random name unless given); return its URL."""
        name = name or f"hub_{secrets.token_hex(6)}"
        connection = self._connect("postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def _connect(self, database: str) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            connect_timeout=5,
        )

    def _run_as(self) -> dict[str, object]:
        if self._user is None:
            return {}
        return {"user": self._user, "group": self._user, "extra_groups": []}

    def _initdb(self) -> None:
        result = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self._run_as(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr[-2000:]}")

    def start(self, attempts: int = 3) -> PostgresServer:
        """initdb once, then start ``postgres``; a port taken meanwhile is retried."""
        self._initdb()
        for attempt in range(attempts):
            try:
                self._start_once()
                return self
            except RuntimeError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self) -> None:
        self.port = free_port()
        command = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.workdir),
            "-c",
            "listen_addresses=127.0.0.1",
            # Test data is thrown away: durability only costs time here.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._run_as(),  # type: ignore[call-overload]
            )
        self._wait_ready()
        logger.debug("postgres up on port %d in %s", self.port, self.workdir)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.log()}")
            try:
                self._connect("postgres").close()
                return
            except psycopg2.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Fast shutdown: SIGINT disconnects clients instead of waiting for them."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
