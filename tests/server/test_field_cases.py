"""The dns-01 field cases F01-F26, each through a real hub and a real DNS server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from hub_client.client import HubClient
from hub_client.errors import HubClientError
from hub_client.hub.v1 import challenge_pb2, credential_pb2
from tests.bridge.stack import consumer_token, hub_env
from tests.server.challenge_support import (
    CLEANED,
    EXAMPLE_RULE,
    FAILED,
    PROPAGATING,
    READY,
    cleanup,
    create_config,
    create_credential,
    new_value,
    pdns_env,
    pdns_params,
    perform,
    wait_for_state,
)
from tests.servers.bind import BindServer, bind_group
from tests.servers.hub import HubServer
from tests.servers.powerdns import PowerDnsServer

# -- BIND9 through RFC 2136 ---------------------------------------------------


@pytest.fixture(scope="module")
def admin(bind_hub: HubServer) -> Iterator[HubClient]:
    with bind_hub.client() as client:
        yield client


@pytest.fixture(scope="module")
def credential_id(admin: HubClient, bind: BindServer) -> str:
    return create_credential(admin, bind.provider_params())


@pytest.fixture(scope="module")
def configs(admin: HubClient, credential_id: str) -> dict[str, str]:
    """The configs the cases use, by rule; no propagation servers are configured,
    so the hub finds every zone's authoritative servers itself."""
    rules = (
        EXAMPLE_RULE,
        "**.example.org",
        "**.example.co.uk",
        "**.foo.example.com",
        "*.xn--bro-hoa.example.net; *.bücher.example.net",
    )
    return {rule: create_config(admin, credential_id, rule).id for rule in rules}


@pytest.fixture(scope="module")
def consumer(
    bind_hub: HubServer, admin: HubClient, configs: dict[str, str]
) -> Iterator[HubClient]:
    with bind_hub.client(consumer_token(admin, "field cases")) as client:
        yield client


def test_F01_two_values_at_one_name(consumer: HubClient, bind: BindServer) -> None:
    apex, wildcard = new_value(), new_value()

    first = perform(consumer, "example.com", apex)
    second = perform(consumer, "*.example.com", wildcard)
    served = bind.read_txt("_acme-challenge.example.com")
    cleanup(consumer, "example.com", apex)

    assert (first.state, second.state) == (READY, READY)
    assert first.validation_name == second.validation_name
    assert {apex, wildcard} <= served
    assert bind.read_txt("_acme-challenge.example.com") == {"manual-proof", wildcard}
    cleanup(consumer, "*.example.com", wildcard)


def test_F03_foreign_values_stay(consumer: HubClient, bind: BindServer) -> None:
    foreign = {("@", "v=spf1 -all"), ("_acme-challenge", "manual-proof")}
    value = new_value()

    perform(consumer, "example.com", value)
    during = bind.zone_records("example.com")
    cleanup(consumer, "example.com", value)
    after = bind.zone_records("example.com")

    assert foreign | {("_acme-challenge", value)} <= during
    assert foreign <= after
    assert ("_acme-challenge", value) not in after


def test_F05_stale_leftover_is_no_conflict(
    consumer: HubClient, bind: BindServer
) -> None:
    leftover, value = new_value(), new_value()
    bind.put_txt("_acme-challenge.stale.example.com", leftover)

    operation = perform(consumer, "stale.example.com", value)
    served = bind.read_txt("_acme-challenge.stale.example.com")
    cleanup(consumer, "stale.example.com", value)

    assert operation.state == READY
    assert served == {leftover, value}
    # Only what the hub added goes; the leftover is not the hub's to remove.
    assert bind.read_txt("_acme-challenge.stale.example.com") == {leftover}


def test_a_value_the_hub_did_not_add_survives_cleanup(
    consumer: HubClient, bind: BindServer
) -> None:
    # Someone put this very value there by hand; a consumer who reads it from
    # public DNS and "presents" it must not be able to remove it.
    value = new_value()
    bind.put_txt("_acme-challenge.manual.example.com", value)

    operation = perform(consumer, "manual.example.com", value)
    answer = cleanup(consumer, "manual.example.com", value)

    assert operation.state == READY
    assert answer.removed is True
    assert bind.read_txt("_acme-challenge.manual.example.com") == {value}


