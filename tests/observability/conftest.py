"""Fixtures for the observability tests: isolated plugin managers, caches, fake backends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import hitbox
import pytest
from hitbox.plugins import PluginManager
from hitbox_memory import MemoryBackend

# The entry points of hitbox-observability are inert unless switched on by environment;
# tests install their own exporters explicitly instead.
OWN_ENTRY_POINTS = frozenset({"prometheus", "opentelemetry"})


@pytest.fixture
def manager() -> PluginManager:
    """A plugin manager with every installed plugin except our own entry points."""
    return PluginManager(disabled=OWN_ENTRY_POINTS)


@pytest.fixture
def clock() -> hitbox.ManualClock:
    return hitbox.ManualClock()


class FailingBackend(hitbox.Backend):
    """A backend whose every operation raises, like a server that went away."""

    is_local = True  # no timeout wrapper: the failure is immediate

    def __init__(self) -> None:
        self.calls = 0

    async def get(self, key: str) -> hitbox.CachedValue | None:
        self.calls += 1
        raise ConnectionError("connection refused")

    async def set(self, key: str, value: hitbox.CachedValue, ttl: float) -> None:
        self.calls += 1
        raise ConnectionError("connection refused")

    async def delete(self, key: str) -> None:
        self.calls += 1
        raise ConnectionError("connection refused")


class Request:
    """A minimal :class:`hitbox.CacheableRequest`."""

    def __init__(self, key: str, ttl: float = 60.0) -> None:
        self.key = key
        self.ttl = ttl

    def cache_key(self) -> str:
        return self.key

    def cache_ttl(self) -> float:
        return self.ttl


async def answer(request: Request) -> str:
    """An upstream answering with the request's key."""
    return f"value of {request.key}"


async def fail(request: Request) -> str:
    """An upstream that is down."""
    raise RuntimeError("upstream down")


@pytest.fixture
def make_cache(manager: PluginManager, clock: hitbox.ManualClock) -> Callable[..., hitbox.Cache]:
    """Build a cache on ``manager`` and the manual clock (memory backend by default)."""

    def build(backend: hitbox.Backend | None = None, **policy: object) -> hitbox.Cache:
        return hitbox.Cache(
            backend if backend is not None else MemoryBackend(max_entries=100, clock=clock),
            plugins=manager,
            clock=clock,
            policy={"ttl": 60, **policy},
        )

    return build


class Gate:
    """An upstream that blocks until opened, to make callers pile up on one key."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.calls = 0

    async def __call__(self, request: Request) -> str:
        self.calls += 1
        await self.opened.wait()
        return f"value of {request.key}"
