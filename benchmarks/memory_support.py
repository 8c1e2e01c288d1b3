"""Measurements behind ``bench_memory.py``: hit-ratio replays, timing rounds and RSS.

* hit ratios — :func:`measure_hit_ratios` replays the traces of ``memory_traces.py``
  read-through (``get``, and ``set`` on a miss) against every contender of
  :data:`HIT_CONTENDERS`; :func:`hit_ratio_misses` checks the issue's targets.
* timing — :func:`best_ns` runs contenders in alternating rounds and keeps each one's best
  round; :func:`drive` runs a coroutine that never suspends without an event loop.
* memory — :func:`measure_memory` fills one store per kind in a fresh subprocess (this
  module run as a script) and reads its RSS growth from ``/proc/self/status``.

Not a benchmark itself: ``benchmarks/run_all.py`` only runs ``bench_*.py``.
"""

from __future__ import annotations

import gc
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import cachetools
from hitbox import CachedValue
from hitbox_memory import MemoryBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))  # memory_traces
from memory_traces import scan_polluted, zipf

__all__ = [
    "HIT_CONTENDERS",
    "MEMORY_KINDS",
    "MEMORY_TARGET",
    "VALUE",
    "best_ns",
    "drive",
    "hit_ratio_misses",
    "measure_hit_ratios",
    "measure_memory",
]

VALUE = CachedValue(b"x" * 100, 0.0, 1e12, 1e12)
"""The value every contender stores in the hit-ratio and cost measurements."""
_FOREVER = 1e9
"""The TTL of the hit-ratio replays (their clock stands still)."""


def _fixed_clock() -> float:
    return 0.0


# -- hit ratios -------------------------------------------------------------------------


def replay_hitbox(trace: list[str], size: int, policy: str) -> float:
    """Hit ratio of a Hitbox memory backend replaying ``trace`` read-through."""
    backend = MemoryBackend(size, policy=policy, clock=_fixed_clock)  # type: ignore[arg-type]
    get, put = backend.get_sync, backend.set_sync
    hits = 0
    for key in trace:
        if get(key) is None:
            put(key, VALUE, _FOREVER)
        else:
            hits += 1
    return hits / len(trace)


def replay_cachetools(trace: list[str], size: int, cls: type[cachetools.Cache[str, Any]]) -> float:
    """Hit ratio of a cachetools cache replaying ``trace`` read-through."""
    cache = cls(size)
    get = cache.get
    hits = 0
    for key in trace:
        if get(key) is None:
            cache[key] = VALUE
        else:
            hits += 1
    return hits / len(trace)


def replay_moka(trace: list[str], size: int) -> float:
    """Hit ratio of moka-py's ``Moka`` (W-TinyLFU, its default policy) replaying ``trace``."""
    from moka_py import Moka

    cache: Any = Moka(size)
    hits = 0
    for key in trace:
        if cache.get(key) is None:
            cache.set(key, VALUE)
        else:
            hits += 1
    return hits / len(trace)


def replay_theine(trace: list[str], size: int) -> float:
    """Hit ratio of theine's ``Cache`` (W-TinyLFU in Rust) replaying ``trace``."""
    from theine import Cache

    cache: Any = Cache(size)
    hits = 0
    for key in trace:
        if cache.get(key)[1]:
            hits += 1
        else:
            cache.set(key, VALUE)
    return hits / len(trace)


HIT_CONTENDERS: dict[str, Callable[[list[str], int], float]] = {
    "hitbox tinylfu": lambda t, n: replay_hitbox(t, n, "tinylfu"),
    "hitbox lru": lambda t, n: replay_hitbox(t, n, "lru"),
    "cachetools LRU": lambda t, n: replay_cachetools(t, n, cachetools.LRUCache),
    "cachetools LFU": lambda t, n: replay_cachetools(t, n, cachetools.LFUCache),
    "moka-py": replay_moka,
    "theine": replay_theine,
}


def measure_hit_ratios(keys: int, length: int) -> dict[str, dict[str, float]]:
    """Hit ratio % per ``"trace, cache size"`` and contender."""
    traces = {
        "zipf 0.9": zipf(keys, 0.9, length),
        "zipf 0.99": zipf(keys, 0.99, length),
        "scan-polluted": scan_polluted(keys, length),
    }
    rows: dict[str, dict[str, float]] = {}
    for trace_name, trace in traces.items():
        for fraction in (0.01, 0.10):
            size = int(keys * fraction)
            rows[f"{trace_name}, {fraction:.0%}"] = {
                name: run(trace, size) * 100 for name, run in HIT_CONTENDERS.items()
            }
    return rows


def hit_ratio_misses(rows: dict[str, dict[str, float]]) -> list[str]:
    """Where Hitbox's default policy misses the issue's hit-ratio targets."""
    failures = []
    for row, ratios in rows.items():
        ours = ratios["hitbox tinylfu"]
        best_peer = max(r for n, r in ratios.items() if n != "hitbox tinylfu")
        if ours < best_peer:
            failures.append(f"{row}: {ours:.2f} < {best_peer:.2f}")
        if row.startswith("scan-polluted") and ours - ratios["hitbox lru"] < 5:
            failures.append(f"{row}: less than 5 points above LRU")
    return failures


# -- timing -----------------------------------------------------------------------------


def drive(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("coroutine suspended")


def best_ns(contenders: dict[str, Callable[[], None]], ops: int, rounds: int) -> dict[str, float]:
    """Nanoseconds per op of each contender's best round; rounds alternate contenders."""
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            gc.disable()
            start = time.perf_counter_ns()
            run()
            elapsed = time.perf_counter_ns() - start
            gc.enable()
            best[name] = min(best[name], elapsed / ops)
    return best


# -- memory -----------------------------------------------------------------------------


MEMORY_KINDS = ("cachetools LRUCache", "hitbox object", "hitbox bytes")
MEMORY_TARGET = 1.3
"""The issue's target: Hitbox object mode against ``cachetools.LRUCache``."""


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def memory_child(kind: str, entries: int) -> None:
    """Fill one store with ``entries`` entries and print its RSS growth as JSON."""
    rng = random.Random(3)
    now = time.time()
    gc.collect()
    before = _rss_bytes()
    store: Any
    if kind == "cachetools LRUCache":
        store = cachetools.LRUCache(entries)
        for index in range(entries):
            created = now + index * 1e-6
            store[f"key:{index:07d}"] = CachedValue(
                rng.randbytes(100), created, created + 60, created + 90
            )
    else:
        store = MemoryBackend(entries, mode="bytes" if kind.endswith("bytes") else "object")
        for index in range(entries):
            created = now + index * 1e-6
            value = CachedValue(rng.randbytes(100), created, created + 60, created + 90)
            store.set_sync(f"key:{index:07d}", value, 90)
        assert len(store) == entries
    gc.collect()
    print(json.dumps({"kind": kind, "rss_growth": _rss_bytes() - before}))


def measure_memory(entries: int) -> dict[str, int]:
    """RSS growth in bytes per store kind, each filled in a fresh subprocess."""
    growth: dict[str, int] = {}
    for kind in MEMORY_KINDS:
        out = subprocess.run(
            [sys.executable, __file__, kind, str(entries)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        growth[kind] = json.loads(out.strip().splitlines()[-1])["rss_growth"]
    return growth


if __name__ == "__main__":  # the subprocess of measure_memory: KIND ENTRIES
    memory_child(sys.argv[1], int(sys.argv[2]))
