"""Time an authenticated WhoAmI against an unauthenticated health check on one hub."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub_client.hub.v1 import token_pb2, token_pb2_grpc
from tests.servers.hub import HubServer

CALLS = 2000
WARMUP = 20


@dataclass(frozen=True)
class Figures:
    """Latencies in seconds; ratios are WhoAmI over the health check."""

    calls: int
    who_am_i_p50: float
    who_am_i_p99: float
    health_p50: float
    health_p99: float

    @property
    def ratio_p50(self) -> float:
        return self.who_am_i_p50 / self.health_p50

    @property
    def ratio_p99(self) -> float:
        return self.who_am_i_p99 / self.health_p99


def percentile(samples: list[float], fraction: float) -> float:
    """The sample below which ``fraction`` of the samples lie (nearest rank)."""
    ordered = sorted(samples)
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def time_calls(call: Callable[[], object], n: int) -> list[float]:
    """Run ``call`` ``n`` times; the latency of each run."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def measure(address: str, client_id: str, secret: str, n: int) -> Figures:
    """Both kinds of call over one channel, interleaved in rounds of ten."""
    metadata = (("x-client-id", client_id), ("x-client-secret", secret))
    with grpc.insecure_channel(address) as channel:
        tokens = token_pb2_grpc.TokenServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)

        def who_am_i() -> object:
            return tokens.WhoAmI(token_pb2.WhoAmIRequest(), metadata=metadata)

        def check() -> object:
            return health.Check(health_pb2.HealthCheckRequest())

        # The first WhoAmI pays the slow hash check once; keep it out.
        for _ in range(WARMUP):
            who_am_i()
            check()

        # Alternating rounds so drift in the machine's load hits both sides.
        authenticated: list[float] = []
        anonymous: list[float] = []
        remaining = n
        while remaining > 0:
            size = min(10, remaining)
            authenticated += time_calls(who_am_i, size)
            anonymous += time_calls(check, size)
            remaining -= size

    return Figures(
        calls=n,
        who_am_i_p50=statistics.median(authenticated),
        who_am_i_p99=percentile(authenticated, 0.99),
        health_p50=statistics.median(anonymous),
        health_p99=percentile(anonymous, 0.99),
    )


def run(n: int = CALLS) -> Figures:
    """Start a hub in a temporary directory, measure ``n`` calls of each, stop it."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-auth-") as workdir,
        HubServer(Path(workdir)) as hub,
    ):
        return measure(hub.address, hub.client_id, hub.secret, n)


def main() -> None:
    """Print p50 and p99 of both calls and the ratio of WhoAmI to health."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else CALLS
    figures = run(n)
    print(f"{'call':<10}  {'p50 ms':>8}  {'p99 ms':>8}   ({figures.calls} calls each)")
    print(
        f"{'WhoAmI':<10}  {figures.who_am_i_p50 * 1e3:>8.3f}  "
        f"{figures.who_am_i_p99 * 1e3:>8.3f}"
    )
    print(
        f"{'health':<10}  {figures.health_p50 * 1e3:>8.3f}  "
        f"{figures.health_p99 * 1e3:>8.3f}"
    )
    print(f"{'ratio':<10}  {figures.ratio_p50:>8.2f}  {figures.ratio_p99:>8.2f}")


if __name__ == "__main__":
    main()
