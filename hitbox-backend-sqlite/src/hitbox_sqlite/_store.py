"""The SQL side of the SQLite backend: schema, connections and every statement, all sync.

Nothing here knows about asyncio or threads; :mod:`hitbox_sqlite._backend` decides which
thread runs what. Each function takes the connection to use, so the rules that keep many
processes from ever seeing "database is locked" live in one place:

* WAL journal: readers never block writers, writers never block readers.
* Every write transaction starts with ``BEGIN IMMEDIATE``, taking the write lock before
  reading anything. A deferred transaction that reads and then writes can be refused
  with SQLITE_BUSY *without* the busy handler being called (its snapshot went stale while
  it waited); an immediate one waits in the busy handler up to ``busy_timeout``.
* Reads are single autocommit statements, so they never hold a snapshot across calls.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

__all__ = [
    "SCHEMA_VERSION",
    "WriteOp",
    "acquire_lock",
    "apply_writes",
    "connect",
    "evict",
    "init_schema",
    "purge_expired",
    "read",
    "release_lock",
    "stats",
    "touch",
]

SCHEMA_VERSION: Final = 1
"""Stored in ``PRAGMA user_version``; a file written by a newer schema is refused."""

# SQLite's default limit on host parameters is 32766 since 3.32; older builds allow 999.
_CHUNK: Final = 900

_SCHEMA: Final = (
    """
CREATE TABLE IF NOT EXISTS hitbox_entries (
    key TEXT PRIMARY KEY NOT NULL,
    expires_at REAL NOT NULL,
    accessed_at REAL NOT NULL,
    size INTEGER NOT NULL,
    envelope BLOB NOT NULL
)
""",
    "CREATE INDEX IF NOT EXISTS hitbox_entries_expires_at ON hitbox_entries (expires_at)",
    "CREATE INDEX IF NOT EXISTS hitbox_entries_accessed_at ON hitbox_entries (accessed_at)",
    """
