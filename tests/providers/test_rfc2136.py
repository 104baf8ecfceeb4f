"""The rfc2136 provider against a real BIND9 server."""

from __future__ import annotations

import base64
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from providers.base import ProviderContext, provider_type
from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderParameterError,
    ProviderUnavailableError,
    ZoneNotFoundError,
)
from providers.rfc2136 import Rfc2136Provider
from tests.providers.conftest import rfc2136_provider
from tests.providers.contract import (
    VALUE_A,
    VALUE_B,
    ProviderContract,
    ProviderHarness,
    dns01_value,
)
from tests.servers.bind import BindServer
from tests.servers.ports import free_port


class TestRfc2136Contract(ProviderContract):
    @pytest.fixture
    def backend(self, bind_server: BindServer) -> ProviderHarness:
        return ProviderHarness(
            provider=rfc2136_provider(bind_server),
            zone="example.com",
            read_txt=bind_server.read_txt,
            put_foreign_txt=bind_server.put_txt,
            read_ttl=bind_server.read_ttl,
        )


def test_registered_under_its_type_name() -> None:
    assert provider_type("rfc2136") is Rfc2136Provider


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        # F06: a zone right under a two-label public suffix.
        pytest.param("_acme-challenge.www.example.co.uk", "example.co.uk", id="F06"),
        # F07: a deep name in a shallow zone.
        pytest.param("_acme-challenge.baz.bar.example.org", "example.org", id="F07"),
        # F08: the validation name is a zone of its own, delegated.
        pytest.param(
            "_acme-challenge.host.example.com",
            "_acme-challenge.host.example.com",
            id="F08",
        ),
        # F09: a suffix that does not fall on a label boundary.
        pytest.param(
            "_acme-challenge.www.training-example.com",
            "training-example.com",
            id="F09-training-example",
        ),
        # F15: the zone's text appears inside the name.
        pytest.param(
            "_acme-challenge.example.com.foo.example.com", "example.com", id="F15"
        ),
        # F25: a CNAME at the validation name is not followed by the walk.
        pytest.param(
            "_acme-challenge.www.example.com", "example.com", id="F25-cname-owner"
        ),
        pytest.param("www.acme.example.org", "example.org", id="F25-cname-target"),
        # F26: a CNAME on a parent never redirects the walk.
        pytest.param("_acme-challenge.app.example.com", "example.com", id="F26"),
        pytest.param("app.example.com", "example.com", id="F26-cname-itself"),
        pytest.param("example.com", "example.com", id="apex"),
    ],
)
def test_find_zone(bind_server: BindServer, name: str, zone: str) -> None:
    assert rfc2136_provider(bind_server).find_zone(name) == zone


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("_acme-challenge.www.example.edu", id="unserved-zone"),
        pytest.param("_acme-challenge.co.uk", id="public-suffix-not-served"),
    ],
)
def test_find_zone_not_served(bind_server: BindServer, name: str) -> None:
    with pytest.raises(ZoneNotFoundError, match=name.replace(".", r"\.")):
        rfc2136_provider(bind_server).find_zone(name)


@pytest.mark.parametrize(
    ("identifier", "zone", "relative"),
    [
        pytest.param(
            "www.example.co.uk", "example.co.uk", "_acme-challenge.www", id="F06"
        ),
        pytest.param(
            "baz.bar.example.org", "example.org", "_acme-challenge.baz.bar", id="F07"
        ),
        pytest.param(
            "host.example.com", "_acme-challenge.host.example.com", "@", id="F08"
        ),
        pytest.param(
            "example.com.foo.example.com",
            "example.com",
            "_acme-challenge.example.com.foo",
            id="F15",
        ),
    ],
)
def test_present_writes_into_the_right_zone(
    bind_server: BindServer, identifier: str, zone: str, relative: str
) -> None:
    provider = rfc2136_provider(bind_server)
    name = f"_acme-challenge.{identifier}"

    found = provider.find_zone(name)
    provider.add_txt_value(found, name, VALUE_A, 60)

    assert found == zone
    assert bind_server.read_txt(name) == {VALUE_A}
    # The record sits in the zone file under the relative owner expected.
    zone_dump = bind_server.zone_records(zone)
    assert (relative, VALUE_A) in zone_dump

    provider.remove_txt_value(found, name, VALUE_A)
    assert bind_server.read_txt(name) == set()


def test_apex_and_wildcard_values_together(bind_server: BindServer) -> None:
    # F01 and F03 at the real names: the zone holds "manual-proof" at the
    # validation name and SPF at the apex before the hub comes along.
    provider = rfc2136_provider(bind_server)
    name = "_acme-challenge.example.com"
    zone = provider.find_zone(name)

    provider.add_txt_value(zone, name, VALUE_A, 60)
    provider.add_txt_value(zone, name, VALUE_B, 60)
    assert bind_server.read_txt(name) == {"manual-proof", VALUE_A, VALUE_B}

    provider.remove_txt_value(zone, name, VALUE_A)
    assert bind_server.read_txt(name) == {"manual-proof", VALUE_B}

    provider.remove_txt_value(zone, name, VALUE_B)
    assert bind_server.read_txt(name) == {"manual-proof"}
    assert bind_server.read_txt("example.com") == {"v=spf1 -all"}


