"""The embedded DNS server and its provider, queried with dnspython and dig."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from cryptography import x509

from providers.base import Nameserver, ProviderContext
from providers.embedded import EmbeddedProvider, InMemoryRecordStore
from providers.embedded_server import (
    BackgroundDnsServer,
    EmbeddedDnsServer,
    EmbeddedZone,
)
from providers.errors import ProviderUnavailableError, ZoneNotFoundError
from tests.providers.contract import ProviderContract, ProviderHarness, dns01_value
from tests.servers.pebble import start_pebble

ZONES = [
    EmbeddedZone("example.test", nameserver_address="192.0.2.53"),
    EmbeddedZone("sub.example.test", nameserver="ns.example.net"),
    EmbeddedZone("xn--bro-hoa.example"),
]
# Enough values at one name that the answer cannot fit in 512 octets.
MANY_VALUES = [dns01_value(f"many {i}") for i in range(30)]


@pytest.fixture(scope="module")
def store() -> InMemoryRecordStore:
    return InMemoryRecordStore()


@pytest.fixture(scope="module")
def dns_server(store: InMemoryRecordStore) -> Iterator[EmbeddedDnsServer]:
    server = EmbeddedDnsServer(ZONES, store)
    background = BackgroundDnsServer(server)
    background.start("127.0.0.1", 0)
    store.add("_acme-challenge.www.example.test", dns01_value("www"), 120)
    store.add("_acme-challenge.deep.er.example.test", dns01_value("deep"), 120)
    for value in MANY_VALUES:
        store.add("_acme-challenge.many.example.test", value, 120)
    yield server
    background.stop()


@pytest.fixture
def provider(dns_server: EmbeddedDnsServer) -> EmbeddedProvider:
    return EmbeddedProvider({}, ProviderContext(embedded=dns_server))


def ask(
    server: EmbeddedDnsServer,
    name: str,
    rdtype: str,
    *,
    tcp: bool = False,
    payload: int | None = None,
) -> dns.message.Message:
    query = dns.message.make_query(
        name, rdtype, use_edns=0 if payload else False, payload=payload or 512
    )
    address = server.address
    if tcp:
        return dns.query.tcp(query, address.host, port=address.port, timeout=5)
    return dns.query.udp(
        query, address.host, port=address.port, timeout=5, ignore_trailing=True
    )


def answer_texts(response: dns.message.Message) -> set[str]:
    return {rdata.to_text() for rrset in response.answer for rdata in rrset}


class TestEmbeddedContract(ProviderContract):
    @pytest.fixture
    def backend(
        self,
        dns_server: EmbeddedDnsServer,
        store: InMemoryRecordStore,
        provider: EmbeddedProvider,
    ) -> ProviderHarness:
        def read_txt(name: str) -> set[str]:
            response = ask(dns_server, name, "TXT", tcp=True)
            return {
                b"".join(rdata.strings).decode()
                for rrset in response.answer
                for rdata in rrset
            }

        def read_ttl(name: str) -> int:
            return int(ask(dns_server, name, "TXT").answer[0].ttl)

        return ProviderHarness(
            provider=provider,
            zone="example.test",
            read_txt=read_txt,
            put_foreign_txt=lambda name, value: store.add(name, value, 300),
            read_ttl=read_ttl,
        )


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode", "answer", "authority"),
    [
        pytest.param(
            "example.test",
            "SOA",
            "NOERROR",
            {"SOA"},
            set(),
            id="soa-at-apex",
        ),
        pytest.param("example.test", "NS", "NOERROR", {"NS"}, set(), id="ns-at-apex"),
        pytest.param(
            "ns1.example.test", "A", "NOERROR", {"A"}, set(), id="nameserver-address"
        ),
        pytest.param(
            "_acme-challenge.www.example.test",
            "TXT",
            "NOERROR",
            {"TXT"},
            set(),
            id="txt",
        ),
        pytest.param(
            "_ACME-Challenge.WWW.Example.TEST",
            "TXT",
            "NOERROR",
            {"TXT"},
            set(),
            id="txt-any-case",
        ),
        pytest.param(
            "_acme-challenge.nobody.example.test",
            "TXT",
            "NXDOMAIN",
            set(),
            {"SOA"},
            id="nxdomain",
        ),
        pytest.param(
            "_acme-challenge.www.example.test",
            "A",
            "NOERROR",
            set(),
            {"SOA"},
            id="nodata-other-type",
        ),
        pytest.param(
            "er.example.test",
            "TXT",
            "NOERROR",
            set(),
            {"SOA"},
            id="nodata-empty-non-terminal",
        ),
        pytest.param(
            "example.test", "TXT", "NOERROR", set(), {"SOA"}, id="nodata-at-apex"
        ),
        pytest.param(
            "www.example.org", "TXT", "REFUSED", set(), set(), id="refused-other-zone"
        ),
        pytest.param(
            "badexample.test", "SOA", "REFUSED", set(), set(), id="refused-look-alike"
        ),
        pytest.param(
            "sub.example.test",
            "NS",
            "NOERROR",
            {"NS"},
            set(),
            id="ns-outside-zone",
        ),
    ],
)
def test_answers(
    dns_server: EmbeddedDnsServer,
    name: str,
    rdtype: str,
    rcode: str,
    answer: set[str],
    authority: set[str],
) -> None:
    response = ask(dns_server, name, rdtype)

    assert dns.rcode.to_text(response.rcode()) == rcode
    assert {dns.rdatatype.to_text(r.rdtype) for r in response.answer} == answer
    assert {dns.rdatatype.to_text(r.rdtype) for r in response.authority} == authority
    assert bool(response.flags & dns.flags.AA) == (rcode != "REFUSED")


def test_negative_answer_ttl_is_the_soa_minimum(dns_server: EmbeddedDnsServer) -> None:
    # RFC 2308 section 3: resolvers cache the NXDOMAIN for this long.
    response = ask(dns_server, "_acme-challenge.nobody.example.test", "TXT")
    soa = response.authority[0]

    assert soa.ttl == soa[0].minimum == 60


def test_ns_answer_carries_its_address(dns_server: EmbeddedDnsServer) -> None:
    response = ask(dns_server, "example.test", "NS")

    assert answer_texts(response) == {"ns1.example.test."}
    assert {rdata.to_text() for rrset in response.additional for rdata in rrset} == {
        "192.0.2.53"
    }


def test_large_answer_truncated_over_udp(dns_server: EmbeddedDnsServer) -> None:
    response = ask(dns_server, "_acme-challenge.many.example.test", "TXT")

    assert response.flags & dns.flags.TC
    assert response.answer == []


def test_large_answer_whole_over_tcp(dns_server: EmbeddedDnsServer) -> None:
    response = ask(dns_server, "_acme-challenge.many.example.test", "TXT", tcp=True)

    assert not response.flags & dns.flags.TC
    assert answer_texts(response) == {f'"{v}"' for v in MANY_VALUES}


@pytest.mark.parametrize(
    ("payload", "truncated"),
    [
        pytest.param(1232, True, id="edns-1232"),
        pytest.param(4096, False, id="edns-4096"),
    ],
)
def test_udp_size_follows_edns_payload(
    dns_server: EmbeddedDnsServer, payload: int, truncated: bool
) -> None:
    # 30 values take about 1.7 kB: too big for 1232 octets, fine in 4096.
    response = ask(
        dns_server, "_acme-challenge.many.example.test", "TXT", payload=payload
    )

    assert bool(response.flags & dns.flags.TC) == truncated
    assert len(response.answer) == (0 if truncated else 1)


def dig(server: EmbeddedDnsServer, *args: str) -> str:
    address = server.address
    result = subprocess.run(
        [
            "dig",
            f"@{address.host}",
            "-p",
            str(address.port),
            "+time=3",
            "+tries=1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["example.test", "SOA", "+short"],
            "ns1.example.test. hostmaster.example.test.",
            id="soa",
        ),
        pytest.param(
            ["_acme-challenge.www.example.test", "TXT", "+short"],
            f'"{dns01_value("www")}"',
            id="txt",
        ),
        pytest.param(
            ["_acme-challenge.nobody.example.test", "TXT"],
            "status: NXDOMAIN",
            id="nxdomain",
        ),
        pytest.param(["example.org", "SOA"], "status: REFUSED", id="refused"),
        pytest.param(
            ["_acme-challenge.many.example.test", "TXT", "+noedns", "+ignore"],
            "flags: qr aa tc rd;",
            id="truncated-over-udp",
        ),
        pytest.param(
            ["_acme-challenge.many.example.test", "TXT", "+noedns"],
            "ANSWER: 30,",
            id="retried-over-tcp",
        ),
    ],
)
def test_dig(dns_server: EmbeddedDnsServer, args: list[str], expected: str) -> None:
    assert expected in dig(dns_server, *args)


@pytest.mark.parametrize(
    ("zones", "name", "zone"),
    [
        pytest.param("", "_acme-challenge.www.example.test", "example.test", id="zone"),
        pytest.param(
            "", "_acme-challenge.a.sub.example.test", "sub.example.test", id="longest"
        ),
        pytest.param(
            "example.test",
            "_acme-challenge.a.sub.example.test",
            "example.test",
            id="narrowed",
        ),
        pytest.param("", "_acme-challenge.www.example.org", None, id="outside"),
        pytest.param("sub.example.test", "www.example.test", None, id="not-allowed"),
    ],
)
def test_find_zone(
    dns_server: EmbeddedDnsServer, zones: str, name: str, zone: str | None
) -> None:
    params = EmbeddedProvider.validate_parameters({"zones": zones})
    provider = EmbeddedProvider(params, ProviderContext(embedded=dns_server))

    if zone is None:
        with pytest.raises(ZoneNotFoundError):
            provider.find_zone(name)
    else:
        assert provider.find_zone(name) == zone


def test_write_outside_the_zone_refused(provider: EmbeddedProvider) -> None:
    with pytest.raises(ZoneNotFoundError):
        provider.add_txt_value("example.test", "_acme-challenge.example.org", "v", 60)


def test_authoritative_server_is_the_embedded_one(
    dns_server: EmbeddedDnsServer, provider: EmbeddedProvider
) -> None:
    assert provider.authoritative_servers("example.test") == [dns_server.address]
    assert isinstance(dns_server.address, Nameserver)


def test_without_a_running_server() -> None:
    provider = EmbeddedProvider({}, ProviderContext())

    with pytest.raises(ProviderUnavailableError):
        provider.find_zone("_acme-challenge.www.example.test")


class HttpreqHandler(BaseHTTPRequestHandler):
    """lego's httpreq protocol in its default mode: JSON ``{fqdn, value}``."""

    provider: EmbeddedProvider
    calls: list[tuple[str, str]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = body["fqdn"].rstrip(".").lower()
        zone = self.provider.find_zone(name)
        if self.path == "/present":
            self.provider.add_txt_value(zone, name, body["value"], 60)
        elif self.path == "/cleanup":
            self.provider.remove_txt_value(zone, name, body["value"])
        else:
            self.send_error(404)
            return
        self.calls.append((self.path, name))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_pebble_issues_a_certificate_through_the_embedded_server(
    tmp_path: Path, dns_server: EmbeddedDnsServer, provider: EmbeddedProvider
) -> None:
    # The apex and the wildcard need two values at one validation name at once.
    calls: list[tuple[str, str]] = []
    handler = type("Handler", (HttpreqHandler,), {"provider": provider, "calls": calls})
    httpreq = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpreq.serve_forever, daemon=True).start()
    pebble = start_pebble(tmp_path / "pebble", dns_server.address)
    env = {
        **os.environ,
        "LEGO_CA_CERTIFICATES": str(pebble.ca_file),
        "HTTPREQ_ENDPOINT": f"http://127.0.0.1:{httpreq.server_address[1]}",
        "HTTPREQ_POLLING_INTERVAL": "1",
        "HTTPREQ_PROPAGATION_TIMEOUT": "30",
    }
    command = [
        "lego",
        "--accept-tos",
        "--email=admin@example.test",
        f"--server={pebble.directory_url}",
        "--dns=httpreq",
        # lego would ask the zone's NS on port 53; Pebble does the real check.
        "--dns.disable-cp",
        f"--dns.resolvers={dns_server.address}",
        f"--path={tmp_path / 'lego'}",
        "--domains=example.test",
        "--domains=*.example.test",
        "run",
    ]
    try:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        pebble.stop()
        httpreq.shutdown()
        httpreq.server_close()

    assert result.returncode == 0, result.stderr[-3000:]
    pem = (tmp_path / "lego" / "certificates" / "example.test.crt").read_bytes()
    certificate = x509.load_pem_x509_certificates(pem)[0]
    names = certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)
    assert sorted(names) == ["*.example.test", "example.test"]
    assert sorted(calls) == [
        ("/cleanup", "_acme-challenge.example.test"),
        ("/cleanup", "_acme-challenge.example.test"),
        ("/present", "_acme-challenge.example.test"),
        ("/present", "_acme-challenge.example.test"),
    ]
    assert dns_server.store.lookup("_acme-challenge.example.test") == []


class BrokenStore(InMemoryRecordStore):
    """A store whose database has gone away."""

    def lookup(self, name: str) -> list[tuple[str, int]]:
        raise OSError("database unreachable")


def test_failing_store_answers_servfail() -> None:
    background = BackgroundDnsServer(EmbeddedDnsServer(ZONES, BrokenStore()))
    background.start("127.0.0.1", 0)
    try:
        response = ask(background.server, "_acme-challenge.www.example.test", "TXT")
        again = ask(background.server, "_acme-challenge.www.example.test", "TXT")
    finally:
        background.stop()

    assert dns.rcode.to_text(response.rcode()) == "SERVFAIL"
    assert dns.rcode.to_text(again.rcode()) == "SERVFAIL"