@pytest.mark.parametrize(
    ("identifier", "zone", "owner"),
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
        pytest.param("app.example.com", "example.com", "_acme-challenge.app", id="F26"),
    ],
)
def test_zone_and_relative_name(
    consumer: HubClient, bind: BindServer, identifier: str, zone: str, owner: str
) -> None:
    value = new_value()

    operation = perform(consumer, identifier, value)
    records = bind.zone_records(zone)
    cleanup(consumer, identifier, value)

    assert operation.state == READY
    assert operation.zone == zone
    # The check asked the zone's own authoritative servers (found through NS).
    assert list(operation.servers) == [bind.server]
    assert (owner, value) in records
    assert (owner, value) not in bind.zone_records(zone)


@pytest.mark.parametrize(
    "identifier",
    [
        pytest.param("evilexample.com", id="F10-prefix"),
        pytest.param("example.com.evil.test", id="F10-zone-text-inside"),
        pytest.param("a.b.example.com", id="F10-two-labels-below"),
    ],
)
def test_look_alike_names_refused(
    bind_hub: HubServer, admin: HubClient, consumer: HubClient, identifier: str
) -> None:
    # Only the config with EXAMPLE_RULE is near these names.
    with pytest.raises(HubClientError) as caught:
        perform(consumer, identifier, new_value())

    resolved = admin.challenges.ResolveManagedChallenge(
        challenge_pb2.ResolveManagedChallengeRequest(identifier=identifier)
    )
    assert caught.value.code.name == "FAILED_PRECONDITION"
    assert f"no managed challenge config serves {identifier}" in caught.value.message
    assert resolved.found is False


def test_F09_rule_stops_at_a_label_boundary(
    admin: HubClient, consumer: HubClient, credential_id: str, bind: BindServer
) -> None:
    value = new_value()

    # Only EXAMPLE_RULE's config exists near the name: *.example.com refuses it.
    with pytest.raises(HubClientError) as refused:
        perform(consumer, "www.training-example.com", value)
    config = create_config(admin, credential_id, "**.training-example.com")
    try:
        operation = perform(consumer, "www.training-example.com", value)
        records = bind.zone_records("training-example.com")
        cleanup(consumer, "www.training-example.com", value)
    finally:
        admin.challenges.DeleteManagedChallenge(
            challenge_pb2.DeleteManagedChallengeRequest(id=config.id)
        )

    assert refused.value.code.name == "FAILED_PRECONDITION"
    assert "www.training-example.com" in refused.value.message
    assert operation.managed_challenge_id == config.id
    assert operation.zone == "training-example.com"
    assert ("_acme-challenge.www", value) in records


def test_F10_subtree_rule_admits_deep_names(
    admin: HubClient, consumer: HubClient, credential_id: str, bind: BindServer
) -> None:
    config = create_config(admin, credential_id, "**.example.com")
    value = new_value()
    try:
        operation = perform(consumer, "a.b.example.com", value)
        cleanup(consumer, "a.b.example.com", value)
    finally:
        admin.challenges.DeleteManagedChallenge(
            challenge_pb2.DeleteManagedChallengeRequest(id=config.id)
        )

    assert operation.state == READY
    assert operation.managed_challenge_id == config.id
    assert operation.zone == "example.com"


@pytest.mark.parametrize(
    ("rule", "suffix"),
    [
        pytest.param("*.com", "com", id="F11-wildcard-tld"),
        pytest.param("co.uk", "co.uk", id="F11-two-label-suffix"),
        pytest.param("example.org; **.co.uk", "co.uk", id="F11-one-entry-of-two"),
    ],
)
def test_F11_public_suffix_rule_refused(
    admin: HubClient, credential_id: str, rule: str, suffix: str
) -> None:
    with pytest.raises(HubClientError) as caught:
        create_config(admin, credential_id, rule)

    assert caught.value.code.name == "INVALID_ARGUMENT"
    assert "domain_match_rule" in caught.value.message
    assert "public suffix" in caught.value.message
    assert repr(suffix) in caught.value.message or suffix in caught.value.message


@pytest.mark.parametrize(
    ("identifier", "a_label"),
    [
        pytest.param("büro.example.net", "xn--bro-hoa.example.net", id="F12-unicode"),
        pytest.param(
            "xn--bcher-kva.example.net", "xn--bcher-kva.example.net", id="F12-reverse"
        ),
    ],
)
def test_F12_internationalised_names(
    consumer: HubClient,
    bind: BindServer,
    configs: dict[str, str],
    identifier: str,
    a_label: str,
) -> None:
    value = new_value()

    operation = perform(consumer, identifier, value)
    records = bind.zone_records("example.net")
    cleanup(consumer, identifier, value)

    rule = "*.xn--bro-hoa.example.net; *.bücher.example.net"
    assert operation.managed_challenge_id == configs[rule]
    assert operation.identifier == a_label
    assert operation.validation_name == f"_acme-challenge.{a_label}"
    assert (f"_acme-challenge.{a_label.removesuffix('.example.net')}", value) in (
        records
    )


