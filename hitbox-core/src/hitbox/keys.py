"""Key strategies: turn a call (or a template) into a cache key string.

Templates (``"user:{user_id}"``) are compiled once; the default strategy encodes the
function's qualified name and its bound arguments unambiguously, hashing long keys.
Namespace and version prefixes are part of the strategy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["KeyFunction", "KeyStrategy"]

KeyFunction = Callable[..., str]
"""A compiled key function: called with the decorated function's own arguments."""


@runtime_checkable
class KeyStrategy(Protocol):
    """Builds cache keys. Compiles per function once; the result runs on every call."""

    def compile(self, func: Callable[..., Any], template: str | None = None) -> KeyFunction:
        """A fast key function for ``func`` (same parameters as ``func``)."""
        ...

    def compile_tags(
        self, func: Callable[..., Any], templates: tuple[str, ...]
    ) -> Callable[..., tuple[str, ...]]:
        """A function returning the rendered tag templates for a call of ``func``."""
        ...

    def make_key(self, raw_key: str) -> str:
        """Apply namespace/version prefixes and long-key hashing to an explicit key."""
        ...
