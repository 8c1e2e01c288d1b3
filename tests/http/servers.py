"""Real servers on loopback for the proxy tests: uvicorn apps and a misbehaving origin."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from hitbox_http._http1_config import ServerLimits
from hitbox_http._http1_server import bind
from hitbox_http._http1_server import serve as serve_http1
from hitbox_http._proxy_run import allow_any_status

from tests.support import free_port, wait_for_port

SERVERS = ("h11", "fast")
"""The servers `hitbox proxy` runs on: uvicorn's h11 one (the fallback without httptools)
and hitbox's own (the default with httptools); tests of the proxy run on both."""


@contextmanager
def serve(
    app: Any, *, port: int | None = None, http: Any = "h11", limits: ServerLimits | None = None
) -> Iterator[str]:
    """Run ``app`` under uvicorn (``http``: its protocol) or, with ``http="fast"``,
    hitbox's own server, in a thread; yields its base URL; stops it afterwards."""
    if http == "fast":
        with serve_fast(app, port=port, limits=limits) as url:
            yield url
        return
    allow_any_status()  # as `hitbox proxy` does
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="auto",
        server_header=False,
        date_header=False,
        proxy_headers=False,  # as `hitbox proxy` does: the client address is the peer's
        http=http,  # h11 as `hitbox proxy` by default (httptools hides edge cases)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_fast(
    app: Any, *, port: int | None = None, limits: ServerLimits | None = None
) -> Iterator[str]:
    """Run ``app`` on hitbox's own server (as `hitbox proxy --http fast`: a proxy's hits
    are answered in place) in a thread; yields its base URL; stops it afterwards."""
    port = port or free_port()
    sock = bind("127.0.0.1", port)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    answer_now = getattr(app, "respond_now", None)
    served = loop.create_task(serve_http1(app, [sock], limits, answer_now=answer_now, stop=stop))
    thread = threading.Thread(target=loop.run_until_complete, args=(served,), daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        sock.close()
        loop.close()


BAD_RESPONSES: dict[str, bytes] = {
    "/long-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\ncache-control: max-age=60\r\n\r\nabc"
    ),
    "/short-length": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n\r\n",
    "/bad-te": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "/double-te": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ),
    "/status-999": (
        b"HTTP/1.1 999 Odd\r\nContent-Length: 3\r\ncache-control: max-age=60\r\n\r\nodd"
    ),
    "/status-102": (
        b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
    ),
    "/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "/chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncache-control: max-age=60\r\n\r\n"
        b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"
    ),
    "/chunked-trailer": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nTrailer: x-sum\r\n"
        b"cache-control: max-age=60\r\n\r\n3\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n"
    ),
    # RFC 9112 §6.3: Transfer-Encoding overrides Content-Length (which must be dropped).
    "/chunked-and-length": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n"
        b"cache-control: max-age=60\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ),
    "/hop": (
        b"HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nok"
    ),
}


class BadOrigin:
    """A raw HTTP/1.1 server answering from :data:`BAD_RESPONSES`, keeping connections
    open as long as the client does (so a poisoned connection would be reused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                if path.startswith("/slow"):
                    await asyncio.sleep(3)
                writer.write(BAD_RESPONSES.get(path.split("?")[0], BAD_RESPONSES["/ok"]))
                await writer.drain()
                if path.startswith("/long-length"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def __enter__(self) -> str:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        )
        self._server = started.result(timeout=5)
        wait_for_port(self.port)
        return f"http://127.0.0.1:{self.port}"

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
