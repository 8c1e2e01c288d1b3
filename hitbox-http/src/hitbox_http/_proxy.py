"""A caching reverse proxy as an ASGI application: :class:`CachingProxy`.

Requests are forwarded to one upstream origin through a pooled :class:`httpx.AsyncClient`
and answered through :class:`HttpCache`. The proxy:

- removes hop-by-hop fields both ways (``Connection`` and what it lists, ``Keep-Alive``,
  ``TE``, ``Transfer-Encoding``, ``Upgrade``, ``Proxy-*``) and keeps repeated fields;
- streams request bodies upstream and response bodies downstream;
- maps an unreachable upstream to 502 and an upstream timeout to 504 (or serves stale
  under ``stale-if-error``);
- passes any three-digit status through; a response with broken framing fails alone —
  httpx drops that connection, so the pool never hands it to the next request;
- acts as the edge (:mod:`hitbox_http._edge`): drops the forwarding fields clients send
  unless they come from ``trusted_proxies``, sets its own ``Forwarded`` and
  ``X-Forwarded-For``/``-Proto``/``-Host``, and refuses malformed requests (``CONNECT``,
  ``Content-Length`` with ``Transfer-Encoding``, targets that are not paths, two ``Host``
  fields, a final transfer coding other than ``chunked``) with a 4xx and one log line.

Serve it with uvicorn's own ``Date``/``Server`` headers off, so the origin's pass through
exactly once, and with ``proxy_headers=False``, so uvicorn never takes the client address
from a client's ``X-Forwarded-For`` (``hitbox proxy`` does both; its own server,
:mod:`hitbox_http._http1_server`, adds neither header and reads no forwarding field, and
answers fresh hits in place through :meth:`CachingProxy.respond_now`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, final
from urllib.parse import urlsplit

import hitbox
import httpx

from hitbox_http._asgi import (
    Message,
    Receive,
    Scope,
    Send,
    has_valid_authority,
    request_from_scope,
)
from hitbox_http._cache_status import CacheStatus
from hitbox_http._dates import format_http_date
from hitbox_http._edge import EdgePolicy, Peer, Refusal, forwarding_headers, refusal
from hitbox_http._engine import HttpCache, ReusableHit, Streamed, UpstreamError
from hitbox_http._headers import Headers
from hitbox_http._models import Request, Response
from hitbox_http._pull import PullOrigin
from hitbox_http._storing import HOP_BY_HOP, strip_hop_by_hop

__all__ = ["CachingProxy"]

logger = logging.getLogger("hitbox_http.proxy")

_PROXY_FIELDS = ("proxy-authorization", "proxy-authenticate", "proxy-connection")


# Without "connection" (in HOP_BY_HOP) no other field is hop-by-hop: one set test decides.
_DROPPED = frozenset((*HOP_BY_HOP, *_PROXY_FIELDS))


_MEMO_SIZE: Final = 4096
"""Request heads whose hit :meth:`CachingProxy.respond_now` keeps (then starts over)."""
_MEMO_BYTES: Final = 32 * 1024 * 1024
"""Body bytes the kept answers may hold (beyond that they start over)."""
_MEMO_MAX_HEAD: Final = 4096
"""Bytes of field lines beyond which a request head is not kept (memory bound)."""
_INVALID_HOST: Final = Refusal(400, "invalid Host header", "invalid-host")


def _head_size(headers: list[tuple[bytes, bytes]]) -> int:
    return sum(len(name) + len(value) for name, value in headers)


def _clean(headers: Headers) -> Headers:
    if headers.names().isdisjoint(_DROPPED):
        return headers  # nothing to drop: a hit's fields were cleaned before they were stored
    return strip_hop_by_hop(headers).without(*_PROXY_FIELDS)


@final
class CachingProxy:
    """An ASGI app that proxies to ``upstream`` (``http://host:port``) through ``cache``.

    ``timeout`` bounds connecting and every single upstream read and write, in seconds.
    The client is created lazily and closed by :meth:`aclose` (or the ASGI lifespan).
    """

    def __init__(
        self,
        upstream: str,
        cache: HttpCache,
        *,
        timeout: float = 30.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        edge: EdgePolicy | Mapping[str, Any] | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise hitbox.ConfigError(
                f"upstream: expected an http(s)://host[:port] URL, got {upstream!r}",
                field="upstream",
                value=upstream,
            )
        self.upstream = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.timeout = timeout
        self.cache = cache
        self.edge = EdgePolicy.validated(edge or {})
        self._forwarding = frozenset(self.edge.forwarding_headers)
        # Request head -> the hit answering it and the response sent (see respond_now).
        self._answered: dict[Any, tuple[ReusableHit, Response]] = {}
        self._answered_bytes = 0
        # A misbehaving origin makes these fire per request: one line per minute per kind.
        self._warnings = hitbox.RateLimitedLogger(logger, clock=cache.clock)
        if transport is None:
            transport = httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=max_connections)
            )
        self._transport = transport
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport
        )

    async def aclose(self) -> None:
        """Close pooled upstream connections and cancel background revalidations."""
        await self.cache.aclose()
        await self._client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        admitted = self._admitted(scope)
        if isinstance(admitted, Refusal):
            if admitted.kind != "invalid-host":
                self._warnings.warning(
                    admitted.kind,
                    "hitbox proxy: refused a request with %d: %s",
                    admitted.status,
                    admitted.message,
                )
            close = admitted.kind != "invalid-host"
            await self._error(send, admitted.status, admitted.message, admitted.kind, close=close)
            return
        request = admitted
        client = scope.get("client")
        peer = Peer(
            str(client[0]) if client else None,
            scope.get("scheme") or "http",
            urlsplit(request.url).netloc,
        )
        origin = PullOrigin(self.cache, lambda upstream: self._send(upstream, receive, peer))
        try:
            answer = await self.cache.serve(request, origin)
        except UpstreamError as exc:
            status = 504 if exc.timeout else 502
            detail = "upstream-timeout" if exc.timeout else "upstream-error"
            await self._error(send, status, f"upstream {exc}", detail)
            return
        complete = answer.response
        if complete is not None:
            # A hit (or a response read whole to be stored): head and body in two
            # messages, the header encoding reused from the stored response's.
            await send(
                {
                    "type": "http.response.start",
                    "status": complete.status,
                    "headers": _clean(complete.headers).raw(),
                }
            )
            await send({"type": "http.response.body", "body": complete.body})
            return
        response = answer.streamed()
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": _clean(response.headers).raw(),
            }
        )
        async for chunk in response.body:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _admitted(self, scope: Scope) -> Request | Refusal:
        """The request as the cache and the origin see it, or why it is refused: the
        edge's checks and its forwarding fields (see :mod:`hitbox_http._edge`)."""
        request = request_from_scope(scope)
        refused = refusal(request.method, scope.get("raw_path"), request.headers)
        if refused is not None:
            return refused
        if not has_valid_authority(request):
            return _INVALID_HOST
        client = scope.get("client")
        if not request.headers.names().isdisjoint(self._forwarding) and not self.edge.trusts(
            str(client[0]) if client else None
        ):
            # Before the cache sees the request: these fields never reach the origin, so
            # they must not split the cache key either.
            request = request.with_headers(request.headers.without(*self.edge.forwarding_headers))
        return request

    def respond_now(self, scope: Scope) -> Response | None:
        """The response this app would send for an ``http`` ``scope`` when the cache
        holds it at hand (:meth:`HttpCache.serve_now`: a fresh hit read without waiting),
        byte for byte; ``None`` otherwise: run the app. For servers that can answer
        such a request in place, without starting a task for it.

        The same request head (method, target, field lines, server address, whether the
        client is a trusted proxy) gets the same response object again while
        :meth:`HttpCache.serve_again` agrees: the edge's checks, the key and the RFC
        9111 decision are then not recomputed per request.
        """
        client = scope.get("client")
        trusted = bool(self.edge.trusted_proxies) and self.edge.trusts(
            str(client[0]) if client else None
        )
        headers = scope["headers"]
        memo_key = (
            scope.get("server"),
            scope.get("scheme"),
            trusted,
            scope["method"],
            scope.get("raw_path"),
            scope.get("query_string"),
            tuple(headers),
        )
        kept = self._answered.get(memo_key)
        if kept is not None and self.cache.serve_again(kept[0]):
            return kept[1]
        admitted = self._admitted(scope)
        if isinstance(admitted, Refusal):
            return None  # the app refuses it (and logs it once)
        hit = self.cache.serve_now(admitted)
        if hit is None or hit.answer.response is None:
            self._answered.pop(memo_key, None)
            return None
        answer = hit.answer.response
        response = Response(answer.status, _clean(answer.headers), answer.body)
        if hit.until > hit.since and _head_size(headers) <= _MEMO_MAX_HEAD:
            # Bounded in entries and in body bytes: a kept answer may hold a body the
            # backend has evicted since.
            self._answered_bytes += len(response.body)
            if len(self._answered) >= _MEMO_SIZE or self._answered_bytes > _MEMO_BYTES:
                self._answered.clear()
                self._answered_bytes = len(response.body)
            self._answered[memo_key] = (hit, response)
        return response

    async def _error(
        self, send: Send, status: int, message: str, detail: str, *, close: bool = False
    ) -> None:
        body = f"{status} {message}\n".encode()
        headers = Headers([("content-type", "text/plain"), ("content-length", str(len(body)))])
        if close:
            headers = headers.add("connection", "close")
        headers = headers.add("date", format_http_date(self.cache.clock()))
        headers = CacheStatus(self.cache.policy.cache_name, detail=detail).apply(headers)
        await send({"type": "http.response.start", "status": status, "headers": headers.raw()})
        await send({"type": "http.response.body", "body": body})

    async def _send(self, request: Request, receive: Receive, peer: Peer) -> Streamed:
        target = urlsplit(request.url)
        url = self.upstream + target.path + (f"?{target.query}" if target.query else "")
        headers = forwarding_headers(_clean(request.headers).without("host"), peer, self.edge)
        has_body = request.method not in ("GET", "HEAD") or request.has_body
        upstream_request = self._client.build_request(
            request.method,
            url,
            headers=[(name, value) for name, value in headers],
            content=_request_body(receive) if has_body else None,
        )
        try:
            response = await self._client.send(upstream_request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"timed out: {exc!r}", timeout=True) from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"failed: {exc!r}") from exc
        items = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.headers.raw
        ]
        headers = Headers(items)
        if "transfer-encoding" in headers:
            # RFC 9112 §6.3: "An intermediary that chooses to forward the message MUST
            # first remove the received Content-Length field and process the
            # Transfer-Encoding ... prior to forwarding the message downstream." httpx has
            # decoded the chunked framing; the body goes on framed by the proxy's server.
            headers = headers.without("content-length")
        return Streamed(response.status_code, _clean(headers), self._response_body(response))

    async def _response_body(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The raw (still content-encoded) body; errors mid-body end this response only."""
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            self._warnings.warning("upstream-body", "hitbox proxy: upstream body failed: %r", exc)
            # Before the response head went out (a body read whole to be stored) this is
            # a 502; mid-stream it ends the client's response.
            raise UpstreamError(f"body failed: {exc!r}") from exc
        finally:
            await response.aclose()
            await self._drop_poisoned_connections()

    async def _drop_poisoned_connections(self) -> None:
        """Close idle pooled connections holding bytes no request asked for.

        An origin whose ``Content-Length`` is shorter than what it sends leaves the rest in
        the connection's buffer, where the next request on that connection would read it
        as its response. httpcore only notices such bytes when they arrive after the
        response; these were read with it, so look for them (h11's ``trailing_data``).
        """
        pool = getattr(self._transport, "_pool", None)
        for connection in list(getattr(pool, "connections", ())):
            inner = getattr(connection, "_connection", None)
            state = getattr(inner, "_h11_state", None)
            if state is None or not connection.is_idle():
                continue
            data, closed = state.trailing_data
            if data or closed:
                self._warnings.warning(
                    "stray-bytes",
                    "hitbox proxy: dropping a connection with stray bytes from upstream",
                )
                await connection.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
