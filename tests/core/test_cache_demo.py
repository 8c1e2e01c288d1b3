"""``hitbox demo`` runs every state on the memory backend, resolved by name."""

from __future__ import annotations

import time

from click.testing import CliRunner
from hitbox._demo import demo


def test_demo_shows_every_state_quickly() -> None:
    started = time.perf_counter()
    result = CliRunner().invoke(demo, ["--stampede", "200", "--time-scale", "0.2"])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    out = result.output
    assert "PENDING → MISS → RESPONSE" in out
    assert "PENDING → HIT → RESPONSE" in out
    assert "PENDING → MISS → LOCKED → RESPONSE (x199)" in out
    assert "PENDING → STALE → RESPONSE" in out
    assert "background refresh: MISS → RESPONSE" in out
    assert "PENDING → ERROR → RESPONSE (x5)" in out
    assert "breaker open after 3 timeouts" in out
    assert "breaker closed" in out
    assert "200 concurrent callers of cold product 2 answered" in out
    assert "stats: hits=" in out
    assert elapsed < 15


def test_demo_rejects_a_bad_stampede_size() -> None:
    result = CliRunner().invoke(demo, ["--stampede", "0"])
    assert result.exit_code == 2
    assert "--stampede" in result.output
