"""Single-item behaviour on moto: expiry checked by reads, item layout, oversized values,
compression, corrupt items, locks and table handling."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import hitbox
import pytest
from hitbox.testing import make_value
from hitbox_dynamodb import DYNAMODB_MAX_ITEM_SIZE, DynamoDBBackend
from hitbox_dynamodb import _backend as backend_module
from hitbox_dynamodb._items import data_pk, lock_pk
from pydantic import ValidationError

from tests.dynamodb.conftest import PATIENT, REGION, TABLE, FakeClock, unique_key
from tests.support import BackendEventRecorder, backend_events  # noqa: F401 - fixture

pytestmark = pytest.mark.services  # moto / dynalite servers started by the fixtures


async def raw_item(client: Any, pk: str) -> dict[str, Any] | None:
    response = await client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)
    item: dict[str, Any] | None = response.get("Item")
    return item


# -- expiry ---------------------------------------------------------------------------


async def test_expired_item_still_present_is_a_miss(
    backend: DynamoDBBackend, clock: FakeClock, raw_client: Any
) -> None:
    key = unique_key()
    await backend.set(key, make_value(b"v", now=clock.now), 10)
    clock.advance(10.001)
    assert await backend.get(key) is None
    # DynamoDB (here: moto) still returns the item; only the read's own check hid it.
    assert await raw_item(raw_client, data_pk(key)) is not None


async def test_expiry_is_checked_to_the_millisecond(
    backend: DynamoDBBackend, clock: FakeClock
) -> None:
    key = unique_key()
    await backend.set(key, make_value(b"v", now=clock.now), 0.25)
    clock.advance(0.2)
    assert await backend.get(key) is not None
    clock.advance(0.06)
    assert await backend.get(key) is None


async def test_item_layout(backend: DynamoDBBackend, clock: FakeClock, raw_client: Any) -> None:
    key = unique_key()
    await backend.set(key, make_value(b"small", now=clock.now), 30.5)
    item = await raw_item(raw_client, data_pk(key))
    assert item is not None
    assert item["pk"] == {"S": "v:" + key}
    assert set(item) == {"pk", "payload", "expires_at", "expires_at_ms"}
    # Whole seconds for DynamoDB's TTL, rounded up so TTL never deletes a live entry.
    assert int(item["expires_at"]["N"]) >= clock.now + 30.5
    assert int(item["expires_at"]["N"]) < clock.now + 31.5
    assert abs(int(item["expires_at_ms"]["N"]) - (clock.now + 30.5) * 1000) <= 1


async def test_items_written_by_other_tools_use_whole_second_expiry(
    backend: DynamoDBBackend, clock: FakeClock, raw_client: Any
) -> None:
    key = unique_key()
    payload = backend._codec.encode(make_value(b"v", now=clock.now))
    item = {"pk": {"S": data_pk(key)}, "payload": {"B": payload}}
    await raw_client.put_item(
        TableName=TABLE, Item={**item, "expires_at": {"N": str(int(clock.now) + 5)}}
    )
    assert await backend.get(key) is not None
    clock.advance(6)
    assert await backend.get(key) is None


async def test_long_keys_are_hashed_within_dynamodb_key_limit(backend: DynamoDBBackend) -> None:
    key = unique_key() + "é" * 3000  # 6 KB of UTF-8, over DynamoDB's 2 KB key limit
    await backend.set(key, make_value(b"long"), 60)
    stored = await backend.get(key)
    assert stored is not None
    assert stored.data == b"long"
    assert await backend.get(key[:-1]) is None


# -- payloads: compression, oversized, corrupt -----------------------------------------


async def test_large_compressible_value_is_compressed(make_backend: Any, raw_client: Any) -> None:
    backend = make_backend(compression="zlib", compress_threshold=1024)
    key = unique_key()
    payload = b"abcdefgh" * 100_000  # 800 KB: fits only compressed
    await backend.set(key, make_value(payload), 60)
    stored = await backend.get(key)
    assert stored is not None
    assert stored.data == payload
    item = await raw_item(raw_client, data_pk(key))
    assert item is not None
    assert item["compression"] == {"S": "zlib"}
    assert len(item["payload"]["B"]) < 10_000


async def test_small_value_is_not_compressed(make_backend: Any, raw_client: Any) -> None:
    backend = make_backend(compression="zlib", compress_threshold=1024)
    key = unique_key()
    await backend.set(key, make_value(b"a" * 500), 60)
    item = await raw_item(raw_client, data_pk(key))
    assert item is not None
    assert "compression" not in item


async def test_zstd_compression_round_trips(make_backend: Any, raw_client: Any) -> None:
    pytest.importorskip("zstandard")
    backend = make_backend(compression="zstd", compress_threshold=0)
    key = unique_key()
    payload = b"zstd!" * 50_000
    await backend.set(key, make_value(payload), 60)
    stored = await backend.get(key)
    assert stored is not None
    assert stored.data == payload
    item = await raw_item(raw_client, data_pk(key))
    assert item is not None
    assert item["compression"] == {"S": "zstd"}


@pytest.mark.parametrize(
    ("server", "limit"),
    [
        # moto caps items at 405,000 bytes, a little below DynamoDB's 409,600.
        pytest.param("moto_endpoint", 405_000, id="moto"),
        pytest.param("dynalite_endpoint", DYNAMODB_MAX_ITEM_SIZE, id="dynalite"),
    ],
)
async def test_largest_uncompressed_value_fits_in_one_item(
    request: pytest.FixtureRequest, server: str, limit: int
) -> None:
    endpoint = request.getfixturevalue(server)
    backend = DynamoDBBackend(
        table=TABLE, endpoint_url=endpoint, region=REGION, compression="none", **PATIENT
    )
    key = unique_key()
    payload = random.Random(11).randbytes(limit - 1024)
    try:
        await backend.set(key, make_value(payload), 60)
        stored = await backend.get(key)
    finally:
        await backend.aclose()
    assert backend.oversized_skipped == 0
    assert stored is not None
    assert stored.data == payload


async def test_oversized_value_is_skipped_with_a_warning_and_drops_old_entry(
    make_backend: Any,
    caplog: pytest.LogCaptureFixture,
    backend_events: BackendEventRecorder,  # noqa: F811
) -> None:
    backend = make_backend(compression="zlib", max_item_size=64 * 1024)
    key = unique_key()
    await backend.set(key, make_value(b"old"), 60)
    payload = random.Random(7).randbytes(128 * 1024)  # random bytes do not compress
    with caplog.at_level(logging.WARNING, logger="hitbox_dynamodb"):
        await backend.set(key, make_value(payload), 60)  # no exception
    assert backend.oversized_skipped == 1
    assert any("not caching" in r.message and key in r.message for r in caplog.records)
    assert [kind for kind, _, _ in backend_events.kinds()] == ["oversized"]
    # The older entry must not survive the write that was meant to replace it.
    assert await backend.get(key) is None


async def test_server_rejecting_item_size_is_also_skipped(
    make_backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The safety net when the service counts differently (moto caps items at 405,000 B)."""
    backend = make_backend(compression="none")
    key = unique_key()
    await backend.set(key, make_value(b"old"), 60)
    with caplog.at_level(logging.WARNING, logger="hitbox_dynamodb"):
        await backend.set(key, make_value(b"x" * 406_000), 60)
    assert backend.oversized_skipped == 1
    assert await backend.get(key) is None


