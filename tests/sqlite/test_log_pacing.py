"""Oversized writes warn once per window, with the number of warnings held back."""

from __future__ import annotations

import logging

import pytest
from hitbox.testing import make_value
from hitbox_sqlite import SQLiteBackend

from tests.sqlite.conftest import FakeClock
from tests.support import BackendEventRecorder, backend_events  # noqa: F401 - fixture


async def test_oversized_writes_warn_once_per_window(
    db_path: str,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    backend_events: BackendEventRecorder,  # noqa: F811
) -> None:
    backend = SQLiteBackend(db_path, max_bytes=1000, clock=clock)
    caplog.set_level(logging.WARNING, logger="hitbox_sqlite")
    try:
        for index in range(5):
            await backend.set(f"big:{index}", make_value(bytes(2000)), 600)
        await backend.set_many({f"many:{i}": (make_value(bytes(2000)), 600) for i in range(3)})
        warnings = [r.getMessage() for r in caplog.records if r.name == "hitbox_sqlite"]
        assert warnings == ["not caching 'big:0': entry of 2041 bytes exceeds max_bytes=1000"]
        # Every skipped value is an event, even while its warning is held back.
        assert len(backend_events.events) == 8
        assert backend_events.kinds()[0] == ("oversized", "sqlite", "big:0")
        clock.now += 61
        caplog.clear()
        await backend.set("big:again", make_value(bytes(2000)), 600)
        (message,) = [r.getMessage() for r in caplog.records if r.name == "hitbox_sqlite"]
        assert message.endswith("(7 similar messages suppressed)")
        assert await backend.get("big:again") is None
    finally:
        await backend.aclose()
