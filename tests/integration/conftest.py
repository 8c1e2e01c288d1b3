"""Fixtures for the tiered-backend tests: an in-process bus, a shared tier, real Redis.

The in-process pieces let the unit tests run two "instances" in one event loop with a
hand-moved clock: :class:`BusHub` is a pub/sub channel that can go down, and
:class:`SharedTier` is the store every instance shares (a memory backend standing in
for Redis), with the bus as its capability, like :class:`hitbox_redis.RedisBackend`.

The Redis fixtures are the Redis tests' own (``tests/redis/conftest.py``), re-used here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import pytest
from hitbox import Backend, CachedValue, CorruptEntry, Invalidation
from hitbox.tiered import TieredBackend
from hitbox_memory import MemoryBackend

from tests.redis.conftest import (  # noqa: F401 - fixtures re-used by the Redis tests here
    make_backend,
    redis_server,
    redis_server_factory,
)

START = 1_700_000_000.0


class Ticker:
    """A clock the tests move by hand; used both as unix time and as monotonic time."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += seconds


def entry(
    data: bytes = b"v", *, now: float = START, ttl: float = 60.0, tags: Sequence[str] = ()
) -> CachedValue:
    """An entry created ``now``, fresh for ``ttl`` seconds."""
    return CachedValue(data, now, now + ttl, now + ttl, tuple(tags))


class BusHub:
    """One pub/sub channel shared by every :class:`HubBus`; can go down like a server."""

    def __init__(self, *, filter_own: bool = True, announce: bool = False) -> None:
        self.up = True
        self.filter_own = filter_own
        self.announce = announce
        self.delivering = True
        self.queues: list[asyncio.Queue[Invalidation]] = []
        self.published: list[Invalidation] = []

    def reconnect(self) -> None:
        """Every subscription says it subscribed again (an empty invalidation), as a bus
        that announces its (re)subscriptions does after a reconnection."""
        for queue in self.queues:
            queue.put_nowait(Invalidation())

    async def wait_for_subscribers(self, count: int, within: float = 2.0) -> None:
        """Wait until ``count`` subscriptions are listening."""
        await wait_until(lambda: len(self.queues) >= count, within)


