"""Tiered (memory L1 + Redis L2) against Redis alone and cashews' client-side cache.

Starts its own ``redis-server`` on a free loopback port and measures, in one run:

1. **hits, one caller**: ``get`` of stored 200-byte values (1,000 keys) through
   ``hitbox.Cache`` over the tiered backend (an L1 hit), over Redis alone, over memory
   alone (the floor); cashews with ``client_side=True`` (its memory replica kept coherent
   by Redis' ``CLIENT TRACKING``) and cashews over plain Redis. Microseconds per call,
   best of interleaved rounds.
2. **hits, 50 tasks** sharing 16 hot keys, operations per second.
3. **rewrite propagation, one process**: instance A rewrites a key that instance B holds
   in its L1; time until B's ``get`` returns the new value (hitbox tiered vs cashews
   client-side; B polls, yielding to the loop between reads).
4. **tag invalidation across two processes** (the harness of
   ``tests/integration/test_tiered_processes.py``): A calls ``invalidate_tags``; time
   until B has applied it (its next read misses). p50/p99 over 1,000 invalidations
   (200 with ``--quick``).

Ratios are against ``hitbox Cache over Redis only``. Run by hand, or through the report
(``benchmarks/run_all.py``, which calls :func:`collect`)::

    .venv/bin/python benchmarks/bench_tiered.py [--quick] [--calls 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package

import hitbox
from hitbox.tiered import TieredBackend
from hitbox_memory import MemoryBackend
from hitbox_redis import RedisBackend
from report import format_text
from timing import sequential

from tests.integration.test_tiered_processes import measure_propagation
from tests.redis_servers import RedisServer

PAYLOAD = b"x" * 200
KEYS = 1000
TASKS = 50
HOT_KEYS = 16
BASELINE = "redis"
TIMEOUTS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
"""A stall of the shared machine must not turn a measurement into fail-open misses."""

NAMES = {
    "tiered": "hitbox Cache, tiered memory+Redis (L1 hit)",
    "redis": "hitbox Cache over Redis only",
    "memory": "hitbox Cache over memory only",
    "cashews_client_side": "cashews client_side (memory+Redis)",
    "cashews_redis": "cashews redis",
}

Reader = Callable[[str], Awaitable[Any]]


@contextlib.contextmanager
def private_redis() -> Any:
    """The URL of a ``redis-server`` started for this run."""
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer.start(Path(tmp))
        try:
            yield server.url
        finally:
            server.stop()


def hitbox_cache(backend: hitbox.Backend) -> hitbox.Cache:
    return hitbox.Cache(
        backend, serializer="raw", policy=hitbox.Policy(ttl=3600, backend_timeout=1.0)
    )


def tiered(url: str, channel: str) -> TieredBackend:
    redis = RedisBackend.from_url(url, invalidation_channel=channel, **TIMEOUTS)
    return TieredBackend([MemoryBackend(max_entries=100_000), redis])


async def cashews_cache(url: str, client_side: bool) -> Any:
    from cashews import Cache as CashewsCache

    cache = CashewsCache()
    # RESP2: under redis-py 8's default RESP3, tracking invalidations arrive as push
    # messages cashews does not read, and its client-side copies are never invalidated.
    cache.setup(url, client_side=client_side, socket_timeout=1.0, protocol=2)
    await cache.init()
    return cache


@contextlib.asynccontextmanager
async def contenders(url: str, keys: list[str]) -> AsyncIterator[dict[str, Reader]]:
    """Every contender's ``get``, with ``keys`` stored and already read once."""
    readers: dict[str, Reader] = {}
    closers: list[Callable[[], Awaitable[Any]]] = []
    channel = f"hitbox:bench:{uuid.uuid4().hex}"
    for name, backend in (
        ("tiered", tiered(url, channel)),
        ("redis", RedisBackend.from_url(url, **TIMEOUTS)),
        ("memory", MemoryBackend(max_entries=100_000)),
    ):
        cache = hitbox_cache(backend)
        if isinstance(backend, TieredBackend):
            await until_live(cache, backend)
        for key in keys:
            await cache.set(f"{name}|{key}", PAYLOAD)
        readers[name] = _prefixed(cache.get, f"{name}|")
        closers.append(cache.aclose)
    try:
        for name, client_side in (("cashews_client_side", True), ("cashews_redis", False)):
            cashews = await cashews_cache(url, client_side)
            for key in keys:
                await cashews.set(f"{name}|{key}", PAYLOAD, expire=3600)
            readers[name] = _prefixed(cashews.get, f"{name}|")
            closers.append(cashews.close)
    except ImportError:
        print("(cashews not installed: skipped)")
    try:
        for read in readers.values():  # warm: L1 and client-side copies filled
            for key in keys:
                assert await read(key) == PAYLOAD
        yield readers
    finally:
        for close in closers:
            with contextlib.suppress(Exception):
                await close()


