"""The one interceptor every call passes: authenticate, authorise, log, audit."""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from hub_server import audit
from hub_server.actions import METHOD_ACTIONS, PUBLIC_PREFIXES, READ_ONLY_ACTIONS
from hub_server.auth import (
    Authenticator,
    Caller,
    FailureThrottle,
    credentials_from_metadata,
    loggable_client_id,
)
from hub_server.errors import AuthenticationError, PermissionDeniedError
from hub_server.runtime import blocking
from hub_server.status import status_for
from storage.errors import HubError

logger = logging.getLogger(__name__)

CURRENT_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "caller", default=None
)

# GetOperation without credentials, for clients that poll a status URL without
# them (Certify); the servicer then answers with the state and times only.
STATUS_ONLY_METADATA = "x-operation-status-only"
STATUS_ONLY_METHOD = "/hub.v1.ChallengeService/GetOperation"


def current_caller() -> Caller:
    """The authenticated caller of the current call."""
    caller = CURRENT_CALLER.get()
    if caller is None:
        raise AuthenticationError()
    return caller


def status_only_call() -> bool:
    """Whether the current call is an anonymous status-only operation lookup."""
    return CURRENT_CALLER.get() is None


@dataclass
class _Call:
    method: str
    action: str
    peer: str
    metadata: tuple[tuple[str, Any], ...]
    started: float = field(default_factory=time.perf_counter)
    code: grpc.StatusCode = grpc.StatusCode.OK
    reason: str = ""
    caller: Caller | None = None
    presented_client_id: str = ""
    details: audit.AuditDetails = field(default_factory=audit.AuditDetails)
    finished: bool = False
    throttle_key: str = ""
    trusted_proxies: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.throttle_key = f"peer:{_peer_host(self.peer)}"
        if _peer_address(self.peer) not in self.trusted_proxies:
            return
        forwarded = _forwarded_for(self.metadata)
        if forwarded:
            self.throttle_key += f" for {forwarded}"
            self.peer = f"{self.peer} for {forwarded}"


