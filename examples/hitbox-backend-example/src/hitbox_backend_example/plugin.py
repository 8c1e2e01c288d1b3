"""The entry-point plugin: registers backend ``example`` and its URL scheme."""

from __future__ import annotations

import hitbox
from hitbox.backend import BackendRegistry

from hitbox_backend_example.backend import ExampleBackend, ExampleConfig


@hitbox.hookimpl
def hitbox_register_backends(registry: BackendRegistry) -> None:
    """Make ``{"backend": {"name": "example"}}`` and ``example://`` work."""
    registry.add(
        "example",
        ExampleBackend,
        config=ExampleConfig,
        schemes=("example",),
        description="Example third-party backend: a dict with TTLs and locks",
    )
