"""The public caching API: the decorator, fetch, get/set/invalidate, stats, lifecycle."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hitbox
import pytest
from hitbox import ManualClock, State
from pydantic import BaseModel

from tests.core._cache_fakes import DictBackend, EventRecorder, make_cache, plugin_manager


class User(BaseModel):
    id: int
    name: str
    joined: datetime


async def test_decorator_keeps_the_signature_and_adds_key_helpers() -> None:
    cache = make_cache()

    @cache.cached(key="user:{user_id}")
    async def get_user(user_id: int, *, verbose: bool = False) -> str:
        """Fetch a user."""
        return f"user {user_id}"

    assert get_user.__name__ == "get_user"
    assert get_user.__doc__ == "Fetch a user."
    assert inspect.signature(get_user) == inspect.signature(get_user.__wrapped__)
    assert inspect.iscoroutinefunction(get_user)
    assert get_user.cache_key(42) == "user:42"
    assert await get_user(42) == "user 42"
    assert await get_user.invalidate(42)
    await cache.aclose()


async def test_typed_restore_through_bytes() -> None:
    # A bytes-storing backend: values go through the serializer and come back typed.
    backend = DictBackend(stores_objects=False)
    cache = make_cache(backend)
    joined = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    calls = 0

    @cache.cached
    async def get_user(user_id: int) -> User:
        nonlocal calls
        calls += 1
        return User(id=user_id, name="Ada", joined=joined)

    @cache.cached
    async def get_users() -> list[User]:
        return [User(id=1, name="Ada", joined=joined)]

    first = await get_user(1)
    second = await get_user(1)
    assert calls == 1
    assert isinstance(second, User)
    assert second == first
    assert second is not first  # decoded from bytes, not shared
    users = await get_users()
    users = await get_users()
    assert isinstance(users[0], User)
    await cache.aclose()


async def test_object_mode_returns_the_stored_object_without_decoding() -> None:
    cache = make_cache(DictBackend(stores_objects=True))

    @cache.cached
    async def config() -> dict[str, int]:
        return {"a": 1}

    assert await config() is await config()
    await cache.aclose()


async def test_forward_reference_is_resolved_when_first_needed() -> None:
    cache = make_cache(DictBackend(stores_objects=False))

    @cache.cached
    async def later() -> Later:
        return Later(x=1)

    assert await later() == Later(x=1)
    assert isinstance(await later(), Later)
    await cache.aclose()


class Later(BaseModel):
    x: int


def test_things_that_are_not_functions_are_refused() -> None:
    cache = make_cache()

    async def stream() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match="needs a function"):
        cache.cached(stream)
    with pytest.raises(TypeError, match="needs a function"):
        cache.cached(42)  # type: ignore[call-overload]


async def test_argument_without_a_key_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    cache = make_cache()
    calls = 0

    @cache.cached
    async def takes(thing: object) -> int:
        nonlocal calls
        calls += 1
        return 7

    with caplog.at_level(logging.WARNING, logger="hitbox"):
        assert await takes(object()) == 7
        assert await takes(object()) == 7
    assert calls == 2
    assert "no cache key" in caplog.text
    await cache.aclose()


async def test_get_set_invalidate() -> None:
    clock = ManualClock()
    cache = make_cache(clock=clock, ttl=10)
    assert await cache.get("missing") is None
    assert await cache.get("missing", "default") == "default"
    assert await cache.set("greeting", {"text": "hi"}, ttl=5)
    assert await cache.get("greeting") == {"text": "hi"}
    await clock.advance(6)
    assert await cache.get("greeting") is None  # expired for get()
    assert await cache.set("greeting", "again")
    assert await cache.invalidate("greeting")
    assert await cache.get("greeting") is None
    await cache.aclose()


async def test_get_restores_a_type_and_fails_open() -> None:
    backend = DictBackend(stores_objects=False)
    cache = make_cache(backend)
    joined = datetime(2024, 1, 1, tzinfo=UTC)
    await cache.set("u", User(id=1, name="Ada", joined=joined))
    assert await cache.get("u", type_hint=User) == User(id=1, name="Ada", joined=joined)
    backend.failing = True
    assert await cache.get("u", "fallback") == "fallback"
    assert not await cache.set("u", 1)
    assert not await cache.invalidate("u")
    await cache.aclose()


async def test_decorated_function_invalidation() -> None:
    cache = make_cache()
    calls = 0

    @cache.cached(key="item:{item_id}")
    async def item(item_id: int) -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await item(1) == 1
    assert await item(1) == 1
    assert await cache.invalidate("item:1")
    assert await item(1) == 2
    assert await item.invalidate(1)
    assert await item(1) == 3
    await cache.aclose()


class Page:
    def __init__(self, path: str, ttl: float | timedelta) -> None:
        self.path = path
        self.ttl = ttl

    response_type = User

    def cache_key(self) -> str:
        return f"page:{self.path}"

    def cache_ttl(self) -> float | timedelta:
        return self.ttl


async def test_fetch_with_a_cacheable_request() -> None:
    clock = ManualClock()
    cache = make_cache(DictBackend(stores_objects=False, clock=clock), clock=clock)
    assert isinstance(Page("/", 1), hitbox.CacheableRequest)
    calls = 0

    async def upstream(request: Page) -> User:
        nonlocal calls
        calls += 1
        return User(id=calls, name=request.path, joined=datetime(2024, 1, 1, tzinfo=UTC))

    first = await cache.fetch(Page("/a", timedelta(seconds=30)), upstream)
    again = await cache.fetch(Page("/a", timedelta(seconds=30)), upstream)
    assert isinstance(again, User)  # restored as the request's response_type
    assert again == first
    assert calls == 1
    await clock.advance(31)
    assert (await cache.fetch(Page("/a", 30), upstream)).id == 2
    # A lifetime of zero bypasses the cache entirely.
    assert (await cache.fetch(Page("/a", 0), upstream)).id == 3
    assert (await cache.fetch(Page("/a", 0), upstream)).id == 4
    await cache.aclose()


async def test_stats() -> None:
    cache = make_cache()

    @cache.cached
    async def value(x: int) -> int:
        return x

    for x in (1, 1, 1, 2):
        await value(x)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.upstream_calls) == (2, 2, 2)
    assert stats.requests == 4
    assert stats.hit_ratio == 0.5
    assert hitbox.Stats().hit_ratio == 0.0
    await cache.aclose()


async def test_events_carry_key_path_backend_and_durations() -> None:
    rec = EventRecorder()
    cache = make_cache(recorder=rec)

    @cache.cached(key="k")
    async def value() -> int:
        return 1

    await value()
    await value()
    await cache.get("k")
    miss, hit, get = rec.events
    assert (miss.key, miss.backend, miss.operation) == ("k", "dict", "cached")
    assert miss.describe() == "PENDING → MISS → RESPONSE"
    assert miss.outcome is State.MISS
    assert miss.upstream_duration is not None
    assert miss.duration >= miss.upstream_duration
    assert hit.outcome is State.HIT
    assert hit.upstream_duration is None
    assert (get.operation, get.path) == ("get", (State.PENDING, State.HIT, State.RESPONSE))
    await cache.aclose()


async def test_no_events_without_listeners() -> None:
    cache = make_cache()
    assert cache._machine.observer is None  # decided once, at construction


async def test_async_context_manager() -> None:
    backend = DictBackend()
    async with make_cache(backend) as cache:
        assert isinstance(cache, hitbox.Cache)
    assert backend.closed


def _plugins() -> hitbox.plugins.PluginManager:
    import hitbox_memory.plugin
    from hitbox import _builtin_plugin

    return plugin_manager(_builtin_plugin, hitbox_memory.plugin)


async def test_from_config_url_and_file(tmp_path: Path) -> None:
    plugins = _plugins()
    cache = hitbox.Cache.from_config(
        {"backend": "memory", "serializer": "json", "policy": {"ttl": 5}}, plugins=plugins
    )
    assert cache.policy.ttl == 5
    assert cache.backend.label == "memory"

    @cache.cached
    async def value() -> int:
        return 3

    assert await value() == 3
    assert await value() == 3
    assert cache.stats().hits == 1
    await cache.aclose()

    from_url = hitbox.Cache.from_url("memory://?max_entries=10", plugins=plugins, policy={"ttl": 7})
    assert from_url.policy.ttl == 7
    await from_url.aclose()

    path = tmp_path / "hitbox.toml"
    path.write_text('backend = "memory"\nnamespace = "shop"\n[policy]\nttl = 9\n')
    from_file = hitbox.Cache.from_file(path, plugins=plugins)
    assert from_file.policy.ttl == 9
    assert await from_file.set("k", 1)
    await from_file.aclose()


def test_bad_policy_is_a_config_error() -> None:
    with pytest.raises(hitbox.ConfigError, match=r"policy\.ttl"):
        make_cache(ttl=-1)
    with pytest.raises(hitbox.ConfigError, match=r"policy\.max_stale"):
        hitbox.Cache(DictBackend(), policy={"max_stale": -1}, plugins=_plugins())
