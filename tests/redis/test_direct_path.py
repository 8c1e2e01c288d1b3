"""The lean single-key read path: shared-timer deadlines and redis-py-compatible failures.

``Deadlines`` lives in ``hitbox._access`` (the cache's backend timeout uses it too); it is
tested here, next to the Redis connection that depends on its exact semantics.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable

import pytest
from hitbox._access import Deadlines
from hitbox.testing import make_value
from hitbox_redis import RedisBackend
from hitbox_redis._connection import DirectConnection, pack_get
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.redis_servers import RedisServer

NEVER = 3600.0
SHORT = 0.05


# -- Deadlines ---------------------------------------------------------------------------


async def test_an_await_that_ends_in_time_returns_its_value() -> None:
    deadlines = Deadlines()
    assert await deadlines.bound(asyncio.sleep(0, "done"), NEVER) == "done"
    assert await deadlines.bound(asyncio.sleep(0, "again"), NEVER) == "again"


async def test_an_await_past_its_deadline_raises_timeout_error() -> None:
    deadlines = Deadlines()
    with pytest.raises(TimeoutError):
        await deadlines.bound(asyncio.sleep(NEVER), SHORT)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    assert await deadlines.bound(asyncio.sleep(0, "next"), NEVER) == "next"


async def test_errors_of_the_await_pass_through() -> None:
    async def failing() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await Deadlines().bound(failing(), NEVER)


async def test_an_outside_cancellation_stays_a_cancellation() -> None:
    deadlines = Deadlines()
    task = asyncio.create_task(deadlines.bound(asyncio.sleep(NEVER), NEVER))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_later_but_shorter_deadline_fires_first() -> None:
    deadlines = Deadlines()
    long_wait = asyncio.create_task(deadlines.bound(asyncio.sleep(NEVER), NEVER))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        await deadlines.bound(asyncio.sleep(NEVER), SHORT)
    assert not long_wait.done()
    long_wait.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_wait


async def test_concurrent_deadlines_expire_each_on_its_own() -> None:
    deadlines = Deadlines()

    async def wait(seconds: float, limit: float) -> str:
        try:
            await deadlines.bound(asyncio.sleep(seconds), limit)
        except TimeoutError:
            return "timed out"
        return "done"

    results = await asyncio.gather(
        wait(NEVER, SHORT), wait(0, NEVER), wait(NEVER, 2 * SHORT), wait(SHORT, NEVER)
    )
    assert list(results) == ["timed out", "done", "timed out", "done"]


async def test_an_inner_deadline_inside_an_outer_one() -> None:
    outer, inner = Deadlines(), Deadlines()

    async def step() -> str:
        with pytest.raises(TimeoutError):
            await inner.bound(asyncio.sleep(NEVER), SHORT)
        return "recovered"

    assert await outer.bound(step(), NEVER) == "recovered"
    with pytest.raises(TimeoutError):  # the outer one still fires when its turn comes
        await outer.bound(inner.bound(asyncio.sleep(NEVER), NEVER), SHORT)


def test_one_instance_serves_successive_event_loops() -> None:
    deadlines = Deadlines()

    async def timed_out() -> bool:
        try:
            await deadlines.bound(asyncio.sleep(NEVER), SHORT)
        except TimeoutError:
            return True
        return False

    assert asyncio.run(timed_out())
    assert asyncio.run(timed_out())


def test_one_instance_serves_loops_running_at_once_in_threads() -> None:
    deadlines = Deadlines()

    async def outcomes() -> list[str]:
        async def wait(seconds: float, limit: float) -> str:
            try:
                await deadlines.bound(asyncio.sleep(seconds), limit)
            except TimeoutError:
                return "timed out"
            return "done"

        results: list[str] = []
        for _ in range(5):
            results += await asyncio.gather(wait(1.0, SHORT / 5), wait(0, NEVER))
        return results

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(asyncio.run, outcomes()) for _ in range(2)]
        for run in runs:
            assert run.result() == ["timed out", "done"] * 5


# -- the lean GET ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k", "hitbox:ns:user:42", "clé ✓", "x" * 10_000, ""])
def test_a_packed_get_is_what_redis_py_sends(key: str) -> None:
    connection = DirectConnection()
    assert pack_get(key, connection.encoder) == b"".join(connection.pack_command("GET", key))


# -- the lean GET against a real server ------------------------------------------------


@pytest.mark.services
async def test_standalone_backends_read_through_the_lean_path(
    redis_server: RedisServer,
) -> None:
    backend = RedisBackend.from_url(redis_server.url, socket_timeout=1.0)
    try:
        assert isinstance(backend.client, Redis)
        assert issubclass(backend.client.connection_pool.connection_class, DirectConnection)
        await backend.set("direct:k", make_value(b"v"), 60)
        entry = await backend.get("direct:k")
        assert entry is not None
        assert entry.data == b"v"
        assert await backend.get("direct:missing") is None
    finally:
        await backend.aclose()


@pytest.mark.services
async def test_a_client_of_ones_own_keeps_redis_pys_path(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    backend = RedisBackend(client=client)
    try:
        await backend.set("own:k", make_value(b"v"), 60)
        entry = await backend.get("own:k")
        assert entry is not None
        assert entry.data == b"v"
    finally:
        await backend.aclose()
        await client.aclose()


@pytest.mark.services
async def test_a_timed_out_read_never_leaves_its_reply_for_the_next_one(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url, max_connections=1, auto_batch=False)
    try:
        await backend.set("first", make_value(b"first"), 60)
        await backend.set("second", make_value(b"second"), 60)
        server.freeze()
        try:
            with pytest.raises(RedisTimeoutError):
                await backend.get("first")  # its reply arrives after the thaw, if ever
        finally:
            server.thaw()
        entry = await backend.get("second")  # the one pooled connection, reconnected
        assert entry is not None
        assert entry.data == b"second"
    finally:
        await backend.aclose()


@pytest.mark.services
async def test_a_read_cancelled_in_flight_never_leaves_its_reply(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(
        server.url, max_connections=1, auto_batch=False, socket_timeout=NEVER
    )
    try:
        await backend.set("first", make_value(b"first"), 60)
        await backend.set("second", make_value(b"second"), 60)
        server.freeze()
        try:
            reader = asyncio.create_task(backend.get("first"))
            await asyncio.sleep(SHORT)  # the GET is written and waiting for its reply
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
        finally:
            server.thaw()
        entry = await backend.get("second")
        assert entry is not None
        assert entry.data == b"second"
    finally:
        await backend.aclose()


@pytest.mark.services
async def test_a_restarted_server_is_reconnected_without_an_error(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url, socket_timeout=1.0, auto_batch=False)
    try:
        await backend.set("k", make_value(b"v"), 60)
        assert await backend.get("k") is not None  # a pooled connection now exists
        server.restart()  # same port, no data: the pooled socket is dead
        assert await backend.get("k") is None
    finally:
        await backend.aclose()
