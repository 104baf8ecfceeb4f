"""A real BIND9 ``named`` on a loopback address, with test zones and a TSIG key.

``BindServer`` writes ``named.conf`` and zone files into a temporary directory and
runs ``named -g`` in the foreground as a child process. ``start_bind_group`` starts
several independent servers on different loopback addresses sharing one port, all
serving the same zones whose NS records name every one of them, so a test can let
one lag behind the others.

Zones served by default (each with ``ns1``, ``ns2``, ... A records pointing at the
group's addresses):

- ``example.com``: ``TXT "v=spf1 -all"`` at the apex and ``"manual-proof"`` at
  ``_acme-challenge``; ``app CNAME edge.cdn.example.net.``;
  ``_acme-challenge.www CNAME www.acme.example.org.``; a delegation of
  ``_acme-challenge.host`` to its own zone;
- ``_acme-challenge.host.example.com``: the delegated validation name;
- ``example.org`` (holds ``www.acme``), ``example.co.uk``,
  ``training-example.com``, ``example.net`` (holds ``edge.cdn``).
"""

from __future__ import annotations

import base64
import logging
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.update

from providers.base import Nameserver
from tests.servers.ports import free_port

logger = logging.getLogger(__name__)

NAMED = shutil.which("named") or "/usr/sbin/named"

DEFAULT_ZONES: tuple[str, ...] = (
    "example.com",
    "_acme-challenge.host.example.com",
    "example.org",
    "example.co.uk",
    "training-example.com",
    "example.net",
)

# Records each default zone holds besides its SOA, NS and ns<N> address records.
DEFAULT_RECORDS: Mapping[str, tuple[str, ...]] = {
    "example.com": (
        '@ TXT "v=spf1 -all"',
        '_acme-challenge TXT "manual-proof"',
        "app CNAME edge.cdn.example.net.",
        "_acme-challenge.www CNAME www.acme.example.org.",
    ),
    "example.org": ("www.acme A 192.0.2.10",),
    "example.net": ("edge.cdn A 192.0.2.20",),
}


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key as a provider's credentials would spell it."""

    name: str = "hub-update-key"
    algorithm: str = "hmac-sha256"
    secret: str = field(
        default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode()
    )

    def dnspython_key(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.name, self.secret, self.algorithm)


