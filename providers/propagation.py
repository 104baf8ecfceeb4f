"""Zone discovery through resolvers, and the wait until all servers serve a value."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from providers import dnsutil
from providers.base import Nameserver, Provider, ProviderContext
from providers.errors import PropagationError, ZoneNotFoundError

logger = logging.getLogger(__name__)

#: Seconds one query may take before the next resolver is tried.
QUERY_TIMEOUT = 2.0

#: How a server's answer with a CNAME at the checked name is described.
CNAME_ANSWER = "the name is a CNAME"

#: CNAMEs followed at most, so a loop ends.
MAX_CNAME_CHAIN = 8


@dataclass(frozen=True)
class PropagationResult:
    """Where a value is served, after ``wait_for_value`` or during it.

    ``ok`` is true once every server serves the value; ``missing`` names the
    servers that did not, and ``reason`` says what each last answered.
    """

    ok: bool
    ready: tuple[Nameserver, ...]
    missing: tuple[Nameserver, ...]
    reason: str
    elapsed: float
    polls: int


ProgressCallback = Callable[[PropagationResult], Awaitable[None] | None]


async def _ask(
    server: Nameserver, query: dns.message.Message, timeout: float
) -> dns.message.Message:
    """One exchange: UDP, then TCP when the answer is truncated or UDP fails."""
    try:
        response = await dns.asyncquery.udp(
            query, server.host, timeout=timeout, port=server.port
        )
    except ConnectionRefusedError:
        # Nothing listens on that port (ICMP port unreachable): TCP would be
        # refused as well, so answer at once.
        raise
    except (dns.exception.Timeout, OSError) as exc:
        logger.debug("UDP to %s failed (%s); retrying over TCP", server, exc)
    else:
        if not response.flags & dns.flags.TC:
            return response
        logger.debug("answer from %s truncated; retrying over TCP", server)
    return await dns.asyncquery.tcp(
        query, server.host, timeout=timeout, port=server.port
    )


async def _resolve(
    name: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    resolvers: Sequence[Nameserver],
) -> dns.message.Message | None:
    """The first usable answer from the resolvers, in order; None if all refuse.

    A REFUSED or SERVFAIL answer moves on to the next resolver. When no resolver
    answers at all, or every one fails the query, PropagationError says so.
    """
    if not resolvers:
        raise PropagationError(
            f"no resolvers to ask about {dnsutil.from_dns_name(name)}"
        )
    failures: list[str] = []
    for resolver in resolvers:
        query = dns.message.make_query(name, rdtype)
        try:
            response = await _ask(resolver, query, QUERY_TIMEOUT)
        except (dns.exception.DNSException, OSError) as exc:
            failures.append(f"{resolver}: {type(exc).__name__}")
            continue
        rcode = response.rcode()
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return response
        failures.append(f"{resolver}: {dns.rcode.to_text(rcode)}")
    if all(failure.endswith("REFUSED") for failure in failures):
        # An authoritative-only server refuses names outside its zones.
        return None
    raise PropagationError(
        f"no resolver answered {dns.rdatatype.to_text(rdtype)} for "
        f"{dnsutil.from_dns_name(name)} ({'; '.join(failures)})",
        name=dnsutil.from_dns_name(name),
    )


async def find_zone(name: str, resolvers: Sequence[Nameserver]) -> str:
    """The zone holding ``name``: the nearest name at or above it owning an SOA.

    Walks up label by label. An SOA counts only when the answer holds it at the
    candidate itself: never one reached through a CNAME, never the authority
    section of a negative answer, so ``co.uk`` is a zone only when it is one.

    Raises:
        ZoneNotFoundError: no name up to the top-level domain owns an SOA.
        PropagationError: the resolvers failed to answer.
    """
    for candidate in dnsutil.zone_candidates(name):
        response = await _resolve(candidate, dns.rdatatype.SOA, resolvers)
        if response is not None and dnsutil.soa_owned_by(response, candidate):
            zone = dnsutil.from_dns_name(candidate)
            logger.debug("zone for %s is %s", name, zone)
            return zone
    raise ZoneNotFoundError(f"no zone found that contains {name}", name=name)


async def follow_cname(name: str, resolvers: Sequence[Nameserver]) -> str:
    """Where a chain of CNAMEs starting at ``name`` ends; ``name`` if none starts.

    Raises:
        PropagationError: the chain is longer than MAX_CNAME_CHAIN (a loop).
    """
    current = dnsutil.to_dns_name(name)
    for _ in range(MAX_CNAME_CHAIN):
        response = await _resolve(current, dns.rdatatype.CNAME, resolvers)
        rrset = None
        if response is not None:
            rrset = dnsutil.first_rrset(response, current, dns.rdatatype.CNAME)
        if rrset is None:
            return dnsutil.from_dns_name(current)
        target = rrset[0].target
        logger.debug("%s is a CNAME for %s", current, target)
        current = target
    raise PropagationError(f"CNAME chain from {name} is too long", name=name)


async def discover_authoritative(
    zone: str,
    resolvers: Sequence[Nameserver],
    port: int = 53,
    *,
    ipv6: bool = True,
) -> list[Nameserver]:
    """Every address of every NS host of ``zone``, to be queried at ``port``.

    Addresses come from the glue in the NS answer when present, otherwise from
    A (and AAAA when ``ipv6``) queries to the resolvers.

    Raises:
        PropagationError: the zone has no NS records or none of its hosts resolve.
    """
    origin = dnsutil.to_dns_name(zone)
    response = await _resolve(origin, dns.rdatatype.NS, resolvers)
    ns_rrset = (
        dnsutil.first_rrset(response, origin, dns.rdatatype.NS)
        if response is not None
        else None
    )
    if response is None or ns_rrset is None:
        raise PropagationError(f"zone {zone} has no NS records", zone=zone)

    rdtypes = [dns.rdatatype.A] + ([dns.rdatatype.AAAA] if ipv6 else [])
    hosts = sorted({rdata.target for rdata in ns_rrset})
    lookups = [_host_addresses(host, rdtypes, response, resolvers) for host in hosts]
    found = await asyncio.gather(*lookups)

    addresses = sorted(
        {address for host_addresses in found for address in host_addresses}
    )
    if not addresses:
        raise PropagationError(
            f"no address found for any NS host of zone {zone}", zone=zone
        )
    servers = [Nameserver(address, port) for address in addresses]
    logger.debug("authoritative servers of %s: %s", zone, ", ".join(map(str, servers)))
    return servers


async def _host_addresses(
    host: dns.name.Name,
    rdtypes: Sequence[dns.rdatatype.RdataType],
    ns_response: dns.message.Message,
    resolvers: Sequence[Nameserver],
) -> set[str]:
    """The addresses of one NS host: glue first, then the resolvers."""
    glue = {
        rdata.address
        for rrset in ns_response.additional
        if rrset.name == host and rrset.rdtype in rdtypes
        for rdata in rrset
    }
    if glue:
        return glue
    addresses: set[str] = set()
    for rdtype in rdtypes:
        try:
            response = await _resolve(host, rdtype, resolvers)
        except PropagationError as exc:
            logger.debug("cannot resolve NS host %s: %s", host, exc)
            continue
        if response is None:
            continue
        for rrset in response.answer:
            if rrset.rdtype == rdtype:
                addresses.update(rdata.address for rdata in rrset)
    return addresses


async def authoritative_for(provider: Provider, zone: str) -> list[Nameserver]:
    """The servers to check for ``zone``: the provider's own list, or discovered."""
    named = await asyncio.to_thread(provider.authoritative_servers, zone)
    if named is not None:
        return named
    context: ProviderContext = provider.context
    return await discover_authoritative(
        zone, context.resolvers, context.authoritative_port
    )


