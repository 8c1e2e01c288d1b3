"""Batch reads and writes: BatchGetItem in chunks of 100, BatchWriteItem in chunks of 25.

DynamoDB may answer a batch partly, returning what it did not process (throttling, or a
response over 16 MB). Those keys are retried with jittered exponential backoff; keys
still unprocessed after :data:`BATCH_ATTEMPTS` attempts raise :class:`hitbox.BackendError`
(the core then fails open). Chunks of one call run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Final, Protocol

import hitbox
from botocore.exceptions import ClientError

from hitbox_dynamodb._errors import is_item_too_large
from hitbox_dynamodb._items import PK, data_pk

__all__ = [
    "BATCH_ATTEMPTS",
    "GET_CHUNK",
    "WRITE_CHUNK",
    "BatchHost",
    "delete_many",
    "get_many",
    "set_many",
]

logger = logging.getLogger("hitbox_dynamodb")

GET_CHUNK: Final = 100
"""Most keys BatchGetItem accepts in one request."""
WRITE_CHUNK: Final = 25
"""Most put/delete requests BatchWriteItem accepts in one request."""
BATCH_ATTEMPTS: Final = 5
"""Attempts per chunk while DynamoDB leaves keys unprocessed (first backoff ~25 ms)."""
_BACKOFF_BASE: Final = 0.025
_BACKOFF_CAP: Final = 1.0


class BatchHost(Protocol):
    """What the batch functions need from :class:`hitbox_dynamodb.DynamoDBBackend`."""

    @property
    def table(self) -> str:
        """The table name."""
        ...

    @property
    def consistent_read(self) -> bool:
        """Whether reads are strongly consistent."""
        ...

    sleep: Callable[[float], Awaitable[None]]

    async def _call(self, operation: str, **kwargs: Any) -> Any: ...

    def _build_item(
        self, key: str, value: hitbox.CachedValue, ttl: float
    ) -> dict[str, dict[str, Any]] | None: ...

    def _decode(self, item: Mapping[str, Any], now: float) -> hitbox.CachedValue | None: ...

    async def _put_item(self, item: dict[str, dict[str, Any]]) -> None: ...

    def _now(self) -> float: ...


def _backoff(attempt: int) -> float:
    # Full jitter: spreads retries of many clients throttled at the same moment.
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))


async def _run_all(coroutines: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Await every coroutine concurrently; on the first failure cancel the rest and raise."""
    if len(coroutines) == 1:
        await coroutines[0]
        return
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def get_many(host: BatchHost, keys: Sequence[str]) -> list[hitbox.CachedValue | None]:
    """Entries for ``keys`` in order; None where missing, expired or undecodable.

    A corrupt entry is a miss for its key only, not a failure of the whole batch.
    """
    if not keys:
        return []
    pks = [data_pk(key) for key in keys]
    # BatchGetItem rejects a request that names the same key twice.
    unique = list(dict.fromkeys(pks))
    found: dict[str, Mapping[str, Any]] = {}
    await _run_all(
        [
            _get_chunk(host, unique[start : start + GET_CHUNK], found)
            for start in range(0, len(unique), GET_CHUNK)
        ]
    )
    now = host._now()
    results: list[hitbox.CachedValue | None] = []
    for key, pk in zip(keys, pks, strict=True):
        item = found.get(pk)
        value = None
        if item is not None:
            try:
                value = host._decode(item, now)
            except hitbox.CorruptEntry as exc:
                logger.debug("corrupt DynamoDB entry for %r treated as a miss: %s", key, exc)
        results.append(value)
    return results


async def _get_chunk(host: BatchHost, pks: Sequence[str], found: dict[str, Any]) -> None:
    request: dict[str, Any] = {
        host.table: {
            "Keys": [{PK: {"S": pk}} for pk in pks],
            "ConsistentRead": host.consistent_read,
        }
    }
    for attempt in range(BATCH_ATTEMPTS):
        if attempt:
            await host.sleep(_backoff(attempt - 1))
        response = await host._call("batch_get_item", RequestItems=request)
        for item in response.get("Responses", {}).get(host.table, ()):
            found[item[PK]["S"]] = item
        request = response.get("UnprocessedKeys") or {}
        if not request.get(host.table, {}).get("Keys"):
            return
    left = len(request[host.table]["Keys"])
    raise hitbox.BackendError(
        f"DynamoDB left {left} of {len(pks)} keys unprocessed after {BATCH_ATTEMPTS} "
        f"BatchGetItem attempts on table {host.table!r} (throttled?)"
    )


async def set_many(host: BatchHost, items: Mapping[str, tuple[hitbox.CachedValue, float]]) -> None:
    """Store each ``key -> (value, ttl)``; oversized values delete the key's old entry."""
    requests: dict[str, dict[str, Any]] = {}
    for key, (value, ttl) in items.items():
        item = host._build_item(key, value, ttl)
        pk = data_pk(key)
        if item is None:
            requests[pk] = {"DeleteRequest": {"Key": {PK: {"S": pk}}}}
        else:
            requests[pk] = {"PutRequest": {"Item": item}}
    await _write(host, list(requests.values()))


async def delete_many(host: BatchHost, keys: Sequence[str]) -> None:
    """Remove every key in ``keys`` (duplicates and missing keys are fine)."""
    pks = dict.fromkeys(data_pk(key) for key in keys)
    await _write(host, [{"DeleteRequest": {"Key": {PK: {"S": pk}}}} for pk in pks])


async def _write(host: BatchHost, requests: list[dict[str, Any]]) -> None:
    if not requests:
        return
    await _run_all(
        [
            _write_chunk(host, requests[start : start + WRITE_CHUNK])
            for start in range(0, len(requests), WRITE_CHUNK)
        ]
    )


async def _write_one_by_one(host: BatchHost, requests: list[dict[str, Any]]) -> None:
    for request in requests:
        if "PutRequest" in request:
            await host._put_item(request["PutRequest"]["Item"])
        else:
            await host._call("delete_item", TableName=host.table, **request["DeleteRequest"])


async def _write_chunk(host: BatchHost, chunk: list[dict[str, Any]]) -> None:
    pending: list[dict[str, Any]] = chunk
    for attempt in range(BATCH_ATTEMPTS):
        if attempt:
            await host.sleep(_backoff(attempt - 1))
        try:
            response = await host._call("batch_write_item", RequestItems={host.table: pending})
        except ClientError as exc:
            # One item the service finds too large fails the whole request: write this
            # chunk item by item instead, so only that item is skipped.
            if not is_item_too_large(exc):
                raise
            await _write_one_by_one(host, pending)
            return
        pending = (response.get("UnprocessedItems") or {}).get(host.table) or []
        if not pending:
            return
    raise hitbox.BackendError(
        f"DynamoDB left {len(pending)} of {len(chunk)} writes unprocessed after "
        f"{BATCH_ATTEMPTS} BatchWriteItem attempts on table {host.table!r} (throttled?)"
    )
