"""Entries to the SQLite backend's rows and back, within its size limits.

An entry is stored as a :class:`hitbox.EnvelopeCodec` envelope. One over
``max_value_size`` (or, with its key, over ``max_bytes``) is not written: the key is
deleted instead, so the new value still replaces the old one. A row over
``max_value_size`` that is already stored (written under a larger limit) is left unread
by the query (:func:`hitbox_sqlite._store.read` answers its length) and reads as a miss.
Either way the backend warns, rate-limited, and emits an ``oversized`` backend event.
"""

from __future__ import annotations

from typing import final

from hitbox import Backend, CachedValue, RateLimitedLogger, emit_backend_event
from hitbox.codec import EnvelopeCodec

__all__ = ["Envelopes", "Row"]

Row = tuple[str, bytes, float]
"""A row to write: key, envelope, ttl."""


@final
class Envelopes:
    """Encodes entries into rows and decodes read envelopes, for one backend."""

    __slots__ = ("_backend", "_codec", "_max_bytes", "_max_value_size", "_warnings")

    def __init__(
        self,
        codec: EnvelopeCodec,
        *,
        max_value_size: int,
        max_bytes: int | None,
        warnings: RateLimitedLogger,
        backend: Backend,
    ) -> None:
        self._codec = codec
        self._max_value_size = max_value_size
        self._max_bytes = max_bytes
        self._warnings = warnings
        self._backend = backend  # reports to the plugins of the cache that owns it

    def decode(self, key: str, envelope: bytes | int | None) -> CachedValue | None:
        """The entry in ``envelope`` as read (its length if it was over the limit, a miss);
        :class:`hitbox.CorruptEntry` if garbled."""
        if envelope is None:
            return None
        if isinstance(envelope, int):  # over max_value_size: left unread, a miss
            self._oversized("oversized-read", key, envelope, "max_value_size", "get")
            return None
        return self._codec.decode(envelope, key)

    def encode(self, key: str, value: CachedValue, ttl: float) -> Row | None:
        """The row to write, or ``None`` (reported) if it is over a limit."""
        # An envelope is never smaller than its payload: a payload over the limit is
        # refused before copying it into one.
        if len(value.data) > self._max_value_size:
            self._oversized("oversized", key, len(value.data), "max_value_size", "set")
            return None
        envelope = self._codec.encode(value, key)
        if len(envelope) > self._max_value_size:
            self._oversized("oversized", key, len(envelope), "max_value_size", "set")
            return None
        max_bytes = self._max_bytes
        if max_bytes is not None and len(key) + len(envelope) > max_bytes:
            self._oversized("oversized", key, len(key) + len(envelope), "max_bytes", "set")
            return None
        return key, envelope, ttl

    def _oversized(self, kind: str, key: str, size: int, setting: str, operation: str) -> None:
        """Warn (rate-limited) and report an entry of ``size`` bytes over ``setting``."""
        limit = self._max_value_size if setting == "max_value_size" else self._max_bytes
        if operation == "set":
            message = "not caching %r: entry of %d bytes exceeds %s=%d"
        else:
            message = "entry %r holds %d bytes, over %s=%d: not read, answered as a miss"
        self._warnings.warning(kind, message, key, size, setting, limit)
        emit_backend_event(
            "oversized",
            self._backend.label or "sqlite",
            key,
            plugins=self._backend.plugins,
            size=size,
            limit=limit,
            operation=operation,
        )
