"""PerformChallenge, CleanupChallenge and operations through a real hub and BIND9."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from google.protobuf import timestamp_pb2

from hub_client.client import Credentials, HubClient
from hub_client.errors import HubClientError
from hub_client.hub.v1 import audit_pb2, challenge_pb2
from tests.bridge.stack import consumer_token
from tests.server.challenge_support import (
    CLEANED,
    EXAMPLE_RULE,
    FAILED,
    PRESENTING,
    PROPAGATING,
    READY,
    cleanup,
    create_config,
    create_credential,
    list_records,
    new_value,
    perform,
    wait_for_state,
)
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer


def now_stamp() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.timezone.utc))
    return stamp


def audit_events_since(
    admin: HubClient, since: timestamp_pb2.Timestamp, action: str
) -> list[audit_pb2.AuditEvent]:
    answer = admin.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(action=action, start_time=since)
    )
    return list(answer.events)


@pytest.fixture(scope="module")
def admin(bind_hub: HubServer) -> Iterator[HubClient]:
    with bind_hub.client() as client:
        yield client


@pytest.fixture(scope="module")
def config(admin: HubClient, bind: BindServer) -> challenge_pb2.ManagedChallenge:
    """example.com and one label below it, written to ``bind`` by RFC 2136."""
    return create_config(
        admin, create_credential(admin, bind.provider_params()), EXAMPLE_RULE
    )


@pytest.fixture(scope="module")
def consumer(
    bind_hub: HubServer, admin: HubClient, config: challenge_pb2.ManagedChallenge
) -> Iterator[HubClient]:
    """A Managed Challenge Consumer without domain restrictions."""
    with bind_hub.client(consumer_token(admin, "consumer")) as client:
        yield client


@pytest.fixture(scope="module")
def api_only(bind_hub: HubServer, admin: HubClient) -> Iterator[HubClient]:
    """A consumer whose role assignment admits only api.example.com."""
    credentials = consumer_token(admin, "api only", "api.example.com")
    with bind_hub.client(credentials) as client:
        yield client


# -- presenting --------------------------------------------------------------


def test_wait_returns_ready_once_served(
    consumer: HubClient, bind: BindServer, config: challenge_pb2.ManagedChallenge
) -> None:
    value = new_value()

    operation = perform(consumer, "api.example.com", value)

    assert operation.state == READY
    assert operation.identifier == "api.example.com"
    assert operation.validation_name == "_acme-challenge.api.example.com"
    assert operation.zone == "example.com"
    assert operation.managed_challenge_id == config.id
    assert list(operation.servers) == [bind.server]
    assert list(operation.servers_pending) == []
    assert (operation.requested_ttl, operation.ttl) == (60, 60)
    assert bind.read_txt("_acme-challenge.api.example.com") == {value}
    cleanup(consumer, "api.example.com", value)


def test_same_value_again_reuses_the_record(
    consumer: HubClient, admin: HubClient, bind: BindServer
) -> None:
    value = new_value()

    first = perform(consumer, "reuse.example.com", value)
    again = perform(consumer, "reuse.example.com", value)

    assert again.id == first.id
    assert again.record_id == first.record_id
    assert [r.id for r in list_records(admin, "reuse.example.com")] == [first.record_id]
    assert bind.read_txt("_acme-challenge.reuse.example.com") == {value}
    cleanup(consumer, "reuse.example.com", value)


@pytest.fixture(scope="module")
def other_consumer(
    bind_hub: HubServer, admin: HubClient, config: challenge_pb2.ManagedChallenge
) -> Iterator[HubClient]:
    """A second, unrestricted consumer: a different principal from ``consumer``."""
    with bind_hub.client(consumer_token(admin, "other consumer")) as client:
        yield client


def test_each_principal_keeps_its_own_record_of_a_shared_value(
    consumer: HubClient, other_consumer: HubClient, bind: BindServer
) -> None:
    value = new_value()
    name = "_acme-challenge.shared.example.com"

    mine = perform(consumer, "shared.example.com", value)
    theirs = perform(other_consumer, "shared.example.com", value)
    first_cleanup = cleanup(other_consumer, "shared.example.com", value)
    served_after_first = bind.read_txt(name)
    second_cleanup = cleanup(consumer, "shared.example.com", value)

    assert theirs.record_id != mine.record_id
    assert theirs.id != mine.id
    # The other principal's cleanup removes only its record; the value stays
    # while the first principal's record still needs it.
    assert first_cleanup.removed is True
    assert served_after_first == {value}
    assert second_cleanup.removed is True
    assert bind.read_txt(name) == set()


def test_a_consumer_cannot_read_another_principals_operation(
    consumer: HubClient, other_consumer: HubClient, admin: HubClient
) -> None:
    value = new_value()
    operation = perform(consumer, "private.example.com", value, wait=False)
    request = challenge_pb2.GetOperationRequest(id=operation.id)

    with pytest.raises(HubClientError) as refused:
        other_consumer.challenges.GetOperation(request)
    with pytest.raises(HubClientError) as refused_watch:
        list(
            other_consumer.challenges.WatchOperation(
                challenge_pb2.WatchOperationRequest(id=operation.id)
            )
        )
    own = consumer.challenges.GetOperation(request)
    seen_by_admin = admin.challenges.GetOperation(request)
    cleanup(consumer, "private.example.com", value)

    assert refused.value.code.name == "NOT_FOUND"
    assert refused_watch.value.code.name == "NOT_FOUND"
    assert own.identifier == seen_by_admin.identifier == "private.example.com"


def test_get_operation_polls_to_ready(consumer: HubClient, bind: BindServer) -> None:
    value = new_value()

    started = perform(consumer, "poll.example.com", value, wait=False)
    final = wait_for_state(consumer, started.id, {READY, FAILED})

    assert started.state in (PRESENTING, PROPAGATING, READY)
    assert final.state == READY
    assert final.zone == "example.com"
    assert bind.read_txt("_acme-challenge.poll.example.com") == {value}
    cleanup(consumer, "poll.example.com", value)


def test_get_operation_unknown_id(consumer: HubClient) -> None:
    with pytest.raises(HubClientError) as caught:
        consumer.challenges.GetOperation(
            challenge_pb2.GetOperationRequest(id="op-does-not-exist")
        )

    assert caught.value.code.name == "NOT_FOUND"
    assert "op-does-not-exist" in caught.value.message


def test_watch_streams_states_to_a_final_one(
    consumer: HubClient, bind: BindServer
) -> None:
    value = new_value()
    started = perform(consumer, "watch.example.com", value, wait=False)

    stream = consumer.challenges.WatchOperation(
        challenge_pb2.WatchOperationRequest(id=started.id), timeout=60
    )
    updates = list(stream)
    states = [operation.state for operation in updates]

    # Every change is sent (servers found, say), so a state may repeat; never
    # the same message twice, and never backwards.
    assert states[-1] == READY
    order = [PRESENTING, PROPAGATING, READY]
    assert [order.index(s) for s in states] == sorted(order.index(s) for s in states)
    assert all(a != b for a, b in zip(updates, updates[1:]))
    assert updates[-1].zone == "example.com"
    cleanup(consumer, "watch.example.com", value)


def test_watch_of_a_cleaned_operation_sends_one_and_ends(
    consumer: HubClient,
) -> None:
    value = new_value()
    operation = perform(consumer, "watched.example.com", value)
    cleanup(consumer, "watched.example.com", value)

    stream = consumer.challenges.WatchOperation(
        challenge_pb2.WatchOperationRequest(id=operation.id), timeout=30
    )

    assert [o.state for o in stream] == [CLEANED]


# -- cleaning up -------------------------------------------------------------


def test_cleanup_removes_only_its_value_and_is_idempotent(
    consumer: HubClient, bind: BindServer
) -> None:
    apex, wildcard = new_value(), new_value()
    perform(consumer, "example.com", apex)
    perform(consumer, "*.example.com", wildcard)

    first = cleanup(consumer, "example.com", apex)
    served_after_first = bind.read_txt("_acme-challenge.example.com")
    second = cleanup(consumer, "example.com", apex)

    assert first.removed is True
    assert first.operation.state == CLEANED
    assert first.operation.reason == "removed by cleanup"
    assert served_after_first == {"manual-proof", wildcard}
    assert second.removed is False
    assert bind.read_txt("_acme-challenge.example.com") == {"manual-proof", wildcard}
    cleanup(consumer, "*.example.com", wildcard)
    assert bind.read_txt("_acme-challenge.example.com") == {"manual-proof"}


def test_cleanup_of_a_value_never_presented(consumer: HubClient) -> None:
    answer = cleanup(consumer, "never.example.com", new_value())

    assert answer.removed is False
    assert not answer.HasField("operation")


# -- listing -----------------------------------------------------------------


def test_list_records_filters_by_name_and_state(
    consumer: HubClient, admin: HubClient
) -> None:
    one, two = new_value(), new_value()
    first = perform(consumer, "list-one.example.com", one)
    perform(consumer, "list-two.example.com", two)

    by_identifier = list_records(admin, "list-one.example.com")
    by_validation_name = list_records(admin, "_acme-challenge.list-one.example.com")
    ready = list_records(admin, "list-one.example.com", READY)
    failed = list_records(admin, "list-one.example.com", FAILED)

    assert [r.id for r in by_identifier] == [first.record_id]
    assert [r.id for r in by_validation_name] == [first.record_id]
    assert [r.value for r in ready] == [one]
    assert ready[0].state == READY
    assert ready[0].operation_id == first.id
    assert ready[0].zone == "example.com"
    assert failed == []
    cleanup(consumer, "list-one.example.com", one)
    cleanup(consumer, "list-two.example.com", two)
    assert list_records(admin, "list-one.example.com") == []


# -- refusals ----------------------------------------------------------------

GOOD = "api.example.com"


@pytest.mark.parametrize(
    ("who", "fields", "code", "message"),
    [
        pytest.param(
            "consumer",
            {"identifier": ""},
            "INVALID_ARGUMENT",
            "identifier",
            id="identifier-empty",
        ),
        pytest.param(
            "consumer",
            {"identifier": "a..example.com"},
            "INVALID_ARGUMENT",
            "identifier",
            id="identifier-empty-label",
        ),
        pytest.param(
            "consumer",
            {"identifier": "*.*.example.com"},
            "INVALID_ARGUMENT",
            "identifier",
            id="identifier-two-wildcards",
        ),
        pytest.param(
            "consumer",
            {"identifier": "www.example.net"},
            "FAILED_PRECONDITION",
            "no managed challenge config serves www.example.net",
            id="identifier-no-config",
        ),
        pytest.param(
            "consumer",
            {"record_name": "_acme-challenge.other.example.com"},
            "INVALID_ARGUMENT",
            "record_name",
            id="F24-record-name-other",
        ),
        pytest.param(
            "consumer",
            {"record_name": "api.example.com"},
            "INVALID_ARGUMENT",
            "record_name",
            id="record-name-without-label",
        ),
        pytest.param(
            "consumer", {"value": ""}, "INVALID_ARGUMENT", "value", id="value-empty"
        ),
        pytest.param(
            "consumer",
            {"value": "A" * 42},
            "INVALID_ARGUMENT",
            "value",
            id="F23-value-42",
        ),
        pytest.param(
            "consumer",
            {"value": "A" * 42 + "="},
            "INVALID_ARGUMENT",
            "value",
            id="F23-value-padded",
        ),
        pytest.param(
            "consumer",
            {"value": "v=spf1 include:evil.test"},
            "INVALID_ARGUMENT",
            "value",
            id="F23-value-spf",
        ),
        pytest.param(
            "api_only",
            {"identifier": "other.example.com"},
            "PERMISSION_DENIED",
            "other.example.com",
            id="name-outside-restrictions",
        ),
        pytest.param(
            "anonymous",
            {},
            "UNAUTHENTICATED",
            "missing or invalid client credentials",
            id="no-credentials",
        ),
    ],
)
def test_refused_perform_changes_nothing(
    request: pytest.FixtureRequest,
    bind_hub: HubServer,
    admin: HubClient,
    bind: BindServer,
    config: challenge_pb2.ManagedChallenge,
    who: str,
    fields: dict[str, str],
    code: str,
    message: str,
) -> None:
    client = (
        HubClient(bind_hub.address, Credentials("nobody", "nothing"))
        if who == "anonymous"
        else request.getfixturevalue(who)
    )
    call = {"identifier": GOOD, "value": new_value(), **fields}
    zone_before = bind.zone_records("example.com")
    records_before = list_records(admin)
    since = now_stamp()

    with pytest.raises(HubClientError) as caught:
        client.challenges.PerformChallenge(
            challenge_pb2.PerformChallengeRequest(**call, wait=True)
        )

    assert caught.value.code.name == code
    assert message in caught.value.message
    assert list_records(admin) == records_before
    assert bind.zone_records("example.com") == zone_before
    events = audit_events_since(admin, since, "challenge.request")
    assert len(events) == 1
    expected = (
        "DENIED" if code in ("PERMISSION_DENIED", "UNAUTHENTICATED") else "FAILURE"
    )
    assert audit_pb2.AuditOutcome.Name(events[0].outcome) == f"AUDIT_OUTCOME_{expected}"
    assert events[0].reason == caught.value.message


@pytest.mark.parametrize(
    ("who", "fields", "code", "message"),
    [
        pytest.param(
            "consumer",
            {"identifier": ""},
            "INVALID_ARGUMENT",
            "identifier",
            id="identifier-empty",
        ),
        pytest.param(
            "consumer",
            {"identifier": "bad_name.example.com"},
            "INVALID_ARGUMENT",
            "identifier",
            id="identifier-underscore",
        ),
        pytest.param(
            "consumer",
            {"record_name": "_acme-challenge.other.example.com"},
            "INVALID_ARGUMENT",
            "record_name",
            id="record-name-other",
        ),
        pytest.param(
            "consumer",
            {"value": "v=spf1 -all"},
            "INVALID_ARGUMENT",
            "value",
            id="value-spf",
        ),
        pytest.param(
            "api_only",
            {"identifier": "kept.example.com"},
            "PERMISSION_DENIED",
            "kept.example.com",
            id="name-outside-restrictions",
        ),
    ],
)
def test_refused_cleanup_changes_nothing(
    request: pytest.FixtureRequest,
    admin: HubClient,
    consumer: HubClient,
    bind: BindServer,
    who: str,
    fields: dict[str, str],
    code: str,
    message: str,
) -> None:
    value = new_value()
    perform(consumer, "kept.example.com", value)
    client = request.getfixturevalue(who)
    call = {"identifier": "kept.example.com", "value": value, **fields}
    zone_before = bind.zone_records("example.com")
    since = now_stamp()

    with pytest.raises(HubClientError) as caught:
        client.challenges.CleanupChallenge(
            challenge_pb2.CleanupChallengeRequest(**call)
        )

    assert caught.value.code.name == code
    assert message in caught.value.message
    assert bind.zone_records("example.com") == zone_before
    assert [r.value for r in list_records(admin, "kept.example.com")] == [value]
    assert len(audit_events_since(admin, since, "challenge.cleanup")) == 1
    cleanup(consumer, "kept.example.com", value)


def test_consumer_may_not_manage_configs(
    consumer: HubClient, config: challenge_pb2.ManagedChallenge
) -> None:
    with pytest.raises(HubClientError) as caught:
        consumer.challenges.DeleteManagedChallenge(
            challenge_pb2.DeleteManagedChallengeRequest(id=config.id)
        )

    assert caught.value.code.name == "PERMISSION_DENIED"
    assert "challenge.write" in caught.value.message


def test_no_secret_in_the_hub_log(bind_hub: HubServer, bind: BindServer) -> None:
    assert bind.tsig_secret not in bind_hub.log()
    assert bind_hub.secret not in bind_hub.log()
