"""The invalidation bus over Redis pub/sub: tell other instances to drop keys and tags.

Messages are small JSON documents on one channel (``hitbox:invalidations`` by default)::

    {"v": 1, "o": "<origin>", "k": ["user:1"], "t": ["team:7"]}

Pub/sub is fire-and-forget: an instance that is disconnected when a message is published
never sees it. The subscription therefore reconnects by itself (with a capped backoff)
and detects a silent server with a periodic ``PING``; consumers that must not keep stale
data across such a gap bound it with short local lifetimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, final

from hitbox import Invalidation, RateLimitedLogger
from redis.exceptions import RedisError

__all__ = ["InvalidationChannel", "decode_message", "encode_message"]

log = logging.getLogger("hitbox_redis")
# Whoever can publish on the channel could otherwise fill the log, one line per message.
malformed_warnings = RateLimitedLogger(log)

_POLL_SECONDS = 0.25
"""How often an idle subscription wakes up to notice that the backend was closed."""
_PING_AFTER_SECONDS = 5.0
"""Idle time after which the subscription pings the server to check it is alive."""
_DEAD_AFTER_SECONDS = 15.0
"""Silence (not even a PONG) after which the subscription reconnects."""
_BACKOFF_START, _BACKOFF_CAP = 0.05, 2.0


def encode_message(origin: str, keys: Sequence[str], tags: Sequence[str]) -> bytes:
    """The wire form of one invalidation."""
    return json.dumps(
        {"v": 1, "o": origin, "k": list(keys), "t": list(tags)}, separators=(",", ":")
    ).encode()


def decode_message(data: bytes | str) -> Invalidation | None:
    """Parse one message; ``None`` (and a log line) for anything malformed."""
    try:
        doc = json.loads(data)
        keys, tags, origin = doc["k"], doc["t"], doc["o"]
        if (
            doc.get("v") != 1
            or not isinstance(origin, str)
            or not all(isinstance(item, str) for item in (*keys, *tags))
        ):
            raise TypeError("unexpected field types or version")
    except (ValueError, TypeError, KeyError) as exc:
        malformed_warnings.warning(
            "malformed", "ignoring malformed invalidation message %.200r: %s", data, exc
        )
        return None
    return Invalidation(keys=tuple(keys), tags=tuple(tags), origin=origin)


@final
class InvalidationChannel:
    """Publishes to and subscribes on one pub/sub channel for one backend instance.

    ``publish`` sends through the backend's command client; ``await make_pubsub(attempt)``
    returns a fresh redis-py ``PubSub`` on that client (cluster mode cycles through the
    nodes with ``attempt``, so a dead node is not retried forever).
    """

    def __init__(
        self,
        channel: str,
        origin: str,
        publish: Callable[[str, bytes], Any],
        make_pubsub: Callable[[int], Awaitable[Any]],
    ) -> None:
        self.channel = channel
        self.origin = origin
        self._publish = publish
        self._make_pubsub = make_pubsub
        self._stop = asyncio.Event()

    async def publish(self, keys: Sequence[str], tags: Sequence[str]) -> None:
        """Send one invalidation (no-op when there is nothing to invalidate)."""
        if not keys and not tags:
            return
        await self._publish(self.channel, encode_message(self.origin, keys, tags))

    def close(self) -> None:
        """Make every running subscription end at its next wake-up."""
        self._stop.set()

    async def subscribe(self) -> AsyncIterator[Invalidation]:
        """Invalidations from other instances, until :meth:`close`; reconnects on failure."""
        attempt = 0
        backoff = _BACKOFF_START
        while not self._stop.is_set():
            pubsub: Any = None
            attempt += 1
            try:
                pubsub = await self._make_pubsub(attempt - 1)
                await pubsub.subscribe(self.channel)
                backoff = _BACKOFF_START
                # An empty invalidation says "(re)subscribed": messages published while
                # the subscription was down are lost, so listeners may flush near caches.
                yield Invalidation()
                async for invalidation in self._listen(pubsub):
                    yield invalidation
            except Exception as exc:  # whatever happened, a live bus keeps trying
                if self._stop.is_set():
                    break
                log.warning("invalidation subscription lost (%r); retrying in %.2fs", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)  # close cuts it short
                backoff = min(backoff * 2, _BACKOFF_CAP)
            finally:
                if pubsub is not None:
                    await _quietly_close(pubsub)

    async def _listen(self, pubsub: Any) -> AsyncIterator[Invalidation]:
        last_heard = time.monotonic()
        pinged = False
        while not self._stop.is_set():
            message = await pubsub.get_message(timeout=_POLL_SECONDS)
            now = time.monotonic()
            if message is None:
                silence = now - last_heard
                if silence > _DEAD_AFTER_SECONDS:
                    raise TimeoutError(f"no answer from the server for {silence:.1f}s")
                if silence > _PING_AFTER_SECONDS and not pinged:
                    await pubsub.ping()
                    pinged = True
                continue
            last_heard, pinged = now, False
            if message.get("type") != "message":
                continue
            invalidation = decode_message(message["data"])
            if invalidation is not None and invalidation.origin != self.origin:
                yield invalidation


async def _quietly_close(pubsub: Any) -> None:
    try:
        await pubsub.aclose()
    except (RedisError, OSError) as exc:  # closing a dead connection may complain
        log.debug("closing the subscription failed: %r", exc)
