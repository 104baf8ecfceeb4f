"""The RFC 2136 provider: TXT values by dynamic update signed with TSIG."""

from __future__ import annotations

import base64
import binascii
import logging
import socket
from collections.abc import Callable, Mapping
from typing import ClassVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update

from providers import dnsutil
from providers.base import Nameserver, Parameter, Provider, ProviderContext, TtlRange
from providers.dnsutil import from_dns_name
from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderParameterError,
    ProviderUnavailableError,
    ZoneNotFoundError,
)

logger = logging.getLogger(__name__)

# Lower-case algorithm names without the trailing dot, as users write them.
TSIG_ALGORITHMS: Mapping[str, dns.name.Name] = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-md5.sig-alg.reg.int": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}

# Answers that mean the server does not accept our key for this zone.
_AUTH_RCODES = frozenset({dns.rcode.REFUSED, dns.rcode.NOTAUTH})

# TSIG failures, ours or reported by the peer (RFC 8945 section 5.2).
_TSIG_ERRORS: tuple[type[Exception], ...] = (
    dns.tsig.PeerError,
    dns.tsig.BadSignature,
    dns.tsig.BadTime,
    dns.tsig.BadKey,
    dns.tsig.BadAlgorithm,
    dns.message.UnknownTSIGKey,
    dns.message.BadTSIG,
)


def tsig_algorithm(text: str) -> dns.name.Name:
    """The TSIG algorithm named by ``text``, in any letter case, dot or not.

    Raises:
        ValueError: no such algorithm is supported.
    """
    key = text.strip().lower().rstrip(".")
    try:
        return TSIG_ALGORITHMS[key]
    except KeyError:
        raise ValueError(f"unsupported TSIG algorithm {text!r}") from None


def tsig_secret(text: str) -> bytes:
    """The key bytes of a base64 TSIG secret.

    Raises:
        ValueError: the text is not base64 or holds no bytes; the message never
            repeats the text.
    """
    try:
        secret = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    if not secret:
        raise ValueError("is empty")
    return secret


