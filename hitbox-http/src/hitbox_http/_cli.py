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

__all__ = ["build_proxy", "parse_listen", "proxy_command"]


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
    uvicorn.run(
        app,
        host=host,
        port=port,
        server_header=False,
        date_header=False,
        lifespan="on",
        log_level="warning",
    )