def test_F13_letter_case(
    consumer: HubClient, admin: HubClient, bind: BindServer, bind_hub: HubServer
) -> None:
    value = new_value()

    operation = perform(consumer, "MixedCase.Example.COM", value)
    records = bind.zone_records("example.com")
    answer = cleanup(consumer, "MIXEDCASE.example.com", value)

    assert operation.identifier == "mixedcase.example.com"
    assert operation.validation_name == "_acme-challenge.mixedcase.example.com"
    assert ("_acme-challenge.mixedcase", value) in records
    assert answer.removed is True
    assert "MixedCase" not in bind_hub.log()
    assert "MixedCase" not in bind.log_text()


def test_F14_trailing_dots(consumer: HubClient, bind: BindServer) -> None:
    value = new_value()

    operation = perform(
        consumer,
        "dots.example.com.",
        value,
        record_name="_acme-challenge.dots.example.com.",
    )
    served = bind.read_txt("_acme-challenge.dots.example.com")
    answer = cleanup(
        consumer,
        "dots.example.com",
        value,
        record_name="_acme-challenge.dots.example.com",
    )

    assert operation.state == READY
    assert operation.identifier == "dots.example.com"
    assert operation.validation_name == "_acme-challenge.dots.example.com"
    assert served == {value}
    assert answer.removed is True


def test_F16_bare_value_stored(consumer: HubClient, bind: BindServer) -> None:
    value = new_value()

    perform(consumer, "quoting.example.com", value)
    records = bind.zone_records("example.com")
    cleanup(consumer, "quoting.example.com", value)

    assert ("_acme-challenge.quoting", value) in records
    assert bind.read_txt("_acme-challenge.quoting.example.com") == set()


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param("hmac-sha256", id="F17-lower"),
        pytest.param("HMAC-SHA256", id="F17-upper"),
        pytest.param("hmac-sha256.", id="F17-trailing-dot"),
    ],
)
def test_F17_tsig_algorithm_spelling(
    admin: HubClient,
    consumer: HubClient,
    bind: BindServer,
    spelling: str,
    request: pytest.FixtureRequest,
) -> None:
    params = {**bind.provider_params(), "tsig_algorithm": spelling}
    name = f"{request.node.callspec.id.lower()}.example.org"
    config = create_config(admin, create_credential(admin, params), name)
    value = new_value()

    operation = perform(consumer, name, value)
    served = bind.read_txt(f"_acme-challenge.{name}")
    cleanup(consumer, name, value)

    assert operation.managed_challenge_id == config.id
    assert operation.state == READY, operation.reason
    assert served == {value}


def test_cname_at_the_validation_name_fails_at_once_without_following(
    consumer: HubClient, bind: BindServer
) -> None:
    # Runs before F25 adds a config that follows CNAMEs for www.example.com.
    value = new_value()

    operation = perform(consumer, "www.example.com", value)
    cleanup(consumer, "www.example.com", value)

    assert operation.state == FAILED
    assert operation.validation_name == "_acme-challenge.www.example.com"
    assert "the name is a CNAME to www.acme.example.org" in operation.reason
    assert bind.server in operation.reason
    assert bind.read_txt("www.acme.example.org") == set()


def test_a_wildcard_cname_never_leads_a_value_to_a_zone_apex(
    admin: HubClient, consumer: HubClient, credential_id: str, bind: BindServer
) -> None:
    bind.put_cname("*.wild.example.com", "example.com.")
    create_config(admin, credential_id, "**.wild.example.com", follow_cname=True)
    apex_before = bind.read_txt("example.com")
    value = new_value()

    operation = perform(consumer, "x.wild.example.com", value)

    assert operation.state == FAILED
    assert "will not write at example.com: it is the apex of zone example.com" in (
        operation.reason
    )
    assert bind.read_txt("example.com") == apex_before
    assert value not in bind.read_txt("example.com")