class Rfc2136Provider(Provider):
    """Adds and removes single TXT values on a primary server by RFC 2136 update.

    Works with any server that takes TSIG-signed dynamic updates (BIND9, Knot,
    PowerDNS with its RFC 2136 support). Updates add or delete one record
    (RFC 2136 section 2.5.1 and 2.5.4), never a whole record set, so values other
    clients or administrators put at the same name stay.
    """

    type_name: ClassVar[str] = "rfc2136"
    title: ClassVar[str] = "RFC 2136 dynamic update (BIND9, Knot, ...)"
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("server", "primary server that accepts updates, as host:port"),
        Parameter("tsig_key_name", "name of the TSIG key the server accepts"),
        Parameter(
            "tsig_algorithm",
            "TSIG algorithm, such as hmac-sha256 or hmac-sha512",
            required=False,
            default="hmac-sha256",
        ),
        Parameter("tsig_secret", "TSIG secret, base64", secret=True),
    )
    ttl_range: ClassVar[TtlRange] = TtlRange(1, 86400)

    #: Seconds to wait for one answer before retrying over TCP, then giving up.
    timeout: float = 5.0

    def __init__(self, params: Mapping[str, str], context: ProviderContext) -> None:
        super().__init__(self.validate_parameters(params), context)
        self._server = Nameserver.parse(self.params["server"])
        self._address: str | None = None
        self._key = dns.tsig.Key(
            self.params["tsig_key_name"],
            tsig_secret(self.params["tsig_secret"]),
            tsig_algorithm(self.params["tsig_algorithm"]),
        )

    @classmethod
    def check_parameters(cls, params: Mapping[str, str]) -> None:
        """Check the server address, key name, algorithm and secret."""
        checks: tuple[tuple[str, Callable[[str], object]], ...] = (
            ("server", Nameserver.parse),
            ("tsig_key_name", dns.name.from_text),
            ("tsig_algorithm", tsig_algorithm),
            ("tsig_secret", tsig_secret),
        )
        for field, check in checks:
            try:
                check(params[field])
            except ValueError as exc:
                # Our checks word these themselves and never repeat a secret.
                rule = str(exc)
            except dns.exception.DNSException:
                rule = "is not a valid DNS name"
            else:
                continue
            raise ProviderParameterError(field, rule, provider=cls.type_name)

    def find_zone(self, name: str) -> str:
        """Walk up from ``name`` asking the server for SOA records, signed.

        A candidate is the zone only when the answer holds an SOA owned by the
        candidate itself; CNAMEs are never followed, and a public suffix such as
        ``co.uk`` is the zone only if this server really serves it.
        """

        def ask_soa(candidate: dns.name.Name) -> dns.message.Message | None:
            query = dns.message.make_query(candidate, dns.rdatatype.SOA)
            query.flags &= ~dns.flags.RD
            query.use_tsig(self._key)
            what = f"the SOA query for {from_dns_name(candidate)}"
            response = self._exchange(query, what=what, name=name)
            if response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return response
            # Not our zone: an authoritative-only server refuses the question.
            return None

        zone = dnsutil.walk_for_zone(name, ask_soa)
        if zone is None:
            raise ZoneNotFoundError(
                f"server {self._server} serves no zone that contains {name}",
                provider=self.type_name,
                name=name,
            )
        logger.debug("zone for %s is %s on %s", name, zone, self._server)
        return zone

    def add_txt_value(self, zone: str, name: str, value: str, ttl: int) -> int:
        """Add one TXT value; values already at ``name`` stay.

        Adding a value that is there already leaves one copy (RFC 2136 section
        3.4.2.2), with the record set's TTL set to the one written.
        """
        written = self.ttl_range.clamp(ttl)
        if written != ttl:
            logger.debug("TTL %d for %s clamped to %d", ttl, name, written)
        update = self._update_message(zone)
        update.add(dnsutil.relative_name(name, zone), written, dnsutil.txt_rdata(value))
        self._send_update(update, zone=zone, name=name, action="add")
        return written

    def has_txt_value(self, zone: str, name: str, value: str) -> bool:
        """Ask the configured server, signed, whether it serves ``value``."""
        owner = dnsutil.to_dns_name(name)
        query = dns.message.make_query(owner, dns.rdatatype.TXT)
        query.flags &= ~dns.flags.RD
        query.use_tsig(self._key)
        response = self._exchange(
            query, what=f"the TXT query for {name}", zone=zone, name=name
        )
        served = {dnsutil.unquote(text) for text in dnsutil.txt_values(response, owner)}
        return dnsutil.unquote(value) in served

    def remove_txt_value(self, zone: str, name: str, value: str) -> None:
        """Delete one TXT value; others stay; a value that is gone already is fine."""
        update = self._update_message(zone)
        update.delete(dnsutil.relative_name(name, zone), dnsutil.txt_rdata(value))
        self._send_update(update, zone=zone, name=name, action="remove")

    def _update_message(self, zone: str) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(dnsutil.to_dns_name(zone), keyring=self._key)

    def _send_update(
        self, update: dns.update.UpdateMessage, *, zone: str, name: str, action: str
    ) -> None:
        what = f"the update of {name} in zone {zone}"
        response = self._exchange(update, what=what, zone=zone, name=name)
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            logger.debug("%s TXT value at %s in zone %s: done", action, name, zone)
            return
        where = f"server {self._server} answered {dns.rcode.to_text(rcode)}"
        if rcode in _AUTH_RCODES:
            raise ProviderAuthError(
                f"{where} to the update of {name} in zone {zone}: the TSIG key "
                f"{self.params['tsig_key_name']!r} may not update that zone",
                provider=self.type_name,
                zone=zone,
                name=name,
            )
        if rcode == dns.rcode.NOTZONE:
            raise ZoneNotFoundError(
                f"{where}: {name} is not in zone {zone}",
                provider=self.type_name,
                zone=zone,
                name=name,
            )
        if rcode == dns.rcode.SERVFAIL:
            raise ProviderUnavailableError(
                f"{where} to the update of {name} in zone {zone}",
                provider=self.type_name,
                zone=zone,
                name=name,
            )
        raise ProviderError(
            f"{where} to the update of {name} in zone {zone}",
            provider=self.type_name,
            zone=zone,
            name=name,
        )

    def _exchange(
        self,
        message: dns.message.Message,
        *,
        what: str,
        zone: str = "",
        name: str = "",
    ) -> dns.message.Message:
        """Send over UDP; over TCP when the answer is truncated or UDP fails.

        Every failure leaves as a ProviderError built from our own words: a
        library's message could quote the request, and the request is signed.
        """
        address = self._resolve_server()
        try:
            return self._exchange_at(address, message)
        except _TSIG_ERRORS as exc:
            raise ProviderAuthError(
                f"server {self._server} rejected the TSIG signature of key "
                f"{self.params['tsig_key_name']!r} on {what} ({type(exc).__name__})",
                provider=self.type_name,
                zone=zone,
                name=name,
            ) from exc
        except dns.exception.Timeout as exc:
            raise ProviderUnavailableError(
                f"server {self._server} did not answer {what} within "
                f"{self.timeout:g} s",
                provider=self.type_name,
                zone=zone,
                name=name,
            ) from exc
        except OSError as exc:
            # UDP went unanswered or was refused, and TCP could not connect.
            raise ProviderUnavailableError(
                f"server {self._server} could not be reached for {what} "
                f"({exc.strerror or type(exc).__name__})",
                provider=self.type_name,
                zone=zone,
                name=name,
            ) from exc
        except dns.exception.DNSException as exc:
            raise ProviderError(
                f"server {self._server} sent an unreadable answer to {what} "
                f"({type(exc).__name__})",
                provider=self.type_name,
                zone=zone,
                name=name,
            ) from exc

    def _exchange_at(
        self, address: str, message: dns.message.Message
    ) -> dns.message.Message:
        port = self._server.port
        try:
            response = dns.query.udp(message, address, timeout=self.timeout, port=port)
        except (dns.exception.Timeout, OSError) as exc:
            logger.debug("UDP to %s failed (%s); retrying over TCP", self._server, exc)
        else:
            if not response.flags & dns.flags.TC:
                return response
            logger.debug("answer from %s truncated; retrying over TCP", self._server)
        return dns.query.tcp(message, address, timeout=self.timeout, port=port)

    def _resolve_server(self) -> str:
        """The server's IP address; a host name is looked up once."""
        if self._address is None:
            host = self._server.host
            try:
                infos = socket.getaddrinfo(
                    host, self._server.port, proto=socket.IPPROTO_UDP
                )
            except OSError as exc:
                raise ProviderUnavailableError(
                    f"cannot resolve server host {host!r}", provider=self.type_name
                ) from exc
            self._address = str(infos[0][4][0])
        return self._address
