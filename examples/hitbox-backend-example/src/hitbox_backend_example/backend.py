"""The backend: envelope bytes in a dict, expiring lazily, with a lease lock per key."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import hitbox
from hitbox.backend import EnvelopeCodec
from pydantic import Field


class ExampleConfig(hitbox.BackendConfig):
    """Settings of the example backend (``example://?max_entries=100``)."""

    max_entries: int = Field(default=1000, gt=0)


class ExampleBackend(hitbox.Backend):
    """Keeps encoded entries in a dict; the oldest insert goes when the dict is full."""

    is_local = True  # in-process and never blocks: the core needs no timeouts for it

    def __init__(self, config: ExampleConfig, clock: Callable[[], float] = time.time) -> None:
        self._max_entries = config.max_entries
        self._codec = EnvelopeCodec(config.signing_key_bytes())
        self._clock = clock
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._locks: dict[str, tuple[str, float]] = {}

    @property
    def codec(self) -> EnvelopeCodec:
        """The codec entries are stored with; ``hitbox check`` reads ``signed`` from it."""
        return self._codec

    async def get(self, key: str) -> hitbox.CachedValue | None:
        """The entry under ``key`` unless it has expired."""
        item = self._entries.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._entries[key]
            return None
        return self._codec.decode(item[0], key)

    async def set(self, key: str, value: hitbox.CachedValue, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, evicting the oldest entry when full."""
        self._entries.pop(key, None)
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (self._codec.encode(value, key), self._clock() + ttl)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._entries.pop(key, None)

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Take the lease lock of ``key`` unless someone holds an unexpired one."""
        now = self._clock()
        held = self._locks.get(key)
        if held is not None and held[1] > now:
            return None
        token = secrets.token_hex(8)
        self._locks[key] = (token, now + ttl)
        return token

    async def release_lock(self, key: str, token: str) -> None:
        """Release the lock of ``key`` if ``token`` still owns it."""
        held = self._locks.get(key)
        if held is not None and secrets.compare_digest(held[0], token):
            del self._locks[key]
