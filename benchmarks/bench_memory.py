"""Benchmark the memory backend against cachetools and a plain dict, in one run.

    .venv/bin/python benchmarks/bench_memory.py                 # everything (a few minutes)
    .venv/bin/python benchmarks/bench_memory.py eviction cost   # some sections
    .venv/bin/python benchmarks/bench_memory.py --quick         # smaller traces, fewer rounds

Sections:

* ``eviction`` — hit ratios replaying Zipf(0.9), Zipf(0.99) and a scan-polluted trace
  (see ``memory_traces.py``) at cache sizes of 1 % and 10 % of the key space, for Hitbox
  ``tinylfu`` (the default), Hitbox ``lru``, ``cachetools.LRUCache``,
  ``cachetools.LFUCache``, and the Rust W-TinyLFU caches moka-py (``Moka``) and theine
  (``Cache``). Every contender sees the same read-through loop: ``get``, and
  ``set`` on a miss.
* ``cost`` — nanoseconds per operation for gets (hits and misses) and sets (new keys into
  a full cache, which evicts, and overwrites), for a plain ``dict``, ``cachetools.LRUCache``
  and Hitbox's sync API (``get_sync``/``set_sync``) and async ``await backend.get``. Rounds
  alternate between contenders and the best round counts, which keeps the ratios stable on
  a busy machine. Hitbox sets without a TTL (``math.inf``: no clock, no timer wheel) are
  compared with ``cachetools.LRUCache``, which has none either; sets with a TTL with
  ``cachetools.TTLCache``; ``LRUCache`` behind a ``threading.Lock`` shows what thread
  safety costs it (Hitbox's sets take a lock too).
* ``memory`` — RSS growth of a fresh process holding 1,000,000 entries with 100-byte
  payloads, for Hitbox object mode, Hitbox bytes mode and ``cachetools.LRUCache`` holding
  the same :class:`hitbox.CachedValue` objects (one subprocess each).

The replays, timing rounds and RSS measurement live in ``memory_support.py``; this file
holds the cost contenders, the printing and the report. ``benchmarks/run_all.py`` calls
:func:`collect` for the report instead (quick: 20,000-key traces, 60 rounds, 200,000
entries).
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cachetools
from hitbox_memory import MemoryBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))  # memory_*, report
from memory_support import (
    HIT_CONTENDERS,
    MEMORY_TARGET,
    VALUE,
    best_ns,
    drive,
    hit_ratio_misses,
    measure_hit_ratios,
    measure_memory,
)
from memory_traces import zipf
from report import validate

NO_TTL = math.inf
"""Hitbox's "never expires": no clock, no timer wheel, like ``cachetools.LRUCache``."""
TTL = 300.0
"""The TTL of the rows compared with ``cachetools.TTLCache`` (which does that work too)."""


# -- eviction ---------------------------------------------------------------------------


def bench_eviction(keys: int, length: int) -> None:
    """Print hit ratios side by side and check the targets."""
    print(f"\n== eviction: hit ratio %, {keys:,} keys, {length:,} requests per trace ==")
    rows = measure_hit_ratios(keys, length)
    print(f"{'trace, size':<20}" + "".join(f"{name:>16}" for name in HIT_CONTENDERS))
    for row, ratios in rows.items():
        print(f"{row:<20}" + "".join(f"{ratio:>16.2f}" for ratio in ratios.values()))
    failures = hit_ratio_misses(rows)
    print("targets:", "met" if not failures else "MISSED: " + "; ".join(failures))


# -- cost -------------------------------------------------------------------------------


def _print_costs(title: str, costs: dict[str, float], reference: str) -> None:
    print(f"{title}")
    for name, ns in costs.items():
        print(f"  {name:<42}{ns:>9.0f} ns   {ns / costs[reference]:>5.2f}x {reference}")


LRU_GET = "cachetools LRUCache.get"
LRU_SET = "cachetools LRUCache[key] = v"
TINY_GET = "hitbox tinylfu get_sync"
TINY_SET = "hitbox tinylfu set_sync, no TTL"
GET_TARGET, SET_TARGET = 1.5, 2.0
"""The issue's targets: Hitbox (default policy) against ``cachetools.LRUCache``."""


