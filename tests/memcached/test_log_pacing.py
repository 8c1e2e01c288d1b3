"""Oversized writes warn once per window, with the number of warnings held back."""

from __future__ import annotations

import logging
import uuid

import pytest
from hitbox.testing import make_value
from hitbox_memcached import MemcachedBackend

from tests.memcached.conftest import MemcachedServer


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_oversized_writes_warn_once_per_window(
    memcached_servers: list[MemcachedServer], caplog: pytest.LogCaptureFixture
) -> None:
    backend = MemcachedBackend([memcached_servers[0].address], max_item_size=4096)
    clock = StepClock()
    backend._warnings.clock = clock  # no clock parameter: pacing runs on monotonic time
    caplog.set_level(logging.WARNING, logger="hitbox_memcached")
    try:
        for _ in range(5):
            await backend.set(f"big:{uuid.uuid4().hex}", make_value(bytes(8192)), 60)
        assert backend.oversized_skipped == 5
        warnings = [r.getMessage() for r in caplog.records if r.name == "hitbox_memcached"]
        assert len(warnings) == 1
        assert "item size limit" in warnings[0]
        clock.now += 61
        caplog.clear()
        await backend.set("big:again", make_value(bytes(8192)), 60)
        (message,) = [r.getMessage() for r in caplog.records if r.name == "hitbox_memcached"]
        assert message.endswith("(4 similar messages suppressed)")
    finally:
        await backend.aclose()
