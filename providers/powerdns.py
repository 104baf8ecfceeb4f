"""The PowerDNS Authoritative HTTP API as a provider."""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import httpx

from providers.base import (
    Nameserver,
    Parameter,
    Provider,
    ProviderContext,
    TtlRange,
    retry_rate_limited,
)
from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderParameterError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    ZoneNotFoundError,
)

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0
# Back-end error text is shown to users only up to this length.
MAX_DETAIL = 200


class PowerDnsRateLimitedError(ProviderRateLimitedError):
    """PowerDNS (or a proxy in front of it) answered 429."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, provider=PowerDnsProvider.type_name)
        self.retry_after = retry_after


def quote_txt(value: str) -> str:
    """Zone-file text for one TXT string, as the PowerDNS API expects it."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def unquote_txt(content: str) -> str:
    """The bare value of a TXT record's zone-file text; its strings are joined."""
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, content)
    except dns.exception.DNSException:
        # Not valid zone-file text; compare it as written.
        return content
    return b"".join(rdata.strings).decode(errors="replace")  # type: ignore[attr-defined]


def _parse_retry_after(header: str | None) -> float | None:
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class PowerDnsProvider(Provider):
    """Writes TXT values through the PowerDNS Authoritative HTTP API.

    The API replaces whole RRsets, so each change reads the RRset, merges one
    value in or out, and writes the result under a lock, so that concurrent
    changes at one name in this process never lose each other's values. The lock
    is per zone, not per name: every PATCH also bumps the zone's SOA serial, and
    back ends such as SQLite fail concurrent edits of one zone outright.
    """

    type_name: ClassVar[str] = "powerdns"
    title: ClassVar[str] = "PowerDNS Authoritative (HTTP API)"
    parameters: ClassVar[tuple[Parameter, ...]] = (
        Parameter("api_url", "Base URL of the API, e.g. http://ns1.example.net:8081"),
        Parameter("api_key", "Value of the X-API-Key header", secret=True),
        Parameter(
            "server_id",
            "Server id in API paths",
            required=False,
            default="localhost",
        ),
        Parameter(
            "nameservers",
            "Servers to check for propagation (host:port, comma separated); "
            "empty to find them through NS records",
            required=False,
        ),
    )
    ttl_range: ClassVar[TtlRange] = TtlRange(minimum=1, maximum=86400)

    def __init__(
        self,
        params: Mapping[str, str],
        context: ProviderContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(params, context)
        self._api_key = self.params.get("api_key", "").strip()
        server_id = self.params.get("server_id") or "localhost"
        base = self.params["api_url"].rstrip("/")
        self._client = httpx.Client(
            base_url=f"{base}/api/v1/servers/{quote(server_id, safe='')}",
            headers={"X-API-Key": self._api_key, "Accept": "application/json"},
            timeout=REQUEST_TIMEOUT,
        )
        self._sleep = sleep
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def check_parameters(cls, params: Mapping[str, str]) -> None:
        url = urlsplit(params["api_url"])
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ProviderParameterError(
                "api_url", "must be an http or https URL", provider=cls.type_name
            )
        if url.username or url.password:
            # api_url is not secret: it is shown to every credential reader.
            raise ProviderParameterError(
                "api_url",
                "must not hold a user name or password; put the key in api_key",
                provider=cls.type_name,
            )
        for text in _split_list(params.get("nameservers", "")):
            try:
                Nameserver.parse(text)
            except ValueError:
                raise ProviderParameterError(
                    "nameservers", f"bad address {text!r}", provider=cls.type_name
                ) from None

    def find_zone(self, name: str) -> str:
        """Return the longest zone PowerDNS serves that holds ``name``."""
        zones = [
            str(z.get("name", "")).rstrip(".").lower()
            for z in self._request("GET", "/zones", name=name)
        ]
        candidates = [z for z in zones if name == z or name.endswith("." + z)]
        if not candidates:
            raise ZoneNotFoundError(
                f"PowerDNS serves no zone that holds {name}",
                provider=self.type_name,
                name=name,
            )
        zone = max(candidates, key=len)
        logger.debug("zone for %s is %s", name, zone)
        return zone

    def add_txt_value(self, zone: str, name: str, value: str, ttl: int) -> int:
        """Add ``value`` to the TXT RRset at ``name``; the RRset takes the new TTL."""
        ttl = self.ttl_range.clamp(ttl)
        with self._lock_for(zone):
            contents, _ = self._read_txt(zone, name)
            if value in (unquote_txt(c) for c in contents):
                logger.debug("TXT value already at %s", name)
                return ttl
            self._replace_txt(zone, name, [*contents, quote_txt(value)], ttl)
        logger.debug("added TXT value at %s in zone %s", name, zone)
        return ttl

    def remove_txt_value(self, zone: str, name: str, value: str) -> None:
        """Remove ``value`` from the TXT RRset at ``name``; the other values stay."""
        with self._lock_for(zone):
            contents, current_ttl = self._read_txt(zone, name)
            kept = [c for c in contents if unquote_txt(c) != value]
            if len(kept) == len(contents):
                logger.debug("TXT value already gone at %s", name)
                return
            if kept:
                self._replace_txt(zone, name, kept, current_ttl)
            else:
                self._delete_txt(zone, name)
        logger.debug("removed TXT value at %s in zone %s", name, zone)

    def has_txt_value(self, zone: str, name: str, value: str) -> bool:
        """Read the TXT record set at ``name`` and look for ``value``."""
        contents, _ = self._read_txt(zone, name)
        return value in {unquote_txt(content) for content in contents}

    def authoritative_servers(self, zone: str) -> list[Nameserver] | None:
        """The configured ``nameservers``, or None to find them through NS records."""
        configured = _split_list(self.params.get("nameservers", ""))
        if not configured:
            return None
        return [Nameserver.parse(text) for text in configured]

    def close(self) -> None:
        self._client.close()

    def _lock_for(self, zone: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(zone, threading.Lock())

    def _read_txt(self, zone: str, name: str) -> tuple[list[str], int]:
        """The zone-file text of each TXT record at ``name``, and the RRset's TTL."""
        # rrset_name/rrset_type narrow the answer on PowerDNS 4.8 and later; older
        # versions ignore them and send the whole zone, so filter here as well.
        data = self._request(
            "GET",
            f"/zones/{_zone_id(zone)}",
            params={"rrset_name": f"{name}.", "rrset_type": "TXT"},
            zone=zone,
            name=name,
        )
        for rrset in data.get("rrsets", []):
            if rrset.get("type") == "TXT" and _same_name(rrset.get("name", ""), name):
                contents = [str(r["content"]) for r in rrset.get("records", [])]
                return contents, int(rrset.get("ttl", 0))
        return [], 0

    def _replace_txt(self, zone: str, name: str, contents: list[str], ttl: int) -> None:
        rrset = {
            "name": f"{name}.",
            "type": "TXT",
            "ttl": ttl or self.ttl_range.minimum,
            "changetype": "REPLACE",
            "records": [{"content": c, "disabled": False} for c in contents],
        }
        self._patch(zone, name, rrset)

    def _delete_txt(self, zone: str, name: str) -> None:
        rrset = {"name": f"{name}.", "type": "TXT", "changetype": "DELETE"}
        self._patch(zone, name, rrset)

    def _patch(self, zone: str, name: str, rrset: dict[str, Any]) -> None:
        self._request(
            "PATCH",
            f"/zones/{_zone_id(zone)}",
            json={"rrsets": [rrset]},
            zone=zone,
            name=name,
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        zone: str = "",
        name: str = "",
        **kwargs: Any,
    ) -> Any:
        """Send one API request, retrying while rate limited; returns decoded JSON."""

        def attempt() -> Any:
            return self._send_once(method, path, zone=zone, name=name, **kwargs)

        return retry_rate_limited(
            attempt,
            sleep=self._sleep,
            retry_after=lambda exc: getattr(exc, "retry_after", None),
        )

    def _send_once(
        self, method: str, path: str, *, zone: str, name: str, **kwargs: Any
    ) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            # httpx messages name the URL, never the headers; still, keep only
            # the class name so nothing a proxy put in the text can leak.
            raise ProviderUnavailableError(
                f"PowerDNS API unreachable ({type(exc).__name__})",
                provider=self.type_name,
                zone=zone,
                name=name,
            ) from exc
        if response.status_code < 300:
            return response.json() if response.content else {}
        raise self._error_for(response, zone=zone, name=name)

    def _error_for(
        self, response: httpx.Response, *, zone: str, name: str
    ) -> ProviderError:
        status = response.status_code
        where = {"provider": self.type_name, "zone": zone, "name": name}
        if status in (401, 403):
            # The body of an auth failure may echo our headers: never show it.
            return ProviderAuthError(
                f"PowerDNS refused the API key (HTTP {status})", **where
            )
        if status == 429:
            return PowerDnsRateLimitedError(
                "PowerDNS rate limited the request (HTTP 429)",
                retry_after=_parse_retry_after(response.headers.get("Retry-After")),
            )
        detail = self._scrub(_error_text(response))
        if status == 404 and zone:
            return ZoneNotFoundError(
                f"PowerDNS does not serve zone {zone} (HTTP 404)", **where
            )
        if status >= 500:
            return ProviderUnavailableError(
                f"PowerDNS failed (HTTP {status}): {detail}", **where
            )
        return ProviderError(
            f"PowerDNS refused the change (HTTP {status}): {detail}", **where
        )

    def _scrub(self, text: str) -> str:
        """Back-end text cut short; withheld whole if it echoes any of the key.

        A back end may echo the key escaped (JSON) or in part, so replacing the
        exact key is not enough: any run of ECHO_WINDOW of its characters, as
        written or escaped, withholds the text.
        """
        if self._api_key and _echoes(text, self._api_key):
            return "the answer was withheld: it repeated part of the API key"
        text = " ".join(text.split())
        if len(text) > MAX_DETAIL:
            text = text[:MAX_DETAIL] + "..."
        return text or "no detail"


# Key fragments shorter than this are too common to mean an echo.
ECHO_WINDOW = 6


def _echoes(text: str, secret: str) -> bool:
    """Whether ``text`` holds ECHO_WINDOW characters of ``secret`` in a row."""
    escaped = json.dumps(secret)[1:-1]
    for form in {secret, escaped}:
        if len(form) <= ECHO_WINDOW:
            if form in text:
                return True
            continue
        for start in range(len(form) - ECHO_WINDOW + 1):
            if form[start : start + ECHO_WINDOW] in text:
                return True
    return False


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return response.text


def _zone_id(zone: str) -> str:
    # PowerDNS zone ids are the absolute name; names here are A-labels, so
    # nothing needs the API's own =XX escaping, but the path is still quoted.
    return quote(f"{zone}.", safe=".")


def _same_name(api_name: str, name: str) -> bool:
    return api_name.rstrip(".").lower() == name


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
