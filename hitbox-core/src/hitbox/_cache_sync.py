"""The sync face of :class:`hitbox.Cache`: ``get_sync``, ``set_sync``, ``invalidate_sync``,
``invalidate_tags_sync``, ``close`` and ``with cache:``.

Each method runs the async method's coroutine on the cache's private loop
(:class:`~hitbox._loop_thread.LoopThread`), so sync and async callers share one engine.
The ``_sync`` suffix follows the backends' own convention (``MemoryBackend.get_sync``,
``set_sync``, ``delete_sync``); ``close``/``aclose`` is the standard library's pairing.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from hitbox._durations import DurationLike
from hitbox._loop_thread import LoopThread
from hitbox._sync_call import SyncRunner
from hitbox.backend._contract import Backend, SyncReads
from hitbox.engine._engine import Engine
from hitbox.engine._flights import BackgroundTasks, FlightTable

__all__ = ["SyncFace", "sync_reader"]


def sync_reader(backend: Backend) -> Callable[[str], Any] | None:
    """The backend's thread-safe blocking read (:class:`~hitbox.backend.SyncReads`),
    unless it says (``sync_reads = False``) it cannot serve one in its configuration."""
    if not isinstance(backend, SyncReads) or not getattr(backend, "sync_reads", True):
        return None
    return backend.get_sync


class SyncFace:
    """Sync counterparts of the cache's async methods (mixed into :class:`hitbox.Cache`)."""

    _engine: Engine
    _sync: SyncRunner
    _loop_thread: LoopThread
    _sync_get: Callable[[str], Any] | None

    if TYPE_CHECKING:  # the async methods, defined by Cache

        def get(
            self, key: str, default: Any = None, *, type_hint: Any = None
        ) -> Coroutine[Any, Any, Any]: ...

        def set(
            self,
            key: str,
            value: Any,
            *,
            ttl: DurationLike | None = None,
            max_stale: DurationLike | None = None,
            stale_if_error: DurationLike | None = None,
            tags: Iterable[str] = (),
        ) -> Coroutine[Any, Any, bool]: ...

        def invalidate(self, *keys: str) -> Coroutine[Any, Any, bool]: ...

        def invalidate_tags(self, *tags: str) -> Coroutine[Any, Any, bool]: ...

    def _init_sync(self, engine: Engine, name: str) -> None:
        """Set up the private loop (started on first use) and the sync read path."""
        self._sync_get = sync_reader(engine.backend)
        reset = weakref.WeakMethod(self._after_fork)
        self._loop_thread = LoopThread(
            f"hitbox-cache-{name}", on_fork=lambda: (method := reset()) and method()
        )
        self._sync = SyncRunner(self._loop_thread, engine.machine)

    def _after_fork(self) -> None:
        """In a forked child: forget flights and tasks of the parent's loops."""
        machine = self._engine.machine
        machine.flights = FlightTable()
        machine.background = BackgroundTasks(machine.background.limit)
        self._engine.guard.forget_probe()

    def get_sync(self, key: str, default: Any = None, *, type_hint: Any = None) -> Any:
        """``get`` for sync code (any thread, a running event loop's too)."""
        return self._sync.run(lambda: self.get(key, default, type_hint=type_hint))

    def set_sync(
        self,
        key: str,
        value: Any,
        *,
        ttl: DurationLike | None = None,
        max_stale: DurationLike | None = None,
        stale_if_error: DurationLike | None = None,
        tags: Iterable[str] = (),
    ) -> bool:
        """``set`` for sync code."""
        return self._sync.run(
            lambda: self.set(
                key, value, ttl=ttl, max_stale=max_stale, stale_if_error=stale_if_error, tags=tags
            )
        )

    def invalidate_sync(self, *keys: str) -> bool:
        """``invalidate`` for sync code."""
        return self._sync.run(lambda: self.invalidate(*keys))

    def invalidate_tags_sync(self, *tags: str) -> bool:
        """``invalidate_tags`` for sync code."""
        return self._sync.run(lambda: self.invalidate_tags(*tags))

    def close(self) -> None:
        """``aclose`` for sync code: also stops the private loop's thread. Idempotent."""
        runner, loop_thread = self._sync, self._loop_thread
        if loop_thread.in_thread():
            raise RuntimeError("Cache.close() from the cache's own loop thread; use aclose()")
        if not runner.closed:
            loop_thread.run(self._engine.aclose())
            runner.closed = True
        loop_thread.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
