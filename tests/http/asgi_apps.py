"""Small ASGI origins for middleware tests: they count calls and answer as told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from hitbox_http._asgi import ASGIApp, Message, Receive, Scope, Send
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import StreamingResponse
from starlette.routing import Route as StarletteRoute

Handler = Callable[[Scope, bytes], tuple[int, list[tuple[str, str]], bytes]]


@dataclass
class Origin:
    """An ASGI app whose answer is ``handler(scope, request_body)``; records each call."""

    handler: Handler
    calls: list[Scope] = field(default_factory=list)
    delay: float = 0.0
    fail: BaseException | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.calls.append(scope)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        status, headers, payload = self.handler(scope, body)
        if status not in (204, 304) and not any(n.lower() == "content-length" for n, _ in headers):
            headers = [*headers, ("content-length", str(len(payload)))]
        raw = [(name.encode(), value.encode()) for name, value in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


def header_of(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key.decode().lower() == name:
            return str(value.decode())
    return None


def fixed(status: int = 200, *headers: tuple[str, str], body: bytes = b"hello") -> Handler:
    """Always the same answer."""
    return lambda scope, _: (status, list(headers), body)


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@dataclass
class RawExchange:
    """Drive an ASGI app by hand, to see messages as they are sent."""

    messages: list[Message] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: Message) -> None:
        self.messages.append(message)
        self.arrived.set()

    @staticmethod
    def scope(
        path: str = "/",
        method: str = "GET",
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> dict[str, Any]:
        return {
            "type": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "scheme": "http",
            "server": ("testserver", 80),
            "headers": headers or [(b"host", b"testserver")],
            "http_version": "1.1",
        }

    received: bool = False
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self) -> Message:
        if not self.received:
            self.received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}


def event_stream_app(release: asyncio.Event) -> Starlette:
    """A Starlette app whose ``/events`` sends one server-sent event, then a second one
    once ``release`` is set (no caching headers: nothing is stored)."""

    async def events() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        await release.wait()
        yield b"data: 2\n\n"

    async def sse(request: StarletteRequest) -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[StarletteRoute("/events", sse)])
