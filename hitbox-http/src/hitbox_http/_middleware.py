"""``CacheMiddleware``: an RFC 9111 shared cache in front of any ASGI application.

Works with Starlette, FastAPI or a bare ASGI callable, and composes with other middleware
(it only wraps ``send``). Responses it will not store stream through unbuffered —
server-sent events included; a response it stores is copied while it streams, up to
``max_body_size``. Routes given as ``routes=[Route(...)]`` run in application mode
(see :mod:`hitbox_http._routes`) through the core :class:`hitbox.Cache`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

import hitbox

from hitbox_http._app_mode import AppModeRunner
from hitbox_http._asgi import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    collect_app_response,
    has_valid_authority,
    request_from_scope,
    scope_for,
    with_cache_status,
)
from hitbox_http._cache_status import CacheStatus
from hitbox_http._config import HttpPolicy
from hitbox_http._engine import Answer, Exchange, HttpCache
from hitbox_http._headers import Headers
from hitbox_http._models import Response
from hitbox_http._routes import Route
from hitbox_http._spec import Forward, ResponsePlan

__all__ = ["CacheMiddleware"]


@final
class CacheMiddleware:
    """Cache an ASGI application's responses as RFC 9111 prescribes.

    ``cache`` is a :class:`hitbox.Cache` (its backend, clock, lock timeout and backend
    timeout are used; application-mode routes run through it), a bare
    :class:`hitbox.Backend`, or an :class:`HttpCache`. ``policy`` tunes the HTTP rules
    (:class:`HttpPolicy` or a mapping of its fields).

    Example::

        app = Starlette(routes=[...])
        app = CacheMiddleware(app, cache=hitbox.Cache(MemoryBackend()))
    """

    def __init__(
        self,
        app: ASGIApp,
        cache: hitbox.Cache | hitbox.Backend | HttpCache,
        *,
        policy: HttpPolicy | Mapping[str, Any] | None = None,
        routes: Sequence[Route] = (),
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.app = app
        if isinstance(cache, HttpCache):
            if policy is not None:
                raise hitbox.ConfigError(
                    "policy: give it to the HttpCache, not to the middleware", field="policy"
                )
            self.http = cache
        else:
            self.http = HttpCache(cache, policy, clock=clock)
        self.routes: AppModeRunner | None = None
        if routes:
            if not isinstance(cache, hitbox.Cache):
                raise hitbox.ConfigError(
                    "routes: application mode needs cache=hitbox.Cache(...), "
                    f"got {type(cache).__name__}",
                    field="routes",
                )
            self.routes = AppModeRunner(cache, routes, self.http.policy, clock=self.http.clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = request_from_scope(scope)
        if not has_valid_authority(request):
            status = CacheStatus(self.http.policy.cache_name, fwd="bypass", detail="invalid-host")
            await self.app(scope, receive, with_cache_status(send, status))
            return
        if self.routes is not None and await self.routes.handle(
            self.app, scope, receive, send, request
        ):
            return

        async def origin(exchange: Exchange, background: bool) -> Answer:
            if background:
                return await self._revalidate(exchange, scope)
            return await self._forward(exchange, scope, receive, send)

        answer = await self.http.serve(request, origin)
        if answer.response is not None:
            await _send_response(send, answer.response)

    async def _forward(
        self, exchange: Exchange, scope: Scope, receive: Receive, send: Send
    ) -> Answer:
        """Run the application for ``exchange``, streaming its response to the client."""
        for _ in range(2):
            forward = exchange.forward
            upstream_scope = (
                scope if forward.request is forward.client else scope_for(scope, forward.request)
            )
            relay = _Relay(self.http, exchange, send)
            try:
                await self.app(upstream_scope, receive, relay.send)
            except Exception:
                if relay.started:
                    raise
                stale = self.http.on_upstream_error(exchange)
                if stale is None:
                    raise
                return Answer(stale)
            if relay.retry is None:
                return relay.answer()
            exchange.decision = relay.retry
        raise AssertionError("validation retried twice")  # pragma: no cover

    async def _revalidate(self, exchange: Exchange, scope: Scope) -> Answer:
        """Run the application for a background revalidation; nobody waits on it."""
        for _ in range(2):
            request_time = self.http.clock()
            response = await collect_app_response(self.app, scope, exchange.forward.request)
            plan = self.http.plan(
                exchange, response.status, response.headers, request_time=request_time
            )
            if plan.retry is None:
                return self.http.answer(plan, response.body)
            exchange.decision = plan.retry
        raise AssertionError("validation retried twice")  # pragma: no cover


@final
class _Relay:
    """The ``send`` given to the application for one forwarded request."""

    __slots__ = (
        "_body",
        "_exchange",
        "_http",
        "_kept",
        "_plan",
        "_request_time",
        "_send",
        "_size",
        "retry",
        "started",
    )

    def __init__(self, http: HttpCache, exchange: Exchange, send: Send) -> None:
        self._http = http
        self._exchange = exchange
        self._send = send
        self._plan: ResponsePlan | None = None
        self._kept: list[bytes] | None = None
        self._size = 0
        self._body: bytes | None = None
        self._request_time = http.clock()
        self.retry: Forward | None = None
        self.started = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._start(message)
        elif kind == "http.response.body":
            await self._body_chunk(message)
        elif self.retry is None and self._plan is not None and self._plan.body is None:
            if kind == "http.response.pathsend":
                self._kept = None  # a file sent by path is not copied
            await self._send(message)

    async def _start(self, message: Message) -> None:
        headers = Headers.from_raw(message.get("headers") or ())
        plan = self._http.plan(
            self._exchange, int(message["status"]), headers, request_time=self._request_time
        )
        if plan.retry is not None:
            self.retry = plan.retry
            return
        self._plan = plan
        self.started = True
        self._kept = [] if plan.store is not None else None
        if plan.body is not None:
            await _send_response(self._send, Response(plan.status, plan.headers, plan.body))
            return
        if plan.store is None:
            # Nothing to keep: waiting requests need not wait for this body (it may be an
            # endless event stream).
            self._http.let_waiters_go(self._exchange)
        start = dict(message)
        start["status"] = plan.status
        start["headers"] = plan.headers.raw()
        await self._send(start)

    async def _body_chunk(self, message: Message) -> None:
        if self.retry is not None or self._plan is None:
            return
        chunk = message.get("body", b"")
        if self._kept is not None:
            self._size += len(chunk)
            if self._size > self._http.policy.max_body_size:
                self._kept = None
            else:
                self._kept.append(bytes(chunk))
        if self._plan.body is None:
            await self._send(message)
        if not message.get("more_body", False) and self._kept is not None:
            self._body = b"".join(self._kept)

    def answer(self) -> Answer:
        """What the application answered, already sent to the client, once it returned."""
        if self._plan is None:  # the application returned without starting a response
            return Answer()
        return self._http.answer(self._plan, self._body)


async def _send_response(send: Send, response: Response) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": response.headers.raw(),
        }
    )
    await send({"type": "http.response.body", "body": response.body, "more_body": False})
