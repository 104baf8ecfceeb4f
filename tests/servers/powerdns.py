"""PowerDNS Authoritative with the SQLite back end, run on loopback for tests."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import httpx

from tests.servers.ports import free_port

logger = logging.getLogger(__name__)

PDNS_SERVER = "/usr/sbin/pdns_server"
SCHEMA_CANDIDATES = (
    Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
    Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
)
START_TIMEOUT = 15.0


def _schema_sql() -> str:
    for path in SCHEMA_CANDIDATES:
        if path.exists():
            return path.read_text()
    raise FileNotFoundError("the PowerDNS SQLite schema is not installed")


@dataclass
class PowerDnsServer:
    """A running ``pdns_server``: its HTTP API, its DNS port, helpers to seed zones."""

    workdir: Path
    dns_port: int
    api_port: int
    api_key: str
    process: subprocess.Popen[bytes] | None = None
    zones: list[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.api_url}/api/v1/servers/localhost",
            headers={"X-API-Key": self.api_key},
            timeout=10.0,
        )

    def create_zone(self, zone: str) -> None:
        """Create a native zone with NS ``ns1.<zone>``, served at once."""
        body = {
            "name": f"{zone}.",
            "kind": "Native",
            "nameservers": [f"ns1.{zone}."],
        }
        with self._client() as client:
            client.post("/zones", json=body).raise_for_status()
        self.zones.append(zone)

    def put_txt(
        self, zone: str, name: str, contents: list[str], ttl: int = 300
    ) -> None:
        """Replace the TXT RRset at ``name`` with ``contents`` (zone-file text)."""
        rrset = {
            "name": f"{name}.",
            "type": "TXT",
            "ttl": ttl,
            "changetype": "REPLACE",
            "records": [{"content": c, "disabled": False} for c in contents],
        }
        with self._client() as client:
            client.patch(f"/zones/{zone}.", json={"rrsets": [rrset]}).raise_for_status()

    def add_txt(self, zone: str, name: str, value: str, ttl: int = 300) -> None:
        """Add a TXT value at ``name`` beside those already there, as an admin would."""
        with self._client() as client:
            zone_data = client.get(f"/zones/{zone}.").raise_for_status().json()
        contents = [
            str(record["content"])
            for rrset in zone_data["rrsets"]
            if rrset["type"] == "TXT" and rrset["name"] == f"{name}."
            for record in rrset["records"]
        ]
        self.put_txt(zone, name, [*contents, f'"{value}"'], ttl)

    def read_ttl(self, name: str) -> int:
        """The TTL the server answers for the TXT RRset at ``name``."""
        response = self._query(name)
        return int(response.answer[0].ttl)

    def _query(self, name: str) -> dns.message.Message:
        query = dns.message.make_query(f"{name}.", dns.rdatatype.TXT)
        return dns.query.tcp(query, "127.0.0.1", port=self.dns_port, timeout=5.0)

    def read_txt(self, name: str) -> set[str]:
        """The TXT values the server answers for ``name`` over DNS, unquoted."""
        response = self._query(name)
        values: set[str] = set()
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                for rdata in rrset:
                    values.add(b"".join(rdata.strings).decode())
        return values

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _write_config(server: PowerDnsServer) -> None:
    database = server.workdir / "pdns.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.executescript(_schema_sql())
    settings = {
        "launch": "gsqlite3",
        "gsqlite3-database": str(database),
        "local-address": f"127.0.0.1:{server.dns_port}",
        "api": "yes",
        "api-key": server.api_key,
        "webserver": "yes",
        "webserver-address": "127.0.0.1",
        "webserver-port": str(server.api_port),
        "webserver-allow-from": "127.0.0.0/8",
        "guardian": "no",
        "daemon": "no",
        "disable-syslog": "yes",
        "socket-dir": str(server.workdir),
        "write-pid": "no",
        "security-poll-suffix": "",
        # Tests read back over DNS right after each API change: no caching.
        "cache-ttl": "0",
        "query-cache-ttl": "0",
        "negquery-cache-ttl": "0",
        "zone-cache-refresh-interval": "0",
        "default-soa-content": "ns1.@ hostmaster.@ 0 10800 3600 604800 60",
    }
    text = "".join(f"{key}={value}\n" for key, value in settings.items())
    (server.workdir / "pdns.conf").write_text(text)


def _wait_ready(server: PowerDnsServer, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"pdns_server exited: {log_path.read_text()[-2000:]}")
        try:
            with server._client() as client:
                if client.get("/zones").status_code == 200:
                    return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"pdns_server did not start: {log_path.read_text()[-2000:]}")


def start_powerdns(
    workdir: Path, zones: tuple[str, ...] = ("example.com",), attempts: int = 3
) -> PowerDnsServer:
    """Start ``pdns_server`` in ``workdir`` with ``zones`` created through its API.

    A port taken between choosing and binding it makes the server exit; then it
    is started again on fresh ports.
    """
    for attempt in range(attempts):
        try:
            return _start_once(workdir / f"run{attempt}", zones)
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _start_once(workdir: Path, zones: tuple[str, ...]) -> PowerDnsServer:
    workdir.mkdir(parents=True, exist_ok=True)
    server = PowerDnsServer(
        workdir=workdir,
        dns_port=free_port(),
        api_port=free_port(),
        api_key=secrets.token_urlsafe(24),
    )
    _write_config(server)
    log_path = workdir / "pdns.log"
    with log_path.open("wb") as log:
        server.process = subprocess.Popen(
            [PDNS_SERVER, f"--config-dir={workdir}", "--config-name="],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(server, log_path)
        for zone in zones:
            server.create_zone(zone)
    except BaseException:
        server.stop()
        raise
    logger.debug("pdns_server up: dns %d, api %d", server.dns_port, server.api_port)
    return server
