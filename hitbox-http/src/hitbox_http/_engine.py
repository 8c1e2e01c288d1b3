"""The HTTP cache with I/O: :class:`HttpCache` runs the sans-I/O spec against a backend.

Integrations drive one :class:`Exchange` per request:

1. ``exchange = await cache.begin(request)`` — looks up stored responses, decides, and
   for a cold key either becomes the key's leader or waits for the leader (single-flight)
   and looks again. Waiters only ever receive what the leader *stored* and what RFC 9111
   lets them reuse, so a response that was not storable (``private``, ``Set-Cookie``…)
   never reaches another client.
2. On a :class:`Forward`, send ``exchange.forward.request`` upstream, then
   ``plan = cache.plan(exchange, status, headers, request_time=...)``.
3. ``await cache.complete(exchange, plan, body)`` stores, freshens and invalidates, and
   releases the key. ``cache.release(exchange)`` (idempotent) belongs in a ``finally``.

:meth:`HttpCache.handle` does all of it for pull-style upstreams (the proxy, the httpx
transport); the ASGI middleware drives the steps itself to stream the application's
messages without an extra task.

:meth:`HttpCache.stats` counts what the steps did (see :mod:`hitbox_http._counters`);
the proxy's admin endpoint serves it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, cast, final

import hitbox

from hitbox_http._config import HttpPolicy
from hitbox_http._counters import HttpCounters
from hitbox_http._headers import Headers
from hitbox_http._models import Request, Response
from hitbox_http._spec import Forward, Hit, HttpCacheSpec, ResponsePlan
from hitbox_http._store import HttpStore, Lookup

__all__ = ["Exchange", "HttpCache", "Streamed", "UpstreamError"]

logger = logging.getLogger("hitbox_http")


class UpstreamError(hitbox.HitboxError):
    """The origin could not be reached or did not answer in time, and nothing stale could
    be served instead. ``timeout`` tells a 504 from a 502."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


@final
@dataclass(slots=True)
class Streamed:
    """A response whose body arrives in chunks; iterate ``body`` to the end or close it."""

    status: int
    headers: Headers
    body: AsyncIterator[bytes]


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


@final
class Exchange:
    """One request passing through the cache (see the module docstring)."""

    __slots__ = ("_leader", "decision", "lookup", "request")

    def __init__(self, request: Request, decision: Hit | Forward, lookup: Lookup | None) -> None:
        self.request = request
        self.decision = decision
        self.lookup = lookup
        self._leader: str | None = None

    @property
    def forward(self) -> Forward:
        """The request to send upstream (only valid when the decision is a forward)."""
        assert isinstance(self.decision, Forward)
        return self.decision


