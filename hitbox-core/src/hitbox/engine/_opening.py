"""Opening a backend before its first call: eagerly (``Cache.open``) or lazily.

Remote backends connect on first use. Inside the cache's per-call ``backend_timeout``
(0.25 s) that first use may not fit -- creating a DynamoDB client takes longer than
that -- and the first call after start fails open and stores nothing. So the cache opens
its backend (:meth:`hitbox.Backend.open`) once per event loop, *outside* the per-call
timeout: when the application asks (``await cache.open()``, ``async with cache``), or
else just before the first operation, which then waits for it up to the backend's
``open_timeout``. The open runs as one task that every waiting caller shares; a caller
that stops waiting (``open_timeout``) leaves it running, so the calls after it find
the backend open. A failed open is logged and is not retried by calls (the backend
connects on demand, under the breaker, as before); an explicit ``open()`` retries it.
"""

from __future__ import annotations

import asyncio
from typing import final

from hitbox.backend._contract import Backend
from hitbox.engine._breaker import FailureLog
from hitbox.engine._machine import describe

__all__ = ["Opener", "opener_for"]


def opener_for(backend: Backend, log: FailureLog) -> Opener | None:
    """An :class:`Opener` for ``backend``, or ``None`` if it has no ``open`` of its own
    (then nothing waits: the calls of such a cache pay no check at all)."""
    if getattr(type(backend), "open", Backend.open) is Backend.open:
        return None
    return Opener(backend, log)


@final
class Opener:
    """Opens one backend once per event loop.

    :attr:`ready` is the event loop on which calls need not wait any more (the open
    was tried there). Callers check ``opener.ready is not asyncio.get_running_loop()``
    inline -- true for the first calls, and again on a new loop after ``asyncio.run``
    was called again -- and only then await :meth:`before_first_call`.
    """

    __slots__ = ("_task", "backend", "closed", "log", "loop", "opened", "ready", "timeout")

    def __init__(self, backend: Backend, log: FailureLog) -> None:
        self.backend = backend
        self.log = log
        self.timeout = float(getattr(backend, "open_timeout", 5.0))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready: asyncio.AbstractEventLoop | None = None
        self.opened = False
        self.closed = False
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> bool:
        """Open the backend (again, if the last attempt failed); whether it is open.

        Waits at most ``open_timeout``; never raises for the backend's failures.
        """
        if self.closed:
            return False
        if self.opened and self.loop is asyncio.get_running_loop():
            return True
        opened = await self._attempt(retry=True)
        self.ready = self.loop
        return opened

    async def before_first_call(self) -> None:
        """The lazy open: try once on this event loop, waiting at most ``open_timeout``."""
        if not self.closed:  # a closed cache is bypassed: nothing to open
            await self._attempt(retry=False)
        self.ready = asyncio.get_running_loop()

    async def _attempt(self, *, retry: bool) -> bool:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a first call, or a new event loop: its own attempt
            self.loop, self._task, self.opened = loop, None, False
        task = self._task
        if task is None or (retry and task.done() and not self.opened):
            task = self._task = loop.create_task(self._open(), name="hitbox backend open")
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(task)
        except TimeoutError:
            self.log.warn(
                "open",
                f"open did not finish within {self.timeout}s (open_timeout); calls go ahead "
                "under backend_timeout while it carries on",
            )
        return self.opened

    async def _open(self) -> None:
        try:
            await self.backend.open()
        except Exception as exc:
            self.log.warn(
                "open", f"open failed ({describe(exc)}); calls connect on demand meanwhile"
            )
        else:
            self.opened = not self.closed

    async def aclose(self) -> None:
        """Stop an open still under way (the cache is closing)."""
        self.closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            if task.get_loop() is asyncio.get_running_loop():
                await asyncio.gather(task, return_exceptions=True)
