"""The ``hitbox`` command line: ``plugins``, ``check``, ``demo`` and commands plugins add.

Bad input is reported on one line with exit code 2, never with a traceback.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from hitbox._errors import ConfigError, HitboxError
from hitbox.backend._contract import (
    Backend,
    BatchBackend,
    Healthcheck,
    InvalidationBus,
    LockingBackend,
)
from hitbox.config import naming_environment
from hitbox.plugins import PluginManager, get_plugin_manager

__all__ = ["build_cli", "main"]

EXIT_BAD_INPUT = 2
EXIT_UNHEALTHY = 1
EXIT_FAILED = 1


def _fail(message: str) -> None:
    click.echo(f"hitbox: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _plugin_rows(manager: PluginManager) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for info in manager.plugin_infos():
        # Every loaded plugin, including hook-only ones (event listeners, commands).
        rows.append(
            {
                "kind": "plugin",
                "name": info.plugin,
                "plugin": info.plugin,
                "distribution": info.distribution,
                "version": info.version,
                "schemes": [],
                "hooks": manager.plugin_hooks(info.plugin),
                "description": "",
            }
        )
    for backend in manager.backends.specs():
        rows.append(
            {
                "kind": "backend",
                "name": backend.name,
                "plugin": backend.origin.plugin,
                "distribution": backend.origin.distribution,
                "version": backend.origin.version,
                "schemes": list(backend.schemes),
                "description": backend.description,
            }
        )
    for serializer in manager.serializers.specs():
        rows.append(
            {
                "kind": "serializer",
                "name": serializer.name,
                "plugin": serializer.origin.plugin,
                "distribution": serializer.origin.distribution,
                "version": serializer.origin.version,
                "schemes": [],
                "description": serializer.description,
            }
        )
    for strategy in manager.key_strategies.specs():
        rows.append(
            {
                "kind": "key_strategy",
                "name": strategy.name,
                "plugin": strategy.origin.plugin,
                "distribution": strategy.origin.distribution,
                "version": strategy.origin.version,
                "schemes": [],
                "description": strategy.description,
            }
        )
    return rows


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def plugins_command(as_json: bool) -> None:
    """List installed backends, serializers and key strategies, with their distributions."""
    manager = get_plugin_manager()
    rows = _plugin_rows(manager)
    if as_json:
        click.echo(json.dumps({"plugins": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    loaded = Table(title="Loaded plugins")
    for column in ("plugin", "distribution", "version", "hooks"):
        loaded.add_column(column, overflow="fold")
    registered = Table(title="Registered components")
    for column in ("kind", "name", "plugin", "URL schemes"):
        registered.add_column(column, overflow="fold")
    for row in rows:
        if row["kind"] == "plugin":
            hooks = ", ".join(h.removeprefix("hitbox_") for h in row["hooks"])
            loaded.add_row(row["name"], row["distribution"] or "-", row["version"] or "-", hooks)
        else:
            schemes = ", ".join(row["schemes"]) or "-"
            registered.add_row(row["kind"], row["name"], row["plugin"], schemes)
    console = Console()
    console.print(loaded)
    console.print(registered)


def _signing(backend: Backend) -> str:
    """Whether ``backend``'s entries are signed, for ``hitbox check``.

    The backend says so itself (:attr:`hitbox.Backend.signed`, from its codec); a tiered
    backend reports each tier.
    """
    tiers = getattr(backend, "tiers", None)
    if tiers:
        return ", ".join(f"{tier.label}: {_signing(tier.backend)}" for tier in tiers)
    if backend.stores_objects:
        return "in-process objects (nothing serialized, nothing to sign)"
    signed = backend.signed
    if signed is None:
        return "unknown (the backend does not say)"
    return "signed (HMAC-SHA256)" if signed else "unsigned (set signing_key to sign them)"


async def _check(config: dict[str, Any]) -> tuple[bool, str]:
    from hitbox.config import cache_kwargs

    kwargs = cache_kwargs(config)
    backend = kwargs["backend"]
    capabilities = [
        name
        for name, protocol in (
            ("batch", BatchBackend),
            ("locking", LockingBackend),
            ("invalidation-bus", InvalidationBus),
            ("healthcheck", Healthcheck),
        )
        if isinstance(backend, protocol)
    ]
    summary = (
        f"backend {backend.label!r} ({type(backend).__name__}); "
        f"capabilities: {', '.join(capabilities) or 'none'}; entries: {_signing(backend)}"
    )
    try:
        if isinstance(backend, Healthcheck):
            healthy = await asyncio.wait_for(backend.ping(), timeout=5)
        else:
            # No ping: a read of a key nobody writes proves the backend answers.
            await asyncio.wait_for(backend.get("hitbox:check:probe"), timeout=5)
            healthy = True
    except Exception as exc:  # any failure means unhealthy; the message says which
        return False, f"{summary}; unreachable: {exc!r}"
    finally:
        await backend.aclose()
    return healthy, summary + ("; ping ok" if healthy else "; ping failed")


@click.command("check")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML file.")
@click.option("--url", "url", help="Backend URL, e.g. memory://?max_entries=100.")
def check_command(config_path: str | None, url: str | None) -> None:
    """Validate a configuration and ping its backend (exit 0 healthy, 1 unhealthy, 2 invalid)."""
    from hitbox.config import config_from_url, env_overrides, load_file

    if config_path and url:
        _fail("give either --config or --url, not both")
    if config_path:
        config = load_file(config_path)
    elif url:
        config = config_from_url(url)
    else:
        config = env_overrides()
    healthy, summary = asyncio.run(_check(config))
    click.echo(("ok: " if healthy else "unhealthy: ") + summary)
    if not healthy:
        sys.exit(EXIT_UNHEALTHY)


# Commands that come with a distribution of their own: asked for without it, the CLI
# names what to install instead of click's bare "No such command".
_PLUGIN_COMMANDS = {
    "proxy": ("hitbox-http", "http"),
    "stats": ("hitbox-http", "http"),
    "dynamodb": ("hitbox-backend-dynamodb", "dynamodb"),
}


def _missing_command_hint(name: str) -> str | None:
    """Why ``hitbox NAME`` is missing and what to install, if a known plugin adds it."""
    known = _PLUGIN_COMMANDS.get(name)
    if known is None:
        return None
    distribution, extra = known
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return (
            f"'hitbox {name}' comes with {distribution}, which is not installed: "
            f'pip install "hitbox[{extra}]" (or pip install {distribution})'
        )
    return (
        f"'hitbox {name}' comes with {distribution}, which is installed but did not add "
        f"the command: is its plugin blocked by HITBOX_DISABLE_PLUGINS?"
    )


class _HitboxGroup(click.Group):
    """The ``hitbox`` group: remembers which plugin added each command and names the
    package behind a command that is not installed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.origins: dict[str, str] = {}

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        if args and self.get_command(ctx, name) is None:
            hint = _missing_command_hint(name)
            if hint is not None:
                raise click.UsageError(hint, ctx)
        return super().resolve_command(ctx, args)


