"""What the cache tells observers: :class:`CacheEvent`, one per state-machine run.

Events go to plugins implementing the ``hitbox_cache_event(event)`` hook (metrics,
tracing, logging). Whether any plugin listens is decided once, when a cache is built;
with no listener, no event object is ever created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

from hitbox.engine._breaker import FailureLog
from hitbox.engine._guard import describe
from hitbox.fsm import Run, State

if TYPE_CHECKING:
    from hitbox.engine._machine import Call

__all__ = ["HIT_PATH", "CacheEvent", "EventSink", "Listener", "Operation", "event_listeners"]

Operation = str
"""Which entry point started the run. The core's: ``"cached"`` (a decorated function),
``"fetch"`` (:meth:`Cache.fetch`), ``"get"`` (:meth:`Cache.get`), ``"refresh"`` (a
background refresh of a stale entry); ``"http"`` for a request answered by the RFC 9111
cache of ``hitbox-http``. Other protocol layers name their own (``"grpc"``)."""


@final
@dataclass(frozen=True, slots=True)
class CacheEvent:
    """One run of the cache state machine, as observers see it.

    ``path`` lists every state the run went through, in order, ending with
    :attr:`State.RESPONSE` (e.g. ``(PENDING, MISS, LOCKED, RESPONSE)``); each adjacent
    pair is one transition. A background refresh records only its second half, starting
    at :attr:`State.MISS`.

    Durations are seconds measured with :func:`time.perf_counter`. ``upstream_duration``
    is ``None`` when this run did not call the upstream. ``error`` describes the backend
    failure (or undecodable entry) that sent the run to ``ERROR`` or ``MISS``;
    ``upstream_error`` names the exception the upstream raised, if any (it was re-raised
    to the caller unless a stale entry was served instead). ``backend_duration`` is the
    time spent waiting for the backend (reads, writes, locks) during the run; on a hit
    answered by the decorator's fast path it equals ``duration``. ``cache`` is the name
    the cache was given (``Cache(name=...)``).
    """

    key: str
    path: tuple[State, ...]
    backend: str
    operation: Operation
    duration: float
    upstream_duration: float | None = None
    error: str | None = None
    upstream_error: str | None = None
    backend_duration: float = 0.0
    cache: str = "default"

    @property
    def outcome(self) -> State:
        """The state that decided the answer: the last one before ``RESPONSE``."""
        for state in reversed(self.path):
            if state is not State.RESPONSE:
                return state
        return State.RESPONSE

    @property
    def upstream_called(self) -> bool:
        """Whether this run called the upstream itself."""
        return self.upstream_duration is not None

    def describe(self) -> str:
        """The path as text, e.g. ``"PENDING → MISS → RESPONSE"``."""
        return " → ".join(state.name for state in self.path)


HIT_PATH: Final = (State.PENDING, State.HIT, State.RESPONSE)
"""The path of a plain fresh hit."""

Listener = Callable[[CacheEvent], object]
"""One ``hitbox_cache_event`` implementation, callable with the event."""


def _without_argument(function: Callable[[], object]) -> Listener:
    def listener(event: CacheEvent) -> object:
        return function()

    return listener


def event_listeners(hook_caller: Any) -> list[Listener] | None:
    """The ``hitbox_cache_event`` implementations of ``hook_caller``, in pluggy's call
    order, to call directly; ``None`` if one is a wrapper (only pluggy can run those).

    Calling the functions saves pluggy's per-call dispatch (argument mapping, result
    list, wrapper protocol) on every run; the list is read once, when a cache is built.
    """
    impls = hook_caller.get_hookimpls()
    if any(impl.hookwrapper or getattr(impl, "wrapper", False) for impl in impls):
        return None
    # pluggy calls the implementations registered (or ordered) last first.
    return [
        impl.function if "event" in impl.argnames else _without_argument(impl.function)
        for impl in reversed(impls)
    ]


@final
class EventSink:
    """Builds one cache's events and hands them to its listeners.

    ``hook_caller`` is the plugin manager's ``hitbox_cache_event`` hook; its
    implementations are read once, here. A listener that raises is logged through
    ``log`` (rate-limited) and never breaks a call.
    """

    __slots__ = ("_hook", "_listeners", "backend", "listening", "log", "name")

    def __init__(self, hook_caller: Any, backend: str, name: str, log: FailureLog) -> None:
        self._hook = hook_caller
        self._listeners = event_listeners(hook_caller)
        self.listening = bool(hook_caller.get_hookimpls())
        self.backend = backend
        self.name = name
        self.log = log

    def observe(self, call: Call, run: Run, duration: float) -> None:
        """Report a run of the state machine that took ``duration`` seconds."""
        self.dispatch(
            CacheEvent(
                call.key,
                tuple(run.path),
                self.backend,
                call.operation,
                duration,
                run.upstream_duration,
                run.error,
                run.upstream_error,
                run.backend_duration,
                self.name,
            )
        )

    def hit(self, key: str, duration: float) -> None:
        """Report a hit the decorator answered on its fast path."""
        self.dispatch(
            CacheEvent(
                key,
                HIT_PATH,
                self.backend,
                "cached",
                duration,
                None,
                None,
                None,
                duration,
                self.name,
            )
        )

    def dispatch(self, event: CacheEvent) -> None:
        """Hand ``event`` to every listener."""
        listeners = self._listeners
        if listeners is None:  # a hook wrapper is installed: only pluggy can run it
            try:
                self._hook(event=event)
            except Exception as exc:
                self.log.warn("event", f"a hitbox_cache_event plugin raised {describe(exc)}")
            return
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:
                self.log.warn("event", f"a hitbox_cache_event plugin raised {describe(exc)}")
