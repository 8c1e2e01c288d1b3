"""``hitbox proxy``: the command line of the caching reverse proxy.

The server is hitbox's own HTTP/1.1 server (:mod:`hitbox_http._http1_server`, on
httptools) when httptools is installed, else uvicorn's h11 server; ``--http`` picks one
(:mod:`hitbox_http._proxy_run` runs the proxy on it).

``--config`` takes the same TOML file as ``hitbox check`` (its ``[hitbox]`` table or the
whole file); an ``http`` table inside it configures :class:`HttpPolicy`. Without a file
the proxy uses the in-process memory backend.

``--admin`` adds the admin endpoint (:mod:`hitbox_http._admin`) on a second listener of
the same server, loopback unless told otherwise; a non-loopback one needs a token.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import hitbox

from hitbox_http._admin import is_loopback
from hitbox_http._config import HttpPolicy
from hitbox_http._edge import EdgePolicy
from hitbox_http._engine import HttpCache
from hitbox_http._proxy import CachingProxy
from hitbox_http._proxy_run import run_on_fast_server, run_on_uvicorn

__all__ = [
    "DEFAULT_ADMIN",
    "HTTP_SERVERS",
    "AdminListener",
    "build_proxy",
    "parse_admin",
    "parse_listen",
    "proxy_command",
    "resolve_http",
]

DEFAULT_ADMIN = "127.0.0.1:9181"
"""Where a bare ``--admin`` listens, and where ``hitbox stats`` looks by default."""

HTTP_SERVERS = ("auto", "fast", "h11", "httptools")
"""The values of ``--http``."""

_MIN_TOKEN_LENGTH = 16


def resolve_http(http: str) -> str:
    """The server ``--http`` names, ``auto`` resolved; ``ClickException`` naming the
    package to install when the one asked for is missing."""
    has_httptools = _installed("httptools")
    if http == "auto":
        http = "fast" if has_httptools else "h11"
    if http in ("fast", "httptools") and not has_httptools:
        raise click.ClickException(
            f"--http {http}: httptools is not installed: pip install httptools "
            '(or "hitbox-http[proxy]")'
        )
    if http in ("h11", "httptools") and not _installed("uvicorn"):
        raise click.ClickException(
            f"'hitbox proxy --http {http}' needs uvicorn, which is not installed: "
            'pip install "hitbox-http[proxy]" (or pip install "hitbox[http]")'
        )
    return http


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None  # None: blocked (tests do it)
    return importlib.util.find_spec(module) is not None


def parse_listen(value: str, option: str = "listen") -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) as a pair; ``ConfigError`` naming
    ``--option`` if malformed."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise hitbox.ConfigError(
            f"--{option}: expected HOST:PORT with a port in 1-65535, got {value!r}",
            field=option,
            value=value,
        )
    return host, int(port)


@dataclass(frozen=True, slots=True)
class AdminListener:
    """Where the admin endpoint listens, and the token that guards it (if any)."""

    host: str
    port: int
    token: str | None = None

    def bind(self) -> socket.socket:
        """A bound socket for uvicorn; ``ConfigError`` if the address cannot be used."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            value = f"{self.host}:{self.port}"
            raise hitbox.ConfigError(
                f"--admin {value!r}: cannot listen: {exc.strerror or exc}",
                field="admin",
                value=value,
            ) from None
        sock.set_inheritable(True)
        return sock


def parse_admin(value: str, token: str | None, *, listen_port: int) -> AdminListener:
    """``--admin`` (``HOST:PORT`` or ``PORT``, which means loopback) with ``--admin-token``.

    Off loopback the counters would be readable by anyone who can reach the port, so a
    token of at least 16 characters is required there.
    """
    host, port = parse_listen(value if ":" in value else f"127.0.0.1:{value}", "admin")
    if port == listen_port:
        raise hitbox.ConfigError(
            f"--admin: port {port} is the proxy's own (--listen); choose another",
            field="admin",
            value=value,
        )
    if token is not None and len(token) < _MIN_TOKEN_LENGTH:
        raise hitbox.ConfigError(
            f"--admin-token: use at least {_MIN_TOKEN_LENGTH} characters, got {len(token)}",
            field="admin_token",
            value="<hidden>",
        )
    if token is None and not is_loopback(host):
        raise hitbox.ConfigError(
            f"--admin {value!r} is not a loopback address: set --admin-token (or "
            "HITBOX_ADMIN_TOKEN) so that only holders of the token can read it",
            field="admin_token",
            value=None,
        )
    return AdminListener(host, port, token)


