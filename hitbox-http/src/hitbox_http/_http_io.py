"""The state machine's I/O adapter for HTTP: :class:`HttpIo`.

The machine never looks inside an entry: it asks this adapter to read (RFC 9111's
decision for the request, :func:`state_of`), classify, decode and store. An entry is a
:class:`~hitbox_http._decisions.Hit` or :class:`~hitbox_http._decisions.Forward`; the
lookups and stores go through the :class:`~hitbox_http._engine.HttpCache` it serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import hitbox
from hitbox.engine import Call, State

from hitbox_http._answer import Answer
from hitbox_http._decisions import Forward, Hit

if TYPE_CHECKING:
    from hitbox_http._engine import Exchange, HttpCache

__all__ = ["HttpIo", "state_of"]


def state_of(decision: Hit | Forward) -> State:
    """What RFC 9111 decided, as the state machine's classification: a response it may
    serve is a ``HIT``; one served under ``stale-while-revalidate`` is ``STALE`` (the
    machine then revalidates it in the background); anything else is a ``MISS``."""
    if not isinstance(decision, Hit):
        return State.MISS
    return State.STALE if decision.revalidate is not None else State.HIT


@final
class HttpIo:
    """The machine's backend side for HTTP: RFC 9111 lookups and stores (see module doc)."""

    def __init__(self, cache: HttpCache, can_lock: bool) -> None:
        self.cache = cache
        self.can_lock = can_lock
        """Whether ``lock="distributed"`` single-flights across processes."""

    async def read(self, call: Call) -> Hit | Forward:
        """Look up and decide again for ``call.context`` (an :class:`Exchange`); the
        machine reads only while it polls for another process's response."""
        exchange: Exchange = call.context
        if exchange.failed_read:  # the lookup before the run failed: record it here
            exchange.failed_read = False
            raise hitbox.BackendError("looking up the stored responses failed")
        looked = await self.cache.look_up(exchange.request)
        decision = looked.decision
        if isinstance(decision, Hit) and decision.revalidate is not None:
            # A poll for a distributed lock's holder found a stale-while-revalidate hit:
            # this request revalidates it itself if it gets the lock.
            decision = decision.revalidate
        exchange.lookup, exchange.decision = looked.lookup, decision
        return decision

    def classify(self, entry: Hit | Forward, call: Call, now: float) -> State:
        """RFC 9111's decision for this request (the spec judged freshness already)."""
        return state_of(entry)

    def usable_on_error(self, entry: Hit | Forward, call: Call, now: float) -> bool:
        """Never here: stale-if-error is decided per response by the spec when the origin
        fails (:meth:`HttpCache.on_upstream_error`), honouring ``must-revalidate``."""
        return False

    def decode(self, entry: Hit | Forward, call: Call) -> Answer:
        """The answer for a served decision. The stored response goes along: local
        waiters re-check it against their own request when a poll finds it."""
        assert isinstance(entry, Hit)
        kept = (entry.stored,) if entry.stored is not None else ()
        return Answer(entry.response, kept=kept)

    async def store(self, call: Call, value: Any, created_at: float) -> bool:
        exchange: Exchange = call.context
        answer: Answer = value
        lookup = exchange.lookup
        assert lookup is not None
        assert answer.plan is not None
        store = self.cache.store
        for url in answer.plan.invalidate:
            await store.invalidate(url, exchange.request.headers)
        written = False
        for stored in answer.kept:  # freshened responses first, then the new one
            written = await store.store(lookup, stored) or written
        return written

    async def acquire_lock(self, call: Call) -> str | None:
        lookup = call.context.lookup
        assert lookup is not None
        return await self.cache.store.acquire_lock(lookup.key, call.policy.lock_timeout)

    async def release_lock(self, call: Call, token: str) -> None:
        lookup = call.context.lookup
        assert lookup is not None
        await self.cache.store.release_lock(lookup.key, token)
