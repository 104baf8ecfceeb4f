"""The audit trail: one event per change and per denied call, with every fact."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from hub_client.client import Credentials, HubClient
from hub_client.hub.v1 import (
    audit_pb2,
    challenge_pb2,
    credential_pb2,
    principal_pb2,
    token_pb2,
    token_pb2_grpc,
)
from tests.server.auth_support import (
    OTHER_VALUE,
    UNAUTHENTICATED_MESSAGE,
    VALUE,
    issue_token,
    provision_demo,
    refusal,
)
from tests.servers.hub import HubServer

SUCCESS = audit_pb2.AUDIT_OUTCOME_SUCCESS
DENIED = audit_pb2.AUDIT_OUTCOME_DENIED
FAILURE = audit_pb2.AUDIT_OUTCOME_FAILURE


@dataclass
class Actors:
    """The callers every case may use."""

    hub: HubServer
    admin: HubClient
    admin_principal_id: str
    viewer: Credentials
    viewer_principal_id: str
    www_consumer: Credentials
    www_consumer_principal_id: str


@pytest.fixture(scope="module")
def actors(hub: HubServer) -> Iterator[Actors]:
    with hub.client() as admin:
        provision_demo(admin)
        me = admin.tokens.WhoAmI(token_pb2.WhoAmIRequest()).principal.id
        viewer_id, viewer = issue_token(admin, "auditor", {"hub-viewer": ""})
        consumer_id, consumer = issue_token(
            admin, "www only", {"managed-challenge-consumer": "www.demo.test"}
        )
        yield Actors(hub, admin, me, viewer, viewer_id, consumer, consumer_id)


def _all_events(admin: HubClient) -> list[audit_pb2.AuditEvent]:
    events: list[audit_pb2.AuditEvent] = []
    page_token = ""
    while True:
        page = admin.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=1000, page_token=page_token)
        )
        events.extend(page.events)
        page_token = page.next_page_token
        if not page_token:
            return events


def _new_events(
    admin: HubClient, action: Callable[[], Any]
) -> list[audit_pb2.AuditEvent]:
    """The events written while ``action`` ran (which may fail), oldest first."""
    before = {event.id for event in _all_events(admin)}
    # Denied and failing calls are the point of most cases.
    with contextlib.suppress(Exception):
        action()
    return [e for e in reversed(_all_events(admin)) if e.id not in before]


def _principal(admin: HubClient, title: str = "subject") -> str:
    return str(
        admin.principals.CreatePrincipal(
            principal_pb2.CreatePrincipalRequest(
                type=principal_pb2.PRINCIPAL_TYPE_USER, title=title
            )
        ).id
    )


def _with_viewer_role(admin: HubClient, principal_id: str) -> str:
    admin.principals.AssignRole(
        principal_pb2.AssignRoleRequest(principal_id=principal_id, role_id="hub-viewer")
    )
    return principal_id


def _token(admin: HubClient, principal_id: str) -> str:
    _with_viewer_role(admin, principal_id)
    return str(
        admin.tokens.CreateToken(
            token_pb2.CreateTokenRequest(
                principal_id=principal_id, title="t", scope_role_ids=["hub-viewer"]
            )
        ).token.id
    )


# -- every change: one success event naming who, from where, what and on what ----


@dataclass(frozen=True)
class Change:
    """A change by the administrator; ``run`` returns the expected target."""

    method: str
    action: str
    run: Callable[[Actors], str]
    name: str = ""


CHANGES = [
    Change(
        "/hub.v1.PrincipalService/CreatePrincipal",
        "principal.write",
        lambda a: _principal(a.admin, "created"),
    ),
    Change(
        "/hub.v1.PrincipalService/AssignRole",
        "principal.write",
        lambda a: _assign(a),
    ),
    Change(
        "/hub.v1.TokenService/CreateToken",
        "token.write",
        lambda a: _create_token(a),
    ),
    Change(
        "/hub.v1.CredentialService/CreateStoredCredential",
        "credential.write",
        lambda a: str(
            a.admin.credentials.CreateStoredCredential(
                credential_pb2.CreateStoredCredentialRequest(
                    title="audited", provider_type="embedded"
                )
            ).id
        ),
    ),
]


def _assign(a: Actors) -> str:
    principal_id = a.viewer_principal_id
    a.admin.principals.AssignRole(
        principal_pb2.AssignRoleRequest(
            principal_id=principal_id, role_id="hub-managed-instance"
        )
    )
    return f"{principal_id}/hub-managed-instance"


def _create_token(a: Actors) -> str:
    return str(
        a.admin.tokens.CreateToken(
            token_pb2.CreateTokenRequest(
                principal_id=a.viewer_principal_id,
                title="another",
                scope_role_ids=["hub-viewer"],
            )
        ).token.id
    )


@pytest.mark.parametrize(
    "change", CHANGES, ids=[c.method.rsplit("/", 1)[1] for c in CHANGES]
)
def test_a_change_writes_one_success_event(actors: Actors, change: Change) -> None:
    targets: list[str] = []

    events = _new_events(actors.admin, lambda: targets.append(change.run(actors)))

    assert len(events) == 1
    event = events[0]
    assert event.principal_id == actors.admin_principal_id
    assert event.client_id == actors.hub.client_id
    assert event.peer.startswith("ipv4:127.0.0.1:")
    assert event.action == change.action
    assert event.method == change.method
    assert event.target == targets[0]
    assert event.outcome == SUCCESS
    assert event.reason == ""
    assert event.time.seconds > 0


# Changes on an object the case sets up first: (method, action, set-up, change).
Setup = Callable[[Actors], str]
ChangeOn = Callable[[Actors, str], Any]

CHANGES_ON_OBJECTS = [
    pytest.param(
        "/hub.v1.PrincipalService/UpdatePrincipal",
        "principal.write",
        lambda a: _principal(a.admin),
        lambda a, p: a.admin.principals.UpdatePrincipal(
            principal_pb2.UpdatePrincipalRequest(
                principal=principal_pb2.Principal(id=p, title="renamed"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
        ),
        "{x}",
        id="UpdatePrincipal",
    ),
    pytest.param(
        "/hub.v1.PrincipalService/DeletePrincipal",
        "principal.write",
        lambda a: _principal(a.admin),
        lambda a, p: a.admin.principals.DeletePrincipal(
            principal_pb2.DeletePrincipalRequest(id=p)
        ),
        "{x}",
        id="DeletePrincipal",
    ),
    pytest.param(
        "/hub.v1.PrincipalService/RemoveRole",
        "principal.write",
        lambda a: _with_viewer_role(a.admin, _principal(a.admin)),
        lambda a, p: a.admin.principals.RemoveRole(
            principal_pb2.RemoveRoleRequest(principal_id=p, role_id="hub-viewer")
        ),
        "{x}/hub-viewer",
        id="RemoveRole",
    ),
    pytest.param(
        "/hub.v1.TokenService/RevokeToken",
        "token.write",
        lambda a: _token(a.admin, _principal(a.admin)),
        lambda a, t: a.admin.tokens.RevokeToken(token_pb2.RevokeTokenRequest(id=t)),
        "{x}",
        id="RevokeToken",
    ),
    pytest.param(
        "/hub.v1.TokenService/UpdateToken",
        "token.write",
        lambda a: _token(a.admin, _principal(a.admin)),
        lambda a, t: a.admin.tokens.UpdateToken(
            token_pb2.UpdateTokenRequest(
                token=token_pb2.Token(id=t, title="renamed"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
        ),
        "{x}",
        id="UpdateToken",
    ),
]


@pytest.mark.parametrize(
    ("method", "action", "setup", "change", "target"), CHANGES_ON_OBJECTS
)
def test_a_change_on_an_object_writes_one_success_event(
    actors: Actors,
    method: str,
    action: str,
    setup: Setup,
    change: ChangeOn,
    target: str,
) -> None:
    subject = setup(actors)

    events = _new_events(actors.admin, lambda: change(actors, subject))

    assert [(e.method, e.action, e.target, e.outcome) for e in events] == [
        (method, action, target.format(x=subject), SUCCESS)
    ]


def test_perform_and_cleanup_name_the_identifier(actors: Actors) -> None:
    with actors.hub.client(actors.www_consumer) as consumer:
        operations: list[challenge_pb2.Operation] = []
        performed = _new_events(
            actors.admin,
            lambda: operations.append(
                consumer.challenges.PerformChallenge(
                    challenge_pb2.PerformChallengeRequest(
                        identifier="WWW.demo.test", value=VALUE, wait=True
                    ),
                    timeout=30,
                )
            ),
        )
        cleaned = _new_events(
            actors.admin,
            lambda: consumer.challenges.CleanupChallenge(
                challenge_pb2.CleanupChallengeRequest(
                    identifier="www.demo.test", value=VALUE
                )
            ),
        )

    assert [
        (e.method, e.action, e.name, e.target, e.outcome, e.principal_id)
        for e in (*performed, *cleaned)
    ] == [
        (
            "/hub.v1.ChallengeService/PerformChallenge",
            "challenge.request",
            "www.demo.test",
            operations[0].id,
            SUCCESS,
            actors.www_consumer_principal_id,
        ),
        (
            "/hub.v1.ChallengeService/CleanupChallenge",
            "challenge.cleanup",
            "www.demo.test",
            "",
            SUCCESS,
            actors.www_consumer_principal_id,
        ),
    ]
    assert performed[0].client_id == actors.www_consumer.client_id


# -- every denied call: one denied event with the reason ------------------------


def test_a_forbidden_action_writes_one_denied_event(actors: Actors) -> None:
    with actors.hub.client(actors.viewer) as viewer:
        events = _new_events(
            actors.admin,
            lambda: viewer.principals.CreatePrincipal(
                principal_pb2.CreatePrincipalRequest(
                    type=principal_pb2.PRINCIPAL_TYPE_USER, title="sneaky"
                )
            ),
        )

    assert len(events) == 1
    event = events[0]
    assert event.principal_id == actors.viewer_principal_id
    assert event.client_id == actors.viewer.client_id
    assert event.peer.startswith("ipv4:127.0.0.1:")
    assert event.action == "principal.write"
    assert event.method == "/hub.v1.PrincipalService/CreatePrincipal"
    assert event.outcome == DENIED
    assert event.reason == (
        "action 'principal.write' is not granted to this token "
        "(effective roles: hub-viewer)"
    )


def test_a_name_outside_the_restriction_writes_one_denied_event(
    actors: Actors,
) -> None:
    with actors.hub.client(actors.www_consumer) as consumer:
        events = _new_events(
            actors.admin,
            lambda: consumer.challenges.PerformChallenge(
                challenge_pb2.PerformChallengeRequest(
                    identifier="mail.demo.test", value=OTHER_VALUE
                )
            ),
        )

    assert [(e.action, e.name, e.outcome, e.principal_id) for e in events] == [
        (
            "challenge.request",
            "mail.demo.test",
            DENIED,
            actors.www_consumer_principal_id,
        )
    ]
    assert "'mail.demo.test'" in events[0].reason
    assert "www.demo.test" in events[0].reason


@pytest.mark.parametrize(
    ("credentials", "recorded_client_id"),
    [
        pytest.param(
            lambda a: Credentials(a.viewer.client_id, "wrong-secret"),
            lambda a: a.viewer.client_id,
            id="wrong-secret",
        ),
        pytest.param(
            lambda a: Credentials("hub_" + "0" * 20, "whatever"),
            lambda a: "hub_" + "0" * 20,
            id="unknown-client-id",
        ),
        # A caller that swaps id and secret must not get the secret recorded.
        pytest.param(
            lambda a: Credentials("swapped-" + "s" * 43, a.viewer.client_id),
            lambda a: "(malformed)",
            id="not-shaped-like-a-client-id",
        ),
        pytest.param(lambda a: None, lambda a: "", id="no-credentials"),
    ],
)
def test_refused_credentials_write_one_denied_event_without_the_secret(
    actors: Actors,
    credentials: Callable[[Actors], Credentials | None],
    recorded_client_id: Callable[[Actors], str],
) -> None:
    presented = credentials(actors)
    with HubClient(actors.hub.address, presented) as caller:
        events = _new_events(
            actors.admin, lambda: caller.tokens.WhoAmI(token_pb2.WhoAmIRequest())
        )

    assert [
        (e.principal_id, e.client_id, e.action, e.outcome, e.reason) for e in events
    ] == [
        (
            "",
            recorded_client_id(actors),
            "self.read",
            DENIED,
            UNAUTHENTICATED_MESSAGE,
        )
    ]
    if presented is not None:
        assert presented.secret not in str(events[0])


# -- what writes nothing ----------------------------------------------------------


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(
            lambda c: c.principals.ListPrincipals(
                principal_pb2.ListPrincipalsRequest()
            ),
            id="ListPrincipals",
        ),
        pytest.param(lambda c: c.tokens.WhoAmI(token_pb2.WhoAmIRequest()), id="WhoAmI"),
        pytest.param(
            lambda c: c.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest()),
            id="ListAuditEvents",
        ),
    ],
)
def test_a_successful_read_writes_no_event(
    actors: Actors, read: Callable[[HubClient], Any]
) -> None:
    with actors.hub.client(actors.viewer) as viewer:
        events = _new_events(actors.admin, lambda: read(viewer))

    assert events == []


def test_a_call_the_transport_refuses_leaves_no_event(actors: Actors) -> None:
    metadata = (
        ("x-client-id", actors.viewer.client_id),
        ("x-client-secret", "x" * 65536),
    )

    def oversized() -> None:
        with grpc.insecure_channel(actors.hub.address) as channel:
            token_pb2_grpc.TokenServiceStub(channel).WhoAmI(
                token_pb2.WhoAmIRequest(), metadata=metadata, timeout=10
            )

    events = _new_events(actors.admin, oversized)

    assert events == []


def test_a_refused_change_leaves_no_row_and_one_failure_event(
    actors: Actors,
) -> None:
    before = actors.admin.principals.ListPrincipals(
        principal_pb2.ListPrincipalsRequest(page_size=1000)
    ).principals

    events = _new_events(
        actors.admin,
        lambda: actors.admin.principals.CreatePrincipal(
            principal_pb2.CreatePrincipalRequest(
                type=principal_pb2.PRINCIPAL_TYPE_USER, title="t" * 201
            )
        ),
    )

    after = actors.admin.principals.ListPrincipals(
        principal_pb2.ListPrincipalsRequest(page_size=1000)
    ).principals
    assert after == before
    assert [(e.action, e.outcome, e.target, e.reason) for e in events] == [
        ("principal.write", FAILURE, "", "title: must be at most 200 characters")
    ]


def test_a_denied_change_leaves_no_row(actors: Actors) -> None:
    before = actors.admin.tokens.ListTokens(
        token_pb2.ListTokensRequest(page_size=1000)
    ).tokens

    with actors.hub.client(actors.viewer) as viewer:
        error = refusal(
            lambda: viewer.tokens.CreateToken(
                token_pb2.CreateTokenRequest(
                    principal_id=actors.viewer_principal_id,
                    title="self-issued",
                    scope_role_ids=["hub-viewer"],
                )
            )
        )

    after = actors.admin.tokens.ListTokens(
        token_pb2.ListTokensRequest(page_size=1000)
    ).tokens
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert after == before


# -- listing and filtering ---------------------------------------------------------


def test_filters_narrow_the_list(actors: Actors) -> None:
    start = timestamp_pb2.Timestamp()
    start.FromSeconds(int(time.time()) - 1)
    with actors.hub.client(actors.viewer) as viewer:
        refusal(
            lambda: viewer.principals.DeletePrincipal(
                principal_pb2.DeletePrincipalRequest(id="p-filtered")
            )
        )

    def listed(**filters: Any) -> list[audit_pb2.AuditEvent]:
        return list(
            actors.admin.audit.ListAuditEvents(
                audit_pb2.ListAuditEventsRequest(page_size=1000, **filters)
            ).events
        )

    by_principal = listed(principal_id=actors.viewer_principal_id)
    by_action = listed(action="principal.write", outcome=DENIED)
    by_time = listed(start_time=start)
    named = listed(name="mail.demo.test")
    end = timestamp_pb2.Timestamp()
    end.FromSeconds(1)
    too_early = listed(end_time=end)

    assert by_principal
    assert {e.principal_id for e in by_principal} == {actors.viewer_principal_id}
    assert by_action
    assert {(e.action, e.outcome) for e in by_action} == {("principal.write", DENIED)}
    assert by_time
    assert all(e.time.seconds >= start.seconds for e in by_time)
    assert {e.name for e in named} <= {"mail.demo.test"}
    assert too_early == []


def test_events_come_newest_first_and_page(actors: Actors) -> None:
    for n in range(3):
        _principal(actors.admin, f"paging {n}")

    first = actors.admin.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(page_size=2)
    )
    second = actors.admin.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(page_size=2, page_token=first.next_page_token)
    )

    ids = [int(e.id) for e in (*first.events, *second.events)]
    assert len(first.events) == len(second.events) == 2
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4


VALIDATION_CASES = [
    pytest.param(
        {"principal_id": "p" * 65},
        "principal_id: is not a valid id",
        id="principal-id-too-long",
    ),
    pytest.param(
        {"action": "a" * 65}, "action: must be at most 64 characters", id="action-long"
    ),
    pytest.param({"name": "a..b"}, "name: 'a..b' has an empty label", id="name-bad"),
    pytest.param(
        {"outcome": 42}, "outcome: is not a known outcome", id="outcome-unknown"
    ),
    pytest.param(
        {"page_size": -1}, "page_size: must not be negative", id="page-size-negative"
    ),
    pytest.param(
        {"page_token": "%%%"},
        "page_token: is not a token from a previous call",
        id="page-token-forged",
    ),
]


@pytest.mark.parametrize(("fields", "message"), VALIDATION_CASES)
def test_list_audit_events_validation(
    actors: Actors, fields: dict[str, Any], message: str
) -> None:
    error = refusal(
        lambda: actors.admin.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(**fields)
        )
    )

    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == message
