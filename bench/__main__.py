"""``python -m bench``: run every benchmark and print one table of ratios."""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import (
    bench_auth,
    bench_bridge,
    bench_memory,
    bench_perform,
    bench_ready,
    bench_rfc2136,
    bench_rules,
    bench_waiting,
)
from bench.common import Row

RULE_GOAL = 1.5
BRIDGE_GOAL = 0.3
LEGO_GOAL = 1.2


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does; ``QUICK`` only checks that all of them run."""

    perform_requests: int = bench_perform.REQUESTS
    rule_sizes: tuple[int, ...] = bench_rules.SIZES
    waiting: int = bench_waiting.WAITING
    waiting_calls: int = bench_waiting.CALLS
    auth_calls: int = bench_auth.CALLS
    rfc2136_pairs: int = bench_rfc2136.PAIRS
    bridge_requests: int = bench_bridge.REQUESTS
    lego_rounds: int = bench_bridge.LEGO_ROUNDS
    ready_rounds: int = bench_ready.ROUNDS
    records: int = bench_memory.RECORDS
    tokens: int = bench_memory.TOKENS
    configs: int = bench_memory.CONFIGS


QUICK = Sizes(
    perform_requests=100,
    rule_sizes=(10, 100, 1000),
    waiting=20,
    waiting_calls=100,
    auth_calls=50,
    rfc2136_pairs=3,
    bridge_requests=100,
    lego_rounds=1,
    ready_rounds=2,
    records=1000,
    tokens=100,
    configs=50,
)


def rule_rows(sizes: Sizes) -> list[Row]:
    """#3: one match in memory and through the database, largest size vs smallest."""
    rows = []
    memory = bench_rules.run(sizes.rule_sizes, repeat=200)
    database = bench_perform.run_db_match(sizes.rule_sizes)
    first, last = sizes.rule_sizes[0], sizes.rule_sizes[-1]
    pairs = (
        ("in-memory RuleIndex", [(f.configs, f.seconds_per_match) for f in memory]),
        (
            "match_config on SQLite",
            [(f.configs, f.seconds_per_match) for f in database],
        ),
    )
    for label, figures in pairs:
        base = figures[0][1]
        middle = ", ".join(f"{n:,}: {s * 1e6:.1f} us" for n, s in figures[1:-1])
        rows.append(
            Row(
                f"3 rule match, {label}, {last:,} configs",
                figures[-1][1] * 1e6,
                base * 1e6,
                "us",
                f"{first:,} configs",
                f"ratio <= {RULE_GOAL}",
                figures[-1][1] / base <= RULE_GOAL,
                middle,
            )
        )
    return rows


def auth_rows(sizes: Sizes) -> list[Row]:
    """#5: authenticated WhoAmI against the health check."""
    figures = bench_auth.run(sizes.auth_calls)
    return [
        Row(
            "5 authenticated WhoAmI p50",
            figures.who_am_i_p50 * 1000,
            figures.health_p50 * 1000,
            "ms",
            "health check",
            "report",
            None,
            f"p99 {figures.who_am_i_p99 * 1000:.2f} vs "
            f"{figures.health_p99 * 1000:.2f} ms; {figures.calls} calls, one at a time",
        )
    ]


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"no {pattern!r} in the bridge benchmark's output:\n{text}")
    return float(found.group(1))


