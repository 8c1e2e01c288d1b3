"""Cross-instance invalidation for a tiered backend: publish, listen, watch the bus.

Every instance of a tiered cache keeps private upper tiers (L1). When one instance
deletes or rewrites a key, it publishes the key on an :class:`hitbox.InvalidationBus`;
the others drop it from their private tiers. :class:`BusWatcher` does the three jobs
around that bus:

- **Publishing**, in the background and coalesced: a write does not wait for its
  publish, and the invalidations of one event-loop turn (or those made while a message
  is in flight) go out as one message. A publish that fails is kept in a bounded
  backlog and sent again once the bus answers.
- **Listening**: one task consumes ``subscribe_invalidations()`` and applies what
  arrives (the tiered backend's ``apply`` callback).
- **Watching**: pub/sub keeps no history, so messages published while this instance is
  disconnected are lost. A monitor pings the bus (when it has ``Healthcheck``) every
  ``probe_interval``. From the moment an outage is detected, every private entry may
  be stale, so private tiers are *degraded*: new entries live at most ``outage_ttl``,
  and ``outage_ttl`` after the outage began the private tiers are flushed (entries from
  before the outage are gone). After the bus answers again, private tiers stay degraded
  for ``recovery_grace`` (the subscription may still be reconnecting); a message heard
  from another instance proves the subscription live and ends the grace early. A new
  instance starts in a short grace too (``STARTUP_GRACE``), while it subscribes.
  Staleness is thereby bounded by detection delay plus ``outage_ttl``.

A bus may yield an *empty* invalidation (no keys, no tags) each time its subscription
is (re)established. The watcher reads the first as "subscribed" (the start-up grace
ends) and any later one as "there was a gap" (the private tiers are flushed at once),
which closes the window of a reconnection quicker than the probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, final

from hitbox.backend._contract import Healthcheck, Invalidation, InvalidationBus
from hitbox.tiered._tier import describe

__all__ = ["STARTUP_GRACE", "BusWatcher"]

logger = logging.getLogger("hitbox")

_CHUNK: Final = 512
"""Most keys per published message (a message stays well under a network frame)."""
_BACKOFF_START, _BACKOFF_CAP = 0.05, 2.0
STARTUP_GRACE: Final = 0.5
"""Seconds a new instance keeps private entries short-lived while it subscribes."""


@dataclass(slots=True)
class _Pending:
    keys: dict[str, None] = field(default_factory=dict)
    tags: dict[str, None] = field(default_factory=dict)


@final
class BusWatcher:
    """Publishes, receives and watches invalidations for one tiered backend instance.

    ``apply(invalidation)`` drops what another instance invalidated; ``flush()`` drops
    every private entry; ``recovered()`` is called when the bus answers again.
    ``listen`` is False when this instance has no private tier (it then only
    publishes). ``monotonic`` is injectable for tests.
    """

    def __init__(
        self,
        bus: InvalidationBus,
        *,
        apply: Callable[[Invalidation], Awaitable[None]],
        flush: Callable[[], Awaitable[None]],
        recovered: Callable[[], None] = lambda: None,
        listen: bool,
        probe_interval: float,
        outage_ttl: float,
        recovery_grace: float,
        timeout: float = 1.0,
        backlog_limit: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self._apply = apply
        self._flush = flush
        self._recovered = recovered
        self._listen_enabled = listen
        self.probe_interval = probe_interval
        self.outage_ttl = outage_ttl
        self.recovery_grace = recovery_grace
        self._timeout = timeout
        self._backlog_limit = backlog_limit
        self._monotonic = monotonic
        # An own message must not drop our own fresh write; buses usually filter these.
        self._origin = str(getattr(bus, "origin", "") or "")
        self._can_ping = isinstance(bus, Healthcheck)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake: asyncio.Event | None = None
        self._pending = _Pending()
        self._sender: asyncio.Task[None] | None = None
        self._backlog = _Pending()
        self._closed = False
        self.down = False
        self.degraded_until = 0.0
        self.flush_due = 0.0
        self.received = 0
        self._subscriptions = 0
        self.published = 0
        self.publish_failures = 0
        self.dropped = 0
        self.flushes = 0

    # -- state ------------------------------------------------------------------------

    def degraded(self) -> bool:
        """Whether private entries must be short-lived now (outage, start or recovery)."""
        if self.down:
            return True
        until = self.degraded_until
        if until:
            if self._monotonic() < until:
                return True
            self.degraded_until = 0.0
        return False

    @property
    def state(self) -> str:
        """``"down"``, ``"recovering"`` (grace after start or outage) or ``"live"``."""
        if self.down:
            return "down"
        return "recovering" if self.degraded() else "live"

    def _go_down(self, reason: str) -> None:
        if self.down or self._closed:
            return
        now = self._monotonic()
        self.down = True
        if not self.flush_due:
            self.flush_due = now + self.outage_ttl
        logger.warning(
            "hitbox tiered: invalidation bus unavailable (%s); private tiers keep entries "
            "at most %ss until it answers again",
            reason,
            self.outage_ttl,
        )
        self._poke()

    def _recover(self) -> None:
        if not self.down:
            return
        self.down = False
        self.degraded_until = self._monotonic() + self.recovery_grace
        logger.warning("hitbox tiered: invalidation bus answers again")
        self._recovered()

    def _heard(self) -> None:
        """A message arrived: the subscription works, whatever the probes said."""
        if self.down:
            self._recover()
        self.degraded_until = 0.0

    def _subscribed(self) -> None:
        """The bus says it has (re)subscribed (an empty invalidation). The first time,
        nothing can have been missed; after that, a reconnection the probes may not have
        seen means invalidations may have been lost: flush the private tiers now."""
        if self._subscriptions and not self.flush_due:
            self.flush_due = self._monotonic()
            self._poke()
        self._subscriptions += 1
        self._heard()

    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def suspect(self) -> None:
        """An operation on the bus's backend failed: probe the bus now."""
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- lifecycle --------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start the listener and monitor on the running loop (again, if the loop changed)."""
        loop = asyncio.get_running_loop()
        if loop is self.loop or self._closed:
            return
        self._start(loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        for task in self._tasks:  # tasks of an earlier loop: that loop is gone
            if not task.done() and task.get_loop().is_running():
                task.cancel()
        self._tasks.clear()
        self._sender = None
        self.loop = loop
        self._wake = asyncio.Event()
        # Until the subscription is set up (a round trip or two), invalidations may be
        # missed; a reconnection after an outage may take longer (recovery_grace).
        self.degraded_until = self._monotonic() + min(self.recovery_grace, STARTUP_GRACE)
        if self._listen_enabled:
            self._spawn(self._listen())
        self._spawn(self._monitor())

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Send what is still pending (for at most the publish timeout), then stop."""
        if self._sender is not None and self._sender.get_loop() is self.loop:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._timeout):
                    await self.flush()
        self._closed = True
        tasks = [task for task in (*self._tasks, self._sender) if task is not None]
        tasks = [task for task in tasks if task.get_loop() is self.loop]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    # -- publishing -------------------------------------------------------------------

    def publish(self, keys: Sequence[str], tags: Sequence[str] = ()) -> None:
        """Tell the other instances to drop ``keys`` and ``tags``, in the background.

        One sender task drains what accumulates: the calls of one loop turn (and those
        made while a message is in flight) share one message, so a burst of writes costs
        a few publishes, and a write never waits for one. While the bus is down the
        invalidation goes to the backlog, sent when the bus answers again.
        """
        if self._closed:
            return
        if self.down:
            self._defer(keys, tags)
            return
        pending = self._pending
        pending.keys.update(dict.fromkeys(keys))
        pending.tags.update(dict.fromkeys(tags))
        sender = self._sender
        if sender is None or sender.done():
            self._sender = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # the rest of this loop turn's writes join the message
        while self._pending.keys or self._pending.tags:
            batch, self._pending = self._pending, _Pending()
            await self._publish_all(list(batch.keys), list(batch.tags))

    async def flush(self) -> None:
        """Wait until what was published so far has been sent (or moved to the backlog)."""
        while self._sender is not None and not self._sender.done():
            await asyncio.shield(self._sender)

    async def _publish_all(self, keys: list[str], tags: list[str]) -> bool:
        """Publish in chunks; what fails goes to the backlog. Whether all went out."""
        chunks = [keys[start : start + _CHUNK] for start in range(0, len(keys), _CHUNK)] or [[]]
        for index, chunk in enumerate(chunks):
            chunk_tags = tags if index == 0 else []
            try:
                async with asyncio.timeout(self._timeout):
                    await self.bus.publish_invalidation(chunk, chunk_tags)
            except Exception as exc:
                self.publish_failures += 1
                logger.warning(
                    "hitbox tiered: publishing an invalidation failed (%s); it is sent again "
                    "when the bus answers",
                    describe(exc),
                )
                self._defer([key for rest in chunks[index:] for key in rest], chunk_tags)
                self._poke()
                return False
            self.published += 1
        return True

    def _defer(self, keys: Sequence[str], tags: Sequence[str]) -> None:
        backlog = self._backlog
        backlog.keys.update(dict.fromkeys(keys))
        backlog.tags.update(dict.fromkeys(tags))
        excess = len(backlog.keys) + len(backlog.tags) - self._backlog_limit
        if excess > 0:
            self.dropped += excess
            logger.warning(
                "hitbox tiered: invalidation backlog full; %d oldest invalidations dropped "
                "(other instances keep those entries until they expire)",
                excess,
            )
            for collection in (backlog.keys, backlog.tags):
                while excess > 0 and collection:
                    del collection[next(iter(collection))]
                    excess -= 1

    async def _send_backlog(self) -> None:
        backlog, self._backlog = self._backlog, _Pending()
        if backlog.keys or backlog.tags:
            await self._publish_all(list(backlog.keys), list(backlog.tags))

    # -- listening and watching -------------------------------------------------------

    async def _listen(self) -> None:
        backoff = _BACKOFF_START
        while not self._closed:
            try:
                async for invalidation in self.bus.subscribe_invalidations():
                    backoff = _BACKOFF_START
                    if not (invalidation.keys or invalidation.tags):
                        self._subscribed()
                        continue
                    self._heard()
                    if self._origin and invalidation.origin == self._origin:
                        continue
                    self.received += 1
                    try:
                        await self._apply(invalidation)
                    except Exception as exc:
                        logger.warning(
                            "hitbox tiered: applying an invalidation failed (%s)", describe(exc)
                        )
                reason = "the subscription ended"
            except Exception as exc:
                reason = f"the subscription failed: {describe(exc)}"
            if self.closed():
                return
            self._go_down(reason)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_CAP)
            self._recover()

    async def _probe(self) -> bool:
        if not self._can_ping:
            return True
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self.bus.ping())  # type: ignore[attr-defined]
        except Exception:
            return False

    async def _monitor(self) -> None:
        wake = self._wake
        assert wake is not None
        while not self._closed:
            delay = self.probe_interval
            if self.flush_due:
                delay = max(0.0, min(delay, self.flush_due - self._monotonic()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
            wake.clear()
            healthy = await self._probe()
            if not healthy:
                self._go_down("it does not answer its health check")
            elif self.down:
                self._recover()
            if self.flush_due and self._monotonic() >= self.flush_due:
                self.flush_due = 0.0
                self.flushes += 1
                # Entries written since the outage began are short-lived already.
                await self._flush()
            if healthy and not self.down:
                await self._send_backlog()
