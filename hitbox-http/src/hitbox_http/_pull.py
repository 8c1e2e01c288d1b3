"""Pull-style origins: :class:`PullOrigin` answers through ``send(request) -> Streamed``,
as the reverse proxy and the httpx transport reach their upstreams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, final

from hitbox_http._answer import Answer, Streamed, chain, close_body, read_all, read_prefix
from hitbox_http._decisions import ResponsePlan
from hitbox_http._models import Request, Response

if TYPE_CHECKING:
    from hitbox_http._engine import Exchange, HttpCache

__all__ = ["PullOrigin"]


@final
class PullOrigin:
    """An :data:`~hitbox_http._engine.Origin` over ``send``. A response the cache stores
    is read whole (up to ``max_body_size``) before it is answered; any other streams."""

    __slots__ = ("cache", "send")

    def __init__(self, cache: HttpCache, send: Callable[[Request], Awaitable[Streamed]]) -> None:
        self.cache = cache
        self.send = send

    async def __call__(self, exchange: Exchange, background: bool) -> Answer:
        try:
            return await self._fetch(exchange)
        except Exception:  # no answer, or its body failed while read to be stored
            stale = None if background else self.cache.on_upstream_error(exchange)
            if stale is None:
                raise
            return Answer(stale)

    async def _fetch(self, exchange: Exchange) -> Answer:
        cache = self.cache
        for _ in range(2):
            request_time = cache.clock()
            upstream = await self.send(exchange.forward.request)
            plan = cache.plan(
                exchange, upstream.status, upstream.headers, request_time=request_time
            )
            if plan.retry is None:
                return await self._answer(plan, upstream.body)
            await close_body(upstream.body)
            exchange.decision = plan.retry
        raise AssertionError("validation retried twice")  # pragma: no cover

    async def _answer(self, plan: ResponsePlan, body: AsyncIterator[bytes]) -> Answer:
        """The answer for ``plan`` whose origin body is ``body``: read whole (up to the
        size limit) if the plan stores it, else streamed."""
        if plan.body is not None:  # a 304 answered with the stored body, or a HEAD
            kept = None
            if plan.store is not None:
                kept = await read_all(body, self.cache.policy.max_body_size)
            else:
                await close_body(body)
            return self.cache.answer(
                plan, kept, response=Response(plan.status, plan.headers, plan.body)
            )
        if plan.store is None:
            return self.cache.answer(plan, None, stream=Streamed(plan.status, plan.headers, body))
        head, rest = await read_prefix(body, self.cache.policy.max_body_size)
        if rest is None:
            whole = b"".join(head)
            return self.cache.answer(
                plan, whole, response=Response(plan.status, plan.headers, whole)
            )
        # Too large to keep: send what was read, then the rest, without storing.
        return self.cache.answer(
            plan, None, stream=Streamed(plan.status, plan.headers, chain(head, rest))
        )
