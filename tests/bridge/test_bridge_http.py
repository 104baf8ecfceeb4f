"""The bridge's HTTP surface that needs no hub: parsing, refusals, OpenAPI, logs."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import httpx
import pytest
from starlette.routing import Route

from hub_client.bridge import (
    HTTP_STATUS,
    BridgeSettings,
    create_app,
    identifier_from_fqdn,
    key_authorization_digest,
)
from tests.servers.ports import free_port

SECRET = "s3cret-that-must-never-be-logged"
VALUE = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"


@pytest.fixture
async def bridge() -> AsyncIterator[httpx.AsyncClient]:
    """The bridge aimed at a loopback port where no hub listens."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    app = create_app(BridgeSettings(max_body=1024), channel=channel)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as http:
        yield http
    await channel.close()


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_key_authorization_digest_is_unpadded_base64url_sha256() -> None:
    # Expected value from: printf token.thumbprint | openssl dgst -sha256 -binary
    # | base64 | tr '+/' '-_' | tr -d '='
    value = key_authorization_digest("token.thumbprint")
    assert value == "61rBZ_4knHblO0MNoxFsXZ_eTFUHum0B6IVRbhvUn5I"


@pytest.mark.parametrize(
    ("fqdn", "identifier"),
    [
        pytest.param("_acme-challenge.example.com.", "example.com", id="lego-dot"),
        pytest.param("_acme-challenge.www.example.com", "www.example.com", id="no-dot"),
        pytest.param("_ACME-Challenge.Example.COM.", "Example.COM", id="case"),
    ],
)
def test_identifier_from_fqdn(fqdn: str, identifier: str) -> None:
    assert identifier_from_fqdn(fqdn) == identifier


def test_every_grpc_status_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(grpc.StatusCode)


def test_settings_from_env() -> None:
    settings = BridgeSettings.from_env(
        {
            "HUB_ADDRESS": "10.0.0.1:5000",
            "HUB_BRIDGE_LISTEN": "[::1]:9443",
            "HUB_BRIDGE_MAX_BODY": "2048",
        }
    )
    assert settings.hub_address == "10.0.0.1:5000"
    assert settings.listen_host_port() == ("::1", 9443)
    assert settings.max_body == 2048
    assert BridgeSettings.from_env({}).listen_host_port() == ("127.0.0.1", 8080)


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"HUB_BRIDGE_MAX_BODY": "lots"}, id="max-body-text"),
        pytest.param({"HUB_BRIDGE_MAX_BODY": "0"}, id="max-body-zero"),
        pytest.param({"HUB_BRIDGE_TLS_CERT": "cert.pem"}, id="cert-without-key"),
    ],
)
def test_settings_refuse(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        BridgeSettings.from_env(env)


CERTIFY_BODY = {
    "ChallengeType": "dns-01",
    "Identifier": "www.example.com",
    "ResponseKey": "_acme-challenge.www.example.com",
    "ResponseValue": VALUE,
}


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "detail"),
    [
        pytest.param(
            "/api/v1/managedchallenge/request",
            {"json": CERTIFY_BODY},
            401,
            "send a client id and secret",
            id="certify-no-credentials",
        ),
        pytest.param(
            "/httpreq/present",
            {"json": {"fqdn": "_acme-challenge.example.com.", "value": VALUE}},
            401,
            "send a client id and secret",
            id="httpreq-no-credentials",
        ),
        pytest.param(
            "/api/v1/managedchallenge/request",
            {"content": b"{not json", "headers": basic("id", SECRET)},
            400,
            "the body is not JSON",
            id="not-json",
        ),
        pytest.param(
            "/api/v1/managedchallenge/request",
            {"json": ["a", "list"], "headers": basic("id", SECRET)},
            400,
            "must be a JSON object",
            id="not-an-object",
        ),
        pytest.param(
            "/api/v1/managedchallenge/request",
            {"json": {**CERTIFY_BODY, "Identifier": ""}, "headers": basic("i", SECRET)},
            400,
            "Identifier: required",
            id="identifier-missing",
        ),
        pytest.param(
            "/api/v1/managedchallenge/request",
            {
                "json": {**CERTIFY_BODY, "ResponseValue": 7},
                "headers": basic("i", SECRET),
            },
            400,
            "ResponseValue: must be a string",
            id="value-not-text",
        ),
        pytest.param(
            "/api/v1/managedchallenge/request",
            {
                "json": {**CERTIFY_BODY, "ChallengeType": "http-01"},
                "headers": basic("i", SECRET),
            },
            400,
            "only dns-01",
            id="http-01",
        ),
        pytest.param(
            "/httpreq/present",
            {
                "json": {"fqdn": "www.example.com.", "value": VALUE},
                "headers": basic("i", SECRET),
            },
            400,
            "does not start with _acme-challenge.",
            id="fqdn-not-validation-name",
        ),
        pytest.param(
            "/httpreq/present",
            {"json": {"domain": "example.com"}, "headers": basic("i", SECRET)},
            400,
            "token: required",
            id="raw-incomplete",
        ),
        pytest.param(
            "/httpreq/present",
            {"json": {}, "headers": basic("i", SECRET)},
            400,
            "body: expected {fqdn, value}, or {domain, token, keyAuth} in RAW mode",
            id="neither-mode",
        ),
        pytest.param(
            "/httpreq/present",
            {"content": b"x" * 2000, "headers": basic("i", SECRET)},
            413,
            "larger than 1024 bytes",
            id="body-too-large",
        ),
        pytest.param(
            "/httpreq/present",
            {"json": {"fqdn": "x"}, "headers": {"Authorization": "Basic %%%"}},
            400,
            "malformed Basic credentials",
            id="basic-garbled",
        ),
        pytest.param(
            "/api/v1/managedchallenge/requeststatus/not%20an%20id!",
            {},
            404,
            "not found",
            id="status-id-garbled",
        ),
    ],
)
async def test_refused_before_the_hub(
    bridge: httpx.AsyncClient,
    path: str,
    kwargs: dict[str, object],
    status: int,
    detail: str,
) -> None:
    method = "GET" if "requeststatus" in path else "POST"
    response = await bridge.request(method, path, **kwargs)  # type: ignore[arg-type]

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert detail in problem["detail"]
    assert SECRET not in response.text


