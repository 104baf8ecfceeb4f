"""RFC 2136 add and remove through the hub, against direct dnspython updates.

The same BIND9 takes both. Through the hub, one pair is ``PerformChallenge`` with
wait on a config that skips the propagation check (so it returns once the update
is applied) and ``CleanupChallenge``; directly, it is a TSIG-signed dnspython
update adding the value and one removing it. Pairs run one after another.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Row, bench_consumer, bind_and_hub, rfc2136_config, txt_value
from hub_client.hub.v1 import challenge_pb2

PAIRS = 30


def run(pairs: int = PAIRS) -> list[Row]:
    """Median seconds per add-and-remove pair, through the hub and directly."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-rfc2136-") as tmp,
        bind_and_hub(Path(tmp)) as (bind, hub),
    ):
        with hub.client() as admin:
            rfc2136_config(admin, bind, "**.example.com", skip_check=True)
            credentials = bench_consumer(admin)

        direct = []
        for number in range(pairs):
            name = f"_acme-challenge.d{number}.example.com"
            value = txt_value(name)
            started = time.perf_counter()
            bind.put_txt(name, value)
            bind.delete_txt(name, value)
            direct.append(time.perf_counter() - started)

        through_hub = []
        with hub.client(credentials) as client:
            for number in range(pairs):
                identifier = f"h{number}.example.com"
                value = txt_value(identifier)
                started = time.perf_counter()
                operation = client.challenges.PerformChallenge(
                    challenge_pb2.PerformChallengeRequest(
                        identifier=identifier, value=value, wait=True
                    ),
                    timeout=30,
                )
                client.challenges.CleanupChallenge(
                    challenge_pb2.CleanupChallengeRequest(
                        identifier=identifier, value=value
                    ),
                    timeout=30,
                )
                through_hub.append(time.perf_counter() - started)
                if operation.state != challenge_pb2.OPERATION_STATE_READY:
                    raise RuntimeError(f"{identifier}: {operation.reason}")
                if bind.read_txt(f"_acme-challenge.{identifier}"):
                    raise RuntimeError(f"{identifier}: value left after cleanup")

    hub_ms = statistics.median(through_hub) * 1000
    direct_ms = statistics.median(direct) * 1000
    return [
        Row(
            "6 RFC 2136 add+remove through the hub",
            hub_ms,
            direct_ms,
            "ms",
            "direct dnspython updates",
            "report",
            None,
            f"median of {pairs} pairs, one at a time",
        )
    ]
