"""Distributed locks: key layout (hash slots), exclusivity across clients, lease expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hitbox_redis import RedisBackend
from hitbox_redis._keys import hash_tag, key_slot, lock_key
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot as redis_key_slot

from tests.redis_servers import RedisClusterServers, RedisServer

MakeBackend = Callable[..., RedisBackend]

keys = st.text(alphabet=st.sampled_from("ab{}:x\u00e9"), max_size=12) | st.text(max_size=20)


@given(keys)
def test_key_slot_matches_redis_py(key: str) -> None:
    assert key_slot(key) == redis_key_slot(key.encode())


@given(keys)
def test_lock_key_lives_in_the_data_key_slot(key: str) -> None:
    assert key_slot(lock_key(key, "hitbox:lock:")) == key_slot(key)


@given(keys, keys)
def test_lock_keys_of_distinct_keys_are_distinct(first: str, second: str) -> None:
    if first != second:
        assert lock_key(first, "p:") != lock_key(second, "p:")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("{user:1}:profile", "L:t:{user:1}:profile"),
        ("user:1", "L:k:{user:1}"),
        ("{user", "L:k:{{user}"),
        ("{}user", "L:s:{12058}{}user"),
    ],
)
def test_lock_key_layouts(key: str, expected: str) -> None:
    assert lock_key(key, "L:") == expected


def test_keys_with_a_stray_closing_brace_get_a_slot_tag() -> None:
    key = "odd}key"
    assert hash_tag(key) is None
    locked = lock_key(key, "L:")
    assert locked.startswith("L:s:{")
    assert locked.endswith("}odd}key")
    assert key_slot(locked) == key_slot(key)


@pytest.mark.services
async def test_lock_keys_share_the_node_in_a_real_cluster(
    redis_cluster: RedisClusterServers, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_cluster.url)
    for key in ("user:1", "{tenant}:x", "odd}key", "caf\u00e9"):
        server_slot = int(redis_cluster.nodes[0].cli("cluster", "keyslot", backend.lock_key(key)))
        assert server_slot == key_slot(key)
        token = await backend.acquire_lock(key, 5)
        assert token is not None
        await backend.release_lock(key, token)


@pytest.mark.services
@pytest.mark.parametrize("topology", ["standalone", "cluster"])
async def test_lock_is_exclusive_across_two_clients(
    topology: str,
    redis_server: RedisServer,
    redis_cluster: RedisClusterServers,
    make_backend: MakeBackend,
) -> None:
    url = redis_server.url if topology == "standalone" else redis_cluster.url
    first, second = make_backend(url), make_backend(url)
    key = f"lock-across:{topology}"
    token = await first.acquire_lock(key, 10)
    assert token is not None
    assert await second.acquire_lock(key, 10) is None
    await second.release_lock(key, "forged-token")  # must not free someone else's lock
    assert await second.acquire_lock(key, 10) is None
    await first.release_lock(key, token)
    taken = await second.acquire_lock(key, 10)
    assert taken is not None
    await first.release_lock(key, token)  # a stale token releases nothing
    assert await first.acquire_lock(key, 10) is None
    await second.release_lock(key, taken)


@pytest.mark.services
async def test_only_one_of_many_contenders_wins(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    clients = [make_backend(redis_server.url) for _ in range(4)]
    tokens = await asyncio.gather(
        *(client.acquire_lock("contended", 10) for client in clients for _ in range(25))
    )
    assert sum(token is not None for token in tokens) == 1


@pytest.mark.services
async def test_lease_expires_without_release(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    first, second = make_backend(redis_server.url), make_backend(redis_server.url)
    assert await first.acquire_lock("lease", 0.15) is not None
    assert await second.acquire_lock("lease", 5) is None
    await asyncio.sleep(0.3)  # a real lease on a real server: only wall-clock time ends it
    token = await second.acquire_lock("lease", 5)
    assert token is not None
    await second.release_lock("lease", token)


@pytest.mark.services
async def test_lock_does_not_touch_the_entry_and_release_survives_script_flush(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    token = await backend.acquire_lock("flushy", 10)
    assert token is not None
    await backend.client.script_flush()  # EVALSHA must fall back to loading the script
    await backend.release_lock("flushy", token)
    assert await backend.client.exists(backend.lock_key("flushy")) == 0
