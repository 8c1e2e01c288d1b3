"""The guard's breaker: it opens only for faults of the backend, probes cheaply and
recovers at once; a key failing on its own is remembered and skipped, never the backend."""

from __future__ import annotations

import asyncio

from hitbox import CachedValue, ManualClock
from hitbox.engine._guard import POISON_TTL

from tests.core._cache_fakes import BackendDownError, DictBackend, make_cache, settle


class PingableBackend(DictBackend):
    """A remote dict backend with a health check and keys that fail on their own."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(is_local=False, clock=clock)
        self.bad_keys: set[str] = set()
        self.pings = 0
        self.answers_ping = True

    async def get(self, key: str) -> CachedValue | None:
        if any(key.endswith(bad) for bad in self.bad_keys):
            self.ops.append(("get", key))
            raise BackendDownError(f"{key}: value too large to read")
        return await super().get(key)

    async def ping(self) -> bool:
        self.pings += 1
        if self.failing or not self.answers_ping:
            raise BackendDownError("ping: connection refused")
        return True


async def test_one_key_failing_alone_never_opens_the_breaker() -> None:
    clock = ManualClock()
    backend = DictBackend(is_local=False, clock=clock)
    backend.failing = True
    cache = make_cache(backend, clock=clock, failure_threshold=3)

    @cache.cached
    async def value() -> int:
        return 1

    for _ in range(10):
        assert await value() == 1
    assert cache.breaker_state == "closed"
    assert cache.stats().errors == 10  # no other key answered: it is not poisoned either
    await cache.aclose()


async def test_a_key_failing_while_others_answer_is_skipped_for_a_while() -> None:
    clock = ManualClock()
    backend = PingableBackend(clock)
    backend.bad_keys = {"huge"}
    cache = make_cache(backend, clock=clock, failure_threshold=3)

    @cache.cached(key="{name}")
    async def value(name: str) -> str:
        return name.upper()

    assert await value("small") == "SMALL"
    assert await value("huge") == "HUGE"
    assert await value("small") == "SMALL"  # a hit: the backend answers other keys
    assert await value("huge") == "HUGE"  # second failure with answers between: poisoned
    reads = backend.calls("get")
    for _ in range(20):
        assert await value("huge") == "HUGE"
        assert await value("small") == "SMALL"
    assert backend.calls("get") == reads + 20  # only the small key's reads reach it
    assert cache.breaker_state == "closed"
    stats = cache.stats()
    assert stats.skipped == 20
    assert stats.hits == 21

    await clock.advance(POISON_TTL)
    assert await value("huge") == "HUGE"
    assert backend.calls("get") == reads + 21  # remembered for a while, not for ever
    await cache.aclose()


async def test_open_breaker_probes_with_the_health_check_in_the_background() -> None:
    clock = ManualClock()
    backend = PingableBackend(clock)
    backend.failing = True
    cache = make_cache(backend, clock=clock, failure_threshold=3, cooldown=1.0)

    @cache.cached
    async def value(x: int) -> int:
        return x

    for x in range(3):
        assert await value(x) == x
    assert cache.breaker_state == "open"
    reads = backend.calls("get")

    await clock.advance(1.0)
    assert await value(0) == 0  # skipped: a ping starts in the background instead
    await settle()
    assert backend.pings == 1
    assert backend.calls("get") == reads  # no user call was used as the probe
    assert cache.breaker_state == "open"  # the ping failed: next probe in a second

    for _ in range(50):  # a long outage costs no probe per call
        assert await value(1) == 1
    await settle()
    assert backend.pings == 1

    backend.failing = False
    await clock.advance(1.0)
    assert await value(0) == 0
    await settle()
    assert backend.pings == 2
    assert cache.breaker_state == "closed"  # closed as soon as a probe succeeds
    assert await value(5) == 5
    assert await value(5) == 5
    assert cache.stats().hits == 1
    await cache.aclose()


async def test_a_health_check_confirms_an_outage_seen_on_one_key() -> None:
    clock = ManualClock()
    backend = PingableBackend(clock)
    backend.failing = True
    cache = make_cache(backend, clock=clock, failure_threshold=3)

    @cache.cached
    async def value() -> int:
        return 1

    for _ in range(3):
        assert await value() == 1
    await settle()
    assert backend.pings == 1
    assert cache.breaker_state == "open"
    await cache.aclose()


async def test_a_key_failing_alone_on_a_healthy_backend_keeps_the_breaker_closed() -> None:
    clock = ManualClock()
    backend = PingableBackend(clock)
    backend.bad_keys = {"huge"}
    cache = make_cache(backend, clock=clock, failure_threshold=3)

    @cache.cached(key="{name}")
    async def value(name: str) -> str:
        return name

    for _ in range(3):
        assert await value("huge") == "huge"
    await settle()
    assert backend.pings == 1  # the ping answers: this is the key's problem
    assert cache.breaker_state == "closed"
    await cache.aclose()


async def test_writes_that_time_out_never_open_the_breaker() -> None:
    clock = ManualClock()
    backend = DictBackend(is_local=False, clock=clock)
    backend.hang_ops = {"set"}
    cache = make_cache(backend, clock=clock, failure_threshold=2, backend_timeout=0.25)

    @cache.cached
    async def value(x: int) -> int:
        return x

    for x in range(6):
        task = asyncio.create_task(value(x))
        await clock.advance(0.25)
        assert await task == x
    assert cache.stats().errors == 6  # each dropped write is counted
    assert cache.breaker_state == "closed"
    backend.hang_ops = set()
    assert await value(9) == 9
    assert await value(9) == 9
    assert cache.stats().hits == 1  # reads are served as before
    await cache.aclose()
