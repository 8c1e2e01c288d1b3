"""One request and its response on an HTTP/1.1 connection, as ASGI ``receive``/``send``.

A :class:`Cycle` is the ASGI bridge of :mod:`hitbox_http._http1_connection`: it runs
the application in a task, hands it the request body as ``http.request`` messages
(the socket stops being read while more than :data:`BODY_HIGH_WATER` bytes wait for
it, and ``100 Continue`` is sent when it first asks for a body the client holds back),
and writes its ``http.response.*`` messages with HTTP/1.1 framing (:func:`encode_head`:
``Content-Length`` as given, else ``chunked``; no body for ``HEAD``, 1xx, 204 and 304),
waiting while the socket's write buffer is full. A client that disconnects makes
``receive`` answer ``http.disconnect`` and ``send`` drop what follows.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable
from typing import Any, Final, NamedTuple, final

from hitbox_http._asgi import ASGIApp, Message, Scope
from hitbox_http._headers import Headers
from hitbox_http._models import Response

__all__ = [
    "BODY_HIGH_WATER",
    "Cycle",
    "Framing",
    "chunk",
    "encode_head",
    "encode_response_head",
    "frame",
    "status_line",
]

logger = logging.getLogger("hitbox_http.server")

BODY_HIGH_WATER: Final = 65536
"""Request body bytes buffered for the application before the socket stops being read."""

_NO_BODY_STATUSES: Final = frozenset({204, 304})


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        phrase = b""  # RFC 9112 §4: the reason phrase may be empty; a proxy passes any status
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


_STATUS_LINES: Final = {status: _status_line(status) for status in range(100, 1000)}


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n`` for any three-digit status."""
    return _STATUS_LINES[status]


@final
class Framing(NamedTuple):
    """A response head as written, and how its body is framed."""

    head: bytes
    length: int
    """Body bytes announced by ``Content-Length`` (0 when there is no body to send)."""
    chunked: bool
    keep_alive: bool
    """Whether the connection stays open after the response."""


def encode_head(status: int, headers: Any, method: str, keep_alive: bool) -> Framing:
    """The head of a response to a ``method`` request with ``headers`` (ASGI byte pairs):
    see :func:`frame`. ``RuntimeError`` for a field that would break the framing."""
    raw = [(name.lower(), value) for name, value in headers]
    length: bytes | None = None
    chunked = False
    close = False
    for name, value in raw:
        if name == b"content-length" and length is None:
            length = value
        elif name == b"transfer-encoding":
            chunked = value.lower() == b"chunked"
        elif name == b"connection":
            close = close or b"close" in value.lower()
    try:
        lines = Headers.from_raw(raw).field_lines()
    except ValueError as exc:
        raise RuntimeError(f"response header: {exc}") from None
    return frame(status, lines, length, chunked, close, method, keep_alive)


def encode_response_head(response: Response, method: str, keep_alive: bool) -> Framing:
    """:func:`encode_head` for a response of the cache: its field lines are encoded once
    per stored response (:meth:`Headers.field_lines`), only ``Age`` and ``Cache-Status``
    per answer. ``ValueError`` for a field that would break the framing."""
    headers = response.headers
    connection = headers.get("connection")
    return frame(
        response.status,
        headers.field_lines(),
        None if (length := headers.get("content-length")) is None else length.encode(),
        headers.get("transfer-encoding", "").lower() == "chunked",
        connection is not None and "close" in connection.lower(),
        method,
        keep_alive,
    )


def frame(
    status: int,
    lines: bytes,
    length: bytes | None,
    chunked: bool,
    close: bool,
    method: str,
    keep_alive: bool,
) -> Framing:
    """The head (status line, field ``lines``) and framing of a response to ``method``:
    ``Transfer-Encoding: chunked`` added when a body has no ``length``, ``Connection:
    close`` when the connection will close (``keep_alive`` false) and the fields do not
    say so (``close``); no body for ``HEAD``, 1xx, 204 and 304."""
    parts = [status_line(status), lines]
    if close:
        keep_alive = False
    elif not keep_alive:
        parts.append(b"connection: close\r\n")
    if method == "HEAD" or status in _NO_BODY_STATUSES or status < 200:
        size, chunked = 0, False
    elif length is None or chunked:
        if not chunked:
            parts.append(b"transfer-encoding: chunked\r\n")
        size, chunked = 0, True
    else:
        size = int(length)
    parts.append(b"\r\n")
    return Framing(b"".join(parts), size, chunked, keep_alive)


def chunk(body: bytes, last: bool) -> bytes:
    """``body`` as one chunk of a chunked body (nothing if empty), and the last chunk."""
    data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
    return data + b"0\r\n\r\n" if last else data