def _filled_stores(keys: list[str]) -> dict[str, Any]:
    """Every store of the cost section, each holding ``keys`` (and no more room)."""
    size = len(keys)
    stores: dict[str, Any] = {
        "dict": dict.fromkeys(keys, VALUE),
        "lru": cachetools.LRUCache(size),
        "ttl": cachetools.TTLCache(size, ttl=TTL),
        "tiny": MemoryBackend(size, clock=time.time),
        "flat": MemoryBackend(size, policy="lru", clock=time.time),
        "tiny ttl": MemoryBackend(size, clock=time.time),
        "flat ttl": MemoryBackend(size, policy="lru", clock=time.time),
    }
    for key in keys:
        for name in ("lru", "ttl"):
            stores[name][key] = VALUE
        for name in ("tiny", "flat"):
            stores[name].set_sync(key, VALUE, NO_TTL)
            stores[f"{name} ttl"].set_sync(key, VALUE, TTL)
    return stores


def _setters(stores: dict[str, Any]) -> dict[str, Callable[[str], None]]:
    """One ``put(key)`` per contender of the set rows (same value, same work per call)."""
    plain, lru, ttl, lock = stores["dict"], stores["lru"], stores["ttl"], threading.Lock()

    def plain_put(key: str) -> None:
        plain[key] = VALUE

    def lru_put(key: str) -> None:
        lru[key] = VALUE

    def locked_lru_put(key: str) -> None:
        with lock:
            lru[key] = VALUE

    def ttl_put(key: str) -> None:
        ttl[key] = VALUE

    def hitbox(name: str, seconds: float) -> Callable[[str], None]:
        put = stores[name].set_sync
        return lambda key: put(key, VALUE, seconds)

    return {
        "dict[key] = v (unbounded)": plain_put,
        LRU_SET: lru_put,
        "cachetools LRUCache[key] = v, under a Lock": locked_lru_put,
        TINY_SET: hitbox("tiny", NO_TTL),
        "hitbox lru set_sync, no TTL": hitbox("flat", NO_TTL),
        f"cachetools TTLCache[key] = v, ttl {TTL:.0f} s": ttl_put,
        f"hitbox tinylfu set_sync, ttl {TTL:.0f} s": hitbox("tiny ttl", TTL),
        f"hitbox lru set_sync, ttl {TTL:.0f} s": hitbox("flat ttl", TTL),
    }


