"""``hitbox proxy``'s own HTTP/1.1 server: run an ASGI app on listening sockets.

:func:`run` serves an app in this process (uvloop when installed, else asyncio) until
SIGINT or SIGTERM: it runs the app's ASGI lifespan, accepts connections
(:class:`~hitbox_http._http1_connection.Connection`), and on a signal stops accepting,
lets the responses under way finish (up to ``grace`` seconds), closes idle connections
and runs the lifespan's shutdown.

:func:`run_workers` pre-forks: the parent opens one listening socket per worker on the
same address (``SO_REUSEPORT``, so the kernel spreads connections evenly; one shared
socket where that option is missing), forks the workers, restarts one that dies, and
passes SIGINT/SIGTERM on to all of them. Each worker builds its own app (and so its own
cache and upstream connections) after the fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from hitbox_http._asgi import ASGIApp, Message
from hitbox_http._http1_config import AnswerNow, ServerLimits, ServerState
from hitbox_http._http1_connection import Connection

__all__ = ["bind", "run", "run_workers"]

logger = logging.getLogger("hitbox_http.server")

_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_BACKLOG: Final = 2048
_RESTART_PAUSE: Final = 1.0  # seconds between restarts of a worker that keeps dying


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``OSError`` if it cannot be had)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class _Lifespan:
    """The app's ASGI lifespan: startup before serving, shutdown after."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        try:
            scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
            await self.app(scope, self.inbox.get, self._send)
        except Exception as exc:  # an app without lifespan support may raise: not an error
            logger.debug("the ASGI app's lifespan ended: %r", exc)
        await self.outbox.put({"type": "lifespan.unsupported"})

    async def _send(self, message: Message) -> None:
        await self.outbox.put(message)

    async def startup(self) -> bool:
        self.task = asyncio.get_running_loop().create_task(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        answer = await self.outbox.get()
        if answer["type"] == "lifespan.startup.failed":
            logger.error("hitbox proxy: startup failed: %s", answer.get("message", ""))
            return False
        return True

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


async def serve(
    app: ASGIApp,
    sockets: list[socket.socket],
    limits: ServerLimits | None = None,
    *,
    answer_now: AnswerNow | None = None,
    grace: float = 10.0,
    stop: asyncio.Event | None = None,
) -> bool:
    """Serve ``app`` on ``sockets`` until ``stop`` is set (or SIGINT/SIGTERM, when this
    runs in the main thread); ``False`` if the app failed to start. ``answer_now``
    answers the requests it can in place (see :data:`AnswerNow`)."""
    loop = asyncio.get_running_loop()
    limits = limits or ServerLimits()
    stop = stop or asyncio.Event()
    state = ServerState()
    lifespan = _Lifespan(app)
    if not await lifespan.startup():
        return False
    servers = [
        await loop.create_server(
            lambda: Connection(app, state, limits, answer_now), sock=sock, backlog=_BACKLOG
        )
        for sock in sockets
    ]
    handled = []
    if sys.platform != "win32" and _in_main_thread():
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        for server in servers:
            server.close()
        for connection in list(state.connections):
            connection.shutdown()
        if state.tasks:  # responses under way (a hit never is: it has no task)
            await asyncio.wait(set(state.tasks), timeout=grace)
        for task in list(state.tasks):
            task.cancel()
        if state.tasks:
            await asyncio.gather(*state.tasks, return_exceptions=True)
        for connection in list(state.connections):
            if connection.transport is not None:
                connection.transport.abort()
        await lifespan.shutdown()
    return True


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(
    app: ASGIApp,
    sockets: list[socket.socket],
    limits: ServerLimits | None = None,
    *,
    answer_now: AnswerNow | None = None,
) -> bool:
    """Serve ``app`` in this process until SIGINT/SIGTERM (see :func:`serve`)."""
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        return runner.run(serve(app, sockets, limits, answer_now=answer_now))


def run_workers(
    build_app: Callable[[], tuple[ASGIApp, AnswerNow | None]],
    host: str,
    port: int,
    workers: int,
    limits: ServerLimits | None = None,
) -> int:
    """Serve with ``workers`` forked processes (see the module doc); the exit status."""
    reuse_port = hasattr(socket, "SO_REUSEPORT")
    if reuse_port:
        sockets = [bind(host, port, reuse_port=True) for _ in range(workers)]
    else:
        sockets = [bind(host, port)] * workers
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def start(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for signum in _STOP_SIGNALS:
                    signal.signal(signum, signal.SIG_DFL)
                app, answer_now = build_app()
                served = run(app, [sockets[index]], limits, answer_now=answer_now)
                code = 0 if served else 3
            except BaseException:
                logger.exception("hitbox proxy: worker %d failed", index)
            finally:
                os._exit(code)
        children[pid] = index

    def stop_all(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop_all) for signum in _STOP_SIGNALS}
    status = 0
    try:
        for index in range(workers):
            start(index)
        while children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
                continue
            if pid not in children:
                continue
            index = children.pop(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if code == 3 and not stopping:
                status = 3  # the app could not start: restarting would not help
                stop_all(signal.SIGTERM, None)
            elif not stopping:
                logger.warning("hitbox proxy: worker %d exited (%d); restarting it", index, code)
                time.sleep(_RESTART_PAUSE)
                start(index)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for sock in set(sockets):
            sock.close()
    return status