@final
class Cycle:
    """One request/response exchange. ``on_complete`` runs once the response is written
    (the connection then starts the next pipelined request or waits for one)."""

    __slots__ = (
        "_chunked",
        "_remaining",
        "body",
        "connection_closing",
        "disconnected",
        "keep_alive",
        "more_body",
        "on_complete",
        "on_pause_reading",
        "on_resume_reading",
        "request_event",
        "response_complete",
        "response_started",
        "scope",
        "transport",
        "waiting_for_100_continue",
        "writable",
    )

    def __init__(
        self,
        scope: Scope,
        transport: asyncio.Transport,
        *,
        keep_alive: bool,
        expect_100_continue: bool,
        writable: asyncio.Event,
        on_complete: Callable[[Cycle], None],
        on_pause_reading: Callable[[], None],
        on_resume_reading: Callable[[], None],
    ) -> None:
        self.scope = scope
        self.transport = transport
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_100_continue
        self.writable = writable
        """Set while the socket's write buffer is below its high-water mark."""
        self.on_complete = on_complete
        self.on_pause_reading = on_pause_reading
        self.on_resume_reading = on_resume_reading
        self.body = bytearray()
        self.more_body = True
        self.request_event: asyncio.Event | None = None  # created when receive() must wait
        self.disconnected = False
        self.connection_closing = False
        self.response_started = False
        self.response_complete = False
        self._chunked = False
        self._remaining = 0

    # -- running the application ------------------------------------------------------

    def start(self, app: ASGIApp, tasks: set[asyncio.Task[None]]) -> None:
        """Run ``app`` for this request in a task kept in ``tasks`` until it ends."""
        task = asyncio.get_running_loop().create_task(self._run(app))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _run(self, app: ASGIApp) -> None:
        if self.disconnected:
            return  # refused (its body was malformed) or gone before the app could start
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as exc:
            logger.error("hitbox proxy: exception in the ASGI application", exc_info=exc)
            if not self.response_started:
                await self._send_500()
            else:
                self.transport.close()
            return
        except BaseException:  # cancelled (the server stops): the response stays unfinished
            if not self.response_complete:
                self.transport.close()
            raise
        if not self.response_started and not self.disconnected:
            logger.error("hitbox proxy: the ASGI application returned without a response")
            await self._send_500()
        elif not self.response_complete and not self.disconnected:
            logger.error("hitbox proxy: the ASGI application left its response unfinished")
            self.transport.close()

    async def _send_500(self) -> None:
        body = b"Internal Server Error"
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
            (b"connection", b"close"),
        ]
        await self.send({"type": "http.response.start", "status": 500, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    # -- ASGI receive -----------------------------------------------------------------

    def add_body(self, chunk: bytes) -> None:
        """Request body bytes from the parser."""
        if self.response_complete:
            return  # answered already: the rest of the body is read and dropped
        self.body += chunk
        if len(self.body) > BODY_HIGH_WATER:
            self.on_pause_reading()
        if self.request_event is not None:
            self.request_event.set()

    def end_body(self) -> None:
        """The request is complete."""
        self.more_body = False
        if self.request_event is not None:
            self.request_event.set()

    def wake(self) -> None:
        """The connection is gone or closing: let a waiting ``receive`` return."""
        if self.request_event is not None:
            self.request_event.set()

    async def receive(self) -> Message:
        """The next ``http.request`` message, or ``http.disconnect``."""
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        waits = self.more_body and not self.body
        if waits and not self.disconnected and not self.response_complete:
            self.on_resume_reading()
            event = self.request_event
            if event is None:
                event = self.request_event = asyncio.Event()
            await event.wait()
            event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        message = {"type": "http.request", "body": bytes(self.body), "more_body": self.more_body}
        self.body.clear()
        self.on_resume_reading()
        return message

    # -- ASGI send --------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """Write one ``http.response.start`` or ``http.response.body`` message."""
        if not self.writable.is_set() and not self.disconnected:
            await self.writable.wait()
        if self.disconnected:
            return  # the client is gone: what the application still sends is dropped
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
            self._start(int(message["status"]), message.get("headers") or ())
            return
        if self.response_complete:
            raise RuntimeError(f"{kind!r} sent after the response was complete")
        if kind != "http.response.body":
            raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
        self._body(message.get("body", b""), message.get("more_body", False))

    def _start(self, status: int, headers: Any) -> None:
        self.response_started = True
        self.waiting_for_100_continue = False
        framing = encode_head(status, headers, self.scope["method"], self.keep_alive)
        self.keep_alive = framing.keep_alive
        self._remaining = framing.length
        self._chunked = framing.chunked
        self.transport.write(framing.head)

    def _body(self, body: bytes, more_body: bool) -> None:
        if self.scope["method"] == "HEAD" or (not self._chunked and self._remaining == 0):
            if body and self.scope["method"] != "HEAD":
                raise RuntimeError("response body longer than its Content-Length")
            data = b""
        elif self._chunked:
            data = chunk(body, not more_body)
        else:
            if len(body) > self._remaining:
                raise RuntimeError("response body longer than its Content-Length")
            self._remaining -= len(body)
            data = body
        if data:
            self.transport.write(data)
        if more_body:
            return
        if self._remaining:
            raise RuntimeError("response body shorter than its Content-Length")
        self.response_complete = True
        self.wake()
        if not self.keep_alive:
            self.transport.close()
        self.on_complete(self)
