"""What a protocol layer hands the state machine: a :class:`Call`, and the :class:`Io`
adapter that reads, classifies, decodes and stores entries for it.

The machine (:mod:`hitbox.engine._machine`) is written against these; a protocol layer
implements :class:`Io` and builds calls (see ``docs/write-a-protocol-layer.md``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, final

from hitbox.engine._events import Operation
from hitbox.engine._flights import Flight
from hitbox.fsm import Run, State
from hitbox.policy import Policy

__all__ = ["REFUSED", "UNREAD", "Adopt", "Call", "Io", "Observer", "Unread"]


@final
class Unread:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNREAD"


UNREAD: Final = Unread()
"""Passed as ``entry`` when the backend has not been read yet for this run."""

REFUSED: Final = object()
"""What an :data:`Adopt` hook returns when a waiter may not use the leader's value."""


def _no_hint() -> Any:
    return None


@final
@dataclass(slots=True)
class Call:
    """Everything one run needs to know about the call being cached.

    ``upstream`` produces the value (the decorated function with its arguments bound,
    or a request's upstream). ``type_hint()`` returns the type to restore values as (or
    ``None``); it is a callable so the hint can be resolved lazily, once. ``context`` is
    whatever a protocol layer's :class:`Io` and :data:`Adopt` hook need to know about
    the call (the HTTP layer puts the request's exchange there); the machine never
    looks at it.
    """

    key: str
    policy: Policy
    upstream: Callable[[], Awaitable[Any]]
    type_hint: Callable[[], Any] = _no_hint
    tags: tuple[str, ...] = ()
    operation: Operation = "cached"
    context: Any = None
    flight: Flight | None = None
    """The flight this call's upstream produces for, set by the machine while the
    upstream runs. With an :data:`Adopt` hook, the upstream may ``flight.resolve(value)``
    early to let waiters go before it returns (the HTTP middleware does, for a response
    it streams but will not store)."""


class Io(Protocol):
    """The backend side of a run, as the machine needs it.

    An *entry* is whatever the adapter reads for a call (``None``: nothing there); the
    machine never looks inside one, it asks the adapter to classify and decode it.
    ``read`` raises :class:`BackendError` when the backend failed (or is switched off)
    and :class:`CorruptEntry` when it returned something unusable; ``decode`` raises
    :class:`CorruptEntry`. ``store`` and ``release_lock`` never raise.
    """

    can_lock: bool
    """Whether the backend has the ``LockingBackend`` capability."""

    async def read(self, call: Call) -> Any:
        """The entry for ``call.key``, or ``None`` (absent, or invalidated by a tag)."""
        ...

    def classify(self, entry: Any, call: Call, now: float) -> State:
        """``HIT`` (serve it), ``STALE`` (serve it and refresh in the background) or
        ``MISS`` (ask the upstream) for ``entry`` (``None`` is a miss) at ``now``."""
        ...

    def usable_on_error(self, entry: Any, call: Call, now: float) -> bool:
        """Whether ``entry`` may answer ``call`` at ``now`` if the upstream fails."""
        ...

    def decode(self, entry: Any, call: Call) -> Any:
        """The value held by ``entry``, restored as ``call.type_hint()``."""
        ...

    async def store(self, call: Call, value: Any, created_at: float) -> bool:
        """Write ``value`` under ``call.key``; whether it was stored."""
        ...

    async def acquire_lock(self, call: Call) -> str | None:
        """A lock token for ``call.key`` with a ``lock_timeout`` lease, or ``None``."""
        ...

    async def release_lock(self, call: Call, token: str) -> None:
        """Release the lock taken with ``token``."""
        ...


Observer = Callable[[Call, Run, float], None]
"""Called after every run (``call``, its ``run``, duration in seconds) when set."""

Adopt = Callable[[Call, Any], Any]
"""How a waiter takes the value its key's leader produced: ``adopt(call, value)`` returns
what ``call`` answers with, or :data:`REFUSED` when that value is not for this call, which
then calls the upstream itself, alone. Without one, waiters share only values the policy
lets the cache store (others make them retry, one leader at a time); with one, they are
handed every value the leader produced, and the hook decides.
The HTTP layer uses it because one URL has many answers: a waiter whose ``Vary`` header
values or request directives differ from the leader's must not reuse its response.
"""
