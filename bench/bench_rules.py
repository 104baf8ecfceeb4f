"""Time one Domain Match Rule lookup with a growing number of configs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from hub_server.rules import RuleIndex, parse_rule

SIZES = (100, 10_000, 100_000)
ROUNDS = 5


@dataclass(frozen=True)
class Figure:
    """One size's result; ``ratio`` is against the first size's time."""

    configs: int
    seconds_per_match: float
    ratio: float
    build_seconds: float


def build_index(size: int) -> RuleIndex[int]:
    """Index ``size`` configs, each with one entry of every form but ``*``."""
    index: RuleIndex[int] = RuleIndex()
    for number in range(size):
        rule = parse_rule(
            f"h{number}.example.net; *.d{number}.example.com; **.s{number}.example.org"
        )
        index.add(number, rule)
    # A catch-all, so an identifier no other config covers walks every label.
    index.add(-1, parse_rule("*"))
    return index


def identifiers(size: int) -> list[str]:
    """Names that reach each precedence level, in a config halfway down the list."""
    middle = size // 2
    return [
        f"h{middle}.example.net",
        f"www.d{middle}.example.com",
        f"*.d{middle}.example.com",
        f"a.b.c.s{middle}.example.org",
        "a.b.c.d.nowhere.example.com",
    ]


def time_match(index: RuleIndex[int], names: Sequence[str], repeat: int) -> float:
    """Return the best time of ``ROUNDS`` rounds for one ``best_match`` call."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(repeat):
            for name in names:
                index.best_match(name)
        best = min(best, time.perf_counter() - started)
    return best / (repeat * len(names))


def run(sizes: Sequence[int] = SIZES, repeat: int = 2000) -> list[Figure]:
    """Measure every size; each figure's ratio is against the first size."""
    figures: list[Figure] = []
    for size in sizes:
        started = time.perf_counter()
        index = build_index(size)
        build_seconds = time.perf_counter() - started

        names = identifiers(size)
        for name in names:
            assert index.best_match(name) is not None, name
        seconds = time_match(index, names, repeat)

        base = figures[0].seconds_per_match if figures else seconds
        figures.append(Figure(size, seconds, seconds / base, build_seconds))
    return figures


def main() -> None:
    """Print the time per match and its ratio to the smallest index."""
    print(f"{'configs':>8}  {'us/match':>9}  {'ratio':>6}  {'build s':>8}")
    for figure in run():
        print(
            f"{figure.configs:>8}  {figure.seconds_per_match * 1e6:>9.2f}  "
            f"{figure.ratio:>6.2f}  {figure.build_seconds:>8.2f}"
        )


if __name__ == "__main__":
    main()
