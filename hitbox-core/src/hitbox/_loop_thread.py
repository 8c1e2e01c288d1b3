"""A cache's private event loop, running in a thread of its own, for sync callers.

Sync code (a ``def`` function under ``@cache.cached``, ``Cache.get_sync``...) reaches the
same :class:`~hitbox.engine.Engine` as async code: its runs are coroutines scheduled on
this loop, so there is one state machine and one flight table, and N threads asking for
one cold key join one flight. The calling thread blocks on its own run only; since the
loop is not the caller's, a sync cached function may be called from a coroutine (it
blocks that loop's thread for the call, as any blocking call does) without deadlock.

The thread starts on first use and stops in :meth:`LoopThread.stop`. After ``os.fork``
the child forgets its parent's thread (it does not exist there) and its loop (whose
selector the parent still uses); the next sync call in the child starts fresh ones, so a
pre-forking server's workers each get their own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar, final

__all__ = ["LoopThread"]

_T = TypeVar("_T")

CHECK_INTERVAL: Final = 1.0
"""Seconds between two checks, by a thread blocked on a call, that the loop still runs: a
call scheduled just as the cache closed would otherwise be waited for forever."""

_threads: weakref.WeakSet[LoopThread] = weakref.WeakSet()
# Loops inherited from the parent at fork: kept referenced so the child never runs their
# finalizer (they look "running" in the child, and their selector is the parent's).
_inherited: list[asyncio.AbstractEventLoop] = []


def _after_fork_in_child() -> None:
    for loop_thread in list(_threads):
        loop_thread.forget_after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


@final
class LoopThread:
    """One event loop in one daemon thread, started lazily, stopped by :meth:`stop`.

    ``on_fork`` runs in a forked child after the parent's loop and thread are forgotten
    (the cache uses it to drop state tied to them: flights, background tasks).
    """

    __slots__ = (
        "__weakref__",
        "_ident",
        "_lock",
        "_loop",
        "_on_fork",
        "_stopped",
        "_thread",
        "name",
    )

    def __init__(self, name: str, on_fork: Callable[[], None] | None = None) -> None:
        self.name = name
        self._on_fork = on_fork
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ident: int | None = None
        self._stopped = False
        _threads.add(self)

    @property
    def running(self) -> bool:
        """Whether the thread has been started and not stopped."""
        return self._loop is not None

    def in_thread(self) -> bool:
        """Whether the caller is this loop's own thread (blocking here would deadlock)."""
        return self._ident is not None and threading.get_ident() == self._ident

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, starting its thread on first use; ``RuntimeError`` once stopped."""
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self.name}: stopped")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._main, args=(loop, ready), name=self.name, daemon=True
                )
                thread.start()
                ready.wait()
                self._thread = thread
                self._loop = loop
            return self._loop

    def _main(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._ident = threading.get_ident()
        ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                # Until none is left: cancelling runs the loop, which may start tasks that
                # other threads scheduled just before the stop.
                while tasks := asyncio.all_tasks(loop):
                    for task in tasks:
                        task.cancel()
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Schedule ``coro`` on the loop; its result as a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and block the calling thread until it is done."""
        if self.in_thread():
            coro.close()
            raise RuntimeError(f"{self.name}: a sync cache call from its own loop's thread")
        loop = self.loop()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        while True:
            try:
                return future.result(CHECK_INTERVAL)
            except TimeoutError:
                if future.done():
                    raise  # the coroutine's own TimeoutError
                if loop.is_closed():  # stopped before it ran: it never will
                    raise RuntimeError(f"{self.name}: the loop stopped during the call") from None

    def stop(self) -> None:
        """Cancel what still runs on the loop, stop it and join its thread; for good (a
        forked child may start one again). Idempotent."""
        with self._lock:
            self._stopped = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if threading.current_thread() is not thread:
            thread.join()
        self._ident = None

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's loop and thread (see the module doc)."""
        if self._loop is not None:
            _inherited.append(self._loop)
        self._lock = threading.Lock()  # the parent may have held it while forking
        self._stopped = False
        self._loop = self._thread = None
        self._ident = None
        if self._on_fork is not None:
            self._on_fork()
