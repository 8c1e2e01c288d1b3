"""The HTTP cache with I/O: :class:`HttpCache` runs RFC 9111 through the core state machine.

Every GET or HEAD request is one run of the state machine behind :class:`hitbox.Cache`.
The cache looks up the stored responses for the request's URI, lets
:class:`HttpCacheSpec` decide, and hands the machine what it found:

- a response it may serve: ``HIT``;
- one served stale under ``stale-while-revalidate``: ``STALE``, and the machine
  revalidates it in the background (one refresh per key, bounded in number, cancelled
  by :meth:`HttpCache.aclose`);
- nothing usable: ``MISS``. The machine makes the request its URL's leader or makes it
  wait for the leader (``LOCKED``, single-flight) and calls the origin through the
  integration's :data:`Origin`.

Waiters never receive the leader's response as such: the leader shares only what it
stores, and each waiter re-checks that against its own request (its Vary header values,
its own directives), or else asks the origin itself. So a response that was not storable
(``private``, ``Set-Cookie``…) never reaches another client. An internal error of the
cache ends in the origin's answer (the machine's last line of fail-open); backend
failures are "nothing stored" (:class:`~hitbox_http._store.HttpStore`).

Unsafe methods and requests the spec passes through (method overrides, GET/HEAD with a
body) go to the origin directly, outside the machine; their §4.4 invalidations are
applied afterwards.

Integrations supply the origin call: the ASGI middleware runs the application with a
``send`` that streams to the client while it copies what it stores;
:meth:`HttpCache.handle` does it for pull-style origins (the proxy, the httpx transport).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, final

import hitbox
from hitbox.engine import REFUSED, UNREAD, Call, Engine
from hitbox.plugins import PluginManager
from hitbox.policy import LockMode

from hitbox_http._answer import Answer, Streamed
from hitbox_http._config import HttpPolicy
from hitbox_http._exchange import Exchange, Origin, ReusableHit, UpstreamError
from hitbox_http._headers import Headers
from hitbox_http._hit_window import unchanged_until
from hitbox_http._http_io import HttpIo
from hitbox_http._models import Request, Response
from hitbox_http._pull import PullOrigin
from hitbox_http._spec import Forward, Hit, HttpCacheSpec, ResponsePlan
from hitbox_http._store import HttpStore

__all__ = [
    "Answer",
    "Exchange",
    "HttpCache",
    "Origin",
    "ReusableHit",
    "Streamed",
    "UpstreamError",
]

logger = logging.getLogger("hitbox_http")


_NOT_STORED: Final = Answer()


async def _no_origin(exchange: Exchange, background: bool) -> Answer:
    """The origin of a run that serves a fresh hit, which never calls it."""
    raise AssertionError("a fresh hit called the origin")  # pragma: no cover


_NO_ORIGIN: Final[Origin] = _no_origin


def _keeps(answer: Answer) -> bool:
    return bool(answer.kept)


@functools.lru_cache(maxsize=4096)
def _event_key(key: str) -> str:
    """The key a run is known by in events and traces: a digest of the cache key, so the
    URL and its query string never reach them (memoised: hot URLs repeat)."""
    return "http:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


@final
class HttpCache:
    """An RFC 9111 cache over a hitbox backend (or a :class:`hitbox.Cache`'s backend).

    ``lock`` is the single-flight of requests for one URL: ``"local"`` (in this process),
    ``"distributed"`` (across processes, through the backend's lock when it is a
    :class:`hitbox.LockingBackend`, e.g. Redis) or ``"none"``; given a
    :class:`hitbox.Cache`, its policy's ``lock`` and ``lock_timeout`` apply.
    ``lock_timeout`` bounds how long a request waits for another one fetching the same
    URL; ``backend_timeout`` bounds each backend call (remote backends only); at most
    ``max_background`` revalidations run at a time. ``plugins`` (by default those of
    the :class:`hitbox.Cache` given, else the process-wide ones) receive one
    ``hitbox_cache_event`` per request looked up (operation ``"http"``; the key in it is
    a digest, never the URL); ``name`` labels those events (by default the
    :class:`hitbox.Cache`'s name, else ``"http"``). Given a :class:`hitbox.Cache`, keys
    carry its key strategy's namespace and version, like every other entry.

    Example::

        http_cache = HttpCache(MemoryBackend(), HttpPolicy())
        response = await http_cache.handle(request, send_upstream)
    """

    def __init__(
        self,
        backend: hitbox.Backend | hitbox.Cache,
        policy: HttpPolicy | Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        lock: LockMode = "local",
        lock_timeout: float = 5.0,
        backend_timeout: float = 0.25,
        max_background: int = 64,
        plugins: PluginManager | None = None,
        name: str | None = None,
    ) -> None:
        engine_policy = hitbox.Policy.validated(
            {"lock": lock, "lock_timeout": lock_timeout, "backend_timeout": backend_timeout}
        )
        guard = None
        make_key = None
        if isinstance(backend, hitbox.Cache):
            guard = backend.engine.guard
            # Entries live under the cache's namespace like every other entry.
            make_key = backend.key_strategy.make_key
            clock = clock if clock is not None else backend.clock
            engine_policy = backend.policy
            plugins = plugins if plugins is not None else backend.plugins
            name = name if name is not None else backend.name
            backend = backend.backend
        self.policy = HttpPolicy.validated(policy or {})
        # Leaders share only what they store (``cacheable``); ``lock="none"`` is for
        # requests whose response may not be stored: nobody should wait for those.
        self._shared = engine_policy.merged(cacheable=_keeps)
        self._solo = self._shared.merged(lock="none")
        locking = isinstance(backend, hitbox.LockingBackend)
        self.engine = Engine(
            backend,
            lambda engine: HttpIo(self, locking),
            policy=self._shared,
            clock=clock,
            plugins=plugins,
            name=name or "http",
            max_background=max_background,
            adopt=self._adopt,
            guard=guard,
        )
        self.clock: hitbox.Clock = self.engine.clock
        self.spec = HttpCacheSpec(self.policy, clock=self.clock)
        self.counters = self.engine.counters
        self.store = HttpStore(self.engine.guard, self.policy, make_key=make_key)
        self._machine = self.engine.machine
        self._execute = self._machine.execute  # the engine's run, without a wrapper per request
        self._opener = self.engine.opener

    # -- introspection ------------------------------------------------------------------

    def stats(self) -> hitbox.Stats:
        """Counters since creation, the record ``hitbox.Cache.stats()`` returns; see
        ``docs/http.md`` for what each counts in RFC mode."""
        return self.counters.snapshot()

    @property
    def backend(self) -> hitbox.Backend:
        """The backend responses are stored in."""
        return self.store.backend

    @property
    def background_tasks(self) -> int:
        """Background revalidations running now."""
        return len(self._machine.background)

    # -- answering ----------------------------------------------------------------------

    async def look_up(self, request: Request) -> Exchange:
        """The stored responses for a GET or HEAD ``request`` and what RFC 9111 decides."""
        lookup = await self.store.lookup(request)
        decision = self.spec.on_request(request, lookup.responses, variants_exist=lookup.found_any)
        return Exchange(request, decision, lookup)

    async def serve(self, request: Request, origin: Origin) -> Answer:
        """Answer ``request`` from the cache or through ``origin`` (see the module doc)."""
        if request.method not in ("GET", "HEAD"):
            unsafe = Exchange(request, self.spec.on_request(request, ()), None)
            return await self._pass_through(unsafe, origin)
        if not hitbox.caching_enabled():  # the testing switch: nothing read or stored
            bypass = Exchange(request, Forward(request, request, "bypass"), None)
            return await self._pass_through(bypass, origin)
        opener = self._opener
        if opener is not None and opener.ready is not asyncio.get_running_loop():
            await opener.before_first_call()  # a cold start waits for the connection
        exchange = await self.look_up(request)
        decision = exchange.decision
        if isinstance(decision, Hit) and decision.stored is None:
            self.counters.misses += 1  # only-if-cached and nothing usable: our own 504
            return Answer(decision.response)
        if isinstance(decision, Forward) and decision.fwd == "bypass":
            return await self._pass_through(exchange, origin)
        call = self._call(exchange, origin)
        # What the lookup found is the run's read; a failed lookup is read again by the
        # machine, which records the ERROR (and then does not pay for a write either).
        answer: Answer = await self._execute(call, UNREAD if exchange.failed_read else decision)
        return answer

    def serve_now(self, request: Request) -> ReusableHit | None:
        """:meth:`serve` for a request answered by a fresh stored response found without
        waiting (an in-process backend, see :meth:`HttpStore.lookup_now`); ``None`` for
        any other request, which :meth:`serve` then answers.

        The answer is the one :meth:`serve` gives, from the same lookup, RFC 9111
        decision and state machine run (``HIT``: counted, reported to event listeners).
        A server calls it where no task runs (an HTTP parser's callback), so nothing here
        may wait: a decision that needs the origin or a revalidation is left to
        :meth:`serve`. The same request may get the answer again through
        :meth:`serve_again` (see :mod:`hitbox_http._hit_window`).
        """
        if (
            request.method not in ("GET", "HEAD")
            or not self.store.can_look_up_now
            or not hitbox.caching_enabled()
        ):
            return None
        opener = self._opener
        if opener is not None and opener.ready is not asyncio.get_running_loop():
            return None
        lookup = self.store.lookup_now(request)
        if lookup is None:
            return None
        now = self.clock.now()
        decision = self.spec.on_request(request, lookup.responses, variants_exist=lookup.found_any)
        if not isinstance(decision, Hit) or decision.stored is None or decision.revalidate:
            return None
        exchange = Exchange(request, decision, lookup)
        answer = self._run_hit(exchange)
        until = unchanged_until(self.spec, request, lookup, decision, now)
        return ReusableHit(answer, exchange, now, until)

    def serve_again(self, hit: ReusableHit) -> bool:
        """Serve ``hit``'s answer once more to the same request, if it is still the answer
        :meth:`serve_now` would give: within its time window and with every entry its
        lookup read unchanged. Counted and reported as that run would be; ``False``
        (nothing counted): ask :meth:`serve_now` again."""
        if not hit.since <= self.clock.now() < hit.until or not hitbox.caching_enabled():
            return False
        lookup = hit.exchange.lookup
        if lookup is None or not self.store.unchanged(lookup.reads):
            return False
        self._run_hit(hit.exchange)
        return True

    def _run_hit(self, exchange: Exchange) -> Answer:
        """The state machine's run for a fresh hit: ``HIT``, counted and reported."""
        run = self._execute(self._call(exchange, _NO_ORIGIN), exchange.decision)
        # A HIT runs the machine to its end without waiting (classify, decode, count,
        # report): the coroutine finishes on its first step.
        try:
            run.send(None)
        except StopIteration as done:
            answer: Answer = done.value
            return answer
        run.close()
        raise RuntimeError("the state machine waited while serving a fresh hit")

    def _call(self, exchange: Exchange, origin: Origin) -> Call:
        """The state machine's call for a looked-up GET or HEAD ``exchange``."""
        decision = exchange.decision
        assert exchange.lookup is not None
        key = _event_key(exchange.lookup.key)
        # Nobody should wait for a response that may not be stored: such a run has no
        # shared flight.
        shared = not isinstance(decision, Forward) or decision.may_store

        async def upstream() -> Answer:
            return await self._call_origin(call, origin)

        call = Call(
            key,
            self._shared if shared else self._solo,
            upstream,
            operation="http",
            context=exchange,
        )
        return call

    async def _call_origin(self, call: Call, origin: Origin) -> Answer:
        exchange: Exchange = call.context
        decision = exchange.decision
        if isinstance(decision, Hit):
            # Only the machine's background refresh of a stale-while-revalidate hit calls
            # the origin for a hit (it runs a copy of ``call``; the exchange is shared).
            assert decision.revalidate is not None
            revalidation = Exchange(
                decision.revalidate.client, decision.revalidate, exchange.lookup
            )
            return await origin(revalidation, True)
        exchange.flight = call.flight
        return await origin(exchange, False)

    async def _pass_through(self, exchange: Exchange, origin: Origin) -> Answer:
        self.counters.upstream_calls += 1
        answer = await origin(exchange, False)
        if answer.plan is not None:
            for url in answer.plan.invalidate:
                await self.store.invalidate(url, exchange.request.headers)
        return answer

    def let_waiters_go(self, exchange: Exchange) -> None:
        """Release the requests waiting for ``exchange``'s response now, because it will
        not be stored: they ask the origin themselves instead of waiting for its end."""
        if exchange.flight is not None:
            exchange.flight.resolve(_NOT_STORED)

    def _adopt(self, call: Call, value: Any) -> Any:
        """A waiter's answer from what its leader stored, if RFC 9111 lets it reuse that."""
        exchange: Exchange = call.context
        answer: Answer = value
        if not answer.kept:
            return REFUSED
        decision = self.spec.on_request(exchange.request, answer.kept, collapsed=True)
        if isinstance(decision, Hit) and decision.stored is not None:
            return Answer(decision.response)
        return REFUSED

    def plan(
        self,
        exchange: Exchange,
        status: int,
        headers: Headers,
        *,
        request_time: float,
        response_time: float | None = None,
    ) -> ResponsePlan:
        """What to send and keep, given the origin's response head."""
        length = headers.get("content-length")
        too_large = bool(length and length.isdigit() and int(length) > self.policy.max_body_size)
        plan = self.spec.on_response(
            exchange.forward,
            status,
            headers,
            request_time=request_time,
            response_time=self.clock.now() if response_time is None else response_time,
            too_large=too_large,
        )
        if plan.stale:
            self.counters.stale += 1
        return plan

    def answer(
        self,
        plan: ResponsePlan,
        body: bytes | None,
        *,
        response: Response | None = None,
        stream: Streamed | None = None,
    ) -> Answer:
        """The answer for ``plan``, keeping ``body`` (the origin's complete body, or
        ``None`` if it was not kept) when the plan stores it and it fits the size limit."""
        kept = plan.updates
        if plan.store is not None and body is not None and len(body) <= self.policy.max_body_size:
            kept = (*kept, plan.store.with_body(body))
        return Answer(response, stream, plan, kept)

    def on_upstream_error(self, exchange: Exchange) -> Response | None:
        """A stale response to send because the origin failed (stale-if-error), or None."""
        stale = self.spec.on_error(exchange.forward)
        if stale is not None:
            self.counters.stale += 1
        return stale

    # -- pull-style origins -------------------------------------------------------------

    async def handle(
        self, request: Request, send: Callable[[Request], Awaitable[Streamed]]
    ) -> Streamed:
        """Answer ``request``, calling ``send`` for what must go upstream.

        ``send`` raises :class:`UpstreamError` (or any exception) when the origin fails;
        a stale response is served instead when allowed, else the error propagates. A
        response the cache stores is read whole (up to ``max_body_size``) before it is
        returned; any other streams through.
        """

        answer = await self.serve(request, PullOrigin(self, send))
        return answer.streamed()

    async def open(self) -> bool:
        """Open the backend now (connections, clients); whether it is open. Without it,
        the first request on each event loop waits for the open (at most the backend's
        ``open_timeout``), outside the per-call ``backend_timeout``."""
        return await self.engine.open()

    async def aclose(self) -> None:
        """Cancel background revalidations and probes and wait for them to stop (the
        backend stays open: it may be shared, e.g. with a :class:`hitbox.Cache`)."""
        await self.engine.aclose(close_backend=False)