def _peer_host(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` -> ``ipv4:127.0.0.1``: failures count per host."""
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer


def _peer_address(peer: str) -> str:
    """The IP address of a gRPC peer (``ipv6:[::1]:5000`` -> ``::1``), or ""."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return ""
    host = rest.rsplit(":", 1)[0].strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return ""


def _forwarded_for(metadata: tuple[tuple[str, Any], ...]) -> str:
    """The client address a gateway (the REST bridge) says it calls for, if valid.

    Read only from trusted proxies: it splits their failures per client, and
    anyone else could forge it to escape the per-peer count.
    """
    values = [v for k, v in metadata if k == "x-forwarded-for"]
    if len(values) != 1 or not isinstance(values[0], str):
        return ""
    try:
        return str(ipaddress.ip_address(values[0].strip()))
    except ValueError:
        return ""


class HubInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every hub.v1 method; health and reflection pass untouched."""

    def __init__(
        self,
        authenticator: Authenticator,
        throttle: FailureThrottle,
        trusted_proxies: frozenset[str] = frozenset(),
    ) -> None:
        self._authenticator = authenticator
        self._throttle = throttle
        self._trusted_proxies = trusted_proxies

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        action = METHOD_ACTIONS.get(method, "")
        metadata = tuple(handler_call_details.invocation_metadata or ())
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, action, metadata, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, action, metadata, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _wrap_unary(
        self,
        method: str,
        action: str,
        metadata: tuple[tuple[str, Any], ...],
        inner: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]],
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = _Call(
                method,
                action,
                context.peer() or "",
                metadata,
                trusted_proxies=self._trusted_proxies,
            )
            try:
                await self._enter(call)
                return await inner(request, context)
            except BaseException as exc:
                await self._fail(call, exc, context)
                raise
            finally:
                await self._finish(call)

        return behaviour

    def _wrap_stream(
        self,
        method: str,
        action: str,
        metadata: tuple[tuple[str, Any], ...],
        inner: Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]],
    ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
        async def behaviour(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            call = _Call(
                method,
                action,
                context.peer() or "",
                metadata,
                trusted_proxies=self._trusted_proxies,
            )
            try:
                await self._enter(call)
                async for item in inner(request, context):
                    yield item
            except BaseException as exc:
                await self._fail(call, exc, context)
                raise
            finally:
                await self._finish(call)

        return behaviour

    async def _enter(self, call: _Call) -> None:
        """Authenticate and check the method's action; set the call's context."""
        audit.CURRENT_DETAILS.set(call.details)
        if not call.action:
            # A method nobody declared an action for is refused, never open.
            raise PermissionDeniedError(f"method {call.method} declares no action")
        credentials = credentials_from_metadata(call.metadata)
        if credentials is None and self._status_only(call):
            CURRENT_CALLER.set(None)
            return
        if credentials is None:
            await self._slow_down(call, "")
            raise AuthenticationError()
        client_id, secret = credentials
        call.presented_client_id = loggable_client_id(client_id)
        try:
            caller = await blocking(
                self._authenticator.authenticate, client_id, secret, call.peer
            )
        except AuthenticationError:
            await self._slow_down(call, client_id)
            raise
        call.caller = caller
        CURRENT_CALLER.set(caller)
        caller.require(call.action)

    def _status_only(self, call: _Call) -> bool:
        if call.method != STATUS_ONLY_METHOD:
            return False
        return any(k == STATUS_ONLY_METADATA and v == "1" for k, v in call.metadata)

    async def _slow_down(self, call: _Call, client_id: str) -> None:
        delay = self._throttle.record_failure(
            f"id:{client_id}" if client_id else "", call.throttle_key
        )
        if delay:
            await asyncio.sleep(delay)

    async def _fail(
        self, call: _Call, exc: BaseException, context: grpc.aio.ServicerContext
    ) -> None:
        """Record the failure on the call and answer with the mapped status."""
        if isinstance(exc, asyncio.CancelledError):
            call.code = grpc.StatusCode.CANCELLED
            return
        if isinstance(exc, grpc.aio.AbortError):
            call.code = context.code() or grpc.StatusCode.UNKNOWN  # type: ignore[assignment]
            return
        if isinstance(exc, NotImplementedError):
            call.code, call.reason = (
                grpc.StatusCode.UNIMPLEMENTED,
                f"{call.method} is not served by this hub",
            )
        elif isinstance(exc, HubError):
            call.code, call.reason = status_for(exc)
            if call.code is grpc.StatusCode.INTERNAL:
                logger.error("%s failed", call.method, exc_info=exc)
        else:
            call.code, call.reason = (
                grpc.StatusCode.INTERNAL,
                "internal error; the hub's log has the details",
            )
            logger.error("%s failed unexpectedly", call.method, exc_info=exc)
        # Record the call before answering: abort sends the status at once, and
        # a caller reading the audit trail next must find this event.
        await self._finish(call)
        await context.abort(call.code, call.reason)

    async def _finish(self, call: _Call) -> None:
        """Log one line for the call and write its audit event when one is due."""
        if call.finished:
            return
        call.finished = True
        duration_ms = (time.perf_counter() - call.started) * 1000
        principal = call.caller.principal_id if call.caller else "-"
        logger.info(
            "%s %s %.1fms principal=%s",
            call.method,
            call.code.name,
            duration_ms,
            principal,
        )
        outcome = _outcome(call)
        if outcome is None:
            return
        try:
            await blocking(
                audit.write_event,
                principal_id=call.caller.principal_id if call.caller else "",
                client_id=call.caller.client_id
                if call.caller
                else call.presented_client_id,
                peer=call.peer,
                action=call.action,
                method=call.method,
                outcome=outcome,
                reason=call.reason,
                target=call.details.target,
                name=call.details.name,
            )
        except Exception:
            logger.exception("could not write the audit event for %s", call.method)


def _outcome(call: _Call) -> str | None:
    """The audit outcome of a call, or None when the call is not audited."""
    if call.code in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    ):
        return "denied"
    if call.action in READ_ONLY_ACTIONS or call.code is grpc.StatusCode.CANCELLED:
        return None
    return "success" if call.code is grpc.StatusCode.OK else "failure"
