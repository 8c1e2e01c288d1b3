"""Memcached read and write paths: Hitbox against raw clients and aiocache, in one run.

Starts its own ``memcached`` on a free loopback port (or uses ``--server host:port``)
and measures, with equally sized payloads under each implementation's own keys:

1. sequential reads (one caller, hits), microseconds per call;
2. concurrent reads (50 tasks, hits), operations per second;
3. concurrent writes (50 tasks), operations per second.

Implementations: raw emcache (the client Hitbox uses, bytes in and out: the floor),
raw aiomcache, aiocache's ``MemcachedCache`` (on aiomcache), ``MemcachedBackend``
(envelope encode/decode and key encoding included) and a full ``hitbox.Cache`` hit.
Ratios are against raw emcache. Run by hand::

    .venv/bin/python benchmarks/bench_memcached.py [--calls 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

import emcache
import hitbox
from hitbox.testing import make_value
from hitbox_memcached import MemcachedBackend

from tests.support import free_port, wait_for_port

PAYLOAD = b"x" * 200
TASKS = 50
KEYS = 1000
TIMEOUT = 10.0

Op = Callable[[str], Awaitable[Any]]

NAMES = {
    "emcache": "raw emcache (bytes)",
    "aiomcache": "raw aiomcache (bytes)",
    "aiocache": "aiocache MemcachedCache",
    "backend": "hitbox MemcachedBackend",
    "autobatch": "hitbox MemcachedBackend, autobatching",
    "cache": "hitbox Cache over memcached",
}


@contextlib.contextmanager
def memcached(server: str | None) -> Iterator[tuple[str, int]]:
    """``server`` itself, or a private memcached started for the run."""
    if server:
        host, _, port = server.partition(":")
        yield host, int(port or 11211)
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


async def build(host: str, port: int) -> tuple[dict[str, tuple[Op, Op]], list[Any]]:
    """``name -> (read, write)`` for every implementation, each under its own key prefix."""
    import aiomcache
    from aiocache import Cache as AioCache
    from aiocache.serializers import PickleSerializer

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


def report(title: str, results: dict[str, float], per_call: bool) -> None:
    """Print one scenario with ratios to raw emcache (higher ratio = faster)."""
    base = results["emcache"]
    print(f"\n{title}")
    for name, result in results.items():
        ratio = base / result if per_call else result / base
        shown = f"{result * 1e6:8.1f} us/call" if per_call else f"{result:10,.0f} ops/s"
        print(f"  {NAMES[name]:38s} {shown}   x{ratio:5.2f} vs raw emcache")


async def main(args: argparse.Namespace) -> None:
    with memcached(args.server) as (host, port):
        ops, closers = await build(host, port)
        keys = [f"bench:{i}" for i in range(KEYS)]
        results: dict[str, dict[str, float]] = {"seq": {}, "read": {}, "write": {}}
        try:
            for _, write in ops.values():  # fill every key space, warm up the pools
                await concurrent(write, keys, KEYS)
            for name, (read, write) in ops.items():
                results["seq"][name] = await best_of(
                    args.rounds, lambda r=read: sequential(r, keys, args.calls // 4), True
                )
                results["read"][name] = await best_of(
                    args.rounds, lambda r=read: concurrent(r, keys, args.calls), False
                )
                results["write"][name] = await best_of(
                    args.rounds, lambda w=write: concurrent(w, keys, args.calls // 2), False
                )
        finally:
            for close in closers:
                await close()
    report("1. sequential reads (hits)", results["seq"], per_call=True)
    report(f"2. concurrent reads ({TASKS} tasks)", results["read"], per_call=False)
    report(f"3. concurrent writes ({TASKS} tasks)", results["write"], per_call=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", help="use this memcached (host:port) instead of starting one")
    asyncio.run(main(parser.parse_args()))
