"""The invalidation bus over pub/sub, between two backends on one server or cluster."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from hitbox import Invalidation, InvalidationBus
from hitbox_redis import RedisBackend
from hitbox_redis._bus import decode_message, encode_message

from tests.redis_servers import RedisClusterServers, RedisServer

MakeBackend = Callable[..., RedisBackend]


def test_message_round_trip() -> None:
    data = encode_message("me", ["k1", "k\u00e9"], ["t"])
    assert decode_message(data) == Invalidation(keys=("k1", "k\u00e9"), tags=("t",), origin="me")


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"v":2,"o":"x","k":[],"t":[]}', b'{"v":1,"o":"x","k":[1],"t":[]}'],
)
def test_malformed_messages_are_ignored(data: bytes) -> None:
    assert decode_message(data) is None


class Collector:
    """Consumes a subscription in a task and keeps what arrives."""

    def __init__(self, backend: RedisBackend) -> None:
        self.received: list[Invalidation] = []
        self.subscriptions = 0  # empty invalidations: "(re)subscribed" markers
        self.arrived = asyncio.Event()
        self._task = asyncio.create_task(self._run(backend.subscribe_invalidations()))

    async def _run(self, stream: AsyncIterator[Invalidation]) -> None:
        async for invalidation in stream:
            if not invalidation.keys and not invalidation.tags:
                self.subscriptions += 1
                continue
            self.received.append(invalidation)
            self.arrived.set()

    async def next(self) -> Invalidation:
        await asyncio.wait_for(self.arrived.wait(), 5.0)
        self.arrived.clear()
        return self.received[-1]

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def finished(self) -> None:
        await asyncio.wait_for(self._task, 2.0)


async def wait_for_subscribers(backend: RedisBackend, count: int) -> None:
    channel = backend.config.invalidation_channel
    for _ in range(200):
        numsub = await backend.client.pubsub_numsub(channel)
        if isinstance(numsub, dict):  # cluster: per node
            total = sum(n for pairs in numsub.values() for _, n in pairs)
        else:
            total = sum(n for _, n in numsub)
        if total >= count:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"fewer than {count} subscribers on {channel!r}")


@pytest.mark.services
@pytest.mark.parametrize("topology", ["standalone", "cluster"])
async def test_other_instances_receive_invalidations(
    topology: str,
    redis_server: RedisServer,
    redis_cluster: RedisClusterServers,
    make_backend: MakeBackend,
) -> None:
    url = redis_server.url if topology == "standalone" else redis_cluster.url
    channel = f"hitbox:test-bus:{topology}"
    publisher = make_backend(url, invalidation_channel=channel)
    subscriber = make_backend(url, invalidation_channel=channel)
    assert isinstance(publisher, InvalidationBus)
    theirs, mine = Collector(subscriber), Collector(publisher)
    try:
        await wait_for_subscribers(publisher, 2)
        await publisher.publish_invalidation(keys=["user:1"], tags=["team:7"])
        got = await theirs.next()
        assert got == Invalidation(keys=("user:1",), tags=("team:7",), origin=publisher.origin)
        await subscriber.publish_invalidation(keys=["user:2"])
        assert (await mine.next()).keys == ("user:2",)
        # each instance ignores its own messages
        assert all(inv.origin != publisher.origin for inv in mine.received)
        assert all(inv.origin != subscriber.origin for inv in theirs.received)
    finally:
        await theirs.stop()
        await mine.stop()


@pytest.mark.services
async def test_garbage_on_the_channel_does_not_end_the_subscription(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    publisher = make_backend(redis_server.url, invalidation_channel="hitbox:test-garbage")
    subscriber = make_backend(redis_server.url, invalidation_channel="hitbox:test-garbage")
    collector = Collector(subscriber)
    try:
        await wait_for_subscribers(publisher, 1)
        await publisher.client.publish("hitbox:test-garbage", b"\xff garbage")
        await publisher.publish_invalidation(tags=["after"])
        assert (await collector.next()).tags == ("after",)
        assert len(collector.received) == 1
    finally:
        await collector.stop()


@pytest.mark.services
async def test_empty_invalidation_is_not_sent(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    await backend.client.config_resetstat()
    await backend.publish_invalidation()
    stats = await backend.client.info("commandstats")
    assert "cmdstat_publish" not in stats


@pytest.mark.services
async def test_aclose_ends_subscriptions(redis_server: RedisServer) -> None:
    backend = RedisBackend.from_url(redis_server.url, invalidation_channel="hitbox:test-close")
    collector = Collector(backend)
    await wait_for_subscribers(backend, 1)
    await backend.aclose()
    await collector.finished()


@pytest.mark.services
async def test_subscription_comes_back_after_a_server_restart(
    redis_server_factory: Callable[..., RedisServer], make_backend: MakeBackend
) -> None:
    server = redis_server_factory()
    publisher = make_backend(server.url)
    subscriber = make_backend(server.url)
    collector = Collector(subscriber)
    try:
        await wait_for_subscribers(publisher, 1)
        server.kill()
        server.launch()  # same port, no subscribers until the backend resubscribes
        await wait_for_subscribers(publisher, 1)
        await publisher.publish_invalidation(keys=["after-restart"])
        assert (await collector.next()).keys == ("after-restart",)
        # The subscription is announced (redis-py may then resubscribe by itself after a
        # restart, without a second marker: the tiered cache's probe covers that gap).
        assert collector.subscriptions >= 1
    finally:
        await collector.stop()
