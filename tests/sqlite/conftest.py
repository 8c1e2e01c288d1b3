"""Fixtures of the SQLite backend tests: a hand-moved clock and backends on temp files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hitbox_sqlite import SQLiteBackend


class FakeClock:
    """A clock the tests move by hand (unix seconds)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    """A database file path inside the test's temp dir (not created yet)."""
    return str(tmp_path / "cache.db")


@pytest.fixture
async def file_backend(db_path: str, clock: FakeClock) -> AsyncIterator[SQLiteBackend]:
    """A file-backed backend on the fake clock, closed after the test."""
    backend = SQLiteBackend(db_path, clock=clock)
    yield backend
    await backend.aclose()
