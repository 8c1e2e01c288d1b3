"""Sync code: a ``def`` function under ``@cache.cached`` against cachetools and raw redis-py.

Starts its own ``redis-server`` on a free loopback port and measures, in one run:

1. **memory hit**: a sync cached function on ``MemoryBackend`` (the hit served inline in
   the calling thread through ``get_sync``) against ``cachetools.cached`` (a ``TTLCache``)
   on the same function; and, as the design's evidence, the same hit sent through the
   cache's private event loop (``sync_reads = False``: every call a loop round trip).
2. **Redis hit**: a sync cached function on ``RedisBackend`` (one ``GET`` on a redis-py
   sync client in the calling thread, envelope and JSON decode included) against a raw
   redis-py sync ``GET`` of the same key on the same server; and the same hit through
   the private loop (the async lean ``GET`` there, the caller blocked on it).
3. **32 threads on hot keys**: throughput of 32 threads calling the sync cached function
   on 16 hot keys against 32 threads doing raw redis-py ``GET`` on the same keys.

Sequential numbers are the best of interleaved rounds (µs per call); the threaded one is
the best round's calls per second. Run by hand::

    .venv/bin/python benchmarks/bench_sync.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.redis_servers
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package

import hitbox
import redis
from cachetools import TTLCache, cached
from hitbox.plugins import PluginManager
from hitbox_memory import MemoryBackend
from hitbox_redis import RedisBackend
from report import format_text, validate

from tests.redis_servers import RedisServer

THREADS = 32
HOT_KEYS = 16
TIMEOUTS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
"""A stall on a shared machine must not turn into fail-open misses mid-measurement."""


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer.start(Path(tmp))
        try:
            yield server.url
        finally:
            server.stop()


def _plugins() -> PluginManager:
    """Built-ins only: no metrics or tracing listener slows the hit path."""
    return PluginManager(disabled={"prometheus", "opentelemetry"})


def per_call(call: Callable[[], object], calls: int) -> float:
    """Microseconds per call."""
    gc.collect()
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


def best_of(
    contenders: dict[str, Callable[[], object]], calls: int, rounds: int
) -> dict[str, float]:
    """Lowest µs/call per contender over ``rounds`` interleaved rounds."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, call in contenders.items():
            best[name] = min(best[name], per_call(call, calls))
    return best


def threaded(read: Callable[[str], object], keys: list[str], calls: int) -> float:
    """Calls per second of ``THREADS`` threads sharing ``calls`` calls over ``keys``."""
    per_thread = calls // THREADS
    start = threading.Barrier(THREADS + 1)

    def worker(offset: int) -> None:
        start.wait()
        for index in range(per_thread):
            read(keys[(offset + index) % len(keys)])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    gc.collect()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return per_thread * THREADS / (time.perf_counter() - began)


def measure_memory(calls: int, rounds: int) -> dict[str, float]:
    def user(user_id: int) -> dict[str, int]:
        return {"id": user_id, "score": user_id * 2}

    inline = hitbox.Cache(MemoryBackend(), plugins=_plugins(), policy={"ttl": 3600})
    looped_backend = MemoryBackend()
    looped_backend.sync_reads = False  # type: ignore[attr-defined]  # option (a) alone
    looped = hitbox.Cache(looped_backend, plugins=_plugins(), policy={"ttl": 3600})
    fast = inline.cached(key="user:{user_id}")(user)
    slow = looped.cached(key="user:{user_id}")(user)
    reference = cached(TTLCache(maxsize=10_000, ttl=3600))(user)
    for fn in (fast, slow, reference):
        fn(1)
    try:
        return best_of(
            {
                "cachetools.cached": lambda: reference(1),
                "hitbox sync, inline hit": lambda: fast(1),
                "hitbox sync, via private loop": lambda: slow(1),
            },
            calls,
            rounds,
        )
    finally:
        inline.close()
        looped.close()


