"""An asyncio authoritative DNS server for the hub's own zones, over UDP and TCP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from providers.base import Nameserver
from providers.embedded import EmbeddedRecordStore, zone_for

logger = logging.getLogger(__name__)

# RFC 1035 4.2.1: without EDNS a UDP answer holds at most 512 octets.
CLASSIC_UDP_SIZE = 512
# What we offer in our own OPT record; the DNS flag day 2020 value.
OUR_UDP_PAYLOAD = 1232
RECORD_TTL = 300
# SOA minimum, the TTL of negative answers (RFC 2308 section 5).
NEGATIVE_TTL = 60
TCP_IDLE_TIMEOUT = 10.0
BIND_ATTEMPTS = 20


@dataclass(frozen=True)
class EmbeddedZone:
    """A zone the server is authoritative for, and the host name of its NS record.

    ``nameserver`` defaults to ``ns1.<name>``; when it lies inside the zone the
    server answers its address record with ``nameserver_address``.
    """

    name: str
    nameserver: str = ""
    nameserver_address: str = "127.0.0.1"

    @property
    def ns_host(self) -> str:
        return self.nameserver or f"ns1.{self.name}"


class EmbeddedDnsServer:
    """Answers SOA, NS and TXT queries for its zones from an ``EmbeddedRecordStore``.

    Names outside every zone are REFUSED. Missing names get NXDOMAIN and names
    without the asked type NODATA, both with the zone's SOA in the authority
    section. UDP answers that do not fit the client's size come back truncated
    (TC set, sections empty) so the client retries over TCP.
    """

    def __init__(
        self,
        zones: Sequence[str | EmbeddedZone],
        store: EmbeddedRecordStore,
    ) -> None:
        configured = [
            z if isinstance(z, EmbeddedZone) else EmbeddedZone(z) for z in zones
        ]
        self._zones = {z.name.rstrip(".").lower(): z for z in configured}
        self.store = store
        self._address: Nameserver | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def zones(self) -> list[str]:
        """The names of the zones served."""
        return list(self._zones)

    @property
    def address(self) -> Nameserver:
        """Where the server listens; only valid once started."""
        if self._address is None:
            raise RuntimeError("the embedded DNS server is not started")
        return self._address

    async def start(self, host: str = "127.0.0.1", port: int = 53) -> Nameserver:
        """Listen on ``host``:``port`` over UDP and TCP; port 0 picks one for both."""
        # With port 0 the kernel picks a UDP port whose TCP twin may be taken:
        # then try another.
        attempts = BIND_ATTEMPTS if port == 0 else 1
        for attempt in range(attempts):
            try:
                self._address = await self._bind(host, port)
                break
            except OSError:
                if attempt == attempts - 1:
                    raise
        logger.debug(
            "embedded DNS serving %s on %s", ", ".join(self.zones), self._address
        )
        return self.address

    async def _bind(self, host: str, port: int) -> Nameserver:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(host, port)
        )
        bound_port = int(transport.get_extra_info("sockname")[1])
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, host, bound_port)
        except OSError:
            transport.close()
            raise
        self._udp = transport
        return Nameserver(host, bound_port)

    async def stop(self) -> None:
        """Stop listening and drop the queries in flight."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_wire(self, wire: bytes, *, udp: bool) -> bytes | None:
        """The wire answer to one query, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            logger.debug("dropped a malformed query")
            return None
        if query.flags & dns.flags.QR:
            return None
        loop = asyncio.get_running_loop()
        # The store may be a database: its blocking calls run off the loop.
        try:
            response = await loop.run_in_executor(None, self.answer, query)
        except Exception:
            # A store that fails (a database gone away) must not silence the
            # server: the client gets SERVFAIL and tries again later.
            logger.exception("embedded DNS could not answer a query")
            response = dns.message.make_response(query, recursion_available=False)
            response.set_rcode(dns.rcode.SERVFAIL)
        limit = 65535
        if udp:
            # RFC 6891 section 6.2.5: the requestor's payload size, never below 512.
            limit = CLASSIC_UDP_SIZE
            if query.edns >= 0:
                limit = max(CLASSIC_UDP_SIZE, query.payload)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            return _truncated(query, response).to_wire()

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        """Build the answer to ``query``; blocking, as it reads the store."""
        response = dns.message.make_response(
            query, recursion_available=False, our_payload=OUR_UDP_PAYLOAD
        )
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        zone = (
            zone_for(name, self.zones)
            if question.rdclass == dns.rdataclass.IN
            else None
        )
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response

        response.flags |= dns.flags.AA
        config = self._zones[zone]
        found = self._rrsets_at(question.name, name, config)
        wanted = [r for r in found if question.rdtype in (r.rdtype, dns.rdatatype.ANY)]
        if wanted:
            response.answer.extend(wanted)
            if question.rdtype == dns.rdatatype.NS:
                response.additional.extend(self._glue(config))
            return response

        if not found and not self._is_empty_non_terminal(name, config):
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(self._soa(config, negative=True))
        return response

    def _rrsets_at(
        self, qname: dns.name.Name, name: str, config: EmbeddedZone
    ) -> list[dns.rrset.RRset]:
        """Every RRset the zone holds at ``name``."""
        found: list[dns.rrset.RRset] = []
        if name == config.name:
            found.append(self._soa(config, negative=False))
            found.append(
                _rrset(qname, dns.rdatatype.NS, RECORD_TTL, [f"{config.ns_host}."])
            )
        if name == config.ns_host:
            found.extend(self._glue(config))
        values = self.store.lookup(name)
        if values:
            # One RRset, one TTL (RFC 2181 section 5.2): the shortest asked for.
            ttl = min(ttl for _, ttl in values)
            texts = [_txt_text(value) for value, _ in values]
            found.append(_rrset(qname, dns.rdatatype.TXT, ttl, texts))
        return found

    def _is_empty_non_terminal(self, name: str, config: EmbeddedZone) -> bool:
        if config.ns_host.endswith("." + name):
            return True
        return self.store.has_descendants(name)

    def _glue(self, config: EmbeddedZone) -> list[dns.rrset.RRset]:
        if zone_for(config.ns_host, [config.name]) is None:
            return []
        rdtype = (
            dns.rdatatype.AAAA if ":" in config.nameserver_address else dns.rdatatype.A
        )
        owner = dns.name.from_text(config.ns_host)
        return [_rrset(owner, rdtype, RECORD_TTL, [config.nameserver_address])]

    def _soa(self, config: EmbeddedZone, *, negative: bool) -> dns.rrset.RRset:
        # The serial follows the clock: it only grows, and secondaries that
        # poll it see a change at least as often as the records change.
        serial = int(time.time()) & 0xFFFFFFFF
        text = (
            f"{config.ns_host}. hostmaster.{config.name}. {serial} "
            f"3600 600 86400 {NEGATIVE_TTL}"
        )
        # RFC 2308 section 3: a negative answer's SOA TTL is the lesser of the
        # SOA's TTL and its minimum field.
        ttl = min(RECORD_TTL, NEGATIVE_TTL) if negative else RECORD_TTL
        return _rrset(dns.name.from_text(config.name), dns.rdatatype.SOA, ttl, [text])

    async def _serve_tcp(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # RFC 7766: a connection may carry several queries, each with a
        # two-octet length prefix.
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                (length,) = struct.unpack("!H", header)
                wire = await asyncio.wait_for(
                    reader.readexactly(length), TCP_IDLE_TIMEOUT
                )
                answer = await self._answer_wire(wire, udp=False)
                if answer is None:
                    break
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: EmbeddedDnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._spawn(self._reply(data, addr))

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        answer = await self.server._answer_wire(data, udp=True)
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)


def _truncated(
    query: dns.message.Message, full: dns.message.Message
) -> dns.message.Message:
    """The answer with its sections dropped and TC set, to send the client to TCP."""
    response = dns.message.make_response(
        query, recursion_available=False, our_payload=OUR_UDP_PAYLOAD
    )
    response.flags |= dns.flags.TC | (full.flags & dns.flags.AA)
    response.set_rcode(full.rcode())
    return response


def _rrset(
    owner: dns.name.Name, rdtype: dns.rdatatype.RdataType, ttl: int, texts: list[str]
) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(owner, ttl, dns.rdataclass.IN, rdtype, texts)


def _txt_text(value: str) -> str:
    """Zone-file text for a TXT value, split into strings of at most 255 octets."""
    raw = value.encode()
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return " ".join(
        '"' + chunk.decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
        for chunk in chunks
    )


class BackgroundDnsServer:
    """Runs an ``EmbeddedDnsServer`` on its own event loop in a daemon thread.

    For callers without an event loop of their own (tests, command-line tools);
    ``start`` returns once the server listens, ``stop`` once it has stopped.
    """

    def __init__(self, server: EmbeddedDnsServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="embedded-dns", daemon=True
        )

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Nameserver:
        """Start the thread and the server; raises what binding raised."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            self.server.start(host, port), self._loop
        )
        try:
            return future.result(timeout=10)
        except BaseException:
            self._shut_loop()
            raise

    def stop(self) -> None:
        """Stop the server and its loop, and wait for the thread."""
        future = asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop)
        future.result(timeout=10)
        self._shut_loop()

    def _shut_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
