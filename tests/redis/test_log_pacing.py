"""Malformed invalidation messages warn once per window, with the number held back."""

from __future__ import annotations

import logging

import pytest
from hitbox import RateLimitedLogger
from hitbox_redis import _bus


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_malformed_messages_logs_once_per_window(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = StepClock()
    monkeypatch.setattr(_bus, "malformed_warnings", RateLimitedLogger(_bus.log, clock=clock))
    caplog.set_level(logging.WARNING, logger="hitbox_redis")
    for index in range(100):
        assert _bus.decode_message(b"garbage %d" % index) is None
    (first,) = [r.getMessage() for r in caplog.records]
    assert first.startswith("ignoring malformed invalidation message b'garbage 0'")
    clock.now += 61
    caplog.clear()
    assert _bus.decode_message(b"{}") is None
    (second,) = [r.getMessage() for r in caplog.records]
    assert second.endswith("(99 similar messages suppressed)")
