"""A corrupt entry is a miss, counted and reported, never a backend outage."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import hitbox
from hitbox import CachedValue

from tests.core._cache_fakes import BatchDictBackend, DictBackend, EventRecorder, make_cache


async def test_corrupt_entry_is_counted_as_corrupt_miss_and_error() -> None:
    class Corrupting(DictBackend):
        async def get(self, key: str) -> CachedValue | None:
            raise hitbox.CorruptEntry("bad signature")

    cache = make_cache(Corrupting(), failure_threshold=1)

    @cache.cached
    async def value() -> int:
        return 5

    for _ in range(3):
        assert await value() == 5
    stats = cache.stats()
    assert (stats.corrupt, stats.misses, stats.errors, stats.skipped) == (3, 3, 3, 0)
    assert cache.breaker_state == "closed"
    await cache.aclose()


async def test_corrupt_tag_marker_from_get_many_is_a_miss_not_an_outage() -> None:
    class CorruptMarkers(BatchDictBackend):
        async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
            raise hitbox.CorruptEntry("marker fails its signature")

    rec = EventRecorder()
    backend = CorruptMarkers(is_local=False)
    cache = make_cache(backend, recorder=rec, failure_threshold=1)
    calls: list[int] = []

    @cache.cached(key="k", tags=["t"])
    async def value() -> int:
        calls.append(1)
        return len(calls)

    assert [await value() for _ in range(3)] == [1, 2, 3]  # entries cannot be verified
    assert cache.breaker_state == "closed"
    assert cache.stats().corrupt == 2  # the first call found nothing to verify
    assert [e.describe() for e in rec.events][1:] == ["PENDING → MISS → RESPONSE"] * 2
    assert rec.events[1].error == "CorruptEntry: marker fails its signature"
    await cache.aclose()


async def test_undecodable_entry_counts_as_corrupt() -> None:
    backend = DictBackend(stores_objects=False)
    cache = make_cache(backend)
    await cache.set("k", 1)
    [(key, (entry, expires))] = backend.store.items()
    backend.store[key] = (dataclasses.replace(entry, data=b"\xff\xff"), expires)
    assert await cache.get("k") is None
    assert cache.stats().corrupt == 1
    await cache.aclose()
