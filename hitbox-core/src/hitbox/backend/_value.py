"""The stored record: :class:`CachedValue`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, final

__all__ = ["NOT_LOCAL", "NO_VALUE", "CachedValue"]


@final
class _NoValue:
    """Marker type of :data:`NO_VALUE` (a value that is absent, as distinct from ``None``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Final = _NoValue()
"""Stands for "no decoded object attached" in :attr:`CachedValue.value`."""


@final
class _NotLocal:
    """Marker type of :data:`NOT_LOCAL` (an answer that needs ``get``, as distinct from
    ``None``, "nothing is stored")."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_LOCAL"

    def __bool__(self) -> bool:
        return False


NOT_LOCAL: Final = _NotLocal()
"""What :meth:`hitbox.backend.LocalReads.read_local` answers when this process cannot
tell without I/O what ``get`` would return: the caller asks ``get``."""


@final
@dataclass(frozen=True, slots=True)
class CachedValue:
    """One cache entry as a backend stores it.

    The state machine, not the backend, decides whether the entry is fresh
    (``now < fresh_until``), stale (``fresh_until <= now < stale_until``) or expired.
    All times are unix seconds (floats).

    ``data`` is the serialized payload. An in-process backend in *object mode* may also
    keep the decoded object in ``value`` so a hit runs no serializer; remote backends
    ignore ``value`` and always store ``data`` through the envelope codec. ``value`` is
    left out of equality and of the envelope.
    """

    data: bytes
    created_at: float
    fresh_until: float
    stale_until: float
    tags: tuple[str, ...] = ()
    value: Any = NO_VALUE

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CachedValue):
            return NotImplemented
        return (
            self.data == other.data
            and self.created_at == other.created_at
            and self.fresh_until == other.fresh_until
            and self.stale_until == other.stale_until
            and self.tags == other.tags
        )

    def __hash__(self) -> int:
        return hash((self.data, self.created_at, self.fresh_until, self.stale_until, self.tags))

    def is_fresh(self, now: float) -> bool:
        """Whether the entry may be served without revalidation at ``now``.

        Deprecated: the state machine's I/O adapter classifies entries
        (:meth:`hitbox.engine.Io.classify`); kept for compatibility until 1.0.
        """
        return now < self.fresh_until

    def is_usable(self, now: float) -> bool:
        """Whether the entry may be served at all (fresh or stale) at ``now``.

        Deprecated, as :meth:`is_fresh`.
        """
        return now < self.stale_until

    def remaining_lifetime(self, now: float) -> float:
        """Seconds until the entry is of no use at all (``stale_until - now``, not below 0).

        Deprecated, as :meth:`is_fresh`.
        """
        return max(0.0, self.stale_until - now)

    def without_value(self) -> CachedValue:
        """A copy with the decoded object dropped (what a bytes-storing backend keeps)."""
        if self.value is NO_VALUE:
            return self
        return CachedValue(
            self.data, self.created_at, self.fresh_until, self.stale_until, self.tags
        )
