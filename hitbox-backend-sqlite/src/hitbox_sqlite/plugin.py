"""Entry-point plugin of hitbox-backend-sqlite: registers backend ``sqlite`` (``sqlite://``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import hitbox

from hitbox_sqlite._config import SQLiteConfig

if TYPE_CHECKING:
    from hitbox.plugins import BackendRegistry

    from hitbox_sqlite._backend import SQLiteBackend

__all__ = ["create_backend", "hitbox_register_backends"]


def create_backend(config: SQLiteConfig) -> SQLiteBackend:
    """Build a :class:`SQLiteBackend` from a validated :class:`SQLiteConfig`."""
    from hitbox_sqlite._backend import SQLiteBackend

    return SQLiteBackend.from_config(config)


@hitbox.hookimpl
def hitbox_register_backends(registry: BackendRegistry) -> None:
    """Register the ``sqlite`` backend and its ``sqlite://`` URL scheme."""
    registry.add(
        "sqlite",
        create_backend,
        config=SQLiteConfig,
        schemes=SQLiteConfig.schemes,
        description="SQLite file (WAL), persistent, multi-process safe, batch and locks",
    )
