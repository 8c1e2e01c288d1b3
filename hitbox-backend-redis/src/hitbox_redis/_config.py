"""Configuration model of the Redis backend and the URL forms that fill it.

Deployments by URL (query parameters name any field below)::

    redis://[user[:password]@]host[:port][/db]            standalone
    rediss://...                                          standalone over TLS
    redis+cluster://[user[:password]@]host:port,host:port Redis Cluster (node discovery)
    redis+sentinel://[user[:password]@]host:port,host:port/service_name[/db]

The defaults are chosen for a cache, not for a database client: a cache read that takes
longer than a few tens of milliseconds is worth less than the upstream call it replaces,
so timeouts are short, failed commands are retried at most once (to replace a connection
a restarted server closed), and the pool blocks briefly instead of growing without bound.
This module imports no Redis client, so plugin discovery stays cheap.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qsl, unquote

from hitbox import BackendConfig, ConfigError, Duration
from pydantic import Field, SecretStr, field_validator, model_validator

__all__ = ["DEFAULT_PORT", "DEFAULT_SENTINEL_PORT", "Mode", "RedisConfig", "split_host_port"]

Mode = Literal["standalone", "cluster", "sentinel"]
"""How the backend finds its servers: one server, a Redis Cluster, or via Sentinel."""

DEFAULT_PORT = 6379
"""Port of a Redis server when a URL or node gives none."""

DEFAULT_SENTINEL_PORT = 26379
"""Port of a Sentinel when a ``redis+sentinel://`` URL gives none."""

_SCHEMES: dict[str, tuple[Mode, bool]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
}


