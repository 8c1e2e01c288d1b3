"""Backend-agnostic tag invalidation: per-tag invalidation times under reserved keys.

``invalidate_tags("inventory:42")`` writes a *marker* entry under the reserved key
``__hitbox_tag__:inventory:42`` whose ``created_at`` is the invalidation time. An entry
carrying that tag is valid only if it was created after every one of its tags' markers.
This needs nothing from the backend beyond get and set (one batched read where the
backend has ``BatchBackend``), so it works on every backend, across processes.

Limits, by design: markers live ``tag_ttl`` seconds, so an entry living longer than that
could outlive its marker; and comparisons use the writers' clocks, so clock skew between
processes shortens or lengthens the invalidation by the skew.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, final

from hitbox._errors import ConfigError
from hitbox.backend._value import CachedValue

__all__ = ["DEFAULT_TAG_TTL", "TAG_KEY_PREFIX", "TagMarkers"]

TAG_KEY_PREFIX: Final = "__hitbox_tag__:"
"""Raw-key prefix of tag markers; keys starting with ``__hitbox`` are reserved."""

DEFAULT_TAG_TTL: Final = 7 * 24 * 3600.0
"""Seconds a tag marker is kept (one week): longer than any sane entry lifetime."""

_MAX_MEMO: Final = 4096


@final
class TagMarkers:
    """Builds marker keys and markers, and judges entries against markers."""

    __slots__ = ("_keys", "_make_key", "ttl")

    def __init__(self, make_key: Callable[[str], str], ttl: float = DEFAULT_TAG_TTL) -> None:
        if ttl <= 0:
            raise ConfigError(
                f"tag_ttl: must be greater than 0 seconds (got {ttl!r})", field="tag_ttl", value=ttl
            )
        self._make_key = make_key
        self._keys: dict[str, str] = {}
        self.ttl = ttl

    def key(self, tag: str) -> str:
        """The backend key of ``tag``'s marker (namespace and hashing applied)."""
        key = self._keys.get(tag)
        if key is None:
            if len(self._keys) >= _MAX_MEMO:
                self._keys.clear()
            key = self._keys[tag] = self._make_key(TAG_KEY_PREFIX + tag)
        return key

    def keys(self, tags: Sequence[str]) -> list[str]:
        """Marker keys for ``tags``, in order."""
        return [self.key(tag) for tag in tags]

    def marker(self, now: float) -> CachedValue:
        """A marker recording an invalidation at ``now``."""
        until = now + self.ttl
        return CachedValue(b"", now, until, until)

    @staticmethod
    def invalidated(entry: CachedValue, markers: Sequence[object]) -> bool:
        """Whether any marker is at least as recent as ``entry`` (or is not a marker).

        Something other than a :class:`CachedValue` under a marker key cannot be
        trusted, so it counts as an invalidation: a miss costs an upstream call, a
        wrongly served entry costs correctness.
        """
        created_at = entry.created_at
        for marker in markers:
            if marker is None:
                continue
            if type(marker) is not CachedValue:
                return True
            try:
                if marker.created_at >= created_at:
                    return True
            except TypeError:
                return True
        return False