CREATE TABLE IF NOT EXISTS hitbox_locks (
    key TEXT PRIMARY KEY NOT NULL,
    token TEXT NOT NULL,
    expires_at REAL NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS hitbox_stats (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
)
""",
    "INSERT OR IGNORE INTO hitbox_stats (id, entries, bytes) VALUES (0, 0, 0)",
    """
CREATE TRIGGER IF NOT EXISTS hitbox_entries_counted_insert AFTER INSERT ON hitbox_entries
BEGIN
    UPDATE hitbox_stats SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0;
END
""",
    """
CREATE TRIGGER IF NOT EXISTS hitbox_entries_counted_delete AFTER DELETE ON hitbox_entries
BEGIN
    UPDATE hitbox_stats SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0;
END
""",
    """
CREATE TRIGGER IF NOT EXISTS hitbox_entries_counted_update AFTER UPDATE OF size
ON hitbox_entries
BEGIN
    UPDATE hitbox_stats SET bytes = bytes + NEW.size - OLD.size WHERE id = 0;
END
""",
)

_UPSERT: Final = """
INSERT INTO hitbox_entries (key, expires_at, accessed_at, size, envelope)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    expires_at = excluded.expires_at,
    accessed_at = excluded.accessed_at,
    size = excluded.size,
    envelope = excluded.envelope
"""

_TAKE_LOCK: Final = """
INSERT INTO hitbox_locks (key, token, expires_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
WHERE hitbox_locks.expires_at <= ?
"""


def connect(path: str, *, busy_timeout: float, synchronous: str) -> sqlite3.Connection:
    """Open a connection in autocommit mode, usable from any (one-at-a-time) thread."""
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    return conn


def init_schema(conn: sqlite3.Connection, *, wal: bool) -> None:
    """Switch to WAL (file databases) and create the tables, indexes and triggers.

    Safe to run from many processes at once: the journal mode switch waits in the busy
    handler, and the DDL runs in an immediate transaction with ``IF NOT EXISTS``.
    """
    if wal:
        # Persistent in the file; a no-op when another process already switched it.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA journal_size_limit = 67108864")
    if _schema_version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        _schema_version(conn)
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _schema_version(conn: sqlite3.Connection) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"cache database schema version {version} is newer than this "
            f"hitbox-backend-sqlite understands ({SCHEMA_VERSION}); upgrade it"
        )
    return version


# An envelope over the size limit is not read: length() of a blob reads only its header.
_BOUNDED: Final = "CASE WHEN length(envelope) > ? THEN length(envelope) ELSE envelope END"


def read(
    conn: sqlite3.Connection, keys: Sequence[str], now: float, max_size: int
) -> dict[str, bytes | int]:
    """Envelopes of the live entries among ``keys`` (expired rows are invisible); for an
    envelope over ``max_size`` bytes, its length instead (its bytes are not read)."""
    found: dict[str, bytes | int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        if len(chunk) == 1:
            rows = conn.execute(
                f"SELECT key, {_BOUNDED} FROM hitbox_entries "  # noqa: S608 - a constant
                f"WHERE key = ? AND expires_at > ?",
                (max_size, chunk[0], now),
            )
        else:
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, {_BOUNDED} FROM hitbox_entries "  # noqa: S608 - only placeholders
                f"WHERE key IN ({marks}) AND expires_at > ?",
                (max_size, *chunk, now),
            )
        found.update(rows)
    return found


class _Transaction:
    """``with _Transaction(conn):`` runs the block in ``BEGIN IMMEDIATE`` ... ``COMMIT``."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:  # some errors roll back by themselves
            self._conn.execute("ROLLBACK")


WriteOp = tuple[Literal["set", "delete"], Sequence[Any]]
"""``("set", [(key, envelope, ttl), ...])`` or ``("delete", [key, ...])``."""


def apply_writes(
    conn: sqlite3.Connection,
    ops: Sequence[WriteOp],
    now: float,
    *,
    touched: Mapping[str, float] | None = None,
    purge_limit: int = 0,
    max_entries: int | None = None,
    max_bytes: int | None = None,
) -> list[BaseException | None]:
    """Apply ``ops`` in order in one transaction (one commit); an error per op, or ``None``.

    First ``touched`` (key -> last read time) is flushed into ``accessed_at`` so eviction
    sees recent reads, and up to ``purge_limit`` expired rows are deleted; after the ops
    the caps are enforced. If the batch fails on one op's data (not on the database), the
    ops are retried one transaction each, so only the bad one fails.
    """
    try:
        with _Transaction(conn):
            if touched:
                touch(conn, touched)
            if purge_limit:
                _purge(conn, now, purge_limit)
            for op in ops:
                _apply(conn, op, now)
            if max_entries is not None or max_bytes is not None:
                evict(conn, now, max_entries=max_entries, max_bytes=max_bytes)
    except sqlite3.OperationalError as exc:
        # Locked, busy, disk full, read-only...: every op would fail the same way.
        return [exc] * len(ops)
    except Exception as exc:
        if len(ops) == 1:
            return [exc]
        return [
            apply_writes(conn, (op,), now, max_entries=max_entries, max_bytes=max_bytes)[0]
            for op in ops
        ]
    return [None] * len(ops)


def _apply(conn: sqlite3.Connection, op: WriteOp, now: float) -> None:
    kind, args = op
    if kind == "set":
        conn.executemany(
            _UPSERT,
            (
                (key, now + ttl, now, len(key) + len(envelope), envelope)
                for key, envelope, ttl in args
            ),
        )
    else:
        conn.executemany("DELETE FROM hitbox_entries WHERE key = ?", ((key,) for key in args))


def touch(conn: sqlite3.Connection, touched: Mapping[str, float]) -> None:
    """Record read times (inside the caller's transaction)."""
    conn.executemany(
        "UPDATE hitbox_entries SET accessed_at = ? WHERE key = ? AND accessed_at < ?",
        ((at, key, at) for key, at in touched.items()),
    )


def stats(conn: sqlite3.Connection) -> tuple[int, int]:
    """``(entries, bytes)`` currently stored, expired rows not yet purged included."""
    entries, size = conn.execute("SELECT entries, bytes FROM hitbox_stats WHERE id = 0").fetchone()
    return int(entries), int(size)


def evict(
    conn: sqlite3.Connection,
    now: float,
    *,
    max_entries: int | None,
    max_bytes: int | None,
) -> int:
    """Bring the store under its caps (inside the caller's transaction); rows removed.

    Expired rows go first, then the least recently used ones, in batches sized by how far
    over the cap the store is.
    """
    removed = 0
    for expired_first in (True, False):
        while True:
            entries, size = stats(conn)
            over = 0
            if max_entries is not None and entries > max_entries:
                over = entries - max_entries
            if max_bytes is not None and size > max_bytes:
                # Evict at least as many rows as the average row size suggests.
                average = max(1, size // max(1, entries))
                over = max(over, -(-(size - max_bytes) // average))
            if over == 0:
                return removed
            if expired_first:
                cursor = conn.execute(
                    "DELETE FROM hitbox_entries WHERE key IN (SELECT key FROM hitbox_entries "
                    "WHERE expires_at <= ? LIMIT ?)",
                    (now, over),
                )
            else:
                cursor = conn.execute(
                    "DELETE FROM hitbox_entries WHERE key IN (SELECT key FROM hitbox_entries "
                    "ORDER BY accessed_at LIMIT ?)",
                    (over,),
                )
            removed += cursor.rowcount
            if cursor.rowcount < over:
                break
    return removed


def purge_expired(conn: sqlite3.Connection, now: float, limit: int) -> int:
    """Delete at most ``limit`` expired entries and all expired locks; entries removed."""
    with _Transaction(conn):
        return _purge(conn, now, limit)


def _purge(conn: sqlite3.Connection, now: float, limit: int) -> int:
    cursor = conn.execute(
        "DELETE FROM hitbox_entries WHERE key IN "
        "(SELECT key FROM hitbox_entries WHERE expires_at <= ? LIMIT ?)",
        (now, limit),
    )
    conn.execute("DELETE FROM hitbox_locks WHERE expires_at <= ?", (now,))
    return cursor.rowcount


def acquire_lock(conn: sqlite3.Connection, key: str, token: str, ttl: float, now: float) -> bool:
    """Insert the lock row unless a live one exists (expired ones are taken over)."""
    with _Transaction(conn):
        cursor = conn.execute(_TAKE_LOCK, (key, token, now + ttl, now))
        return cursor.rowcount == 1


def release_lock(conn: sqlite3.Connection, key: str, token: str) -> None:
    """Delete the lock row if ``token`` still owns it."""
    with _Transaction(conn):
        conn.execute("DELETE FROM hitbox_locks WHERE key = ? AND token = ?", (key, token))
