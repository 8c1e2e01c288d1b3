"""Batch operations on moto: chunking at 100/25, UnprocessedKeys retries, partial failures.

moto never throttles, so a wrapper around the real client's batch calls records request
sizes and can hold back part of each request, as DynamoDB does under throttling.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import hitbox
import pytest
from hitbox.testing import make_value
from hitbox_dynamodb import DynamoDBBackend
from hitbox_dynamodb._batch import BATCH_ATTEMPTS
from hitbox_dynamodb._items import data_pk

from tests.dynamodb.conftest import TABLE, FakeClock, unique_key

pytestmark = pytest.mark.services  # moto / dynalite servers started by the fixtures


class Interceptor:
    """Wraps one client method: records each request's size, may hold part of it back."""

    def __init__(self, real: Callable[..., Awaitable[Any]], unprocessed_field: str) -> None:
        self.real = real
        self.field = unprocessed_field
        self.sizes: list[int] = []
        self.hold_back = 0
        """Hold back this many entries of each request (forever if ``hold_rounds`` < 0)."""
        self.hold_rounds = 0

    async def __call__(self, *, RequestItems: dict[str, Any], **kwargs: Any) -> Any:  # noqa: N803
        request = RequestItems[TABLE]
        entries = request["Keys"] if self.field == "UnprocessedKeys" else request
        self.sizes.append(len(entries))
        held: list[Any] = []
        if self.hold_back and self.hold_rounds != 0:
            self.hold_rounds -= 1
            held, entries = entries[: self.hold_back], entries[self.hold_back :]
        if self.field == "UnprocessedKeys":
            sent = {TABLE: {**request, "Keys": entries}}
        else:
            sent = {TABLE: entries}
        response = await self.real(RequestItems=sent, **kwargs) if entries else {}
        if held:
            left = {**request, "Keys": held} if self.field == "UnprocessedKeys" else held
            response = {**response, self.field: {TABLE: left}}
        return response


async def intercept(backend: DynamoDBBackend, operation: str) -> Interceptor:
    client = await backend._get_client()
    field = "UnprocessedKeys" if operation == "batch_get_item" else "UnprocessedItems"
    interceptor = Interceptor(getattr(client, operation), field)
    setattr(client, operation, interceptor)
    return interceptor


@pytest.fixture
def sleeps(backend: DynamoDBBackend) -> list[float]:
    """Backoff delays the backend asked for, instead of sleeping them."""
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    backend.sleep = fake_sleep
    return recorded


async def test_large_batches_are_chunked_at_the_dynamodb_limits(
    backend: DynamoDBBackend,
) -> None:
    keys = [unique_key() for _ in range(230)]
    writes = await intercept(backend, "batch_write_item")
    reads = await intercept(backend, "batch_get_item")
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys[:210]})
    assert sorted(writes.sizes) == [10] + [25] * 8
    results = await backend.get_many(keys)
    assert sorted(reads.sizes) == [30, 100, 100]
    assert [r.data if r else None for r in results] == [k.encode() for k in keys[:210]] + [
        None
    ] * 20
    writes.sizes.clear()
    await backend.delete_many(keys)
    assert sorted(writes.sizes) == [5] + [25] * 9
    assert await backend.get_many(keys[:3]) == [None, None, None]


async def test_duplicate_keys_are_read_once_and_answered_in_place(
    backend: DynamoDBBackend,
) -> None:
    key, other = unique_key(), unique_key()
    await backend.set(key, make_value(b"v"), 60)
    reads = await intercept(backend, "batch_get_item")
    results = await backend.get_many([key, other, key])
    assert reads.sizes == [2]
    assert [r.data if r else None for r in results] == [b"v", None, b"v"]
    await backend.delete_many([key, key])
    assert await backend.get(key) is None


