"""Managed challenge configs through a real hub: field checks, masks, resolving."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.protobuf import field_mask_pb2

from hub_client.client import HubClient
from hub_client.errors import HubClientError
from hub_client.hub.v1 import challenge_pb2
from tests.bridge.stack import consumer_token
from tests.server.challenge_support import create_config, create_credential
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer


@pytest.fixture(scope="module")
def admin(hub: HubServer) -> Iterator[HubClient]:
    with hub.client() as client:
        yield client


@pytest.fixture(scope="module")
def credential_id(admin: HubClient, bind: BindServer) -> str:
    return create_credential(admin, bind.provider_params())


@pytest.fixture(scope="module")
def taken(admin: HubClient, credential_id: str) -> challenge_pb2.ManagedChallenge:
    """A config holding the entries every duplicate test collides with."""
    return create_config(admin, credential_id, "taken.example.com; *.taken.example.org")


def get(admin: HubClient, config_id: str) -> challenge_pb2.ManagedChallenge:
    return admin.challenges.GetManagedChallenge(
        challenge_pb2.GetManagedChallengeRequest(id=config_id)
    )


def all_configs(admin: HubClient) -> list[challenge_pb2.ManagedChallenge]:
    answer = admin.challenges.ListManagedChallenges(
        challenge_pb2.ListManagedChallengesRequest(page_size=1000)
    )
    return list(answer.managed_challenges)


def resolve(
    client: HubClient, identifier: str
) -> challenge_pb2.ResolveManagedChallengeResponse:
    return client.challenges.ResolveManagedChallenge(
        challenge_pb2.ResolveManagedChallengeRequest(identifier=identifier)
    )


def test_create_stores_every_field(admin: HubClient, credential_id: str) -> None:
    created = create_config(
        admin,
        credential_id,
        " Fields.Example.COM. , *.fields.example.com",
        timeout=45,
        nameservers=("127.0.0.1:5300", "::1"),
        ttl=120,
        follow_cname=True,
        max_record_age_seconds=600,
        description="every field",
    )

    assert get(admin, created.id) == created
    assert created.id in [c.id for c in all_configs(admin)]
    assert created.challenge_type == "dns-01"
    assert created.domain_match_rule == "fields.example.com; *.fields.example.com"
    assert created.ttl == 120
    assert created.propagation.timeout_seconds == 45
    assert list(created.propagation.nameservers) == ["127.0.0.1:5300", "[::1]:53"]
    assert created.follow_cname is True
    assert created.max_record_age_seconds == 600
    assert created.description == "every field"


def test_ttl_zero_means_sixty(admin: HubClient, credential_id: str) -> None:
    created = create_config(admin, credential_id, "ttl-default.example.com")

    assert created.ttl == 60


BAD_FIELDS = [
    pytest.param(
        {"title": ""}, "INVALID_ARGUMENT", "managed_challenge.title", id="title-empty"
    ),
    pytest.param(
        {"title": "x" * 201},
        "INVALID_ARGUMENT",
        "managed_challenge.title",
        id="title-long",
    ),
    pytest.param(
        {"description": "x" * 2001},
        "INVALID_ARGUMENT",
        "managed_challenge.description",
        id="description-long",
    ),
    pytest.param(
        {"challenge_type": "http-01"},
        "INVALID_ARGUMENT",
        "managed_challenge.challenge_type: only 'dns-01' is supported, not 'http-01'",
        id="challenge-type",
    ),
    pytest.param(
        {"credential_id": ""},
        "INVALID_ARGUMENT",
        "managed_challenge.credential_id",
        id="credential-missing",
    ),
    pytest.param(
        {"credential_id": "c-nothing"},
        "NOT_FOUND",
        "c-nothing",
        id="credential-unknown",
    ),
    pytest.param(
        {"domain_match_rule": ""},
        "INVALID_ARGUMENT",
        "managed_challenge.domain_match_rule",
        id="rule-empty",
    ),
    pytest.param(
        {"domain_match_rule": "*.com"},
        "INVALID_ARGUMENT",
        "public suffix",
        id="F11-rule-public-suffix",
    ),
    pytest.param(
        {"domain_match_rule": "ok.example.com; co.uk"},
        "INVALID_ARGUMENT",
        "co.uk",
        id="F11-rule-second-entry",
    ),
    pytest.param(
        {"domain_match_rule": "a..example.com"},
        "INVALID_ARGUMENT",
        "managed_challenge.domain_match_rule",
        id="rule-empty-label",
    ),
    pytest.param(
        {"domain_match_rule": "www.*.example.com"},
        "INVALID_ARGUMENT",
        "managed_challenge.domain_match_rule",
        id="rule-inner-star",
    ),
    pytest.param(
        {"domain_match_rule": "new.example.net; taken.example.com"},
        "ALREADY_EXISTS",
        "'taken.example.com' is already used by managed challenge config",
        id="duplicate-entry",
    ),
    pytest.param(
        {"domain_match_rule": "*.TAKEN.example.org."},
        "ALREADY_EXISTS",
        "'*.taken.example.org'",
        id="duplicate-after-normalising",
    ),
    pytest.param(
        {"ttl": -1}, "INVALID_ARGUMENT", "managed_challenge.ttl", id="ttl-negative"
    ),
    pytest.param(
        {"ttl": 86401}, "INVALID_ARGUMENT", "managed_challenge.ttl", id="ttl-too-big"
    ),
    pytest.param(
        {"timeout": -1},
        "INVALID_ARGUMENT",
        "managed_challenge.propagation.timeout_seconds",
        id="timeout-negative",
    ),
    pytest.param(
        {"timeout": 3601},
        "INVALID_ARGUMENT",
        "managed_challenge.propagation.timeout_seconds",
        id="timeout-too-long",
    ),
    pytest.param(
        {"nameservers": ("127.0.0.1:99999",)},
        "INVALID_ARGUMENT",
        "managed_challenge.propagation.nameservers",
        id="nameserver-port",
    ),
    pytest.param(
        {"nameservers": ("127.0.0.1:dns",)},
        "INVALID_ARGUMENT",
        "managed_challenge.propagation.nameservers",
        id="nameserver-port-text",
    ),
    pytest.param(
        {"nameservers": ("ns1.example.com:53",)},
        "INVALID_ARGUMENT",
        "managed_challenge.propagation.nameservers",
        id="nameserver-host-name",
    ),
    pytest.param(
        {"max_record_age_seconds": -5},
        "INVALID_ARGUMENT",
        "managed_challenge.max_record_age_seconds",
        id="max-age-negative",
    ),
    pytest.param(
        {"max_record_age_seconds": 30 * 86400 + 1},
        "INVALID_ARGUMENT",
        "managed_challenge.max_record_age_seconds",
        id="max-age-too-long",
    ),
]


@pytest.mark.parametrize(("fields", "code", "message"), BAD_FIELDS)
def test_create_refused(
    admin: HubClient,
    credential_id: str,
    taken: challenge_pb2.ManagedChallenge,
    fields: dict[str, object],
    code: str,
    message: str,
) -> None:
    given: dict[str, object] = {
        "title": "refused",
        "challenge_type": "dns-01",
        "credential_id": credential_id,
        "domain_match_rule": "refused.example.com",
        **{k: v for k, v in fields.items() if k not in ("timeout", "nameservers")},
    }
    propagation = challenge_pb2.PropagationSettings(
        timeout_seconds=int(fields.get("timeout", 0)),  # type: ignore[call-overload]
        nameservers=list(fields.get("nameservers", ())),  # type: ignore[call-overload]
    )
    before = all_configs(admin)

    with pytest.raises(HubClientError) as caught:
        admin.challenges.CreateManagedChallenge(
            challenge_pb2.CreateManagedChallengeRequest(
                managed_challenge=challenge_pb2.ManagedChallenge(
                    **given,  # type: ignore[arg-type]
                    propagation=propagation,
                )
            )
        )

    assert caught.value.code.name == code
    assert message in caught.value.message
    if code == "ALREADY_EXISTS":
        assert taken.id in caught.value.message
    assert all_configs(admin) == before


def update(
    admin: HubClient, config: challenge_pb2.ManagedChallenge, paths: list[str]
) -> challenge_pb2.ManagedChallenge:
    return admin.challenges.UpdateManagedChallenge(
        challenge_pb2.UpdateManagedChallengeRequest(
            managed_challenge=config, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
    )


def test_update_changes_only_masked_fields(
    admin: HubClient, credential_id: str
) -> None:
    created = create_config(admin, credential_id, "mask.example.com", ttl=90)
    change = challenge_pb2.ManagedChallenge()
    change.CopyFrom(created)
    change.title = "new title"
    change.ttl = 300
    change.domain_match_rule = "mask.example.com; *.mask.example.com"

    updated = update(admin, change, ["title", "domain_match_rule"])

    assert updated.title == "new title"
    assert updated.domain_match_rule == "mask.example.com; *.mask.example.com"
    assert updated.ttl == 90
    assert get(admin, created.id) == updated
    assert resolve(admin, "www.mask.example.com").managed_challenge.id == created.id


def test_update_may_keep_its_own_entries(admin: HubClient, credential_id: str) -> None:
    created = create_config(admin, credential_id, "own.example.com")
    change = challenge_pb2.ManagedChallenge(
        id=created.id, domain_match_rule="own.example.com; *.own.example.com"
    )

    updated = update(admin, change, ["domain_match_rule"])

    assert updated.domain_match_rule == "own.example.com; *.own.example.com"


@pytest.mark.parametrize(
    ("paths", "fields", "code", "message"),
    [
        pytest.param([], {}, "INVALID_ARGUMENT", "update_mask", id="no-mask"),
        pytest.param(
            ["id"], {}, "INVALID_ARGUMENT", "update_mask: path 'id'", id="path-id"
        ),
        pytest.param(
            ["ttl"], {"ttl": 86401}, "INVALID_ARGUMENT", "ttl", id="ttl-too-big"
        ),
        pytest.param(
            ["challenge_type"],
            {"challenge_type": "tls-alpn-01"},
            "INVALID_ARGUMENT",
            "challenge_type",
            id="challenge-type",
        ),
        pytest.param(
            ["domain_match_rule"],
            {"domain_match_rule": "taken.example.com"},
            "ALREADY_EXISTS",
            "'taken.example.com'",
            id="duplicate-entry",
        ),
        pytest.param(
            ["domain_match_rule"],
            {"domain_match_rule": "**.co.uk"},
            "INVALID_ARGUMENT",
            "public suffix",
            id="public-suffix",
        ),
        pytest.param(
            ["credential_id"],
            {"credential_id": "c-nothing"},
            "NOT_FOUND",
            "c-nothing",
            id="credential-unknown",
        ),
    ],
)
def test_update_refused(
    admin: HubClient,
    credential_id: str,
    taken: challenge_pb2.ManagedChallenge,
    paths: list[str],
    fields: dict[str, object],
    code: str,
    message: str,
) -> None:
    created = create_config(admin, credential_id, f"upd-{len(all_configs(admin))}.org")
    change = challenge_pb2.ManagedChallenge()
    change.CopyFrom(created)
    for name, value in fields.items():
        setattr(change, name, value)

    with pytest.raises(HubClientError) as caught:
        update(admin, change, paths)

    assert caught.value.code.name == code
    assert message in caught.value.message
    assert get(admin, created.id) == created


def test_update_unknown_config(admin: HubClient) -> None:
    with pytest.raises(HubClientError) as caught:
        update(
            admin,
            challenge_pb2.ManagedChallenge(id="mc-nothing", title="x"),
            ["title"],
        )

    assert caught.value.code.name == "NOT_FOUND"
    assert "mc-nothing" in caught.value.message


def test_delete_then_get(admin: HubClient, credential_id: str) -> None:
    created = create_config(admin, credential_id, "deleted.example.com")

    admin.challenges.DeleteManagedChallenge(
        challenge_pb2.DeleteManagedChallengeRequest(id=created.id)
    )
    with pytest.raises(HubClientError) as caught:
        get(admin, created.id)
    again = create_config(admin, credential_id, "deleted.example.com")

    assert caught.value.code.name == "NOT_FOUND"
    assert again.id != created.id  # the freed rule entry can be used again


# -- resolving ---------------------------------------------------------------


@pytest.fixture(scope="module")
def resolve_configs(admin: HubClient, credential_id: str) -> dict[str, str]:
    rules = ("resolve.example.com; *.resolve.example.com", "**.resolve.example.com")
    return {rule: create_config(admin, credential_id, rule).id for rule in rules}


@pytest.mark.parametrize(
    ("identifier", "rule", "entry"),
    [
        pytest.param(
            "resolve.example.com",
            "resolve.example.com; *.resolve.example.com",
            "resolve.example.com",
            id="exact",
        ),
        pytest.param(
            "WWW.resolve.example.com.",
            "resolve.example.com; *.resolve.example.com",
            "*.resolve.example.com",
            id="one-label-below",
        ),
        pytest.param(
            "a.b.resolve.example.com",
            "**.resolve.example.com",
            "**.resolve.example.com",
            id="deeper",
        ),
    ],
)
def test_resolve_says_which_config_and_why(
    admin: HubClient,
    resolve_configs: dict[str, str],
    identifier: str,
    rule: str,
    entry: str,
) -> None:
    answer = resolve(admin, identifier)

    config_id = resolve_configs[rule]
    assert answer.found is True
    assert answer.identifier == identifier.lower().rstrip(".")
    assert answer.validation_name == f"_acme-challenge.{answer.identifier}"
    assert answer.managed_challenge.id == config_id
    assert answer.matched_entry == entry
    assert config_id in answer.explanation
    assert repr(entry) in answer.explanation


def test_resolve_without_a_match(
    admin: HubClient, resolve_configs: dict[str, str]
) -> None:
    answer = resolve(admin, "nothing.example.net")

    assert answer.found is False
    assert not answer.HasField("managed_challenge")
    assert "nothing.example.net" in answer.explanation


def test_resolve_reveals_nothing_outside_restrictions(
    hub: HubServer, admin: HubClient, resolve_configs: dict[str, str]
) -> None:
    credentials = consumer_token(admin, "resolve", "www.resolve.example.com")

    with hub.client(credentials) as consumer:
        allowed = resolve(consumer, "www.resolve.example.com")
        outside = resolve(consumer, "resolve.example.com")

    assert allowed.found is True
    assert outside.found is False
    assert not outside.HasField("managed_challenge")
    assert outside.matched_entry == ""
    assert "restrictions" in outside.explanation
    for config_id in resolve_configs.values():
        assert config_id not in str(outside)


def test_resolve_refuses_a_bad_identifier(admin: HubClient) -> None:
    with pytest.raises(HubClientError) as caught:
        resolve(admin, "a..b")

    assert caught.value.code.name == "INVALID_ARGUMENT"
    assert "identifier" in caught.value.message