class RedisConfig(BackendConfig):
    """Settings of :class:`hitbox_redis.RedisBackend`; every field has a cache-suited default."""

    schemes: ClassVar[tuple[str, ...]] = tuple(_SCHEMES)

    mode: Mode = "standalone"
    """``standalone`` (one server), ``cluster`` (Redis Cluster) or ``sentinel``."""
    host: str = "localhost"
    """Server host in standalone mode."""
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    """Server port in standalone mode."""
    nodes: tuple[str, ...] = ()
    """``host:port`` of cluster startup nodes (cluster) or of the Sentinels (sentinel)."""
    service_name: str | None = None
    """The master's name known to the Sentinels (sentinel mode)."""
    db: int = Field(default=0, ge=0)
    """Database number (must be 0 in cluster mode)."""
    username: str | None = None
    """ACL user name (Redis 6+)."""
    password: SecretStr | None = Field(default=None, repr=False)
    """Password (``AUTH``)."""
    sentinel_password: SecretStr | None = Field(default=None, repr=False)
    """Password of the Sentinels themselves, if they require one."""

    ssl: bool = False
    """Connect over TLS (implied by the ``rediss`` schemes)."""
    ssl_ca_certs: str | None = None
    """CA bundle file used to verify the server."""
    ssl_certfile: str | None = None
    """Client certificate file (mutual TLS)."""
    ssl_keyfile: str | None = None
    """Client private key file (mutual TLS)."""
    ssl_cert_reqs: Literal["required", "optional", "none"] = "required"
    """Server certificate verification."""
    ssl_check_hostname: bool = True
    """Check that the server certificate matches the host name."""

    socket_timeout: Duration = Field(default=0.05, gt=0)
    """Seconds to wait for a reply (redis-py's default is 5 s; a cache gives up sooner)."""
    socket_connect_timeout: Duration = Field(default=0.05, gt=0)
    """Seconds to open a connection, including the TLS handshake."""
    max_connections: int = Field(default=50, ge=1)
    """Connections in the pool (per node in cluster mode). Auto-batching keeps reads to a
    few connections, so this bounds concurrent writes and lock calls."""
    pool_timeout: Duration = Field(default=0.02, ge=0)
    """Seconds to wait for a free pooled connection before failing (standalone and
    sentinel use a blocking pool; cluster pools fail at once when exhausted)."""
    retries: int = Field(default=1, ge=0, le=10)
    """Immediate retries of a command that failed on a broken connection (never on a
    timeout). One retry replaces a connection that a restarted server closed."""
    operation_timeout: Duration = Field(default=0.25, gt=0)
    """Overall deadline of one backend call in cluster and sentinel mode, where the client
    follows redirects and rediscovers nodes internally."""
    health_check_interval: Duration = Field(default=0, ge=0)
    """Seconds of idleness after which a pooled connection is pinged before use (0: off)."""
    socket_keepalive: bool = True
    """TCP keepalive on pooled connections."""
    protocol: int = Field(default=3, ge=2, le=3)
    """RESP protocol version (2 or 3)."""
    client_name: str | None = "hitbox"
    """``CLIENT SETNAME`` of each connection, visible in ``CLIENT LIST``."""

    auto_batch: bool = True
    """Coalesce concurrent single ``get`` calls of one event-loop turn into one round trip,
    and let concurrent reads of one key share a single read."""
    max_batch_size: int = Field(default=512, ge=1)
    """Most keys per ``MGET`` (larger batches are split)."""
    lock_prefix: str = "hitbox:lock:"
    """Prefix of lock keys; a lock key keeps its data key's cluster hash slot."""
    invalidation_channel: str = "hitbox:invalidations"
    """Pub/sub channel of the invalidation bus."""

    @field_validator("nodes", mode="before")
    @classmethod
    def _split_nodes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("nodes")
    @classmethod
    def _check_nodes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for node in value:
            split_host_port(node, DEFAULT_PORT, field="nodes")
        return value

    @field_validator("lock_prefix")
    @classmethod
    def _check_lock_prefix(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError("must not contain '{' or '}' (it would change the hash slot)")
        return value

    @model_validator(mode="after")
    def _check_mode(self) -> Self:
        if self.mode == "cluster" and self.db != 0:
            raise ValueError(f"db must be 0 in cluster mode (got {self.db})")
        if self.mode == "sentinel":
            if not self.service_name:
                raise ValueError("sentinel mode needs service_name (the monitored master's name)")
            if not self.nodes:
                raise ValueError("sentinel mode needs nodes (the Sentinels' host:port)")
        return self

    def node_addresses(self) -> list[tuple[str, int]]:
        """``(host, port)`` of the startup nodes or Sentinels (``host:port`` if none)."""
        default = DEFAULT_SENTINEL_PORT if self.mode == "sentinel" else DEFAULT_PORT
        if not self.nodes:
            return [(self.host, self.port)]
        return [split_host_port(node, default, field="nodes") for node in self.nodes]

    @classmethod
    def url_fields(cls, url: str) -> dict[str, Any]:
        """Fields from a ``redis://``, ``rediss://``, ``redis+cluster://`` or
        ``redis+sentinel://`` URL; query parameters name fields directly."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in _SCHEMES:
            raise ConfigError(
                f"url: unsupported scheme {scheme!r} in {_redact(url)!r}; "
                f"use one of {', '.join(_SCHEMES)}",
                field="url",
                value=_redact(url),
            )
        mode, tls = _SCHEMES[scheme.lower()]
        rest, _, query = rest.partition("?")
        rest = rest.partition("#")[0]
        netloc, _, path = rest.partition("/")
        fields: dict[str, Any] = {"mode": mode}
        if tls:
            fields["ssl"] = True
        userinfo, at, hosts = netloc.rpartition("@")
        if at:
            user, colon, password = userinfo.partition(":")
            if user:
                fields["username"] = unquote(user)
            if colon:
                fields["password"] = unquote(password)
        segments = [unquote(part) for part in path.split("/") if part]
        if mode == "sentinel" and segments:
            fields["service_name"] = segments.pop(0)
        if segments:
            if len(segments) > 1 or not segments[0].isdigit():
                raise ConfigError(
                    f"url: path {'/' + path!r} is not a database number in {_redact(url)!r}",
                    field="db",
                    value=path,
                )
            fields["db"] = int(segments[0])
        host_list = [part for part in hosts.split(",") if part]
        default_port = DEFAULT_SENTINEL_PORT if mode == "sentinel" else DEFAULT_PORT
        if mode == "standalone":
            if len(host_list) > 1:
                raise ConfigError(
                    f"url: several hosts in {_redact(url)!r}; use redis+cluster:// or "
                    f"redis+sentinel:// for more than one node",
                    field="url",
                    value=_redact(url),
                )
            if host_list:
                fields["host"], fields["port"] = split_host_port(host_list[0], DEFAULT_PORT)
        else:
            addresses = [split_host_port(h, default_port) for h in host_list or ["localhost"]]
            fields["nodes"] = tuple(_join_host_port(h, p) for h, p in addresses)
        for name, value in parse_qsl(query, keep_blank_values=True):
            fields[name] = value
        return fields


def split_host_port(node: str, default_port: int, *, field: str = "url") -> tuple[str, int]:
    """Split ``host[:port]`` (IPv6 as ``[::1]:port``); :class:`ConfigError` if malformed."""
    text = node.strip()
    if text.startswith("["):
        host, bracket, tail = text[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else tail
        if not bracket or (tail and not tail.startswith(":")):
            raise ConfigError(f"{field}: malformed address {node!r}", field=field, value=node)
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ConfigError(f"{field}: missing host in {node!r}", field=field, value=node)
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(
            f"{field}: port must be a number from 1 to 65535 (got {port_text!r} in {node!r})",
            field=field,
            value=node,
        )
    return host, int(port_text)


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _redact(url: str) -> str:
    """The URL with any password replaced, for error messages."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        return f"{scheme}{sep}{userinfo.partition(':')[0]}:***@{hosts}{slash}{tail}"
    return url
