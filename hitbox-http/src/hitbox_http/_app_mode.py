"""Running application-mode routes through the core :class:`hitbox.Cache`.

Each route becomes one ``@cache.cached`` function keyed by the route's key, with the
route's ``ttl``/``max_stale``/``stale_if_error`` and a ``cacheable`` predicate that
applies the RFC's privacy rules to the buffered response. A result the predicate refuses
is returned to the request that produced it and to nobody else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, final
from urllib.parse import urlsplit

import hitbox

from hitbox_http._asgi import ASGIApp, Message, Receive, Scope, Send, with_cache_status
from hitbox_http._cache_status import CacheStatus
from hitbox_http._config import HttpPolicy
from hitbox_http._dates import format_http_date
from hitbox_http._directives import RequestDirectives, ResponseDirectives
from hitbox_http._fields import parse_vary
from hitbox_http._freshness import response_directives, stale_prohibited
from hitbox_http._headers import Headers
from hitbox_http._models import Request
from hitbox_http._routes import Route, RouteRequest
from hitbox_http._surrogate import outgoing_headers
from hitbox_http._validation import client_condition_met, not_modified_headers

__all__ = ["AppModeRunner"]

_MAX_REQUEST_BODY = 1024 * 1024


@final
@dataclass(slots=True)
class _Call:
    """One request's context, passed to the cached function beside its key."""

    app: ASGIApp
    scope: Scope
    receive: Receive
    ran: bool = False
    headers: list[tuple[str, str]] = field(default_factory=list)


def _storable(route: Route, policy: HttpPolicy, result: dict[str, Any]) -> bool:
    headers = Headers(result["headers"])
    if result["status"] not in route.statuses:
        return False
    limit = policy.max_body_size if route.max_body_size is None else route.max_body_size
    if len(result["body"]) > limit:
        return False
    # Surrogate-Control (and targeted fields) replace Cache-Control here as in RFC mode;
    # Cache-Control's private never stops counting.
    directives, _ = response_directives(headers, policy)
    private = ResponseDirectives.parse(headers.get_all("cache-control")).private
    if private or directives.private or directives.no_store or directives.no_cache:
        return False
    if "set-cookie" in headers and not policy.strip_set_cookie:
        return False
    serves_stale = route.max_stale > 0 or route.stale_if_error > 0
    if serves_stale and stale_prohibited(directives, policy):
        # RFC 9111 §4.2.4: the core serves a route's stored results stale (max_stale with
        # a background refresh, stale_if_error; the route's values always apply) without
        # asking the origin. A response that forbids that (must-revalidate,
        # proxy-revalidate, s-maxage) is not stored by a route that could.
        return False
    # The key decides which requests share a response; a Vary on anything else could
    # hand one client's variant to another.
    return set(parse_vary(headers)) <= route.header_names()


