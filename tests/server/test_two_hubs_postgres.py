"""Two hubs on one PostgreSQL database: no value lost, either hub finishes work."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hub_client.client import HubClient
from hub_client.hub.v1 import challenge_pb2
from hub_server.operations import STALE_SECONDS
from tests.bridge.stack import consumer_token
from tests.server.challenge_support import (
    CLEANED,
    EXAMPLE_RULE,
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
from tests.servers.bind import bind_group
from tests.servers.hub import HubServer
from tests.servers.postgres import PostgresServer
from tests.servers.powerdns import PowerDnsServer

pytestmark = pytest.mark.postgres


def start_two_hubs(
    workdir: Path, database_url: str, env: dict[str, str]
) -> tuple[HubServer, HubServer]:
    """Two hubs on one database and one master key, the second with the first's
    administrator credentials (init makes them only once per database)."""
    shared = {
        **env,
        "HUB_DATABASE_URL": database_url,
        "HUB_MASTER_KEY": Fernet.generate_key().decode(),
        "HUB_SWEEP_INTERVAL": "1",
    }
    first = HubServer(workdir / "one", env=shared).start()
    try:
        second = HubServer(workdir / "two", env=shared)
        second.profile_path.parent.mkdir(parents=True)
        shutil.copy(first.profile_path, second.profile_path)
        second.start()
    except BaseException:
        first.stop()
        raise
    return first, second


@pytest.fixture(scope="module")
def pdns_hubs(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    pdns: PowerDnsServer,
) -> Iterator[tuple[HubClient, HubClient]]:
    """Two consumers, one per hub, and a config writing through PowerDNS."""
    one, two = start_two_hubs(
        tmp_path_factory.mktemp("hubs"),
        postgres_server.create_database(),
        pdns_env(pdns),
    )
    try:
        with one.client() as admin:
            credential_id = create_credential(admin, pdns_params(pdns), "powerdns")
            create_config(admin, credential_id, EXAMPLE_RULE)
            credentials = consumer_token(admin, "two hubs")
        with one.client(credentials) as first, two.client(credentials) as second:
            yield first, second
    finally:
        one.stop()
        two.stop()


def test_F04_across_hubs_twenty_presents_then_cleanups(
    pdns_hubs: tuple[HubClient, HubClient], pdns: PowerDnsServer
) -> None:
    # The API replaces whole record sets: only a lock shared through the
    # database keeps one hub from writing back a set that lacks the other's value.
    name = "_acme-challenge.www.example.com"
    values = [new_value() for _ in range(20)]
    clients = list(itertools.islice(itertools.cycle(pdns_hubs), 20))

    with ThreadPoolExecutor(20) as pool:
        presented = list(
            pool.map(lambda c, v: perform(c, "www.example.com", v), clients, values)
        )
    served = pdns.read_txt(name)
    with ThreadPoolExecutor(20) as pool:
        cleaned = list(
            pool.map(
                lambda c, v: cleanup(c, "www.example.com", v),
                reversed(clients),
                values,
            )
        )

    assert [o.state for o in presented] == [READY] * 20
    assert served == set(values)
    assert [c.removed for c in cleaned] == [True] * 20
    assert pdns.read_txt(name) == set()


def test_one_hub_sees_and_cleans_the_others_work(
    pdns_hubs: tuple[HubClient, HubClient], pdns: PowerDnsServer
) -> None:
    first, second = pdns_hubs
    value = new_value()

    presented = perform(first, "shared.example.com", value)
    seen = second.challenges.GetOperation(
        challenge_pb2.GetOperationRequest(id=presented.id)
    )
    again = perform(second, "shared.example.com", value)
    answer = cleanup(second, "shared.example.com", value)

    assert seen == presented
    assert again.id == presented.id
    assert answer.removed is True
    assert answer.operation.state == CLEANED
    assert pdns.read_txt("_acme-challenge.shared.example.com") == set()


def test_a_stopped_hubs_operation_is_finished_by_the_other(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    with bind_group(2) as (primary, lagging):
        name = "_acme-challenge.takeover.example.com"
        value = new_value()
        env = {
            "HUB_RESOLVERS": primary.server,
            "HUB_AUTHORITATIVE_PORT": str(primary.port),
        }
        one, two = start_two_hubs(tmp_path, postgres_server.create_database(), env)
        try:
            with one.client() as admin:
                credential = create_credential(admin, primary.provider_params())
                create_config(admin, credential, "takeover.example.com", timeout=600)
                started = perform(admin, "takeover.example.com", value, wait=False)
                wait_for_state(admin, started.id, {PROPAGATING})
            one.stop()
            lagging.put_txt(name, value)
            with two.client() as admin:
                final = wait_for_state(
                    admin, started.id, {READY}, timeout=STALE_SECONDS + 30
                )
                cleanup(admin, "takeover.example.com", value)
        finally:
            one.stop()
            two.stop()
        served_after = primary.read_txt(name)
        lagging.delete_txt(name, value)

    assert final.state == READY
    assert sorted(final.servers) == sorted([primary.server, lagging.server])
    assert "resuming interrupted operation" in two.log()
    assert served_after == set()
