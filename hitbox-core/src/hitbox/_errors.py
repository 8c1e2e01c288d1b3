"""The one exception hierarchy of Hitbox, rooted at :class:`HitboxError`.

Messages say what was wrong, with the offending value, and what to do about it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BackendError",
    "ConfigError",
    "CorruptEntry",
    "HitboxError",
    "KeyStrategyError",
    "PluginError",
    "SerializationError",
    "UnknownPluginError",
]


class HitboxError(Exception):
    """Base class of every error Hitbox raises on purpose."""


class ConfigError(HitboxError, ValueError):
    """A configuration value is invalid.

    ``field`` names the offending setting (dotted path, e.g. ``backend.max_entries``) and
    ``value`` holds what was given, so tools can point at it.
    """

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class PluginError(HitboxError):
    """A plugin could not be loaded, or two plugins registered the same name."""


class UnknownPluginError(ConfigError, LookupError):
    """A backend, serializer or key strategy was selected by a name nobody registered."""


class CorruptEntry(HitboxError):  # noqa: N818 - the name is the condition, by design
    """A stored entry could not be decoded: truncated, wrong version, bad signature, garbage.

    The state machine treats it as a miss; callers never see it.
    """


class SerializationError(HitboxError, TypeError):
    """A value could not be turned into bytes, or bytes back into the expected type."""


class BackendError(HitboxError):
    """A backend operation failed. The cache fails open: callers of ``Cache`` never see it."""


class KeyStrategyError(HitboxError, ValueError):
    """A cache key could not be built: a template names an unknown argument, or similar."""


def field_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A dotted field path for messages; control characters are escaped so that an
    error about a hostile key (``"\\n"``) still fits on one line."""
    path = ".".join(str(part) for part in loc)
    return path if path.isprintable() else repr(path)[1:-1]


def suggestion(name: str, known: Iterable[str]) -> str:
    """What to say after "unknown ...": the closest known name, else the known names.

    ``"; did you mean 'namespace'?"`` for a typo, ``"; known: a, b"`` when nothing is
    close, ``""`` when nothing is known.
    """
    names = sorted(set(known))
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(names)}" if names else ""
