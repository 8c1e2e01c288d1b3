"""Everything a backend author needs, and nothing else: the public face for backends.

A backend is an independent distribution that imports only this module (plus
:mod:`hitbox.testing` for its conformance tests). It gets:

- the contract: :class:`Backend` and the optional capabilities :class:`BatchBackend`,
  :class:`LockingBackend`, :class:`Healthcheck`, :class:`InvalidationBus` (with
  :class:`Invalidation`), :class:`SyncReads`, :class:`FreshReads`, :class:`LocalReads`
  (with :data:`NOT_LOCAL`), and what entries are: :class:`CachedValue`, :data:`NO_VALUE`;
- configuration: :class:`BackendConfig` (the base of a backend's validated settings) and
  the registry a plugin adds its backend to (:class:`BackendRegistry`, :class:`BackendSpec`)
  through a :data:`hookimpl`;
- byte helpers: the :class:`Codec` protocol and :class:`EnvelopeCodec` (compression,
  signing);
- the errors a backend raises: :class:`BackendError`, :class:`CorruptEntry`,
  :class:`ConfigError`;
- reporting: :class:`BackendEvent` and :func:`emit_backend_event` (unusual things the
  backend noticed), :class:`RateLimitedLogger` (warnings that cannot flood a log);
- :class:`Deadlines`: many short timeouts on one shared timer per event loop;
  :func:`as_clock`: a :class:`hitbox.Clock` from whatever clock a user passed.

See ``docs/write-a-backend.md``.
"""

from hitbox._clock import as_clock
from hitbox._errors import BackendError, ConfigError, CorruptEntry
from hitbox._logging import RateLimitedLogger
from hitbox.backend._codec import Codec, EnvelopeCodec
from hitbox.backend._config import BackendConfig
from hitbox.backend._contract import (
    Backend,
    BatchBackend,
    FreshReads,
    Healthcheck,
    Invalidation,
    InvalidationBus,
    LocalReads,
    LockingBackend,
    SyncReads,
)
from hitbox.backend._deadlines import Deadlines
from hitbox.backend._events import BackendEvent, emit_backend_event
from hitbox.backend._value import NO_VALUE, NOT_LOCAL, CachedValue
from hitbox.plugins import BackendRegistry, BackendSpec, hookimpl

__all__ = [
    "Backend",
    "BackendConfig",
    "BackendError",
    "BackendEvent",
    "BackendRegistry",
    "BackendSpec",
    "BatchBackend",
    "CachedValue",
    "Codec",
    "ConfigError",
    "CorruptEntry",
    "Deadlines",
    "EnvelopeCodec",
    "FreshReads",
    "Healthcheck",
    "Invalidation",
    "InvalidationBus",
    "LocalReads",
    "LockingBackend",
    "NOT_LOCAL",
    "NO_VALUE",
    "RateLimitedLogger",
    "SyncReads",
    "as_clock",
    "emit_backend_event",
    "hookimpl",
]
