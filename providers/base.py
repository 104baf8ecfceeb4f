"""The interface every DNS provider implements, and the registry that finds them."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import ClassVar, TypeVar

from providers.errors import (
    ProviderParameterError,
    ProviderRateLimitedError,
    UnknownProviderError,
)

ENTRY_POINT_GROUP = "challenge_hub.providers"


@dataclass(frozen=True)
class Parameter:
    """One configuration parameter of a provider type."""

    name: str
    description: str
    secret: bool = False
    required: bool = True
    default: str = ""


@dataclass(frozen=True)
class TtlRange:
    """The TTLs a back end accepts; requests outside are clamped into it."""

    minimum: int
    maximum: int

    def clamp(self, ttl: int) -> int:
        return max(self.minimum, min(self.maximum, ttl))


@dataclass(frozen=True)
class Nameserver:
    """An address to send DNS queries to: an IP literal and a port."""

    host: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str, default_port: int = 53) -> Nameserver:
        """Read ``host``, ``host:port`` or ``[v6]:port``; raises ValueError."""
        text = text.strip()
        if not text:
            raise ValueError("empty address")
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
        else:
            host, port_text = text, ""
        port = int(port_text) if port_text else default_port
        if not host or not 0 < port < 65536:
            raise ValueError(f"bad address {text!r}")
        return cls(host, port)


@dataclass
class ProviderContext:
    """What the hub lends every provider: its resolvers and, if any, its embedded DNS.

    ``authoritative_port`` is the port used to query authoritative servers found
    through NS records (53 in production; tests run servers on other ports).
    """

    resolvers: list[Nameserver] = field(default_factory=list)
    authoritative_port: int = 53
    embedded: object | None = None


class Provider(abc.ABC):
    """A DNS back end that can add and remove single TXT values.

    Names passed in and returned are absolute, lower case, A-labels (punycode),
    without the trailing dot. Methods are blocking; the hub calls them from worker
    threads. Every failure is raised as a ``ProviderError`` whose message holds no
    credential.
    """

    type_name: ClassVar[str]
    title: ClassVar[str]
    parameters: ClassVar[tuple[Parameter, ...]]
    ttl_range: ClassVar[TtlRange]

    def __init__(self, params: Mapping[str, str], context: ProviderContext) -> None:
        self.params = dict(params)
        self.context = context

    @classmethod
    def validate_parameters(cls, params: Mapping[str, str]) -> dict[str, str]:
        """Return the parameters trimmed and completed with defaults.

        Raises:
            ProviderParameterError: a parameter is unknown, or required and empty.
        """
        known = {p.name: p for p in cls.parameters}
        for name in params:
            if name not in known:
                raise ProviderParameterError(
                    name,
                    f"unknown for provider {cls.type_name}",
                    provider=cls.type_name,
                )
        result: dict[str, str] = {}
        for param in cls.parameters:
            value = params.get(param.name, "").strip() or param.default
            if param.required and not value:
                raise ProviderParameterError(
                    param.name, "is required", provider=cls.type_name
                )
            result[param.name] = value
        cls.check_parameters(result)
        return result

    @classmethod  # noqa: B027
    def check_parameters(cls, params: Mapping[str, str]) -> None:
        """Check the form of each parameter; raise ProviderParameterError when bad.

        Optional: the default accepts every value.
        """

    @abc.abstractmethod
    def find_zone(self, name: str) -> str:
        """Return the zone the back end serves that holds ``name``.

        Raises:
            ZoneNotFoundError: no served zone contains the name.
        """

    @abc.abstractmethod
    def add_txt_value(self, zone: str, name: str, value: str, ttl: int) -> int:
        """Add one TXT value at ``name``; other values there stay.

        Adding a value that is already present is not an error. Returns the TTL
        written, after clamping to ``ttl_range``.
        """

    @abc.abstractmethod
    def remove_txt_value(self, zone: str, name: str, value: str) -> None:
        """Remove one TXT value at ``name``; other values stay; absent is fine."""

    def has_txt_value(self, zone: str, name: str, value: str) -> bool | None:
        """Whether ``value`` is at ``name`` already, or None when unknown.

        The hub asks before adding, so that a value it did not put there (left
        by hand, or by another tool) is never removed by its cleanup.
        """
        return None

    def authoritative_servers(self, zone: str) -> list[Nameserver] | None:
        """Name the servers to check for propagation, or None to discover them."""
        return None

    def close(self) -> None:  # noqa: B027
        """Release connections; the provider is not used afterwards (optional)."""


def retry_rate_limited(
    call: Callable[[], T],
    *,
    attempts: int = 5,
    first_delay: float = 0.2,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    retry_after: Callable[[ProviderRateLimitedError], float | None] = lambda e: None,
) -> T:
    """Run ``call``, retrying with exponential back-off while it is rate limited."""
    delay = first_delay
    for attempt in range(attempts):
        try:
            return call()
        except ProviderRateLimitedError as exc:
            if attempt == attempts - 1:
                raise
            wait = retry_after(exc)
            sleep(min(max_delay, wait if wait is not None else delay))
            delay = min(max_delay, delay * 2)
    raise AssertionError("unreachable")


T = TypeVar("T")

_registry: dict[str, type[Provider]] | None = None


def provider_types() -> dict[str, type[Provider]]:
    """Every provider type registered in the entry-point group, by type name."""
    global _registry
    if _registry is None:
        found: dict[str, type[Provider]] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            cls = ep.load()
            if isinstance(cls, type) and issubclass(cls, Provider):
                found[ep.name] = cls
        _registry = found
    return _registry


def provider_type(type_name: str) -> type[Provider]:
    """Return the provider class registered as ``type_name``."""
    try:
        return provider_types()[type_name]
    except KeyError:
        raise UnknownProviderError(type_name) from None


def reload_provider_types() -> None:
    """Forget the registry so the next lookup reads the entry points again."""
    global _registry
    _registry = None
