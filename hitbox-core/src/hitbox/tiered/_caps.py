"""The optional capabilities of a tiered backend, mixed in only when a tier has them.

The core checks capabilities with ``isinstance`` against runtime protocols, once per
cache. A tiered backend must therefore *lack* ``get_many`` when no tier batches and
``acquire_lock`` when no tier locks; :class:`hitbox.tiered.TieredBackend` picks the
class with the right mixins when it is created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from hitbox.backend._value import CachedValue
from hitbox.tiered import _batch as batch_ops
from hitbox.tiered._tier import Tier

if TYPE_CHECKING:
    from hitbox.tiered import TieredBackend

__all__ = ["BatchMixin", "LockingMixin"]


class BatchMixin:
    """``BatchBackend``: each tier is asked once for what the tiers above lacked."""

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """Entries for ``keys`` in order: each tier is asked once for what is still missing."""
        return await batch_ops.get_many(cast("TieredBackend", self), keys)

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store every ``key -> (value, ttl)`` in every tier, then tell the other instances."""
        await batch_ops.set_many(cast("TieredBackend", self), items)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` from every tier, then tell the other instances."""
        await batch_ops.delete_many(cast("TieredBackend", self), keys)


class LockingMixin:
    """``LockingBackend`` delegated to the lowest tier that locks (the shared one)."""

    _lock_tier: Tier | None

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """The lowest locking tier's ``acquire_lock``."""
        tier = self._lock_tier
        assert tier is not None
        backend: Any = tier.backend
        token: str | None = await tier.run("acquire_lock", backend.acquire_lock, key, ttl)
        return token

    async def release_lock(self, key: str, token: str) -> None:
        """The lowest locking tier's ``release_lock``."""
        tier = self._lock_tier
        assert tier is not None
        backend: Any = tier.backend
        await tier.run("release_lock", backend.release_lock, key, token)