def measure_redis(url: str, calls: int, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    payload = {"id": 1, "name": "x" * 150}

    def user(user_id: int) -> dict[str, Any]:
        return {**payload, "id": user_id}

    native = hitbox.Cache(
        RedisBackend.from_url(url, **TIMEOUTS),
        serializer="json",
        plugins=_plugins(),
        policy={"ttl": 3600},
    )
    looped_backend = RedisBackend.from_url(url, **TIMEOUTS)
    looped_backend.sync_reads = False  # option (a) alone: every hit through the loop
    looped = hitbox.Cache(
        looped_backend, serializer="json", plugins=_plugins(), policy={"ttl": 3600}
    )
    fast = native.cached(key="user:{user_id}")(user)
    slow = looped.cached(key="user:{user_id}")(user)
    raw = redis.Redis.from_url(url)
    keys = [f"user:{n}" for n in range(HOT_KEYS)]
    for n in range(HOT_KEYS):
        fast(n)
        slow(n)
        raw.set(keys[n], b"x" * 200)
    try:
        sequential = best_of(
            {
                "raw redis-py sync GET": lambda: raw.get("user:1"),
                "hitbox sync, native GET": lambda: fast(1),
                "hitbox sync, via private loop": lambda: slow(1),
            },
            calls // 4,
            rounds,
        )
        rates: dict[str, list[float]] = {"raw redis-py threads": [], "hitbox sync threads": []}
        for _ in range(rounds):
            rates["raw redis-py threads"].append(threaded(raw.get, keys, calls))
            rates["hitbox sync threads"].append(
                threaded(lambda key: fast(int(key.split(":")[1])), keys, calls)
            )
        return sequential, {name: max(values) for name, values in rates.items()}
    finally:
        raw.close()
        native.close()
        looped.close()


def collect(quick: bool) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    calls, rounds = (20_000, 3) if quick else (100_000, 5)
    memory = measure_memory(calls, rounds)
    with redis_url() as url:
        remote, threads = measure_redis(url, calls, rounds)
    return validate(  # type: ignore[return-value]
        {
            "title": "Sync code",
            "description": (
                "A `def` function under `@cache.cached`, called from plain threads. "
                "Memory: the inline hit (`get_sync` in the calling thread) against "
                "`cachetools.cached` on the same function, and the same hit sent through "
                "the cache's private event loop. Redis: the hit on a redis-py sync client "
                "against a raw redis-py sync `GET` on the same server, and through the "
                "private loop. Threads: 32 threads on 16 hot keys. Best of interleaved "
                "rounds."
            ),
            "parameters": {"calls": calls, "rounds": rounds, "threads": THREADS},
            "tables": [
                {
                    "id": "memory",
                    "title": "Memory hit, µs per call",
                    "columns": ["contender", "us/call"],
                    "rows": [[name, value] for name, value in memory.items()],
                    "metric": {"column": "us/call", "better": "lower"},
                    "baseline": "cachetools.cached",
                    "hitbox_row": "hitbox sync, inline hit",
                    "peers": ["cachetools.cached"],
                    "notes": ["Target: the inline hit at most 1.5x cachetools.cached."],
                },
                {
                    "id": "redis",
                    "title": "Redis hit, µs per call",
                    "columns": ["contender", "us/call"],
                    "rows": [[name, value] for name, value in remote.items()],
                    "metric": {"column": "us/call", "better": "lower"},
                    "baseline": "raw redis-py sync GET",
                    "hitbox_row": "hitbox sync, native GET",
                    "peers": ["raw redis-py sync GET"],
                    "notes": ["Target: at most 1.3x the raw sync GET."],
                },
                {
                    "id": "threads",
                    "title": f"{THREADS} threads on {HOT_KEYS} hot Redis keys, calls per second",
                    "columns": ["contender", "ops/s"],
                    "rows": [[name, value] for name, value in threads.items()],
                    "metric": {"column": "ops/s", "better": "higher"},
                    "baseline": "raw redis-py threads",
                    "hitbox_row": "hitbox sync threads",
                    "peers": ["raw redis-py threads"],
                    "notes": ["Target: at least the raw redis-py threads' throughput."],
                },
            ],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    print(format_text(collect(args.quick)))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
