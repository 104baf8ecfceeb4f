"""The REST bridge: Certify's Managed Challenge API and lego's httpreq over gRPC."""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import grpc
import grpc.aio
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub_client.bridge_openapi import openapi_document
from hub_client.client import DEFAULT_ADDRESS, Credentials, channel_credentials
from hub_client.hub.v1 import challenge_pb2, challenge_pb2_grpc

logger = logging.getLogger(__name__)
access_logger = logging.getLogger(__name__ + ".access")

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_MAX_BODY = 64 * 1024
ACME_CHALLENGE_PREFIX = "_acme-challenge."
CERTIFY_PREFIX = "/api/v1/managedchallenge"

# A waiting PerformChallenge lasts as long as propagation, which a config may set
# up to an hour; every other call is quick.
WAIT_DEADLINE_SECONDS = 3700.0
CALL_DEADLINE_SECONDS = 30.0
HEALTH_DEADLINE_SECONDS = 2.0

# Operation ids are hub-assigned tokens; anything else cannot name one.
_OPERATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

# The one table from the hub's gRPC status to the bridge's HTTP status. A name no
# managed challenge config serves is refused like a name the token may not use;
# a hub or DNS back end that fails is an upstream failure, so 502.
HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.FAILED_PRECONDITION: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 502,
    grpc.StatusCode.UNKNOWN: 502,
    grpc.StatusCode.INTERNAL: 502,
    grpc.StatusCode.DATA_LOSS: 502,
    grpc.StatusCode.UNAVAILABLE: 502,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

# How Certify's status words read the hub's operation states.
_STATUS_WORDS: Mapping[int, str] = {
    challenge_pb2.OPERATION_STATE_UNSPECIFIED: "pending",
    challenge_pb2.OPERATION_STATE_PRESENTING: "running",
    challenge_pb2.OPERATION_STATE_PROPAGATING: "running",
    challenge_pb2.OPERATION_STATE_READY: "succeeded",
    challenge_pb2.OPERATION_STATE_FAILED: "failed",
    challenge_pb2.OPERATION_STATE_CLEANED: "succeeded",
}

_STATUS_MESSAGES: Mapping[int, str] = {
    challenge_pb2.OPERATION_STATE_UNSPECIFIED: "the request is queued",
    challenge_pb2.OPERATION_STATE_PRESENTING: "the TXT value is being written",
    challenge_pb2.OPERATION_STATE_PROPAGATING: (
        "waiting until every authoritative server serves the TXT value"
    ),
    challenge_pb2.OPERATION_STATE_READY: "every authoritative server serves the value",
    challenge_pb2.OPERATION_STATE_FAILED: "the TXT value could not be published",
    challenge_pb2.OPERATION_STATE_CLEANED: "the TXT value was published, then removed",
}


class BridgeRequestError(Exception):
    """The bridge refused a request before asking the hub; ``status`` is HTTP."""

    status: int = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequestError(BridgeRequestError):
    """The body or a field is malformed; the detail names the field."""

    status = 400


class MissingCredentialsError(BridgeRequestError):
    """The request carried no client id and secret."""

    status = 401

    def __init__(self) -> None:
        super().__init__(
            "send a client id and secret: X-Client-ID and X-Client-Secret headers, "
            "AuthKey and AuthSecret fields, or HTTP Basic authentication"
        )


class BodyTooLargeError(BridgeRequestError):
    """The request body is larger than the configured limit."""

    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")


class UnknownOperationError(BridgeRequestError):
    """The status URL names no operation the hub could hold."""

    status = 404

    def __init__(self, operation_id: str) -> None:
        super().__init__(f"operation {operation_id[:64]!r} not found")


