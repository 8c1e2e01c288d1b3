"""The backend conformance kit: tests every backend must pass, importable by any author.

Subclass :class:`BackendConformance` in your test suite and provide a ``backend`` fixture
that yields a ready backend (and closes it afterwards)::

    import pytest
    from hitbox.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        async def backend(self):
            backend = MyBackend(...)
            yield backend
            await backend.aclose()

The tests need ``pytest`` and ``pytest-asyncio`` (install ``hitbox-core[testing]``). Each
test is marked ``asyncio`` explicitly, so it runs in pytest-asyncio's strict mode too (in
strict mode, declare the fixture with ``pytest_asyncio.fixture``).

Capability tests (batch, locks, health checks, sync and local reads) skip when the backend lacks
the capability.
Time passes through :meth:`BackendConformance.advance_time`, real sleeping by default;
backends with an injectable clock override it so the suite runs instantly. Backends whose
TTLs have a coarse resolution (memcached: whole seconds) set ``ttl_resolution``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
import uuid
from typing import Any, ClassVar

import pytest

from hitbox.backend._contract import Backend, BatchBackend, Healthcheck, LockingBackend
from hitbox.backend._value import NO_VALUE, NOT_LOCAL, CachedValue

__all__ = ["BackendConformance", "make_value"]


def make_value(
    data: bytes = b"payload",
    *,
    ttl: float = 60.0,
    max_stale: float = 0.0,
    tags: tuple[str, ...] = (),
    now: float | None = None,
) -> CachedValue:
    """A :class:`CachedValue` created ``now`` that is fresh for ``ttl`` seconds."""
    created = time.time() if now is None else now
    return CachedValue(
        data=data,
        created_at=created,
        fresh_until=created + ttl,
        stale_until=created + ttl + max_stale,
        tags=tags,
    )


class BackendConformance:
    """Behaviour every :class:`hitbox.Backend` must show. Subclass with a ``backend`` fixture."""

    ttl_resolution: ClassVar[float] = 0.05
    """Smallest TTL step the backend honours, in seconds (memcached: 1.0)."""

    max_value_size: ClassVar[int] = 1 << 20
    """Largest payload the backend is expected to store (tests use at most this)."""

    supports_unicode_keys: ClassVar[bool] = True
    """Whether arbitrary Unicode keys (spaces, control characters) must round-trip."""

    fresh_value_hits: bool = True
    """Whether ``fresh_value`` (if the backend has it) hands out fresh kept values; False
    for a configuration where it always defers (answers ``NO_VALUE``)."""

    def now(self) -> float:
        """The backend's clock. Override when the backend has a fake clock."""
        return time.time()

    async def advance_time(self, seconds: float) -> None:
        """Let ``seconds`` pass for the backend. Override when the backend has a fake clock."""
        await asyncio.sleep(seconds)

    @pytest.fixture
    def key(self) -> str:
        """A key no other test (or earlier run against a shared server) has used."""
        return f"hitbox-conformance:{uuid.uuid4().hex}"

    # -- basic contract ---------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_get_missing_returns_none(self, backend: Backend, key: str) -> None:
        assert await backend.get(key) is None

    @pytest.mark.asyncio
    async def test_round_trip_keeps_every_field(self, backend: Backend, key: str) -> None:
        value = make_value(b"hello", ttl=30, max_stale=15, tags=("user:1", "team:a"))
        await backend.set(key, value, 45)
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == b"hello"
        assert stored.created_at == value.created_at
        assert stored.fresh_until == value.fresh_until
        assert stored.stale_until == value.stale_until
        assert stored.tags == ("user:1", "team:a")

    @pytest.mark.asyncio
    async def test_overwrite_replaces_value(self, backend: Backend, key: str) -> None:
        await backend.set(key, make_value(b"first"), 60)
        await backend.set(key, make_value(b"second"), 60)
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == b"second"

    @pytest.mark.asyncio
    async def test_delete_removes_entry(self, backend: Backend, key: str) -> None:
        await backend.set(key, make_value(), 60)
        await backend.delete(key)
        assert await backend.get(key) is None

    @pytest.mark.asyncio
    async def test_delete_missing_key_is_not_an_error(self, backend: Backend, key: str) -> None:
        await backend.delete(key)
        assert await backend.get(key) is None

    @pytest.mark.asyncio
    async def test_entry_expires_after_ttl(self, backend: Backend, key: str) -> None:
        ttl = max(0.2, self.ttl_resolution)
        await backend.set(key, make_value(ttl=ttl), ttl)
        assert await backend.get(key) is not None
        await self.advance_time(ttl + self.ttl_resolution + 0.1)
        assert await backend.get(key) is None

    @pytest.mark.asyncio
    async def test_entry_survives_before_ttl(self, backend: Backend, key: str) -> None:
        ttl = max(30.0, self.ttl_resolution * 10)
        await backend.set(key, make_value(ttl=ttl), ttl)
        await self.advance_time(min(0.1, ttl / 4))
        assert await backend.get(key) is not None

    @pytest.mark.asyncio
    async def test_get_sync_agrees_with_get(self, backend: Backend, key: str) -> None:
        """The optional sync read (``get_sync``, used by sync callers' hit path) sees what
        ``get`` sees, from a thread other than the event loop's."""
        get_sync = getattr(backend, "get_sync", None)
        if get_sync is None or not getattr(backend, "sync_reads", True):
            pytest.skip("backend has no sync reads (get_sync)")
        assert await asyncio.to_thread(get_sync, key) is None
        value = make_value(b"sync", ttl=30, max_stale=5, tags=("user:1",))
        await backend.set(key, value, 45)
        stored = await asyncio.to_thread(get_sync, key)
        assert stored is not None
        assert stored.data == b"sync"
        assert stored.fresh_until == value.fresh_until
        assert stored.stale_until == value.stale_until
        assert stored.tags == ("user:1",)
        await backend.delete(key)
        assert await asyncio.to_thread(get_sync, key) is None

    @pytest.mark.asyncio
    async def test_read_local_agrees_with_get(self, backend: Backend, key: str) -> None:
        """The optional local read (``read_local``, :class:`~hitbox.backend.LocalReads`)
        answers what ``get`` answers or ``NOT_LOCAL``, on the loop and from a thread, and
        in object mode hands out the same entry object while it is unchanged."""
        read_local = getattr(backend, "read_local", None)
        if read_local is None or not getattr(backend, "local_reads", True):
            pytest.skip("backend has no local reads (read_local)")

        async def agrees() -> Any:
            here, there = read_local(key), await asyncio.to_thread(read_local, key)
            got = await backend.get(key)
            for local in (here, there, read_local(key)):
                assert local is NOT_LOCAL or local == got, (local, got)
                if isinstance(local, CachedValue) and got is not None:
                    assert (local.tags, local.value) == (got.tags, got.value)
            return read_local(key)

        assert await agrees() in (None, NOT_LOCAL)
        kept = {"kept": 1} if backend.stores_objects else NO_VALUE
        value = dataclasses.replace(make_value(b"local", ttl=30, tags=("t:1",)), value=kept)
        await backend.set(key, value, 45)
        first = await agrees()
        if first is not NOT_LOCAL and backend.stores_objects:
            again = read_local(key)
            assert again is NOT_LOCAL or again is first
        ttl = max(0.2, self.ttl_resolution)
        await backend.set(key, make_value(b"rewritten", ttl=ttl), ttl)
        await agrees()
        await self.advance_time(ttl + self.ttl_resolution)
        assert await agrees() in (None, NOT_LOCAL)  # expired: never the old entry
        await backend.set(key, make_value(b"back", ttl=30), 45)
        await agrees()
        await backend.delete(key)
        assert await agrees() in (None, NOT_LOCAL)

    @pytest.mark.asyncio
    async def test_fresh_value_agrees_with_get(self, backend: Backend, key: str) -> None:
        """The optional one-call hit (``fresh_value``, :class:`~hitbox.backend.FreshReads`)
        hands out the kept value of a fresh entry without tags, and ``NO_VALUE`` for
        everything else, which the cache then reads with ``get``."""
        fresh_value = getattr(backend, "fresh_value", None)
        if fresh_value is None or not backend.stores_objects:
            pytest.skip("backend has no one-call hits (fresh_value) in object mode")
        now = self.now()
        assert fresh_value(key, now) is NO_VALUE
        kept = {"kept": [1, 2]}
        await backend.set(key, dataclasses.replace(make_value(ttl=30, now=now), value=kept), 60)
        hit = await asyncio.to_thread(fresh_value, key, now)
        assert hit is (kept if self.fresh_value_hits else NO_VALUE)
        assert fresh_value(key, now + 31) is NO_VALUE  # stale: the machine decides
        assert fresh_value(key + ":other", now) is NO_VALUE
        await backend.set(key, make_value(ttl=30, now=now), 60)  # no kept value
        assert fresh_value(key, now) is NO_VALUE
        tagged = dataclasses.replace(make_value(ttl=30, tags=("t",), now=now), value=kept)
        await backend.set(key, tagged, 60)  # tags: the machine checks invalidations
        assert fresh_value(key, now) is NO_VALUE
        await backend.delete(key)
        assert fresh_value(key, now) is NO_VALUE

    @pytest.mark.asyncio
    async def test_an_entry_fresh_for_ever_is_kept(self, backend: Backend, key: str) -> None:
        """``Policy(ttl=math.inf)``: infinite times and an infinite ``ttl`` are stored
        (until evicted or deleted), not refused."""
        now = self.now()
        forever = CachedValue(b"forever", now, math.inf, math.inf, ("t",))
        await backend.set(key, forever, math.inf)
        await self.advance_time(self.ttl_resolution * 2)
        stored = await backend.get(key)
        assert stored is not None
        assert (stored.data, stored.fresh_until, stored.stale_until) == (
            b"forever",
            math.inf,
            math.inf,
        )
        assert stored.tags == ("t",)

    @pytest.mark.asyncio
    async def test_keys_are_isolated(self, backend: Backend, key: str) -> None:
        await backend.set(key, make_value(b"a"), 60)
        await backend.set(key + ":b", make_value(b"b"), 60)
        await backend.delete(key + ":b")
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == b"a"
        assert await backend.get(key[:-1]) is None

    # -- payloads ---------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_empty_value(self, backend: Backend, key: str) -> None:
        await backend.set(key, make_value(b""), 60)
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == b""

    @pytest.mark.asyncio
    async def test_binary_safety(self, backend: Backend, key: str) -> None:
        payload = bytes(range(256)) * 4 + b"\x00\r\n\xff\xfe"
        await backend.set(key, make_value(payload), 60)
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == payload

    @pytest.mark.asyncio
    async def test_large_value(self, backend: Backend, key: str) -> None:
        # Leave room for the envelope header and per-item overhead of the store.
        size = min(512 * 1024, self.max_value_size - 4096)
        payload = (uuid.uuid4().bytes * (size // 16 + 1))[:size]
        await backend.set(key, make_value(payload), 60)
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == payload

    @pytest.mark.asyncio
    async def test_unusual_keys(self, backend: Backend, key: str) -> None:
        suffixes = [":colon", "/slash", "{brace}", "x" * 300]
        if self.supports_unicode_keys:
            suffixes += [" space", "\u00e9\u4e2d\U0001f600", "tab\tnewline\n"]
        for index, suffix in enumerate(suffixes):
            await backend.set(key + suffix, make_value(str(index).encode()), 60)
        for index, suffix in enumerate(suffixes):
            stored = await backend.get(key + suffix)
            assert stored is not None, f"key suffix {suffix!r} was lost"
            assert stored.data == str(index).encode()

    # -- concurrency ------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_concurrent_access_distinct_keys(self, backend: Backend, key: str) -> None:
        keys = [f"{key}:{index}" for index in range(50)]
        await asyncio.gather(*(backend.set(k, make_value(k.encode()), 60) for k in keys))
        results = await asyncio.gather(*(backend.get(k) for k in keys))
        for k, stored in zip(keys, results, strict=True):
            assert stored is not None
            assert stored.data == k.encode()

    @pytest.mark.asyncio
    async def test_concurrent_writes_same_key_leave_one_value(
        self, backend: Backend, key: str
    ) -> None:
        payloads = [f"v{index}".encode() for index in range(20)]
        await asyncio.gather(*(backend.set(key, make_value(p), 60) for p in payloads))
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data in payloads

    # -- capability: batch ------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_batch_round_trip(self, backend: Backend, key: str) -> None:
        if not isinstance(backend, BatchBackend):
            pytest.skip("backend has no BatchBackend capability")
        keys = [f"{key}:{index}" for index in range(5)]
        await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys[:4]})
        results = await backend.get_many(keys)
        assert [r.data if r else None for r in results] == [k.encode() for k in keys[:4]] + [None]
        await backend.delete_many(keys[:2])
        results = await backend.get_many(keys)
        assert [r is None for r in results] == [True, True, False, False, True]

    @pytest.mark.asyncio
    async def test_batch_empty_inputs(self, backend: Backend) -> None:
        if not isinstance(backend, BatchBackend):
            pytest.skip("backend has no BatchBackend capability")
        assert await backend.get_many([]) == []
        await backend.set_many({})
        await backend.delete_many([])

    # -- capability: locks ------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_lock_is_exclusive(self, backend: Backend, key: str) -> None:
        if not isinstance(backend, LockingBackend):
            pytest.skip("backend has no LockingBackend capability")
        token = await backend.acquire_lock(key, 30)
        assert token
        assert await backend.acquire_lock(key, 30) is None
        await backend.release_lock(key, token)
        second = await backend.acquire_lock(key, 30)
        assert second
        assert second != token
        await backend.release_lock(key, second)

    @pytest.mark.asyncio
    async def test_lock_release_with_wrong_token_keeps_lock(
        self, backend: Backend, key: str
    ) -> None:
        if not isinstance(backend, LockingBackend):
            pytest.skip("backend has no LockingBackend capability")
        token = await backend.acquire_lock(key, 30)
        assert token
        await backend.release_lock(key, "not-the-token")
        assert await backend.acquire_lock(key, 30) is None
        await backend.release_lock(key, token)

    @pytest.mark.asyncio
    async def test_lock_expires_after_lease(self, backend: Backend, key: str) -> None:
        if not isinstance(backend, LockingBackend):
            pytest.skip("backend has no LockingBackend capability")
        lease = max(0.2, self.ttl_resolution)
        assert await backend.acquire_lock(key, lease)
        await self.advance_time(lease + self.ttl_resolution + 0.1)
        token = await backend.acquire_lock(key, 30)
        assert token
        await backend.release_lock(key, token)

    @pytest.mark.asyncio
    async def test_lock_does_not_touch_data(self, backend: Backend, key: str) -> None:
        if not isinstance(backend, LockingBackend):
            pytest.skip("backend has no LockingBackend capability")
        await backend.set(key, make_value(b"data"), 60)
        token = await backend.acquire_lock(key, 30)
        assert token
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == b"data"
        await backend.release_lock(key, token)
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == b"data"

    # -- capability: health -----------------------------------------------------------

    @pytest.mark.asyncio
    async def test_ping(self, backend: Backend) -> None:
        if not isinstance(backend, Healthcheck):
            pytest.skip("backend has no Healthcheck capability")
        assert await backend.ping() is True

    # -- lifecycle --------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_open_is_idempotent_and_the_backend_works_after_it(
        self, backend: Backend, key: str
    ) -> None:
        await backend.open()
        await backend.open()
        assert backend.open_timeout > 0
        await backend.set(key, make_value(b"opened"), 60)
        stored = await backend.get(key)
        assert stored is not None
        assert stored.data == b"opened"

    @pytest.mark.asyncio
    async def test_aclose_is_idempotent(self, backend: Backend) -> None:
        await backend.aclose()
        await backend.aclose()
