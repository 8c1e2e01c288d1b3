"""The cache state machine: states, the transition table, and the recorded path of a run.

Every cache operation is one run of this machine. A run starts in ``PENDING`` and ends
in ``RESPONSE``; :class:`Run` records the path and refuses any transition the table
does not allow, so tests can assert exact paths such as ``PENDING → MISS → RESPONSE``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, final

from hitbox._errors import HitboxError

if TYPE_CHECKING:
    from hitbox.backend._value import CachedValue

__all__ = ["TRANSITIONS", "InvalidTransition", "Run", "State", "classify"]


@final
class State(enum.Enum):
    """A state of one cache run."""

    PENDING = "pending"
    """Request received; the backend is read (bounded by ``backend_timeout``)."""
    HIT = "hit"
    """The entry is fresh: decode it and answer."""
    STALE = "stale"
    """A stale entry is served: inside ``max_stale`` (and refreshed in the background),
    or inside ``stale_if_error`` because the upstream failed."""
    MISS = "miss"
    """No usable entry: become the key's leader and call the upstream, or wait."""
    LOCKED = "locked"
    """Another caller (here or in another process) is refreshing the key: wait for it,
    at most ``lock_timeout``."""
    ERROR = "error"
    """The backend failed, timed out or is switched off by the circuit breaker: the
    upstream answers instead. Backend errors never reach the caller."""
    RESPONSE = "response"
    """Terminal: a value was returned (or the upstream's own exception was raised)."""

    # Members are singletons compared by identity; the identity hash is computed in C,
    # where Enum's hashes the name in Python, on every checked transition.
    __hash__ = object.__hash__


_S = State

TRANSITIONS: Final[Mapping[State, frozenset[State]]] = MappingProxyType(
    {
        _S.PENDING: frozenset({_S.HIT, _S.STALE, _S.MISS, _S.ERROR}),
        # An entry that cannot be decoded is a miss.
        _S.HIT: frozenset({_S.RESPONSE, _S.MISS}),
        _S.STALE: frozenset({_S.RESPONSE, _S.MISS}),
        # A leader answers; a follower waits (LOCKED); a failed upstream may fall back to
        # a stale entry (STALE); a failed lock operation is a backend error (ERROR).
        _S.MISS: frozenset({_S.LOCKED, _S.ERROR, _S.STALE, _S.RESPONSE}),
        # A waiter gets the leader's value (RESPONSE), retries after the leader failed or
        # refused its result (MISS), or gives up waiting and calls upstream itself.
        _S.LOCKED: frozenset({_S.MISS, _S.ERROR, _S.STALE, _S.RESPONSE}),
        # Local single-flight still collapses callers while the backend is down.
        _S.ERROR: frozenset({_S.LOCKED, _S.STALE, _S.RESPONSE}),
        _S.RESPONSE: frozenset(),
    }
)
"""Allowed transitions: ``TRANSITIONS[current]`` is the set of possible next states."""


class InvalidTransition(HitboxError, RuntimeError):  # noqa: N818 - names the condition
    """A run tried a transition the table does not allow (a bug in the machine)."""


@final
class Run:
    """The recorded path of one cache run.

    ``Run()`` starts in ``PENDING``; ``Run(State.MISS)`` starts a background refresh,
    which is the second half of a run. :meth:`to` checks each step against
    :data:`TRANSITIONS`. The run also notes what observers want to know: the backend
    problem that sent it to ``ERROR`` (or ``MISS``), the seconds spent waiting for the
    backend, and the upstream call's duration, value and exception (so a failure of the
    cache after the upstream answered can still hand the caller the upstream's answer).
    """

    __slots__ = (
        "backend_duration",
        "error",
        "path",
        "state",
        "upstream_duration",
        "upstream_error",
        "upstream_exception",
        "upstream_result",
    )

    def __init__(self, start: State = State.PENDING) -> None:
        self.state = start
        self.path: list[State] = [start]
        self.error: str | None = None
        self.upstream_duration: float | None = None
        self.upstream_error: str | None = None
        self.upstream_exception: Exception | None = None
        self.upstream_result: Any = None
        self.backend_duration = 0.0

    def to(self, state: State) -> None:
        """Move to ``state``; raise :class:`InvalidTransition` if the table forbids it."""
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(
                f"invalid transition {self.state.name} → {state.name} "
                f"(path so far: {' → '.join(s.name for s in self.path)})"
            )
        self.state = state
        self.path.append(state)

    @property
    def finished(self) -> bool:
        """Whether the run reached ``RESPONSE``."""
        return self.state is State.RESPONSE

    def __repr__(self) -> str:
        return f"Run({' → '.join(state.name for state in self.path)})"


def classify(entry: CachedValue | None, now: float) -> State:
    """Where a read leads at time ``now``: ``HIT``, ``STALE`` or ``MISS``.

    Fresh before ``fresh_until``, stale before ``stale_until``, of no use after. An
    expired entry may still serve as a ``stale_if_error`` fallback; that is the caller's
    decision, not this function's.
    """
    if entry is None:
        return State.MISS
    if now < entry.fresh_until:
        return State.HIT
    if now < entry.stale_until:
        return State.STALE
    return State.MISS
