"""Configuration model of the SQLite backend (``sqlite:///cache.db``, ``sqlite://:memory:``)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

from hitbox import BackendConfig, ConfigError, Duration
from pydantic import Field, field_validator

__all__ = ["MEMORY", "SQLiteConfig", "Synchronous"]

MEMORY = ":memory:"
"""The ``path`` of a private in-memory database (one connection, gone at close)."""

Synchronous = Literal["off", "normal", "full"]
"""SQLite's ``PRAGMA synchronous`` levels. ``normal`` is durable across a process crash
in WAL mode (the last commits may be lost on power failure, which a cache tolerates)."""


class SQLiteConfig(BackendConfig):
    """Settings of :class:`hitbox_sqlite.SQLiteBackend`.

    URLs follow SQLAlchemy's convention: ``sqlite:///cache.db`` is ``cache.db`` relative to
    the working directory, ``sqlite:////var/cache/app.db`` is absolute, and
    ``sqlite://:memory:`` (or ``sqlite://``) is an in-memory database. Query parameters
    set the other fields: ``sqlite:///cache.db?max_entries=100000&readers=8``.
    """

    schemes: ClassVar[tuple[str, ...]] = ("sqlite",)
    backend_name: ClassVar[str] = "sqlite"
    blamed_field: ClassVar[str] = "path"

    path: str = Field(min_length=1)
    """Database file (created if missing) or ``":memory:"``."""
    busy_timeout: Duration = Field(default=30.0, gt=0, le=3600)
    """Seconds a writer waits for another process's write lock before giving up."""
    readers: int = Field(default=4, ge=1, le=64)
    """Reader connections (and threads); ignored for ``:memory:``, which has one connection."""
    max_entries: int | None = Field(default=None, ge=1)
    """Most entries kept; least recently used ones are evicted first. ``None``: no cap."""
    max_bytes: int | None = Field(default=None, ge=1)
    """Most bytes (keys plus envelopes) kept, evicting like ``max_entries``. ``None``: no cap."""
    purge_interval: Duration = Field(default=60.0, gt=0)
    """Seconds between purges of expired rows (piggy-backed on writes)."""
    purge_batch: int = Field(default=1000, ge=1)
    """Most expired rows deleted by one purge, so a purge never stalls writers for long."""
    synchronous: Synchronous = "normal"
    """``PRAGMA synchronous``: ``off`` is fastest, ``full`` survives power loss."""

    @field_validator("path")
    @classmethod
    def _no_nul(cls, path: str) -> str:
        if "\x00" in path:
            raise ValueError("a path cannot contain NUL characters")
        return path

    @property
    def in_memory(self) -> bool:
        """Whether this is a private in-memory database."""
        return self.path == MEMORY

    @classmethod
    def url_fields(cls, url: str) -> dict[str, Any]:
        """``path`` from the URL's path (or ``:memory:``), other fields from its query."""
        parts = urlsplit(url)
        if parts.scheme != "sqlite":
            raise ConfigError(
                f"invalid sqlite URL {url!r}: the scheme must be sqlite://", field="url", value=url
            )
        fields = super().url_fields(url)
        if parts.netloc == MEMORY or (not parts.netloc and parts.path in ("", "/", "/" + MEMORY)):
            fields["path"] = MEMORY
        elif parts.netloc:
            raise ConfigError(
                f"invalid sqlite URL {url!r}: use sqlite:///relative.db, "
                f"sqlite:////absolute/path.db or sqlite://:memory:",
                field="url",
                value=url,
            )
        else:
            # urlsplit keeps the slash after the authority: "/cache.db" means "cache.db".
            fields["path"] = unquote(parts.path[1:])
        return fields
