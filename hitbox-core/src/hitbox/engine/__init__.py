"""Everything a protocol layer needs to run its requests through the state machine.

A protocol layer (HTTP, gRPC, a message queue, a binary protocol) builds one
:class:`Engine` over a backend and gives it an I/O adapter (:class:`Io`): how an entry is
read for a call, classified (``HIT``, ``STALE``, ``MISS``), decoded and stored. It then
runs each request as a :class:`Call` through :meth:`Engine.execute` and gets, with no
code of its own: single-flight of concurrent calls of one key (``LOCKED`` waiters, an
optional :data:`Adopt` hook for waiters that may not share the leader's value),
stale-while-revalidate in the background, stale-if-error, distributed locks, fail-open
with the :class:`Guard` (timeout, circuit breaker, failure log), counters
(:class:`Stats`) and one :class:`CacheEvent` per run for the ``hitbox_cache_event``
plugins.

See ``docs/write-a-protocol-layer.md`` and ``examples/grpc_cache``.
"""

from hitbox._clock import as_clock
from hitbox._defaults import DEFAULT_FAILURE_THRESHOLD, DEFAULT_PROBE_INTERVAL
from hitbox.engine._breaker import CircuitBreaker, FailureLog
from hitbox.engine._call import REFUSED, UNREAD, Adopt, Call, Io
from hitbox.engine._counters import Counters, Stats
from hitbox.engine._engine import Engine, IoFactory
from hitbox.engine._events import CacheEvent, EventSink, Operation
from hitbox.engine._flights import Flight
from hitbox.engine._guard import POISON_TTL, BackendSkipped, Guard, describe
from hitbox.engine._machine import Machine
from hitbox.fsm import InvalidTransition, Run, State, classify
from hitbox.plugins import PluginManager, get_plugin_manager

__all__ = [
    "Adopt",
    "BackendSkipped",
    "CacheEvent",
    "Call",
    "CircuitBreaker",
    "Counters",
    "DEFAULT_FAILURE_THRESHOLD",
    "DEFAULT_PROBE_INTERVAL",
    "Engine",
    "EventSink",
    "FailureLog",
    "Flight",
    "Guard",
    "InvalidTransition",
    "Io",
    "IoFactory",
    "Machine",
    "Operation",
    "POISON_TTL",
    "PluginManager",
    "REFUSED",
    "Run",
    "State",
    "Stats",
    "UNREAD",
    "as_clock",
    "classify",
    "describe",
    "get_plugin_manager",
]