def ensure_loopback_address(address: str) -> None:
    """Make ``address`` (in 127.0.0.0/8) an address of ``lo`` if it is not yet one.

    Linux routes all of 127/8 to ``lo``, but ``named`` listens only on addresses
    an interface holds. The alias is left in place: it changes no routing, and
    another test run may be listening on it.
    """
    if address == "127.0.0.1" or _is_local_address(address):
        return
    ip = shutil.which("ip") or "/usr/sbin/ip"
    result = subprocess.run(
        [ip, "address", "add", f"{address}/32", "dev", "lo"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and not _is_local_address(address):
        raise RuntimeError(f"cannot add {address} to lo: {result.stderr.strip()}")
    logger.debug("added %s to lo", address)


def _is_local_address(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    # Binding succeeds for all of 127/8; only the interface list is conclusive.
    ip = shutil.which("ip") or "/usr/sbin/ip"
    shown = subprocess.run(
        [ip, "-4", "-o", "address", "show", "dev", "lo"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f" {address}/" in shown.stdout


class ZoneLoadError(Exception):
    """A zone file the server was given did not load; the log says why."""


class BindServer:
    """One ``named`` process serving the test zones on ``address:port``.

    ``ns_addresses`` are the addresses the zones' NS records point at; a server
    started alone names only itself.
    """

    def __init__(
        self,
        address: str = "127.0.0.1",
        port: int | None = None,
        *,
        key: TsigKey | None = None,
        zones: Sequence[str] = DEFAULT_ZONES,
        records: Mapping[str, Sequence[str]] = DEFAULT_RECORDS,
        ns_addresses: Sequence[str] | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.address = address
        self.port = port if port is not None else free_port((address,))
        self.key = key or TsigKey()
        self.zones = tuple(zones)
        self.records = {zone: tuple(lines) for zone, lines in records.items()}
        self.ns_addresses = tuple(ns_addresses or (address,))
        self.start_timeout = start_timeout
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Path | None = None

    @property
    def nameserver(self) -> Nameserver:
        """Where to send queries and updates."""
        return Nameserver(self.address, self.port)

    @property
    def server(self) -> str:
        """The ``server`` parameter of an rfc2136 provider aimed at this server."""
        return str(self.nameserver)

    @property
    def tsig_key_name(self) -> str:
        return self.key.name

    @property
    def tsig_algorithm(self) -> str:
        return self.key.algorithm

    @property
    def tsig_secret(self) -> str:
        return self.key.secret

    def provider_params(self) -> dict[str, str]:
        """Parameters for an rfc2136 provider that updates this server."""
        return {
            "server": self.server,
            "tsig_key_name": self.tsig_key_name,
            "tsig_algorithm": self.tsig_algorithm,
            "tsig_secret": self.tsig_secret,
        }

    def start(self) -> BindServer:
        """Write the configuration, start ``named`` and wait until it answers."""
        ensure_loopback_address(self.address)
        self.directory = Path(tempfile.mkdtemp(prefix="bind-"))
        self._write_config(self.directory)
        self._log_file = self.directory / "named.log"
        with self._log_file.open("wb") as log:
            self._process = subprocess.Popen(
                [NAMED, "-g", "-4", "-n", "2", "-u", "root", "-c", "named.conf"],
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        logger.debug("named serving on %s from %s", self.server, self.directory)
        return self

    def stop(self) -> None:
        """Stop ``named`` and delete its directory; safe to call twice."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> BindServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_text(self) -> str:
        """What ``named`` wrote so far, for failure messages."""
        if self._log_file is None or not self._log_file.exists():
            return ""
        return self._log_file.read_text(errors="replace")

    def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """Ask this server directly over TCP, without recursion."""
        request = dns.message.make_query(name, rdtype)
        request.flags &= ~dns.flags.RD
        return dns.query.tcp(request, self.address, timeout=5, port=self.port)

    def read_txt(self, name: str) -> set[str]:
        """The TXT values at ``name``, each as stored (its strings joined)."""
        response = self.query(name, dns.rdatatype.TXT)
        values: set[str] = set()
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                for rdata in rrset:
                    values.add(b"".join(rdata.strings).decode())
        return values

    def read_ttl(self, name: str) -> int:
        """The TTL of the TXT record set at ``name``; 0 when there is none."""
        response = self.query(name, dns.rdatatype.TXT)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return int(rrset.ttl)
        return 0

    def zone_records(self, zone: str) -> set[tuple[str, str]]:
        """Every TXT record of ``zone`` as (owner relative to the zone, value).

        Read by a signed zone transfer, so it shows which zone holds a record.
        """
        origin = dns.name.from_text(zone)
        key = self.key.dnspython_key()
        transfer = dns.query.xfr(
            self.address, origin, port=self.port, keyring={key.name: key}
        )
        records: set[tuple[str, str]] = set()
        for message in transfer:
            for rrset in message.answer:
                if rrset.rdtype != dns.rdatatype.TXT:
                    continue
                owner = rrset.name.relativize(origin).to_text()
                records.update((owner, b"".join(r.strings).decode()) for r in rrset)
        return records

    def put_txt(self, name: str, value: str, ttl: int = 60) -> None:
        """Add a TXT value behind any provider's back, by a signed update."""
        self._update(name, "add", value, ttl)

    def delete_txt(self, name: str, value: str) -> None:
        """Remove one TXT value behind any provider's back."""
        self._update(name, "delete", value, 0)

    def put_cname(self, name: str, target: str, ttl: int = 60) -> None:
        """Add a CNAME at ``name`` (absolute ``target``), by a signed update."""
        owner = dns.name.from_text(name)
        update = dns.update.UpdateMessage(
            self._zone_of(owner), keyring=self.key.dnspython_key()
        )
        update.add(owner, ttl, dns.rdatatype.CNAME, target)
        response = dns.query.tcp(update, self.address, timeout=5, port=self.port)
        if response.rcode() != dns.rcode.NOERROR:
            rcode = dns.rcode.to_text(response.rcode())
            raise RuntimeError(f"update of {name} on {self.server}: {rcode}")

    def _update(self, name: str, action: str, value: str, ttl: int) -> None:
        owner = dns.name.from_text(name)
        zone = self._zone_of(owner)
        rdata = dns.rdtypes.ANY.TXT.TXT(
            dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode()]
        )
        update = dns.update.UpdateMessage(zone, keyring=self.key.dnspython_key())
        if action == "add":
            update.add(owner, ttl, rdata)
        else:
            update.delete(owner, rdata)
        response = dns.query.tcp(update, self.address, timeout=5, port=self.port)
        if response.rcode() != dns.rcode.NOERROR:
            rcode = dns.rcode.to_text(response.rcode())
            raise RuntimeError(f"update of {name} on {self.server}: {rcode}")

    def _zone_of(self, owner: dns.name.Name) -> dns.name.Name:
        served = [dns.name.from_text(zone) for zone in self.zones]
        inside = [zone for zone in served if owner.is_subdomain(zone)]
        if not inside:
            raise ValueError(f"{owner} is in no zone this server serves")
        return max(inside, key=len)

    def _write_config(self, directory: Path) -> None:
        key = self.key
        lines = [
            "options {",
            f'    directory "{directory}";',
            f'    pid-file "{directory}/named.pid";',
            f'    session-keyfile "{directory}/session.key";',
            f'    managed-keys-directory "{directory}";',
            f"    listen-on port {self.port} {{ {self.address}; }};",
            "    listen-on-v6 { none; };",
            "    recursion no;",
            "    notify no;",
            "    dnssec-validation no;",
            f'    allow-transfer {{ key "{key.name}"; }};',
            "};",
            "controls { };",
            f'key "{key.name}" {{',
            f"    algorithm {key.algorithm};",
            f'    secret "{key.secret}";',
            "};",
        ]
        for zone in self.zones:
            zone_file = directory / f"{zone}.zone"
            zone_file.write_text(self._zone_text(zone))
            lines += [
                f'zone "{zone}" {{',
                "    type primary;",
                f'    file "{zone_file}";',
                f'    allow-update {{ key "{key.name}"; }};',
                "};",
            ]
        (directory / "named.conf").write_text("\n".join(lines) + "\n")

    def _parent_zone(self, zone: str) -> str | None:
        """The nearest served zone above ``zone``, if it is delegated from one."""
        above = [other for other in self.zones if zone.endswith(f".{other}")]
        return max(above, key=len) if above else None

    def _ns_hosts(self, zone: str) -> list[str]:
        # A host name may not hold an underscore (BIND's check-names), so a zone
        # like _acme-challenge.host.example.com borrows its parent's hosts.
        host_zone = zone
        while "_" in host_zone and (parent := self._parent_zone(host_zone)):
            host_zone = parent
        return [f"ns{i}.{host_zone}." for i in range(1, len(self.ns_addresses) + 1)]

    def _zone_text(self, zone: str) -> str:
        hosts = self._ns_hosts(zone)
        mailbox = "hostmaster." + hosts[0].partition(".")[2]
        lines = [
            "$TTL 300",
            f"$ORIGIN {zone}.",
            f"@ SOA {hosts[0]} {mailbox} 1 3600 600 86400 1",
        ]
        lines += [f"@ NS {host}" for host in hosts]
        for index, address in enumerate(self.ns_addresses, start=1):
            if f"ns{index}.{zone}." in hosts:
                lines.append(f"ns{index} A {address}")
        for child in self.zones:
            if self._parent_zone(child) == zone:
                lines += [f"{child}. NS {host}" for host in self._ns_hosts(child)]
        lines += self.records.get(zone, ())
        return "\n".join(lines) + "\n"

    def _check_zones_loaded(self) -> None:
        for zone in self.zones:
            probe = dns.message.make_query(f"{zone}.", dns.rdatatype.SOA)
            response = dns.query.tcp(probe, self.address, timeout=5, port=self.port)
            if not response.answer:
                raise ZoneLoadError(f"zone {zone} not loaded:\n{self.log_text()}")

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        probe = dns.message.make_query(f"{self.zones[0]}.", dns.rdatatype.SOA)
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"named exited early:\n{self.log_text()}")
            try:
                response = dns.query.udp(
                    probe, self.address, timeout=0.2, port=self.port
                )
            except (dns.exception.Timeout, OSError):
                response = None
            if response is not None and response.answer:
                self._check_zones_loaded()
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"named did not answer:\n{self.log_text()}")
            time.sleep(0.05)


def start_bind_group(
    count: int = 2,
    *,
    key: TsigKey | None = None,
    zones: Sequence[str] = DEFAULT_ZONES,
    records: Mapping[str, Sequence[str]] = DEFAULT_RECORDS,
    first_host: int = 1,
) -> list[BindServer]:
    """Start ``count`` independent servers on 127.0.0.<first_host + i>, one port.

    They share the TSIG key and the zones; each zone's NS records name all of
    them. No zone transfer links them: a test that writes to one and not the
    others sees exactly the lag it made.
    """
    key = key or TsigKey()
    addresses = [f"127.0.0.{first_host + index}" for index in range(count)]
    started: list[BindServer] = []
    for attempt in range(3):
        port = free_port(addresses)
        try:
            for address in addresses:
                server = BindServer(
                    address,
                    port,
                    key=key,
                    zones=zones,
                    records=records,
                    ns_addresses=addresses,
                )
                started.append(server.start())
            return started
        except RuntimeError:
            for server in started:
                server.stop()
            started.clear()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextmanager
def bind_group(count: int = 2, **kwargs: object) -> Iterator[list[BindServer]]:
    """``start_bind_group`` as a context manager that stops every server."""
    servers = start_bind_group(count, **kwargs)  # type: ignore[arg-type]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