class HubCallError(Exception):
    """The hub answered a call with an error status; ``details`` is its message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details

    @classmethod
    def from_aio(cls, exc: grpc.aio.AioRpcError) -> HubCallError:
        return cls(exc.code(), exc.details() or exc.code().name.lower())


class UpstreamFailedError(BridgeRequestError):
    """The hub accepted the request but publishing the value failed."""

    status = 502


@dataclass(frozen=True)
class BridgeSettings:
    """Where the bridge listens, where the hub is, and the request body limit."""

    hub_address: str = DEFAULT_ADDRESS
    listen: str = DEFAULT_LISTEN
    tls_cert: str | None = None
    tls_key: str | None = None
    hub_ca_file: str | None = None
    max_body: int = DEFAULT_MAX_BODY

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BridgeSettings:
        """Read HUB_ADDRESS, HUB_BRIDGE_* and HUB_CA_FILE; unset means default."""
        env = os.environ if environ is None else environ
        max_body = env.get("HUB_BRIDGE_MAX_BODY", "") or str(DEFAULT_MAX_BODY)
        try:
            limit = int(max_body)
        except ValueError:
            raise ValueError(
                f"HUB_BRIDGE_MAX_BODY: not a number: {max_body!r}"
            ) from None
        if limit < 1:
            raise ValueError(f"HUB_BRIDGE_MAX_BODY: must be positive, got {limit}")
        cert = env.get("HUB_BRIDGE_TLS_CERT") or None
        key = env.get("HUB_BRIDGE_TLS_KEY") or None
        if (cert is None) != (key is None):
            raise ValueError("HUB_BRIDGE_TLS_CERT and HUB_BRIDGE_TLS_KEY go together")
        return cls(
            hub_address=env.get("HUB_ADDRESS") or DEFAULT_ADDRESS,
            listen=env.get("HUB_BRIDGE_LISTEN") or DEFAULT_LISTEN,
            tls_cert=cert,
            tls_key=key,
            hub_ca_file=env.get("HUB_CA_FILE") or None,
            max_body=limit,
        )

    def listen_host_port(self) -> tuple[str, int]:
        """Split ``listen`` into host and port; ``[::1]:8080`` works too."""
        host, sep, port = self.listen.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(
                f"HUB_BRIDGE_LISTEN: expected host:port, got {self.listen!r}"
            )
        return host.strip("[]") or "127.0.0.1", int(port)


def problem(
    status: int, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="challenge-hub"'
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


async def _bridge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BridgeRequestError)
    return problem(exc.status, exc.detail)


async def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubCallError)
    status = HTTP_STATUS.get(exc.code, 502)
    logger.debug("hub answered %s for %s", exc.code.name, request.url.path)
    return problem(status, exc.details)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, exc.detail, exc.headers)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object with lower-cased keys, refused beyond ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)

    try:
        document = json.loads(b"".join(chunks) or b"{}")
    except UnicodeDecodeError:
        # Its message quotes a byte of the body, which may hold a secret.
        raise BadRequestError("the body is not JSON: not UTF-8") from None
    except json.JSONDecodeError as exc:
        # Only the position is quoted, never the text around it.
        raise BadRequestError(f"the body is not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(document, dict):
        raise BadRequestError("the body must be a JSON object")
    # Certify and lego spell field names differently (AuthKey, keyAuth, fqdn).
    return {str(key).lower(): value for key, value in document.items()}


def text_field(body: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    """A string field of a lower-cased body; ``name`` as the caller spells it."""
    value = body.get(name.lower())
    if value is None or value == "":
        if required:
            raise BadRequestError(f"{name}: required")
        return ""
    if not isinstance(value, str):
        raise BadRequestError(f"{name}: must be a string")
    return value.strip()


def request_credentials(request: Request, body: Mapping[str, Any]) -> Credentials:
    """The caller's credentials, and its address for the hub's failure throttle."""
    credentials = _presented_credentials(request, body)
    host = request.client.host if request.client else ""
    return dataclasses.replace(credentials, forwarded_for=host)


def _presented_credentials(request: Request, body: Mapping[str, Any]) -> Credentials:
    """The caller's client id and secret: headers, then Basic, then body fields."""
    client_id = request.headers.get("x-client-id", "").strip()
    secret = request.headers.get("x-client-secret", "").strip()
    if client_id and secret:
        return Credentials(client_id, secret)

    basic = _basic_credentials(request.headers.get("authorization", ""))
    if basic is not None:
        return basic

    auth_key = body.get("authkey")
    auth_secret = body.get("authsecret")
    if isinstance(auth_key, str) and isinstance(auth_secret, str):
        auth_key, auth_secret = auth_key.strip(), auth_secret.strip()
        if auth_key and auth_secret:
            return Credentials(auth_key, auth_secret)
    raise MissingCredentialsError()


