"""Events: listeners called directly (in pluggy's order), never breaking a call; the fast
hit path reports too; names and backend time travel with every event."""

from __future__ import annotations

from collections.abc import Generator

import hitbox
import pytest
from hitbox import ManualClock, State
from hitbox.keys import DefaultKeyStrategy
from hitbox.serializers import CborSerializer

from tests.core._cache_fakes import DictBackend, EventRecorder, plugin_manager


def _cache(*plugins: object, backend: hitbox.Backend | None = None, **kw: object) -> hitbox.Cache:
    clock = ManualClock()
    return hitbox.Cache(
        backend if backend is not None else DictBackend(clock=clock),
        serializer=CborSerializer(),
        key_strategy=DefaultKeyStrategy(),
        clock=clock,
        plugins=plugin_manager(*plugins),
        **kw,  # type: ignore[arg-type]
    )


async def test_fast_path_hit_is_reported_with_name_and_backend_time() -> None:
    rec = EventRecorder()
    cache = _cache(rec, name="users")

    @cache.cached(key="k")
    async def value() -> int:
        return 1

    assert await value() == 1
    assert await value() == 1
    miss, hit = rec.events
    assert miss.path == (State.PENDING, State.MISS, State.RESPONSE)
    assert hit.path == (State.PENDING, State.HIT, State.RESPONSE)
    assert (miss.cache, hit.cache) == ("users", "users")
    assert hit.operation == "cached"
    assert hit.key == miss.key
    assert 0 < hit.backend_duration == hit.duration
    assert 0 < miss.backend_duration <= miss.duration
    await cache.aclose()


async def test_default_cache_name() -> None:
    rec = EventRecorder()
    cache = _cache(rec, backend=DictBackend(is_local=False))
    assert await cache.get("absent") is None
    assert rec.events[0].cache == "default"
    assert rec.events[0].backend_duration > 0
    await cache.aclose()


class Broken:
    @hitbox.hookimpl
    def hitbox_cache_event(self, event: hitbox.CacheEvent) -> None:
        raise RuntimeError("listener bug")


async def test_raising_listener_breaks_nothing_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = EventRecorder()
    cache = _cache(rec, Broken())

    @cache.cached(key="k")
    async def value() -> int:
        return 1

    assert [await value() for _ in range(4)] == [1] * 4
    assert len(rec.events) == 4  # the other listener still hears every run
    assert len([r for r in caplog.records if "listener bug" in r.getMessage()]) == 1
    await cache.aclose()


async def test_listeners_run_in_pluggy_order_and_may_omit_the_argument() -> None:
    order: list[str] = []

    class First:
        @hitbox.hookimpl(tryfirst=True)
        def hitbox_cache_event(self, event: hitbox.CacheEvent) -> None:
            order.append("first")

    class NoArgument:
        @hitbox.hookimpl
        def hitbox_cache_event(self) -> None:
            order.append("no-argument")

    cache = _cache(NoArgument(), First())
    await cache.get("k")
    assert order == ["first", "no-argument"]
    await cache.aclose()


async def test_hook_wrappers_still_run_through_pluggy() -> None:
    seen: list[str] = []

    class Wrapper:
        @hitbox.hookimpl(wrapper=True)
        def hitbox_cache_event(self, event: hitbox.CacheEvent) -> Generator[None, None, None]:
            seen.append("before")
            yield
            seen.append("after")

    rec = EventRecorder()
    cache = _cache(rec, Wrapper())
    await cache.get("k")
    assert seen == ["before", "after"]
    assert len(rec.events) == 1
    await cache.aclose()
