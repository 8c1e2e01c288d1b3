"""Timing helpers shared by the benchmarks that time async read/write operations.

Not a benchmark itself (``run_all.py`` runs only ``bench_*.py``).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

Op = Callable[[str], Awaitable[Any]]
"""One operation on one key (a read or a write)."""

Scenario = Callable[[Op, Op], Awaitable[float]]
"""A measurement given an implementation's read and write operations."""

TASKS = 50
"""Tasks sharing the calls of a concurrent measurement."""


async def sequential(op: Op, keys: list[str], calls: int) -> float:
    """Seconds per call for ``calls`` calls one after another."""
    start = time.perf_counter()
    for index in range(calls):
        await op(keys[index % len(keys)])
    return (time.perf_counter() - start) / calls


async def concurrent(op: Op, keys: list[str], calls: int) -> float:
    """Operations per second with ``TASKS`` tasks sharing ``calls`` calls."""
    per_task = calls // TASKS

    async def worker(offset: int) -> None:
        for index in range(per_task):
            await op(keys[(offset * per_task + index) % len(keys)])

    start = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(TASKS)))
    return per_task * TASKS / (time.perf_counter() - start)


async def interleaved(
    ops: dict[str, tuple[Op, Op]], scenarios: dict[str, tuple[Scenario, bool]], rounds: int
) -> dict[str, dict[str, float]]:
    """``scenario -> implementation -> best result`` (lowest time or highest rate) of
    ``rounds`` rounds, each running every implementation in turn, so that load changes on
    a shared machine hit every implementation alike."""
    samples: dict[str, dict[str, list[float]]] = {s: {n: [] for n in ops} for s in scenarios}
    for _ in range(rounds):
        for name, (read, write) in ops.items():
            for scenario, (run, _) in scenarios.items():
                gc.collect()
                samples[scenario][name].append(await run(read, write))
    return {
        scenario: {name: (min if lower else max)(values) for name, values in by_name.items()}
        for (scenario, by_name), (_, lower) in zip(samples.items(), scenarios.values(), strict=True)
    }
