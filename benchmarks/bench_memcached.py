"""Memcached read and write paths: Hitbox against raw clients, aiocache and dogpile.cache.

Starts its own ``memcached`` on a free loopback port (or uses ``--server host:port``)
and measures, with equally sized payloads under each implementation's own keys:

1. sequential reads (one caller, hits), microseconds per call;
2. concurrent reads (50 tasks, hits), operations per second;
3. concurrent writes (50 tasks), operations per second.

Implementations: raw emcache (the client Hitbox uses, bytes in and out: the floor),
raw aiomcache, aiocache's ``MemcachedCache`` (on aiomcache), a dogpile.cache region on
its ``pymemcache`` backend (synchronous, so called through ``asyncio.to_thread`` as an
async service must), ``MemcachedBackend`` (envelope encode/decode and key encoding
included) and a full ``hitbox.Cache`` hit. Ratios are against raw emcache. Run by hand,
or through the report (``benchmarks/run_all.py``, which calls :func:`collect`)::

    .venv/bin/python benchmarks/bench_memcached.py [--calls 20000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

import emcache
import hitbox
from hitbox.testing import make_value
from hitbox_memcached import MemcachedBackend

from tests.support import free_port, wait_for_port

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import format_text
from timing import TASKS, Op, Scenario, concurrent, interleaved, sequential

PAYLOAD = b"x" * 200
KEYS = 1000
TIMEOUT = 10.0


NAMES = {
    "emcache": "raw emcache (bytes)",
    "aiomcache": "raw aiomcache (bytes)",
    "aiocache": "aiocache MemcachedCache",
    "dogpile": "dogpile.cache pymemcache via to_thread",
    "backend": "hitbox MemcachedBackend",
    "autobatch": "hitbox MemcachedBackend, autobatching",
    "cache": "hitbox Cache over memcached",
}


@contextlib.contextmanager
def memcached(server: str | None) -> Iterator[tuple[str, int]]:
    """``server`` itself, or a private memcached started for the run."""
    if server:
        host, _, given_port = server.partition(":")
        yield host, int(given_port or 11211)
        return
    binary = shutil.which("memcached")
    if binary is None:
        raise SystemExit("memcached is not installed (apt-get install memcached)")
    port = free_port()
    args = [binary, "-l", "127.0.0.1", "-p", str(port), "-m", "256"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    process = subprocess.Popen(args)
    try:
        wait_for_port(port)
        yield "127.0.0.1", port
    finally:
        process.kill()
        process.wait()


async def build(host: str, port: int) -> tuple[dict[str, tuple[Op, Op]], list[Any]]:
    """``name -> (read, write)`` for every implementation, each under its own key prefix."""
    import aiomcache
    from aiocache import Cache as AioCache  # type: ignore[import-untyped]
    from aiocache.serializers import PickleSerializer  # type: ignore[import-untyped]

    ops: dict[str, tuple[Op, Op]] = {}
    closers: list[Any] = []

    # Generous timeouts everywhere: aiomcache has none, and a loaded machine must not
    # turn a slow round into a crash.
    raw = await emcache.create_client(
        [emcache.MemcachedHostAddress(host, port)], max_connections=4, timeout=TIMEOUT
    )
    closers.append(raw.close)

    async def em_get(key: str) -> Any:
        return await raw.get(f"em:{key}".encode())

    async def em_set(key: str) -> None:
        await raw.set(f"em:{key}".encode(), PAYLOAD, exptime=3600)

    ops["emcache"] = (em_get, em_set)

    aio = aiomcache.Client(host, port, pool_size=4)
    closers.append(aio.close)

    async def aio_get(key: str) -> Any:
        return await aio.get(f"aio:{key}".encode())

    async def aio_set(key: str) -> None:
        await aio.set(f"aio:{key}".encode(), PAYLOAD, exptime=3600)

    ops["aiomcache"] = (aio_get, aio_set)

    aiocache = AioCache(
        AioCache.MEMCACHED,
        endpoint=host,
        port=port,
        pool_size=4,
        serializer=PickleSerializer(),
    )
    closers.append(aiocache.close)

    async def aiocache_get(key: str) -> Any:
        return await aiocache.get(f"aiocache:{key}")

    async def aiocache_set(key: str) -> None:
        await aiocache.set(f"aiocache:{key}", PAYLOAD, ttl=3600)

    ops["aiocache"] = (aiocache_get, aiocache_set)

    from dogpile.cache import make_region

    # One pymemcache client per thread (dogpile keeps them thread-local), so the default
    # executor's threads never share a socket.
    region = make_region(key_mangler=lambda key: f"dogpile:{key}").configure(
        "dogpile.cache.pymemcache",
        expiration_time=3600,
        arguments={"url": [f"{host}:{port}"], "timeout": TIMEOUT, "connect_timeout": TIMEOUT},
    )
    closers.append(lambda: asyncio.to_thread(region.backend.client.close))

    async def dogpile_get(key: str) -> Any:
        return await asyncio.to_thread(region.get, key)

    async def dogpile_set(key: str) -> None:
        await asyncio.to_thread(region.set, key, PAYLOAD)

    ops["dogpile"] = (dogpile_get, dogpile_set)

    value = make_value(PAYLOAD, ttl=3600)
    for name, autobatching in (("backend", False), ("autobatch", True)):
        backend = MemcachedBackend(
            [f"{host}:{port}"], key_prefix=f"{name}:", timeout=TIMEOUT, autobatching=autobatching
        )
        closers.append(backend.aclose)

        async def backend_set(key: str, backend: MemcachedBackend = backend) -> None:
            await backend.set(key, value, 3600)

        ops[name] = (backend.get, backend_set)

    cache = hitbox.Cache(
        MemcachedBackend([f"{host}:{port}"], key_prefix="hc:", timeout=TIMEOUT),
        serializer="raw",
        policy={"ttl": 3600, "backend_timeout": TIMEOUT},
    )
    closers.append(cache.aclose)

    @cache.cached(key="{key}")
    async def cached_read(key: str) -> bytes:
        return PAYLOAD

    async def cache_set(key: str) -> None:
        await cache.set(key, PAYLOAD)

    ops["cache"] = (cached_read, cache_set)
    return ops, closers


async def measure(host: str, port: int, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """``scenario -> implementation -> result`` (seconds per call, or operations/s)."""
    ops, closers = await build(host, port)
    keys = [f"bench:{i}" for i in range(KEYS)]
    scenarios: dict[str, tuple[Scenario, bool]] = {
        "seq": (lambda read, write: sequential(read, keys, calls // 4), True),
        "read": (lambda read, write: concurrent(read, keys, calls), False),
        "write": (lambda read, write: concurrent(write, keys, calls // 2), False),
    }
    try:
        for _, write in ops.values():  # fill every key space, warm up the pools
            await concurrent(write, keys, KEYS)
        results = await interleaved(ops, scenarios, rounds)
    finally:
        for close in closers:
            await close()
    return results


SCENARIOS = {
    "seq": ("1. sequential reads (hits)", True),
    "read": (f"2. concurrent reads ({TASKS} tasks)", False),
    "write": (f"3. concurrent writes ({TASKS} tasks)", False),
}
PEERS = ["aiocache", "dogpile", "emcache"]


def tables(results: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One report table per scenario, ratios against raw emcache."""
    made = []
    for scenario, (title, per_call) in SCENARIOS.items():
        column = "us/call" if per_call else "ops/s"
        scale = 1e6 if per_call else 1.0
        made.append(
            {
                "id": scenario,
                "title": title,
                "columns": ["implementation", column],
                "rows": [[NAMES[name], value * scale] for name, value in results[scenario].items()],
                "metric": {"column": column, "better": "lower" if per_call else "higher"},
                "baseline": NAMES["emcache"],
                "hitbox_row": NAMES["cache"],
                "peers": [NAMES[name] for name in PEERS],
            }
        )
    return made


async def collect(
    quick: bool, calls: int | None = None, rounds: int | None = None, server: str | None = None
) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    calls = calls or (4000 if quick else 20000)
    rounds = rounds or (3 if quick else 5)
    with memcached(server) as (host, port):
        results = await measure(host, port, calls, rounds)
    return {
        "title": "Memcached",
        "description": (
            "Reads and writes against one private memcached on loopback, 200-byte values "
            "under each implementation's own keys. Raw emcache (the client Hitbox uses, "
            "bytes in and out) is the floor; raw aiomcache and aiocache's `MemcachedCache` "
            "are the async peers; dogpile.cache's `pymemcache` region is synchronous, so it "
            "runs through `asyncio.to_thread` as an async service must. The Hitbox rows "
            "include the envelope codec; *Cache* is a full `hitbox.Cache` hit."
        ),
        "parameters": {"calls": calls, "rounds": rounds, "tasks": TASKS},
        "tables": tables(results),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=None, help="20000 (4000 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="5 (3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--server", help="use this memcached (host:port) instead of starting one")
    args = parser.parse_args()
    print(format_text(asyncio.run(collect(args.quick, args.calls, args.rounds, args.server))))
