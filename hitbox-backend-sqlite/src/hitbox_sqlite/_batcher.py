"""Coalesce calls made while the event loop is busy into one job on a worker thread.

Handing work to a thread costs a wake-up each way, often more than the SQLite statement
itself. A :class:`Batcher` collects the requests that arrive in the same event-loop
iteration (and while its previous jobs are still running) and runs them as one job:
many reads become one ``SELECT ... IN``, many writes one transaction and one commit.
Under light load a batch holds one request and costs what a plain hand-off costs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from concurrent.futures import Future as ThreadFuture
from typing import Generic, TypeVar, final

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


@final
class Batcher(Generic[T, R]):
    """Runs ``job(items)`` on ``executor`` for batches of submitted items.

    ``job`` returns one result per item, in order; a result that is an exception
    instance is raised to that item's caller alone. If ``job`` itself raises, every
    caller of the batch gets the error. At most ``max_in_flight`` jobs run at once and
    a batch holds at most ``max_batch`` items.
    """

    def __init__(
        self,
        executor: Executor,
        job: Callable[[Sequence[T]], Sequence[R | BaseException]],
        *,
        max_in_flight: int = 1,
        max_batch: int = 500,
    ) -> None:
        self._executor = executor
        self._job = job
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._in_flight = 0
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` for the next batch and wait for its result."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (asyncio.run called again): whatever the old one left
            # scheduled or in flight will never be delivered here, so start afresh.
            self._loop = loop
            self._pending = []
            self._in_flight = 0
            self._scheduled = False
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if not self._scheduled:
            # Let every task that is ready this iteration add its request first.
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        while self._pending and self._in_flight < self._max_in_flight:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._in_flight += 1
            try:
                job = self._executor.submit(self._job, [item for item, _ in batch])
            except BaseException as exc:  # e.g. the executor was shut down
                self._in_flight -= 1
                _fail(batch, exc)
                continue
            job.add_done_callback(functools.partial(self._on_done, loop, batch))

    def _on_done(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[T, asyncio.Future[R]]],
        job: ThreadFuture[Sequence[R | BaseException]],
    ) -> None:
        # On the worker thread: hand the results back to the event loop.
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, loop, batch, job)

    def _deliver(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[T, asyncio.Future[R]]],
        job: ThreadFuture[Sequence[R | BaseException]],
    ) -> None:
        if loop is not self._loop:
            return  # a job of an event loop this batcher has left behind
        self._in_flight -= 1
        error = job.exception()
        if error is not None:
            _fail(batch, error)
        else:
            for (_, future), result in zip(batch, job.result(), strict=True):
                if future.done():  # the caller was cancelled
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        # Requests that queued up while this job ran go out now, as one batch.
        if self._pending and not self._scheduled:
            self._flush(loop)


def _fail(batch: list[tuple[T, asyncio.Future[R]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
