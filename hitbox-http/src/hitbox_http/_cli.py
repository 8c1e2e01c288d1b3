"""``hitbox proxy``: run the caching reverse proxy under uvicorn.

``--config`` takes the same TOML file as ``hitbox check`` (its ``[hitbox]`` table or the
whole file); an ``http`` table inside it configures :class:`HttpPolicy`. Without a file
the proxy uses the in-process memory backend.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click
import hitbox

from hitbox_http._config import HttpPolicy
from hitbox_http._engine import HttpCache
from hitbox_http._proxy import CachingProxy

__all__ = ["allow_any_status", "build_proxy", "parse_listen", "proxy_command"]


def allow_any_status() -> None:
    """Let uvicorn send any three-digit status, as a proxy must pass them through.

    uvicorn's HTTP/1.1 servers look reason phrases up in tables covering 100-599 only and
    fail the response for anything else; an empty reason phrase is valid HTTP/1.1
    (RFC 9112 §4), so the tables are completed with empty phrases. Nothing else changes.
    """
    from uvicorn.protocols.http import h11_impl

    for code in range(100, 1000):
        h11_impl.STATUS_PHRASES.setdefault(code, b"")
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:  # httptools is optional
        return
    for code in range(100, 1000):
        httptools_impl.STATUS_LINE.setdefault(code, b"HTTP/1.1 %d \r\n" % code)


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) as a pair; ``ConfigError`` if malformed."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise hitbox.ConfigError(
            f"--listen: expected HOST:PORT with a port in 1-65535, got {value!r}",
            field="listen",
            value=value,
        )
    return host, int(port)


def _load(path: str | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    if path is None:
        return None, {}
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise hitbox.ConfigError(
            f"--config {path!r}: {exc.strerror}", field="config", value=path
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise hitbox.ConfigError(
            f"--config {path!r}: invalid TOML: {exc}", field="config", value=path
        ) from None
    if isinstance(data.get("hitbox"), dict):
        data = data["hitbox"]
    http = data.pop("http", {})
    if not isinstance(http, dict):
        raise hitbox.ConfigError("http: expected a table", field="http", value=http)
    return data, http


def build_proxy(upstream: str, config: str | None = None, *, timeout: float = 30.0) -> CachingProxy:
    """The proxy app for ``upstream``, configured from the TOML file ``config``."""
    cache_config, http_config = _load(config)
    cache = hitbox.Cache.from_config(cache_config) if cache_config else hitbox.Cache()
    return CachingProxy(
        upstream, HttpCache(cache, HttpPolicy.validated(http_config)), timeout=timeout
    )


@click.command("proxy")
@click.option("--upstream", required=True, help="Origin to forward to, e.g. http://127.0.0.1:9000.")
@click.option(
    "--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to serve on."
)
@click.option(
    "--config", "config", default=None, help="hitbox TOML file (backend, policy, [http])."
)
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Seconds for connecting and for every upstream read/write.",
)
def proxy_command(upstream: str, listen: str, config: str | None, timeout: float) -> None:
    """Run a caching reverse proxy (RFC 9111) in front of UPSTREAM."""
    import uvicorn

    host, port = parse_listen(listen)
    app = build_proxy(upstream, config, timeout=timeout)
    allow_any_status()
    uvicorn.run(
        app,
        host=host,
        port=port,
        server_header=False,
        date_header=False,
        lifespan="on",
        log_level="warning",
    )
