"""Building redis-py clients from a :class:`RedisConfig`, with the cache-suited defaults.

redis-py 8 is tuned for a database client: 5 s socket timeouts, up to 10 retries with
exponential backoff (cluster too), and an async pool of 100 connections that raises
``MaxConnectionsError`` when exhausted. For a cache every one of those turns a Redis
problem into a slow request, so the clients built here use:

- ``socket_timeout`` / ``socket_connect_timeout`` of 50 ms;
- at most ``retries`` (default 1) *immediate* retries, only after a connection error
  (a restarted server closed the pooled socket), never after a timeout;
- a pool of 50 connections that waits at most 20 ms for a free connection when all are in
  use (standalone; :class:`hitbox_redis._pool.WaitingConnectionPool`); cluster and
  sentinel pools are bounded too, and fail at once when exhausted;
- RESP3 and hiredis (when installed) for parsing;
- standalone connections that can also serve the hit path's ``GET`` on a lean path
  (:class:`hitbox_redis._connection.DirectConnection`);
- one shared :class:`redis.driver_info.DriverInfo` naming Hitbox: without it redis-py
  reads its own package metadata for every new connection (milliseconds of CPU each),
  which made a burst of new connections miss the short connect timeout.
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any

import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry as SyncRetry

from hitbox_redis._config import RedisConfig
from hitbox_redis._connection import DirectConnection, DirectSSLConnection
from hitbox_redis._pool import WaitingConnectionPool

__all__ = [
    "build_client",
    "build_sync_client",
    "connection_kwargs",
    "driver_info",
    "retry_policy",
]


def retry_policy(config: RedisConfig) -> Retry:
    """``config.retries`` immediate retries on connection errors only."""
    return Retry(NoBackoff(), config.retries, supported_errors=(RedisConnectionError,))


@functools.cache
def driver_info() -> DriverInfo:
    """``redis-py(hitbox_v<version>)`` for ``CLIENT SETINFO``, computed once per process."""
    try:
        version = metadata.version("hitbox-backend-redis")
    except metadata.PackageNotFoundError:  # running from a source tree
        version = "0"
    return DriverInfo().add_upstream_driver("hitbox", version)


def connection_kwargs(config: RedisConfig) -> dict[str, Any]:
    """Keyword arguments shared by every connection the backend opens."""
    kwargs: dict[str, Any] = {
        "username": config.username,
        "password": config.password.get_secret_value() if config.password else None,
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.socket_connect_timeout,
        "socket_keepalive": config.socket_keepalive,
        "health_check_interval": config.health_check_interval,
        "protocol": config.protocol,
        "client_name": config.client_name,
        "retry": retry_policy(config),
        "driver_info": driver_info(),
    }
    if config.ssl:
        kwargs.update(
            ssl_ca_certs=config.ssl_ca_certs,
            ssl_certfile=config.ssl_certfile,
            ssl_keyfile=config.ssl_keyfile,
            ssl_cert_reqs=config.ssl_cert_reqs,
            ssl_check_hostname=config.ssl_check_hostname,
        )
    return kwargs


def build_client(config: RedisConfig) -> Redis | RedisCluster:
    """The client that serves cache operations, per ``config.mode``. Connects lazily."""
    if config.mode == "cluster":
        return _cluster(config)
    if config.mode == "sentinel":
        client: Redis = _sentinel(config).master_for(
            str(config.service_name), max_connections=config.max_connections
        )
        return client
    pool = WaitingConnectionPool(
        max_connections=config.max_connections,
        timeout=config.pool_timeout,
        connection_class=DirectSSLConnection if config.ssl else DirectConnection,
        host=config.host,
        port=config.port,
        db=config.db,
        **connection_kwargs(config),
    )
    return Redis.from_pool(pool)


def _cluster(config: RedisConfig) -> RedisCluster:
    kwargs = connection_kwargs(config)
    kwargs.pop("health_check_interval")
    if config.ssl:
        kwargs["ssl"] = True
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in config.node_addresses()],
        max_connections=config.max_connections,
        require_full_coverage=False,
        **kwargs,
    )


def _sentinel(config: RedisConfig) -> Sentinel:
    kwargs = connection_kwargs(config)
    if config.ssl:
        kwargs["ssl"] = True
    sentinel_kwargs = {
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.socket_connect_timeout,
        "password": (
            config.sentinel_password.get_secret_value() if config.sentinel_password else None
        ),
        "retry": retry_policy(config),
    }
    return Sentinel(  # type: ignore[no-untyped-call]
        config.node_addresses(), sentinel_kwargs=sentinel_kwargs, db=config.db, **kwargs
    )


def build_sync_client(config: RedisConfig) -> redis.Redis:
    """A redis-py *sync* client for standalone ``config``, with the same timeouts, retry
    policy and pool bound as :func:`build_client`'s: the hit path of sync callers
    (``RedisBackend.get_sync``). Its pool is thread-safe and, after ``os.fork``, drops the
    parent's connections by itself."""
    kwargs = connection_kwargs(config)
    kwargs["retry"] = SyncRetry(
        NoBackoff(), config.retries, supported_errors=(RedisConnectionError,)
    )
    connection_class: type[redis.Connection] = (
        redis.SSLConnection if config.ssl else redis.Connection
    )
    pool = redis.BlockingConnectionPool(  # type: ignore[no-untyped-call]
        max_connections=config.max_connections,
        timeout=config.pool_timeout,
        connection_class=connection_class,
        host=config.host,
        port=config.port,
        db=config.db,
        **kwargs,
    )
    return redis.Redis.from_pool(pool)