def _load(path: str | None) -> tuple[dict[str, Any] | None, dict[str, Any], dict[str, Any]]:
    if path is None:
        return None, {}, {}
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
    tables = []
    for name in ("http", "proxy"):
        table = data.pop(name, {})
        if not isinstance(table, dict):
            raise hitbox.ConfigError(f"{name}: expected a table", field=name, value=table)
        tables.append(table)
    return data, tables[0], tables[1]


def build_proxy(
    upstream: str,
    config: str | None = None,
    *,
    timeout: float = 30.0,
    trusted_proxies: tuple[str, ...] = (),
) -> CachingProxy:
    """The proxy app for ``upstream``, configured from the TOML file ``config``: its
    ``http`` table is the :class:`HttpPolicy`, its ``proxy`` table the
    :class:`~hitbox_http._edge.EdgePolicy`; ``trusted_proxies`` (``--trusted-proxy``)
    add to the table's."""
    cache_config, http_config, proxy_config = _load(config)
    if trusted_proxies:
        listed = proxy_config.get("trusted_proxies", [])
        if not isinstance(listed, list):
            listed = [listed]  # the EdgePolicy check names it
        proxy_config = {**proxy_config, "trusted_proxies": [*listed, *trusted_proxies]}
    edge = EdgePolicy.validated(proxy_config)
    cache = hitbox.Cache.from_config(cache_config) if cache_config else hitbox.Cache()
    return CachingProxy(
        upstream, HttpCache(cache, HttpPolicy.validated(http_config)), timeout=timeout, edge=edge
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
@click.option(
    "--admin",
    default=None,
    is_flag=False,
    flag_value=DEFAULT_ADMIN,
    metavar="[HOST:]PORT",
    help=f"Serve live counters for `hitbox stats` here (bare --admin: {DEFAULT_ADMIN}).",
)
@click.option(
    "--admin-token",
    envvar="HITBOX_ADMIN_TOKEN",
    default=None,
    help="Bearer token the admin endpoint requires; needed off loopback. "
    "Prefer the HITBOX_ADMIN_TOKEN variable (command lines are visible to other users).",
)
@click.option(
    "--trusted-proxy",
    multiple=True,
    metavar="ADDRESS[/BITS]",
    help="A proxy in front of this one whose forwarding headers are believed "
    "(repeatable; adds to [hitbox.proxy] trusted_proxies). Default: none, this is the edge.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes on the one listening socket. Workers share the --config "
    "backend (SQLite, Redis); the default memory backend is per worker.",
)
@click.option(
    "--http",
    "http",
    default="auto",
    show_default=True,
    type=click.Choice(HTTP_SERVERS),
    help="The HTTP/1.1 server. fast: hitbox's own, on httptools (hits are answered "
    "without a task); h11: uvicorn's pure-Python one; httptools: uvicorn's on httptools; "
    "auto: fast when httptools is installed, else h11. See docs/http.md.",
)
def proxy_command(
    upstream: str,
    listen: str,
    config: str | None,
    timeout: float,
    admin: str | None,
    admin_token: str | None,
    trusted_proxy: tuple[str, ...],
    workers: int,
    http: str,
) -> None:
    """Run a caching reverse proxy (RFC 9111) in front of UPSTREAM."""
    http = resolve_http(http)
    host, port = parse_listen(listen)
    if workers > 1 and admin is not None:
        raise hitbox.ConfigError(
            "--admin: the counters are per process; use it with --workers 1",
            field="admin",
            value=admin,
        )
    listener = None if admin is None else parse_admin(admin, admin_token, listen_port=port)
    # Built in this process even with workers: a bad --config fails here, in one line.
    proxy = build_proxy(upstream, config, timeout=timeout, trusted_proxies=trusted_proxy)
    if workers > 1 and config is None:
        click.echo(
            "hitbox proxy: the memory backend is per worker (each fills its own); "
            "share one with --config (sqlite or redis)",
            err=True,
        )

    def build_app() -> CachingProxy:
        # In each worker (after the fork or spawn): its own cache, client and event loop.
        return build_proxy(upstream, config, timeout=timeout, trusted_proxies=trusted_proxy)

    if http == "fast":
        code = run_on_fast_server(proxy, build_app, host, port, listener, workers)
    else:
        code = run_on_uvicorn(proxy, host, port, http, listener, workers, config, trusted_proxy)
    if code:
        sys.exit(code)
