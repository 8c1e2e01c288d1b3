"""On-disk caching: Hitbox's SQLite backend against diskcache and cashews, in one run.

diskcache is the established SQLite cache for Python; it is synchronous, so it appears
twice: called directly (fastest, but every call blocks the event loop) and through
``asyncio.to_thread`` (what an async service must do). cashews' ``disk://`` backend wraps
diskcache in an executor. Measured, each in fresh files in a temp dir:

1. sequential reads (one caller, hits), microseconds per call;
2. concurrent reads (50 tasks, hits), operations per second;
3. sequential writes, microseconds per call;
4. concurrent writes (50 tasks), operations per second.

Ratios are against ``diskcache via to_thread``. Run by hand, or through the report
(``benchmarks/run_all.py``, which calls :func:`collect`)::

    .venv/bin/python benchmarks/bench_sqlite.py [--calls 4000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import hitbox
from hitbox.testing import make_value
from hitbox_sqlite import SQLiteBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import format_text
from timing import TASKS, Op, concurrent, interleaved, sequential

PAYLOAD = b"x" * 200
KEYS = 1000
BASELINE = "diskcache_thread"


NAMES = {
    "diskcache_sync": "diskcache, sync (blocks the loop)",
    "diskcache_thread": "diskcache via to_thread",
    "cashews": "cashews disk:// (diskcache)",
    "backend": "hitbox SQLiteBackend",
    "cache": "hitbox Cache over SQLite",
}


async def build(directory: Path) -> tuple[dict[str, tuple[Op, Op]], list[Any]]:
    """``name -> (read, write)`` for every implementation, each on its own files."""
    import diskcache  # type: ignore[import-untyped]
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


async def measure(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """``scenario -> implementation -> result`` (seconds per call, or operations/s)."""
    with tempfile.TemporaryDirectory() as tmp:
        ops, closers = await build(Path(tmp))
        keys = [f"bench:{i}" for i in range(KEYS)]
        try:
            for _, write in ops.values():  # fill every store, warm up threads and pools
                await concurrent(write, keys, KEYS)
            results = await interleaved(
                ops,
                {
                    "seq_read": (lambda read, write: sequential(read, keys, calls), True),
                    "conc_read": (lambda read, write: concurrent(read, keys, calls * 2), False),
                    "seq_write": (lambda read, write: sequential(write, keys, calls // 2), True),
                    "conc_write": (lambda read, write: concurrent(write, keys, calls), False),
                },
                rounds,
            )
        finally:
            for close in closers:
                outcome = close()
                if asyncio.iscoroutine(outcome):
                    await outcome
    return results


SCENARIOS = {
    "seq_read": ("1. sequential reads (hits)", True),
    "conc_read": (f"2. concurrent reads ({TASKS} tasks)", False),
    "seq_write": ("3. sequential writes", True),
    "conc_write": (f"4. concurrent writes ({TASKS} tasks)", False),
}
PEERS = ["diskcache_thread", "cashews"]


def tables(results: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One report table per scenario, ratios against diskcache via ``to_thread``."""
    made = []
    for scenario, (title, per_call) in SCENARIOS.items():
        column = "us/call" if per_call else "ops/s"
        scale = 1e6 if per_call else 1.0
        made.append(
            {
                "id": scenario.replace("_", "-"),
                "title": title,
                "columns": ["implementation", column],
                "rows": [[NAMES[name], value * scale] for name, value in results[scenario].items()],
                "metric": {"column": column, "better": "lower" if per_call else "higher"},
                "baseline": NAMES[BASELINE],
                "hitbox_row": NAMES["cache"],
                "peers": [NAMES[name] for name in PEERS],
            }
        )
    return made


async def collect(
    quick: bool, calls: int | None = None, rounds: int | None = None
) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    calls = calls or (1000 if quick else 4000)
    rounds = rounds or (3 if quick else 5)
    return {
        "title": "On-disk caching: SQLite",
        "description": (
            "Hitbox's SQLite backend (alone, and under a full `hitbox.Cache`) against "
            "diskcache (SQLite, synchronous: called directly it blocks the event loop, so "
            "it also runs through `asyncio.to_thread`), cashews' `disk://` backend "
            "(diskcache in an executor). 200-byte values, 1,000 keys, fresh files in a temp "
            "dir; the best of the rounds counts."
        ),
        "notes": [
            "dogpile.cache has no SQLite backend; its on-disk one (`dogpile.cache.dbm`) "
            "reopens the dbm file on every call and, on Python builds without gdbm (this "
            "one), falls back to `dbm.dumb` at about 20 ms per read, so it is compared in "
            "the memcached benchmark instead."
        ],
        "parameters": {"calls": calls, "rounds": rounds, "tasks": TASKS},
        "tables": tables(await measure(calls, rounds)),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=None, help="4000 (1000 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="5 (3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    args = parser.parse_args()
    print(format_text(asyncio.run(collect(args.quick, args.calls, args.rounds))))
