"""The Redis backend's value-size limit (``max_value_size``), on writes and on reads.

A value too large to read back within the socket timeout turns every read of its key
into a timeout -- a backend failure, counted by the breaker -- and, inside a batched
``MGET``, the failure of every other key in the batch. So:

- a write larger than the limit is not sent: the key is deleted instead (the new value
  replaces the old one even when it cannot be stored), with a rate-limited warning and
  an ``oversized`` backend event;
- a read never transfers a value over the limit, nor makes the server copy one: the
  lean single-key path asks for at most ``limit + 1`` bytes (``GETRANGE``), sees the
  length in the reply header and drops the connection rather than read more
  (:mod:`hitbox_redis._connection`); multi-key reads run :data:`BOUNDED_MGET`, which
  answers a value's length instead of its bytes when it is over the limit. Either way
  the key reads as a miss (with a warning and an event), and the write that follows
  the miss replaces it.
"""

from __future__ import annotations

import logging
from typing import final

from hitbox import Backend, RateLimitedLogger

__all__ = ["BOUNDED_MGET", "SizeLimit"]

logger = logging.getLogger("hitbox_redis")

BOUNDED_MGET = """
local limit = tonumber(ARGV[1])
local values = {}
for i, key in ipairs(KEYS) do
    local size = redis.pcall("STRLEN", key)
    if type(size) ~= "number" then
        values[i] = false
    elseif size > limit then
        values[i] = size
    else
        values[i] = redis.call("GET", key)
    end
end
return values
"""
"""``MGET`` that answers the length (an integer) instead of any value over ``ARGV[1]``
bytes; keys holding another type read as absent, as with ``MGET``. ``STRLEN`` is O(1)."""


@final
class SizeLimit:
    """``max_value_size`` of one backend, and what it refused or found."""

    __slots__ = ("_backend", "_warnings", "found", "limit", "refused")

    def __init__(self, limit: int, backend: Backend) -> None:
        self.limit = limit
        self._backend = backend  # reports to the plugins of the cache that owns it
        self.refused = 0
        """Writes not sent because the value was over the limit."""
        self.found = 0
        """Reads that found a value over the limit (answered as misses)."""
        self._warnings = RateLimitedLogger(logger)

    def refuse(self, key: str, size: int) -> None:
        """A write of ``size`` bytes under ``key`` is over the limit: warn and report it."""
        self.refused += 1
        self._warnings.warning(
            "oversized",
            "not caching %r: entry of %d bytes exceeds max_value_size=%d",
            key,
            size,
            self.limit,
        )
        self._backend.emit_event("oversized", key, size=size, limit=self.limit, operation="set")

    def found_stored(self, key: str, size: int) -> None:
        """A read found more than the limit under ``key``: ``size`` bytes (the lean path
        knows only ``limit + 1``, "over"). Warn and report it."""
        self.found += 1
        self._warnings.warning(
            "oversized-read",
            "entry %r holds over max_value_size=%d bytes (%d seen): not read, a miss",
            key,
            self.limit,
            size,
        )
        self._backend.emit_event("oversized", key, size=size, limit=self.limit, operation="get")