async def _serves_value(
    server: Nameserver, name: dns.name.Name, value: str, timeout: float
) -> tuple[bool, str]:
    """Whether ``server`` itself serves ``value`` at ``name``, and what it said."""
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    # Ask the server about its own data: with RD clear it neither recurses
    # nor answers from a cache.
    query.flags &= ~dns.flags.RD
    try:
        response = await _ask(server, query, timeout)
    except dns.exception.Timeout:
        return False, "no answer"
    except (dns.exception.DNSException, OSError) as exc:
        return False, f"no answer ({type(exc).__name__})"
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        return False, dns.rcode.to_text(rcode)
    cname = dnsutil.first_rrset(response, name, dns.rdatatype.CNAME)
    if cname is not None:
        # RFC 1034 3.6.2: no other data may live beside a CNAME, so a value
        # written at this name can never be served here.
        target = dnsutil.from_dns_name(cname[0].target)
        return False, f"{CNAME_ANSWER} to {target}; follow CNAMEs or write there"
    served = {dnsutil.unquote(text) for text in dnsutil.txt_values(response, name)}
    if dnsutil.unquote(value) in served:
        return True, "served"
    return False, f"{len(served)} other value(s), not this one"


async def wait_for_value(
    name: str,
    value: str,
    servers: Sequence[Nameserver],
    timeout: float,
    *,
    first_interval: float = 0.05,
    max_interval: float = 2.0,
    on_progress: ProgressCallback | None = None,
) -> PropagationResult:
    """Poll each server directly until all serve ``value`` at ``name``.

    A server that served the value once is not asked again. Between rounds the
    wait doubles from ``first_interval`` up to ``max_interval``. ``on_progress``
    gets the state after every round that ends without success. The value itself
    never appears in the result or in a log line.
    """
    started = time.monotonic()
    deadline = started + timeout
    owner = dnsutil.to_dns_name(name)
    ready: list[Nameserver] = []
    pending = list(dict.fromkeys(servers))
    last_answer: dict[Nameserver, str] = dict.fromkeys(pending, "not asked")
    interval = first_interval
    polls = 0

    if not pending:
        return PropagationResult(
            False, (), (), f"no authoritative servers to check for {name}", 0.0, 0
        )

    while True:
        polls += 1
        query_timeout = max(0.05, min(QUERY_TIMEOUT, deadline - time.monotonic()))
        answers = await asyncio.gather(
            *(_serves_value(server, owner, value, query_timeout) for server in pending)
        )
        for server, (served, said) in zip(pending, answers, strict=True):
            last_answer[server] = said
            if served:
                ready.append(server)
        pending = [server for server in pending if server not in ready]
        elapsed = time.monotonic() - started
        cname_at_name = any(last_answer[s].startswith(CNAME_ANSWER) for s in pending)

        if not pending:
            logger.debug(
                "%s served by all %d servers after %.2f s", name, len(ready), elapsed
            )
            return PropagationResult(True, tuple(ready), (), "", elapsed, polls)

        reason = _missing_reason(name, pending, last_answer, elapsed)
        result = PropagationResult(
            False, tuple(ready), tuple(pending), reason, elapsed, polls
        )
        remaining = deadline - time.monotonic()
        if remaining <= 0 or cname_at_name:
            logger.debug("propagation of %s timed out: %s", name, reason)
            return result
        if on_progress is not None:
            outcome = on_progress(result)
            if inspect.isawaitable(outcome):
                await outcome

        # Jitter keeps operations started together from polling in step.
        await asyncio.sleep(min(interval * random.uniform(0.8, 1.2), remaining))
        interval = min(max_interval, interval * 2)


def _missing_reason(
    name: str,
    missing: Sequence[Nameserver],
    last_answer: dict[Nameserver, str],
    elapsed: float,
) -> str:
    said = ", ".join(f"{server} ({last_answer[server]})" for server in missing)
    return f"value at {name} not served after {elapsed:.1f} s by {said}"
