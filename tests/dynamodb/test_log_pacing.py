"""Oversized writes warn once per window, with the number of warnings held back."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from hitbox.testing import make_value

from tests.dynamodb.conftest import FakeClock, unique_key


async def test_oversized_writes_warn_once_per_window(
    make_backend: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    backend = make_backend(compression="none", max_item_size=2048)
    payload = random.Random(3).randbytes(4096)
    caplog.set_level(logging.WARNING, logger="hitbox_dynamodb")
    for _ in range(5):
        await backend.set(unique_key(), make_value(payload), 60)
    assert backend.oversized_skipped == 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "hitbox_dynamodb"]
    assert len(warnings) == 1
    assert warnings[0].startswith("not caching")
    clock.advance(61)
    caplog.clear()
    await backend.set(unique_key(), make_value(payload), 60)
    (message,) = [r.getMessage() for r in caplog.records if r.name == "hitbox_dynamodb"]
    assert message.endswith("(4 similar messages suppressed)")
