"""Distributed stampede: 4 processes x 250 concurrent cold calls on one key -> 1 upstream call.

Each process runs its own ``hitbox.Cache`` over its own ``RedisBackend`` with
``lock="distributed"``: the local single-flight collapses a process's 250 callers to one,
and the Redis lock (``SET NX PX``) lets one process of four call the upstream while the
others wait for the entry to appear. The upstream counts its calls in Redis itself.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.synchronize import Event

import pytest
from redis.asyncio import Redis

from tests.redis_servers import RedisServer

pytestmark = [pytest.mark.services, pytest.mark.slow]

PROCESSES = 4
CALLS_PER_PROCESS = 250
COUNTER = "stampede:upstream-calls"


def run_process(url: str, ready: Event, go: Event, results: multiprocessing.Queue[object]) -> None:
    """One application process (the target of ``multiprocessing``)."""
    try:
        results.put(asyncio.run(_stampede(url, ready, go)))
    except BaseException as exc:
        results.put(exc)
        raise


async def _stampede(url: str, ready: Event, go: Event) -> list[object]:
    import hitbox
    from hitbox_redis import RedisBackend

    # Four processes on a shared 2-core machine: give Redis calls room, so the test
    # measures the lock and not a timeout that made a process fail open.
    backend = RedisBackend.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    counter = Redis.from_url(url)
    cache = hitbox.Cache(
        backend,
        serializer="json",
        policy={"ttl": 60, "lock": "distributed", "lock_timeout": 10, "backend_timeout": 5},
    )

    @cache.cached(key="stampede:hot")
    async def expensive() -> str:
        await counter.incr(COUNTER)
        await asyncio.sleep(0.3)  # long enough for every process to pile up behind it
        return "computed"

    try:
        await backend.ping()  # connections are open before the race starts
        ready.set()
        await asyncio.to_thread(go.wait, 30)
        results = await asyncio.gather(
            *(expensive() for _ in range(CALLS_PER_PROCESS)), return_exceptions=True
        )
        return [r if not isinstance(r, BaseException) else repr(r) for r in results]
    finally:
        await cache.aclose()
        await counter.aclose()


async def test_one_upstream_call_across_processes(redis_server: RedisServer) -> None:
    admin = Redis.from_url(redis_server.url)
    await admin.delete(COUNTER, "stampede:hot")
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[object] = context.Queue()
    go = context.Event()
    readies = [context.Event() for _ in range(PROCESSES)]
    processes = [
        context.Process(target=run_process, args=(redis_server.url, ready, go, results))
        for ready in readies
    ]
    for process in processes:
        process.start()
    try:
        for ready in readies:
            assert await asyncio.to_thread(ready.wait, 60), "a process did not get ready"
        go.set()
        outcomes = [await asyncio.to_thread(results.get, True, 60) for _ in processes]
        for outcome in outcomes:
            assert isinstance(outcome, list), outcome
            assert outcome == ["computed"] * CALLS_PER_PROCESS
        assert int(await admin.get(COUNTER) or 0) == 1
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        await admin.aclose()