async def test_corrupt_payload_raises_corrupt_entry(
    backend: DynamoDBBackend, clock: FakeClock, raw_client: Any
) -> None:
    key = unique_key()
    await raw_client.put_item(
        TableName=TABLE,
        Item={"pk": {"S": data_pk(key)}, "payload": {"B": b"\x00garbage"}},
    )
    with pytest.raises(hitbox.CorruptEntry):
        await backend.get(key)


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param({}, id="no-payload"),
        pytest.param({"payload": {"S": "text"}}, id="payload-not-binary"),
        pytest.param(
            {"payload": {"B": b"x"}, "compression": {"S": "lz4"}}, id="unknown-compression"
        ),
        pytest.param({"payload": {"B": b"not zlib"}, "compression": {"S": "zlib"}}, id="bad-zlib"),
        pytest.param({"payload": {"B": b"x"}, "expires_at_ms": {"S": "soon"}}, id="bad-expiry"),
    ],
)
async def test_malformed_items_raise_corrupt_entry(
    backend: DynamoDBBackend, raw_client: Any, attributes: dict[str, Any]
) -> None:
    key = unique_key()
    await raw_client.put_item(TableName=TABLE, Item={"pk": {"S": data_pk(key)}, **attributes})
    with pytest.raises(hitbox.CorruptEntry):
        await backend.get(key)


# -- locks ------------------------------------------------------------------------------


async def test_lock_items_are_separate_from_entries(
    backend: DynamoDBBackend, raw_client: Any
) -> None:
    key = unique_key()
    token = await backend.acquire_lock(key, 30)
    assert token
    item = await raw_item(raw_client, lock_pk(key))
    assert item is not None
    assert item["owner"] == {"S": token}
    assert await backend.get(key) is None
    await backend.release_lock(key, token)
    assert await raw_item(raw_client, lock_pk(key)) is None


