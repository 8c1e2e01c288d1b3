"""Small in-test backends and helpers for the cache and state-machine tests.

``DictBackend`` is a dict with switches: it can raise, hang (until cancelled), return
garbage, or yield to the event loop inside every operation (to widen race windows).
Variants add the ``LockingBackend`` and ``BatchBackend`` capabilities. Several backends
may share one ``store`` to stand for several processes using one server.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import hitbox
from hitbox import CachedValue, ManualClock
from hitbox.keys import DefaultKeyStrategy
from hitbox.plugins import PluginManager
from hitbox.serializers import CborSerializer


class BackendDownError(Exception):
    """What a failing fake backend raises (stands for a client's connection error)."""


class DictBackend(hitbox.Backend):
    """A dict-backed backend with failure switches and an operation log."""

    label = "dict"

    def __init__(
        self,
        *,
        is_local: bool = True,
        stores_objects: bool = True,
        store: dict[str, tuple[CachedValue, float]] | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self.is_local = is_local
        self.stores_objects = stores_objects
        self.store: dict[str, tuple[CachedValue, float]] = {} if store is None else store
        self.clock = clock
        self.failing = False
        self.hanging = False
        self.fail_ops: set[str] = set()
        self.hang_ops: set[str] = set()
        self.garbage: object = None
        self.yielding = False
        self.ops: list[tuple[str, str]] = []
        self.closed = False

    async def _enter(self, op: str, key: str) -> None:
        self.ops.append((op, key))
        if self.yielding:
            await asyncio.sleep(0)
        if self.hanging or op in self.hang_ops:
            await asyncio.Event().wait()
        if self.failing or op in self.fail_ops:
            raise BackendDownError(f"{op} {key}: connection refused")

    def calls(self, op: str) -> int:
        """How many times operation ``op`` was attempted."""
        return sum(1 for name, _ in self.ops if name == op)

    async def get(self, key: str) -> CachedValue | None:
        await self._enter("get", key)
        if self.garbage is not None:
            return self.garbage  # type: ignore[return-value]
        item = self.store.get(key)
        if item is None:
            return None
        value, expires = item
        if self.clock is not None and self.clock.now() >= expires:
            del self.store[key]
            return None
        return value if self.stores_objects else value.without_value()

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        await self._enter("set", key)
        now = self.clock.now() if self.clock is not None else 0.0
        self.store[key] = (value, now + ttl)

    async def delete(self, key: str) -> None:
        await self._enter("delete", key)
        self.store.pop(key, None)

    async def aclose(self) -> None:
        self.closed = True


_tokens = itertools.count(1)


class LockingDictBackend(DictBackend):
    """Adds a lease lock per key (shared through ``locks`` between instances)."""

    def __init__(self, *, locks: dict[str, tuple[str, float]] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.locks: dict[str, tuple[str, float]] = {} if locks is None else locks
        self.lock_failing = False

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else 0.0

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        await self._enter("acquire_lock", key)
        if self.lock_failing:
            raise BackendDownError("lock service down")
        held = self.locks.get(key)
        if held is not None and held[1] > self._now():
            return None
        token = f"t{next(_tokens)}"
        self.locks[key] = (token, self._now() + ttl)
        return token

    async def release_lock(self, key: str, token: str) -> None:
        await self._enter("release_lock", key)
        held = self.locks.get(key)
        if held is not None and held[0] == token:
            del self.locks[key]


class BatchDictBackend(DictBackend):
    """Adds get_many / set_many / delete_many."""

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        await self._enter("get_many", ",".join(keys))
        saved, self.ops = self.ops, []
        try:
            return [await self.get(key) for key in keys]
        finally:
            self.ops = saved

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        await self._enter("set_many", ",".join(items))
        for key, (value, ttl) in items.items():
            self.store[key] = (value, (self.clock.now() if self.clock else 0.0) + ttl)

    async def delete_many(self, keys: Sequence[str]) -> None:
        await self._enter("delete_many", ",".join(keys))
        for key in keys:
            self.store.pop(key, None)


class EventRecorder:
    """A plugin recording every ``hitbox_cache_event``."""

    def __init__(self) -> None:
        self.events: list[hitbox.CacheEvent] = []

    @hitbox.hookimpl
    def hitbox_cache_event(self, event: hitbox.CacheEvent) -> None:
        self.events.append(event)

    def paths(self, operation: str | None = None) -> list[tuple[hitbox.State, ...]]:
        """Recorded paths, optionally only of one operation."""
        return [e.path for e in self.events if operation is None or e.operation == operation]


def plugin_manager(*plugins: object) -> PluginManager:
    """An isolated plugin manager (no entry points) holding ``plugins``."""
    manager = PluginManager(load_entry_points=False, disabled=())
    for index, plugin in enumerate(plugins):
        manager.register(plugin, f"test-plugin-{index}")
    return manager


def make_cache(
    backend: hitbox.Backend | None = None,
    *,
    clock: ManualClock | None = None,
    recorder: EventRecorder | None = None,
    **policy: Any,
) -> hitbox.Cache:
    """A cache over ``backend`` (a local DictBackend by default) with a manual clock."""
    clock = clock or ManualClock()
    backend = backend if backend is not None else DictBackend(clock=clock)
    plugins = plugin_manager(recorder) if recorder is not None else plugin_manager()
    return hitbox.Cache(
        backend,
        serializer=CborSerializer(),
        key_strategy=DefaultKeyStrategy(),
        policy=policy,
        clock=clock,
        plugins=plugins,
    )


async def settle(turns: int = 30) -> None:
    """Let every ready task run (no time passes)."""
    for _ in range(turns):
        await asyncio.sleep(0)


def leftover_tasks() -> set[asyncio.Task[Any]]:
    """Tasks still running besides the current one."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current and not task.done()}
