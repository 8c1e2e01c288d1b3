"""The backend contract and the optional capability protocols.

A backend needs three methods (``get``, ``set``, ``delete``); ``open`` and ``aclose``
default to no-ops. Extra abilities are small :class:`typing.Protocol` classes a backend may also
implement; the core checks them once, when a cache is configured, never per call.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, final, runtime_checkable

from hitbox.backend._codec import Codec
from hitbox.backend._events import emit_backend_event
from hitbox.backend._value import CachedValue

if TYPE_CHECKING:
    from hitbox.plugins import PluginManager

__all__ = [
    "Backend",
    "BatchBackend",
    "FreshReads",
    "Healthcheck",
    "Invalidation",
    "InvalidationBus",
    "LocalReads",
    "LockingBackend",
    "SyncReads",
]


class Backend(abc.ABC):
    """Where cache entries live. Subclass it and implement ``get``, ``set`` and ``delete``.

    Backends raise whatever their client raises; the cache turns every failure into an
    upstream call (fail-open). A backend never decides freshness: it returns what it holds
    until ``ttl`` seconds after ``set`` and may drop entries earlier (eviction).

    Class (or instance) attributes describe the backend to the core; the core reads them
    once, when a cache is configured:

    ``is_local``
        True for in-process backends whose operations never block on I/O. The core then
        skips per-operation timeouts and task creation on the hot path.
    ``stores_objects``
        True if the backend keeps :attr:`CachedValue.value` (object mode), so a hit needs
        no deserialization.
    ``open_timeout``
        Most seconds the cache waits for :meth:`open` before a first call goes ahead
        without it (the open itself carries on). Set it from your connect timeouts.

    A backend that stores bytes says which :attr:`codec` it encodes them with; tools
    (``hitbox check``) read :attr:`signed` from it.
    """

    is_local: bool = False
    stores_objects: bool = False
    label: str = ""
    """A short name for metrics and logs (defaults to the registered backend name)."""
    plugins: PluginManager | None = None
    """The plugin manager of the cache that owns this backend (set by the cache when it is
    built); :meth:`emit_event` reports to its ``hitbox_backend_event`` listeners."""
    open_timeout: float = 5.0
    """Seconds the cache lets :meth:`open` take before calls go ahead without it."""

    @abc.abstractmethod
    async def get(self, key: str) -> CachedValue | None:
        """Return the entry stored under ``key``, or ``None`` if there is none."""

    @abc.abstractmethod
    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``ttl > 0``), replacing any entry."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the entry under ``key``; deleting a missing key is not an error."""

    async def open(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Connect now: open connections and clients, check the store is reachable.

        Optional. A backend that connects on first use implements it so that the first
        call after start does not pay the connection inside the cache's per-call
        ``backend_timeout`` (and fail open). The cache calls it once: when the
        application asks (``await cache.open()``, ``async with cache``), else before
        its first operation on an event loop, outside ``backend_timeout``, waiting up to
        :attr:`open_timeout`. Bound it by your own connect timeouts; raise if the store
        cannot be reached (the cache logs it and goes on: calls then connect on demand).
        Idempotent; may be called again after a failure, or on a new event loop.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Release connections and background resources. Idempotent."""

    def emit_event(self, kind: str, key: str, **detail: object) -> None:
        """Report something unusual about ``key`` (``kind``, e.g. ``"oversized"``) to the
        ``hitbox_backend_event`` listeners of the cache that owns this backend (of the
        process-wide plugin manager before a cache owns it); never raises."""
        emit_backend_event(
            kind, self.label or type(self).__name__, key, plugins=self.plugins, **detail
        )

    @property
    def codec(self) -> Codec | None:
        """The codec this backend stores entries with (an :class:`EnvelopeCodec` in the
        built-in backends). ``None`` by default: a backend that stores objects, or one that
        does not say. Override it in a backend that stores bytes."""
        return None

    @property
    def signed(self) -> bool | None:
        """Whether this backend's entries are signed (HMAC with a ``signing_key``), so
        that a tampered entry, or one copied under another key, reads as a miss; ``None``
        when the backend does not say. By default, what its :attr:`codec` says (an
        :class:`EnvelopeCodec`'s ``signed``); a codec without ``signed`` says nothing.
        """
        signed = getattr(self.codec, "signed", None)
        return signed if isinstance(signed, bool) else None


@runtime_checkable
class SyncReads(Protocol):
    """A backend that can also read without awaiting, from any thread. The decorator's
    fresh-hit path reads with it: for an in-process backend (``is_local``) it saves a
    coroutine per hit; a sync function's hits (``@cache.cached`` on a ``def``) read with
    it in the calling thread, blocking on I/O for a remote backend, instead of going
    through the cache's private loop. Everything else keeps the async ``get``. An
    instance that cannot serve it in its configuration sets ``sync_reads = False``."""

    def get_sync(self, key: str) -> CachedValue | None:
        """What ``await get(key)`` returns, without a coroutine."""
        ...


@runtime_checkable
class LocalReads(Protocol):
    """A backend that can tell, for some keys, what ``get`` would return from what this
    process holds, without I/O and without awaiting: an in-process store, or the
    in-process upper tier of a tiered backend. An event loop may call it inline (the
    HTTP proxy's server answers hits in place with it); for every other key the caller
    awaits ``get`` as usual, which may fill what this process holds. An instance that
    cannot serve it in its configuration sets ``local_reads = False``."""

    def read_local(self, key: str) -> Any:
        """What ``await get(key)`` would return now (a :class:`CachedValue` or ``None``),
        or :data:`~hitbox.backend.NOT_LOCAL` when that is not known without I/O. Never
        blocks on I/O, never raises, safe from any thread. In object mode, the same
        entry object while the stored entry is unchanged (a rewrite or a refill gives a
        new one), so a caller may keep what it derived from an entry while ``is`` holds."""
        ...


@runtime_checkable
class FreshReads(Protocol):
    """An object-mode, in-process backend that answers a fresh hit in one call.

    The decorator's hit path on such a backend (``is_local`` and ``stores_objects``) is
    one call of :meth:`fresh_value` with the key and the cache's clock reading: no
    :class:`CachedValue` is handed out, checked and unpacked per hit. Everything that is
    not a fresh hit then takes the usual path (:meth:`Backend.get`, the state machine),
    which judges the entry again: ``fresh_value`` only ever says "here is the value" or
    "ask again"."""

    def fresh_value(self, key: str, now: float) -> Any:
        """The value kept under ``key`` if its entry is live, fresh at ``now``
        (``now < fresh_until``), carries no tags and keeps its decoded value; else
        :data:`NO_VALUE`. ``now`` comes from the cache's clock; a backend may also use it
        for its own expiry check (one clock reading per hit). Never raises, never blocks,
        safe from any thread; a hit counts as an access for the backend's eviction."""
        ...


@runtime_checkable
class BatchBackend(Protocol):
    """A backend that reads and writes many keys in one round trip."""

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """Entries for ``keys``, in order; ``None`` where missing."""
        ...

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store each ``key -> (value, ttl)``."""
        ...

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every key in ``keys``."""
        ...


@runtime_checkable
class LockingBackend(Protocol):
    """A backend that offers a lease lock per key, for single-flight across processes."""

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Try to take the lock for ``key`` for ``ttl`` seconds.

        Returns an opaque token on success, ``None`` if someone else holds it.
        """
        ...

    async def release_lock(self, key: str, token: str) -> None:
        """Release the lock for ``key`` if (and only if) ``token`` still owns it."""
        ...


@final
@dataclass(frozen=True, slots=True)
class Invalidation:
    """What travels over an :class:`InvalidationBus`: keys and/or tags to drop.

    ``origin`` identifies the publishing instance, so it can ignore its own messages.
    """

    keys: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    origin: str = ""


@runtime_checkable
class InvalidationBus(Protocol):
    """Publishes and receives invalidations between instances (e.g. Redis pub/sub)."""

    async def publish_invalidation(
        self, keys: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> None:
        """Tell other instances to drop ``keys`` and entries carrying ``tags``."""
        ...

    def subscribe_invalidations(self) -> AsyncIterator[Invalidation]:
        """Yield invalidations published by other instances until the bus is closed.

        A bus should yield an empty :class:`Invalidation` each time its subscription is
        (re)established: messages published while it was down are lost, so a listener
        (the tiered cache) reads a second one as "there was a gap, flush local copies".
        """
        ...


@runtime_checkable
class Healthcheck(Protocol):
    """A backend that can say whether it is reachable."""

    async def ping(self) -> bool:
        """True if the backend answered; may raise on failure."""
        ...
