"""The bridge in process, against a real hub publishing into a real BIND9."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
import httpx
import pytest

from hub_client.bridge import BridgeSettings, create_app, key_authorization_digest
from hub_client.client import Credentials
from hub_client.hub.v1 import audit_pb2, challenge_pb2, credential_pb2
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer

CERTIFY = "/api/v1/managedchallenge"


@pytest.fixture
async def bridge(example_hub: HubServer) -> AsyncIterator[httpx.AsyncClient]:
    """The bridge app in process, calling the hub over one channel."""
    channel = grpc.aio.insecure_channel(example_hub.address)
    app = create_app(BridgeSettings(hub_address=example_hub.address), channel=channel)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bridge", timeout=60
    ) as http:
        yield http
    await channel.close()


def new_value() -> str:
    """A fresh dns-01 value."""
    return key_authorization_digest(secrets.token_urlsafe(16))


def basic(credentials: Credentials) -> dict[str, str]:
    pair = f"{credentials.client_id}:{credentials.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def headers(credentials: Credentials) -> dict[str, str]:
    return {"X-Client-ID": credentials.client_id, "X-Client-Secret": credentials.secret}


def certify_body(identifier: str, value: str) -> dict[str, str]:
    name = identifier.removeprefix("*.")
    return {
        "ChallengeType": "dns-01",
        "Identifier": identifier,
        "ResponseKey": f"_acme-challenge.{name}",
        "ResponseValue": value,
    }


async def test_healthz_when_the_hub_answers(bridge: httpx.AsyncClient) -> None:
    response = await bridge.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "hub": "serving"}


async def test_certify_request_then_cleanup(
    bridge: httpx.AsyncClient, consumer: Credentials, example_bind: BindServer
) -> None:
    value = new_value()
    name = "_acme-challenge.www.example.com"

    response = await bridge.post(
        f"{CERTIFY}/request",
        json=certify_body("www.example.com", value),
        headers=headers(consumer),
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["isSuccess"] is True
    assert answer["result"]["status"] == "succeeded"
    assert answer["result"]["recordName"] == name
    assert value in example_bind.read_txt(name)

    cleanup = await bridge.post(
        f"{CERTIFY}/cleanup",
        json=certify_body("www.example.com", value),
        headers=headers(consumer),
    )
    assert cleanup.status_code == 200, cleanup.text
    assert cleanup.json()["result"] == {"removed": True}
    assert value not in example_bind.read_txt(name)

    again = await bridge.post(
        f"{CERTIFY}/cleanup",
        json=certify_body("www.example.com", value),
        headers=headers(consumer),
    )
    assert again.status_code == 200
    assert again.json()["result"] == {"removed": False}


async def test_certify_fields_in_any_case_and_credentials_in_the_body(
    bridge: httpx.AsyncClient, consumer: Credentials, example_bind: BindServer
) -> None:
    value = new_value()
    body = {
        "challengetype": "DNS-01",
        "IDENTIFIER": "*.example.com",
        "responseKEY": "_acme-challenge.example.com",
        "responsevalue": value,
        "authkey": consumer.client_id,
        "AUTHSECRET": consumer.secret,
    }

    response = await bridge.post(f"{CERTIFY}/request", json=body)

    assert response.status_code == 200, response.text
    assert value in example_bind.read_txt("_acme-challenge.example.com")
    cleanup = await bridge.post(f"{CERTIFY}/cleanup", json=body)
    assert cleanup.json()["result"] == {"removed": True}


async def test_certify_requestbegin_and_anonymous_status(
    bridge: httpx.AsyncClient, consumer: Credentials, example_bind: BindServer
) -> None:
    value = new_value()

    begun = await bridge.post(
        f"{CERTIFY}/requestbegin",
        json=certify_body("example.com", value),
        headers=headers(consumer),
    )

    assert begun.status_code == 202, begun.text
    operation = begun.json()
    location = begun.headers["Location"]
    assert location == f"{CERTIFY}/requeststatus/{operation['id']}"
    status = await poll_status(bridge, location)
    assert status["status"] == "succeeded"
    assert set(status) == {"id", "status", "createdAt", "updatedAt", "message"}
    assert status["createdAt"] and status["updatedAt"]
    for private in (consumer.client_id, consumer.secret, "principal"):
        assert private not in str(status)
    assert value in example_bind.read_txt("_acme-challenge.example.com")

    await bridge.post(
        f"{CERTIFY}/cleanup",
        json=certify_body("example.com", value),
        headers=headers(consumer),
    )


async def poll_status(bridge: httpx.AsyncClient, location: str) -> dict[str, Any]:
    """GET the status URL, without credentials, until it is final."""
    for _ in range(300):
        response = await bridge.get(location)
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        if status["status"] in ("succeeded", "failed"):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{location} never finished")


async def test_requeststatus_of_an_unknown_operation_is_404(
    bridge: httpx.AsyncClient,
) -> None:
    response = await bridge.get(f"{CERTIFY}/requeststatus/op-does-not-exist")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("mode", ["default", "raw"])
async def test_httpreq_present_and_cleanup(
    bridge: httpx.AsyncClient,
    consumer: Credentials,
    example_bind: BindServer,
    mode: str,
) -> None:
    name = "_acme-challenge.www.example.com"
    if mode == "raw":
        key_authorization = f"{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"
        body = {"domain": "www.example.com", "token": "t", "keyAuth": key_authorization}
        value = key_authorization_digest(key_authorization)
    else:
        value = new_value()
        body = {"fqdn": f"{name}.", "value": value}

    present = await bridge.post("/httpreq/present", json=body, headers=basic(consumer))

    assert present.status_code == 200, present.text
    assert value in example_bind.read_txt(name)
    cleanup = await bridge.post("/httpreq/cleanup", json=body, headers=basic(consumer))
    assert cleanup.status_code == 200, cleanup.text
    assert value not in example_bind.read_txt(name)


async def test_httpreq_apex_and_wildcard_values_together(
    bridge: httpx.AsyncClient, consumer: Credentials, example_bind: BindServer
) -> None:
    # lego sends the same fqdn for example.com and *.example.com; both values
    # must be served at once, and the SPF record at the apex stays.
    name = "_acme-challenge.example.com"
    first, second = new_value(), new_value()
    for value in (first, second):
        body = {"fqdn": f"{name}.", "value": value}
        response = await bridge.post(
            "/httpreq/present", json=body, headers=basic(consumer)
        )
        assert response.status_code == 200, response.text

    assert {first, second} <= example_bind.read_txt(name)

    await bridge.post(
        "/httpreq/cleanup", json={"fqdn": name, "value": first}, headers=basic(consumer)
    )
    assert example_bind.read_txt(name) == {second}
    await bridge.post(
        "/httpreq/cleanup",
        json={"fqdn": name, "value": second},
        headers=basic(consumer),
    )
    assert example_bind.read_txt(name) == set()
    assert example_bind.read_txt("example.com") == {"v=spf1 -all"}


REFUSALS = [
    pytest.param(
        "www_only_consumer",
        "api.example.com",
        None,
        403,
        "api.example.com",
        id="name-outside-the-token-restriction",
    ),
    pytest.param(
        "consumer",
        "www.example.org",
        None,
        403,
        "www.example.org",
        id="name-no-config-serves",
    ),
    pytest.param(
        "consumer",
        "www.example.com",
        "A" * 42,
        400,
        "value",
        id="value-42-characters",
    ),
    pytest.param(
        "consumer",
        "www.example.com",
        "v=spf1 include:evil.test",
        400,
        "value",
        id="value-spf",
    ),
    pytest.param(
        "wrong_secret",
        "www.example.com",
        None,
        401,
        "",
        id="wrong-secret",
    ),
]


@pytest.mark.parametrize(("who", "identifier", "value", "status", "named"), REFUSALS)
async def test_certify_refusals_change_nothing(
    bridge: httpx.AsyncClient,
    example_bind: BindServer,
    request: pytest.FixtureRequest,
    who: str,
    identifier: str,
    value: str | None,
    status: int,
    named: str,
) -> None:
    if who == "wrong_secret":
        real: Credentials = request.getfixturevalue("consumer")
        credentials = Credentials(real.client_id, secrets.token_urlsafe(32))
    else:
        credentials = request.getfixturevalue(who)
    name = f"_acme-challenge.{identifier}"
    before = example_bind.read_txt(name)

    response = await bridge.post(
        f"{CERTIFY}/request",
        json=certify_body(identifier, value or new_value()),
        headers=headers(credentials),
    )

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert named in response.json()["detail"]
    assert credentials.secret not in response.text
    assert example_bind.read_txt(name) == before


async def test_record_name_mismatch_is_refused(
    bridge: httpx.AsyncClient, consumer: Credentials, example_bind: BindServer
) -> None:
    body = certify_body("www.example.com", new_value())
    body["ResponseKey"] = "_acme-challenge.other.example.com"

    response = await bridge.post(
        f"{CERTIFY}/request", json=body, headers=headers(consumer)
    )

    assert response.status_code == 400, response.text
    assert example_bind.read_txt("_acme-challenge.other.example.com") == set()
    assert example_bind.read_txt("_acme-challenge.www.example.com") == set()


async def test_failed_dns_update_is_502_without_the_tsig_secret(
    bridge: httpx.AsyncClient,
    consumer: Credentials,
    example_hub: HubServer,
    example_bind: BindServer,
) -> None:
    # A config for one name whose credential holds a TSIG secret BIND9 rejects.
    wrong_secret = base64.b64encode(secrets.token_bytes(32)).decode()
    params = {**example_bind.provider_params(), "tsig_secret": wrong_secret}
    with example_hub.client() as admin:
        credential = admin.credentials.CreateStoredCredential(
            credential_pb2.CreateStoredCredentialRequest(
                title="wrong key", provider_type="rfc2136", parameters=params
            )
        )
        admin.challenges.CreateManagedChallenge(
            challenge_pb2.CreateManagedChallengeRequest(
                managed_challenge=challenge_pb2.ManagedChallenge(
                    title="broken",
                    challenge_type="dns-01",
                    credential_id=credential.id,
                    domain_match_rule="broken.example.com",
                    propagation=challenge_pb2.PropagationSettings(
                        timeout_seconds=5, nameservers=[example_bind.server]
                    ),
                )
            )
        )

    response = await bridge.post(
        f"{CERTIFY}/request",
        json=certify_body("broken.example.com", new_value()),
        headers=headers(consumer),
    )

    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]
    assert wrong_secret not in response.text
    assert example_bind.read_txt("_acme-challenge.broken.example.com") == set()


async def test_the_hub_audits_the_bridge_caller_address(
    example_hub: HubServer, consumer: Credentials
) -> None:
    channel = grpc.aio.insecure_channel(example_hub.address)
    app = create_app(BridgeSettings(hub_address=example_hub.address), channel=channel)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as http:
        response = await http.post(
            "/httpreq/present",
            json={"fqdn": "_acme-challenge.www.example.com.", "value": "x" * 43},
            headers=basic(Credentials(consumer.client_id, "wrong-secret")),
        )
    await channel.close()

    with example_hub.client() as admin:
        events = admin.audit.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(
                outcome=audit_pb2.AUDIT_OUTCOME_DENIED, page_size=1
            )
        ).events

    assert response.status_code == 401
    assert events[0].client_id == consumer.client_id
    assert events[0].peer.endswith(" for 198.51.100.9")
