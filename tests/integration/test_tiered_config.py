"""Configuring the tiered backend: by name, tiers by name or URL, one-line errors, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import hitbox
import pytest
from hitbox import ConfigError, UnknownPluginError
from hitbox.tiered import TieredBackend
from hitbox_memory import MemoryBackend

from tests.integration.conftest import BusHub, HubBus, PlainBackend, entry


def tiered(**section: Any) -> dict[str, Any]:
    return {"backend": {"name": "tiered", **section}}


def test_built_from_configuration() -> None:
    cache = hitbox.Cache.from_config(
        tiered(
            tiers=[{"name": "memory", "max_entries": 50}, "memory://?max_entries=500"],
            write_policy="concurrent",
            max_l1_ttl=30,
        )
    )
    backend = cache.backend
    assert isinstance(backend, TieredBackend)
    assert backend.label == "tiered[memory+memory]"
    assert backend.write_policy == "concurrent"
    l1, l2 = (tier.backend for tier in backend.tiers)
    assert isinstance(l1, MemoryBackend)
    assert isinstance(l2, MemoryBackend)
    assert l1.config.max_entries == 50
    assert l2.config.max_entries == 500
    assert backend.bus is None
    assert [tier.private for tier in backend.tiers] == [True, False]
    assert backend.is_local


def test_signing_key_reaches_the_tiers() -> None:
    config = {
        **tiered(tiers=[{"name": "memory", "mode": "bytes"}, "memory"]),
        "signing_key": "s3cret-s3cret-s3cret-s3cret",
    }
    backend = hitbox.Cache.from_config(config).backend
    assert isinstance(backend, TieredBackend)
    l1 = backend.tiers[0].backend
    assert isinstance(l1, MemoryBackend)
    assert l1.codec is not None
    envelope = l1.codec.encode(entry())
    assert hitbox.EnvelopeCodec(b"s3cret-s3cret-s3cret-s3cret").decode(envelope) == entry()
    with pytest.raises(hitbox.CorruptEntry):
        hitbox.EnvelopeCodec(b"another-key-another-key").decode(envelope)


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ({}, "backend.tiers", "backend.tiers: required setting is missing"),
        ({"tiers": []}, "backend.tiers", "at least 1 item"),
        ({"tiers": ["memory", "nosuch"]}, "backend.tiers.1", "backend.tiers.1: unknown backend"),
        (
            {"tiers": [{"name": "memory", "max_entries": 0}]},
            "backend.tiers.0.max_entries",
            "backend.tiers.0.max_entries: Input should be greater than or equal to 1",
        ),
        ({"tiers": ["memory", "foo://x"]}, "backend.tiers.1.url", "unknown URL scheme 'foo'"),
        ({"tiers": ["memory", {"size": 1}]}, "backend.tiers.1", "give a 'name' or a 'url'"),
        (
            {"tiers": ["memory"], "write_policy": "eventually"},
            "backend.write_policy",
            "'sequential' or 'concurrent'",
        ),
        ({"tiers": ["memory"], "bus": 3}, "backend.bus", "tier index 3 is out of range"),
        ({"tiers": ["memory"], "bus": 0}, "backend.bus", "offers no invalidation bus"),
        ({"tiers": ["memory"], "bus": "memory"}, "backend.bus", "offers no invalidation bus"),
        (
            {"tiers": ["memory", "memory"], "private_tiers": 3},
            "backend.private_tiers",
            "backend.private_tiers: must be between 0 and 2 (got 3)",
        ),
        ({"tiers": ["memory"], "outage_l1_ttl": 0}, "backend.outage_l1_ttl", "greater than 0"),
        ({"tiers": ["memory"], "unknown": 1}, "backend.unknown", "unknown setting"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_field(
    section: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        hitbox.Cache.from_config(tiered(**section))
    assert caught.value.field == field
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_tier_is_an_unknown_plugin_error() -> None:
    with pytest.raises(UnknownPluginError, match=r"installed: .*memory"):
        hitbox.Cache.from_config(tiered(tiers=["memory", "nosuch"]))


def test_from_toml_file_with_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hitbox.toml"
    path.write_text(
        """
[backend]
name = "tiered"
outage_l1_ttl = 2.5

[[backend.tiers]]
name = "memory"
max_entries = 100

[[backend.tiers]]
url = "memory://?max_entries=1000"
"""
    )
    monkeypatch.setenv("HITBOX_BACKEND__WRITE_POLICY", "concurrent")
    backend = hitbox.Cache.from_file(path).backend
    assert isinstance(backend, TieredBackend)
    assert backend.write_policy == "concurrent"
    assert len(backend.tiers) == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tiers": []}, "tiers"),
        ({"tiers": [MemoryBackend(), "memory"]}, "tiers.1"),
        ({"tiers": [PlainBackend()], "bus": object()}, "bus"),
        ({"tiers": [PlainBackend()], "negative_ttl": -1}, "negative_ttl"),
        ({"tiers": [PlainBackend()], "probe_interval": 0}, "probe_interval"),
        ({"tiers": [PlainBackend()], "failure_threshold": 0}, "failure_threshold"),
        ({"tiers": [PlainBackend()], "tier_timeout": float("nan")}, "tier_timeout"),
        ({"tiers": [PlainBackend()], "write_policy": "later"}, "write_policy"),
    ],
)
def test_code_api_validates_arguments(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TieredBackend(**kwargs)
    assert caught.value.field == field


def test_the_same_backend_twice_is_refused() -> None:
    memory = MemoryBackend()
    with pytest.raises(ConfigError, match="appears twice"):
        TieredBackend([memory, memory])


def test_bus_given_in_code_and_private_tiers_default() -> None:
    bus = HubBus(BusHub(), "me")
    backend = TieredBackend([MemoryBackend(), MemoryBackend(), PlainBackend()], bus=bus)
    assert backend.bus is bus
    assert [tier.private for tier in backend.tiers] == [True, True, False]
    assert TieredBackend([MemoryBackend()], bus=None).bus is None


def _hitbox(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hitbox", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_cli_lists_and_checks_the_tiered_backend(tmp_path: Path) -> None:
    listed = _hitbox("plugins", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {(row["kind"], row["name"]): row for row in json.loads(listed.stdout)["plugins"]}
    assert rows[("backend", "tiered")]["distribution"] == "hitbox-core"
    config = tmp_path / "hitbox.toml"
    config.write_text('[backend]\nname = "tiered"\ntiers = ["memory", "sqlite:///l2.db"]\n')
    checked = _hitbox("check", "--config", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "tiered[memory+sqlite]" in checked.stdout
    assert "healthcheck" in checked.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[backend]\nname = "tiered"\ntiers = [{name = "memory", max_entries = 0}]\n')
    refused = _hitbox("check", "--config", str(bad), cwd=tmp_path)
    assert refused.returncode == 2
    assert "backend.tiers.0.max_entries" in refused.stdout + refused.stderr