def _add_plugin_commands(cli: _HitboxGroup, manager: PluginManager) -> None:
    """Call each plugin's ``hitbox_add_commands``; a failing plugin is named and skipped."""
    for impl in manager.hook.hitbox_add_commands.get_hookimpls():
        before = set(cli.commands)
        try:
            impl.function(cli=cli)
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            click.echo(
                f"hitbox: warning: plugin {impl.plugin_name!r} could not add its commands: "
                f"{exc!r}; fix or uninstall it, or set HITBOX_DISABLE_PLUGINS={impl.plugin_name}",
                err=True,
            )
            continue
        for name in set(cli.commands) - before:
            cli.origins[name] = impl.plugin_name


def build_cli(manager: PluginManager | None = None) -> click.Group:
    """The ``hitbox`` click group with built-in and plugin-provided commands."""

    @click.group(cls=_HitboxGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="hitbox-core", prog_name="hitbox")
    def cli() -> None:
        """Hitbox: a platform for building caching systems."""

    assert isinstance(cli, _HitboxGroup)
    cli.add_command(plugins_command)
    cli.add_command(check_command)
    try:
        from hitbox._demo import demo
    except ImportError:  # the demo arrives with the state machine; keep the CLI usable
        pass
    else:
        cli.add_command(demo)
    _add_plugin_commands(cli, manager or get_plugin_manager())
    return cli


def _invoked_plugin(cli: click.Group | None, argv: Sequence[str]) -> str | None:
    """The plugin that added the command in ``argv``, if a plugin did."""
    if not isinstance(cli, _HitboxGroup):
        return None
    for arg in argv:
        if arg in cli.commands:
            return cli.origins.get(arg)
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``hitbox`` script."""
    args = list(argv) if argv is not None else sys.argv[1:]
    cli: click.Group | None = None
    try:
        cli = build_cli()
        cli.main(args=args, prog_name="hitbox", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("hitbox: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        _fail(exc.format_message())
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message())
    except ConfigError as exc:
        _fail(str(naming_environment(exc)))
    except HitboxError as exc:
        _fail(str(exc))
    except Exception as exc:  # a bug: one line naming who failed, never a traceback
        plugin = _invoked_plugin(cli, args)
        where = f"plugin {plugin!r} failed" if plugin else "internal error"
        click.echo(f"hitbox: error: {where}: {exc!r}", err=True)
        sys.exit(EXIT_FAILED)
