"""Backend-agnostic tag invalidation: markers under reserved keys, checked on read."""

from __future__ import annotations

import asyncio

from hitbox import CachedValue, ManualClock
from hitbox.engine._tags import TAG_KEY_PREFIX, TagMarkers

from tests.core._cache_fakes import BatchDictBackend, DictBackend, make_cache, settle


async def test_invalidate_tags_drops_every_entry_carrying_the_tag() -> None:
    clock = ManualClock()
    cache = make_cache(clock=clock)
    calls: list[int] = []

    @cache.cached(key="user:{user_id}", tags=["user:{user_id}", "users"])
    async def user(user_id: int) -> dict[str, int]:
        calls.append(user_id)
        return {"id": user_id, "version": len(calls)}

    @cache.cached(key="other")
    async def other() -> str:
        calls.append(-1)
        return "untagged"

    await user(1)
    await user(2)
    await other()
    await clock.advance(1)
    assert await cache.invalidate_tags("user:1")
    await clock.advance(1)
    await user(1)  # recomputed
    await user(2)  # still cached
    await other()
    assert calls == [1, 2, -1, 1]
    assert await cache.invalidate_tags("users")
    await clock.advance(1)
    await user(1)
    await user(2)
    assert calls == [1, 2, -1, 1, 1, 2]
    assert await cache.invalidate_tags()  # nothing to do
    await cache.aclose()


async def test_tags_work_across_processes_sharing_a_store() -> None:
    clock = ManualClock()
    store: dict[str, tuple[CachedValue, float]] = {}
    caches = [
        make_cache(DictBackend(is_local=False, store=store, clock=clock), clock=clock)
        for _ in range(2)
    ]
    calls = 0

    async def stock(sku: str) -> int:
        nonlocal calls
        calls += 1
        return calls

    fns = [c.cached(key="stock:{sku}", tags=["inventory:{sku}"])(stock) for c in caches]
    assert await fns[0]("x") == 1
    assert await fns[1]("x") == 1  # the second process reads the first one's entry
    await clock.advance(1)
    await caches[1].invalidate_tags("inventory:x")
    await clock.advance(1)
    assert await fns[0]("x") == 2  # the first process sees the other's invalidation
    for cache in caches:
        await cache.aclose()


async def test_one_batched_read_of_markers_with_batch_backend() -> None:
    clock = ManualClock()
    backend = BatchDictBackend(is_local=False, clock=clock)
    cache = make_cache(backend, clock=clock)

    @cache.cached(tags=["a", "b", "c"])
    async def value() -> int:
        return 1

    await value()
    backend.ops.clear()
    await value()
    assert [op for op, _ in backend.ops] == ["get", "get_many"]
    assert cache.stats().hits == 1
    await cache.invalidate_tags("a", "b")
    assert backend.calls("set_many") == 1
    await cache.aclose()


async def test_entry_stored_by_a_call_that_started_before_the_invalidation_is_invalid() -> None:
    clock = ManualClock()
    cache = make_cache(clock=clock)
    gate = asyncio.Event()
    versions = iter([1, 2])

    @cache.cached(tags=["t"])
    async def value() -> int:
        version = next(versions)
        await gate.wait()
        return version

    slow = asyncio.create_task(value())
    await settle()
    await clock.advance(1)
    await cache.invalidate_tags("t")  # while the upstream still computes version 1
    await clock.advance(1)
    gate.set()
    assert await slow == 1  # its own caller gets it...
    assert await value() == 2  # ...but what it stored does not survive the invalidation
    await cache.aclose()


async def test_an_unreadable_marker_counts_as_an_invalidation() -> None:
    clock = ManualClock()
    backend = DictBackend(clock=clock)
    cache = make_cache(backend, clock=clock)
    calls = 0

    @cache.cached(tags=["t"])
    async def value() -> int:
        nonlocal calls
        calls += 1
        return calls

    await value()
    marker_key = TagMarkers(lambda raw: raw).key("t")
    assert marker_key == TAG_KEY_PREFIX + "t"
    backend.store[marker_key] = ("garbage", 1e12)  # type: ignore[assignment]
    assert await value() == 2
    await cache.aclose()


async def test_marker_read_failure_fails_open() -> None:
    clock = ManualClock()
    backend = BatchDictBackend(is_local=False, clock=clock)
    cache = make_cache(backend, clock=clock, failure_threshold=100)
    calls = 0

    @cache.cached(tags=["t"])
    async def value() -> int:
        nonlocal calls
        calls += 1
        return calls

    await value()
    backend.fail_ops = {"get_many"}
    assert await value() == 2  # cannot verify the tags: the upstream answers
    backend.fail_ops = set()
    assert await value() == 1  # the entry itself was never overwritten (write skipped)
    await cache.aclose()


async def test_fetch_uses_request_tags() -> None:
    clock = ManualClock()
    cache = make_cache(clock=clock)

    class Request:
        def cache_key(self) -> str:
            return "page:/home"

        def cache_ttl(self) -> float:
            return 30

        def cache_tags(self) -> list[str]:
            return ["pages"]

    calls = 0

    async def render(request: Request) -> str:
        nonlocal calls
        calls += 1
        return f"<html>{calls}</html>"

    assert await cache.fetch(Request(), render) == "<html>1</html>"
    assert await cache.fetch(Request(), render) == "<html>1</html>"
    await clock.advance(1)
    await cache.invalidate_tags("pages")
    await clock.advance(1)
    assert await cache.fetch(Request(), render) == "<html>2</html>"
    await cache.aclose()


def test_marker_keys_are_namespaced_by_the_key_strategy() -> None:
    from hitbox.keys import DefaultKeyStrategy

    markers = TagMarkers(DefaultKeyStrategy(namespace="shop").make_key)
    assert markers.key("inventory:1") == f"shop:{TAG_KEY_PREFIX}inventory:1"
    marker = markers.marker(100.0)
    assert marker.created_at == 100.0
    assert TagMarkers.invalidated(CachedValue(b"", 99.0, 1e9, 1e9, ("t",)), [marker])
    assert not TagMarkers.invalidated(CachedValue(b"", 101.0, 1e9, 1e9, ("t",)), [marker])
    assert not TagMarkers.invalidated(CachedValue(b"", 1.0, 1e9, 1e9, ("t",)), [None])
