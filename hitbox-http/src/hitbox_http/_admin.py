"""The admin endpoint: a cache's live counters as JSON, read by ``hitbox stats``.

:class:`AdminApp` is a tiny ASGI app answering ``GET /`` (and ``GET /stats``) with a
snapshot of a cache — an :class:`~hitbox_http.HttpCache` or a :class:`hitbox.Cache`::

    {"backend": "redis", "uptime": 3600.2, "breaker": null, "background_tasks": 0,
     "upstream": "http://127.0.0.1:9000",
     "stats": {"hits": 120, "misses": 7, ..., "requests": 130, "hit_ratio": 0.946}}

``hitbox proxy --admin`` serves it on its own listener — never on the proxied port,
whose paths belong to the origin — and routes connections by the local port they
arrived on (:class:`AdminRouter`), which the kernel sets, not the client.

Protection: with a ``token``, every request must carry ``Authorization: Bearer TOKEN``
(compared in constant time); ``hitbox proxy`` requires one whenever the listener is not
on a loopback address. Without a token the endpoint answers only requests whose ``Host``
is a loopback name or address, so a web page that rebinds its DNS name to 127.0.0.1
cannot read it from a browser on the same machine.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any, Protocol, final
from urllib.parse import urlsplit

import hitbox

from hitbox_http._asgi import ASGIApp, Receive, Scope, Send
from hitbox_http._headers import Headers

__all__ = ["AdminApp", "AdminRouter", "StatsSource", "is_loopback"]

_PATHS = frozenset({"/", "/stats"})


class StatsSource(Protocol):
    """What the admin endpoint reads: ``stats()`` and ``backend`` (both caches have them).

    An optional ``breaker_state`` attribute (``hitbox.Cache`` has one) is reported too.
    """

    def stats(self) -> hitbox.Stats:
        """Counters since creation."""
        ...

    @property
    def backend(self) -> hitbox.Backend:
        """The backend entries are stored in."""
        ...


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


@final
class AdminApp:
    """An ASGI app serving ``source``'s counters as JSON (see the module docstring).

    ``token`` protects it (``Authorization: Bearer TOKEN``); ``upstream`` is reported as
    is (user info removed). ``clock`` (monotonic seconds) measures the uptime, counted
    from when the app is created.
    """

    def __init__(
        self,
        source: StatsSource,
        *,
        token: str | None = None,
        upstream: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.upstream = None if upstream is None else _without_userinfo(upstream)
        self.clock = clock
        self._token = None if token is None else token.encode()
        self._started = clock()

    def snapshot(self) -> dict[str, Any]:
        """The JSON document the endpoint serves."""
        stats = self.source.stats()
        backend = self.source.backend
        counters: dict[str, Any] = {
            name: getattr(stats, name) for name in stats.__dataclass_fields__
        }
        counters["requests"] = stats.requests
        counters["hit_ratio"] = round(stats.hit_ratio, 4)
        return {
            "backend": str(getattr(backend, "label", "") or type(backend).__name__),
            "uptime": round(self.clock() - self._started, 3),
            "breaker": getattr(self.source, "breaker_state", None),
            "background_tasks": getattr(self.source, "background_tasks", None),
            "upstream": self.upstream,
            "stats": counters,
        }

    def _refusal(self, headers: Headers) -> tuple[int, str, list[tuple[str, str]]] | None:
        if self._token is not None:
            scheme, _, given = (headers.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self._token
            ):
                return 401, "a valid bearer token is required", [("www-authenticate", "Bearer")]
            return None
        host = headers.get("host") or ""
        # Host is "name[:port]" or "[v6]:port"; without a token it must name loopback.
        name = host.rpartition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
        if not is_loopback(name):
            return 403, f"Host {host!r} is not a loopback address", []
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = Headers(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        )
        refusal = self._refusal(headers)
        if refusal is not None:
            status, message, extra = refusal
            await _send_json(send, status, {"error": message}, extra)
        elif scope["path"] not in _PATHS:
            await _send_json(send, 404, {"error": f"no such path {scope['path']!r}"})
        elif scope["method"] not in ("GET", "HEAD"):
            await _send_json(send, 405, {"error": "use GET"}, [("allow", "GET, HEAD")])
        else:
            await _send_json(send, 200, self.snapshot(), head=scope["method"] == "HEAD")


async def _send_json(
    send: Send,
    status: int,
    document: dict[str, Any],
    extra: list[tuple[str, str]] | None = None,
    *,
    head: bool = False,
) -> None:
    body = json.dumps(document).encode() + b"\n"
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),
        *(extra or []),
    ]
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


@final
class AdminRouter:
    """One ASGI app for two listeners: connections to local port ``admin_port`` reach
    ``admin``, everything else (lifespan included) reaches ``app``."""

    def __init__(self, app: ASGIApp, admin: ASGIApp, admin_port: int) -> None:
        self.app = app
        self.admin = admin
        self.admin_port = admin_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "lifespan" and server is not None and server[1] == self.admin_port:
            await self.admin(scope, receive, send)
        else:
            await self.app(scope, receive, send)