@final
class AppModeRunner:
    """Matches requests against routes and serves matching ones through ``cache``."""

    def __init__(
        self,
        cache: hitbox.Cache,
        routes: Sequence[Route],
        policy: HttpPolicy,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.policy = policy
        self.clock = clock
        self._routes: list[tuple[Route, Any]] = []
        for position, route in enumerate(routes):
            named = route if route.name else _renamed(route, str(position))
            self._routes.append((named, self._cached(cache, named)))

    def _cached(self, cache: hitbox.Cache, route: Route) -> Any:
        policy, clock = self.policy, self.clock

        async def run_route(key: str, call: _Call) -> dict[str, Any]:
            call.ran = True
            status = 500
            chunks: list[bytes] = []

            async def send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    call.headers = [
                        (name.decode("latin-1").lower(), value.decode("latin-1"))
                        for name, value in message.get("headers") or ()
                    ]
                elif message["type"] == "http.response.body":
                    chunks.append(bytes(message.get("body", b"")))

            await call.app(call.scope, call.receive, send)
            headers = call.headers
            if policy.strip_set_cookie:
                headers = [(n, v) for n, v in headers if n not in ("set-cookie", "set-cookie2")]
            return {
                "status": status,
                "headers": headers,
                "body": b"".join(chunks),
                "stored_at": clock(),
            }

        return cache.cached(
            key="{key}",
            ttl=route.ttl,
            max_stale=route.max_stale,
            stale_if_error=route.stale_if_error,
            cacheable=lambda result: _storable(route, policy, result),
        )(run_route)

    async def handle(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, request: Request
    ) -> bool:
        """Serve ``request`` if a route matches it; ``False`` leaves it to RFC mode."""
        if "authorization" in request.headers:
            return False
        directives = RequestDirectives.parse(
            request.headers.get_all("cache-control"), request.headers.get_all("pragma")
        )
        if directives.no_store or directives.no_cache:
            return False
        route_request = RouteRequest.from_url(request.method, request.url, request.headers)
        matched = _first_match(self._routes, route_request)
        if matched is None:
            return False
        route, cached = matched
        if request.has_body and not route.needs_body:
            return False  # a key that ignores the body cannot cache it (see RFC mode)
        if route.needs_body:
            chunks, complete = await _read_body(receive)
            receive = _replay(chunks, None if complete else receive)
            if not complete:
                # Too large (or cut short) to key on: pass through, nothing read is lost.
                status = CacheStatus(self.policy.cache_name, fwd="bypass", detail="body-too-large")
                await app(scope, receive, with_cache_status(send, status))
                return True
            route_request.body = b"".join(chunks)
        parts = urlsplit(request.url)
        key = route.cache_key(route_request, parts.netloc.lower(), parts.query)
        call = _Call(app, scope, receive)
        result: dict[str, Any] = await cached(key, call)
        await self._respond(send, request, route, result, call)
        return True

    async def _respond(
        self, send: Send, request: Request, route: Route, result: dict[str, Any], call: _Call
    ) -> None:
        headers = Headers(result["headers"])
        if call.ran:
            stored = _storable(route, self.policy, result)
            status = CacheStatus(
                self.policy.cache_name, fwd="miss", fwd_status=result["status"], stored=stored
            )
            # The client whose request produced the response gets its cookies.
            if self.policy.strip_set_cookie:
                for name, value in call.headers:
                    if name in ("set-cookie", "set-cookie2"):
                        headers = headers.add(name, value)
        else:
            age = max(0.0, self.clock() - result["stored_at"])
            headers = headers.set("age", str(int(age)))
            status = CacheStatus(self.policy.cache_name, hit=True, ttl=route.ttl - age)
        if "date" not in headers:
            headers = headers.add("date", format_http_date(result["stored_at"]))
        headers = status.apply(outgoing_headers(headers, self.policy))
        code, body = result["status"], result["body"]
        if code == 200 and client_condition_met(request, headers, result["stored_at"]):
            code, body, headers = 304, b"", not_modified_headers(headers)
        await send({"type": "http.response.start", "status": code, "headers": headers.raw()})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _first_match(
    routes: list[tuple[Route, Any]], request: RouteRequest
) -> tuple[Route, Any] | None:
    for route, cached in routes:
        request.path_params.clear()
        if route.when(request):
            return route, cached
    return None


def _renamed(route: Route, name: str) -> Route:
    return Route(
        route.when,
        route.ttl,
        route.key,
        route.max_stale,
        route.stale_if_error,
        route.statuses,
        route.max_body_size,
        name,
    )


async def _read_body(receive: Receive) -> tuple[list[bytes], bool]:
    """The request body's chunks, and whether that is all of it (within the limit)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks, False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks, True
        if size > _MAX_REQUEST_BODY:
            return chunks, False


def _replay(chunks: list[bytes], rest: Receive | None) -> Receive:
    """A ``receive`` that replays ``chunks`` first, then reads on from ``rest``."""
    pending = list(chunks)

    async def receive() -> Message:
        if pending:
            chunk = pending.pop(0)
            more = bool(pending) or rest is not None
            return {"type": "http.request", "body": chunk, "more_body": more}
        if rest is not None:
            return await rest()
        return {"type": "http.disconnect"}

    return receive
