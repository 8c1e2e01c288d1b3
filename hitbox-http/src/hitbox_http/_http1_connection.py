"""One HTTP/1.1 client connection of ``hitbox proxy``'s own server: :class:`Connection`.

Requests are parsed by httptools (llhttp, strict: it refuses ``Content-Length`` with
``Transfer-Encoding``, repeated ``Content-Length``, invalid chunk sizes, obs-fold, bare
LF and control characters in the target or field values) and handed to the ASGI
application as :class:`~hitbox_http._http1_cycle.Cycle` objects, one at a time and in
order: a request that arrives while another is being answered (pipelining) waits, and
the socket is not read meanwhile.

The connection also bounds what a client may cost: a request head must arrive within
``head_timeout`` seconds of its first byte (slow clients holding connections open) and
fit in ``max_head_bytes`` and ``max_fields`` field lines (431 otherwise); an idle
keep-alive connection is closed after ``keep_alive_timeout`` seconds. Requests the
parser refuses get a 400 (505 for versions other than HTTP/1.0 and 1.1) and the
connection is closed. What it accepts reaches the proxy, whose edge checks refuse the
rest (``CONNECT``, targets that are not paths, two ``Host`` fields, ...).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Final, final
from urllib.parse import unquote

import httptools

from hitbox_http._asgi import ASGIApp, Scope
from hitbox_http._http1_config import AnswerNow, ServerLimits, ServerState
from hitbox_http._http1_cycle import Cycle, chunk, encode_response_head, status_line
from hitbox_http._http1_deadline import Deadline
from hitbox_http._models import Response

__all__ = ["Connection"]

logger = logging.getLogger("hitbox_http.server")

_ASGI: Final = {"version": "3.0", "spec_version": "2.3"}
_VERSIONS: Final = frozenset({"1.0", "1.1"})


class _StopParsingError(Exception):
    """Raised from a parser callback: parse no further request on this connection."""


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


@final
class Connection(asyncio.Protocol):
    """An ``asyncio.Protocol`` serving HTTP/1.1 requests to ``app`` (see the module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        state: ServerState,
        limits: ServerLimits,
        answer_now: AnswerNow | None = None,
    ) -> None:
        self.app = app
        self.answer_now = answer_now
        self.state = state
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        # After a request with "Connection: close", further bytes are ignored rather
        # than parsed as another request (which is answered, then the connection closed).
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport | None = None
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.reading = True
        self.cycle: Cycle | None = None
        """The request being answered (the application is running for it)."""
        self.waiting: deque[Cycle] = deque()
        """Pipelined requests, in order, waiting for the one being answered."""
        self.deadline = Deadline(self.loop)
        self.stopped = False
        """No further byte is parsed (a request was refused, upgraded or the server stops)."""
        self.refusal: bytes | None = None
        # The request whose head is being parsed.
        self.in_head = False
        self.head_bytes = 0
        """Bytes of the target and field lines parsed so far."""
        self.head_reads = 0
        """Bytes of the reads that were all head (see ``data_received``)."""
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False
        self.current: Cycle | None = None
        """The request whose body is being parsed (it may be answered already)."""

    # -- the transport ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they are used as one.
        self.transport = transport  # type: ignore[assignment]
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        self.state.connections.add(self)
        self.deadline.arm(self.limits.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        self.deadline.cancel()
        self.stopped = True
        for cycle in (self.cycle, *self.waiting):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.wake()
        self.waiting.clear()
        self.writable.set()  # a send waiting for the buffer to drain returns (and drops)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        if self.stopped:
            return
        was_in_head = self.in_head
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade and CONNECT requests were handed on as they are (the proxy refuses
            # CONNECT; it upgrades nothing); what follows them is not HTTP: drop it.
            self._stop_reading_requests()
        except httptools.HttpParserError as exc:
            if not self.stopped:
                self._refuse(400, f"invalid HTTP request: {exc}", "parse")
            return
        if was_in_head and self.in_head:
            # A read that is all head (it began before and did not end it): the parser
            # keeps a field it has not seen the end of, so bound it here, whatever pace.
            self.head_reads += len(data)
            if self.head_reads > self.limits.max_head_bytes:
                self._refuse(431, "request header fields too large", "head-size")

    # -- parser callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        transport = self.transport
        if self.stopped or transport is None or transport.is_closing():
            raise _StopParsingError  # e.g. the request before was answered with "connection: close"
        self.in_head = True
        self.head_bytes = 0
        self.head_reads = 0
        self.url = b""
        self.headers = []
        self.expect_continue = False
        self.deadline.arm(self.limits.head_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        self.headers.append((name, value))
        self.head_bytes += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.deadline.disarm()
        parser = self.parser
        if len(self.headers) > self.limits.max_fields or (
            self.head_bytes > self.limits.max_head_bytes
        ):
            self._refuse(431, "request header fields too large", "head-size")
            return
        version = parser.get_http_version()
        if version not in _VERSIONS:
            self._refuse(505, f"HTTP/{version} is not supported", "version")
            return
        # After a request without keep-alive the parser ignores further bytes; after an
        # upgrade request they are not HTTP: either way this is the last request.
        keep_alive = bool(parser.should_keep_alive()) and not parser.should_upgrade()
        target = self.url
        if target.startswith(b"/"):
            raw_path, _, query = target.partition(b"?")
        else:
            # Absolute-form, authority-form (CONNECT) or "*": kept as received, so the
            # proxy's edge check sees it and refuses it.
            raw_path, query = target, b""
        path = raw_path.decode("latin-1")
        scope: Scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": "http",
            "method": parser.get_method().decode("ascii"),
            "root_path": "",
            "path": unquote(path) if "%" in path else path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": self.headers,
        }
        assert self.transport is not None
        # In place only when nothing is ahead of it and the client reads what it is sent:
        # otherwise it waits its turn like any request (a client pipelining hits it never
        # reads would make the server buffer them without bound).
        if self.cycle is None and self.answer_now is not None and self.writable.is_set():
            response = self.answer_now(scope)
            if response is not None:
                self.current = None  # answered: its (empty) body is not anyone's
                self._write_now(response, scope["method"], keep_alive)
                return
        cycle = Cycle(
            scope,
            self.transport,
            keep_alive=keep_alive,
            expect_100_continue=self.expect_continue,
            writable=self.writable,
            on_complete=self._completed,
            on_pause_reading=self._pause_reading,
            on_resume_reading=self._resume_reading,
        )
        self.current = cycle
        if self.cycle is None:
            self.cycle = cycle
            cycle.start(self.app, self.state.tasks)
        else:
            self.waiting.append(cycle)
            self._pause_reading()

    def on_body(self, body: bytes) -> None:
        if self.current is not None:
            self.current.add_body(body)

    def on_message_complete(self) -> None:
        if self.current is not None:
            self.current.end_body()
            self.current = None

    # -- answering in order ---------------------------------------------------------------

    def _write_now(self, response: Response, method: str, keep_alive: bool) -> None:
        """Write a response the app had at hand (see :data:`AnswerNow`)."""
        transport = self.transport
        assert transport is not None
        try:
            framing = encode_response_head(response, method, keep_alive)
        except ValueError as exc:
            logger.error("hitbox proxy: cannot send a stored response: %s", exc)
            self._refuse(500, "internal server error", "stored-response")
            return
        body = response.body if framing.length or framing.chunked else b""
        if framing.chunked:
            body = chunk(body, last=True)
        transport.write(framing.head + body if body else framing.head)
        if not framing.keep_alive:
            self.stopped = True
            transport.close()
        elif not self.in_head:
            self.deadline.arm(self.limits.keep_alive_timeout, self._idle_timed_out)

    def _completed(self, cycle: Cycle) -> None:
        """``cycle``'s response is written: start the next request, or wait for one."""
        if cycle is not self.cycle:
            return
        self.cycle = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.waiting:
            # Not from here: this may run inside the previous response's send, and a long
            # pipeline of hits would nest one call per request.
            self.loop.call_soon(self._start_next)
            return
        if self.refusal is not None:
            self._write_refusal()
            return
        if not cycle.keep_alive:
            transport.close()
            return
        self._resume_reading()
        if not self.in_head:
            self.deadline.arm(self.limits.keep_alive_timeout, self._idle_timed_out)

    def _start_next(self) -> None:
        transport = self.transport
        while self.cycle is None and self.waiting and transport is not None:
            if transport.is_closing():
                return
            cycle = self.waiting.popleft()
            if not self.waiting:
                self._resume_reading()
            if self.answer_now is not None and self.writable.is_set():
                response = self.answer_now(cycle.scope)
                if response is not None:
                    cycle.response_complete = True  # its (empty) body goes nowhere
                    self._write_now(response, cycle.scope["method"], cycle.keep_alive)
                    continue
            self.cycle = cycle
            cycle.start(self.app, self.state.tasks)
        if self.cycle is None and not self.waiting and self.refusal is not None:
            self._write_refusal()

    # -- refusing, timing out, flow control --------------------------------------------------

    def _refuse(self, status: int, message: str, kind: str) -> None:
        """Answer ``status`` once the requests before this one are answered, then close."""
        self.state.warnings.warning(
            kind, "hitbox proxy: refused a request with %d: %s", status, message
        )
        body = f"{status} {message}\n".encode("latin-1", "replace")
        self.refusal = b"".join(
            (
                status_line(status),
                b"content-type: text/plain\r\ncontent-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            )
        )
        self._stop_reading_requests()
        current = self.current
        if current is not None and not current.response_complete:
            # Its body was malformed: the application must not take it for complete.
            current.disconnected = True
            current.wake()
            if current in self.waiting:
                self.waiting.remove(current)  # never answered; the refusal answers it
            elif current.response_started and self.transport is not None:
                self.transport.close()  # half a response out: no room for the refusal
                return
            else:
                self.cycle = None
        if self.cycle is None and not self.waiting:
            self._write_refusal()

    def _write_refusal(self) -> None:
        transport, refusal = self.transport, self.refusal
        if transport is not None and refusal is not None and not transport.is_closing():
            transport.write(refusal)
            transport.close()

    def _stop_reading_requests(self) -> None:
        self.stopped = True
        self.in_head = False
        self.deadline.disarm()
        self._pause_reading()

    def _head_timed_out(self) -> None:
        if self.in_head:  # answered after the requests before it, if any
            self._refuse(408, "request head not received in time", "head-timeout")
        elif self.cycle is None and self.transport is not None:
            self.transport.close()  # connected but sent nothing

    def _idle_timed_out(self) -> None:
        if self.cycle is None and not self.in_head and self.transport is not None:
            self.transport.close()

    def _pause_reading(self) -> None:
        if self.reading and self.transport is not None:
            self.reading = False
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.stopped or self.waiting:
            return
        if not self.reading and self.transport is not None:
            self.reading = True
            self.transport.resume_reading()

    def shutdown(self) -> None:
        """The server stops: close now if idle, else after the current response."""
        self._stop_reading_requests()
        self.waiting.clear()
        if self.cycle is None:
            if self.transport is not None:
                self.transport.close()
        else:
            self.cycle.keep_alive = False
