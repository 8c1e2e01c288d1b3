"""The memory backend: :class:`BoundedStore` behind the :class:`hitbox.Backend` contract.

The hit path is the point of this module. A hit on a protected or window (or, with
``lru``, any) entry takes no lock: two or three dict lookups, an exact expiry check and
the key appended to the store's read buffer (``BoundedStore.reads``); the next write
applies the buffered hits to the policy (LRU reorder, frequency) under the lock before
it can evict, as Caffeine's read buffer does. :meth:`MemoryBackend.fresh_value` is that
hit for the decorator (:class:`hitbox.backend.FreshReads`): key in, kept value out.
Everything else (writes, hits on probationary entries, which move them to the protected
segment, expired entries) runs under one :class:`threading.Lock`; no operation awaits
while holding it, so the backend is safe from many threads and many event loops at once.

Lock-free reads rely on the GIL making each dict operation atomic (on a free-threaded
build the store hands out empty ``_fast``/``_fast_window`` maps and miss checks that hold
every key, so every read takes the lock). A miss is also decided without the lock, by
testing the protected, window, probation and again the protected segment with ``in``:
writers move an entry between segments by inserting it into the target before deleting
it from the source, so that order cannot overlook an entry that stays in the store,
whichever way it moves (with ``lru`` the window and probation stay empty and no entry
moves, so the second look is skipped). An entry found by ``in`` may be gone by the ``[]``
that follows; that read then takes the lock. ``get`` repeats ``get_sync``'s code instead
of calling it: a call is a sizeable part of a hit.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, final

from hitbox import Backend, CachedValue, ConfigError
from hitbox.backend import NO_VALUE, NOT_LOCAL
from hitbox.codec import EnvelopeCodec

from hitbox_memory._config import MemoryConfig, Mode, PolicyName
from hitbox_memory._store import BoundedStore

__all__ = ["MemoryBackend"]

Weigher = Callable[[str, CachedValue], int]
"""``weigher(key, value) -> int``: what an entry counts against ``max_bytes``."""

_LOCK_PURGE_EVERY: Final = 1024


@final
class MemoryBackend(BoundedStore, Backend):
    """An in-process backend bounded by entry count and/or bytes, with W-TinyLFU eviction.

    ``mode="object"`` (the default) keeps each :class:`CachedValue` as given, decoded
    ``value`` included, so a hit runs no codec. ``mode="bytes"`` keeps the envelope bytes
    of :class:`hitbox.codec.EnvelopeCodec` (signed if ``signing_key`` is set), like a
    remote backend. ``weigher(key, value)`` says what an entry counts against
    ``max_bytes``; by default the size of what is stored (the payload in object mode, the
    envelope in bytes mode).
    ``clock`` returns unix seconds (``time.time`` by default; tests inject their own).

    Besides the async :class:`hitbox.Backend` API it offers ``get_sync``, ``set_sync`` and
    ``delete_sync`` for threads without an event loop, ``read_local``
    (:class:`hitbox.backend.LocalReads`), and the :class:`hitbox.BatchBackend` and
    :class:`hitbox.LockingBackend` capabilities.
    """

    is_local = True

    def __init__(
        self,
        max_entries: int | None = 10_000,
        max_bytes: int | None = None,
        *,
        policy: PolicyName = "tinylfu",
        mode: Mode = "object",
        clock: Callable[[], float] = time.time,
        weigher: Weigher | None = None,
        codec: EnvelopeCodec | None = None,
        signing_key: bytes | None = None,
    ) -> None:
        config = MemoryConfig.validated(
            {"max_entries": max_entries, "max_bytes": max_bytes, "policy": policy, "mode": mode}
        )
        super().__init__(
            max_entries=config.max_entries,
            max_bytes=config.max_bytes,
            policy=config.policy,
            clock=clock,
        )
        self._config = config
        self.stores_objects = config.mode == "object"
        if self.stores_objects and (codec is not None or signing_key is not None):
            raise ConfigError(
                "codec and signing_key apply to mode='bytes' only", field="mode", value=mode
            )
        self._codec = codec or (None if self.stores_objects else EnvelopeCodec(signing_key))
        self._weigher = weigher
        self._weighs = config.max_bytes is not None
        self._plain = self._codec is None and weigher is None and not self._weighs
        self._locks: dict[str, tuple[str, float]] = {}
        self._lock_grants = 0

    @classmethod
    def from_config(
        cls, config: MemoryConfig, *, clock: Callable[[], float] = time.time
    ) -> MemoryBackend:
        """Build a backend from a validated :class:`MemoryConfig`."""
        return cls(
            config.max_entries,
            config.max_bytes,
            policy=config.policy,
            mode=config.mode,
            clock=clock,
            signing_key=config.signing_key_bytes() if config.mode == "bytes" else None,
        )

    @property
    def config(self) -> MemoryConfig:
        """The validated settings of this backend."""
        return self._config

    @property
    def codec(self) -> EnvelopeCodec | None:
        """The envelope codec of bytes mode; ``None`` in object mode."""
        return self._codec

    # -- sync API (any thread) --------------------------------------------------------

    def get_sync(self, key: str) -> CachedValue | None:
        """The live entry under ``key`` or ``None``; safe from any thread."""
        # ``in`` then ``[]`` rather than ``.get``: two lookups by opcode cost less than one
        # method call, and a miss, which tests each segment, makes no call at all.
        segment = self._fast
        if key not in segment:
            segment = self._fast_window  # a new key's hits stay in the window for a while
            if key not in segment:
                # A sure miss needs no lock: see "Lock-free reads" in the module docstring.
                if key not in self._miss_probation and key not in self._miss_protected:
                    return None
                return self._get_locked(key)
        try:
            entry = segment[key]
        except KeyError:  # moved or evicted by another thread since the test
            return self._get_locked(key)
        if entry > self._clock():
            self.reads.append(key)  # the next write applies the hit (apply_reads_locked)
            if self._codec is None:
                result: CachedValue = entry.stored
                return result
            return self._codec.decode(entry.stored)
        return self._get_locked(key)

    def read_local(self, key: str) -> CachedValue | Any | None:
        """:meth:`get_sync`'s answer (:class:`hitbox.backend.LocalReads`): this store is
        all there is, so it always knows. ``NOT_LOCAL`` only for an envelope that does
        not decode in bytes mode, so that ``get`` raises and reports it."""
        try:
            return self.get_sync(key)
        except Exception:
            return NOT_LOCAL

    def fresh_value(self, key: str, now: float) -> Any:
        """The kept value under ``key`` if its entry is fresh at ``now`` with no tags, else
        :data:`~hitbox.backend.NO_VALUE` (:class:`hitbox.backend.FreshReads`): the
        decorator's whole hit, lock-free. ``now`` (the cache's clock) also stands in for
        this backend's clock in the expiry check; both are ``time.time`` by default.
        Bytes mode keeps no :class:`CachedValue` and always answers ``NO_VALUE``."""
        segment = self._fast
        if key not in segment:
            segment = self._fast_window
            if key not in segment:
                return NO_VALUE
        try:
            entry = segment[key]
            stored = entry.stored
            if now < entry and now < stored.fresh_until and not stored.tags:
                self.reads.append(key)
                return stored.value
        except (KeyError, AttributeError):  # gone since the test; bytes mode's envelope
            pass
        return NO_VALUE

    def _get_locked(self, key: str) -> CachedValue | None:
        """What :meth:`get_sync` returns for ``key``, found under the lock."""
        mutex = self.mutex
        mutex.acquire()
        try:
            entry = self.lookup_locked(key, self._clock())
        finally:
            mutex.release()
        if entry is None:
            return None
        if self._codec is None:
            result: CachedValue = entry.stored
            return result
        return self._codec.decode(entry.stored)

    def _prepare(self, key: str, value: CachedValue) -> tuple[Any, int]:
        """What to store for ``value`` (itself or its envelope) and its weight."""
        stored: Any = value if self._codec is None else self._codec.encode(value)
        if self._weigher is not None:
            return stored, self._weigher(key, value)
        # Weights are only kept under a byte bound: an int above 256 is an object of its
        # own, which would cost every entry 32 bytes for a number nobody reads.
        if not self._weighs:
            return stored, 0
        return stored, len(value.data) if self._codec is None else len(stored)

    def delete_sync(self, key: str) -> None:
        """Remove the entry under ``key`` if any; safe from any thread."""
        with self.mutex:
            self.remove_locked(key)

    def clear(self) -> None:
        """Drop every entry (locks and frequency history are kept)."""
        with self.mutex:
            self.clear_locked()

    def purge_expired(self) -> int:
        """Drop entries whose TTL has passed now instead of bit by bit; returns how many."""
        with self.mutex:
            return self.purge_expired_locked(self._clock())

    # -- Backend ----------------------------------------------------------------------

    async def get(self, key: str) -> CachedValue | None:
        """The live entry under ``key`` or ``None`` (:meth:`get_sync`'s code, inlined)."""
        segment = self._fast
        if key not in segment:
            segment = self._fast_window  # a new key's hits stay in the window for a while
            if key not in segment:
                # A sure miss needs no lock: see "Lock-free reads" in the module docstring.
                if key not in self._miss_probation and key not in self._miss_protected:
                    return None
                return self._get_locked(key)
        try:
            entry = segment[key]
        except KeyError:  # moved or evicted by another thread since the test
            return self._get_locked(key)
        if entry > self._clock():
            self.reads.append(key)  # the next write applies the hit (apply_reads_locked)
            if self._codec is None:
                result: CachedValue = entry.stored
                return result
            return self._codec.decode(entry.stored)
        return self._get_locked(key)

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, evicting to stay in bounds."""
        self.set_sync(key, value, ttl)

    async def delete(self, key: str) -> None:
        """Remove the entry under ``key`` if any."""
        self.delete_sync(key)

    # -- BatchBackend -----------------------------------------------------------------

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """Entries for ``keys`` in order, ``None`` where missing or expired."""
        get = self.get_sync
        return [get(key) for key in keys]

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store each ``key -> (value, ttl)`` (one write, and one taking of the lock, each)."""
        put = self.set_sync
        for key, (value, ttl) in items.items():
            put(key, value, ttl)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every key in ``keys``."""
        with self.mutex:
            for key in keys:
                self.remove_locked(key)

    # -- LockingBackend ---------------------------------------------------------------

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Take the lease lock for ``key`` for ``ttl`` seconds; ``None`` while someone holds it.

        Locks live beside the entries (taking one never touches data) and only in this
        process: they make one process's callers single-flight, not several processes'.
        """
        with self.mutex:
            now = self._clock()
            held = self._locks.get(key)
            if held is not None and held[1] > now:
                return None
            token = secrets.token_hex(16)
            self._locks[key] = (token, now + ttl)
            self._lock_grants += 1
            if self._lock_grants % _LOCK_PURGE_EVERY == 0:
                self._locks = {k: v for k, v in self._locks.items() if v[1] > now}
            return token

    async def release_lock(self, key: str, token: str) -> None:
        """Release the lock for ``key`` if (and only if) ``token`` still owns it."""
        with self.mutex:
            held = self._locks.get(key)
            if held is not None and secrets.compare_digest(held[0], token):
                del self._locks[key]

    # -- Healthcheck ------------------------------------------------------------------

    async def ping(self) -> bool:
        """Always True: the store is this process's memory."""
        return True

    async def aclose(self) -> None:
        """Nothing to release: entries stay readable. Idempotent."""

    def __repr__(self) -> str:
        cfg = self._config
        return (
            f"MemoryBackend(max_entries={cfg.max_entries}, max_bytes={cfg.max_bytes}, "
            f"policy={cfg.policy!r}, mode={cfg.mode!r}, entries={len(self)})"
        )
