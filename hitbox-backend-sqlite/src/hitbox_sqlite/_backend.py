"""The SQLite backend: a persistent, multi-process cache in one file, off the event loop.

Threads, not the event loop, talk to SQLite: one writer thread owns the only writing
connection of this process (so in-process writers queue instead of contending for the
file lock), and a small pool of reader threads each own a reader connection. Across
processes, WAL mode plus immediate write transactions and a busy timeout keep every
process making progress (see :mod:`hitbox_sqlite._store`). Entries become rows, within
the size limits, in :mod:`hitbox_sqlite._envelopes`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar, final

from hitbox import Backend, CachedValue, RateLimitedLogger
from hitbox.codec import EnvelopeCodec

from hitbox_sqlite import _store
from hitbox_sqlite._batcher import Batcher
from hitbox_sqlite._config import SQLiteConfig, Synchronous
from hitbox_sqlite._envelopes import Envelopes, Row

__all__ = ["SQLiteBackend"]

Clock = Callable[[], float]
_T = TypeVar("_T")

logger = logging.getLogger("hitbox_sqlite")

# Reads remembered for LRU bookkeeping between writes; beyond this many, extra reads are
# not recorded (eviction then leans on write times, which is still LRU-ish).
_MAX_TOUCHED = 10_000


@final
class SQLiteBackend(Backend):
    """Cache entries in a SQLite database file (or ``":memory:"``).

    Entries are stored as :class:`hitbox.EnvelopeCodec` envelopes with an expiry column;
    expired rows are invisible to reads and purged in bounded batches every
    ``purge_interval`` seconds. Optional caps (``max_entries``, ``max_bytes``) evict the
    least recently used rows. Implements :class:`hitbox.BatchBackend`,
    :class:`hitbox.LockingBackend` and :class:`hitbox.Healthcheck`.

    ``clock`` returns unix seconds (``time.time`` by default); expiry, purges and lock
    leases all read it, so tests can move time by hand.
    """

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = 30.0,
        readers: int = 4,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        purge_interval: float = 60.0,
        purge_batch: int = 1000,
        synchronous: Synchronous = "normal",
        max_value_size: int = 16 * 1024 * 1024,
        signing_key: bytes | None = None,
        codec: EnvelopeCodec | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._config = SQLiteConfig.validated(
            {
                "path": path,
                "busy_timeout": busy_timeout,
                "readers": readers,
                "max_entries": max_entries,
                "max_bytes": max_bytes,
                "purge_interval": purge_interval,
                "purge_batch": purge_batch,
                "synchronous": synchronous,
                "max_value_size": max_value_size,
            }
        )
        self._codec = codec if codec is not None else EnvelopeCodec(signing_key=signing_key)
        self._clock = clock
        envelopes = Envelopes(
            self._codec,
            max_value_size=max_value_size,
            max_bytes=max_bytes,
            # A workload of large values would otherwise log on every write.
            warnings=RateLimitedLogger(logger, clock=clock),
            backend=self,
        )
        # Instance attributes: a get or set looks each up once, as a method would be.
        self._decode = envelopes.decode
        self._encode = envelopes.encode
        self._capped = max_entries is not None or max_bytes is not None
        self._touched: dict[str, float] = {}
        self._touched_lock = threading.Lock()
        self._next_purge = 0.0
        self._ready = False
        self._closed = False
        self._init_future: Future[None] | None = None
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._local = threading.local()
        self._writer_conn: sqlite3.Connection | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="hitbox-sqlite-writer")
        # An in-memory database exists only inside its one connection: reads share it.
        self._reader = (
            self._writer
            if self._config.in_memory
            else ThreadPoolExecutor(self._config.readers, thread_name_prefix="hitbox-sqlite-reader")
        )
        self._reads: Batcher[str, bytes | int | None] = Batcher(
            self._reader, self._read_batch, max_in_flight=self._config.readers
        )
        self._writes: Batcher[_store.WriteOp, None] = Batcher(self._writer, self._write_batch)

    @classmethod
    def from_config(cls, config: SQLiteConfig, *, clock: Clock = time.time) -> SQLiteBackend:
        """Build a backend from a validated :class:`SQLiteConfig`."""
        backend = cls(
            config.path,
            busy_timeout=config.busy_timeout,
            readers=config.readers,
            max_entries=config.max_entries,
            max_bytes=config.max_bytes,
            purge_interval=config.purge_interval,
            purge_batch=config.purge_batch,
            synchronous=config.synchronous,
            max_value_size=config.max_value_size,
            signing_key=config.signing_key_bytes(),
            clock=clock,
        )
        backend._config = config  # keeps the signing key, which __init__ takes as bytes
        return backend

    @property
    def config(self) -> SQLiteConfig:
        """The validated settings of this backend."""
        return self._config

    @property
    def codec(self) -> EnvelopeCodec:
        """The codec entries are stored with (an envelope codec unless one was passed)."""
        return self._codec

    def __repr__(self) -> str:
        return f"SQLiteBackend(path={self._config.path!r})"

    # -- threads and connections ------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = _store.connect(
            self._config.path,
            busy_timeout=self._config.busy_timeout,
            synchronous=self._config.synchronous,
        )
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _writer_connection(self) -> sqlite3.Connection:
        # Only ever called on the writer thread.
        if self._writer_conn is None:
            self._writer_conn = self._open()
        return self._writer_conn

    def _reader_connection(self) -> sqlite3.Connection:
        if self._config.in_memory:
            return self._writer_connection()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
        return conn

    async def _run(self, executor: ThreadPoolExecutor, call: Callable[[], _T]) -> _T:
        if not self._ready:
            await self._initialize()
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    async def _initialize(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        # A concurrent future, not an asyncio lock: the backend may outlive an event loop.
        if self._init_future is None:
            self._init_future = self._writer.submit(self._init_sync)
        future = self._init_future
        try:
            await asyncio.wrap_future(future)
        except BaseException:
            if self._init_future is future and future.done():
                self._init_future = None  # let the next call try again
            raise
        self._ready = True

    def _init_sync(self) -> None:
        _store.init_schema(self._writer_connection(), wal=not self._config.in_memory)

    async def _read(self, key: str) -> bytes | int | None:
        if not self._ready:
            await self._initialize()
        envelope = await self._reads.submit(key)
        if envelope is not None and self._capped:
            self._note_reads((key,))
        return envelope

    def _read_batch(self, keys: Sequence[str]) -> list[bytes | int | None]:
        # On a reader thread: one query for every key of the batch.
        found = _store.read(
            self._reader_connection(),
            list(dict.fromkeys(keys)),
            self._clock(),
            self._config.max_value_size,
        )
        return [found.get(key) for key in keys]

    async def _write(self, op: _store.WriteOp) -> None:
        if not self._ready:
            await self._initialize()
        await self._writes.submit(op)

    def _write_batch(self, ops: Sequence[_store.WriteOp]) -> list[BaseException | None]:
        # On the writer thread: every op of the batch in one transaction.
        now = self._clock()
        purge_limit = 0
        if now >= self._next_purge:
            self._next_purge = now + self._config.purge_interval
            purge_limit = self._config.purge_batch
        with self._touched_lock:
            touched, self._touched = self._touched, {}
        return _store.apply_writes(
            self._writer_connection(),
            ops,
            now,
            touched=touched,
            purge_limit=purge_limit,
            max_entries=self._config.max_entries,
            max_bytes=self._config.max_bytes,
        )

    def _note_reads(self, keys: Sequence[str]) -> None:
        now = self._clock()
        with self._touched_lock:
            if len(self._touched) < _MAX_TOUCHED:
                for key in keys:
                    self._touched[key] = now

    # -- Backend ----------------------------------------------------------------------

    def get_sync(self, key: str) -> CachedValue | None:
        """:meth:`get` for sync callers, in the calling thread on a reader connection of
        its own (an in-memory database is read on the writer thread, its one connection)."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if not self._ready:
            if self._init_future is None:
                self._init_future = self._writer.submit(self._init_sync)
            future = self._init_future
            try:
                future.result()
            except BaseException:
                if self._init_future is future:
                    self._init_future = None  # let the next call try again
                raise
            self._ready = True
        if self._config.in_memory:
            envelope = self._writer.submit(self._read_batch, [key]).result()[0]
        else:
            envelope = self._read_batch([key])[0]
        if envelope is not None and self._capped:
            self._note_reads((key,))
        return self._decode(key, envelope)

    async def get(self, key: str) -> CachedValue | None:
        """The live entry under ``key``, or ``None``; :class:`hitbox.CorruptEntry` if garbled."""
        return self._decode(key, await self._read(key))

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (an oversized one is dropped)."""
        row = self._encode(key, value, ttl)
        if row is None:
            await self._write(("delete", (key,)))  # the new value replaces the old one
        else:
            await self._write(("set", (row,)))

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is fine."""
        await self._write(("delete", (key,)))

    async def open(self) -> None:
        """Open the database now: create the schema (WAL mode) and answer one query."""
        await self.ping()

    async def aclose(self) -> None:
        """Finish queued work, close every connection and stop the threads. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    # -- BatchBackend -----------------------------------------------------------------

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """Entries for ``keys`` in order, ``None`` where missing; one query per 900 keys."""
        if not keys:
            return []
        keys = list(keys)
        found = await self._run(self._reader, lambda: self._read_batch(keys))
        if self._capped:
            self._note_reads([key for key, envelope in zip(keys, found, strict=True) if envelope])
        return [self._decode(key, envelope) for key, envelope in zip(keys, found, strict=True)]

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store each ``key -> (value, ttl)`` in one transaction."""
        rows: list[Row] = []
        oversized: list[str] = []
        for key, (value, ttl) in items.items():
            row = self._encode(key, value, ttl)
            if row is None:
                oversized.append(key)
            else:
                rows.append(row)
        if oversized:
            await self._write(("delete", oversized))  # new values replace old ones
        if rows:
            await self._write(("set", rows))

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every key in ``keys`` in one transaction."""
        if keys:
            await self._write(("delete", list(keys)))

    # -- LockingBackend ---------------------------------------------------------------

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Take the lease on ``key`` for ``ttl`` seconds: a token, or ``None`` if held."""
        token = secrets.token_hex(16)
        now = self._clock()
        taken = await self._run(
            self._writer,
            lambda: _store.acquire_lock(self._writer_connection(), key, token, ttl, now),
        )
        return token if taken else None

    async def release_lock(self, key: str, token: str) -> None:
        """Release the lease on ``key`` if ``token`` still owns it."""
        await self._run(
            self._writer, lambda: _store.release_lock(self._writer_connection(), key, token)
        )

    # -- Healthcheck and maintenance --------------------------------------------------

    async def ping(self) -> bool:
        """True when the database answers a query."""
        row = await self._run(
            self._reader, lambda: self._reader_connection().execute("SELECT 1").fetchone()
        )
        return bool(row == (1,))

    async def purge_expired(self, limit: int | None = None) -> int:
        """Delete up to ``limit`` (default ``purge_batch``) expired entries now; count removed."""
        now = self._clock()
        batch = self._config.purge_batch if limit is None else limit
        return await self._run(
            self._writer,
            lambda: _store.purge_expired(self._writer_connection(), now, batch),
        )

    async def stats(self) -> dict[str, Any]:
        """``{"entries": n, "bytes": n}`` stored now, expired rows not yet purged included."""
        entries, size = await self._run(
            self._reader, lambda: _store.stats(self._reader_connection())
        )
        return {"entries": entries, "bytes": size}
