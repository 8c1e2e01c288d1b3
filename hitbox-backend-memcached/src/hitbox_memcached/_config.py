"""Configuration model of the memcached backend (``memcached://host:port,host:port``)."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from hitbox import BackendConfig, ConfigError, Duration
from pydantic import Field, field_validator

from hitbox_memcached._keys import is_safe_prefix

__all__ = ["DEFAULT_PORT", "MemcachedConfig", "parse_server"]

DEFAULT_PORT = 11211
"""memcached's port when a server is given without one."""


def parse_server(server: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:11211"`` for IPv6, port optional) as ``(host, port)``."""
    text = server.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"invalid server {server!r}: expected [ipv6]:port")
        port_text = rest[1:]
    elif text.count(":") > 1:
        raise ValueError(f"invalid server {server!r}: write IPv6 addresses as [addr]:port")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"invalid server {server!r}: the host is empty")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid server {server!r}: the port must be 1-65535")
    return host, int(port_text)


class MemcachedConfig(BackendConfig):
    """Settings of :class:`hitbox_memcached.MemcachedBackend`.

    ``memcached://10.0.0.1:11211,10.0.0.2:11211?timeout=0.5&key_prefix=shop:`` names
    every server of the pool; keys are spread over them by rendezvous hashing, so adding
    or removing one server moves only the keys that belong to it.
    """

    schemes: ClassVar[tuple[str, ...]] = ("memcached",)
    backend_name: ClassVar[str] = "memcached"
    blamed_field: ClassVar[str] = "servers"

    servers: tuple[str, ...] = Field(default=("127.0.0.1:11211",), min_length=1)
    """``host:port`` of each server (IPv6 as ``[addr]:port``; the port defaults to 11211)."""
    key_prefix: str = Field(default="", max_length=128)
    """Prepended to every stored key, so applications can share servers."""
    timeout: Duration = Field(default=1.0, gt=0, le=60)
    """Seconds one operation may take (a dead server costs at most this much)."""
    connect_timeout: Duration = Field(default=1.0, gt=0, le=60)
    """Seconds to open a new connection."""
    max_connections: int = Field(default=4, ge=1, le=1024)
    """Most connections per server."""
    max_item_size: int = Field(default=1024 * 1024, ge=1024)
    """The servers' item size limit (memcached ``-I``, 1 MiB by default). Larger entries
    are not cached: a warning is logged and the previous entry under the key removed."""
    eject_unhealthy: bool = False
    """Route keys of an unreachable server to the remaining ones until it is back (a dip
    in hit rate instead of errors). Off: its keys fail fast and the cache fails open."""
    autobatching: bool = False
    """Coalesce concurrent single-key reads into multi-key ``get`` commands."""

    @field_validator("servers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part for part in value.split(",") if part.strip())
        return value

    @field_validator("servers")
    @classmethod
    def _valid_servers(cls, servers: tuple[str, ...]) -> tuple[str, ...]:
        for server in servers:
            parse_server(server)
        if len(set(servers)) != len(servers):
            raise ValueError("a server is listed twice")
        return servers

    @field_validator("key_prefix")
    @classmethod
    def _safe_prefix(cls, prefix: str) -> str:
        if not is_safe_prefix(prefix):
            raise ValueError("use printable ASCII without spaces or '%'")
        return prefix

    def addresses(self) -> list[tuple[str, int]]:
        """Every server as ``(host, port)``."""
        return [parse_server(server) for server in self.servers]

    @classmethod
    def url_fields(cls, url: str) -> dict[str, Any]:
        """``servers`` from the URL's authority, other fields from its query."""
        parts = urlsplit(url)
        if parts.scheme != "memcached" or parts.path not in ("", "/"):
            raise ConfigError(
                f"invalid memcached URL {url!r}: expected memcached://host:port[,host:port]",
                field="url",
                value=url,
            )
        fields = super().url_fields(url)
        if parts.netloc:
            fields["servers"] = unquote(parts.netloc)
        return fields