def bridge_rows(sizes: Sizes) -> list[Row]:
    """#2 and #7, from the bridge benchmark's printed figures."""
    # The bridge benchmark prints its figures; its sizes are module constants.
    saved = bench_bridge.REQUESTS, bench_bridge.LEGO_ROUNDS
    bench_bridge.REQUESTS, bench_bridge.LEGO_ROUNDS = (
        sizes.bridge_requests,
        sizes.lego_rounds,
    )
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            bench_bridge.main()
    finally:
        bench_bridge.REQUESTS, bench_bridge.LEGO_ROUNDS = saved
    text = output.getvalue()
    bare = _number(r"bare Starlette endpoint\s+([\d.]+) req/s", text)
    bridge = _number(r"bridge \+ hub\s+([\d.]+) req/s", text)
    direct = _number(r"lego rfc2136 on BIND9\s+([\d.]+) s", text)
    through_hub = _number(r"lego httpreq, bridge\+hub\s+([\d.]+) s", text)
    grpc_only = re.search(r"hub over gRPC, no bridge\s+([\d.]+) req/s", text)
    grpc_note = f"; hub alone over gRPC {grpc_only.group(1)} req/s" if grpc_only else ""
    return [
        Row(
            "2 bridge /httpreq/present throughput",
            bridge,
            bare,
            "req/s",
            "bare Starlette endpoint, same stack",
            f"ratio >= {BRIDGE_GOAL}",
            bridge / bare >= BRIDGE_GOAL,
            f"h2load, {sizes.bridge_requests} requests, HTTP/1.1{grpc_note}",
        ),
        Row(
            "7 lego issuance through bridge and hub",
            through_hub,
            direct,
            "s",
            "lego's rfc2136 provider, same BIND9 and Pebble",
            f"ratio <= {LEGO_GOAL}",
            through_hub / direct <= LEGO_GOAL,
            f"median of {sizes.lego_rounds}, 3 names",
        ),
    ]


def benchmarks(sizes: Sizes) -> list[tuple[str, Callable[[], list[Row]]]]:
    """Every benchmark with its sizes bound, in the order of the table."""
    return [
        ("1", lambda: bench_perform.run(sizes.perform_requests)),
        ("2", lambda: bridge_rows(sizes)),
        ("3", lambda: rule_rows(sizes)),
        ("4", lambda: bench_waiting.run(sizes.waiting, sizes.waiting_calls)),
        ("5", lambda: auth_rows(sizes)),
        ("6", lambda: bench_rfc2136.run(sizes.rfc2136_pairs)),
        ("8", lambda: bench_ready.run(sizes.ready_rounds)),
        (
            "9",
            lambda: bench_memory.run(sizes.records, sizes.tokens, sizes.configs),
        ),
    ]


def _value(number: float, unit: str) -> str:
    if math.isnan(number):
        return "-"
    if unit == "s" and number < 1:
        return f"{number * 1000:.1f} ms"
    return f"{number:,.3g} {unit}" if number < 100 else f"{number:,.0f} {unit}"


def table(rows: Sequence[Row]) -> str:
    """A Markdown table of the rows, then each row's baseline and note."""
    lines = [
        "| measure | figure | baseline | ratio | goal | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        met = "report" if row.met is None else ("yes" if row.met else "NO")
        ratio = "-" if math.isnan(row.ratio) else f"{row.ratio:.3g}"
        lines.append(
            f"| {row.measure} | {_value(row.figure, row.unit)} | "
            f"{_value(row.baseline, row.unit)} | {ratio} | {row.goal} | {met} |"
        )
    lines.append("")
    for row in rows:
        detail = "; ".join(part for part in (row.baseline_label, row.note) if part)
        lines.append(f"- {row.measure}: baseline {detail}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; exit 1 when one of them could not run."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: check that everything runs"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated table numbers, e.g. 1,4"
    )
    args = parser.parse_args(argv)
    chosen = {item.strip() for item in args.only.split(",") if item.strip()}

    rows: list[Row] = []
    failed = False
    for number, run in benchmarks(QUICK if args.quick else Sizes()):
        if chosen and number not in chosen:
            continue
        started = time.perf_counter()
        print(f"running #{number} ...", file=sys.stderr, flush=True)
        try:
            rows += run()
        except Exception as exc:
            failed = True
            traceback.print_exc()
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            rows.append(
                Row(
                    f"{number} (could not run)",
                    math.nan,
                    math.nan,
                    "",
                    "",
                    "",
                    False,
                    f"{type(exc).__name__}: {first_line}",
                )
            )
        print(
            f"#{number} took {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    print(table(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