def measure_costs(rounds: int) -> dict[str, dict[str, float]]:
    """Nanoseconds per operation: ``{operation: {contender: ns}}`` (best round of each)."""
    size = 10_000
    ops = 1_000  # short rounds: the best of many is stable even on a busy machine
    keys = [f"key:{index}" for index in range(size)]
    rng = random.Random(7)
    uniform = [rng.choice(keys) for _ in range(ops)]
    skewed = [keys[int(name.split(":")[1])] for name in zipf(size, 0.99, ops, seed=7)]
    absent = [f"absent:{index}" for index in range(ops)]

    stores = _filled_stores(keys)
    plain, lru, ttl_cache = stores["dict"], stores["lru"], stores["ttl"]
    tiny, flat = stores["tiny"], stores["flat"]
    for key in uniform + skewed:  # settle the segments as a running cache would be
        tiny.get_sync(key)
        flat.get_sync(key)
    # One newly written hot key: with tinylfu it stays in the admission window (1 % of the
    # capacity) until enough newer keys push it out, and its hits must be as cheap.
    newest = "newest"
    for store in (lru, ttl_cache, plain):
        store[newest] = VALUE
    for backend in (tiny, flat):
        backend.set_sync(newest, VALUE, NO_TTL)
    assert tiny.segment_sizes()[0] >= 1
    hot_new = [newest] * ops

    def getter(get: Callable[[str], object], pattern: list[str]) -> Callable[[], None]:
        def run() -> None:
            for key in pattern:
                get(key)

        return run

    def awaiter(backend: MemoryBackend, pattern: list[str]) -> Callable[[], None]:
        async def loop() -> None:
            get = backend.get
            for key in pattern:
                await get(key)

        return lambda: drive(loop())

    async def nothing(key: str) -> None:
        return None

    async def empty_loop() -> None:
        for key in uniform:
            await nothing(key)

    results: dict[str, dict[str, float]] = {}
    for label, pattern in (
        ("get hit, uniform keys", uniform),
        ("get hit, zipf 0.99", skewed),
        ("get hit, one new hot key (in tinylfu's window)", hot_new),
        ("get miss", absent),
    ):
        results[label] = best_ns(
            {
                "dict.get": getter(plain.get, pattern),
                LRU_GET: getter(lru.get, pattern),
                "cachetools TTLCache.get": getter(ttl_cache.get, pattern),
                TINY_GET: getter(tiny.get_sync, pattern),
                "hitbox lru get_sync": getter(flat.get_sync, pattern),
                "hitbox tinylfu await get": awaiter(tiny, pattern),
                "hitbox lru await get": awaiter(flat, pattern),
                "(await of an empty coroutine)": lambda: drive(empty_loop()),
            },
            ops,
            rounds,
        )

    fresh = iter([f"new:{index}" for index in range(ops * (rounds + 1) * 8)])

    def inserter(put: Callable[[str], None]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(ops):
                put(next(fresh))

        return run

    setters = _setters(stores)
    results["set new key into a full cache (evicts one)"] = best_ns(
        {name: inserter(put) for name, put in setters.items()}, ops, rounds
    )

    def overwriter(put: Callable[[str], None]) -> Callable[[], None]:
        def run() -> None:
            for key in uniform:
                put(key)

        return run

    # Overwrites: fresh stores that hold every key, so each set replaces an entry.
    setters = _setters(_filled_stores(keys))
    results["set existing key (overwrite)"] = best_ns(
        {name: overwriter(put) for name, put in setters.items()}, ops, rounds
    )
    return results


def cost_misses(results: dict[str, dict[str, float]]) -> list[str]:
    """The operations where the default Hitbox store misses the issue's target."""
    missed = []
    for label, costs in results.items():
        reference, ours = (LRU_GET, TINY_GET) if label.startswith("get") else (LRU_SET, TINY_SET)
        target = GET_TARGET if label.startswith("get") else SET_TARGET
        if costs[ours] > target * costs[reference]:
            missed.append(f"{label}: {costs[ours] / costs[reference]:.2f}x > {target}x")
    return missed


def bench_cost(rounds: int) -> None:
    """Print per-operation costs and their ratios to cachetools.LRUCache."""
    print(f"\n== cost: ns per operation, 10,000-entry caches, best of {rounds} rounds ==")
    results = measure_costs(rounds)
    for label, costs in results.items():
        _print_costs(label, costs, LRU_GET if label.startswith("get") else LRU_SET)
    missed = cost_misses(results)
    print(
        f"targets (get <= {GET_TARGET}x, set <= {SET_TARGET}x cachetools LRUCache):",
        "met" if not missed else "MISSED: " + "; ".join(missed),
    )


# -- memory -----------------------------------------------------------------------------


def bench_memory(entries: int) -> None:
    """Run one subprocess per contender and compare their RSS growth."""
    print(f"\n== memory: RSS growth holding {entries:,} entries with 100-byte payloads ==")
    growth = measure_memory(entries)
    base = growth["cachetools LRUCache"]
    for kind, size in growth.items():
        print(
            f"  {kind:<22}{size / 1e6:>9.1f} MB  {size / entries:>6.0f} B/entry"
            f"  {size / base:>5.2f}x cachetools"
        )


# -- report -----------------------------------------------------------------------------


def _cost_table(label: str, costs: dict[str, float]) -> dict[str, Any]:
    get = label.startswith("get")
    reference, ours = (LRU_GET, TINY_GET) if get else (LRU_SET, TINY_SET)
    notes = [f"target: {GET_TARGET if get else SET_TARGET}x {reference} or less"]
    if not get:
        notes.append(
            "no TTL: Hitbox with ttl=math.inf (no clock, no timer wheel), the work "
            f"cachetools.LRUCache does; ttl {TTL:.0f} s: compare with cachetools.TTLCache"
        )
    return {
        "id": "cost-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-"),
        "title": f"Cost: {label}",
        "columns": ["contender", "ns per op"],
        "rows": [[name, ns] for name, ns in costs.items()],
        "metric": {"column": "ns per op", "better": "lower"},
        "baseline": reference,
        "hitbox_row": ours,
        "peers": [reference],
        "notes": notes,
    }


