"""Running the proxy app on a server: hitbox's own (:func:`run_on_fast_server`) or
uvicorn's (:func:`run_on_uvicorn`), in one process or several, with the admin endpoint
as a second listener when asked."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import hitbox

from hitbox_http._admin import AdminApp, AdminRouter
from hitbox_http._proxy import CachingProxy

if TYPE_CHECKING:
    from hitbox_http._cli import AdminListener

__all__ = ["allow_any_status", "run_on_fast_server", "run_on_uvicorn"]

STARTUP_FAILURE: Final = 3
"""The exit status when the server could not start (uvicorn's)."""


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


def run_on_fast_server(
    proxy: CachingProxy,
    build_app: Callable[[], CachingProxy],
    host: str,
    port: int,
    listener: AdminListener | None,
    workers: int,
) -> int:
    """Serve ``proxy`` on hitbox's own server (:mod:`hitbox_http._http1_server`) until
    SIGINT/SIGTERM; with ``workers`` > 1, ``build_app`` builds each worker's proxy. The
    exit status."""
    from hitbox_http._http1_server import bind, run, run_workers

    if workers > 1:
        if not hasattr(os, "fork"):
            raise hitbox.ConfigError(
                "--workers: the fast server forks its workers, which this platform cannot;"
                " use --http h11",
                field="workers",
                value=workers,
            )

        def worker_app() -> tuple[Any, Any]:
            app = build_app()
            return app, app.respond_now

        return run_workers(worker_app, host, port, workers)
    try:
        sockets = [bind(host, port)]
    except OSError as exc:
        raise hitbox.ConfigError(
            f"--listen {host}:{port}: cannot listen: {exc.strerror or exc}",
            field="listen",
            value=f"{host}:{port}",
        ) from None
    app: Any = proxy
    answer_now = proxy.respond_now
    if listener is not None:
        endpoint = AdminApp(proxy.cache, token=listener.token, upstream=proxy.upstream)
        app = AdminRouter(proxy, endpoint, listener.port)
        admin_socket = listener.bind()
        admin_socket.listen(128)
        admin_socket.setblocking(False)
        sockets.append(admin_socket)
        admin_port = listener.port

        def answer_now(scope: Any) -> Any:
            # The admin listener's requests are the admin app's, never the cache's.
            return None if scope["server"][1] == admin_port else proxy.respond_now(scope)

    with contextlib.suppress(KeyboardInterrupt):
        if not run(app, sockets, answer_now=answer_now):
            return STARTUP_FAILURE
    return 0


def run_on_uvicorn(
    proxy: CachingProxy,
    host: str,
    port: int,
    http: str,
    listener: AdminListener | None,
    workers: int,
    config: str | None,
    trusted_proxy: tuple[str, ...],
) -> int:
    """Serve ``proxy`` on uvicorn's ``http`` server (``h11`` or ``httptools``) until
    SIGINT/SIGTERM; with ``workers`` > 1 under its supervisor (see ``_workers``). The
    exit status."""
    import uvicorn

    if workers > 1:
        _run_uvicorn_workers(uvicorn, proxy, host, port, http, workers, config, trusted_proxy)
        return 0
    app: Any = proxy
    sockets = None
    if listener is not None:
        endpoint = AdminApp(proxy.cache, token=listener.token, upstream=proxy.upstream)
        app = AdminRouter(proxy, endpoint, listener.port)
        admin_socket = listener.bind()
    allow_any_status()
    server_config = uvicorn.Config(app, host=host, port=port, **_server_settings(http))
    if listener is not None:
        # One server, two listeners: the router tells them apart by local port.
        sockets = [server_config.bind_socket(), admin_socket]
    server = uvicorn.Server(server_config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    # uvicorn has logged why it did not start (as uvicorn.run does).
    return 0 if server.started else STARTUP_FAILURE


def _server_settings(http: str) -> dict[str, Any]:
    return {
        "server_header": False,
        "date_header": False,
        "lifespan": "on",
        "log_level": "warning",
        # The proxy decides whom to believe (--trusted-proxy): uvicorn must not rewrite
        # the client address from a client's X-Forwarded-For (it trusts 127.0.0.1 by
        # default), or a local client could claim any address.
        "proxy_headers": False,
        # h11 by default: uvicorn's httptools server answers CONNECT and a request with
        # both Content-Length and Transfer-Encoding itself, before the proxy's edge
        # checks (docs/http.md); _httptools keeps absolute-form targets visible to them.
        # The event loop is uvloop when installed ("auto"), else asyncio.
        "http": _http_protocol(http),
        "loop": "auto",
    }


def _http_protocol(http: str) -> Any:
    if http == "httptools":
        from hitbox_http._httptools import TargetKeepingProtocol

        return TargetKeepingProtocol
    return http


def _run_uvicorn_workers(
    uvicorn: Any,
    proxy: CachingProxy,
    host: str,
    port: int,
    http: str,
    workers: int,
    config: str | None,
    trusted_proxy: tuple[str, ...],
) -> None:
    """Serve with ``workers`` processes under uvicorn's supervisor (see ``_workers``)."""
    from uvicorn.supervisors import Multiprocess

    from hitbox_http._workers import settings_to_environment

    settings_to_environment(proxy.upstream, config, proxy.timeout, trusted_proxy)
    server_config = uvicorn.Config(
        "hitbox_http._workers:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **_server_settings(http),
    )
    Multiprocess(server_config, sockets=[server_config.bind_socket()]).run()
