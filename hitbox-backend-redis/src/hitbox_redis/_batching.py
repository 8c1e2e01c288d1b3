"""Automatic batching of concurrent commands, independent of Redis (so it is tested alone).

High-concurrency services issue many single-key reads at once. :class:`ReadCoalescer`
turns every read started in the same event-loop turn into one ``fetch(keys)`` call -- one
round trip -- and lets a read of a key that is already on its way share that answer.
:class:`PipelineBatcher` does the same for writes: the commands of one turn travel as one
pipeline, in the order they were issued. Both keep the number of busy connections small,
which matters as much as the round trips: opening connections in a burst is what makes a
cold, busy client miss its timeouts.

How a turn is collected: the first read of a turn becomes the batch's *leader*. It yields
once (``await asyncio.sleep(0)``), which lets every other task that is ready in this turn
run and join the batch, then fetches all keys and hands each waiter its result. The
leader does the I/O itself, so a caller pays at most one yield, never a task.

Lone callers skip even that yield: when nothing else is being read and the previous
read had no company, a read goes straight out (still open to sharing while in flight).
A sequential caller thus pays nothing; when concurrency returns, the first read of a
burst goes alone and the rest of the burst batches behind it.

Consistency: :meth:`ReadCoalescer.forget` detaches a key from the read in flight, so a
read that starts after a write of that key never shares an answer fetched before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar, final

__all__ = ["PipelineBatcher", "ReadCoalescer"]

T = TypeVar("T")


@final
class _Batch(Generic[T]):
    """Keys of one round trip and, per key, the futures of the readers that joined it."""

    __slots__ = ("waiters",)

    def __init__(self, first_key: str) -> None:
        self.waiters: dict[str, list[asyncio.Future[T]]] = {first_key: []}

    def settle(self, keys: Sequence[str], results: Sequence[T]) -> None:
        for key, result in zip(keys, results, strict=True):
            for waiter in self.waiters[key]:
                if not waiter.done():
                    waiter.set_result(result)

    def fail(self, error: BaseException) -> None:
        for waiters in self.waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)

    def cancel(self) -> None:
        for waiters in self.waiters.values():
            for waiter in waiters:
                waiter.cancel()

    def pending_keys(self) -> list[str]:
        return [k for k, ws in self.waiters.items() if any(not w.done() for w in ws)]


@final
class ReadCoalescer(Generic[T]):
    """Coalesces concurrent ``get(key)`` calls into batched ``fetch(keys)`` calls.

    ``fetch`` receives distinct keys (at most ``max_batch`` of them) and returns one
    result per key, in order; whatever it raises reaches every reader of that batch.
    Readers may be cancelled individually without disturbing the others.
    """

    __slots__ = (
        "_fetch",
        "_inflight",
        "_max_batch",
        "_open",
        "_open_size",
        "_rescues",
        "_shared",
    )

    def __init__(
        self, fetch: Callable[[list[str]], Awaitable[Sequence[T]]], *, max_batch: int = 512
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1 (got {max_batch})")
        self._fetch = fetch
        self._max_batch = max_batch
        self._open: _Batch[T] | None = None
        self._open_size = 0
        self._inflight: dict[str, _Batch[T]] = {}
        self._rescues: set[asyncio.Task[None]] = set()
        self._shared = True  # until a read has gone alone, assume company

    async def get(self, key: str) -> T:
        """The result for ``key``, fetched together with the other reads of this turn."""
        inflight = self._inflight
        batch = inflight.get(key) or self._open
        if batch is None:
            if inflight or self._shared:
                return await self._lead(key)
            # A lone reader (the hot path of sequential code): straight to the fetch,
            # inlined, but still registered so that concurrent reads can share it.
            batch = _Batch(key)
            inflight[key] = batch
            try:
                results = await self._fetch([key])
            except asyncio.CancelledError:
                self._detach(batch, [key])
                self._rescue(batch)
                raise
            except BaseException as error:
                self._detach(batch, [key])
                batch.fail(error)
                raise
            if inflight.get(key) is batch:
                del inflight[key]
            if batch.waiters[key]:  # others joined while it was in flight
                self._shared = True
                batch.settle([key], results)
            return results[0]
        waiters = batch.waiters.get(key)
        if waiters is None:
            waiters = batch.waiters[key] = []
            self._open_size += 1
            if self._open_size >= self._max_batch:
                self._open = None  # full: the next new key starts another batch
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        return await waiter

    def forget(self, key: str) -> None:
        """Detach ``key`` from reads in flight: later reads fetch it afresh (after a write)."""
        self._inflight.pop(key, None)

    async def aclose(self) -> None:
        """Cancel reads that were re-issued for cancelled leaders."""
        for task in list(self._rescues):
            task.cancel()
        if self._rescues:
            await asyncio.gather(*self._rescues, return_exceptions=True)

    async def get_many(self, keys: Sequence[str]) -> list[T]:
        """Results for distinct ``keys``, fetched together with the other reads of this turn."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[T]] = []
        led: list[_Batch[T]] = []
        for key in keys:
            batch = self._inflight.get(key) or self._open
            if batch is None:
                batch = self._open = _Batch(key)
                self._open_size = 1
                led.append(batch)
            waiters = batch.waiters.get(key)
            if waiters is None:
                waiters = batch.waiters[key] = []
                self._open_size += 1
                if self._open_size >= self._max_batch:
                    self._open = None
            future: asyncio.Future[T] = loop.create_future()
            waiters.append(future)
            futures.append(future)
        try:
            if led:
                await self._yield_turn(led)
                for batch in led:
                    with contextlib.suppress(Exception):  # the futures carry the error
                        await self._send(batch)
            return [await future for future in futures]
        except BaseException:
            for future in futures:  # settle the rest: no "exception never retrieved"
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()
            raise

    async def _lead(self, key: str) -> T:
        batch: _Batch[T] = _Batch(key)
        self._open = batch
        self._open_size = 1
        await self._yield_turn([batch])
        return (await self._send(batch))[0]

    async def _yield_turn(self, batches: list[_Batch[T]]) -> None:
        """Let the other tasks of this turn join ``batches``, then close them."""
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            for batch in batches:
                if self._open is batch:
                    self._open = None
                self._rescue(batch)
            raise
        for batch in batches:
            if self._open is batch:
                self._open = None

    async def _send(self, batch: _Batch[T]) -> Sequence[T]:
        """Fetch ``batch`` and hand out its results; fetch errors fail it and propagate."""
        keys = list(batch.waiters)
        inflight = self._inflight
        for k in keys:
            inflight[k] = batch
        try:
            results = await self._fetch(keys)
        except asyncio.CancelledError:
            self._detach(batch, keys)
            self._rescue(batch)
            raise
        except BaseException as error:
            self._detach(batch, keys)
            batch.fail(error)
            raise
        self._detach(batch, keys)
        self._shared = len(keys) > 1 or bool(batch.waiters[keys[0]])
        batch.settle(keys, results)
        return results

    def _detach(self, batch: _Batch[T], keys: list[str]) -> None:
        inflight = self._inflight
        for k in keys:
            if inflight.get(k) is batch:
                del inflight[k]

    def _rescue(self, batch: _Batch[T]) -> None:
        """The leader was cancelled mid-fetch: fetch again for the readers still waiting."""
        if not batch.pending_keys():
            return
        task = asyncio.get_running_loop().create_task(self._refetch(batch))
        self._rescues.add(task)
        task.add_done_callback(self._rescues.discard)

    async def _refetch(self, batch: _Batch[T]) -> None:
        keys = batch.pending_keys()
        try:
            results = await self._fetch(keys)
        except asyncio.CancelledError:
            batch.cancel()
            raise
        except Exception as error:
            batch.fail(error)
            return
        batch.settle(keys, results)


