"""An example third-party Hitbox backend: a dict of envelope bytes with expiry and locks."""

from hitbox_backend_example.backend import ExampleBackend, ExampleConfig

__all__ = ["ExampleBackend", "ExampleConfig"]
