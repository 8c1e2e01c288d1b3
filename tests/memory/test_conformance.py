"""The conformance kit against the memory backend, in both storage modes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hitbox.testing import BackendConformance
from hitbox_memory import MemoryBackend


class FakeClock:
    """A clock the tests move by hand (unix seconds)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class TestMemoryConformance(BackendConformance):
    """Every backend behaviour, both modes, with a fake clock so expiry tests run instantly."""

    @pytest.fixture(params=["object", "bytes"])
    async def backend(self, request: pytest.FixtureRequest) -> AsyncIterator[MemoryBackend]:
        self.clock = FakeClock()
        backend = MemoryBackend(max_entries=1000, mode=request.param, clock=self.clock)
        yield backend
        await backend.aclose()

    async def advance_time(self, seconds: float) -> None:
        self.clock.now += seconds
