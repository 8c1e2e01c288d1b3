"""Hitbox's in-process memory backend: bounded, W-TinyLFU eviction, object mode.

``MemoryBackend(max_entries=10_000)`` is the embedded default and the L1 of a tiered
cache; ``memory://?max_entries=10000&policy=tinylfu&mode=object`` selects it by URL.
"""

from __future__ import annotations

from hitbox_memory._backend import MemoryBackend
from hitbox_memory._config import MemoryConfig

__all__ = ["MemoryBackend", "MemoryConfig"]
