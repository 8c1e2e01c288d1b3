"""A sync cached function takes the same state paths and counts the same as an async one,
whether its fresh hits are served inline (a backend with ``get_sync``, no listener), inline
and reported (a listener), or by the machine on the cache's loop (no ``get_sync``)."""

from __future__ import annotations

import threading
from typing import Any

import hitbox
import pytest
from hitbox import CachedValue, ManualClock, State
from hitbox_memory import MemoryBackend

from tests.core._cache_fakes import DictBackend, EventRecorder, make_cache, settle
from tests.sync._support import Runner, advance, drain, wait_until

P, H, S, M, L, E, R = (
    State.PENDING,
    State.HIT,
    State.STALE,
    State.MISS,
    State.LOCKED,
    State.ERROR,
    State.RESPONSE,
)

EXPECTED = {
    "hit": [(P, M, R), (P, H, R)],
    "miss": [(P, M, R)],
    "stale": [(P, M, R), (P, S, R), (M, R)],
    "error": [(P, E, R)],
    "locked": [(P, M, R), (P, M, L, R)],
}


class SyncDictBackend(DictBackend):
    """The fake backend with a thread-safe ``get_sync`` (the inline sync hit path)."""

    def get_sync(self, key: str) -> CachedValue | None:
        self.ops.append(("get_sync", key))
        if self.failing or "get" in self.fail_ops:
            raise ConnectionError("connection refused")
        item = self.store.get(key)
        if item is None:
            return None
        value, expires = item
        if self.clock is not None and self.clock.now() >= expires:
            return None
        return value


def _run_sync(name: str, backend: DictBackend, *, listening: bool) -> tuple[list[Any], Any]:
    clock = backend.clock
    assert clock is not None
    recorder = EventRecorder()
    cache = make_cache(
        backend, clock=clock, recorder=recorder if listening else None, ttl=10, max_stale=5
    )
    gate, entered = threading.Event(), threading.Event()
    gate.set()

    @cache.cached(key="{name}")
    def decorated(name: str) -> str:
        entered.set()
        gate.wait()
        return "value"

    if name == "hit":
        decorated("k")
        decorated("k")
    elif name == "miss":
        decorated("k")
    elif name == "stale":
        decorated("k")
        advance(cache, clock, 12)
        decorated("k")
        drain(cache)
    elif name == "error":
        backend.fail_ops = {"get"}
        decorated("k")
    else:
        gate.clear()
        first = Runner(lambda: decorated("k"))
        entered.wait()
        second = Runner(lambda: decorated("k"))
        wait_until(lambda: cache.stats().locked == 1)
        gate.set()
        first.result()
        second.result()
    stats = cache.stats()
    cache.close()
    return _sorted(e.path for e in recorder.events), stats


async def _run_async(name: str) -> tuple[list[Any], Any]:
    clock = ManualClock()
    recorder = EventRecorder()
    backend = DictBackend(clock=clock)
    cache = make_cache(backend, clock=clock, recorder=recorder, ttl=10, max_stale=5)

    @cache.cached(key="{name}")
    async def decorated(name: str) -> str:
        return "value"

    await decorated("k")
    if name == "hit":
        await decorated("k")
    elif name == "stale":
        await clock.advance(12)
        await decorated("k")
        await settle()
    stats = cache.stats()
    await cache.aclose()
    return _sorted(e.path for e in recorder.events), stats


def _sorted(paths: Any) -> list[tuple[str, ...]]:
    return sorted(tuple(state.name for state in path) for path in paths)


def _counters(stats: hitbox.Stats) -> tuple[int, ...]:
    return (stats.hits, stats.misses, stats.stale, stats.locked, stats.errors, stats.upstream_calls)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("inline", [True, False])
def test_sync_paths_match(name: str, inline: bool) -> None:
    clock = ManualClock()
    backend = (SyncDictBackend if inline else DictBackend)(clock=clock)
    paths, _ = _run_sync(name, backend, listening=True)
    assert paths == _sorted(EXPECTED[name])
    if inline and name == "hit":  # both calls read inline; the miss's run reads again
        assert backend.calls("get_sync") == 2
        assert backend.calls("get") == 1


@pytest.mark.parametrize("name", ["hit", "miss", "stale"])
async def test_sync_counts_as_async(name: str) -> None:
    _, async_stats = await _run_async(name)
    for backend in (SyncDictBackend(clock=ManualClock()), DictBackend(clock=ManualClock())):
        for listening in (True, False):
            _, stats = _run_sync(name, backend, listening=listening)
            assert _counters(stats) == _counters(async_stats)
            backend.store.clear()
            backend.ops.clear()


def test_memory_backend_hits_inline_with_the_same_paths() -> None:
    clock = ManualClock()
    recorder = EventRecorder()
    cache = make_cache(MemoryBackend(clock=clock.now), clock=clock, recorder=recorder, ttl=10)

    @cache.cached(key="sq:{x}")
    def square(x: int) -> int:
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert recorder.paths() == [(P, M, R), (P, H, R), (P, M, R)]
    assert cache.stats().hits == 1
    assert cache.get_sync("sq:3") == 9
    cache.close()
