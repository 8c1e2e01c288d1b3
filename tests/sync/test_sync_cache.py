"""Sync code on a cache: threads, the sync ``Cache`` surface, closing, forking, calls from
a coroutine, the breaker, tags and typed restore."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading

import hitbox
import pytest
from hitbox_memory import MemoryBackend

from tests.core._cache_fakes import DictBackend, EventRecorder, make_cache
from tests.sync._support import Runner, wait_until


@dataclasses.dataclass
class User:
    id: int
    name: str


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hitbox-cache-")]


def test_64_threads_on_a_cold_key_make_one_upstream_call() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})
    calls = 0
    lock = threading.Lock()
    release = threading.Event()

    @cache.cached(key="cold:{x}")
    def load(x: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        release.wait()
        return x + 1

    runners = [Runner(lambda: load(1)) for _ in range(64)]
    wait_until(lambda: calls == 1)
    # Everyone who is not the leader is waiting on its flight (or will hit once it lands).
    wait_until(lambda: cache.stats().locked + cache.stats().hits >= 1)
    release.set()
    assert [r.result() for r in runners] == [2] * 64
    assert calls == 1
    stats = cache.stats()
    assert stats.upstream_calls == 1
    assert stats.hits + stats.locked == 63
    cache.close()


def test_a_sync_cached_function_works_from_a_coroutine() -> None:
    cache = hitbox.Cache(
        DictBackend(), policy={"ttl": 60}
    )  # no get_sync: every call runs on the loop

    @cache.cached(key="c:{x}")
    def triple(x: int) -> int:
        return 3 * x

    async def handler() -> list[int]:
        return [triple(2), triple(2), triple(3)]

    assert asyncio.run(handler()) == [6, 6, 9]
    assert cache.stats().hits == 1
    cache.close()


def test_the_sync_surface_mirrors_the_async_one() -> None:
    with hitbox.Cache(MemoryBackend(), policy={"ttl": 60}) as cache:
        assert cache.set_sync("a", {"x": 1}, tags=["t"]) is True
        assert cache.get_sync("a") == {"x": 1}
        assert cache.get_sync("missing", "default") == "default"
        assert cache.invalidate_tags_sync("t") is True
        assert cache.get_sync("a") is None
        cache.set_sync("b", 2)
        assert cache.invalidate_sync("b") is True
        assert cache.get_sync("b") is None
        assert cache.stats().hits == 1
    assert _loop_threads() == []


def test_tags_and_invalidate_on_a_sync_function() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})
    calls = 0

    @cache.cached(key="user:{user_id}", tags=["user:{user_id}"])
    def get_user(user_id: int) -> User:
        nonlocal calls
        calls += 1
        return User(user_id, f"u{calls}")

    assert get_user(1) == User(1, "u1")
    assert get_user(1) == User(1, "u1")
    cache.invalidate_tags_sync("user:1")
    assert get_user(1) == User(1, "u2")
    assert get_user.invalidate(1) is True
    assert get_user(1) == User(1, "u3")
    assert get_user.cache_key(1) == cache._keys.make_key("user:1")
    cache.close()


def test_values_are_restored_as_the_return_annotation_in_bytes_mode() -> None:
    cache = hitbox.Cache(MemoryBackend(mode="bytes"), serializer="json", policy={"ttl": 60})

    @cache.cached(key="user:{user_id}")
    def get_user(user_id: int) -> User:
        return User(user_id, "ada")

    first, second = get_user(7), get_user(7)
    assert first == second == User(7, "ada")
    assert type(second) is User
    assert cache.stats().hits == 1
    cache.close()


def test_breaker_opens_and_callers_never_see_backend_errors() -> None:
    rec = EventRecorder()
    backend = DictBackend()
    backend.failing = True
    cache = make_cache(backend, recorder=rec, failure_threshold=3)

    @cache.cached(key="k:{x}")
    def value(x: int) -> int:
        return x

    assert [value(x) for x in range(10)] == list(range(10))
    assert cache.breaker_state != "closed"
    assert cache.stats().skipped > 0
    cache.close()


def test_close_stops_the_thread_and_later_calls_bypass_the_cache() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})
    calls = 0

    @cache.cached(key="k")
    def value() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert value() == 1
    assert len(_loop_threads()) == 1
    cache.close()
    cache.close()  # idempotent
    assert _loop_threads() == []
    assert value() == 2  # bypassed: straight to the function
    assert cache.get_sync("k", "gone") == "gone"
    assert _loop_threads() == []


async def test_aclose_stops_the_thread_sync_code_started() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})
    await asyncio.to_thread(cache.set_sync, "k", 1)
    assert len(_loop_threads()) == 1
    await cache.aclose()
    assert _loop_threads() == []


def test_upstream_exceptions_reach_the_caller_unchanged() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})

    @cache.cached
    def broken() -> int:
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        broken()
    cache.close()


def test_async_generators_are_refused() -> None:
    cache = hitbox.Cache(MemoryBackend())

    async def stream() -> object:
        yield 1

    with pytest.raises(TypeError, match="needs a function"):
        cache.cached(stream)
    cache.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_its_own_loop_thread() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})
    calls = 0

    @cache.cached(key="k:{x}")
    def value(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * 10

    assert value(1) == 10  # the parent's loop thread is running
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread does not exist here
        status = 1
        try:
            ok = value(1) == 10 and value(2) == 20 and len(_loop_threads()) == 1
            cache.close()
            status = 0 if ok and not _loop_threads() else 2
        finally:
            os.write(write, bytes([status]))
            os._exit(0)
    os.close(write)
    child_status = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert child_status == b"\x00"
    assert value(2) == 20  # the parent's cache still works
    cache.close()


def test_async_and_sync_callers_of_one_key_both_get_answers() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})
    entered, gate = threading.Event(), threading.Event()

    @cache.cached(key="mixed")
    def sync_load() -> str:
        entered.set()
        gate.wait()
        return "from sync"

    @cache.cached(key="mixed")
    async def async_load() -> str:
        return "from async"

    leader = Runner(sync_load)  # leads the key's flight on the cache's private loop
    entered.wait()

    async def main() -> str:
        # Its flight lives on another loop: this caller answers by itself, without error.
        return await async_load()

    assert asyncio.run(main()) == "from async"
    gate.set()
    assert leader.result() == "from sync"
    assert cache.stats().errors == 0
    cache.close()


def test_an_interrupted_leader_lets_its_waiters_go() -> None:
    cache = hitbox.Cache(DictBackend(), policy={"ttl": 60})
    entered, gate = threading.Event(), threading.Event()
    calls = 0

    @cache.cached(key="k")
    def value() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            gate.wait()
            raise KeyboardInterrupt
        return "second"

    leader = Runner(value)
    entered.wait()
    waiter = Runner(value)
    wait_until(lambda: cache.stats().locked == 1)
    gate.set()
    with pytest.raises(KeyboardInterrupt):
        leader.result()
    assert waiter.result() == "second"  # released, it led the next flight itself
    cache.close()


def test_a_sync_call_from_the_caches_own_loop_thread_bypasses_it() -> None:
    seen: list[int] = []

    class Listener:
        @hitbox.hookimpl
        def hitbox_cache_event(self, event: hitbox.CacheEvent) -> None:
            if event.key.endswith("outer"):  # runs on the cache's loop thread
                seen.append(inner())

    cache = make_cache(recorder=Listener())  # type: ignore[arg-type]

    @cache.cached(key="inner")
    def inner() -> int:
        return 7

    @cache.cached(key="outer")
    def outer() -> int:
        return 1

    assert outer() == 1
    assert seen == [7]  # answered directly: blocking on its own loop would deadlock
    cache.close()


def test_closing_while_threads_call_fails_open() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})
    started = threading.Barrier(17)

    @cache.cached(key="n:{n}")
    def square(n: int) -> int:
        return n * n

    def worker(offset: int) -> list[bool]:
        started.wait()
        return [square(offset * 1000 + n) == (offset * 1000 + n) ** 2 for n in range(300)]

    runners = [Runner(lambda offset=offset: worker(offset)) for offset in range(16)]
    started.wait()
    wait_until(lambda: cache.stats().upstream_calls >= 50)
    cache.close()  # runs in flight are cancelled: their callers answer from the upstream
    assert all(all(r.result()) for r in runners)
    assert _loop_threads() == []


def test_methods_are_cached_per_arguments_not_per_instance() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"ttl": 60})
    calls: list[int] = []

    class Repository:
        @cache.cached(key="repo:{item_id}")
        def find(self, item_id: int) -> int:
            calls.append(item_id)
            return item_id * 2

        @cache.cached
        def count(self, kind: str) -> int:
            calls.append(-1)
            return len(kind)

    first, second = Repository(), Repository()
    assert first.find(4) == second.find(4) == 8
    assert first.count("ab") == second.count("ab") == 2
    assert calls == [4, -1]
    assert Repository.find.cache_key(first, 4) == Repository.find.cache_key(second, 4)
    cache.close()
