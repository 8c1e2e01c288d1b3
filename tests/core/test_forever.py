"""``Policy(ttl=math.inf)``: an entry fresh for ever is cached by bytes backends too."""

from __future__ import annotations

import math
from pathlib import Path

import hitbox
import pytest
from hitbox_memory import MemoryBackend
from hitbox_sqlite import SQLiteBackend


@pytest.mark.parametrize("make_backend", ["memory-object", "memory-bytes", "sqlite"])
async def test_a_value_cached_for_ever_is_served_again(make_backend: str, tmp_path: Path) -> None:
    backend: hitbox.Backend
    if make_backend == "sqlite":
        backend = SQLiteBackend(str(tmp_path / "cache.db"))
    else:
        backend = MemoryBackend(mode=make_backend.removeprefix("memory-"))  # type: ignore[arg-type]
    calls = 0
    async with hitbox.Cache(backend, policy=hitbox.Policy(ttl=math.inf)) as cache:

        @cache.cached
        async def answer(question: str) -> int:
            nonlocal calls
            calls += 1
            return 42

        assert [await answer("life"), await answer("life")] == [42, 42]
        assert calls == 1
        stats = cache.stats()
        assert (stats.hits, stats.errors) == (1, 0)