def _basic_credentials(header: str) -> Credentials | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        # The header is a credential: say what is wrong, never echo it.
        raise BadRequestError("Authorization: malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id or not secret:
        return None
    return Credentials(client_id, secret)


def key_authorization_digest(key_authorization: str) -> str:
    """The dns-01 TXT value for a key authorization (RFC 8555 section 8.4)."""
    digest = hashlib.sha256(key_authorization.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def identifier_from_fqdn(fqdn: str) -> str:
    """The name a validation name ``_acme-challenge.<name>`` proves."""
    name = fqdn.strip().rstrip(".")
    if not name.lower().startswith(ACME_CHALLENGE_PREFIX):
        raise BadRequestError(f"fqdn: {fqdn!r} does not start with _acme-challenge.")
    identifier = name[len(ACME_CHALLENGE_PREFIX) :]
    if not identifier:
        raise BadRequestError(f"fqdn: {fqdn!r} names no domain")
    return identifier


def _timestamp(stamp: Any) -> str | None:
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return str(stamp.ToJsonString())


def operation_view(operation: challenge_pb2.Operation) -> dict[str, Any]:
    """The public face of an operation: no principal, client or config ids."""
    message = _STATUS_MESSAGES.get(operation.state, "")
    if operation.reason:
        message = f"{message}: {operation.reason}" if message else operation.reason
    return {
        "id": operation.id,
        "status": _STATUS_WORDS.get(operation.state, "pending"),
        "createdAt": _timestamp(operation.create_time),
        "updatedAt": _timestamp(operation.update_time),
        "message": message,
    }


def _result_view(operation: challenge_pb2.Operation) -> dict[str, Any]:
    view = operation_view(operation)
    view["identifier"] = operation.identifier
    view["recordName"] = operation.validation_name
    return view


def _status_path(operation_id: str) -> str:
    return f"{CERTIFY_PREFIX}/requeststatus/{operation_id}"


class Bridge:
    """The route handlers, sharing one gRPC channel to the hub."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self.channel: grpc.aio.Channel | None = None
        self._challenges: challenge_pb2_grpc.ChallengeServiceStub | None = None
        self._health: health_pb2_grpc.HealthStub | None = None

    def attach(self, channel: grpc.aio.Channel | None) -> None:
        """Call the hub over ``channel`` from now on; None detaches."""
        self.channel = channel
        # Stubs are built once: each one makes a callable per method.
        if channel is None:
            self._challenges = self._health = None
        else:
            self._challenges = challenge_pb2_grpc.ChallengeServiceStub(channel)
            self._health = health_pb2_grpc.HealthStub(channel)

    def challenges(self) -> challenge_pb2_grpc.ChallengeServiceStub:
        if self._challenges is None:
            raise RuntimeError("the bridge is not started")
        return self._challenges

    async def perform(
        self, credentials: Credentials, request: challenge_pb2.PerformChallengeRequest
    ) -> challenge_pb2.Operation:
        """Ask the hub to publish; a waited-for failure becomes a 502."""
        deadline = WAIT_DEADLINE_SECONDS if request.wait else CALL_DEADLINE_SECONDS
        stub = self.challenges()
        try:
            operation: challenge_pb2.Operation = await stub.PerformChallenge(
                request, metadata=credentials.metadata(), timeout=deadline
            )
        except grpc.aio.AioRpcError as exc:
            raise HubCallError.from_aio(exc) from None
        if request.wait and operation.state == challenge_pb2.OPERATION_STATE_FAILED:
            raise UpstreamFailedError(
                operation.reason
                or f"publishing the value for {operation.identifier} failed"
            )
        return operation

    async def cleanup(
        self, credentials: Credentials, request: challenge_pb2.CleanupChallengeRequest
    ) -> challenge_pb2.CleanupChallengeResponse:
        """Ask the hub to remove a value."""
        stub = self.challenges()
        try:
            response: challenge_pb2.CleanupChallengeResponse = (
                await stub.CleanupChallenge(
                    request,
                    metadata=credentials.metadata(),
                    timeout=CALL_DEADLINE_SECONDS,
                )
            )
        except grpc.aio.AioRpcError as exc:
            raise HubCallError.from_aio(exc) from None
        return response

    # Certify Managed Challenge API

    async def certify_request(self, request: Request) -> Response:
        """Publish a value and answer once it is served (or failed)."""
        body = await read_json(request, self.settings.max_body)
        credentials = request_credentials(request, body)
        perform = _certify_perform_request(body, wait=True)

        operation = await self.perform(credentials, perform)

        return JSONResponse(
            {
                "isSuccess": True,
                "message": f"the TXT value for {operation.identifier} is published",
                "result": _result_view(operation),
            }
        )

    async def certify_request_begin(self, request: Request) -> Response:
        """Start publishing a value and answer at once with a status URL."""
        body = await read_json(request, self.settings.max_body)
        credentials = request_credentials(request, body)
        perform = _certify_perform_request(body, wait=False)

        operation = await self.perform(credentials, perform)

        location = _status_path(operation.id)
        return JSONResponse(
            operation_view(operation), status_code=202, headers={"Location": location}
        )

    async def certify_request_status(self, request: Request) -> Response:
        """An operation's state, without credentials and without who asked."""
        operation_id = request.path_params["id"]
        if not _OPERATION_ID.match(operation_id):
            raise UnknownOperationError(operation_id)

        operation = await self._status_only(operation_id)

        return JSONResponse(operation_view(operation))

    async def _status_only(self, operation_id: str) -> challenge_pb2.Operation:
        # Certify polls without credentials; the hub answers such calls with the
        # state and times only, and only when asked for exactly that.
        stub = self.challenges()
        try:
            operation: challenge_pb2.Operation = await stub.GetOperation(
                challenge_pb2.GetOperationRequest(id=operation_id),
                metadata=(("x-operation-status-only", "1"),),
                timeout=CALL_DEADLINE_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            raise HubCallError.from_aio(exc) from None
        return operation

    async def certify_cleanup(self, request: Request) -> Response:
        """Remove a value; removing one already gone succeeds."""
        body = await read_json(request, self.settings.max_body)
        credentials = request_credentials(request, body)
        _check_challenge_type(body)
        cleanup = challenge_pb2.CleanupChallengeRequest(
            identifier=text_field(body, "Identifier"),
            record_name=text_field(body, "ResponseKey", required=False),
            value=text_field(body, "ResponseValue"),
        )

        response = await self.cleanup(credentials, cleanup)

        message = (
            "the TXT value was removed" if response.removed else "nothing to remove"
        )
        return JSONResponse(
            {
                "isSuccess": True,
                "message": message,
                "result": {"removed": response.removed},
            }
        )

    # lego httpreq

    async def httpreq_present(self, request: Request) -> Response:
        """Publish a value for lego and answer once it is served."""
        body = await read_json(request, self.settings.max_body)
        credentials = request_credentials(request, body)
        identifier, record_name, value = _httpreq_fields(body)

        await self.perform(
            credentials,
            challenge_pb2.PerformChallengeRequest(
                identifier=identifier, record_name=record_name, value=value, wait=True
            ),
        )

        return JSONResponse({"ok": True})

    async def httpreq_cleanup(self, request: Request) -> Response:
        """Remove a value for lego; removing one already gone succeeds."""
        body = await read_json(request, self.settings.max_body)
        credentials = request_credentials(request, body)
        identifier, record_name, value = _httpreq_fields(body)

        response = await self.cleanup(
            credentials,
            challenge_pb2.CleanupChallengeRequest(
                identifier=identifier, record_name=record_name, value=value
            ),
        )

        return JSONResponse({"ok": True, "removed": response.removed})

    # Operations

    async def healthz(self, request: Request) -> Response:
        """200 when the hub answers SERVING, 503 otherwise."""
        if self._health is None:
            raise RuntimeError("the bridge is not started")
        stub = self._health
        try:
            answer = await stub.Check(
                health_pb2.HealthCheckRequest(service=""),
                timeout=HEALTH_DEADLINE_SECONDS,
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            logger.debug("hub health check failed: %s", code.name)
            return JSONResponse(
                {"status": "unavailable", "hub": code.name.lower()}, status_code=503
            )
        serving = answer.status == health_pb2.HealthCheckResponse.SERVING
        state = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        return JSONResponse(
            {"status": "ok" if serving else "unavailable", "hub": state.lower()},
            status_code=200 if serving else 503,
        )

    async def openapi(self, request: Request) -> Response:
        """The bridge's OpenAPI document."""
        return JSONResponse(openapi_document())


def _check_challenge_type(body: Mapping[str, Any]) -> None:
    challenge_type = text_field(body, "ChallengeType", required=False)
    if challenge_type and challenge_type.lower() != "dns-01":
        raise BadRequestError(
            f"ChallengeType: only dns-01 is served, not {challenge_type!r}"
        )


def _certify_perform_request(
    body: Mapping[str, Any], *, wait: bool
) -> challenge_pb2.PerformChallengeRequest:
    _check_challenge_type(body)
    return challenge_pb2.PerformChallengeRequest(
        identifier=text_field(body, "Identifier"),
        record_name=text_field(body, "ResponseKey", required=False),
        value=text_field(body, "ResponseValue"),
        wait=wait,
    )


def _httpreq_fields(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """Identifier, record name and value from either httpreq mode."""
    if "fqdn" in body or "value" in body:
        record_name = text_field(body, "fqdn")
        return identifier_from_fqdn(record_name), record_name, text_field(body, "value")
    if not any(key in body for key in ("domain", "token", "keyauth")):
        raise BadRequestError(
            "body: expected {fqdn, value}, or {domain, token, keyAuth} in RAW mode"
        )
    # RAW mode: lego sends what it was given and leaves the digest to us.
    identifier = text_field(body, "domain")
    text_field(body, "token")
    key_authorization = text_field(body, "keyAuth")
    return identifier, "", key_authorization_digest(key_authorization)


class AccessLogMiddleware:
    """One INFO line per request: method, path, status, duration, peer.

    Bodies, query strings and headers are left out: they may hold credentials.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            client = scope.get("client")
            peer = f"{client[0]}:{client[1]}" if client else "-"
            access_logger.info(
                "%s %s %d %.1fms %s",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                peer,
            )


def open_hub_channel(settings: BridgeSettings) -> grpc.aio.Channel:
    """A channel to the hub, over TLS when a CA file is configured."""
    if settings.hub_ca_file:
        tls = channel_credentials(settings.hub_ca_file)
        return grpc.aio.secure_channel(settings.hub_address, tls)
    return grpc.aio.insecure_channel(settings.hub_address)


def create_app(
    settings: BridgeSettings | None = None, channel: grpc.aio.Channel | None = None
) -> Starlette:
    """The bridge as an ASGI app.

    With ``channel`` the app calls the hub over it and leaves it open; without, it
    opens a channel to ``settings.hub_address`` at startup and closes it at
    shutdown. The bridge sends each caller's own credentials on every call.
    """
    settings = settings or BridgeSettings.from_env()
    bridge = Bridge(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if channel is not None:
            yield
            return
        opened = open_hub_channel(settings)
        bridge.attach(opened)
        logger.debug("bridge calls the hub at %s", settings.hub_address)
        try:
            yield
        finally:
            bridge.attach(None)
            await opened.close()

    bridge.attach(channel)

    routes = [
        Route(f"{CERTIFY_PREFIX}/request", bridge.certify_request, methods=["POST"]),
        Route(
            f"{CERTIFY_PREFIX}/requestbegin",
            bridge.certify_request_begin,
            methods=["POST"],
        ),
        Route(
            f"{CERTIFY_PREFIX}/requeststatus/{{id}}",
            bridge.certify_request_status,
            methods=["GET"],
        ),
        Route(f"{CERTIFY_PREFIX}/cleanup", bridge.certify_cleanup, methods=["POST"]),
        Route("/httpreq/present", bridge.httpreq_present, methods=["POST"]),
        Route("/httpreq/cleanup", bridge.httpreq_cleanup, methods=["POST"]),
        Route("/healthz", bridge.healthz, methods=["GET"]),
        Route("/openapi.json", bridge.openapi, methods=["GET"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        BridgeRequestError: _bridge_error,
        HubCallError: _hub_error,
        HTTPException: _http_error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.add_middleware(AccessLogMiddleware)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the bridge with uvicorn; settings come from HUB_* variables."""
    parser = argparse.ArgumentParser(
        prog="hub-bridge", description="REST bridge from ACME clients to the hub."
    )
    parser.add_argument("--log-level", default=os.environ.get("HUB_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )

    settings = BridgeSettings.from_env()
    host, port = settings.listen_host_port()
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        access_log=False,
        log_level=args.log_level.lower(),
    )


if __name__ == "__main__":
    main()
