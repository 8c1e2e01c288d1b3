"""Sync code on the async engine: ``@cache.cached`` on a ``def`` function.

A sync cached function has the same generated wrapper as an async one
(:mod:`hitbox._decorator`): the key function, and, where the backend offers a
thread-safe ``get_sync`` (memory, Redis, SQLite), a fresh hit served in the calling
thread with the same classification and counters as the machine's ``HIT`` path.
Everything else is one run of the cache's :class:`~hitbox.engine.Machine` on the cache's
private loop (:class:`~hitbox._loop_thread.LoopThread`), so misses, single flight,
locks, stale-while-revalidate, stale-if-error and the guard are the async code's own.

**The upstream runs in the calling thread.** When the run needs the upstream (this call
leads its key's flight), the loop hands the call back to the thread that made it, which
runs the function — with its thread-locals, contextvars and database connections — and
hands the value (or exception) back to the run, which shares and stores it. Only a stale
entry's background refresh runs elsewhere: in a worker thread of the private loop, since
its caller already has its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, ParamSpec, Protocol, TypeVar, final, overload

from hitbox._decorator import CachedFunction, ReturnHint, generated_wrapper
from hitbox._loop_thread import CHECK_INTERVAL, LoopThread
from hitbox.engine._access import BackendAccess
from hitbox.engine._machine import UNREAD, Call, Machine, describe
from hitbox.keys import KeyFunction
from hitbox.policy import Policy

__all__ = ["CacheDecorator", "SyncCachedFunction", "SyncRunner", "build_sync_wrapper"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
_T = TypeVar("_T")

_RUN: Final = 0
_DONE: Final = 1
_FAILED: Final = 2


class SyncCachedFunction(Protocol[P, R_co]):
    """What ``@cache.cached`` returns for a ``def`` function: the function, plus key helpers."""

    @property
    def __wrapped__(self) -> Callable[P, R_co]:
        """The original function."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call through the cache."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The key a call with these arguments reads and writes."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Drop the entry for these arguments; whether the backend confirmed it."""
        ...


class CacheDecorator(Protocol):
    """What ``cache.cached(...)`` returns: a decorator for async and sync functions."""

    @overload
    def __call__(  # type: ignore[overload-overlap]  # async def first: the narrower match
        self, func: Callable[P, Awaitable[R]], /
    ) -> CachedFunction[P, R]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> SyncCachedFunction[P, R]: ...

    def __call__(self, func: Callable[P, Any], /) -> Any:
        """Cache ``func`` (see :meth:`hitbox.Cache.cached`)."""
        ...


@final
class _Handoff:
    """One sync call's conversation between its run (on the loop) and its caller."""

    __slots__ = ("active", "args", "func", "inbox", "kwargs", "outcome")

    def __init__(self, func: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.inbox: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self.active = True  # the caller is waiting for this run
        self.outcome: tuple[Any, Exception | None] | None = None
        """What the upstream gave when the caller ran it: (value, exception)."""

    async def upstream(self) -> Any:
        """The call's upstream, as the machine awaits it (on the private loop)."""
        loop = asyncio.get_running_loop()
        if not self.active:  # a background refresh: its caller has gone
            return await loop.run_in_executor(
                None, functools.partial(self.func, *self.args, **self.kwargs)
            )
        future: asyncio.Future[Any] = loop.create_future()
        self.inbox.put((_RUN, future))
        return await future

    async def drive(self, machine: Machine, call: Call, entry: Any) -> None:
        """The run, reporting its outcome to the caller's inbox."""
        try:
            value = await machine.execute(call, entry)
        except BaseException as exc:
            self.active = False
            self.inbox.put((_FAILED, exc))
            if not isinstance(exc, Exception):
                raise
        else:
            self.active = False
            self.inbox.put((_DONE, value))

    def upstream_in_caller(self, loop: asyncio.AbstractEventLoop, future: Any) -> Any:
        """Run the function here, in the calling thread, and hand its outcome to the run.
        Returns :data:`_RUN` normally, or a direct answer if the loop has gone."""
        try:
            value = self.func(*self.args, **self.kwargs)
        except Exception as exc:
            self.outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, None, exc)
            except RuntimeError:  # the loop closed meanwhile: the exception is the answer
                raise exc from None
            return _RUN
        except BaseException:  # KeyboardInterrupt, SystemExit: the run lets its waiters go
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(future.cancel)
            raise
        self.outcome = (value, None)
        try:
            loop.call_soon_threadsafe(_settle, future, value, None)
        except RuntimeError:  # the loop closed meanwhile: answer with the value
            return (_DONE, value)
        return _RUN


