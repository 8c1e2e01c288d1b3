"""``max_value_size``: an oversized write is dropped, an oversized row reads as a miss.

A row over the limit (written by another process with a larger limit, or by hand) is
told by ``length(envelope)`` in the query, which SQLite answers from the row header: its
bytes are never read.
"""

from __future__ import annotations

import sqlite3
import time

import hitbox
from hitbox.testing import make_value
from hitbox_sqlite import SQLiteBackend, SQLiteConfig

from tests.support import BackendEventRecorder, backend_events  # noqa: F401 - fixture

LIMIT = 64 * 1024


def _plant(path: str, key: str, size: int) -> None:
    """A live row of ``size`` bytes under ``key``, written behind the backend's back."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO hitbox_entries (key, expires_at, accessed_at, size, envelope)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, time.time() + 3600, time.time(), len(key) + size, bytes(size)),
        )


def test_the_default_limit_is_16_mib() -> None:
    assert SQLiteConfig(path="x.db").max_value_size == 16 * 1024 * 1024
    assert SQLiteConfig.from_url("sqlite:///x.db?max_value_size=2048").max_value_size == 2048


async def test_an_oversized_row_reads_as_a_miss(
    db_path: str,
    backend_events: BackendEventRecorder,  # noqa: F811
) -> None:
    backend = SQLiteBackend(db_path, max_value_size=LIMIT)
    try:
        await backend.set("small", make_value(b"ok"), 600)
        _plant(db_path, "big", 4 * LIMIT)
        assert await backend.get("big") is None
        many = await backend.get_many(["small", "big"])
        assert many[0] is not None
        assert many[0].data == b"ok"
        assert many[1] is None
        assert backend_events.kinds() == [("oversized", "sqlite", "big")] * 2
        detail = dict(backend_events.events[0].detail)  # type: ignore[attr-defined]
        assert detail == {"size": 4 * LIMIT, "limit": LIMIT, "operation": "get"}
    finally:
        await backend.aclose()


async def test_an_oversized_write_replaces_the_old_entry_with_nothing(
    db_path: str,
    backend_events: BackendEventRecorder,  # noqa: F811
) -> None:
    backend = SQLiteBackend(db_path, max_value_size=LIMIT)
    try:
        await backend.set("k", make_value(b"old"), 600)
        await backend.set("k", make_value(bytes(2 * LIMIT)), 600)  # no exception
        assert await backend.get("k") is None
        await backend.set_many({"a": (make_value(bytes(2 * LIMIT)), 600), "b": (make_value(), 600)})
        assert await backend.get("a") is None
        assert await backend.get("b") is not None
        kinds = [(e.kind, dict(e.detail)["operation"]) for e in backend_events.events]  # type: ignore[attr-defined]
        assert kinds == [("oversized", "set"), ("oversized", "set")]
    finally:
        await backend.aclose()


async def test_through_the_cache_an_oversized_row_is_a_miss_then_replaced(db_path: str) -> None:
    cache = hitbox.Cache(SQLiteBackend(db_path, max_value_size=LIMIT))
    calls: list[int] = []

    @cache.cached(key="row:{n}", ttl=60)
    async def load(n: int) -> int:
        calls.append(n)
        return n

    async with cache:
        _plant(db_path, load.cache_key(1), 4 * LIMIT)
        assert [await load(1), await load(1)] == [1, 1]
        assert calls == [1]
        assert cache.stats().errors == 0
