"""The PowerDNS provider against a real pdns_server, and stand-ins for its faults."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers.base import Nameserver, ProviderContext
from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderParameterError,
    ProviderUnavailableError,
    ZoneNotFoundError,
)
from providers.powerdns import PowerDnsProvider, quote_txt, unquote_txt
from tests.providers.contract import ProviderContract, ProviderHarness, dns01_value
from tests.servers.powerdns import PowerDnsServer, start_powerdns

ZONES = ("example.com", "training-example.com", "sub.example.com", "example.co.uk")


@pytest.fixture(scope="module")
def pdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerDnsServer]:
    server = start_powerdns(tmp_path_factory.mktemp("pdns"), zones=ZONES)
    yield server
    server.stop()


def make_provider(api_url: str, api_key: str, **extra: str) -> PowerDnsProvider:
    params = PowerDnsProvider.validate_parameters(
        {"api_url": api_url, "api_key": api_key, **extra}
    )
    return PowerDnsProvider(params, ProviderContext())


@pytest.fixture
def provider(pdns: PowerDnsServer) -> Iterator[PowerDnsProvider]:
    provider = make_provider(pdns.api_url, pdns.api_key)
    yield provider
    provider.close()


class TestPowerDnsContract(ProviderContract):
    @pytest.fixture
    def backend(
        self, pdns: PowerDnsServer, provider: PowerDnsProvider
    ) -> ProviderHarness:
        return ProviderHarness(
            provider=provider,
            zone="example.com",
            read_txt=pdns.read_txt,
            put_foreign_txt=lambda name, value: pdns.add_txt(
                "example.com", name, value
            ),
            read_ttl=pdns.read_ttl,
        )


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        pytest.param("_acme-challenge.www.example.com", "example.com", id="below-zone"),
        pytest.param("example.com", "example.com", id="apex"),
        pytest.param(
            "_acme-challenge.a.sub.example.com", "sub.example.com", id="longest-zone"
        ),
        pytest.param(
            "_acme-challenge.www.training-example.com",
            "training-example.com",
            id="label-boundary",
        ),
        pytest.param(
            "_acme-challenge.www.example.co.uk", "example.co.uk", id="two-label-suffix"
        ),
        pytest.param(
            "_acme-challenge.baz.bar.example.com", "example.com", id="deep-name"
        ),
        pytest.param(
            "_acme-challenge.example.com.foo.example.com",
            "example.com",
            id="zone-text-inside-name",
        ),
    ],
)
def test_find_zone(provider: PowerDnsProvider, name: str, zone: str) -> None:
    assert provider.find_zone(name) == zone


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("_acme-challenge.www.badexample.com", id="no-label-boundary"),
        pytest.param("_acme-challenge.example.org", id="other-zone"),
        pytest.param("co.uk", id="public-suffix"),
    ],
)
def test_find_zone_refuses_names_outside_every_zone(
    provider: PowerDnsProvider, name: str
) -> None:
    with pytest.raises(ZoneNotFoundError) as caught:
        provider.find_zone(name)
    assert name in str(caught.value)


def test_twenty_concurrent_presents_then_cleanups(
    pdns: PowerDnsServer, provider: PowerDnsProvider
) -> None:
    # F04: the API replaces whole RRsets, so racing writers must not drop values.
    name = "_acme-challenge.www.example.com"
    values = [dns01_value(f"race {i}") for i in range(20)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(
            pool.map(
                lambda v: provider.add_txt_value("example.com", name, v, 60), values
            )
        )
    assert pdns.read_txt(name) == set(values)

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(
            pool.map(
                lambda v: provider.remove_txt_value("example.com", name, v), values
            )
        )
    assert pdns.read_txt(name) == set()


def test_values_at_different_names_change_concurrently(
    pdns: PowerDnsServer, provider: PowerDnsProvider
) -> None:
    names = [f"_acme-challenge.host{i}.example.com" for i in range(10)]
    value = dns01_value("one value, many names")

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(
            pool.map(
                lambda n: provider.add_txt_value("example.com", n, value, 60), names
            )
        )

    assert [pdns.read_txt(n) for n in names] == [{value}] * 10


def test_wrong_api_key_is_an_auth_error(pdns: PowerDnsServer) -> None:
    provider = make_provider(pdns.api_url, "not-the-key")
    with pytest.raises(ProviderAuthError) as caught:
        provider.find_zone("_acme-challenge.www.example.com")
    provider.close()
    assert "HTTP 401" in str(caught.value)


def test_unknown_zone_on_write(provider: PowerDnsProvider) -> None:
    with pytest.raises(ZoneNotFoundError) as caught:
        provider.add_txt_value(
            "nowhere.test", "_acme-challenge.nowhere.test", dns01_value("x"), 60
        )
    assert "nowhere.test" in str(caught.value)


def test_unreachable_api() -> None:
    provider = make_provider("http://127.0.0.1:9", "key")
    with pytest.raises(ProviderUnavailableError):
        provider.find_zone("_acme-challenge.example.com")
    provider.close()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"api_url": "ftp://x", "api_key": "k"}, "api_url", id="scheme"),
        pytest.param({"api_url": "http://x"}, "api_key", id="missing-key"),
        pytest.param(
            {"api_url": "http://x", "api_key": "k", "nameservers": "192.0.2.1:99999"},
            "nameservers",
            id="bad-nameserver",
        ),
    ],
)
def test_bad_parameters(params: dict[str, str], field: str) -> None:
    with pytest.raises(ProviderParameterError) as caught:
        PowerDnsProvider.validate_parameters(params)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("nameservers", "expected"),
    [
        pytest.param("", None, id="discover"),
        pytest.param(
            "192.0.2.1, 192.0.2.2:5353",
            [Nameserver("192.0.2.1"), Nameserver("192.0.2.2", 5353)],
            id="configured",
        ),
    ],
)
def test_authoritative_servers(
    nameservers: str, expected: list[Nameserver] | None
) -> None:
    provider = make_provider("http://127.0.0.1:9", "k", nameservers=nameservers)
    assert provider.authoritative_servers("example.com") == expected
    provider.close()


@pytest.mark.parametrize(
    ("content", "value"),
    [
        pytest.param('"abc"', "abc", id="quoted"),
        pytest.param('"ab" "c"', "abc", id="split-strings"),
        pytest.param('"a\\"b"', 'a"b', id="escaped-quote"),
    ],
)
def test_txt_quoting_round_trip(content: str, value: str) -> None:
    assert unquote_txt(content) == value
    assert unquote_txt(quote_txt(value)) == value


# Stand-ins: small local HTTP servers that answer the way a real deployment may
# (a proxy that rate limits, a server that echoes headers), which pdns_server
# itself cannot be made to do.


Answer = Callable[[int, dict[str, str]], tuple[int, dict[str, str], bytes]]


class StandIn:
    """A local HTTP server answering from a list of (status, headers, body) rules."""

    def __init__(self, answer: Answer) -> None:
        self.requests: list[dict[str, str]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = dict(self.headers.items())
                stand_in.requests.append(headers)
                status, extra, body = answer(len(stand_in.requests), headers)
                self.send_response(status)
                for key, val in extra.items():
                    self.send_header(key, val)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ZONE_LIST = json.dumps([{"name": "example.com.", "id": "example.com."}]).encode()


def test_rate_limited_twice_then_served() -> None:
    # F22, against a stand-in: two 429 answers, the first naming a Retry-After.
    def answer(
        count: int, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if count == 1:
            return 429, {"Retry-After": "1"}, b"slow down"
        if count == 2:
            return 429, {}, b"slow down"
        return 200, {"Content-Type": "application/json"}, ZONE_LIST

    stand_in = StandIn(answer)
    sleeps: list[float] = []
    params = PowerDnsProvider.validate_parameters(
        {"api_url": stand_in.url, "api_key": "k"}
    )
    provider = PowerDnsProvider(params, ProviderContext(), sleep=sleeps.append)
    try:
        zone = provider.find_zone("_acme-challenge.www.example.com")
    finally:
        provider.close()
        stand_in.stop()

    assert zone == "example.com"
    assert len(stand_in.requests) == 3
    assert sleeps == [1.0, 0.4]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(401, ProviderAuthError, id="401"),
        pytest.param(403, ProviderAuthError, id="403"),
        pytest.param(422, ProviderError, id="422"),
        pytest.param(500, ProviderUnavailableError, id="500"),
    ],
)
def test_api_key_never_in_errors_or_logs(
    caplog: pytest.LogCaptureFixture, status: int, error: type[ProviderError]
) -> None:
    # F21, against a stand-in that echoes the request headers in its error body;
    # the key was saved with a trailing newline, which is trimmed.
    secret = "pdns-secret-3f9a1c"

    def answer(
        count: int, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"error": f"bad request, headers were {headers}"})
        return status, {"Content-Type": "application/json"}, body.encode()

    stand_in = StandIn(answer)
    caplog.set_level(logging.DEBUG)
    provider = make_provider(stand_in.url, secret + "\n")
    try:
        with pytest.raises(error) as caught:
            provider.find_zone("_acme-challenge.www.example.com")
    finally:
        provider.close()
        stand_in.stop()

    assert stand_in.requests[0]["X-API-Key"] == secret
    assert f"HTTP {status}" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in caplog.text


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(
            lambda key: json.dumps({"message": f"Invalid key {key}"}), id="json"
        ),
        pytest.param(
            lambda key: json.dumps({"error": f"key prefix {key[:-1]} mismatch"}),
            id="partial",
        ),
        pytest.param(lambda key: f"bad key: {key[3:12]}", id="fragment"),
    ],
)
def test_an_answer_echoing_part_of_the_key_is_withheld(
    caplog: pytest.LogCaptureFixture, echo: Callable[[str], str]
) -> None:
    # Against a stand-in: the key has characters JSON escapes, and the back end
    # echoes it escaped, in part, or as a fragment.
    secret = 'k"e/yTOPSECRET\\x'

    def answer(
        count: int, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        return 400, {"Content-Type": "application/json"}, echo(secret).encode()

    stand_in = StandIn(answer)
    caplog.set_level(logging.DEBUG)
    provider = make_provider(stand_in.url, secret)
    try:
        with pytest.raises(ProviderError) as caught:
            provider.find_zone("_acme-challenge.www.example.com")
    finally:
        provider.close()
        stand_in.stop()

    message = str(caught.value)
    assert message.endswith("the answer was withheld: it repeated part of the API key")
    assert "TOPSECRET" not in message
    assert "TOPSECRET" not in caplog.text


def test_an_api_url_holding_a_password_is_refused() -> None:
    with pytest.raises(ProviderParameterError) as caught:
        PowerDnsProvider.validate_parameters(
            {"api_url": "http://user:pa55word@127.0.0.1:8081", "api_key": "k"}
        )

    assert caught.value.field == "api_url"
    assert "pa55word" not in str(caught.value)