Command = tuple[Any, ...]


@final
class PipelineBatcher:
    """Sends the commands issued in one event-loop turn as one ``execute(commands)`` call.

    ``execute`` returns one result per command, in order; an exception *instance* in that
    list is raised to that command's caller alone, while an exception ``execute`` raises
    reaches every caller of the batch. The batch is sent by a task of its own, so a caller
    that is cancelled (a timeout) neither stops the others nor un-sends its command. Like
    :class:`ReadCoalescer`, a lone writer skips the batching and sends directly.
    """

    __slots__ = ("_direct", "_execute", "_max_batch", "_open", "_sending", "_shared")

    def __init__(
        self, execute: Callable[[list[Command]], Awaitable[Sequence[Any]]], *, max_batch: int = 512
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1 (got {max_batch})")
        self._execute = execute
        self._max_batch = max_batch
        self._open: list[tuple[Command, asyncio.Future[Any]]] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._direct = 0  # commands sent alone, in their caller's task, right now
        self._shared = True

    async def run(self, *command: Any) -> Any:
        """The result of ``command``, sent together with the other commands of this turn."""
        loop = asyncio.get_running_loop()
        batch = self._open
        if batch is None and not (self._shared or self._sending or self._direct):
            result = await self._run_alone(command)  # a lone writer: no task, no yield
        else:
            result = await self._join(loop, batch, command)
        if isinstance(result, Exception):
            raise result
        return result

    async def _run_alone(self, command: Command) -> Any:
        self._direct += 1
        try:
            return (await self._execute([command]))[0]
        finally:
            self._direct -= 1

    async def _join(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[Command, asyncio.Future[Any]]] | None,
        command: Command,
    ) -> Any:
        if batch is None:
            batch = self._open = []
            loop.call_soon(self._flush, batch)  # after every task that is ready this turn
        waiter: asyncio.Future[Any] = loop.create_future()
        batch.append((command, waiter))
        if len(batch) >= self._max_batch:
            self._open = None
        return await waiter

    async def aclose(self) -> None:
        """Wait for the batches already on their way (each is bounded by its timeouts)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _flush(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        if self._open is batch:
            self._open = None
        self._shared = len(batch) > 1
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._execute([command for command, _ in batch])
        except BaseException as error:
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, waiter), result in zip(batch, results, strict=True):
            if not waiter.done():
                waiter.set_result(result)
