"""Operations outlive the hub: a restart resumes them, the sweeper ages records out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub_client.client import HubClient
from hub_client.hub.v1 import challenge_pb2
from hub_server.operations import STALE_SECONDS
from tests.bridge.stack import hub_env
from tests.server.challenge_support import (
    CLEANED,
    PROPAGATING,
    READY,
    create_config,
    create_credential,
    list_records,
    new_value,
    perform,
    wait_for_state,
)
from tests.servers.bind import BindServer, bind_group
from tests.servers.hub import HubServer


@pytest.fixture(scope="module")
def pair() -> Iterator[list[BindServer]]:
    """Two servers for the zones; updates reach only the first by themselves."""
    with bind_group(2) as servers:
        yield servers


def sweeping_hub(workdir: Path, bind: BindServer) -> HubServer:
    return HubServer(workdir, env={**hub_env(bind), "HUB_SWEEP_INTERVAL": "1"})


def get_operation(client: HubClient, operation_id: str) -> challenge_pb2.Operation:
    return client.challenges.GetOperation(
        challenge_pb2.GetOperationRequest(id=operation_id)
    )


def test_restart_resumes_an_operation_waiting_for_propagation(
    tmp_path: Path, pair: list[BindServer]
) -> None:
    first, second = pair
    name = "_acme-challenge.restart.example.com"
    value = new_value()
    hub = sweeping_hub(tmp_path / "hub", first).start()
    try:
        with hub.client() as admin:
            credential = create_credential(admin, first.provider_params())
            create_config(admin, credential, "restart.example.com", timeout=600)
            started = perform(admin, "restart.example.com", value, wait=False)
            waiting = wait_for_state(admin, started.id, {PROPAGATING})
        exit_code = hub.stop()

        hub.start()
        with hub.client() as admin:
            after_restart = get_operation(admin, started.id)
            second.put_txt(name, value)
            resumed_at = time.monotonic()
            final = wait_for_state(
                admin, started.id, {READY}, timeout=STALE_SECONDS + 30
            )
            resumed_after = time.monotonic() - resumed_at
            admin.challenges.CleanupChallenge(
                challenge_pb2.CleanupChallengeRequest(
                    identifier="restart.example.com", value=value
                )
            )
    finally:
        hub.stop()
        second.delete_txt(name, value)

    assert exit_code == 0
    assert list(waiting.servers_pending) in ([], [second.server])
    assert after_restart.state == PROPAGATING
    assert final.state == READY
    assert final.id == started.id
    assert sorted(final.servers) == sorted([first.server, second.server])
    # Nobody moved it until the sweeper saw it untouched for STALE_SECONDS.
    assert resumed_after < STALE_SECONDS + 30
    assert "resuming interrupted operation" in hub.log()
    assert first.read_txt(name) == set()


def test_sweeper_removes_records_past_their_age(
    tmp_path: Path, pair: list[BindServer]
) -> None:
    first = pair[0]
    short, long = new_value(), new_value()
    with sweeping_hub(tmp_path / "hub", first) as hub, hub.client() as admin:
        credential = create_credential(admin, first.provider_params())
        # Only the first server is asked: the second never gets these values.
        only_first = (first.server,)
        create_config(
            admin,
            credential,
            "short.example.com",
            nameservers=only_first,
            # Old enough to answer READY first even on a loaded machine.
            max_record_age_seconds=4,
        )
        create_config(admin, credential, "long.example.com", nameservers=only_first)
        swept = perform(admin, "short.example.com", short)
        kept = perform(admin, "long.example.com", long)
        served_before = first.read_txt("_acme-challenge.short.example.com")

        final = wait_for_state(admin, swept.id, {CLEANED}, timeout=20)
        remaining = [r.value for r in list_records(admin)]
        long_state = get_operation(admin, kept.id).state
        admin.challenges.CleanupChallenge(
            challenge_pb2.CleanupChallengeRequest(
                identifier="long.example.com", value=long
            )
        )

    assert (swept.state, kept.state) == (READY, READY)
    assert served_before == {short}
    assert final.reason == "removed by the sweeper: past its age"
    assert first.read_txt("_acme-challenge.short.example.com") == set()
    assert remaining == [long]
    assert long_state == READY