@pytest.mark.parametrize(
    "algorithm",
    [
        pytest.param("hmac-sha256", id="lower"),
        pytest.param("HMAC-SHA256", id="upper"),
        pytest.param("hmac-sha256.", id="trailing-dot"),
        pytest.param(" Hmac-Sha256. ", id="mixed-and-spaces"),
    ],
)
def test_tsig_algorithm_spellings(bind_server: BindServer, algorithm: str) -> None:
    # F17: people copy the algorithm from named.conf, from dig, or from a zone.
    provider = rfc2136_provider(bind_server, tsig_algorithm=algorithm)
    name = "_acme-challenge.f17.example.com"

    provider.add_txt_value("example.com", name, VALUE_A, 60)
    assert bind_server.read_txt(name) == {VALUE_A}
    provider.remove_txt_value("example.com", name, VALUE_A)


def test_secret_with_trailing_newline_is_trimmed(bind_server: BindServer) -> None:
    # F21: a secret pasted from a file keeps its newline.
    provider = rfc2136_provider(bind_server, tsig_secret=bind_server.tsig_secret + "\n")
    assert provider.find_zone("example.com") == "example.com"


WRONG_SECRET = base64.b64encode(b"not the key the server knows, 32b").decode()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        pytest.param({"tsig_secret": WRONG_SECRET}, ProviderAuthError, id="bad-secret"),
        pytest.param(
            {"tsig_key_name": "unknown-key", "tsig_secret": WRONG_SECRET},
            ProviderAuthError,
            id="unknown-key",
        ),
        pytest.param(
            {"tsig_algorithm": "hmac-sha512"}, ProviderAuthError, id="bad-algorithm"
        ),
    ],
)
def test_refused_credentials_never_echo_the_secret(
    bind_server: BindServer,
    overrides: dict[str, str],
    error: type[ProviderError],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = rfc2136_provider(bind_server, **overrides)
    secret = overrides.get("tsig_secret", bind_server.tsig_secret)

    with pytest.raises(error) as caught:
        provider.add_txt_value(
            "example.com", "_acme-challenge.example.com", VALUE_A, 60
        )

    assert "example.com" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in caplog.text
    assert VALUE_A not in bind_server.read_txt("_acme-challenge.example.com")


def test_update_outside_allowed_zone_is_refused(bind_server: BindServer) -> None:
    # The key may update the zones it was given; a zone the server lacks is
    # refused rather than quietly written somewhere else.
    provider = rfc2136_provider(bind_server)
    with pytest.raises(ProviderAuthError, match="REFUSED|NOTAUTH"):
        provider.add_txt_value(
            "example.edu", "_acme-challenge.example.edu", VALUE_A, 60
        )


def test_server_down_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = base64.b64encode(b"k" * 32).decode()
    params = {
        "server": f"127.0.0.1:{free_port()}",
        "tsig_key_name": "hub-update-key",
        "tsig_secret": secret,
    }
    provider = Rfc2136Provider(params, ProviderContext())
    provider.timeout = 0.3

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.find_zone("_acme-challenge.example.com")

    # Nothing listens there: UDP is refused and TCP cannot connect.
    assert "could not be reached for the SOA query" in str(caught.value)
    assert "Connection refused" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in caplog.text


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"server": "127.0.0.1:99999"}, "server", id="port-out-of-range"),
        pytest.param({"server": ""}, "server", id="server-missing"),
        pytest.param({"tsig_algorithm": "hmac-sha999"}, "tsig_algorithm", id="algo"),
        pytest.param({"tsig_secret": "not base64!"}, "tsig_secret", id="secret"),
        pytest.param({"tsig_key_name": "a..b"}, "tsig_key_name", id="key-name"),
        pytest.param({"other": "x"}, "other", id="unknown-parameter"),
    ],
)
def test_parameters_checked(overrides: dict[str, str], field: str) -> None:
    params = {
        "server": "127.0.0.1:53",
        "tsig_key_name": "hub-update-key",
        "tsig_secret": base64.b64encode(b"k" * 32).decode(),
        **overrides,
    }
    with pytest.raises(ProviderParameterError) as caught:
        Rfc2136Provider.validate_parameters(params)

    assert caught.value.field == field
    if "tsig_secret" in overrides:
        assert overrides["tsig_secret"] not in str(caught.value)


def test_default_algorithm_filled_in() -> None:
    params = Rfc2136Provider.validate_parameters(
        {
            "server": "127.0.0.1:53",
            "tsig_key_name": "k",
            "tsig_secret": base64.b64encode(b"k" * 32).decode(),
        }
    )
    assert params["tsig_algorithm"] == "hmac-sha256"


def test_authoritative_servers_are_discovered(bind_server: BindServer) -> None:
    assert rfc2136_provider(bind_server).authoritative_servers("example.com") is None


def test_concurrent_presents_and_cleanups(bind_server: BindServer) -> None:
    # Single-record adds and deletes need no lock: 20 clients at one name at
    # once all get their value served, and all of them are gone afterwards.
    provider = rfc2136_provider(bind_server)
    name = "_acme-challenge.race.example.com"
    values = [dns01_value(f"race {index}") for index in range(20)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(
            pool.map(
                lambda v: provider.add_txt_value("example.com", name, v, 60), values
            )
        )
        assert bind_server.read_txt(name) == set(values)
        list(
            pool.map(
                lambda v: provider.remove_txt_value("example.com", name, v), values
            )
        )

    assert bind_server.read_txt(name) == set()


def test_find_zone_with_a_wrong_key_is_an_auth_error(bind_server: BindServer) -> None:
    # A signed SOA query with a bad key must not read as "no zone here".
    provider = rfc2136_provider(bind_server, tsig_secret=WRONG_SECRET)

    with pytest.raises(ProviderAuthError, match="SOA query") as caught:
        provider.find_zone("_acme-challenge.www.example.com")

    assert WRONG_SECRET not in str(caught.value)
