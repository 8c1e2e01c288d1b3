"""Entry-point plugin of hitbox-http: adds the ``hitbox proxy`` command.

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
    """Add ``hitbox proxy`` to the ``hitbox`` command line."""
    from hitbox_http._cli import proxy_command

    cli.add_command(proxy_command)
