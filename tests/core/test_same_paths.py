"""One hit path: the decorator (its inline fresh-hit path included), ``Cache.fetch`` and
``Cache.get`` share one definition with the machine, so the same situation gives the same
state path and the same counters whichever entry point meets it.

``Cache.get`` never calls an upstream: a stale entry is absent for it (a miss, no
refresh) and it never waits for a flight; hits, misses and backend errors match.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import hitbox
import pytest
from hitbox import ManualClock, State
from hitbox.backend import SyncReads
from hitbox_memory import MemoryBackend

from tests.core._cache_fakes import DictBackend, EventRecorder, make_cache, settle

P, H, S, M, L, E, R = (
    State.PENDING,
    State.HIT,
    State.STALE,
    State.MISS,
    State.LOCKED,
    State.ERROR,
    State.RESPONSE,
)


@dataclass
class Lookup:
    """A request for :meth:`hitbox.Cache.fetch` under the decorator's key."""

    name: str

    def cache_key(self) -> str:
        return self.name

    def cache_ttl(self) -> float:
        return 10.0


Scenario = Callable[[hitbox.Cache, Callable[[], Awaitable[Any]], DictBackend, ManualClock], Any]


async def _hit(cache: hitbox.Cache, call: Any, backend: DictBackend, clock: ManualClock) -> None:
    await call()
    await call()


async def _miss(cache: hitbox.Cache, call: Any, backend: DictBackend, clock: ManualClock) -> None:
    await call()


async def _stale(cache: hitbox.Cache, call: Any, backend: DictBackend, clock: ManualClock) -> None:
    await call()
    await clock.advance(12)  # past ttl 10, within max_stale 5
    await call()
    await settle()


async def _error(cache: hitbox.Cache, call: Any, backend: DictBackend, clock: ManualClock) -> None:
    backend.fail_ops = {"get"}
    await call()


async def _locked(cache: hitbox.Cache, call: Any, backend: DictBackend, clock: ManualClock) -> None:
    gate.clear()
    first = asyncio.create_task(call())
    await settle()
    second = asyncio.create_task(call())
    await settle()
    gate.set()
    await asyncio.gather(first, second)


gate = asyncio.Event()


def _entry_points(cache: hitbox.Cache, key: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def upstream_value() -> str:
        await gate.wait()
        return "value"

    @cache.cached(key="{name}", ttl=10, max_stale=5)
    async def decorated(name: str) -> str:
        return await upstream_value()

    async def fetch_upstream(request: Lookup) -> str:
        return await upstream_value()

    async def via_decorator() -> Any:
        return await decorated(key)

    async def via_fetch() -> Any:
        return await cache.fetch(Lookup(key), fetch_upstream)

    async def via_get() -> Any:
        value = await cache.get(key)
        if value is None:  # what get() users do on a miss: compute and set
            await cache.set(key, await upstream_value(), ttl=10, max_stale=5)
        return value

    return {"decorator": via_decorator, "fetch": via_fetch, "get": via_get}


async def _observe(
    entry_point: str, scenario: Scenario, *, listening: bool, memory: bool = False
) -> tuple[list[tuple[State, ...]], hitbox.Stats]:
    global gate  # an Event belongs to the loop it is first used in: one per test
    gate = asyncio.Event()
    gate.set()
    clock = ManualClock()
    backend: Any = MemoryBackend(clock=clock) if memory else DictBackend(clock=clock)
    recorder = EventRecorder()
    cache = make_cache(
        backend, clock=clock, recorder=recorder if listening else None, ttl=10, max_stale=5
    )
    calls = _entry_points(cache, "k")
    await scenario(cache, calls[entry_point], backend, clock)
    stats = cache.stats()
    await cache.aclose()
    return [event.path for event in recorder.events], stats


SCENARIOS: dict[str, tuple[Scenario, list[tuple[State, ...]]]] = {
    "hit": (_hit, [(P, M, R), (P, H, R)]),
    "miss": (_miss, [(P, M, R)]),
    "stale": (_stale, [(P, M, R), (P, S, R), (M, R)]),
    "error": (_error, [(P, E, R)]),
    "locked": (_locked, [(P, M, R), (P, M, L, R)]),
}


def _sorted(paths: list[tuple[State, ...]]) -> list[tuple[str, ...]]:
    return sorted(tuple(state.name for state in path) for path in paths)


def _counters(stats: hitbox.Stats) -> tuple[int, ...]:
    return (stats.hits, stats.misses, stats.stale, stats.locked, stats.errors)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_decorator_and_fetch_take_the_same_paths(name: str) -> None:
    scenario, expected = SCENARIOS[name]
    decorator_paths, decorator_stats = await _observe("decorator", scenario, listening=True)
    fetch_paths, fetch_stats = await _observe("fetch", scenario, listening=True)
    assert _sorted(decorator_paths) == _sorted(fetch_paths) == _sorted(expected)
    assert _counters(decorator_stats) == _counters(fetch_stats)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_the_inline_hit_path_counts_as_the_machine_does(name: str) -> None:
    scenario, _ = SCENARIOS[name]
    _, inline = await _observe("decorator", scenario, listening=False)  # the inline hit path
    _, machine = await _observe("decorator", scenario, listening=True)  # through the machine
    assert _counters(inline) == _counters(machine)
    assert inline.upstream_calls == machine.upstream_calls


@pytest.mark.parametrize("name", ["hit", "miss", "stale", "locked"])
async def test_the_memory_backends_sync_reads_count_as_the_machine_does(name: str) -> None:
    scenario, expected = SCENARIOS[name]
    assert isinstance(MemoryBackend(), SyncReads)  # the inline path reads without awaiting
    _, inline = await _observe("decorator", scenario, listening=False, memory=True)
    paths, machine = await _observe("decorator", scenario, listening=True, memory=True)
    assert _sorted(paths) == _sorted(expected)
    assert _counters(inline) == _counters(machine)


@pytest.mark.parametrize("name", ["hit", "miss", "error"])
async def test_get_takes_the_same_paths_where_it_can(name: str) -> None:
    scenario, expected = SCENARIOS[name]
    get_paths, get_stats = await _observe("get", scenario, listening=True)
    decorator_paths, decorator_stats = await _observe("decorator", scenario, listening=True)
    assert get_paths == decorator_paths == expected
    assert _counters(get_stats) == _counters(decorator_stats)


async def test_get_treats_a_stale_entry_as_absent() -> None:
    get_paths, get_stats = await _observe("get", _stale, listening=True)
    assert get_paths == [(P, M, R), (P, M, R)]  # no STALE, no background refresh
    assert (get_stats.stale, get_stats.refreshes) == (0, 0)
