"""Zone discovery through resolvers and the propagation wait, against real BIND9."""

from __future__ import annotations

import asyncio
import logging
import time

import dns.message
import pytest

from providers.base import Nameserver
from providers.dnsutil import soa_owned_by, to_dns_name
from providers.errors import PropagationError, ZoneNotFoundError
from providers.propagation import (
    PropagationResult,
    authoritative_for,
    discover_authoritative,
    find_zone,
    follow_cname,
    wait_for_value,
)
from tests.providers.conftest import rfc2136_provider
from tests.providers.contract import VALUE_A, VALUE_B, dns01_value
from tests.servers.bind import BindServer
from tests.servers.ports import free_port


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        pytest.param("_acme-challenge.www.example.co.uk", "example.co.uk", id="F06"),
        pytest.param("_acme-challenge.baz.bar.example.org", "example.org", id="F07"),
        pytest.param(
            "_acme-challenge.host.example.com",
            "_acme-challenge.host.example.com",
            id="F08",
        ),
        pytest.param(
            "_acme-challenge.www.training-example.com",
            "training-example.com",
            id="F09",
        ),
        pytest.param(
            "_acme-challenge.example.com.foo.example.com", "example.com", id="F15"
        ),
        pytest.param("_acme-challenge.www.example.com", "example.com", id="F25"),
        # F26: the answer for app.example.com is its CNAME, never its zone.
        pytest.param("_acme-challenge.app.example.com", "example.com", id="F26"),
        pytest.param("app.example.com", "example.com", id="F26-cname-itself"),
    ],
)
async def test_find_zone(bind_server: BindServer, name: str, zone: str) -> None:
    assert await find_zone(name, [bind_server.nameserver]) == zone


CNAME_TO_APEX = """\
id 1
opcode QUERY
rcode NOERROR
flags QR RD RA
;QUESTION
app.example.com. IN SOA
;ANSWER
app.example.com. 300 IN CNAME example.net.
example.net. 300 IN SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 1
;AUTHORITY
;ADDITIONAL
"""

NEGATIVE_WITH_SOA = """\
id 1
opcode QUERY
rcode NXDOMAIN
flags QR AA
;QUESTION
co.uk. IN SOA
;ANSWER
;AUTHORITY
example.co.uk. 0 IN SOA ns1.example.co.uk. hostmaster.example.co.uk. 1 3600 600 86400 1
;ADDITIONAL
"""


@pytest.mark.parametrize(
    ("text", "candidate", "owned"),
    [
        # F26: a recursive resolver follows a CNAME to a zone apex and puts that
        # zone's SOA in the answer; it is not the SOA of the name asked about.
        pytest.param(CNAME_TO_APEX, "app.example.com", False, id="F26-through-cname"),
        pytest.param(CNAME_TO_APEX, "example.net", True, id="cname-target-owns"),
        # An SOA in the authority section only frames a negative answer.
        pytest.param(NEGATIVE_WITH_SOA, "example.co.uk", False, id="authority-soa"),
    ],
)
def test_only_an_soa_owned_by_the_candidate_counts(
    text: str, candidate: str, owned: bool
) -> None:
    response = dns.message.from_text(text)

    assert soa_owned_by(response, to_dns_name(candidate)) is owned


async def test_find_zone_not_served(bind_server: BindServer) -> None:
    with pytest.raises(ZoneNotFoundError, match="www.example.edu"):
        await find_zone("www.example.edu", [bind_server.nameserver])


async def test_find_zone_skips_a_dead_resolver(bind_server: BindServer) -> None:
    dead = Nameserver("127.0.0.1", free_port())
    resolvers = [dead, bind_server.nameserver]

    assert await find_zone("www.example.org", resolvers) == "example.org"


async def test_no_resolver_answering_is_an_error() -> None:
    dead = Nameserver("127.0.0.1", free_port())
    with pytest.raises(PropagationError, match=str(dead)):
        await find_zone("www.example.org", [dead])


@pytest.mark.parametrize(
    ("name", "target"),
    [
        pytest.param(
            "_acme-challenge.www.example.com", "www.acme.example.org", id="F25"
        ),
        pytest.param("app.example.com", "edge.cdn.example.net", id="F26"),
        pytest.param(
            "_acme-challenge.example.com", "_acme-challenge.example.com", id="no-cname"
        ),
    ],
)
async def test_follow_cname(bind_server: BindServer, name: str, target: str) -> None:
    assert await follow_cname(name, [bind_server.nameserver]) == target


@pytest.mark.parametrize(
    "zone",
    [
        pytest.param("example.com", id="glue-in-answer"),
        # F08: the delegated zone's NS hosts live in the parent; no glue.
        pytest.param("_acme-challenge.host.example.com", id="F08-delegated"),
        pytest.param("example.org", id="other-zone"),
    ],
)
async def test_discover_authoritative(bind_pair: list[BindServer], zone: str) -> None:
    first, second = bind_pair

    servers = await discover_authoritative(zone, [first.nameserver], first.port)

    assert servers == [first.nameserver, second.nameserver]


async def test_discover_zone_without_ns(bind_server: BindServer) -> None:
    with pytest.raises(PropagationError, match="example.edu"):
        await discover_authoritative("example.edu", [bind_server.nameserver], 53)


async def test_authoritative_for_discovers_when_the_provider_names_none(
    bind_server: BindServer,
) -> None:
    provider = rfc2136_provider(bind_server)

    servers = await authoritative_for(provider, "example.com")

    assert servers == [bind_server.nameserver]