async def until_live(cache: hitbox.Cache, backend: TieredBackend) -> None:
    """Start the instance and wait out its start-up grace (short-lived L1 entries)."""
    await cache.get("warm")
    for _ in range(200):
        if backend.stats().bus == "live":
            return
        await asyncio.sleep(0.01)


def _prefixed(get: Callable[[str], Awaitable[Any]], prefix: str) -> Reader:
    async def read(key: str) -> Any:
        return await get(prefix + key)

    return read


async def concurrent(read: Reader, keys: list[str], calls: int) -> float:
    """Reads per second of ``TASKS`` tasks over ``keys``."""
    per_task = calls // TASKS

    async def worker(offset: int) -> None:
        for index in range(per_task):
            await read(keys[(offset + index) % len(keys)])

    start = time.perf_counter()
    await asyncio.gather(*(worker(offset) for offset in range(TASKS)))
    return per_task * TASKS / (time.perf_counter() - start)


async def measure_hits(url: str, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    keys = [f"key:{index}" for index in range(KEYS)]
    results: dict[str, dict[str, float]] = {"sequential": {}, "hot": {}}
    async with contenders(url, keys) as readers:
        for _ in range(rounds):  # interleaved, so drift hits every contender alike
            for name, read in readers.items():
                gc.collect()
                seconds = await sequential(read, keys, calls)
                best = results["sequential"].get(name, float("inf"))
                results["sequential"][name] = min(best, seconds)
                rate = await concurrent(read, keys[:HOT_KEYS], calls)
                results["hot"][name] = max(results["hot"].get(name, 0.0), rate)
    return results


async def rewrite_propagation(url: str, rounds: int) -> dict[str, list[float]]:
    """Seconds until instance B reads the value instance A just wrote, per round."""
    delays: dict[str, list[float]] = {}
    channel = f"hitbox:bench:{uuid.uuid4().hex}"
    a_backend, b_backend = tiered(url, channel), tiered(url, channel)
    a, b = hitbox_cache(a_backend), hitbox_cache(b_backend)
    try:
        await until_live(a, a_backend)
        await until_live(b, b_backend)
        delays["tiered"] = await _rounds(a.set, b.get, rounds, "hb")
    finally:
        await a.aclose()
        await b.aclose()
    try:
        ca, cb = await cashews_cache(url, True), await cashews_cache(url, True)
    except ImportError:
        return delays
    try:

        async def cashews_set(key: str, value: bytes) -> Any:
            return await ca.set(key, value, expire=3600)

        delays["cashews_client_side"] = await _rounds(cashews_set, cb.get, rounds, "cw")
    finally:
        await ca.close()
        await cb.close()
    return delays


async def _rounds(
    write: Callable[[str, bytes], Awaitable[Any]],
    read: Callable[[str], Awaitable[Any]],
    rounds: int,
    prefix: str,
) -> list[float]:
    delays = []
    for index in range(rounds):
        key = f"{prefix}:{uuid.uuid4().hex}"
        await write(key, b"old")
        deadline = time.perf_counter() + 5
        while await read(key) != b"old":  # B holds the old value (in its local copy)
            assert time.perf_counter() < deadline, "B never saw the first value"
            await asyncio.sleep(0)
        await asyncio.sleep(0.002)  # let the first write's own notifications pass
        started = time.perf_counter()
        await write(key, f"new{index}".encode())
        while await read(key) != f"new{index}".encode():
            if time.perf_counter() - started > 5:
                raise AssertionError(f"{prefix}: B kept the old value for 5 s")
            await asyncio.sleep(0)
        delays.append(time.perf_counter() - started)
    return delays


def percentiles(delays: list[float]) -> list[float]:
    """p50, p99 and max in milliseconds."""
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return [statistics.median(ordered) * 1000, p99 * 1000, ordered[-1] * 1000]


def tables(
    hits: dict[str, dict[str, float]],
    rewrite: dict[str, list[float]],
    tags: list[float],
) -> list[dict[str, Any]]:
    peers = [NAMES[key] for key in ("cashews_client_side", "cashews_redis") if key in hits["hot"]]
    common = {"baseline": NAMES[BASELINE], "hitbox_row": NAMES["tiered"], "peers": peers}
    return [
        {
            "id": "hits",
            "title": "Hits, one caller: time per call",
            "columns": ["contender", "us/call"],
            "rows": [[NAMES[k], v * 1e6] for k, v in hits["sequential"].items()],
            "metric": {"column": "us/call", "better": "lower"},
            **common,
        },
        {
            "id": "hot",
            "title": f"Hits, {TASKS} tasks on {HOT_KEYS} hot keys",
            "columns": ["contender", "ops/s"],
            "rows": [[NAMES[k], v] for k, v in hits["hot"].items()],
            "metric": {"column": "ops/s", "better": "higher"},
            **common,
        },
        {
            "id": "rewrite",
            "title": "A rewrites a key B holds locally: until B reads the new value",
            "columns": ["contender", "p50 ms", "p99 ms", "max ms"],
            "rows": [[NAMES[k], *percentiles(v)] for k, v in rewrite.items()],
            "plot": {"columns": ["p50 ms", "p99 ms"], "label": "ms"},
        },
        {
            "id": "tags",
            "title": f"Tag invalidation across two processes ({len(tags)} rounds)",
            "columns": ["contender", "p50 ms", "p99 ms", "max ms"],
            "rows": [["hitbox tiered: A invalidate_tags -> applied in B", *percentiles(tags)]],
        },
    ]


async def collect(quick: bool, calls: int | None = None, rounds: int | None = None) -> Any:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    calls = calls or (4000 if quick else 20_000)
    rounds = rounds or (2 if quick else 3)
    propagation_rounds = 200 if quick else 1000
    with private_redis() as url:
        hits = await measure_hits(url, calls, rounds)
        rewrite = await rewrite_propagation(url, 100 if quick else 300)
        tags = await measure_propagation(url, propagation_rounds)
    return {
        "title": "Tiered cache: memory L1 + Redis L2",
        "description": (
            "200-byte values in a private `redis-server` on loopback. Hits: `get` through "
            "`hitbox.Cache` over the tiered backend (L1 hit), over Redis only and over "
            "memory only; cashews with `client_side=True` (Redis `CLIENT TRACKING`) and "
            "plain cashews redis. Best of interleaved rounds. Propagation: how long "
            "another instance keeps serving its local copy after a rewrite (same "
            "process, two instances) and after a tag invalidation (two processes, the "
            "harness of `tests/integration/test_tiered_processes.py`)."
        ),
        "parameters": {"calls": calls, "rounds": rounds, "keys": KEYS},
        "notes": [
            "cashews runs with `protocol=2`: under redis-py 8's default RESP3 its "
            "client-side copies are never invalidated (tracking messages arrive as push "
            "messages it does not read).",
            "cashews' client-side copy is filled without a lifetime and is not used "
            "while its tracking connection is down; the tiered L1 keeps the entry's "
            "remaining lifetime and falls back to a short lifetime during a bus outage.",
        ],
        "tables": tables(hits, rewrite, tags),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--calls", type=int, help="reads per measurement")
    parser.add_argument("--rounds", type=int, help="best of this many rounds")
    args = parser.parse_args()
    print(format_text(asyncio.run(collect(args.quick, args.calls, args.rounds))))
