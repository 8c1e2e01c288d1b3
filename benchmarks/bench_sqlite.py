"""SQLite-backed caching: Hitbox's SQLite backend against diskcache and cashews, one run.

diskcache is the established SQLite cache for Python; it is synchronous, so it appears
twice: called directly (fastest, but every call blocks the event loop) and through
``asyncio.to_thread`` (what an async service must do). cashews' ``disk://`` backend wraps
diskcache in an executor. Measured, each in a fresh database file in a temp dir:

1. sequential reads (one caller, hits), microseconds per call;
2. concurrent reads (50 tasks, hits), operations per second;
3. sequential writes, microseconds per call;
4. concurrent writes (50 tasks), operations per second.

Ratios are against ``diskcache via to_thread``. Run by hand::

    .venv/bin/python benchmarks/bench_sqlite.py [--calls 4000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hitbox
from hitbox.testing import make_value
from hitbox_sqlite import SQLiteBackend

PAYLOAD = b"x" * 200
TASKS = 50
KEYS = 1000
BASELINE = "diskcache_thread"

Op = Callable[[str], Awaitable[Any]]

NAMES = {
    "diskcache_sync": "diskcache, sync (blocks the loop)",
    "diskcache_thread": "diskcache via to_thread",
    "cashews": "cashews disk:// (diskcache)",
    "backend": "hitbox SQLiteBackend",
    "cache": "hitbox Cache over SQLite",
}


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


async def best_of(rounds: int, measure: Callable[[], Awaitable[float]], lower: bool) -> float:
    """The best of ``rounds`` measurements (lowest time or highest rate)."""
    results = []
    for _ in range(rounds):
        gc.collect()
        results.append(await measure())
    return min(results) if lower else max(results)


async def build(directory: Path) -> tuple[dict[str, tuple[Op, Op]], list[Any]]:
    """``name -> (read, write)`` for every implementation, each on its own files."""
    import diskcache
    from cashews import Cache as CashewsCache

    ops: dict[str, tuple[Op, Op]] = {}
    closers: list[Any] = []
    value = make_value(PAYLOAD, ttl=3600)

    disk = diskcache.Cache(str(directory / "diskcache"))
    closers.append(disk.close)

    async def dc_sync_get(key: str) -> Any:
        return disk.get(key)

    async def dc_sync_set(key: str) -> Any:
        return disk.set(key, PAYLOAD, expire=3600)

    async def dc_thread_get(key: str) -> Any:
        return await asyncio.to_thread(disk.get, key)

    async def dc_thread_set(key: str) -> Any:
        return await asyncio.to_thread(disk.set, key, PAYLOAD, 3600)

    ops["diskcache_sync"] = (dc_sync_get, dc_sync_set)
    ops["diskcache_thread"] = (dc_thread_get, dc_thread_set)

    cashews = CashewsCache()
    cashews.setup(f"disk://?directory={directory / 'cashews'}&shards=0")
    await cashews.init()
    closers.append(cashews.close)

    async def cashews_set(key: str) -> Any:
        return await cashews.set(key, PAYLOAD, expire=3600)

    ops["cashews"] = (cashews.get, cashews_set)

    backend = SQLiteBackend(str(directory / "hitbox.db"))
    closers.append(backend.aclose)

    async def backend_set(key: str) -> None:
        await backend.set(key, value, 3600)

    ops["backend"] = (backend.get, backend_set)

    cache = hitbox.Cache(
        SQLiteBackend(str(directory / "hitbox-cache.db")), serializer="raw", policy={"ttl": 3600}
    )
    closers.append(cache.aclose)

    @cache.cached(key="{key}")
    async def cached_read(key: str) -> bytes:
        return PAYLOAD

    async def cache_set(key: str) -> None:
        await cache.set(key, PAYLOAD)

    ops["cache"] = (cached_read, cache_set)
    return ops, closers


def report(title: str, results: dict[str, float], per_call: bool) -> None:
    """Print one scenario with ratios to the baseline (higher ratio = faster)."""
    base = results[BASELINE]
    print(f"\n{title}")
    for name, result in results.items():
        ratio = base / result if per_call else result / base
        shown = f"{result * 1e6:8.1f} us/call" if per_call else f"{result:10,.0f} ops/s"
        print(f"  {NAMES[name]:36s} {shown}   x{ratio:5.2f} vs diskcache via to_thread")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ops, closers = await build(Path(tmp))
        keys = [f"bench:{i}" for i in range(KEYS)]
        try:
            for _, write in ops.values():  # fill every store, warm up threads and pools
                await concurrent(write, keys, KEYS)
            results: dict[str, dict[str, float]] = {}
            for name, (read, write) in ops.items():
                results.setdefault("seq_read", {})[name] = await best_of(
                    args.rounds, lambda r=read: sequential(r, keys, args.calls), True
                )
                results.setdefault("conc_read", {})[name] = await best_of(
                    args.rounds, lambda r=read: concurrent(r, keys, args.calls * 2), False
                )
                results.setdefault("seq_write", {})[name] = await best_of(
                    args.rounds, lambda w=write: sequential(w, keys, args.calls // 2), True
                )
                results.setdefault("conc_write", {})[name] = await best_of(
                    args.rounds, lambda w=write: concurrent(w, keys, args.calls), False
                )
        finally:
            for close in closers:
                outcome = close()
                if asyncio.iscoroutine(outcome):
                    await outcome
    report("1. sequential reads (hits)", results["seq_read"], per_call=True)
    report(f"2. concurrent reads ({TASKS} tasks)", results["conc_read"], per_call=False)
    report("3. sequential writes", results["seq_write"], per_call=True)
    report(f"4. concurrent writes ({TASKS} tasks)", results["conc_write"], per_call=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