async def test_body_too_large_by_stream(bridge: httpx.AsyncClient) -> None:
    # No Content-Length: the limit must hold while the body streams in.
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 200

    response = await bridge.post(
        "/httpreq/present", content=chunks(), headers=basic("i", SECRET)
    )
    assert response.status_code == 413


async def test_hub_unreachable_is_502_and_healthz_503(
    bridge: httpx.AsyncClient,
) -> None:
    response = await bridge.post(
        "/httpreq/present",
        json={"fqdn": "_acme-challenge.example.com.", "value": VALUE},
        headers=basic("client", SECRET),
    )
    assert response.status_code == 502
    assert SECRET not in response.text

    health = await bridge.get("/healthz")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"


async def test_openapi_describes_every_route(bridge: httpx.AsyncClient) -> None:
    response = await bridge.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    app = create_app(BridgeSettings())
    routes = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    described = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert described == routes


async def test_access_log_one_line_without_credentials(
    bridge: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await bridge.post(
        "/api/v1/managedchallenge/request?secret=" + SECRET,
        json={**CERTIFY_BODY, "AuthKey": "client", "AuthSecret": SECRET},
        headers={"X-Client-ID": "client", "X-Client-Secret": SECRET},
    )

    access = [r for r in caplog.records if r.name == "hub_client.bridge.access"]
    assert len(access) == 1
    line = access[0].getMessage()
    assert line.startswith("POST /api/v1/managedchallenge/request 502 ")
    # httpx, the test's own client, logs the URL it was given; the bridge must not.
    ours = [r for r in caplog.records if r.name.startswith("hub_client")]
    assert all(SECRET not in record.getMessage() for record in ours)
    assert all(VALUE not in record.getMessage() for record in ours)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/no/such/route", 404, id="unknown-route"),
        pytest.param("GET", "/httpreq/present", 405, id="wrong-method"),
    ],
)
async def test_routing_errors_are_problem_documents(
    bridge: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await bridge.request(method, path)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    if status == 405:
        assert response.headers["allow"] == "POST"


async def test_body_not_utf8_is_refused_without_echoing_it(
    bridge: httpx.AsyncClient,
) -> None:
    response = await bridge.post(
        "/httpreq/present", content=b'{"value": "\xff\xfe"}', headers=basic("i", SECRET)
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "the body is not JSON: not UTF-8"