def test_a_cname_to_another_names_validation_name_needs_that_name(
    admin: HubClient,
    consumer: HubClient,
    bind_hub: HubServer,
    credential_id: str,
    bind: BindServer,
) -> None:
    bind.put_cname("_acme-challenge.a.example.com", "_acme-challenge.b.example.com.")
    create_config(admin, credential_id, "a.example.com", follow_cname=True)
    value = new_value()

    a_only_token = consumer_token(admin, "a only", "a.example.com")
    with (
        bind_hub.client(a_only_token) as a_only,
        pytest.raises(HubClientError) as refused,
    ):
        perform(a_only, "a.example.com", value)
    served_after_refusal = bind.read_txt("_acme-challenge.b.example.com")
    allowed = perform(consumer, "a.example.com", value)
    cleanup(consumer, "a.example.com", value)

    assert refused.value.code.name == "PERMISSION_DENIED"
    assert "the validation name of 'b.example.com'" in refused.value.message
    assert value not in served_after_refusal
    assert allowed.state == READY
    assert allowed.validation_name == "_acme-challenge.b.example.com"


def test_F25_cname_delegation_followed(
    admin: HubClient, consumer: HubClient, credential_id: str, bind: BindServer
) -> None:
    config = create_config(admin, credential_id, "www.example.com", follow_cname=True)
    value = new_value()

    operation = perform(
        consumer, "www.example.com", value, record_name="www.acme.example.org"
    )
    records = bind.zone_records("example.org")
    answer = cleanup(consumer, "www.example.com", value)

    assert operation.managed_challenge_id == config.id
    assert operation.state == READY
    assert operation.validation_name == "www.acme.example.org"
    assert operation.zone == "example.org"
    assert list(operation.servers) == [bind.server]
    assert ("www.acme", value) in records
    assert answer.removed is True
    assert bind.read_txt("www.acme.example.org") == set()


# -- PowerDNS through its HTTP API -------------------------------------------


@pytest.fixture(scope="module")
def pdns_hub(
    tmp_path_factory: pytest.TempPathFactory, pdns: PowerDnsServer
) -> Iterator[HubServer]:
    with HubServer(tmp_path_factory.mktemp("pdns-hub"), env=pdns_env(pdns)) as hub:
        yield hub


@pytest.fixture(scope="module")
def pdns_admin(pdns_hub: HubServer) -> Iterator[HubClient]:
    with pdns_hub.client() as client:
        yield client


@pytest.fixture(scope="module")
def pdns_consumer(
    pdns_hub: HubServer, pdns_admin: HubClient, pdns: PowerDnsServer
) -> Iterator[HubClient]:
    credential = create_credential(pdns_admin, pdns_params(pdns), "powerdns")
    create_config(pdns_admin, credential, EXAMPLE_RULE)
    with pdns_hub.client(consumer_token(pdns_admin, "pdns")) as client:
        yield client


def test_F02_two_values_replace_only_api(
    pdns_consumer: HubClient, pdns: PowerDnsServer
) -> None:
    apex, wildcard = new_value(), new_value()

    first = perform(pdns_consumer, "example.com", apex)
    second = perform(pdns_consumer, "*.example.com", wildcard)
    served = pdns.read_txt("_acme-challenge.example.com")
    cleanup(pdns_consumer, "example.com", apex)

    assert (first.state, second.state) == (READY, READY)
    assert list(first.servers) == [f"127.0.0.1:{pdns.dns_port}"]
    assert served == {apex, wildcard}
    assert pdns.read_txt("_acme-challenge.example.com") == {wildcard}
    cleanup(pdns_consumer, "*.example.com", wildcard)
    assert pdns.read_txt("_acme-challenge.example.com") == set()


def test_F04_twenty_concurrent_presents_then_cleanups(
    pdns_consumer: HubClient, pdns: PowerDnsServer
) -> None:
    name = "_acme-challenge.www.example.com"
    values = [new_value() for _ in range(20)]

    with ThreadPoolExecutor(20) as pool:
        presented = list(
            pool.map(lambda v: perform(pdns_consumer, "www.example.com", v), values)
        )
    served = pdns.read_txt(name)
    with ThreadPoolExecutor(20) as pool:
        cleaned = list(
            pool.map(lambda v: cleanup(pdns_consumer, "www.example.com", v), values)
        )

    assert [o.state for o in presented] == [READY] * 20
    assert served == set(values)
    assert [c.removed for c in cleaned] == [True] * 20
    assert [c.operation.state for c in cleaned] == [CLEANED] * 20
    assert pdns.read_txt(name) == set()


