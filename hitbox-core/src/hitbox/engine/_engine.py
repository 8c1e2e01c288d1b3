"""The engine: one state machine over one backend, assembled once, for any protocol layer.

:class:`Engine` owns the parts every cache needs and builds them one way: the guard
around the backend (timeout, circuit breaker, failure log), the counters, the event sink
that feeds the ``hitbox_cache_event`` plugins, and the :class:`~hitbox.engine.Machine`
that runs calls. What differs between protocol layers is the I/O adapter (how an entry
is read, classified, decoded and stored): the engine builds it from the factory it is
given, once its guard and counters exist. :class:`hitbox.Cache` gives it the serializing,
tag-aware adapter; ``hitbox-http`` gives it an RFC 9111 one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, final

from hitbox._clock import Clock, as_clock
from hitbox.backend._contract import Backend
from hitbox.engine._counters import Counters, Stats
from hitbox.engine._events import EventSink
from hitbox.engine._guard import Guard, describe
from hitbox.engine._machine import UNREAD, Adopt, Call, Io, Machine
from hitbox.plugins import PluginManager, get_plugin_manager
from hitbox.policy import Policy

__all__ = ["Engine", "IoFactory"]

IoFactory = Callable[["Engine"], Io]
"""Builds an engine's I/O adapter; called once, with the engine whose ``guard``,
``counters``, ``clock`` and ``policy`` are ready."""


@final
class Engine:
    """A state machine over ``backend`` with everything around it, built once.

    ``io`` builds the I/O adapter (see :data:`IoFactory`). ``policy`` gives the defaults
    and the guard's settings (``backend_timeout``, ``failure_threshold``, ``cooldown``);
    calls carry their own policy. ``clock`` is a :class:`hitbox.Clock` or a plain time
    function (unix seconds). ``plugins`` (default: the process-wide manager) hear one
    ``hitbox_cache_event`` per run, labelled ``name``, and the backend's own events.
    ``adopt`` is the waiters' hook (:data:`~hitbox.engine.Adopt`). At most
    ``max_background`` stale refreshes run at once. ``guard``: another engine's guard
    over the same backend, to share its circuit breaker (counters stay this engine's).
    """

    __slots__ = (
        "_closed",
        "_owns_guard",
        "backend",
        "clock",
        "counters",
        "events",
        "guard",
        "io",
        "machine",
        "policy",
    )

    def __init__(
        self,
        backend: Backend,
        io: IoFactory,
        *,
        policy: Policy | None = None,
        clock: Clock | Callable[[], float] | None = None,
        plugins: PluginManager | None = None,
        name: str = "default",
        max_background: int = 64,
        adopt: Adopt | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy if policy is not None else Policy()
        self.clock = as_clock(clock)
        self.counters = Counters()
        self._closed = False
        self._owns_guard = guard is None
        if guard is not None:  # another engine's backend: one breaker for both
            self.guard = guard.sharing(self.counters)
        else:
            self.guard = Guard(
                backend,
                clock=self.clock,
                counters=self.counters,
                timeout=self.policy.backend_timeout,
                failure_threshold=self.policy.failure_threshold,
                probe_interval=self.policy.cooldown,
            )
        manager = plugins if plugins is not None else get_plugin_manager()
        # The backend's own events (``Backend.emit_event``) go to its owner's plugins.
        with contextlib.suppress(AttributeError):  # a backend with __slots__ keeps the default
            backend.plugins = manager
        self.events = EventSink(
            manager.hook.hitbox_cache_event, self.guard.label, name, self.guard.log
        )
        self.io = io(self)
        self.machine = Machine(
            self.io,
            self.clock,
            self.counters,
            max_background=max_background,
            observer=self.events.observe if self.events.listening else None,
            log=self.guard.log,
            adopt=adopt,
            deadlines=self.guard.deadlines,
        )

    @property
    def name(self) -> str:
        """The name the engine's events carry."""
        return self.events.name

    @property
    def label(self) -> str:
        """The backend's label in logs and events."""
        return self.guard.label

    @property
    def listening(self) -> bool:
        """Whether any plugin hears this engine's events (decided once, at construction)."""
        return self.events.listening

    @property
    def breaker_state(self) -> str:
        """The guard's circuit breaker: ``"closed"``, ``"open"`` or ``"half-open"``."""
        return self.guard.breaker.state

    async def execute(self, call: Call, entry: Any = UNREAD) -> Any:
        """Run ``call`` through the state machine; ``entry`` is what a fast path already
        read for it. Fails open: only the upstream's own exception reaches the caller."""
        return await self.machine.execute(call, entry)

    def stats(self) -> Stats:
        """Counters since creation."""
        return self.counters.snapshot()

    async def aclose(self, *, close_backend: bool = True) -> None:
        """Stop background refreshes and probes and close the backend unless
        ``close_backend`` is false. Idempotent. An engine with its own guard switches the
        backend off for good (later calls go to the upstream); one sharing another
        engine's guard leaves that engine's breaker alone."""
        if self._closed:
            return
        self._closed = True
        guard = self.guard
        if self._owns_guard:
            guard.breaker.force_open()
        await self.machine.aclose()
        await guard.aclose()
        if close_backend:
            try:
                await self.backend.aclose()
            except Exception as exc:
                guard.log.warn("close", f"closing the backend failed: {describe(exc)}")
