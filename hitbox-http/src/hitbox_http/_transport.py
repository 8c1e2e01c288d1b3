"""``AsyncCacheTransport``: client-side HTTP caching for httpx.

A private cache (RFC 9111 §1): it may store ``private`` responses and responses to
requests with ``Authorization`` — they are the user's own — and ignores ``s-maxage``.
Stale responses are revalidated with conditional requests; connection failures can be
covered by ``stale-if-error``.

Example::

    transport = AsyncCacheTransport(cache=MemoryBackend())
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://example.com/")   # stored
        await client.get("https://example.com/")   # from the cache
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, final

import hitbox
import httpx

from hitbox_http._config import HttpPolicy
from hitbox_http._engine import HttpCache, Streamed
from hitbox_http._headers import Headers
from hitbox_http._models import Request

__all__ = ["AsyncCacheTransport"]


@final
class _Body(httpx.AsyncByteStream):
    """An httpx response stream over the cache's body iterator."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


@final
class AsyncCacheTransport(httpx.AsyncBaseTransport):
    """An httpx transport that answers from a private RFC 9111 cache.

    ``transport`` is the transport that reaches the network (default: a new
    :class:`httpx.AsyncHTTPTransport`). ``cache`` is a :class:`hitbox.Cache`, a
    :class:`hitbox.Backend` or an :class:`HttpCache`. ``policy`` defaults to a private
    cache (``shared=False``).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        cache: hitbox.Cache | hitbox.Backend | HttpCache,
        policy: HttpPolicy | Mapping[str, Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()
        if isinstance(cache, HttpCache):
            self.cache = cache
        else:
            if policy is None:
                policy = HttpPolicy(shared=False, unkeyed_headers=())
            self.cache = HttpCache(cache, policy, clock=clock)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the cache or through the wrapped transport."""
        items = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers.raw]
        ours = Request(request.method, str(request.url), Headers(items))

        async def send(upstream: Request) -> Streamed:
            outgoing = httpx.Request(
                upstream.method,
                request.url,
                headers=[(name, value) for name, value in upstream.headers],
                stream=request.stream,
                extensions=request.extensions,
            )
            response = await self.transport.handle_async_request(outgoing)
            headers = Headers(
                (n.decode("latin-1"), v.decode("latin-1")) for n, v in response.headers.raw
            )
            return Streamed(response.status_code, headers, _chunks(response))

        streamed = await self.cache.handle(ours, send)
        return httpx.Response(
            streamed.status,
            headers=[(name, value) for name, value in streamed.headers],
            stream=_Body(streamed.body),
            request=request,
        )

    async def aclose(self) -> None:
        """Close the wrapped transport and stop background revalidations."""
        await self.cache.aclose()
        await self.transport.aclose()


async def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    stream = response.stream
    try:
        assert isinstance(stream, httpx.AsyncByteStream)
        async for chunk in stream:
            yield chunk
    finally:
        await response.aclose()
