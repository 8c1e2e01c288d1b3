"""A bounded connection pool that waits briefly, and only when it is exhausted.

redis-py's async ``ConnectionPool`` raises ``MaxConnectionsError`` the moment every
connection is in use; its ``BlockingConnectionPool`` waits instead, but pays for an
``asyncio.Condition`` and a timeout on *every* checkout -- about a tenth of the cost of a
whole GET on the hit path. :class:`WaitingConnectionPool` takes redis-py's plain path
while a connection is free and waits, first come first served and for at most
``timeout`` seconds, only when the pool is exhausted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

__all__ = ["WaitingConnectionPool"]


class WaitingConnectionPool(ConnectionPool):
    """``max_connections`` connections; a checkout waits up to ``timeout`` s for a free one.

    When the wait runs out it raises ``ConnectionError("No connection available.")``, the
    same error as redis-py's blocking pool.
    """

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        """A connected connection; waits (bounded) while every connection is in use."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            if self.can_get_connection():
                try:
                    connection: AbstractConnection = await super().get_connection()  # type: ignore[no-untyped-call]
                except MaxConnectionsError:
                    pass  # another task took the last free connection first: wait again
                else:
                    return connection
            if deadline is None:
                deadline = loop.time() + self.timeout
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RedisConnectionError("No connection available.")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_next()  # woken just as the wait ran out: pass the turn on
                raise RedisConnectionError("No connection available.") from None

    async def release(self, connection: AbstractConnection) -> None:
        """Return ``connection`` and wake the longest waiting task, if any."""
        await super().release(connection)
        self._wake_next()

    def _wake_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
