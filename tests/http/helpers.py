"""Drive the sans-I/O spec through whole exchanges with a fake clock and a dict store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from hitbox_http import (
    Forward,
    Headers,
    Hit,
    HttpCacheSpec,
    HttpPolicy,
    Request,
    Response,
    StoredResponse,
    format_http_date,
)
from hitbox_http._keys import normalize_url

T0 = 1_700_000_000.0
URL = "https://example.com/page"


class Clock:
    """An injectable clock that only moves when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def get(url: str = URL, *headers: tuple[str, str], method: str = "GET") -> Request:
    return Request(method, url, Headers(headers))


def ok(
    *headers: tuple[str, str],
    status: int = 200,
    body: bytes = b"hello",
    date: bool = True,
    clock: Clock | None = None,
) -> Response:
    items = list(headers)
    if date and clock is not None and not any(name.lower() == "date" for name, _ in items):
        items.append(("date", format_http_date(clock.now)))
    return Response(status, Headers(items), body)


@dataclass
class Exchange:
    """What happened to one request."""

    decision: Hit | Forward
    response: Response
    upstream: list[Request] = field(default_factory=list)

    @property
    def cache_status(self) -> str:
        return self.response.headers.get("cache-status", "")


class World:
    """A spec, a clock and a store keyed by URL; origins are plain functions."""

    def __init__(self, policy: HttpPolicy | None = None, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.spec = HttpCacheSpec(policy or HttpPolicy(), clock=self.clock)
        self.store: dict[str, list[StoredResponse]] = {}

    def stored(self, url: str = URL) -> list[StoredResponse]:
        return self.store.get(normalize_url(url), [])

    def _put(self, response: StoredResponse) -> None:
        kept = [old for old in self.store.get(response.url, []) if old.vary != response.vary]
        self.store[response.url] = [response, *kept]

    def fetch(
        self,
        request: Request,
        origin: Callable[[Request], Response] | None = None,
        *,
        latency: float = 0.0,
    ) -> Exchange:
        decision = self.spec.on_request(request, self.stored(request.url))
        if isinstance(decision, Hit):
            exchange = Exchange(decision, decision.response)
            if decision.revalidate is not None and origin is not None:
                self._forward(decision.revalidate, origin, latency, exchange)
            return exchange
        exchange = Exchange(decision, Response(0))
        exchange.response = self._forward(decision, origin, latency, exchange)
        return exchange

    def _forward(
        self,
        forward: Forward,
        origin: Callable[[Request], Response] | None,
        latency: float,
        exchange: Exchange,
    ) -> Response:
        assert origin is not None, "the cache forwarded a request but the test gave no origin"
        request_time = self.clock.now
        exchange.upstream.append(forward.request)
        answer = origin(forward.request)
        self.clock.advance(latency)
        plan = self.spec.on_response(
            forward,
            answer.status,
            answer.headers,
            request_time=request_time,
            response_time=self.clock.now,
        )
        if plan.retry is not None:
            return self._forward(plan.retry, origin, latency, exchange)
        for url in plan.invalidate:
            self.store.pop(url, None)
        for updated in plan.updates:
            self._put(updated)
        if plan.store is not None:
            self._put(plan.store.with_body(answer.body))
        body = answer.body if plan.body is None else plan.body
        return Response(plan.status, plan.headers, body)

    def fail(self, request: Request) -> Response | None:
        """The request, with the origin unreachable: the stale response or ``None``."""
        decision = self.spec.on_request(request, self.stored(request.url))
        if isinstance(decision, Hit):
            return decision.response
        return self.spec.on_error(decision)


async def raw_exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` as is to the server at ``url`` (``http://host:port``) and read the
    whole answer (the server closes the connection after it)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer
