"""The conformance kit against the SQLite backend, on a file and in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hitbox.testing import BackendConformance
from hitbox_sqlite import SQLiteBackend

from tests.sqlite.conftest import FakeClock


class TestSQLiteConformance(BackendConformance):
    """Every backend behaviour, with a fake clock so expiry tests run instantly."""

    @pytest.fixture(params=["file", "memory"])
    async def backend(
        self, request: pytest.FixtureRequest, tmp_path: Path
    ) -> AsyncIterator[SQLiteBackend]:
        self.clock = FakeClock()
        path = str(tmp_path / "conformance.db") if request.param == "file" else ":memory:"
        backend = SQLiteBackend(path, clock=self.clock, max_entries=10_000)
        yield backend
        await backend.aclose()

    async def advance_time(self, seconds: float) -> None:
        self.clock.advance(seconds)
