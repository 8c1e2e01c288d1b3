"""What an :class:`~hitbox_http.HttpCache` counts about itself: :class:`HttpCounters`.

RFC mode talks to its backend directly rather than through :class:`hitbox.Cache`, so it
keeps its own counters; :meth:`HttpCounters.snapshot` hands them out as a
:class:`hitbox.Stats`, the same record ``cache.stats()`` returns, so tools read both
alike. The meaning of each counter, for HTTP:

``hits`` / ``stale``
    Requests answered from a stored response, fresh or stale (``max-stale``,
    ``stale-while-revalidate``, or ``stale-if-error`` after the origin failed).
``misses``
    GET/HEAD requests sent to the origin (nothing stored, a Vary miss, or a stored
    response that had to be validated), and ``only-if-cached`` requests answered 504.
    Other methods pass through and are not counted as requests.
``locked``
    Requests that waited for another request's response to the same URL (collapsed).
``errors``
    Backend operations that failed or timed out, and stored entries that could not be
    decoded; each was treated as "nothing stored".
``upstream_calls``
    Responses from the origin and failed attempts to get one, background ones included.
``refreshes``
    Background revalidations started (``stale-while-revalidate``).
``skipped``
    Always 0: RFC mode has no circuit breaker; each backend call has its own timeout.
"""

from __future__ import annotations

from typing import final

import hitbox

from hitbox_http._decisions import Forward, Hit

__all__ = ["HttpCounters"]


@final
class HttpCounters:
    """The mutable counters behind :meth:`HttpCache.stats`; incremented in place."""

    __slots__ = ("errors", "hits", "locked", "misses", "refreshes", "stale", "upstream_calls")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.stale = 0
        self.locked = 0
        self.errors = 0
        self.upstream_calls = 0
        self.refreshes = 0

    def count(self, decision: Hit | Forward) -> None:
        """Count the answer a GET/HEAD request gets from the cache's decision."""
        if not isinstance(decision, Hit) or decision.stored is None:
            self.misses += 1  # forwarded, or 504 for only-if-cached
        elif decision.stale:
            self.stale += 1
        else:
            self.hits += 1

    def snapshot(self) -> hitbox.Stats:
        """An immutable copy of the current values."""
        return hitbox.Stats(
            hits=self.hits,
            misses=self.misses,
            stale=self.stale,
            locked=self.locked,
            errors=self.errors,
            upstream_calls=self.upstream_calls,
            refreshes=self.refreshes,
        )
