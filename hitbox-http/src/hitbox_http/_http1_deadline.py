"""One timer per connection that is re-armed twice per request: :class:`Deadline`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import final

__all__ = ["Deadline"]


def _nothing() -> None:
    return None


@final
class Deadline:
    """Calls a handler at a deadline unless it is moved or dropped before.

    Moving a deadline does not touch the event loop's timers: the one timer, when it
    fires before the current deadline, waits for it. A busy keep-alive connection moves
    its deadline twice per request (head timeout, then idle timeout), so this costs an
    attribute write per move instead of a timer cancelled and created.
    """

    __slots__ = ("at", "handler", "loop", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.at: float | None = None
        self.handler: Callable[[], None] = _nothing
        self.timer: asyncio.TimerHandle | None = None

    def arm(self, seconds: float, handler: Callable[[], None]) -> None:
        """Call ``handler`` in ``seconds``, replacing any deadline set before."""
        self.at = self.loop.time() + seconds
        self.handler = handler
        if self.timer is None:
            self.timer = self.loop.call_at(self.at, self._fire)

    def disarm(self) -> None:
        """No deadline (the timer, if running, finds none when it fires)."""
        self.at = None

    def cancel(self) -> None:
        """No deadline and no timer (the connection is gone)."""
        self.at = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _fire(self) -> None:
        self.timer = None
        at = self.at
        if at is None:
            return
        if self.loop.time() < at:
            self.timer = self.loop.call_at(at, self._fire)
            return
        self.at = None
        self.handler()
