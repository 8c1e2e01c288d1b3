"""Sync functions over real Redis: hits on the sync client, single flight across 4
processes x 16 threads with ``lock="distributed"``, and fail-open under 32 threads with
the server killed."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import hitbox
import pytest
from hitbox_redis import RedisBackend

from tests.redis_servers import RedisServer
from tests.sync._support import Runner

pytestmark = pytest.mark.services

RELAXED = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
"""Timeouts for functional tests on a shared machine (fault tests use the defaults)."""


def _cache(url: str, **policy: Any) -> hitbox.Cache:
    backend = RedisBackend.from_url(url, **RELAXED)
    return hitbox.Cache(backend, serializer="json", policy={"ttl": 60, **policy})


def test_hits_are_read_on_the_sync_client(redis_server: RedisServer) -> None:
    cache = _cache(redis_server.url)
    calls = 0

    @cache.cached(key="user:{user_id}")
    def user(user_id: int) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"id": user_id}

    assert user(1) == user(1) == {"id": 1}
    assert calls == 1
    assert cache.stats().hits == 1
    backend = cache.backend
    assert isinstance(backend, RedisBackend)
    assert backend.sync_reads
    assert backend.get_sync(user.cache_key(1)) is not None
    cache.close()


def _process(url: str, start: Any, upstream_calls: Synchronized[int], errors: Any) -> None:
    cache = _cache(url, lock="distributed", lock_timeout=20)

    @cache.cached(key="shared-cold-key")
    def compute() -> int:
        with upstream_calls.get_lock():
            upstream_calls.value += 1
        time.sleep(0.3)  # long enough for every other caller to arrive while it runs
        return 42

    start.wait()
    runners = [Runner(compute) for _ in range(16)]
    for runner in runners:
        try:
            if runner.result() != 42:
                errors.put("wrong value")
        except Exception as exc:
            errors.put(repr(exc))
    cache.close()


@pytest.mark.slow
def test_4_processes_x_16_threads_make_one_upstream_call(redis_server: RedisServer) -> None:
    # fork: the children build their caches after forking (spawn costs seconds per process)
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    start = context.Event()
    upstream_calls = context.Value("i", 0)
    errors = context.Queue()
    processes = [
        context.Process(target=_process, args=(redis_server.url, start, upstream_calls, errors))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join()
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert errors.empty()
    assert upstream_calls.value == 1


def test_fail_open_with_redis_killed_under_32_threads(redis_server: RedisServer) -> None:
    cache = hitbox.Cache(RedisBackend.from_url(redis_server.url), policy={"ttl": 60})

    @cache.cached(key="item:{x}")
    def item(x: int) -> int:
        return x * 2

    assert [item(x) for x in range(8)] == [x * 2 for x in range(8)]  # warm
    redis_server.kill()
    failures: list[BaseException] = []
    wrong: list[int] = []
    go = threading.Barrier(32)

    def worker(n: int) -> None:
        go.wait()
        for x in range(50):
            try:
                value = item((x + n) % 16)
            except BaseException as exc:
                failures.append(exc)
                continue
            if value != ((x + n) % 16) * 2:
                wrong.append(value)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert wrong == []
    assert cache.stats().errors > 0  # the backend failures were seen, counted, not raised
    cache.close()


def test_the_sync_read_reconnects_after_a_server_restart(redis_server: RedisServer) -> None:
    backend = RedisBackend.from_url(redis_server.url, **RELAXED)
    cache = hitbox.Cache(backend, serializer="json", policy={"ttl": 60})
    cache.set_sync("k", 1)
    assert backend.get_sync(cache.cached(key="k")(lambda: 0).cache_key()) is not None
    redis_server.restart()  # the pooled connection's socket is now closed
    assert backend.get_sync("absent") is None  # retried on a new connection, no error
    assert cache.stats().errors == 0
    cache.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_worker_opens_its_own_connections(redis_server: RedisServer) -> None:
    cache = _cache(redis_server.url)
    calls = 0

    @cache.cached(key="item:{x}")
    def item(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * 3

    assert item(1) == item(1) == 3  # the parent holds sync and async connections now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a pre-forked worker: its parent's sockets must not be shared
        status = 1
        try:
            before = calls
            ok = item(1) == 3 and calls == before  # a hit, on a fresh sync connection
            ok = ok and item(2) == 6 and item(2) == 6  # a miss and a store, on the loop
            ok = ok and cache.stats().errors == 0
            cache.close()
            status = 0 if ok else 2
        finally:
            os.write(write, bytes([status]))
            os._exit(0)
    os.close(write)
    child_status = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert child_status == b"\x00"
    assert item(2) == 6  # stored by the child, read by the parent on its own connections
    assert item(1) == 3
    assert cache.stats().errors == 0
    cache.close()
