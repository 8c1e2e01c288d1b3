"""Entry-point plugin of hitbox-http: adds the ``hitbox proxy`` and ``hitbox stats`` commands.

Importing this module stays cheap: uvicorn and the proxy load only when the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hitbox

if TYPE_CHECKING:
    import click

__all__ = ["hitbox_add_commands"]


@hitbox.hookimpl
def hitbox_add_commands(cli: click.Group) -> None:
    """Add ``hitbox proxy`` and ``hitbox stats`` (which reads the proxy's admin endpoint)."""
    from hitbox_http._cli import proxy_command
    from hitbox_http._stats_cli import stats_command

    cli.add_command(proxy_command)
    cli.add_command(stats_command)
