"""The hitbox command line, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HITBOX = [sys.executable, "-m", "hitbox"]


def _run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([*HITBOX, *args], capture_output=True, text=True, env=env, timeout=60)


def test_plugins_json_lists_backends_serializers_and_example() -> None:
    result = _run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["plugins"]
    by_name = {(row["kind"], row["name"]): row for row in rows}
    memory = by_name[("backend", "memory")]
    assert memory["distribution"] == "hitbox-backend-memory"
    assert memory["version"] == "0.1.0"
    assert "memory" in memory["schemes"]
    for serializer in ("cbor", "json", "msgpack", "raw", "pickle"):
        assert by_name[("serializer", serializer)]["distribution"] == "hitbox-core"
    assert by_name[("backend", "example")]["distribution"] == "hitbox-backend-example"
    assert ("key_strategy", "default") in by_name
    builtin = by_name[("plugin", "builtin")]
    assert "hitbox_register_serializers" in builtin["hooks"]


def test_plugins_table_is_readable() -> None:
    result = _run("plugins", env_extra={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "hitbox-backend-memory" in result.stdout


def test_check_healthy_backend() -> None:
    result = _run("check", "--url", "memory://?max_entries=10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: backend 'memory'")


def test_check_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "hitbox.toml"
    config.write_text("[policy]\nttl = -3\n")
    result = _run("check", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "policy.ttl" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_unknown_backend_exit_2() -> None:
    result = _run("check", "--url", "nosuch://x")
    assert result.returncode == 2
    assert result.stderr.startswith("hitbox: error: unknown URL scheme 'nosuch'")


def test_unknown_command_exit_2() -> None:
    result = _run("frobnicate")
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr


def test_disabled_plugin_is_not_listed() -> None:
    result = _run("plugins", "--json", env_extra={"HITBOX_DISABLE_PLUGINS": "example"})
    names = {row["name"] for row in json.loads(result.stdout)["plugins"]}
    assert "example" not in names
    assert "memory" in names
