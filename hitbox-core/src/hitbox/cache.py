"""The caching API: :class:`Cache`.

A cache is composed, not configured: a backend, a serializer, a key strategy, a
:class:`~hitbox.Policy` and a clock, assembled into one :class:`hitbox.engine.Engine`.
Every read — a decorated call, :meth:`Cache.fetch`, :meth:`Cache.get` — is one run of its
state machine (:mod:`hitbox.fsm`); writes and invalidations go through the same guard
and coordinate with the runs in flight for their keys. Backend failures never reach the
caller (the upstream answers).

Example::

    cache = hitbox.Cache(MemoryBackend(max_entries=10_000), policy=hitbox.Policy(ttl=60))

    @cache.cached(key="user:{user_id}", tags=["user:{user_id}"])
    async def get_user(user_id: int) -> User: ...

    await cache.invalidate_tags("user:42")
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar, final

from hitbox import config as _config
from hitbox._cache_decorate import DecoratorFace
from hitbox._cache_sync import SyncFace
from hitbox._clock import Clock
from hitbox._durations import DurationLike, parse_duration
from hitbox._errors import ConfigError
from hitbox._request import CacheableRequest
from hitbox._switch import SWITCH
from hitbox.backend._contract import Backend
from hitbox.engine._access import BackendAccess
from hitbox.engine._counters import Stats
from hitbox.engine._engine import Engine
from hitbox.engine._machine import Call, describe
from hitbox.engine._opening import Opener
from hitbox.engine._tags import DEFAULT_TAG_TTL, TagMarkers
from hitbox.keys import KeyStrategy
from hitbox.plugins import PluginManager, get_plugin_manager
from hitbox.policy import Policy
from hitbox.serializers import Serializer

__all__ = ["Cache"]


P = ParamSpec("P")
R = TypeVar("R")
RequestT = TypeVar("RequestT", bound=CacheableRequest[Any])

_MAX_TTL_POLICIES = 256


async def _no_upstream() -> None:
    return None


@final
class Cache(DecoratorFace, SyncFace):
    """A cache: decorate functions with :meth:`cached`, or serve requests with :meth:`fetch`.

    ``backend``, ``serializer`` and ``key_strategy`` are objects or registered names
    (``"memory"``, ``"cbor"``, ``"default"``). ``policy`` is a :class:`Policy` or a mapping
    of its fields; decorators and requests may override fields per call. ``clock``
    defaults to the system clock (tests pass a :class:`hitbox.ManualClock`). ``plugins``
    defaults to the process-wide plugin manager; whether any plugin listens to
    ``hitbox_cache_event`` is decided here, once. At most ``max_background`` stale
    refreshes run at a time. Tag invalidation markers live ``tag_ttl`` seconds. ``name``
    labels the cache's events (``CacheEvent.cache``).

    Use ``async with cache:`` (or :meth:`open` and :meth:`aclose`) to connect the
    backend up front and, at the end, stop background refreshes and close the backend.
    Without it the backend is opened before the first call (see :meth:`open`); sync
    code uses ``with cache:`` or :meth:`close`.

    Sync code: ``@cache.cached`` also takes a plain ``def`` function, and ``get_sync``,
    ``set_sync``, ``invalidate_sync`` and ``invalidate_tags_sync`` mirror the async
    methods. Their runs go through the same engine, on a private event loop the cache
    starts in a thread of its own on first use (see ``docs/sync.md``).
    """

    def __init__(
        self,
        backend: Backend | str | Mapping[str, Any] = _config.DEFAULT_BACKEND,
        *,
        serializer: Serializer | str = _config.DEFAULT_SERIALIZER,
        key_strategy: KeyStrategy | str | Mapping[str, Any] | None = None,
        policy: Policy | Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        plugins: PluginManager | None = None,
        max_background: int = 64,
        tag_ttl: DurationLike = DEFAULT_TAG_TTL,
        name: str = "default",
    ) -> None:
        self.name = name
        self._plugins = plugins if plugins is not None else get_plugin_manager()
        self._backend = _config.resolve_backend(backend, self._plugins)
        self._serializer = _config.resolve_serializer(serializer, self._plugins)
        self._keys = _config.resolve_key_strategy(key_strategy, self._plugins)
        if policy is None:
            policy = Policy()
        elif not isinstance(policy, Policy):
            policy = Policy.validated(policy)
        self._policy = policy
        serializer_obj = self._serializer
        tag_markers = TagMarkers(self._keys.make_key, parse_duration(tag_ttl, "tag_ttl"))
        self._engine = Engine(
            self._backend,
            lambda engine: BackendAccess(engine.guard, serializer_obj, tag_markers),
            policy=policy,
            clock=clock,
            plugins=self._plugins,
            name=name,
            max_background=max_background,
        )
        self._clock = self._engine.clock
        self._counters = self._engine.counters
        self._access: BackendAccess = self._engine.io  # type: ignore[assignment]
        self._events = self._engine.events
        self._listening = self._engine.listening
        self._machine = self._engine.machine
        self._ttl_policies: dict[float, Policy] = {}
        self._opener = self._engine.opener
        self._init_sync(self._engine, name)

    # -- construction from configuration ------------------------------------------------

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, plugins: PluginManager | None = None, **options: Any
    ) -> Cache:
        """A cache from a configuration mapping (see :mod:`hitbox.config`).

        ``options`` (``clock``, ``max_background``, ``tag_ttl``) pass through to
        :class:`Cache`.
        """
        return cls(**_config.cache_kwargs(config, plugins), **options)

    @classmethod
    def from_url(cls, url: str, *, plugins: PluginManager | None = None, **settings: Any) -> Cache:
        """A cache whose backend is ``url`` (``"memory://?max_entries=10000"``).

        ``settings`` are further top-level configuration fields (``policy={"ttl": 30}``,
        ``serializer="json"``, ``namespace="shop"``).
        """
        return cls.from_config(_config.config_from_url(url, **settings), plugins=plugins)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, plugins: PluginManager | None = None
    ) -> Cache:
        """A cache from a TOML file (its ``[hitbox]`` table or the whole file);
        ``HITBOX_*`` environment variables override the file (an error about a setting
        one of them made names the variable)."""
        try:
            return cls.from_config(_config.load_file(path), plugins=plugins)
        except ConfigError as exc:
            named = _config.naming_environment(exc)
            if named is exc:
                raise
            raise named from None

    # -- requests -----------------------------------------------------------------------

    async def fetch(self, request: RequestT, upstream: Callable[[RequestT], Awaitable[R]]) -> R:
        """The response for ``request``: from the cache, or from ``upstream(request)``.

        The key is ``request.cache_key()`` (namespaced by the key strategy) and the
        freshness lifetime ``request.cache_ttl()``; a lifetime of zero or less bypasses
        the cache. Optional request attributes: ``response_type`` (restore cached
        responses as that type) and ``cache_tags()`` (tags for :meth:`invalidate_tags`).
        """
        ttl = request.cache_ttl()
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
        if not seconds > 0 or SWITCH.off:
            self._counters.upstream_calls += 1
            return await upstream(request)
        tags_method = getattr(request, "cache_tags", None)
        response_type = getattr(request, "response_type", None)

        async def call_upstream() -> R:
            return await upstream(request)

        try:
            key = self._keys.make_key(request.cache_key())
            tags = tuple(tags_method()) if tags_method is not None else ()
        except Exception as exc:  # fail open: no key or tags means no caching, not an error
            self._access.log.warn(
                "key", f"no cache key or tags for a {type(request).__name__} ({describe(exc)})"
            )
            self._counters.upstream_calls += 1
            return await upstream(request)
        call = Call(
            key, self._policy_for_ttl(seconds), call_upstream, lambda: response_type, tags, "fetch"
        )
        if (opener := self._opening()) is not None:
            await opener.before_first_call()
        result: R = await self._machine.execute(call)
        return result

    def _policy_for_ttl(self, ttl: float) -> Policy:
        policy = self._ttl_policies.get(ttl)
        if policy is None:
            if len(self._ttl_policies) >= _MAX_TTL_POLICIES:
                self._ttl_policies.clear()
            policy = self._ttl_policies[ttl] = self._policy.merged(ttl=ttl)
        return policy

    # -- direct access ------------------------------------------------------------------

    async def get(self, key: str, default: Any = None, *, type_hint: Any = None) -> Any:
        """The fresh value stored under ``key`` (a raw key, namespaced here), or ``default``.

        Stale and expired entries count as absent; backend failures return ``default``,
        and so does every call while caching is switched off (:func:`hitbox.disabled`).
        """
        if SWITCH.off:
            return default
        call = Call(self._keys.make_key(key), self._policy, _no_upstream, lambda: type_hint)
        call.operation = "get"
        if (opener := self._opening()) is not None:
            await opener.before_first_call()
        return await self._machine.peek(call, default)

    async def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: DurationLike | None = None,
        max_stale: DurationLike | None = None,
        stale_if_error: DurationLike | None = None,
        tags: Iterable[str] = (),
    ) -> bool:
        """Store ``value`` under ``key`` (a raw key); whether the backend confirmed it.

        A call of the same key already running will not overwrite this value. While
        caching is switched off (:func:`hitbox.disabled`) nothing is stored.
        """
        if SWITCH.off:
            return False
        policy = self._policy.merged(ttl=ttl, max_stale=max_stale, stale_if_error=stale_if_error)
        made = self._keys.make_key(key)
        for flight in self._machine.flights.supersede(made):
            await flight.store_settled()  # so this write lands after one under way
        call = Call(
            made, policy, _no_upstream, tags=(tags,) if isinstance(tags, str) else tuple(tags)
        )
        if (opener := self._opening()) is not None:
            await opener.before_first_call()
        return await self._access.store(call, value, self._clock.now())

    async def invalidate(self, *keys: str) -> bool:
        """Drop the entries under ``keys`` (raw keys); whether the backend confirmed it.

        A call of one of these keys already running will not store its result.
        """
        return await self._invalidate_keys([self._keys.make_key(key) for key in keys])

    async def _invalidate_key(self, key: str) -> bool:
        return await self._invalidate_keys([key])

    async def _invalidate_keys(self, keys: list[str]) -> bool:
        flights = [flight for key in keys for flight in self._machine.flights.invalidate(key)]
        for flight in flights:
            await flight.store_settled()  # so the delete lands after a write under way
        if (opener := self._opening()) is not None:
            await opener.before_first_call()
        return await self._access.delete(keys)

    async def invalidate_tags(self, *tags: str) -> bool:
        """Invalidate every entry carrying one of ``tags``, on every backend and process
        sharing the store; whether the backend confirmed it."""
        if not tags:
            return True
        self._machine.flights.invalidate_tags(tags)
        if (opener := self._opening()) is not None:
            await opener.before_first_call()
        return await self._access.mark_tags(tags)

    def _opening(self) -> Opener | None:
        """The opener, if a call on this event loop must first wait for the backend's open."""
        return self._engine.opening()

    # -- observability and lifecycle ----------------------------------------------------

    def stats(self) -> Stats:
        """Counters since creation: hits, misses, stale, locked, errors, upstream calls."""
        return self._counters.snapshot()

    @property
    def engine(self) -> Engine:
        """The engine behind this cache (its state machine, guard, counters and events),
        for protocol layers built over the same backend (see :mod:`hitbox.engine`)."""
        return self._engine

    @property
    def policy(self) -> Policy:
        """The cache's default policy."""
        return self._policy

    @property
    def backend(self) -> Backend:
        """The backend entries live in."""
        return self._backend

    @property
    def key_strategy(self) -> KeyStrategy:
        """The key strategy: its ``make_key`` namespaces every key this cache writes
        (protocol layers such as ``hitbox-http`` use it for their own keys)."""
        return self._keys

    @property
    def plugins(self) -> PluginManager:
        """The plugin manager whose hooks hear this cache's events."""
        return self._plugins

    @property
    def clock(self) -> Clock:
        """The clock the cache reads time from."""
        return self._clock

    @property
    def breaker_state(self) -> str:
        """The circuit breaker: ``"closed"``, ``"open"`` or ``"half-open"``."""
        return self._engine.breaker_state

    @property
    def background_tasks(self) -> int:
        """Background refreshes running now."""
        return len(self._machine.background)

    async def open(self) -> bool:
        """Open the backend now (connections, clients); whether it is open. Idempotent.

        ``async with cache:`` calls it. Without it, the first operation on each event
        loop opens the backend before it runs, outside the per-call ``backend_timeout``,
        so a cold start is an ordinary miss that stores its result. Waits at most the
        backend's ``open_timeout``; an unreachable backend is logged, not raised (the
        cache fails open as ever). A call after a failed open tries again.
        """
        if self._engine.guard.breaker.closed_for_good:  # closed: bypassed for good
            return False
        return await self._engine.open()

    async def aclose(self) -> None:
        """Cancel background refreshes and close the backend. Idempotent.

        Afterwards the cache is bypassed: calls go straight to the upstream. If sync code
        used the cache, the backend is closed on the cache's private loop, whose thread
        then stops.
        """
        loop_thread = self._loop_thread
        if loop_thread.running and not loop_thread.in_thread():
            await asyncio.wrap_future(loop_thread.submit(self._engine.aclose()))
            self._sync.closed = True
            await asyncio.to_thread(loop_thread.stop)
            return
        await self._engine.aclose()
        self._sync.closed = True

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"Cache(backend={self._access.label!r}, serializer="
            f"{getattr(self._serializer, 'name', type(self._serializer).__name__)!r}, "
            f"policy={self._policy!r})"
        )
