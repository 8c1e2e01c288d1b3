"""The memory backend: a bounded, thread-safe, in-process store of cache entries."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, final

from hitbox import Backend, CachedValue, ConfigError

from hitbox_memory._config import MemoryConfig, Mode, PolicyName

__all__ = ["MemoryBackend"]

Clock = Callable[[], float]

_VALUE: Final = 0
_EXPIRES: Final = 1
_WEIGHT: Final = 2


@final
class MemoryBackend(Backend):
    """An in-process backend bounded by entry count and/or bytes.

    Object mode (the default) keeps each :class:`CachedValue` as given, decoded value
    included, so a hit runs no codec. Bytes mode keeps the envelope bytes, like a remote
    backend would. ``clock`` returns unix seconds (``time.time`` by default).
    """

    is_local = True

    def __init__(
        self,
        max_entries: int | None = 10_000,
        max_bytes: int | None = None,
        *,
        policy: PolicyName = "tinylfu",
        mode: Mode = "object",
        clock: Clock = time.time,
        weigher: Callable[[str, CachedValue], int] | None = None,
        codec: Any = None,
    ) -> None:
        config = MemoryConfig.model_validate_config(
            {"max_entries": max_entries, "max_bytes": max_bytes, "policy": policy, "mode": mode}
        )
        self._config = config
        self.stores_objects = config.mode == "object"
        self._max_entries = config.max_entries
        self._max_bytes = config.max_bytes
        self._clock = clock
        self._weigher = weigher
        self._codec = codec
        if config.mode == "bytes" and codec is None:
            try:
                from hitbox import EnvelopeCodec  # type: ignore[attr-defined]
            except ImportError:
                raise ConfigError(
                    "mode='bytes' needs hitbox.EnvelopeCodec (a newer hitbox-core)",
                    field="mode",
                    value=mode,
                ) from None
            self._codec = EnvelopeCodec()
        self._data: OrderedDict[str, list[Any]] = OrderedDict()
        self._bytes = 0
        self._locks: dict[str, tuple[str, float]] = {}
        self._mutex = threading.Lock()

    @classmethod
    def from_config(cls, config: MemoryConfig, *, clock: Clock = time.time) -> MemoryBackend:
        """Build a backend from a validated :class:`MemoryConfig`."""
        return cls(
            config.max_entries,
            config.max_bytes,
            policy=config.policy,
            mode=config.mode,
            clock=clock,
        )

    @property
    def config(self) -> MemoryConfig:
        """The validated settings of this backend."""
        return self._config

    # -- sync API (for thread users) --------------------------------------------------

    def get_sync(self, key: str) -> CachedValue | None:
        """Return the live entry under ``key`` or ``None`` (callable from any thread)."""
        with self._mutex:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[_EXPIRES] <= self._clock():
                self._remove(key)
                return None
            self._data.move_to_end(key)
            stored = entry[_VALUE]
        if self._codec is not None:
            decoded: CachedValue = self._codec.decode(stored)
            return decoded
        result: CachedValue = stored
        return result

    def set_sync(self, key: str, value: CachedValue, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (callable from any thread)."""
        stored: Any = value if self._codec is None else self._codec.encode(value)
        weight = self._weigh(key, value)
        if self._max_bytes is not None and weight > self._max_bytes:
            self.delete_sync(key)
            return
        with self._mutex:
            if key in self._data:
                self._remove(key)
            self._data[key] = [stored, self._clock() + ttl, weight]
            self._bytes += weight
            self._evict()

    def delete_sync(self, key: str) -> None:
        """Remove the entry under ``key`` if any (callable from any thread)."""
        with self._mutex:
            if key in self._data:
                self._remove(key)

    def _weigh(self, key: str, value: CachedValue) -> int:
        if self._weigher is not None:
            return self._weigher(key, value)
        return len(value.data)

    def _remove(self, key: str) -> None:
        entry = self._data.pop(key)
        self._bytes -= entry[_WEIGHT]

    def _evict(self) -> None:
        data = self._data
        while (self._max_entries is not None and len(data) > self._max_entries) or (
            self._max_bytes is not None and self._bytes > self._max_bytes
        ):
            _, entry = data.popitem(last=False)
            self._bytes -= entry[_WEIGHT]

    def __len__(self) -> int:
        return len(self._data)

    @property
    def weight(self) -> int:
        """Sum of the weights of the entries held (bytes with the default weigher)."""
        return self._bytes

    # -- Backend ----------------------------------------------------------------------

    async def get(self, key: str) -> CachedValue | None:
        """Return the live entry under ``key`` or ``None``."""
        return self.get_sync(key)

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, evicting to stay in bounds."""
        self.set_sync(key, value, ttl)

    async def delete(self, key: str) -> None:
        """Remove the entry under ``key`` if any."""
        self.delete_sync(key)

    # -- BatchBackend -----------------------------------------------------------------

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """Entries for ``keys`` in order, ``None`` where missing or expired."""
        return [self.get_sync(key) for key in keys]

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store each ``key -> (value, ttl)``."""
        for key, (value, ttl) in items.items():
            self.set_sync(key, value, ttl)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every key in ``keys``."""
        for key in keys:
            self.delete_sync(key)

    # -- LockingBackend ---------------------------------------------------------------

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Take the lease lock for ``key`` for ``ttl`` seconds; ``None`` if it is held."""
        now = self._clock()
        with self._mutex:
            held = self._locks.get(key)
            if held is not None and held[1] > now:
                return None
            token = secrets.token_hex(16)
            self._locks[key] = (token, now + ttl)
            return token

    async def release_lock(self, key: str, token: str) -> None:
        """Release the lock for ``key`` if ``token`` still owns it."""
        with self._mutex:
            held = self._locks.get(key)
            if held is not None and secrets.compare_digest(held[0], token):
                del self._locks[key]

    async def aclose(self) -> None:
        """Nothing to release; entries stay readable. Idempotent."""
