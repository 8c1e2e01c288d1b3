"""The DynamoDB backend: single-item reads and writes, leases, and the shared client.

One aiobotocore client per backend, created on first use (so constructing a backend does
no I/O) and closed by :meth:`DynamoDBBackend.aclose`. Timeouts are short and retries few
(see :class:`~hitbox_dynamodb.DynamoDBConfig`): on throttling, network errors or timeouts
the client's error is raised and the core answers from the upstream (fail-open).
Batch operations live in :mod:`hitbox_dynamodb._batch`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Final

import hitbox
from botocore.exceptions import ClientError
from hitbox.codec import Codec

from hitbox_dynamodb import _batch, _items
from hitbox_dynamodb._config import DynamoDBConfig
from hitbox_dynamodb._errors import error_code, is_item_too_large
from hitbox_dynamodb._items import (
    COMPRESSION,
    EXPIRES_AT_MS,
    OWNER,
    PAYLOAD,
    PK,
    data_pk,
    expiry_attributes,
    lock_pk,
)

__all__ = ["Codec", "DynamoDBBackend", "open_client"]

logger = logging.getLogger("hitbox_dynamodb")

_LOCK_CONDITION: Final = "attribute_not_exists(#pk) OR #exp <= :now OR #owner = :token"


class DynamoDBBackend(hitbox.Backend):
    """A :class:`hitbox.Backend` storing entries as items of one DynamoDB table.

    Build it from a config (``DynamoDBBackend(DynamoDBConfig(table="cache"))``) or from
    keyword settings (``DynamoDBBackend(table="cache", region="eu-west-1")``).

    Also a :class:`hitbox.BatchBackend` (BatchGetItem / BatchWriteItem), a
    :class:`hitbox.LockingBackend` (conditional put and delete) and a
    :class:`hitbox.Healthcheck`. ``codec`` defaults to :class:`hitbox.codec.EnvelopeCodec` with
    the config's ``signing_key``; ``clock`` (unix seconds) decides expiry and lock leases
    and exists for tests.

    Values too large for one item are not cached: the backend logs a warning, counts them
    in :attr:`oversized_skipped` and deletes any older entry under the key, so a reader
    never gets the value the new one was meant to replace.
    """

    is_local = False
    stores_objects = False
    label = "dynamodb"

    def __init__(
        self,
        config: DynamoDBConfig | None = None,
        *,
        codec: Codec | None = None,
        clock: Callable[[], float] = time.time,
        **settings: Any,
    ) -> None:
        if config is None:
            config = DynamoDBConfig(**settings)
        elif settings:
            config = DynamoDBConfig.model_validate({**dict(config), **settings})
        self.config: DynamoDBConfig = config
        self._codec: Codec = codec if codec is not None else _default_codec(config)
        self._clock = clock
        self._table = config.table
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        """How batch retries wait between attempts (replaced in tests)."""
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._opening: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.oversized_skipped = 0
        """How many values were too large to cache since the backend was created."""
        # A workload of large values would otherwise log on every write.
        self._warnings = hitbox.RateLimitedLogger(logger, clock=clock)
        # open() is bounded by the client's timeouts (and, creating the table, by its
        # wait for ACTIVE); this only caps how long the cache's first call waits for it.
        self.open_timeout = (config.connect_timeout + config.read_timeout) * config.max_attempts

    @property
    def codec(self) -> Codec:
        """The codec entries are stored with (an envelope codec unless one was passed)."""
        return self._codec

    def __repr__(self) -> str:
        return f"DynamoDBBackend(table={self._table!r}, region={self.config.region!r})"

    @property
    def table(self) -> str:
        """The DynamoDB table holding the entries."""
        return self._table

    @property
    def consistent_read(self) -> bool:
        """Whether reads are strongly consistent (``consistent_read`` in the config)."""
        return self.config.consistent_read

    def _now(self) -> float:
        return self._clock()

    # -- client lifecycle ------------------------------------------------------------

    async def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._forget_other_loop(loop)
        elif self._client is not None:
            return self._client
        opening = self._opening
        if opening is None or (opening.done() and _failed(opening)):
            opening = self._opening = asyncio.ensure_future(self._open_client())
            opening.add_done_callback(_failed)
        # Shielded: the core cancels slow backend calls (backend_timeout), but opening the
        # client (and creating the table) must finish for the calls that follow; callers
        # cut off meanwhile fail open.
        return await asyncio.shield(opening)

    def _forget_other_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drop a client opened on another event loop, e.g. by an earlier ``asyncio.run``.

        Serverless handlers often run one event loop per invocation; the old client's
        connections belong to its loop and can be neither used nor closed from this one.
        """
        if self._client is not None or self._opening is not None:
            logger.debug("event loop changed; opening a new DynamoDB client")
        self._client = self._stack = self._opening = None
        self._loop = loop

    async def _open_client(self) -> Any:
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(open_client(self.config))
            if self.config.create_table:
                from hitbox_dynamodb._table import create_table

                await create_table(client, self._table)
        except BaseException:
            await stack.aclose()
            raise
        self._client, self._stack = client, stack
        return client

    async def open(self) -> None:
        """Create the client now (and the table, with ``create_table``), and read one
        item, so the first cache call finds a client and a warm connection."""
        await self.ping()

    async def aclose(self) -> None:
        """Close the client and its connection pool. Idempotent; a later call reopens."""
        if self._loop is not asyncio.get_running_loop():
            self._forget_other_loop(asyncio.get_running_loop())
            return
        opening, self._opening = self._opening, None
        if opening is not None and not opening.done():
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        client = await self._get_client()
        try:
            return await getattr(client, operation)(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise hitbox.BackendError(
                    f"DynamoDB table {self._table!r} does not exist: run "
                    f"`hitbox dynamodb create-table {self._table}` or set create_table=true"
                ) from exc
            raise

    # -- entries ---------------------------------------------------------------------

    async def get(self, key: str) -> hitbox.CachedValue | None:
        """The entry under ``key``, or None if missing or expired (checked by this read)."""
        response = await self._call(
            "get_item",
            TableName=self._table,
            Key={PK: {"S": data_pk(key)}},
            ConsistentRead=self.config.consistent_read,
        )
        item = response.get("Item")
        if item is None:
            return None
        return self._decode(item, self._clock())

    def _decode(self, item: Mapping[str, Any], now: float) -> hitbox.CachedValue | None:
        if _items.is_expired(item, now):
            return None
        # The signature binds the partition key, so an item copied under another fails.
        return self._codec.decode(_items.payload_of(item), item[PK]["S"])

    async def set(self, key: str, value: hitbox.CachedValue, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds; oversized values are skipped (see class doc)."""
        item = self._build_item(key, value, ttl)
        if item is None:
            await self.delete(key)
            return
        await self._put_item(item)

    async def _put_item(self, item: dict[str, dict[str, Any]]) -> None:
        """Write a data item; if the service finds it too large, skip it as oversized."""
        try:
            await self._call("put_item", TableName=self._table, Item=item)
        except ClientError as exc:
            # The size estimate is DynamoDB's own rule; this is the safety net for services
            # that count differently (moto caps items at 405,000 bytes).
            if not is_item_too_large(exc):
                raise
            pk = item[PK]
            self._skip_oversized(pk["S"], _items.estimate_item_size(item))
            await self._call("delete_item", TableName=self._table, Key={PK: pk})

    def _build_item(
        self, key: str, value: hitbox.CachedValue, ttl: float
    ) -> dict[str, dict[str, Any]] | None:
        """The item storing ``value``, or None (after a warning) if it would be too large."""
        pk = data_pk(key)
        payload = self._codec.encode(value, pk)
        item: dict[str, dict[str, Any]] = {PK: {"S": pk}}
        method = self.config.compression
        if method != "none" and len(payload) >= self.config.compress_threshold:
            compressed = _items.compress(method, payload)
            if len(compressed) < len(payload):
                payload = compressed
                item[COMPRESSION] = {"S": method}
        item[PAYLOAD] = {"B": payload}
        item.update(expiry_attributes(self._clock() + ttl))
        size = _items.estimate_item_size(item)
        if size > self.config.max_item_size:
            self._skip_oversized(key, size)
            return None
        return item

    def _skip_oversized(self, key: str, size: int) -> None:
        self.oversized_skipped += 1
        self._warnings.warning(
            "oversized",
            "not caching %r in DynamoDB table %r: the item would be %d bytes, over the "
            "%d-byte limit (enable compression or cache less)",
            key,
            self._table,
            size,
            self.config.max_item_size,
        )
        hitbox.emit_backend_event(
            "oversized", self.label or "dynamodb", key, size=size, limit=self.config.max_item_size
        )

    async def delete(self, key: str) -> None:
        """Remove the entry under ``key`` (a missing key is fine)."""
        await self._call("delete_item", TableName=self._table, Key={PK: {"S": data_pk(key)}})

    # -- batches (hitbox.BatchBackend) ----------------------------------------------

    async def get_many(self, keys: Sequence[str]) -> list[hitbox.CachedValue | None]:
        """Entries for ``keys`` in order (BatchGetItem, 100 keys per request).

        None where missing, expired or undecodable: one corrupt entry is a miss for its
        key, not a failure of the batch.
        """
        return await _batch.get_many(self, keys)

    async def set_many(self, items: Mapping[str, tuple[hitbox.CachedValue, float]]) -> None:
        """Store each ``key -> (value, ttl)`` (BatchWriteItem, 25 writes per request)."""
        await _batch.set_many(self, items)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every key in ``keys`` (BatchWriteItem, 25 deletes per request)."""
        await _batch.delete_many(self, keys)

    # -- locks -----------------------------------------------------------------------

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Take the lease for ``key`` for ``ttl`` seconds: a token, or None if it is held.

        A conditional put succeeds if no lock item exists, the existing one has expired,
        or it carries our own token (so a retried request does not lock us out).
        """
        token = secrets.token_hex(16)
        now = self._clock()
        item = {PK: {"S": lock_pk(key)}, OWNER: {"S": token}, **expiry_attributes(now + ttl)}
        try:
            await self._call(
                "put_item",
                TableName=self._table,
                Item=item,
                ConditionExpression=_LOCK_CONDITION,
                ExpressionAttributeNames={"#pk": PK, "#exp": EXPIRES_AT_MS, "#owner": OWNER},
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now * 1000))},
                    ":token": {"S": token},
                },
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return token

    async def release_lock(self, key: str, token: str) -> None:
        """Delete the lease for ``key`` if ``token`` still owns it; otherwise do nothing."""
        try:
            await self._call(
                "delete_item",
                TableName=self._table,
                Key={PK: {"S": lock_pk(key)}},
                ConditionExpression="#owner = :token",
                ExpressionAttributeNames={"#owner": OWNER},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    # -- health ----------------------------------------------------------------------

    async def ping(self) -> bool:
        """True if the table answers a read; a missing table raises :class:`hitbox.BackendError`."""
        await self._call("get_item", TableName=self._table, Key={PK: {"S": "hitbox:ping"}})
        return True


def _failed(future: asyncio.Future[Any]) -> bool:
    """Whether ``future`` ended in failure; also marks its exception as retrieved."""
    return future.cancelled() or future.exception() is not None


@functools.cache
def _session(profile: str | None) -> Any:
    """One aiobotocore session per profile for the process.

    A session loads the service model and resolves credentials once; clients made from
    it (one per backend) then take milliseconds instead of a tenth of a second.
    """
    from aiobotocore.session import AioSession

    return AioSession(profile=profile)


def open_client(config: DynamoDBConfig) -> AbstractAsyncContextManager[Any]:
    """An aiobotocore DynamoDB client set up from ``config`` (use with ``async with``).

    Timeouts and retries follow the config; credentials come from the AWS chain.
    """
    from aiobotocore.config import AioConfig

    context: AbstractAsyncContextManager[Any] = _session(config.profile).create_client(
        "dynamodb",
        region_name=config.region,
        endpoint_url=config.endpoint_url,
        config=AioConfig(
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            max_pool_connections=config.max_pool_connections,
            # Legacy mode backs off from 50 ms for DynamoDB (standard mode: up to 1 s),
            # which is what a cache can afford.
            retries={"mode": "legacy", "total_max_attempts": config.max_attempts},
        ),
    )
    return context


def _default_codec(config: DynamoDBConfig) -> Codec:
    from hitbox.codec import EnvelopeCodec

    return EnvelopeCodec(signing_key=config.signing_key_bytes())
