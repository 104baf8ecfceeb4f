"""Time from the provider's write to ``ready``, against the fixed waits other tools use.

BIND9 serves example.com and applies updates at once; the hub writes to it by
RFC 2136 and checks propagation on it. The hub logs at DEBUG, so its log holds
the moment each value was written (the line after the provider's update
returned, to the millisecond); the operation's ``update_time`` is the moment it
became READY. Both come from the hub's own clock.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import tempfile
from pathlib import Path

from bench.common import Row, bench_consumer, bind_and_hub, rfc2136_config, txt_value
from hub_client.hub.v1 import challenge_pb2

ROUNDS = 20
# certbot's dns-rfc2136 plugin and Certify's hub both sleep this long by default.
FIXED_WAIT_SECONDS = 60.0
GOAL_SECONDS = 0.25


def written_at(log: str, name: str) -> float:
    """When the hub logged the write of a value at ``name``, as a POSIX time."""
    found = re.search(
        rf"^(\S+ \S+) DEBUG hub_server\.operations: added value at "
        rf"{re.escape(name)} in zone",
        log,
        re.MULTILINE,
    )
    if found is None:
        raise RuntimeError(f"the hub logged no write at {name}")
    # The text log format writes local time with a comma before the milliseconds.
    return dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def run(rounds: int = ROUNDS) -> list[Row]:
    """Median and worst write-to-ready time over ``rounds`` challenges."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-ready-") as tmp,
        bind_and_hub(Path(tmp), {"HUB_LOG_LEVEL": "DEBUG"}) as (bind, hub),
    ):
        with hub.client() as admin:
            rfc2136_config(admin, bind, "**.example.com")
            credentials = bench_consumer(admin)
        operations = []
        with hub.client(credentials) as client:
            for number in range(rounds):
                identifier = f"r{number}.example.com"
                operation = client.challenges.PerformChallenge(
                    challenge_pb2.PerformChallengeRequest(
                        identifier=identifier,
                        value=txt_value(identifier),
                        wait=True,
                    ),
                    timeout=60,
                )
                if operation.state != challenge_pb2.OPERATION_STATE_READY:
                    raise RuntimeError(f"{identifier}: {operation.reason}")
                operations.append(operation)
        log = hub.log()

    delays = []
    for operation in operations:
        ready = operation.update_time.ToDatetime(tzinfo=dt.timezone.utc).timestamp()
        delays.append(ready - written_at(log, operation.validation_name))
    seconds = statistics.median(delays)
    return [
        Row(
            "8 provider write to ready (BIND9 at once)",
            seconds,
            FIXED_WAIT_SECONDS,
            "s",
            "fixed 60 s wait (certbot rfc2136, Certify)",
            f"under {GOAL_SECONDS} s",
            seconds < GOAL_SECONDS,
            f"median of {rounds}, worst {max(delays) * 1000:.1f} ms",
        )
    ]
