"""The conformance kit against the memory backend: both modes, both policies, locked reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import hitbox_memory._store as store_module
import pytest
from hitbox.testing import BackendConformance
from hitbox_memory import MemoryBackend

from tests.memory.conftest import FakeClock


class TestMemoryConformance(BackendConformance):
    """Every backend behaviour, with a fake clock so expiry tests run instantly."""

    @pytest.fixture(
        params=[
            ("object", "tinylfu", True),
            ("bytes", "tinylfu", True),
            ("object", "lru", True),
            ("object", "tinylfu", False),
        ],
        ids=["object-tinylfu", "bytes-tinylfu", "object-lru", "object-tinylfu-locked-reads"],
    )
    async def backend(
        self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
    ) -> AsyncIterator[MemoryBackend]:
        mode, policy, lock_free = request.param
        # The last variant is what a free-threaded Python gets: every read takes the lock.
        monkeypatch.setattr(store_module, "_GIL_ENABLED", lock_free)
        self.clock = FakeClock()
        self.fresh_value_hits = lock_free  # without lock-free reads it always defers
        backend = MemoryBackend(max_entries=1000, mode=mode, policy=policy, clock=self.clock)
        yield backend
        await backend.aclose()

    def now(self) -> float:
        return self.clock.now

    async def advance_time(self, seconds: float) -> None:
        self.clock.advance(seconds)
