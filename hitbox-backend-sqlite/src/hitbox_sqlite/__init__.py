"""Hitbox's SQLite backend: embedded caching with persistence, safe across processes.

``SQLiteBackend("cache.db")`` keeps entries in one file that survives restarts and is
shared by every process that opens it; ``sqlite:///cache.db?max_entries=100000`` selects
it by URL and ``sqlite://:memory:`` gives a private in-memory database.
"""

from __future__ import annotations

from hitbox_sqlite._backend import SQLiteBackend
from hitbox_sqlite._config import SQLiteConfig

__all__ = ["SQLiteBackend", "SQLiteConfig"]
