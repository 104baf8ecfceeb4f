"""What every benchmark shares: result rows, a gRPC load generator, an echo server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio

from hub_client.client import Credentials, HubClient
from hub_client.hub.v1 import challenge_pb2, credential_pb2
from tests.bridge.stack import consumer_token, hub_env, start_example_bind
from tests.servers.bind import BindServer
from tests.servers.hub import HubServer
from tests.servers.ports import free_port

ECHO_METHOD = "/bench.Echo/Echo"


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, the baseline measured beside it, the goal.

    ``ratio`` is ``figure / baseline``. ``met`` is None for figures that are only
    reported.
    """

    measure: str
    figure: float
    baseline: float
    unit: str
    baseline_label: str
    goal: str
    met: bool | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline if self.baseline else math.nan


@dataclass(frozen=True)
class LoadResult:
    """Calls made by ``drive``: throughput and latency percentiles in seconds."""

    calls: int
    seconds: float
    p50: float
    p99: float

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The sample below which ``fraction`` of the samples lie (nearest rank)."""
    ordered = sorted(samples)
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[rank]


async def drive(
    call: Callable[[int], Awaitable[object]], total: int, concurrency: int
) -> LoadResult:
    """Make ``total`` calls, ``concurrency`` at a time; every call must succeed.

    ``call`` gets the number of the call (0 to ``total - 1``), so each can send
    something of its own. A closed loop: a worker sends its next call when the
    previous one is answered.
    """
    latencies: list[float] = []
    next_number = iter(range(total))

    async def worker() -> None:
        for number in next_number:
            started = time.perf_counter()
            await call(number)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return LoadResult(
        total, seconds, percentile(latencies, 0.5), percentile(latencies, 0.99)
    )


def txt_value(seed: str) -> str:
    """A well-formed dns-01 value (unpadded base64url SHA-256) derived from ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB, from /proc/PID/status VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"process {pid} reports no VmRSS")


def embedded_config(
    admin: HubClient,
    rule: str,
    *,
    nameservers: Sequence[str] = (),
    timeout_seconds: int = 30,
) -> str:
    """An embedded-provider credential and a config for ``rule``; returns its id."""
    credential = admin.credentials.CreateStoredCredential(
        credential_pb2.CreateStoredCredentialRequest(
            title=f"embedded for {rule}", provider_type="embedded"
        )
    )
    config = admin.challenges.CreateManagedChallenge(
        challenge_pb2.CreateManagedChallengeRequest(
            managed_challenge=challenge_pb2.ManagedChallenge(
                title=f"bench {rule}",
                challenge_type="dns-01",
                credential_id=credential.id,
                domain_match_rule=rule,
                ttl=60,
                propagation=challenge_pb2.PropagationSettings(
                    timeout_seconds=timeout_seconds, nameservers=list(nameservers)
                ),
            )
        )
    )
    return str(config.id)


def rfc2136_config(
    admin: HubClient,
    bind: BindServer,
    rule: str,
    *,
    skip_check: bool = False,
) -> str:
    """An rfc2136 credential for ``bind`` and a config for ``rule``; returns its id.

    Propagation is checked on ``bind`` itself unless ``skip_check``.
    """
    credential = admin.credentials.CreateStoredCredential(
        credential_pb2.CreateStoredCredentialRequest(
            title=f"BIND9 for {rule}",
            provider_type="rfc2136",
            parameters=bind.provider_params(),
        )
    )
    config = admin.challenges.CreateManagedChallenge(
        challenge_pb2.CreateManagedChallengeRequest(
            managed_challenge=challenge_pb2.ManagedChallenge(
                title=f"bench {rule}",
                challenge_type="dns-01",
                credential_id=credential.id,
                domain_match_rule=rule,
                ttl=60,
                propagation=challenge_pb2.PropagationSettings(
                    skip_check=skip_check,
                    timeout_seconds=30,
                    nameservers=[bind.server],
                ),
            )
        )
    )
    return str(config.id)


@contextmanager
def bind_and_hub(
    workdir: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[BindServer, HubServer]]:
    """BIND9 serving example.com, and a hub that resolves through it."""
    bind = start_example_bind()
    try:
        with HubServer(workdir / "hub", env={**hub_env(bind), **(env or {})}) as hub:
            yield bind, hub
    finally:
        bind.stop()


def bench_consumer(admin: HubClient, title: str = "bench") -> Credentials:
    """A Managed Challenge Consumer token without domain restrictions."""
    return consumer_token(admin, title)


def start_echo_server(
    workdir: Path, response: bytes
) -> tuple[subprocess.Popen[bytes], str]:
    """A bare grpc.aio server answering ``ECHO_METHOD`` with ``response``.

    It runs as its own process, like the hub, and answers every request with the
    same bytes whatever it gets. Returns the process and its address.
    """
    response_file = workdir / "echo-response.bin"
    response_file.write_bytes(response)
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.common", address, str(response_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    with grpc.insecure_channel(address) as channel:
        echo = channel.unary_unary(ECHO_METHOD)
        while True:
            try:
                echo(b"", timeout=1)
                return process, address
            except grpc.RpcError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError("the echo server did not start") from None
                time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after five seconds."""
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def serve_echo(address: str, response: bytes) -> None:
    """Serve ``ECHO_METHOD`` on ``address`` until killed."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return response

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(address)
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve_echo(sys.argv[1], Path(sys.argv[2]).read_bytes()))