def collect(quick: bool) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    keys, length = (20_000, 300_000) if quick else (100_000, 1_000_000)
    rounds, entries = (60, 200_000) if quick else (300, 1_000_000)
    ratios = measure_hit_ratios(keys, length)
    costs = measure_costs(rounds)
    growth = measure_memory(entries)
    hit_misses, cost_missed = hit_ratio_misses(ratios), cost_misses(costs)
    memory_ratio = growth["hitbox object"] / growth["cachetools LRUCache"]
    return validate(  # type: ignore[return-value]
        {
            "title": "In-memory backend",
            "description": (
                "Hitbox's memory backend (W-TinyLFU by default, or LRU) against "
                "cachetools and a plain dict: hit ratios replaying synthetic traces "
                "read-through (moka-py and theine, both W-TinyLFU in Rust, too), "
                "nanoseconds per get and set (10,000-entry caches, best of "
                "interleaved rounds), and RSS growth holding entries with 100-byte payloads."
            ),
            "parameters": {"keys": keys, "requests": length, "rounds": rounds, "entries": entries},
            "notes": [
                "hit ratios: " + ("targets met" if not hit_misses else "; ".join(hit_misses)),
                "cost: " + ("targets met" if not cost_missed else "; ".join(cost_missed)),
                f"memory: hitbox object {memory_ratio:.2f}x cachetools (target "
                f"{MEMORY_TARGET}x or less)",
            ],
            "tables": [
                {
                    "id": "hit-ratios",
                    "title": f"Hit ratio %, {keys:,} keys, {length:,} requests per trace",
                    "columns": ["trace, cache size", *HIT_CONTENDERS],
                    "rows": [[row, *values.values()] for row, values in ratios.items()],
                    "plot": {"columns": list(HIT_CONTENDERS), "label": "hit ratio %"},
                    "notes": [
                        "target: hitbox tinylfu at least the best other column on every "
                        "row, and 5 points above LRU on the scan-polluted trace"
                    ],
                },
                *(_cost_table(label, row) for label, row in costs.items()),
                {
                    "id": "memory",
                    "title": f"RSS growth holding {entries:,} entries (100-byte payloads)",
                    "columns": ["store", "MB", "bytes per entry"],
                    "rows": [[kind, size / 1e6, size / entries] for kind, size in growth.items()],
                    "metric": {"column": "bytes per entry", "better": "lower"},
                    "baseline": "cachetools LRUCache",
                    "hitbox_row": "hitbox object",
                    "peers": ["cachetools LRUCache"],
                    "notes": [f"target: hitbox object {MEMORY_TARGET}x cachetools or less"],
                },
            ],
        }
    )


def main() -> None:
    """Parse the command line and run the chosen sections."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", default=["eviction", "cost", "memory"])
    parser.add_argument("--quick", action="store_true", help="smaller traces, fewer rounds")
    parser.add_argument("--keys", type=int, default=None, help="key space of the traces")
    parser.add_argument("--length", type=int, default=None, help="requests per trace")
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries for memory")
    args = parser.parse_args()
    keys = args.keys or (20_000 if args.quick else 100_000)
    length = args.length or (300_000 if args.quick else 1_000_000)
    print(f"python {sys.version.split()[0]}, cachetools {cachetools.__version__}")
    if "eviction" in args.sections:
        bench_eviction(keys, length)
    if "cost" in args.sections:
        bench_cost(rounds=60 if args.quick else 300)
    if "memory" in args.sections:
        bench_memory(args.entries)


if __name__ == "__main__":
    main()