async def test_unprocessed_keys_are_retried_with_backoff(
    backend: DynamoDBBackend, sleeps: list[float]
) -> None:
    keys = [unique_key() for _ in range(10)]
    writes = await intercept(backend, "batch_write_item")
    writes.hold_back, writes.hold_rounds = 4, 2
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys})
    assert writes.sizes == [10, 4, 4]
    reads = await intercept(backend, "batch_get_item")
    reads.hold_back, reads.hold_rounds = 3, 3
    results = await backend.get_many(keys)
    assert reads.sizes == [10, 3, 3, 3]
    assert [r.data if r else None for r in results] == [k.encode() for k in keys]
    assert len(sleeps) == 5
    assert all(0 <= s <= 1.0 for s in sleeps)


async def test_keys_left_unprocessed_raise_after_bounded_attempts(
    backend: DynamoDBBackend, sleeps: list[float]
) -> None:
    reads = await intercept(backend, "batch_get_item")
    reads.hold_back, reads.hold_rounds = 1, -1
    with pytest.raises(hitbox.BackendError, match="unprocessed"):
        await backend.get_many([unique_key(), unique_key()])
    assert len(reads.sizes) == BATCH_ATTEMPTS
    writes = await intercept(backend, "batch_write_item")
    writes.hold_back, writes.hold_rounds = 1, -1
    with pytest.raises(hitbox.BackendError, match="unprocessed"):
        await backend.delete_many([unique_key()])
    assert len(writes.sizes) == BATCH_ATTEMPTS


async def test_expired_and_corrupt_entries_are_misses_for_their_key_only(
    backend: DynamoDBBackend, clock: FakeClock, raw_client: Any
) -> None:
    short, good, corrupt = unique_key(), unique_key(), unique_key()
    await backend.set_many(
        {short: (make_value(b"s", now=clock.now), 1.0), good: (make_value(b"g"), 60.0)}
    )
    await raw_client.put_item(
        TableName=TABLE, Item={"pk": {"S": data_pk(corrupt)}, "payload": {"B": b"junk"}}
    )
    clock.advance(2)
    results = await backend.get_many([short, good, corrupt])
    assert [r.data if r else None for r in results] == [None, b"g", None]


async def test_oversized_value_in_a_batch_deletes_the_old_entry(
    make_backend: Any,
) -> None:
    backend = make_backend(compression="none", max_item_size=8 * 1024)
    small, large = unique_key(), unique_key()
    await backend.set(large, make_value(b"old"), 60)
    big = random.Random(3).randbytes(16 * 1024)
    await backend.set_many({small: (make_value(b"ok"), 60.0), large: (make_value(big), 60.0)})
    assert backend.oversized_skipped == 1
    results = await backend.get_many([small, large])
    assert [r.data if r else None for r in results] == [b"ok", None]


async def test_an_item_the_service_refuses_fails_only_itself(make_backend: Any) -> None:
    """moto caps items at 405,000 bytes; DynamoDB's rule (and our estimate) allows 409,600.

    The refused BatchWriteItem is redone item by item, so only that item is skipped.
    """
    backend = make_backend(compression="none")
    small, large = unique_key(), unique_key()
    await backend.set(large, make_value(b"old"), 60)
    await backend.set_many(
        {small: (make_value(b"ok"), 60.0), large: (make_value(b"x" * 406_000), 60.0)}
    )
    assert backend.oversized_skipped == 1
    results = await backend.get_many([small, large])
    assert [r.data if r else None for r in results] == [b"ok", None]


async def test_a_failing_chunk_cancels_its_siblings_and_raises(
    backend: DynamoDBBackend,
) -> None:
    client = await backend._get_client()
    real = client.batch_get_item
    calls = 0

    async def flaky(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionResetError("injected")
        return await real(**kwargs)

    client.batch_get_item = flaky
    with pytest.raises(ConnectionResetError):
        await backend.get_many([unique_key() for _ in range(300)])
    assert asyncio.all_tasks() == {asyncio.current_task()}, "sibling chunks left running"
