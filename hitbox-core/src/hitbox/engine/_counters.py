"""Counters a cache keeps about itself, and the :class:`Stats` snapshot it hands out.

The counters are plain integer attributes incremented in place (the hot path pays one
attribute add per hit); :meth:`Counters.snapshot` copies them into an immutable
:class:`Stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

__all__ = ["Counters", "Stats"]


@final
@dataclass(frozen=True, slots=True)
class Stats:
    """What a cache has done since it was created (``cache.stats()``).

    ``hits``
        Answers served from a fresh entry.
    ``misses``
        Runs that found no usable entry (absent, expired, invalidated or undecodable).
    ``stale``
        Answers served from a stale entry (while refreshing, or because the upstream failed).
    ``locked``
        Runs that waited for another caller's refresh of the same key.
    ``errors``
        Backend operations that failed or timed out, plus entries that could not be
        decoded. None of them reached a caller.
    ``upstream_calls``
        Calls to the upstream, including background refreshes.
    ``refreshes``
        Background refreshes of stale entries that were started.
    ``skipped``
        Backend operations not attempted because the circuit breaker was open.
    ``corrupt``
        Entries that were there but unusable (undecodable, not a ``CachedValue``, bad
        signature, unverifiable tags). Each is also a miss and an error, but not a
        backend failure: corrupt entries never open the circuit breaker.
    """

    hits: int = 0
    misses: int = 0
    stale: int = 0
    locked: int = 0
    errors: int = 0
    upstream_calls: int = 0
    refreshes: int = 0
    skipped: int = 0
    corrupt: int = 0

    @property
    def requests(self) -> int:
        """Answers given from the cache or after a miss (hits + stale + misses)."""
        return self.hits + self.stale + self.misses

    @property
    def hit_ratio(self) -> float:
        """Share of answers served from an entry (fresh or stale); 0.0 before any request."""
        total = self.requests
        return (self.hits + self.stale) / total if total else 0.0


@final
class Counters:
    """The mutable counters behind :class:`Stats`; incremented in place by the cache."""

    __slots__ = (
        "corrupt",
        "errors",
        "hits",
        "locked",
        "misses",
        "refreshes",
        "skipped",
        "stale",
        "upstream_calls",
    )

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.stale = 0
        self.locked = 0
        self.errors = 0
        self.upstream_calls = 0
        self.refreshes = 0
        self.skipped = 0
        self.corrupt = 0

    def snapshot(self) -> Stats:
        """An immutable copy of the current values."""
        return Stats(
            hits=self.hits,
            misses=self.misses,
            stale=self.stale,
            locked=self.locked,
            errors=self.errors,
            upstream_calls=self.upstream_calls,
            refreshes=self.refreshes,
            skipped=self.skipped,
            corrupt=self.corrupt,
        )