@final
class HttpCache:
    """An RFC 9111 cache over a hitbox backend (or a :class:`hitbox.Cache`'s backend).

    Example::

        http_cache = HttpCache(MemoryBackend(), HttpPolicy())
        response = await http_cache.handle(request, send_upstream)
    """

    def __init__(
        self,
        backend: hitbox.Backend | hitbox.Cache,
        policy: HttpPolicy | Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        lock_timeout: float = 5.0,
        backend_timeout: float = 0.25,
        max_background: int = 64,
    ) -> None:
        if isinstance(backend, hitbox.Cache):
            clock = clock if clock is not None else backend.clock
            lock_timeout = backend.policy.lock_timeout
            backend_timeout = backend.policy.backend_timeout
            backend = backend.backend
        self.policy = HttpPolicy.validated(policy or {})
        self.clock: Callable[[], float] = clock if clock is not None else time.time
        self.spec = HttpCacheSpec(self.policy, clock=self.clock)
        self.counters = HttpCounters()
        self.warnings = hitbox.RateLimitedLogger(logger, clock=self.clock)
        self.store = HttpStore(
            backend,
            self.policy,
            clock=self.clock,
            timeout=backend_timeout,
            counters=self.counters,
            warnings=self.warnings,
        )
        self.lock_timeout = lock_timeout
        self.max_background = max_background
        self._flights: dict[str, asyncio.Event] = {}
        self._revalidating: dict[str, asyncio.Task[None]] = {}

    def _timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        # A hitbox.Clock (e.g. ManualClock in tests) brings its own timeouts.
        timeout = getattr(self.clock, "timeout", None)
        if timeout is not None:
            return cast(AbstractAsyncContextManager[object], timeout(seconds))
        return asyncio.timeout(seconds)

    # -- introspection ------------------------------------------------------------------

    def stats(self) -> hitbox.Stats:
        """Counters since creation, in the shape ``hitbox.Cache.stats()`` returns."""
        return self.counters.snapshot()

    @property
    def backend(self) -> hitbox.Backend:
        """The backend responses are stored in."""
        return self.store.backend

    @property
    def background_tasks(self) -> int:
        """Background revalidations running now."""
        return len(self._revalidating)

    # -- the steps ----------------------------------------------------------------------

    async def begin(self, request: Request) -> Exchange:
        """Decide what to do with ``request`` (see the module docstring)."""
        if request.method not in ("GET", "HEAD"):
            return Exchange(request, self.spec.on_request(request, ()), None)
        lookup = await self.store.lookup(request)
        decision = self.spec.on_request(request, lookup.responses, variants_exist=lookup.found_any)
        exchange = Exchange(request, decision, lookup)
        if not (isinstance(decision, Forward) and decision.may_store):
            self.counters.count(decision)
            return exchange
        flight = self._flights.get(lookup.key)
        if flight is None:
            self._flights[lookup.key] = asyncio.Event()
            exchange._leader = lookup.key
            self.counters.count(decision)
            return exchange
        self.counters.locked += 1
        try:
            async with self._timeout(self.lock_timeout):
                await flight.wait()
        except TimeoutError:
            self.counters.count(decision)
            return exchange  # the leader is slow: go upstream without waiting longer
        lookup = await self.store.lookup(request)
        decision = self.spec.on_request(
            request, lookup.responses, variants_exist=lookup.found_any, collapsed=True
        )
        self.counters.count(decision)
        return Exchange(request, decision, lookup)

    def plan(
        self,
        exchange: Exchange,
        status: int,
        headers: Headers,
        *,
        request_time: float,
        response_time: float | None = None,
    ) -> ResponsePlan:
        """What to send and keep, given the origin's response head."""
        self.counters.upstream_calls += 1
        length = headers.get("content-length")
        too_large = bool(length and length.isdigit() and int(length) > self.policy.max_body_size)
        plan = self.spec.on_response(
            exchange.forward,
            status,
            headers,
            request_time=request_time,
            response_time=self.clock() if response_time is None else response_time,
            too_large=too_large,
        )
        if plan.stale:
            self.counters.stale += 1
        return plan

    async def complete(self, exchange: Exchange, plan: ResponsePlan, body: bytes | None) -> None:
        """Apply ``plan``: invalidate, freshen, store ``body`` (the origin's full body, or
        ``None`` if it was not kept); then release the key."""
        try:
            for url in plan.invalidate:
                await self.store.invalidate(url, exchange.request.headers)
            lookup = exchange.lookup
            if lookup is not None:
                for updated in plan.updates:
                    await self.store.store(lookup, updated)
                if (
                    plan.store is not None
                    and body is not None
                    and len(body) <= self.policy.max_body_size
                ):
                    await self.store.store(lookup, plan.store.with_body(body))
        finally:
            self.release(exchange)

    def release(self, exchange: Exchange) -> None:
        """Let requests waiting on this exchange's key go on. Idempotent."""
        key = exchange._leader
        if key is not None:
            exchange._leader = None
            flight = self._flights.pop(key, None)
            if flight is not None:
                flight.set()

    def on_upstream_error(self, exchange: Exchange) -> Response | None:
        """A stale response to send because the origin failed (stale-if-error), or None."""
        self.counters.upstream_calls += 1
        stale = self.spec.on_error(exchange.forward)
        if stale is not None:
            self.counters.stale += 1
        return stale

    # -- stale-while-revalidate ---------------------------------------------------------

    def revalidate_in_background(
        self, exchange: Exchange, fetch: Callable[[Request], Awaitable[Response]]
    ) -> None:
        """Start the revalidation a stale-while-revalidate hit asks for (one per key)."""
        decision = exchange.decision
        if not isinstance(decision, Hit) or decision.revalidate is None:
            return
        lookup = exchange.lookup
        if lookup is None or lookup.key in self._revalidating:
            return
        if len(self._revalidating) >= self.max_background:
            return
        forward = decision.revalidate
        self.counters.refreshes += 1
        task = asyncio.get_running_loop().create_task(self._revalidate(lookup, forward, fetch))
        self._revalidating[lookup.key] = task
        task.add_done_callback(lambda _: self._revalidating.pop(lookup.key, None))

    async def _revalidate(
        self, lookup: Lookup, forward: Forward, fetch: Callable[[Request], Awaitable[Response]]
    ) -> None:
        exchange = Exchange(forward.client, forward, lookup)
        try:
            for _ in range(2):
                request_time = self.clock()
                try:
                    response = await fetch(exchange.forward.request)
                except Exception:
                    self.counters.upstream_calls += 1  # a failed attempt is still a call
                    raise
                plan = self.plan(
                    exchange, response.status, response.headers, request_time=request_time
                )
                if plan.retry is None:
                    await self.complete(exchange, plan, response.body)
                    return
                exchange.decision = plan.retry
        except Exception as exc:
            logger.debug("background revalidation of %r failed: %r", lookup.key, exc)
            self.warnings.warning(
                "revalidation", "hitbox-http: a background revalidation failed: %r", exc
            )

    # -- pull-style driver --------------------------------------------------------------

    async def handle(
        self, request: Request, send: Callable[[Request], Awaitable[Streamed]]
    ) -> Streamed:
        """Answer ``request``, calling ``send`` for what must go upstream.

        ``send`` raises :class:`UpstreamError` (or any exception) when the origin fails;
        a stale response is served instead when allowed, else the error propagates.
        """
        exchange = await self.begin(request)
        decision = exchange.decision
        if isinstance(decision, Hit):
            if decision.revalidate is not None:
                self.revalidate_in_background(exchange, lambda r: _buffered(send, r))
            response = decision.response
            return Streamed(response.status, response.headers, _once(response.body))
        try:
            for _ in range(2):
                request_time = self.clock()
                try:
                    upstream = await send(exchange.forward.request)
                except Exception:
                    stale = self.on_upstream_error(exchange)
                    if stale is None:
                        raise
                    self.release(exchange)
                    return Streamed(stale.status, stale.headers, _once(stale.body))
                plan = self.plan(
                    exchange, upstream.status, upstream.headers, request_time=request_time
                )
                if plan.retry is None:
                    break
                await _close(upstream.body)
                exchange.decision = plan.retry
            else:  # pragma: no cover - the spec retries at most once
                raise AssertionError("validation retried twice")
            if plan.body is not None:
                body = None
                if plan.store is not None:
                    body = await _read_all(upstream.body, self.policy.max_body_size)
                else:
                    await _close(upstream.body)
                await self.complete(exchange, plan, body)
                return Streamed(plan.status, plan.headers, _once(plan.body))
            if plan.store is None:
                await self.complete(exchange, plan, None)
                return Streamed(plan.status, plan.headers, upstream.body)
            return Streamed(plan.status, plan.headers, self._tee(exchange, plan, upstream.body))
        except BaseException:
            self.release(exchange)
            raise

    async def _tee(
        self, exchange: Exchange, plan: ResponsePlan, body: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        """Stream ``body`` to the client, keeping a copy to store (up to the size limit)."""
        kept: list[bytes] | None = []
        size = 0
        try:
            async for chunk in body:
                if kept is not None:
                    size += len(chunk)
                    if size > self.policy.max_body_size:
                        kept = None
                    else:
                        kept.append(chunk)
                yield chunk
            await self.complete(exchange, plan, None if kept is None else b"".join(kept))
        finally:
            self.release(exchange)
            await _close(body)

    async def aclose(self) -> None:
        """Cancel background revalidations."""
        tasks = list(self._revalidating.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(body: AsyncIterator[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


async def _read_all(body: AsyncIterator[bytes], limit: int) -> bytes | None:
    """The whole body, or ``None`` if it is longer than ``limit`` (it is still drained)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in body:
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
    finally:
        await _close(body)
    return b"".join(chunks) if size <= limit else None


async def _buffered(send: Callable[[Request], Awaitable[Streamed]], request: Request) -> Response:
    streamed = await send(request)
    chunks = [chunk async for chunk in streamed.body]
    return Response(streamed.status, streamed.headers, b"".join(chunks))
