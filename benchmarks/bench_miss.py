"""Miss and stampede benchmark: a decorated miss into a full cache, and a thousand cold callers.

Two measurements, each side by side with its reference in one process run:

- **miss**: every call of a cached ``async def`` has a new argument, into a full cache, so
  each call builds a key, misses, calls the upstream and stores with one eviction.
  hitbox ``@cache.cached`` on the memory backend (single flight and events on, as by
  default) against a cachetools ``TTLCache`` wrapped in an ``async def`` by hand.
- **stampede**: 1,000 concurrent callers of one cold key, whose upstream takes
  ``DELAY`` seconds; wall time until all are answered. hitbox against a hand-written
  single flight (a dict of futures: the floor any cache must cost at least).

Rounds are interleaved; medians count. Run by hand::

    .venv/bin/python benchmarks/bench_miss.py            # full run
    .venv/bin/python benchmarks/bench_miss.py --quick    # fewer rounds
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hitbox

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import validate

Target = Callable[[int], Awaitable[Any]]

TTL = 600
CAPACITY = 1_000
CALLERS = 1_000
DELAY = 0.02
HITBOX_MISS = "hitbox @cache.cached (memory)"
CACHETOOLS_MISS = "cachetools TTLCache in async def"
HITBOX_STAMPEDE = "hitbox @cache.cached (memory)"
FLOOR_STAMPEDE = "hand-written single flight (dict of futures)"


async def fast_upstream(item_id: int) -> dict[str, int]:
    return {"id": item_id}


async def slow_upstream(item_id: int) -> dict[str, int]:
    await asyncio.sleep(DELAY)
    return {"id": item_id}


def make_hitbox(upstream: Target) -> Target:
    from hitbox_memory import MemoryBackend

    cache = hitbox.Cache(MemoryBackend(max_entries=CAPACITY), policy=hitbox.Policy(ttl=TTL))
    return cache.cached(upstream)


def make_cachetools(upstream: Target) -> Target:
    from cachetools import TTLCache
    from cachetools.keys import hashkey

    store: TTLCache[Any, Any] = TTLCache(maxsize=CAPACITY, ttl=TTL)

    async def cachetools_wrapper(item_id: int) -> Any:
        key = hashkey(item_id)
        try:
            return store[key]
        except KeyError:
            pass
        value = await upstream(item_id)
        store[key] = value
        return value

    return cachetools_wrapper


def make_single_flight(upstream: Target) -> Target:
    """The least a stampede can cost: the first caller computes, the others await it."""
    flights: dict[int, asyncio.Future[Any]] = {}
    store: dict[int, Any] = {}

    async def single_flight(item_id: int) -> Any:
        try:
            return store[item_id]
        except KeyError:
            pass
        flight = flights.get(item_id)
        if flight is not None:
            return await asyncio.shield(flight)
        flight = flights[item_id] = asyncio.get_running_loop().create_future()
        try:
            value = await upstream(item_id)
            store[item_id] = value
            flight.set_result(value)
            return value
        finally:
            del flights[item_id]

    return single_flight


_fresh = itertools.count(1_000_000)


async def per_miss(target: Target, calls: int) -> float:
    """Seconds per call of ``calls`` sequential misses (each with a new argument)."""
    first = next(_fresh)
    for _ in range(calls - 1):
        next(_fresh)
    gc.disable()
    try:
        started = time.perf_counter()
        for item_id in range(first, first + calls):
            await target(item_id)
        return (time.perf_counter() - started) / calls
    finally:
        gc.enable()


async def stampede(target: Target) -> float:
    """Wall seconds for ``CALLERS`` concurrent callers of one cold key."""
    key = next(_fresh)
    started = time.perf_counter()
    results = await asyncio.gather(*(target(key) for _ in range(CALLERS)))
    elapsed = time.perf_counter() - started
    assert all(result == {"id": key} for result in results)
    return elapsed


async def measure(rounds: int, calls: int) -> dict[str, dict[str, list[float]]]:
    misses = {
        HITBOX_MISS: make_hitbox(fast_upstream),
        CACHETOOLS_MISS: make_cachetools(fast_upstream),
    }
    for target in misses.values():  # fill: every later call evicts one entry
        for item_id in range(CAPACITY):
            await target(-1 - item_id)
    stampedes = {
        HITBOX_STAMPEDE: make_hitbox(slow_upstream),
        FLOOR_STAMPEDE: make_single_flight(slow_upstream),
    }
    samples: dict[str, dict[str, list[float]]] = {
        "miss": {name: [] for name in misses},
        "stampede": {name: [] for name in stampedes},
    }
    for _ in range(rounds):
        for name, target in misses.items():
            samples["miss"][name].append(await per_miss(target, calls))
        for name, target in stampedes.items():
            samples["stampede"][name].append(await stampede(target))
    return samples


async def collect(quick: bool) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    rounds, calls = (5, 5_000) if quick else (9, 20_000)
    samples = await measure(rounds, calls)
    miss_rows: list[list[Any]] = [
        [name, statistics.median(values) * 1e6, min(values) * 1e6]
        for name, values in samples["miss"].items()
    ]
    stampede_rows: list[list[Any]] = [
        [name, statistics.median(values) * 1e3, min(values) * 1e3]
        for name, values in samples["stampede"].items()
    ]
    return validate(  # type: ignore[return-value]
        {
            "title": "Misses and stampedes: @cache.cached against the floor",
            "description": (
                "**miss**: sequential calls with a new argument each into a full cache "
                f"({CAPACITY:,} entries): key, miss, upstream, store with one eviction. "
                "**stampede**: "
                f"{CALLERS:,} concurrent callers of one cold key whose upstream takes "
                f"{DELAY * 1e3:.0f} ms, wall time until all are answered, against a "
                "hand-written single flight. Rounds interleaved; medians count."
            ),
            "parameters": {"rounds": rounds, "calls": calls, "callers": CALLERS},
            "tables": [
                {
                    "id": "miss",
                    "title": "Decorated miss into a full cache, time per call",
                    "columns": ["contender", "median us", "best us"],
                    "rows": miss_rows,
                    "metric": {"column": "median us", "better": "lower"},
                    "baseline": CACHETOOLS_MISS,
                    "hitbox_row": HITBOX_MISS,
                    "peers": [CACHETOOLS_MISS],
                    "notes": ["Target: hitbox at most 3x the cachetools wrapper."],
                },
                {
                    "id": "stampede",
                    "title": f"{CALLERS:,} cold callers of one key, wall time",
                    "columns": ["contender", "median ms", "best ms"],
                    "rows": stampede_rows,
                    "metric": {"column": "median ms", "better": "lower"},
                    "baseline": FLOOR_STAMPEDE,
                    "hitbox_row": HITBOX_STAMPEDE,
                    "peers": [FLOOR_STAMPEDE],
                    "notes": ["Target: hitbox within 1.05x of the hand-written floor."],
                },
            ],
        }
    )


async def main(rounds: int, calls: int) -> None:
    samples = await measure(rounds, calls)
    for table, unit, scale in (("miss", "us", 1e6), ("stampede", "ms", 1e3)):
        medians = {name: statistics.median(values) for name, values in samples[table].items()}
        print(f"\n{table} (medians of {rounds} interleaved rounds)")
        for name, median in medians.items():
            print(f"  {name:<48} {median * scale:>9.2f} {unit}")
    miss = {name: statistics.median(values) for name, values in samples["miss"].items()}
    herd = {name: statistics.median(values) for name, values in samples["stampede"].items()}
    print(f"\nmiss: hitbox / cachetools {miss[HITBOX_MISS] / miss[CACHETOOLS_MISS]:.2f}x (<= 3.0)")
    print(f"stampede: hitbox / floor {herd[HITBOX_STAMPEDE] / herd[FLOOR_STAMPEDE]:.3f}x (<= 1.05)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="5 rounds, fewer calls")
    args = parser.parse_args()
    rounds, calls = (5, 5_000) if args.quick else (args.rounds, 20_000)
    asyncio.run(main(rounds, calls))
