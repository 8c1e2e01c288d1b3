"""Durations as people write them, accepted wherever a duration is; mistakes are one line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import hitbox
import pytest
from hitbox.config import load_file
from hitbox.tiered import TieredConfig
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("250ms", 0.25),
        ("1h30m", 5400.0),
        ("1h 30m 15s", 5415.0),
        ("1.5h", 5400.0),
        ("2M", 120.0),
        (timedelta(minutes=5), 300.0),
    ],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert hitbox.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad", ["", "soon", "5x", "m5", "-5m", "1h-30m", "nan", "5 m s", True, [5]]
)
def test_invalid_durations_are_one_line_config_errors(bad: Any) -> None:
    with pytest.raises(hitbox.ConfigError) as caught:
        hitbox.parse_duration(bad, "tag_ttl")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("tag_ttl: not a duration")
    assert message.endswith(f"(got {bad!r})")
    assert (caught.value.field, caught.value.value) == ("tag_ttl", bad)


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["ms", "s", "m", "h", "d", "w"])),
        min_size=1,
        max_size=4,
    )
)
def test_units_add_up(parts: list[tuple[int, str]]) -> None:
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = "".join(f"{n}{u}" for n, u in parts)
    assert hitbox.parse_duration(text) == pytest.approx(sum(n * unit[u] for n, u in parts))


def test_policy_fields_accept_durations() -> None:
    policy = hitbox.Policy(ttl="1h30m", max_stale="5m", stale_if_error="1d", lock_timeout="250ms")
    assert (policy.ttl, policy.max_stale, policy.stale_if_error) == (5400.0, 300.0, 86400.0)
    assert policy.lock_timeout == 0.25
    assert policy.merged(ttl="90s").ttl == 90.0
    assert hitbox.Policy(cooldown=timedelta(seconds=3)).cooldown == 3.0


def test_policy_rejects_a_bad_duration_on_one_line() -> None:
    with pytest.raises(hitbox.ConfigError) as caught:
        hitbox.Policy(ttl="5 minutes")
    assert str(caught.value).startswith("policy.ttl: not a duration: ")
    assert str(caught.value).endswith("(got '5 minutes')")
    assert caught.value.field == "policy.ttl"


async def test_decorator_set_and_tag_ttl_accept_durations() -> None:
    clock = hitbox.ManualClock()
    async with hitbox.Cache("memory", clock=clock, tag_ttl="1h") as cache:
        calls = 0

        @cache.cached(ttl="1m", key="k")
        async def value() -> int:
            nonlocal calls
            calls += 1
            return calls

        assert await value() == 1
        await clock.advance(59)
        assert await value() == 1
        await clock.advance(2)
        assert await value() == 2
        assert await cache.set("s", "v", ttl="2s")
        await clock.advance(3)
        assert await cache.get("s") is None
    with pytest.raises(hitbox.ConfigError, match=r"^tag_ttl: not a duration"):
        hitbox.Cache("memory", tag_ttl="forever")


def test_durations_in_toml_url_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "hitbox.toml"
    path.write_text('[backend]\nname = "memory"\n[policy]\nttl = "5m"\nmax_stale = "30s"\n')
    config = load_file(path, {"HITBOX_POLICY__STALE_IF_ERROR": "1h"})
    cache = hitbox.Cache.from_config(config)
    assert (cache.policy.ttl, cache.policy.max_stale, cache.policy.stale_if_error) == (
        300.0,
        30.0,
        3600.0,
    )
    section = TieredConfig.from_url("tiered://?probe_interval=250ms", tiers=["memory"])
    assert section.probe_interval == 0.25


def test_bad_duration_in_a_backend_section_names_the_field() -> None:
    with pytest.raises(hitbox.ConfigError) as caught:
        hitbox.Cache.from_config(
            {"backend": {"name": "tiered", "tiers": ["memory"], "cooldown": "x"}}
        )
    assert caught.value.field == "backend.cooldown"
    assert "not a duration" in str(caught.value)
    assert "(got 'x')" in str(caught.value)
