"""The hub's own authoritative DNS: its record store, and the provider writing to it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import ClassVar, Protocol, runtime_checkable

from providers.base import Nameserver, Parameter, Provider, ProviderContext, TtlRange
from providers.errors import (
    ProviderParameterError,
    ProviderUnavailableError,
    ZoneNotFoundError,
)

logger = logging.getLogger(__name__)


class EmbeddedRecordStore(Protocol):
    """Where the embedded DNS server finds TXT values; calls block, run them off-loop.

    Names are absolute, lower case, A-labels, without the trailing dot.
    """

    def add(self, name: str, value: str, ttl: int) -> None:
        """Add a TXT value at ``name``; adding it again only updates its TTL."""

    def remove(self, name: str, value: str) -> None:
        """Remove a TXT value at ``name``; an absent value is fine."""

    def lookup(self, name: str) -> list[tuple[str, int]]:
        """Every (value, ttl) at ``name``, oldest first; empty when there is none."""
        ...

    def has_descendants(self, name: str) -> bool:
        """True when some value lives below ``name`` (an empty non-terminal)."""
        ...


@runtime_checkable
class EmbeddedDns(Protocol):
    """What the embedded provider needs of a running server: its store and address."""

    @property
    def store(self) -> EmbeddedRecordStore: ...

    @property
    def zones(self) -> list[str]: ...

    @property
    def address(self) -> Nameserver: ...


class InMemoryRecordStore:
    """An ``EmbeddedRecordStore`` in a dict, for one hub process and for tests."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, value: str, ttl: int) -> None:
        with self._lock:
            self._records.setdefault(name, {})[value] = ttl

    def remove(self, name: str, value: str) -> None:
        with self._lock:
            values = self._records.get(name)
            if values is None:
                return
            values.pop(value, None)
            if not values:
                del self._records[name]

    def lookup(self, name: str) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._records.get(name, {}).items())

    def has_descendants(self, name: str) -> bool:
        suffix = "." + name
        with self._lock:
            return any(key.endswith(suffix) for key in self._records)


def zone_for(name: str, zones: list[str]) -> str | None:
    """The longest of ``zones`` that holds ``name`` on a label boundary, or None."""
    found = [z for z in zones if name == z or name.endswith("." + z)]
    return max(found, key=len) if found else None


class EmbeddedProvider(Provider):
    """Publishes TXT values through the hub's own authoritative DNS server.

    It needs no credentials: the hub lends it the running server through
    ``ProviderContext.embedded``. The optional ``zones`` parameter narrows the
    server's zones to those this provider may write.
    """

    type_name: ClassVar[str] = "embedded"
    title: ClassVar[str] = "Embedded DNS server"
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter(
            "zones",
            "Zones of the embedded server to write (comma separated); empty for all",
            required=False,
        ),
    )
    ttl_range: ClassVar[TtlRange] = TtlRange(minimum=1, maximum=3600)

    def __init__(self, params: Mapping[str, str], context: ProviderContext) -> None:
        super().__init__(params, context)
        self._allowed = [
            z.strip().rstrip(".").lower()
            for z in self.params.get("zones", "").replace(";", ",").split(",")
            if z.strip()
        ]

    @classmethod
    def check_parameters(cls, params: Mapping[str, str]) -> None:
        for zone in params.get("zones", "").replace(";", ",").split(","):
            zone = zone.strip()
            if zone and (" " in zone or zone.startswith(".")):
                raise ProviderParameterError(
                    "zones", f"bad zone name {zone!r}", provider=cls.type_name
                )

    def find_zone(self, name: str) -> str:
        """The longest served (and allowed) zone that holds ``name``."""
        zone = zone_for(name, self._zones())
        if zone is None:
            raise ZoneNotFoundError(
                f"the embedded DNS server serves no zone that holds {name}",
                provider=self.type_name,
                name=name,
            )
        logger.debug("zone for %s is %s", name, zone)
        return zone

    def add_txt_value(self, zone: str, name: str, value: str, ttl: int) -> int:
        """Add ``value`` at ``name``; it is served from the next query on."""
        ttl = self.ttl_range.clamp(ttl)
        self._check_zone(zone, name)
        self._server().store.add(name, value, ttl)
        logger.debug("added TXT value at %s in zone %s", name, zone)
        return ttl

    def has_txt_value(self, zone: str, name: str, value: str) -> bool:
        self._check_zone(zone, name)
        return any(served == value for served, _ in self._server().store.lookup(name))

    def remove_txt_value(self, zone: str, name: str, value: str) -> None:
        """Remove ``value`` at ``name``; the other values stay."""
        self._check_zone(zone, name)
        self._server().store.remove(name, value)
        logger.debug("removed TXT value at %s in zone %s", name, zone)

    def authoritative_servers(self, zone: str) -> list[Nameserver] | None:
        """The embedded server itself: it is the only authority for its zones."""
        return [self._server().address]

    def _server(self) -> EmbeddedDns:
        embedded = self.context.embedded
        if not isinstance(embedded, EmbeddedDns):
            raise ProviderUnavailableError(
                "the embedded DNS server is not running in this hub",
                provider=self.type_name,
            )
        return embedded

    def _zones(self) -> list[str]:
        served = self._server().zones
        if not self._allowed:
            return list(served)
        return [z for z in served if z in self._allowed]

    def _check_zone(self, zone: str, name: str) -> None:
        if zone not in self._zones() or zone_for(name, [zone]) is None:
            raise ZoneNotFoundError(
                f"{name} is not in a zone of the embedded DNS server",
                provider=self.type_name,
                zone=zone,
                name=name,
            )