def test_F16_powerdns_values_unquoted(
    pdns_consumer: HubClient, pdns: PowerDnsServer
) -> None:
    value = new_value()

    perform(pdns_consumer, "quoting.example.com", value)
    with httpx.Client(headers={"X-API-Key": pdns.api_key}) as client:
        zone = client.get(
            f"{pdns.api_url}/api/v1/servers/localhost/zones/example.com."
        ).json()
    contents = [
        record["content"]
        for rrset in zone["rrsets"]
        if rrset["name"] == "_acme-challenge.quoting.example.com."
        for record in rrset["records"]
    ]
    answer = cleanup(pdns_consumer, "quoting.example.com", value)

    # Zone-file text quotes once; the value inside is the bare 43 characters.
    assert contents == [f'"{value}"']
    assert answer.removed is True
    assert pdns.read_txt("_acme-challenge.quoting.example.com") == set()


Answer = tuple[int, dict[str, str], bytes]


class ApiFront:
    """An HTTP server in front of the PowerDNS API that may answer in its place.

    ``policy`` sees the method and the request headers and returns an answer to
    send instead, or None to pass the request through to ``upstream``.
    """

    def __init__(
        self, upstream: str, policy: Callable[[str, dict[str, str]], Answer | None]
    ) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                headers = dict(self.headers.items())
                length = int(headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                front.seen.append((self.command, headers))
                answer = policy(self.command, headers)
                if answer is None:
                    forwarded = httpx.request(
                        self.command,
                        upstream + self.path,
                        headers={
                            k: v
                            for k, v in headers.items()
                            if k.lower() not in ("host", "content-length")
                        },
                        content=body,
                    )
                    answer = (
                        forwarded.status_code,
                        {"Content-Type": forwarded.headers.get("content-type", "")},
                        forwarded.content,
                    )
                status, extra, content = answer
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _handle

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
        self.thread.join()


def test_F21_secret_trimmed_and_never_shown(
    pdns_admin: HubClient, pdns_hub: HubServer, pdns: PowerDnsServer
) -> None:
    def echo_401(method: str, headers: dict[str, str]) -> Answer:
        return 401, {}, f"bad key: {headers.get('X-API-Key')}".encode()

    front = ApiFront(pdns.api_url, echo_401)
    secret = pdns.api_key
    try:
        params = {**pdns_params(pdns, front.url), "api_key": secret + "\n"}
        credential = create_credential(pdns_admin, params, "powerdns")
        shown = pdns_admin.credentials.GetStoredCredential(
            credential_pb2.GetStoredCredentialRequest(id=credential)
        )
        tested = pdns_admin.credentials.TestStoredCredential(
            credential_pb2.TestStoredCredentialRequest(
                id=credential, zone="example.com"
            )
        )
        config = create_config(pdns_admin, credential, "f21.example.com")
        operation = perform(pdns_admin, "f21.example.com", new_value())
    finally:
        front.stop()

    assert [headers.get("X-API-Key") for _, headers in front.seen] == [secret] * len(
        front.seen
    )
    assert list(shown.secret_parameters_set) == ["api_key"]
    assert "api_key" not in shown.parameters
    assert tested.ok is False
    assert "401" in tested.message
    assert operation.state == FAILED
    assert operation.managed_challenge_id == config.id
    for text in (str(shown), str(tested), str(operation), pdns_hub.log()):
        assert secret not in text


def test_F22_rate_limited_then_served(
    pdns_admin: HubClient, pdns: PowerDnsServer
) -> None:
    refusals = {"left": 2}

    def two_429_on_write(method: str, headers: dict[str, str]) -> Answer | None:
        if method == "PATCH" and refusals["left"]:
            refusals["left"] -= 1
            return 429, {"Retry-After": "1"}, b"slow down"
        return None

    front = ApiFront(pdns.api_url, two_429_on_write)
    value = new_value()
    try:
        credential = create_credential(
            pdns_admin, pdns_params(pdns, front.url), "powerdns"
        )
        create_config(pdns_admin, credential, "f22.example.com", timeout=30)
        started = time.monotonic()
        operation = perform(pdns_admin, "f22.example.com", value)
        elapsed = time.monotonic() - started
        served = pdns.read_txt("_acme-challenge.f22.example.com")
        cleanup(pdns_admin, "f22.example.com", value)
    finally:
        front.stop()

    assert operation.state == READY, operation.reason
    assert served == {value}
    assert refusals["left"] == 0
    assert [m for m, _ in front.seen].count("PATCH") == 4  # 2 refused, add, remove
    assert elapsed >= 1.0  # the back-off honoured Retry-After


# -- two authoritative servers ------------------------------------------------


@pytest.fixture(scope="module")
def pair() -> Iterator[list[BindServer]]:
    """Two servers for the zones; updates reach only the first by themselves."""
    with bind_group(2) as servers:
        yield servers


@pytest.fixture(scope="module")
def pair_hub(
    tmp_path_factory: pytest.TempPathFactory, pair: list[BindServer]
) -> Iterator[HubServer]:
    with HubServer(tmp_path_factory.mktemp("pair-hub"), env=hub_env(pair[0])) as hub:
        yield hub


@pytest.fixture(scope="module")
def pair_admin(pair_hub: HubServer, pair: list[BindServer]) -> Iterator[HubClient]:
    with pair_hub.client() as client:
        credential = create_credential(client, pair[0].provider_params())
        create_config(client, credential, "f18.example.com", timeout=30)
        create_config(client, credential, "f19.example.com", timeout=2)
        yield client


def test_F18_ready_only_when_every_server_serves(
    pair_admin: HubClient, pair: list[BindServer]
) -> None:
    first, second = pair
    value = new_value()
    name = "_acme-challenge.f18.example.com"

    started = perform(pair_admin, "f18.example.com", value, wait=False)
    lagging = wait_for_state(pair_admin, started.id, {PROPAGATING, READY, FAILED})
    time.sleep(1.5)
    still = pair_admin.challenges.GetOperation(
        challenge_pb2.GetOperationRequest(id=started.id)
    )
    second.put_txt(name, value)
    final = wait_for_state(pair_admin, started.id, {READY, FAILED})

    assert lagging.state == PROPAGATING
    assert still.state == PROPAGATING
    assert sorted(final.servers) == sorted([first.server, second.server])
    assert final.state == READY, final.reason
    assert list(final.servers_pending) == []
    assert first.read_txt(name) == second.read_txt(name) == {value}
    cleanup(pair_admin, "f18.example.com", value)
    second.delete_txt(name, value)


def test_F19_propagation_timeout_names_the_server(
    pair_admin: HubClient, pair: list[BindServer]
) -> None:
    first, second = pair
    value = new_value()

    started = time.monotonic()
    operation = perform(pair_admin, "f19.example.com", value)
    elapsed = time.monotonic() - started

    assert operation.state == FAILED
    assert second.server in operation.reason
    assert first.server not in operation.reason
    assert list(operation.servers_pending) == [second.server]
    assert elapsed >= 2.0  # not before the config's timeout
    cleanup(pair_admin, "f19.example.com", value)
    assert first.read_txt("_acme-challenge.f19.example.com") == set()


# -- a provider whose smallest TTL is 60 --------------------------------------

MIN60_MODULE = '''\
"""An RFC 2136 back end that accepts no TTL below 60 seconds."""

from typing import ClassVar

from providers.base import TtlRange
from providers.rfc2136 import Rfc2136Provider


class Min60Provider(Rfc2136Provider):
    type_name: ClassVar[str] = "rfc2136-min60"
    title: ClassVar[str] = "RFC 2136, TTL at least 60"
    ttl_range: ClassVar[TtlRange] = TtlRange(60, 86400)
'''


def install_min60_provider(site: Path) -> None:
    """A third-party provider package, found through its entry point."""
    site.mkdir(parents=True)
    (site / "hub_min60.py").write_text(MIN60_MODULE)
    info = site / "hub_min60-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hub-min60\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[challenge_hub.providers]\nrfc2136-min60 = hub_min60:Min60Provider\n"
    )


def test_F20_ttl_clamp_visible(tmp_path: Path, bind: BindServer) -> None:
    install_min60_provider(tmp_path / "site")
    env = {**hub_env(bind), "PYTHONPATH": str(tmp_path / "site")}
    value = new_value()

    with HubServer(tmp_path / "hub", env=env) as hub, hub.client() as admin:
        credential = create_credential(admin, bind.provider_params(), "rfc2136-min60")
        create_config(admin, credential, "f20.example.com", ttl=30)
        operation = perform(admin, "f20.example.com", value)
        written_ttl = bind.read_ttl("_acme-challenge.f20.example.com")
        record = admin.challenges.GetOperation(
            challenge_pb2.GetOperationRequest(id=operation.id)
        )
        cleanup(admin, "f20.example.com", value)

    assert operation.state == READY
    assert (operation.requested_ttl, operation.ttl) == (30, 60)
    assert "ttl 30 clamped to 60" in operation.reason
    assert record.reason == operation.reason
    assert written_ttl == 60
