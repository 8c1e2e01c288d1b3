"""Fixtures for the memory backend tests: a hand-moved clock and backend factories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hitbox import CachedValue
from hitbox_memory import MemoryBackend

START = 1_700_000_000.0


class FakeClock:
    """A clock the tests move by hand (unix seconds)."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += seconds


def value(data: bytes = b"payload", *, now: float = START, ttl: float = 60.0) -> CachedValue:
    """A fresh :class:`CachedValue` holding ``data``."""
    return CachedValue(data, now, now + ttl, now + ttl)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at a fixed unix time."""
    return FakeClock()


@pytest.fixture
def make_backend(clock: FakeClock) -> Callable[..., MemoryBackend]:
    """``make_backend(**kwargs)``: a MemoryBackend on the fake clock."""

    def make(**kwargs: Any) -> MemoryBackend:
        kwargs.setdefault("clock", clock)
        return MemoryBackend(**kwargs)

    return make
