"""The CLI names what to install for a missing command and never shows a traceback."""

from __future__ import annotations

import subprocess
import sys

import click
import hitbox
import pytest
from hitbox import cli as hitbox_cli
from hitbox.plugins import PluginManager


def _run(code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_command_of_a_blocked_plugin_names_the_package() -> None:
    result = _run(
        "from hitbox.cli import main; main(['proxy'])", env={"HITBOX_DISABLE_PLUGINS": "http"}
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "'hitbox proxy' comes with hitbox-http" in result.stderr
    assert "HITBOX_DISABLE_PLUGINS" in result.stderr
    assert "No such command" not in result.stderr


def test_command_of_an_uninstalled_distribution_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(hitbox_cli._PLUGIN_COMMANDS, "frob", ("hitbox-frob-not-installed", "frob"))
    hint = hitbox_cli._missing_command_hint("frob")
    assert hint is not None
    assert 'pip install "hitbox[frob]"' in hint
    assert "pip install hitbox-frob-not-installed" in hint
    assert hitbox_cli._missing_command_hint("frobnicate") is None


def test_proxy_without_a_server_says_which_extra() -> None:
    # Either httptools (its own server) or uvicorn (h11) serves `hitbox proxy`: neither.
    code = (
        "import sys; sys.modules['uvicorn'] = None; sys.modules['httptools'] = None\n"
        "from hitbox.cli import main\n"
        "main(['proxy', '--upstream', 'http://127.0.0.1:9'])\n"
    )
    result = _run(code)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert 'pip install "hitbox-http[proxy]"' in result.stderr


class _BrokenCommands:
    @hitbox.hookimpl
    def hitbox_add_commands(self, cli: click.Group) -> None:
        raise RuntimeError("boom")


class _FailingCommand:
    @hitbox.hookimpl
    def hitbox_add_commands(self, cli: click.Group) -> None:
        @cli.command("explode")
        def explode() -> None:
            raise RuntimeError("kaboom")


def test_plugin_that_cannot_add_commands_is_named_and_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(_BrokenCommands(), "brokenplugin")
    group = hitbox_cli.build_cli(manager)
    assert "check" in group.commands  # the rest of the CLI still works
    err = capsys.readouterr().err
    assert "plugin 'brokenplugin' could not add its commands: RuntimeError('boom')" in err


def test_plugin_command_failure_names_the_plugin_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(_FailingCommand(), "fragile")
    monkeypatch.setattr(hitbox_cli, "get_plugin_manager", lambda: manager)
    with pytest.raises(SystemExit) as exited:
        hitbox_cli.main(["explode"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err == "hitbox: error: plugin 'fragile' failed: RuntimeError('kaboom')\n"
