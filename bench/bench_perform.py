"""PerformChallenge against a bare echo service, and its config lookup by config count.

The hub runs as its own process with the embedded DNS provider and a config for
``**.demo.test``. A grpc.aio load generator in this process sends authenticated
``PerformChallenge`` calls (no wait), each for a name and value of its own so
every call stores and publishes a new record. The baseline is a bare grpc.aio
service in a process of its own that answers every call with the bytes of a real
``Operation`` answer, driven by the same generator with the same requests and
metadata.

The config lookup part fills a SQLite database with N configs directly through
the storage models and times ``match_config``, the indexed query the hub runs
for every ``PerformChallenge``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc.aio

from bench.common import (
    ECHO_METHOD,
    LoadResult,
    Row,
    bench_consumer,
    drive,
    embedded_config,
    start_echo_server,
    stop_process,
    txt_value,
)
from hub_client.hub.v1 import challenge_pb2, challenge_pb2_grpc
from hub_server.rules import parse_rule
from hub_server.services.challenges import match_config
from storage import models
from storage.database import open_database
from tests.servers.hub import HubServer

REQUESTS = 3000
CONCURRENCY = 32
WARMUP = 50
MATCH_SIZES = (100, 10_000, 100_000)
THROUGHPUT_GOAL = 0.5
MATCH_GOAL = 1.5


def perform_request(number: int, run_id: str) -> challenge_pb2.PerformChallengeRequest:
    """A request of its own for call ``number``: a new name and a new value."""
    return challenge_pb2.PerformChallengeRequest(
        identifier=f"n{number}.{run_id}.demo.test",
        value=txt_value(f"{run_id}-{number}"),
        wait=False,
    )


async def _load(
    hub_address: str,
    echo_address: str | None,
    metadata: tuple[tuple[str, str], ...],
    run_id: str,
    requests: int,
    concurrency: int,
) -> LoadResult:
    """Drive the hub's PerformChallenge, or the echo service when given one."""
    address = echo_address or hub_address
    async with grpc.aio.insecure_channel(address) as channel:
        if echo_address is None:
            rpc = challenge_pb2_grpc.ChallengeServiceStub(channel).PerformChallenge
        else:
            rpc = channel.unary_unary(
                ECHO_METHOD,
                request_serializer=challenge_pb2.PerformChallengeRequest.SerializeToString,
                response_deserializer=challenge_pb2.Operation.FromString,
            )

        async def call(number: int) -> object:
            return await rpc(perform_request(number, run_id), metadata=metadata)

        # Warm up the connection (and the hub's verified-secret cache).
        await drive(call, WARMUP, min(concurrency, WARMUP))

        async def measured(number: int) -> object:
            return await call(number + WARMUP)

        return await drive(measured, requests, concurrency)


def run(requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> list[Row]:
    """Throughput, p50 and p99 of PerformChallenge beside the echo service."""
    with tempfile.TemporaryDirectory(prefix="bench-perform-") as tmp:
        workdir = Path(tmp)
        with HubServer(workdir / "hub") as hub:
            with hub.client() as admin:
                embedded_config(admin, "**.demo.test")
                credentials = bench_consumer(admin)
                sample = admin.challenges.PerformChallenge(
                    challenge_pb2.PerformChallengeRequest(
                        identifier="sample.demo.test", value=txt_value("sample")
                    )
                )
            metadata = credentials.metadata()
            echo, echo_address = start_echo_server(workdir, sample.SerializeToString())
            try:
                baseline = asyncio.run(
                    _load(
                        hub.address,
                        echo_address,
                        metadata,
                        "echo",
                        requests,
                        concurrency,
                    )
                )
            finally:
                stop_process(echo)
            figure = asyncio.run(
                _load(hub.address, None, metadata, "hub", requests, concurrency)
            )

    ratio = figure.throughput / baseline.throughput
    label = f"grpc.aio echo, {len(sample.SerializeToString())} B answer"
    return [
        Row(
            "1 PerformChallenge throughput (no wait, embedded)",
            figure.throughput,
            baseline.throughput,
            "req/s",
            label,
            f"ratio >= {THROUGHPUT_GOAL}",
            ratio >= THROUGHPUT_GOAL,
            f"{requests} calls, {concurrency} in flight",
        ),
        Row(
            "1 PerformChallenge p50",
            figure.p50 * 1000,
            baseline.p50 * 1000,
            "ms",
            label,
            "report",
            None,
        ),
        Row(
            "1 PerformChallenge p99",
            figure.p99 * 1000,
            baseline.p99 * 1000,
            "ms",
            label,
            "report",
            None,
        ),
    ]


@dataclass(frozen=True)
class MatchFigure:
    """One size's time for ``match_config`` through the database."""

    configs: int
    seconds_per_match: float


def fill_configs(size: int) -> None:
    """Insert ``size`` configs and their rule entries, and a catch-all ``*``.

    Each config holds one entry of every form but ``*``, like the in-memory rule
    benchmark, so both measure the same shapes.
    """
    credential = models.StoredCredential.create(
        id=models.new_id("c"), title="bench", provider_type="embedded"
    )
    configs: list[dict[str, object]] = []
    entries: list[dict[str, object]] = []
    for number in [*range(size), -1]:
        text = (
            "*"
            if number < 0
            else f"h{number}.example.net; *.d{number}.example.com; "
            f"**.s{number}.example.org"
        )
        rule = parse_rule(text)
        config_id = f"mc-{number}"
        configs.append(
            {
                "id": config_id,
                "title": f"config {number}",
                "credential": credential.id,
                "domain_match_rule": str(rule),
            }
        )
        entries += [{"entry": str(e), "config": config_id} for e in rule.entries]
    with models.database_proxy.atomic():
        for start in range(0, len(configs), 5000):
            models.ManagedChallengeConfig.insert_many(
                configs[start : start + 5000]
            ).execute()
        for start in range(0, len(entries), 5000):
            models.RuleEntry.insert_many(entries[start : start + 5000]).execute()


def match_identifiers(size: int) -> list[str]:
    """Names reaching each precedence level, in a config halfway down the list."""
    middle = size // 2
    return [
        f"h{middle}.example.net",
        f"www.d{middle}.example.com",
        f"*.d{middle}.example.com",
        f"a.b.c.s{middle}.example.org",
        "a.b.c.d.nowhere.example.com",
    ]


def time_db_match(names: Sequence[str], repeat: int, rounds: int = 5) -> float:
    """Best of ``rounds`` for one ``match_config`` call, in seconds.

    One unmeasured round first, so every size is timed with a warm page cache.
    """
    for name in names:
        match_config(name)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            for name in names:
                match_config(name)
        best = min(best, time.perf_counter() - started)
    return best / (repeat * len(names))


def run_db_match(
    sizes: Sequence[int] = MATCH_SIZES, repeat: int = 100
) -> list[MatchFigure]:
    """Time ``match_config`` over a SQLite database holding each number of configs."""
    figures = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-match-") as tmp:
            database = open_database(f"sqlite:///{tmp}/hub.db")
            try:
                fill_configs(size)
                names = match_identifiers(size)
                for name in names:
                    if match_config(name) is None:
                        raise RuntimeError(f"no config matched {name}")
                figures.append(MatchFigure(size, time_db_match(names, repeat)))
            finally:
                database.close()
    return figures