async def test_lagging_secondary(bind_pair: list[BindServer]) -> None:
    # F18: the second server learns of the value 1.5 s after the first; the
    # wait ends only once both serve it.
    first, second = bind_pair
    name = "_acme-challenge.f18.example.com"
    provider = rfc2136_provider(first)
    servers = await discover_authoritative(
        "example.com", [first.nameserver], first.port
    )
    progress: list[PropagationResult] = []

    await asyncio.to_thread(provider.add_txt_value, "example.com", name, VALUE_A, 60)

    async def update_second_later() -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(second.put_txt, name, VALUE_A)

    lagging = asyncio.create_task(update_second_later())
    result = await wait_for_value(
        name, VALUE_A, servers, timeout=10, on_progress=progress.append
    )
    await lagging

    assert result.ok
    assert result.ready == (first.nameserver, second.nameserver)
    assert result.elapsed >= 1.5
    assert progress[0].ready == (first.nameserver,)
    assert progress[0].missing == (second.nameserver,)
    assert str(second.nameserver) in progress[0].reason


async def test_timeout_names_the_server_lacking_the_value(
    bind_pair: list[BindServer], caplog: pytest.LogCaptureFixture
) -> None:
    # F19: the second server never gets the value.
    caplog.set_level(logging.DEBUG)
    first, second = bind_pair
    name = "_acme-challenge.f19.example.com"
    first.put_txt(name, VALUE_A)
    second.put_txt(name, VALUE_B)
    servers = [first.nameserver, second.nameserver]

    started = time.monotonic()
    result = await wait_for_value(name, VALUE_A, servers, timeout=1.0)
    took = time.monotonic() - started

    assert not result.ok
    assert result.missing == (second.nameserver,)
    assert str(second.nameserver) in result.reason
    assert str(first.nameserver) not in result.reason
    assert "1 other value(s)" in result.reason
    assert 1.0 <= took < 3.0
    # A challenge value is a credential for one order: never logged.
    assert VALUE_A not in result.reason
    assert VALUE_A not in caplog.text


async def test_timeout_names_a_server_that_does_not_answer(
    bind_server: BindServer,
) -> None:
    name = "_acme-challenge.silent.example.com"
    bind_server.put_txt(name, VALUE_A)
    silent = Nameserver("127.0.0.1", free_port())

    result = await wait_for_value(
        name, VALUE_A, [bind_server.nameserver, silent], timeout=0.5
    )

    assert not result.ok
    assert result.missing == (silent,)
    assert f"{silent} (no answer" in result.reason


@pytest.mark.parametrize(
    ("stored", "expected", "ok"),
    [
        pytest.param(VALUE_A, VALUE_A, True, id="bare"),
        # F16: a back end that kept presentation quotes still matches.
        pytest.param(f'"{VALUE_A}"', VALUE_A, True, id="stored-quoted"),
        pytest.param(VALUE_A, f'"{VALUE_A}"', True, id="expected-quoted"),
        pytest.param(VALUE_B, VALUE_A, False, id="other-value"),
    ],
)
async def test_values_compared_unquoted(
    bind_server: BindServer, stored: str, expected: str, ok: bool
) -> None:
    name = f"_acme-challenge.quote-{ok}-{len(stored)}-{len(expected)}.example.com"
    bind_server.put_txt(name, stored)

    result = await wait_for_value(name, expected, [bind_server.nameserver], timeout=0.3)

    assert result.ok is ok
    bind_server.delete_txt(name, stored)


async def test_no_servers_is_not_success() -> None:
    result = await wait_for_value("_acme-challenge.example.com", VALUE_A, [], 1.0)

    assert not result.ok
    assert "no authoritative servers" in result.reason


async def test_delegated_validation_zone_end_to_end(
    bind_pair: list[BindServer],
) -> None:
    # F08: the value goes into the delegated zone and that zone's servers are
    # the ones checked.
    first, second = bind_pair
    provider = rfc2136_provider(first)
    name = "_acme-challenge.host.example.com"

    zone = await find_zone(name, [first.nameserver])
    await asyncio.to_thread(provider.add_txt_value, zone, name, VALUE_A, 60)
    second.put_txt(name, VALUE_A)
    servers = await authoritative_for(provider, zone)
    result = await wait_for_value(name, VALUE_A, servers, timeout=5)

    assert zone == "_acme-challenge.host.example.com"
    assert result.ok
    assert result.ready == (first.nameserver, second.nameserver)


async def test_cname_delegation_end_to_end(bind_server: BindServer) -> None:
    # F25: the value is written at the CNAME's target, in the target's zone,
    # and checked there.
    resolvers = [bind_server.nameserver]
    provider = rfc2136_provider(bind_server)

    target = await follow_cname("_acme-challenge.www.example.com", resolvers)
    zone = await find_zone(target, resolvers)
    await asyncio.to_thread(provider.add_txt_value, zone, target, VALUE_A, 60)
    servers = await authoritative_for(provider, zone)
    result = await wait_for_value(target, VALUE_A, servers, timeout=5)

    assert (target, zone) == ("www.acme.example.org", "example.org")
    assert result.ok
    assert ("www.acme", VALUE_A) in bind_server.zone_records("example.org")
    await asyncio.to_thread(provider.remove_txt_value, zone, target, VALUE_A)


async def test_truncated_answer_retried_over_tcp(bind_server: BindServer) -> None:
    # Thirty values do not fit a 512-octet UDP answer; the server sets TC and
    # the check must read the whole set over TCP to find its value.
    name = "_acme-challenge.crowded.example.com"
    crowd = [dns01_value(f"crowd {index}") for index in range(30)]
    for value in [*crowd, VALUE_A]:
        bind_server.put_txt(name, value)

    result = await wait_for_value(name, VALUE_A, [bind_server.nameserver], timeout=2)

    assert result.ok
    assert result.polls == 1
