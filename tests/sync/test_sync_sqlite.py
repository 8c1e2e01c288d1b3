"""Sync functions over the SQLite backend: hits read in the calling thread (a reader
connection per thread), misses and writes through the cache's loop."""

from __future__ import annotations

import threading
from pathlib import Path

import hitbox
import pytest
from hitbox_sqlite import SQLiteBackend

from tests.sync._support import Runner


@pytest.mark.parametrize("path", ["file", ":memory:"])
def test_sync_hits_on_sqlite(tmp_path: Path, path: str) -> None:
    backend = SQLiteBackend(str(tmp_path / "cache.db") if path == "file" else ":memory:")
    cache = hitbox.Cache(backend, serializer="json", policy={"ttl": 60})
    calls = 0
    lock = threading.Lock()

    @cache.cached(key="sq:{x}")
    def square(x: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        return x * x

    assert square(4) == 16
    runners = [Runner(lambda: square(4)) for _ in range(8)]
    assert [r.result() for r in runners] == [16] * 8
    assert calls == 1
    assert cache.stats().hits == 8
    assert backend.get_sync(square.cache_key(4)) is not None
    cache.close()
    with pytest.raises(RuntimeError, match="closed"):
        backend.get_sync(square.cache_key(4))