def _settle(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if future.done():  # the run was cancelled (cache closing)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


@final
class SyncRunner:
    """Runs sync callers' work on a cache's engine, on its private loop."""

    __slots__ = ("closed", "loop_thread", "machine")

    def __init__(self, loop_thread: LoopThread, machine: Machine) -> None:
        self.loop_thread = loop_thread
        self.machine = machine
        self.closed = False

    def direct(self, func: Callable[..., _T], args: Any, kwargs: Any) -> _T:
        """The upstream, bypassing the cache (closed, or called from its own loop)."""
        self.machine.counters.upstream_calls += 1
        return func(*args, **kwargs)

    def execute(self, call: Call, entry: Any, handoff: _Handoff) -> Any:
        """Run ``call`` (whose upstream is ``handoff.upstream``) on the engine; block until
        it answers, running the upstream here when the run asks for it."""
        loop_thread = self.loop_thread
        if self.closed or loop_thread.in_thread():
            if not self.closed:
                self.machine.log.warn(
                    "sync", "a sync cached function was called on its cache's own loop thread"
                )
            return self.direct(handoff.func, handoff.args, handoff.kwargs)
        try:
            loop = loop_thread.loop()
            asyncio.run_coroutine_threadsafe(handoff.drive(self.machine, call, entry), loop)
        except RuntimeError:  # the cache closed between the check and now
            return self.direct(handoff.func, handoff.args, handoff.kwargs)
        inbox = handoff.inbox
        while True:
            try:
                kind, payload = inbox.get(timeout=CHECK_INTERVAL)
            except queue.Empty:
                if loop.is_closed():  # the cache closed before this run started or ended
                    return self.without_run(handoff)
                continue
            if kind == _RUN:
                answer = handoff.upstream_in_caller(loop, payload)
                if answer is _RUN:
                    continue
                return answer[1]
            if kind == _DONE:
                return payload
            if isinstance(payload, asyncio.CancelledError):  # the cache closed mid-run
                return self.without_run(handoff)
            raise payload

    def without_run(self, handoff: _Handoff) -> Any:
        """The answer of a call whose run was lost to the cache closing: the upstream's
        outcome if this thread ran it already, else the upstream called now (fail open)."""
        if handoff.outcome is None:
            return self.direct(handoff.func, handoff.args, handoff.kwargs)
        value, exc = handoff.outcome
        if exc is not None:
            raise exc
        return value

    def run(self, make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Run one of the cache's own coroutines (``get``, ``set``...), made by ``make``,
        for a sync caller.

        Once closed, on a short-lived thread of its own (the cache is then bypassed, so
        nothing waits on I/O there), so closing leaves no thread or loop behind.
        """
        if not self.closed:
            try:
                return self.loop_thread.run(make())
            except RuntimeError:
                if not self.closed:
                    raise
                # The cache closed before the coroutine ran (it never started): bypassed.
        outcome: list[Any] = []

        def main() -> None:
            try:
                outcome.append((True, asyncio.run(make())))
            except BaseException as exc:
                outcome.append((False, exc))

        thread = threading.Thread(target=main, name=f"{self.loop_thread.name}-closed")
        thread.start()
        thread.join()
        ok, value = outcome[0]
        if not ok:
            raise value
        return typing.cast("_T", value)


def build_sync_wrapper(
    func: Callable[P, R],
    *,
    key_fn: KeyFunction,
    tags_fn: Callable[..., tuple[str, ...]] | None,
    policy: Policy,
    runner: SyncRunner,
    access: BackendAccess,
    sync_get: Callable[[str], Any] | None,
    invalidate: Callable[[str], Coroutine[Any, Any, bool]],
    emit_hit: Callable[[str, float], None] | None = None,
) -> SyncCachedFunction[P, R]:
    """The caching wrapper of the ``def`` function ``func`` (see the module docstring);
    ``sync_get`` is the backend's thread-safe read, if it has one."""
    counters = runner.machine.counters
    hint: ReturnHint[R] = ReturnHint(func)
    # What this thread read may be out of date by the time the run starts on the loop: a
    # flight for the key may have finished and stored in between, and a run starting
    # from the old miss would call the upstream again. A local read is cheap: the run
    # reads again, so the read and the flight check happen in one loop step, as they do
    # for async callers. A remote read is not: its entry is handed over (async callers
    # of a remote backend have the same window between their read and the check).
    reread = access.is_local

    def uncached(exc: Exception | None, args: Any, kwargs: Any) -> Any:
        """The upstream, bypassing the cache: no key (``exc``) or no tags (``None``)."""
        if exc is not None:
            access.log.warn(
                "key", f"no cache key for a call of {func.__qualname__} ({describe(exc)})"
            )
        counters.upstream_calls += 1
        return func(*args, **kwargs)

    def slow(key: str, args: Any, kwargs: Any, entry: Any) -> Any:
        """A run of the machine on the cache's loop, the upstream run in this thread."""
        tags: tuple[str, ...] = ()
        if tags_fn is not None:
            try:
                tags = tags_fn(*args, **kwargs)
            except Exception as exc:
                access.log.warn(
                    "tags", f"no cache tags for a call of {func.__qualname__} ({describe(exc)})"
                )
                return uncached(None, args, kwargs)
        if reread:
            entry = UNREAD
        handoff = _Handoff(func, args, kwargs)
        call = Call(key, policy, handoff.upstream, hint, tags, "cached")
        return runner.execute(call, entry, handoff)

    wrapper = generated_wrapper(
        func,
        fast_hits=sync_get is not None,
        key_fn=key_fn,
        uncached=uncached,
        execute=slow,
        slow_call=slow,
        access=access,
        emit_hit=emit_hit,
        sync_get=sync_get if sync_get is not None else _no_sync_get,
        hint=hint,
    )

    def invalidate_call(*args: P.args, **kwargs: P.kwargs) -> bool:
        key = key_fn(*args, **kwargs)
        return runner.run(lambda: invalidate(key))

    functools.update_wrapper(wrapper, func)
    wrapper.cache_key = key_fn  # type: ignore[attr-defined]
    wrapper.invalidate = invalidate_call  # type: ignore[attr-defined]
    return typing.cast("SyncCachedFunction[P, R]", wrapper)


def _no_sync_get(key: str) -> None:  # pragma: no cover - never called (no fast path)
    return None
