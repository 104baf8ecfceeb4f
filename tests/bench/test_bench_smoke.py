"""Every benchmark runs once at a tiny size and reports positive figures."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest

from bench import (
    bench_memory,
    bench_perform,
    bench_ready,
    bench_rfc2136,
    bench_waiting,
)
from bench.__main__ import QUICK, auth_rows, bridge_rows, rule_rows, table
from bench.common import Row

TINY = replace(QUICK, rule_sizes=(10, 100), auth_calls=20, bridge_requests=50)

# Each case: the benchmark at a tiny size, and how many rows it reports.
CASES: list[tuple[str, Callable[[], list[Row]], int]] = [
    ("perform", lambda: bench_perform.run(requests=20, concurrency=4), 3),
    ("waiting", lambda: bench_waiting.run(waiting=5, calls=20), 1),
    ("rfc2136", lambda: bench_rfc2136.run(pairs=2), 1),
    ("ready", lambda: bench_ready.run(rounds=2), 1),
    ("memory", lambda: bench_memory.run(records=200, tokens=20, configs=10), 1),
    ("rules", lambda: rule_rows(TINY), 2),
    ("auth", lambda: auth_rows(TINY), 1),
    ("bridge", lambda: bridge_rows(TINY), 2),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("benchmark", "expected_rows"),
    [pytest.param(run, rows, id=name) for name, run, rows in CASES],
)
def test_benchmark_reports_positive_figures(
    benchmark: Callable[[], list[Row]], expected_rows: int
) -> None:
    rows = benchmark()

    assert len(rows) == expected_rows
    for row in rows:
        assert math.isfinite(row.figure) and row.figure > 0, row
        assert math.isfinite(row.baseline) and row.baseline > 0, row
        assert row.ratio > 0, row
        assert row.measure in table(rows)


def test_db_match_reports_every_size() -> None:
    figures = bench_perform.run_db_match((10, 100), repeat=5)

    assert [f.configs for f in figures] == [10, 100]
    assert all(f.seconds_per_match > 0 for f in figures)


def test_table_marks_goals_and_reports() -> None:
    rows = [
        Row("met", 2.0, 1.0, "s", "base", "ratio <= 3", True),
        Row("missed", 4.0, 1.0, "s", "base", "ratio <= 3", False),
        Row("reported", 1.0, 2.0, "MiB", "idle", "report", None, "a note"),
    ]

    lines = table(rows).splitlines()

    assert lines[2] == "| met | 2 s | 1 s | 2 | ratio <= 3 | yes |"
    assert lines[3] == "| missed | 4 s | 1 s | 4 | ratio <= 3 | NO |"
    assert lines[4] == "| reported | 1 MiB | 2 MiB | 0.5 | report | report |"
    assert "- reported: baseline idle; a note" in lines
