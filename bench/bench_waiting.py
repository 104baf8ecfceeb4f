"""WhoAmI latency while many operations wait for propagation, against none waiting.

The config's propagation nameserver is a loopback port nobody listens on, and its
timeout is an hour: every ``PerformChallenge`` (no wait) leaves an operation that
keeps polling. WhoAmI is measured first on the idle hub, then with ``waiting``
operations polling, with the same load generator and token.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import grpc.aio

from bench.bench_perform import perform_request
from bench.common import LoadResult, Row, bench_consumer, drive, embedded_config
from hub_client.hub.v1 import (
    challenge_pb2,
    challenge_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from tests.servers.hub import HubServer
from tests.servers.ports import free_port

WAITING = 1000
CALLS = 2000
CONCURRENCY = 8
GOAL = 2.0
# The longest timeout a config may have: nothing ends while the bench runs.
TIMEOUT_SECONDS = 3600


async def _whoami(
    address: str, metadata: tuple[tuple[str, str], ...], calls: int
) -> LoadResult:
    async with grpc.aio.insecure_channel(address) as channel:
        rpc = token_pb2_grpc.TokenServiceStub(channel).WhoAmI

        async def call(number: int) -> object:
            return await rpc(token_pb2.WhoAmIRequest(), metadata=metadata)

        await drive(call, min(100, calls), CONCURRENCY)
        return await drive(call, calls, CONCURRENCY)


async def _leave_waiting(
    address: str, metadata: tuple[tuple[str, str], ...], waiting: int
) -> list[str]:
    """Start ``waiting`` operations; returns their ids."""
    ids: list[str] = []
    async with grpc.aio.insecure_channel(address) as channel:
        rpc = challenge_pb2_grpc.ChallengeServiceStub(channel).PerformChallenge

        async def call(number: int) -> object:
            operation = await rpc(perform_request(number, "wait"), metadata=metadata)
            ids.append(operation.id)
            return operation

        await drive(call, waiting, 32)
    return ids


async def _states(
    address: str, metadata: tuple[tuple[str, str], ...], ids: list[str]
) -> set[int]:
    async with grpc.aio.insecure_channel(address) as channel:
        rpc = challenge_pb2_grpc.ChallengeServiceStub(channel).GetOperation
        answers = await asyncio.gather(
            *(
                rpc(challenge_pb2.GetOperationRequest(id=i), metadata=metadata)
                for i in ids
            )
        )
    return {answer.state for answer in answers}


def run(waiting: int = WAITING, calls: int = CALLS) -> list[Row]:
    """WhoAmI p99 with ``waiting`` operations polling, beside none waiting."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-waiting-") as tmp,
        HubServer(Path(tmp) / "hub") as hub,
    ):
        silent = f"127.0.0.1:{free_port()}"
        with hub.client() as admin:
            embedded_config(
                admin,
                "**.demo.test",
                nameservers=[silent],
                timeout_seconds=TIMEOUT_SECONDS,
            )
            credentials = bench_consumer(admin)
        metadata = credentials.metadata()

        idle = asyncio.run(_whoami(hub.address, metadata, calls))
        ids = asyncio.run(_leave_waiting(hub.address, metadata, waiting))
        # Let every operation reach its polling loop before measuring.
        time.sleep(2)
        sample = ids[:: max(1, len(ids) // 20)]
        states = asyncio.run(_states(hub.address, metadata, sample))
        if states != {challenge_pb2.OPERATION_STATE_PROPAGATING}:
            raise RuntimeError(f"operations are not all propagating: {states}")
        loaded = asyncio.run(_whoami(hub.address, metadata, calls))

    ratio = loaded.p99 / idle.p99
    return [
        Row(
            f"4 WhoAmI p99, {waiting} operations waiting",
            loaded.p99 * 1000,
            idle.p99 * 1000,
            "ms",
            "none waiting",
            f"ratio <= {GOAL:g}",
            ratio <= GOAL,
            f"p50 {loaded.p50 * 1000:.1f} vs {idle.p50 * 1000:.1f} ms; "
            f"{calls} calls, {CONCURRENCY} in flight",
        )
    ]