async def test_expired_lease_is_taken_over_and_old_token_cannot_release(
    backend: DynamoDBBackend, clock: FakeClock
) -> None:
    key = unique_key()
    first = await backend.acquire_lock(key, 1)
    assert first
    clock.advance(1.001)
    second = await backend.acquire_lock(key, 30)
    assert second
    await backend.release_lock(key, first)  # the old holder wakes up late
    assert await backend.acquire_lock(key, 30) is None
    await backend.release_lock(key, second)


async def test_two_backends_contend_for_one_lock(make_backend: Any) -> None:
    one, two = make_backend(), make_backend()
    key = unique_key()
    token = await one.acquire_lock(key, 30)
    assert token
    assert await two.acquire_lock(key, 30) is None
    await two.release_lock(key, token)  # a release names the lock, not the process
    assert await one.acquire_lock(key, 30)


# -- table and client -------------------------------------------------------------------


async def test_missing_table_raises_backend_error_naming_the_fix(make_backend: Any) -> None:
    backend = make_backend(table="no-such-table")
    with pytest.raises(hitbox.BackendError, match="hitbox dynamodb create-table no-such-table"):
        await backend.get("k")


async def test_create_table_true_creates_on_first_use(make_backend: Any, raw_client: Any) -> None:
    table = f"auto-{unique_key('t').replace(':', '-')}"
    backend = make_backend(table=table, create_table=True)
    await backend.set("k", make_value(b"v"), 60)
    assert (await backend.get("k")) is not None
    ttl = await raw_client.describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


async def test_opening_survives_callers_cut_off_by_timeouts(
    make_backend: Any, raw_client: Any
) -> None:
    table = f"slow-{unique_key('t').replace(':', '-')}"
    backend = make_backend(table=table, create_table=True)
    # The core cancels backend calls after backend_timeout; creating a table takes longer.
    for _ in range(3):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(backend.get("k"), 0.001)
    results = await asyncio.gather(*(backend.get(f"k{i}") for i in range(10)))
    assert results == [None] * 10
    description = await raw_client.describe_table(TableName=table)
    assert description["Table"]["TableStatus"] == "ACTIVE"


async def test_a_failed_opening_is_retried_by_the_next_call(
    backend: DynamoDBBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = backend_module.open_client
    attempts = 0

    def flaky_open(config: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("credentials endpoint unreachable")
        return real(config)

    monkeypatch.setattr(backend_module, "open_client", flaky_open)
    with pytest.raises(OSError, match="unreachable"):
        await backend.get("k")
    assert await backend.get("k") is None
    assert attempts == 2


# A client left open by a finished loop cannot be closed from the next one; aiohttp says so.
@pytest.mark.filterwarnings("ignore:Unclosed:ResourceWarning")
def test_one_backend_serves_successive_event_loops(moto_endpoint: str) -> None:
    """A Lambda handler calling asyncio.run per invocation, with a module-level backend."""
    backend = DynamoDBBackend(table=TABLE, endpoint_url=moto_endpoint, region=REGION, **PATIENT)
    key = unique_key()

    async def invocation(data: bytes, close: bool) -> bytes | None:
        await backend.set(key, make_value(data), 60)
        stored = await backend.get(key)
        if close:
            await backend.aclose()
        return stored.data if stored else None

    assert asyncio.run(invocation(b"first", close=False)) == b"first"
    assert asyncio.run(invocation(b"second", close=False)) == b"second"
    assert asyncio.run(invocation(b"third", close=True)) == b"third"
    assert asyncio.run(invocation(b"fourth", close=True)) == b"fourth"


async def test_aclose_closes_and_a_later_call_reopens(backend: DynamoDBBackend) -> None:
    assert await backend.ping()
    client = backend._client
    await backend.aclose()
    assert backend._client is None
    assert await backend.ping()
    assert backend._client is not client


async def test_keyword_settings_build_the_config() -> None:
    backend = DynamoDBBackend(table="cache", region="eu-west-1", consistent_read=True)
    assert backend.config.table == "cache"
    assert backend.consistent_read is True
    assert isinstance(backend, hitbox.BatchBackend)
    assert isinstance(backend, hitbox.LockingBackend)
    assert isinstance(backend, hitbox.Healthcheck)
    await backend.aclose()  # never opened: nothing to do
    derived = DynamoDBBackend(backend.config, region="us-west-2")
    assert derived.config.region == "us-west-2"
    with pytest.raises(ValidationError, match="max_attempts"):
        DynamoDBBackend(backend.config, max_attempts=0)
