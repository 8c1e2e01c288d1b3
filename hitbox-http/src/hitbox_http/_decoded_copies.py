"""Decoded copies of stored entries that hold bytes only, for lookups that cannot decode.

An object-mode backend keeps the decoded response with each entry, so a lookup without
waiting (:meth:`hitbox_http.HttpStore.lookup_now`) needs no decoding. But an entry a
tiered backend copied into its L1 from a shared tier below (SQLite, Redis) carries
bytes only: every worker but the one that stored the response would decode it on every
hit, and so never answer in place. The async lookup, which decodes such an entry
anyway, keeps its decoded copy here, under the key and *the entry object* it came from;
a later lookup uses the copy only while the backend hands out that very object, so the
copy is exactly what decoding the entry again would give.

Bounded by count and by the bytes decoded; when either bound is reached the copies are
dropped all at once (the next async lookup of each key decodes it again).
"""

from __future__ import annotations

from typing import Final, final

import hitbox

from hitbox_http._models import StoredResponse
from hitbox_http._record import VariantIndex

__all__ = ["DecodedCopies"]

MAX_COPIES: Final = 4096
"""Most entries kept decoded."""
MAX_COPY_BYTES: Final = 32 * 1024 * 1024
"""Most encoded bytes (the entries' ``data``) behind the kept copies."""

Decoded = StoredResponse | VariantIndex


@final
class DecodedCopies:
    """Decoded copies of bytes-only entries, by key, valid while the entry is the same."""

    __slots__ = ("_bytes", "_copies")

    def __init__(self) -> None:
        self._copies: dict[str, tuple[hitbox.CachedValue, Decoded]] = {}
        self._bytes = 0

    def keep(self, key: str, entry: hitbox.CachedValue, decoded: Decoded) -> None:
        """Remember that ``entry`` (stored under ``key``) decodes to ``decoded``."""
        size = len(entry.data)
        if size > MAX_COPY_BYTES:
            return
        if len(self._copies) >= MAX_COPIES or self._bytes + size > MAX_COPY_BYTES:
            self._copies.clear()
            self._bytes = 0
        previous = self._copies.get(key)
        if previous is not None:
            self._bytes -= len(previous[0].data)
        self._copies[key] = (entry, decoded)
        self._bytes += size

    def find(self, key: str, entry: hitbox.CachedValue) -> Decoded | None:
        """``entry``'s decoded copy, if it is the entry kept under ``key``."""
        kept = self._copies.get(key)
        if kept is None or kept[0] is not entry:
            return None
        return kept[1]
