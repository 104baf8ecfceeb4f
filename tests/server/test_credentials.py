"""CredentialService through a real hub: secrets stay write-only, fields are checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.protobuf import field_mask_pb2

from hub_client.client import HubClient
from hub_client.errors import HubClientError
from hub_client.hub.v1 import challenge_pb2, credential_pb2
from tests.server.challenge_support import create_config, create_credential
from tests.servers.bind import BindServer, TsigKey
from tests.servers.hub import HubServer


@pytest.fixture(scope="module")
def admin(hub: HubServer) -> Iterator[HubClient]:
    with hub.client() as client:
        yield client


def get(admin: HubClient, credential_id: str) -> credential_pb2.StoredCredential:
    return admin.credentials.GetStoredCredential(
        credential_pb2.GetStoredCredentialRequest(id=credential_id)
    )


def update(
    admin: HubClient, credential_id: str, paths: list[str], **fields: object
) -> credential_pb2.StoredCredential:
    return admin.credentials.UpdateStoredCredential(
        credential_pb2.UpdateStoredCredentialRequest(
            id=credential_id,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
            **fields,  # type: ignore[arg-type]
        )
    )


def try_credential(
    admin: HubClient, credential_id: str, zone: str = "www.example.com"
) -> credential_pb2.TestStoredCredentialResponse:
    return admin.credentials.TestStoredCredential(
        credential_pb2.TestStoredCredentialRequest(id=credential_id, zone=zone)
    )


def test_providers_list_their_parameters(admin: HubClient) -> None:
    answer = admin.credentials.ListProviders(credential_pb2.ListProvidersRequest())
    providers = {p.type: p for p in answer.providers}

    rfc2136 = providers["rfc2136"]
    assert {"rfc2136", "powerdns", "embedded"} <= set(providers)
    assert [p.type for p in answer.providers] == sorted(providers)
    assert {p.name: p.secret for p in rfc2136.parameters} == {
        "server": False,
        "tsig_key_name": False,
        "tsig_algorithm": False,
        "tsig_secret": True,
    }
    assert (rfc2136.min_ttl, rfc2136.max_ttl) == (1, 86400)


def test_secret_parameters_are_never_returned(
    admin: HubClient, bind: BindServer
) -> None:
    credential_id = create_credential(admin, bind.provider_params())

    created = get(admin, credential_id)
    listed = [
        c
        for c in admin.credentials.ListStoredCredentials(
            credential_pb2.ListStoredCredentialsRequest(page_size=1000)
        ).stored_credentials
        if c.id == credential_id
    ]

    assert listed == [created]
    assert list(created.secret_parameters_set) == ["tsig_secret"]
    assert dict(created.parameters) == {
        "server": bind.server,
        "tsig_key_name": bind.tsig_key_name,
        "tsig_algorithm": bind.tsig_algorithm,
    }
    assert bind.tsig_secret not in str(created)


def test_F21_parameters_trimmed_on_save(
    admin: HubClient, bind: BindServer, hub: HubServer
) -> None:
    padded = {k: f"  {v}\n" for k, v in bind.provider_params().items()}

    credential_id = create_credential(admin, padded)
    shown = get(admin, credential_id)
    tested = try_credential(admin, credential_id)

    assert shown.parameters["server"] == bind.server
    assert tested.ok is True, tested.message
    assert tested.zone == "example.com"
    assert bind.tsig_secret not in hub.log()


def test_test_reports_a_refused_key_without_the_secret(
    admin: HubClient, bind: BindServer
) -> None:
    wrong = TsigKey(name=bind.tsig_key_name)
    params = {**bind.provider_params(), "tsig_secret": wrong.secret}
    credential_id = create_credential(admin, params)

    tested = try_credential(admin, credential_id)

    assert tested.ok is False
    assert tested.zone == ""
    assert bind.server in tested.message
    assert wrong.secret not in str(tested)


@pytest.mark.parametrize(
    ("zone", "ok", "text"),
    [
        pytest.param("deep.name.example.org", True, "example.org", id="zone-found"),
        pytest.param("example.invalid", False, "example.invalid", id="no-zone"),
    ],
)
def test_test_finds_the_zone(
    admin: HubClient, bind: BindServer, zone: str, ok: bool, text: str
) -> None:
    credential_id = create_credential(admin, bind.provider_params())

    tested = try_credential(admin, credential_id, zone)

    assert tested.ok is ok
    assert text in tested.message
    assert tested.duration_ms >= 0


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        pytest.param({"title": ""}, "INVALID_ARGUMENT", "title", id="title-empty"),
        pytest.param(
            {"title": "x" * 201}, "INVALID_ARGUMENT", "title", id="title-long"
        ),
        pytest.param(
            {"description": "x" * 2001},
            "INVALID_ARGUMENT",
            "description",
            id="description-long",
        ),
        pytest.param(
            {"provider_type": "no-such-dns"},
            "INVALID_ARGUMENT",
            "provider_type: unknown provider 'no-such-dns'",
            id="unknown-provider",
        ),
        pytest.param(
            {"provider_type": ""},
            "INVALID_ARGUMENT",
            "provider_type",
            id="provider-missing",
        ),
        pytest.param(
            {"extra": {"zone_id": "1"}},
            "INVALID_ARGUMENT",
            "zone_id",
            id="unknown-parameter",
        ),
        pytest.param(
            {"drop": "tsig_key_name"},
            "INVALID_ARGUMENT",
            "tsig_key_name",
            id="missing-parameter",
        ),
        pytest.param(
            {"extra": {"tsig_secret": "not base64!"}},
            "INVALID_ARGUMENT",
            "tsig_secret",
            id="secret-not-base64",
        ),
        pytest.param(
            {"extra": {"tsig_algorithm": "hmac-rot13"}},
            "INVALID_ARGUMENT",
            "tsig_algorithm",
            id="unknown-algorithm",
        ),
        pytest.param(
            {"extra": {"server": "127.0.0.1:99999"}},
            "INVALID_ARGUMENT",
            "server",
            id="bad-server",
        ),
    ],
)
def test_create_refused(
    admin: HubClient,
    bind: BindServer,
    fields: dict[str, object],
    code: str,
    message: str,
) -> None:
    params = {**bind.provider_params(), **fields.get("extra", {})}  # type: ignore[dict-item]
    params.pop(str(fields.get("drop", "")), None)
    before = admin.credentials.ListStoredCredentials(
        credential_pb2.ListStoredCredentialsRequest(page_size=1000)
    )

    with pytest.raises(HubClientError) as caught:
        admin.credentials.CreateStoredCredential(
            credential_pb2.CreateStoredCredentialRequest(
                title=str(fields.get("title", "refused")),
                description=str(fields.get("description", "")),
                provider_type=str(fields.get("provider_type", "rfc2136")),
                parameters=params,
            )
        )

    assert caught.value.code.name == code
    assert message in caught.value.message
    assert "not base64!" not in caught.value.message
    after = admin.credentials.ListStoredCredentials(
        credential_pb2.ListStoredCredentialsRequest(page_size=1000)
    )
    assert after == before


def test_update_title_and_parameters(admin: HubClient, bind: BindServer) -> None:
    credential_id = create_credential(admin, bind.provider_params())

    renamed = update(admin, credential_id, ["title"], title="renamed", description="x")
    moved = update(
        admin,
        credential_id,
        ["parameters"],
        parameters={"tsig_algorithm": "HMAC-SHA256"},
    )
    tested = try_credential(admin, credential_id)

    assert renamed.title == "renamed"
    assert renamed.description == ""  # not in the mask: unchanged
    assert moved.title == "renamed"
    assert moved.parameters["tsig_algorithm"] == "HMAC-SHA256"
    assert moved.parameters["server"] == bind.server
    assert list(moved.secret_parameters_set) == ["tsig_secret"]
    assert tested.ok is True, tested.message


@pytest.mark.parametrize(
    ("paths", "fields", "message"),
    [
        pytest.param([], {"title": "x"}, "update_mask: is required", id="no-mask"),
        pytest.param(
            ["provider_type"], {}, "update_mask: path 'provider_type'", id="bad-path"
        ),
        pytest.param(["title"], {"title": " "}, "title: is required", id="title-blank"),
        pytest.param(
            ["parameters"],
            {"parameters": {"zone_id": "1"}},
            "zone_id",
            id="unknown-parameter",
        ),
        pytest.param(
            ["parameters"],
            {"parameters": {"tsig_secret": "@@@"}},
            "tsig_secret",
            id="bad-secret",
        ),
    ],
)
def test_update_refused(
    admin: HubClient,
    bind: BindServer,
    paths: list[str],
    fields: dict[str, object],
    message: str,
) -> None:
    credential_id = create_credential(admin, bind.provider_params())
    before = get(admin, credential_id)

    with pytest.raises(HubClientError) as caught:
        update(admin, credential_id, paths, **fields)

    assert caught.value.code.name == "INVALID_ARGUMENT"
    assert message in caught.value.message
    assert "@@@" not in caught.value.message
    assert get(admin, credential_id) == before


def test_delete_refused_while_a_config_uses_it(
    admin: HubClient, bind: BindServer
) -> None:
    credential_id = create_credential(admin, bind.provider_params())
    config = create_config(admin, credential_id, "delete-me.example.com")

    with pytest.raises(HubClientError) as refused:
        admin.credentials.DeleteStoredCredential(
            credential_pb2.DeleteStoredCredentialRequest(id=credential_id)
        )
    admin.challenges.DeleteManagedChallenge(
        challenge_pb2.DeleteManagedChallengeRequest(id=config.id)
    )
    admin.credentials.DeleteStoredCredential(
        credential_pb2.DeleteStoredCredentialRequest(id=credential_id)
    )
    with pytest.raises(HubClientError) as gone:
        get(admin, credential_id)

    assert refused.value.code.name == "FAILED_PRECONDITION"
    assert config.id in refused.value.message
    assert gone.value.code.name == "NOT_FOUND"
    assert credential_id in gone.value.message


def test_list_pages(admin: HubClient, bind: BindServer) -> None:
    for _ in range(3):
        create_credential(admin, bind.provider_params())

    seen: list[str] = []
    token = ""
    while True:
        page = admin.credentials.ListStoredCredentials(
            credential_pb2.ListStoredCredentialsRequest(page_size=2, page_token=token)
        )
        assert len(page.stored_credentials) <= 2
        seen += [c.id for c in page.stored_credentials]
        token = page.next_page_token
        if not token:
            break

    assert len(seen) == len(set(seen)) >= 3


@pytest.mark.parametrize(
    "method", ["GetStoredCredential", "DeleteStoredCredential", "TestStoredCredential"]
)
def test_unknown_id(admin: HubClient, method: str) -> None:
    request_type = getattr(credential_pb2, f"{method}Request")

    with pytest.raises(HubClientError) as caught:
        getattr(admin.credentials, method)(request_type(id="c-nothing"))

    assert caught.value.code.name == "NOT_FOUND"
    assert "c-nothing" in caught.value.message