class HubBus:
    """An :class:`hitbox.InvalidationBus` (and ``Healthcheck``) on a :class:`BusHub`."""

    def __init__(self, hub: BusHub, origin: str) -> None:
        self.hub = hub
        self.origin = origin

    async def publish_invalidation(
        self, keys: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> None:
        if not self.hub.up:
            raise ConnectionError("bus is down")
        message = Invalidation(tuple(keys), tuple(tags), self.origin)
        self.hub.published.append(message)
        if not self.hub.delivering:  # subscribers are disconnected: the message is lost
            return
        for queue in self.hub.queues:
            queue.put_nowait(message)

    async def subscribe_invalidations(self) -> AsyncIterator[Invalidation]:
        queue: asyncio.Queue[Invalidation] = asyncio.Queue()
        self.hub.queues.append(queue)
        if self.hub.announce:
            queue.put_nowait(Invalidation())
        try:
            while True:
                message = await queue.get()
                if not (self.hub.filter_own and message.origin == self.origin):
                    yield message
        finally:
            self.hub.queues.remove(queue)

    async def ping(self) -> bool:
        if not self.hub.up:
            raise ConnectionError("bus is down")
        return True


class SharedTier(Backend):
    """A store shared by several tiered instances, with the hub's bus as a capability.

    ``failing`` makes every data call raise :class:`ConnectionError`; ``gate``, when set
    to an unset event, holds the answer of ``get`` until it is set; ``corrupt`` keys raise
    :class:`hitbox.CorruptEntry`; ``calls`` records operations.
    """

    is_local = False
    stores_objects = False

    def __init__(self, store: MemoryBackend, hub: BusHub, origin: str) -> None:
        self.store = store
        self.bus = HubBus(hub, origin)
        self.origin = origin
        self.failing = False
        self.gate: asyncio.Event | None = None
        self.corrupt: set[str] = set()
        self.calls: list[tuple[str, Any]] = []

    def _check(self, operation: str, argument: Any) -> None:
        self.calls.append((operation, argument))
        if self.failing:
            raise ConnectionError(f"{operation}: shared store unreachable")

    async def get(self, key: str) -> CachedValue | None:
        self._check("get", key)
        if key in self.corrupt:
            raise CorruptEntry(f"bad entry {key!r}")
        stored = await self.store.get(key)
        if self.gate is not None:  # the answer is read; it arrives when the gate opens
            await self.gate.wait()
        return None if stored is None else stored.without_value()

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        self._check("set", key)
        await self.store.set(key, value.without_value(), ttl)

    async def delete(self, key: str) -> None:
        self._check("delete", key)
        await self.store.delete(key)

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        self._check("get_many", list(keys))
        if self.corrupt & set(keys):
            raise CorruptEntry("bad entry in batch")
        return [None if e is None else e.without_value() for e in await self.store.get_many(keys)]

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        self._check("set_many", list(items))
        await self.store.set_many({k: (v.without_value(), t) for k, (v, t) in items.items()})

    async def delete_many(self, keys: Sequence[str]) -> None:
        self._check("delete_many", list(keys))
        await self.store.delete_many(keys)

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        self._check("acquire_lock", key)
        return await self.store.acquire_lock(key, ttl)

    async def release_lock(self, key: str, token: str) -> None:
        self._check("release_lock", key)
        await self.store.release_lock(key, token)

    async def publish_invalidation(
        self, keys: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> None:
        await self.bus.publish_invalidation(keys, tags)

    def subscribe_invalidations(self) -> AsyncIterator[Invalidation]:
        return self.bus.subscribe_invalidations()

    async def ping(self) -> bool:
        return await self.bus.ping()


class PlainBackend(Backend):
    """A backend with only the three required methods (no capabilities), over a dict."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.data: dict[str, tuple[CachedValue, float]] = {}
        self.clock = clock

    async def get(self, key: str) -> CachedValue | None:
        found = self.data.get(key)
        if found is None or found[1] <= self.clock():
            return None
        return found[0]

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        self.data[key] = (value, self.clock() + ttl)

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)


async def wait_until(predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Yield to the loop until ``predicate()`` holds (a bound on waiting, not a sleep)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.001)


async def settle(instances: Sequence[TieredBackend], within: float = 5.0) -> None:
    """Wait until each instance received every message the others published."""
    for backend in instances:
        await backend.flush_invalidations()
    published = [backend.stats().invalidations_published for backend in instances]

    def delivered() -> bool:
        return all(
            backend.stats().invalidations_received >= sum(published) - published[index]
            for index, backend in enumerate(instances)
        )

    await wait_until(delivered, within)


class Cluster:
    """Tiered instances (memory L1 + :class:`SharedTier` L2) sharing one store and bus."""

    def __init__(self, ticker: Ticker, **options: Any) -> None:
        self.ticker = ticker
        self.hub = BusHub()
        self.store = MemoryBackend(max_entries=10_000, clock=ticker)
        self.options = {"probe_interval": 0.005, "recovery_grace": 5.0, **options}
        self.instances: list[TieredBackend] = []

    def add(self, **options: Any) -> TieredBackend:
        """A new instance with its own L1 (and its own origin on the bus)."""
        index = len(self.instances)
        shared = SharedTier(self.store, self.hub, f"instance-{index}")
        settings = {"clock": self.ticker, "monotonic": self.ticker, **self.options, **options}
        backend = TieredBackend(
            [MemoryBackend(max_entries=1000, clock=self.ticker), shared], **settings
        )
        self.instances.append(backend)
        return backend

    async def settle(self) -> None:
        """Wait until every instance has received what every other one published."""
        await settle(self.instances)

    def outage(self, down: bool = True) -> None:
        """The shared server goes down (or comes back): its bus and its store alike."""
        self.hub.up = not down
        for backend in self.instances:
            shared = backend.tiers[1].backend
            assert isinstance(shared, SharedTier)
            shared.failing = down

    @staticmethod
    def store_calls(backend: TieredBackend) -> list[tuple[str, Any]]:
        """The calls ``backend`` made to the shared store."""
        shared = backend.tiers[1].backend
        assert isinstance(shared, SharedTier)
        return shared.calls

    async def aclose(self) -> None:
        for backend in self.instances:
            await backend.aclose()


@pytest.fixture
def ticker() -> Ticker:
    """A hand-moved clock."""
    return Ticker()


@pytest.fixture
async def cluster(ticker: Ticker) -> AsyncIterator[Cluster]:
    """Tiered instances sharing an in-process store and bus; closed at the end."""
    cluster = Cluster(ticker)
    yield cluster
    await cluster.aclose()
