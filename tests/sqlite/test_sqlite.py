"""Behaviour of the SQLite backend beyond the conformance kit: expiry, caps, corruption."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
from hitbox import BatchBackend, CorruptEntry, Healthcheck, LockingBackend
from hitbox.testing import make_value
from hitbox_sqlite import SQLiteBackend

from tests.sqlite.conftest import FakeClock


def _rows(path: str) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT count(*) FROM hitbox_entries").fetchone()[0]
        return count


def test_capabilities() -> None:
    backend = SQLiteBackend(":memory:")
    assert isinstance(backend, BatchBackend)
    assert isinstance(backend, LockingBackend)
    assert isinstance(backend, Healthcheck)
    assert backend.is_local is False
    assert backend.stores_objects is False


async def test_expired_rows_are_invisible_then_purged_in_bounded_batches(
    db_path: str, clock: FakeClock
) -> None:
    backend = SQLiteBackend(db_path, clock=clock, purge_interval=60, purge_batch=4)
    await backend.set_many({f"k{n}": (make_value(), 10.0) for n in range(10)})
    clock.advance(11)
    assert await backend.get_many([f"k{n}" for n in range(10)]) == [None] * 10
    assert _rows(db_path) == 10  # invisible, not yet deleted

    assert await backend.purge_expired() == 4
    assert _rows(db_path) == 6
    await backend.aclose()


async def test_purge_piggybacks_on_writes_once_per_interval(db_path: str, clock: FakeClock) -> None:
    backend = SQLiteBackend(db_path, clock=clock, purge_interval=60, purge_batch=100)
    await backend.set_many({f"old{n}": (make_value(), 5.0) for n in range(5)})
    clock.advance(30)
    await backend.set("fresh1", make_value(), 300)
    assert _rows(db_path) == 6  # 30 s since the last purge: none yet
    clock.advance(31)
    await backend.set("fresh2", make_value(), 300)
    assert _rows(db_path) == 2  # the interval passed: expired rows are gone
    await backend.aclose()


async def test_max_entries_evicts_least_recently_used(db_path: str, clock: FakeClock) -> None:
    backend = SQLiteBackend(db_path, clock=clock, max_entries=3)
    for key in ("a", "b", "c"):
        await backend.set(key, make_value(key.encode()), 600)
        clock.advance(1)
    assert await backend.get("a") is not None  # "a" is now more recent than "b"
    clock.advance(1)
    await backend.set("d", make_value(b"d"), 600)
    values = await backend.get_many(list("abcd"))
    present = [key for key, value in zip("abcd", values, strict=True) if value]
    assert present == ["a", "c", "d"]
    assert (await backend.stats())["entries"] == 3
    await backend.aclose()


async def test_expired_entries_are_evicted_before_live_ones(db_path: str, clock: FakeClock) -> None:
    backend = SQLiteBackend(db_path, clock=clock, max_entries=2)
    await backend.set("short", make_value(), 1)
    clock.advance(0.5)
    await backend.set("long", make_value(), 600)
    clock.advance(1)
    await backend.set("new", make_value(), 600)
    assert [v is not None for v in await backend.get_many(["long", "new"])] == [True, True]
    assert _rows(db_path) == 2
    await backend.aclose()


async def test_max_bytes_bounds_the_stored_size(db_path: str, clock: FakeClock) -> None:
    backend = SQLiteBackend(db_path, clock=clock, max_bytes=4000)
    for n in range(20):
        await backend.set(f"k{n}", make_value(bytes(500)), 600)
        clock.advance(1)
    stats = await backend.stats()
    assert stats["bytes"] <= 4000
    assert await backend.get("k19") is not None  # the newest survive
    assert await backend.get("k0") is None
    await backend.aclose()


async def test_entry_larger_than_max_bytes_is_not_stored_and_replaces_old(
    db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    backend = SQLiteBackend(db_path, max_bytes=1000)
    await backend.set("k", make_value(b"small"), 600)
    with caplog.at_level(logging.WARNING, logger="hitbox_sqlite"):
        await backend.set("k", make_value(bytes(2000)), 600)
    assert await backend.get("k") is None
    assert "exceeds max_bytes=1000" in caplog.text
    await backend.aclose()


async def test_garbled_envelope_raises_corrupt_entry(db_path: str) -> None:
    backend = SQLiteBackend(db_path)
    await backend.set("k", make_value(b"fine"), 600)
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE hitbox_entries SET envelope = ? WHERE key = 'k'", (b"\x00garbage",))
    with pytest.raises(CorruptEntry):
        await backend.get("k")
    with pytest.raises(CorruptEntry):
        await backend.get_many(["k"])
    await backend.aclose()


async def test_entries_signed_with_another_key_are_corrupt(db_path: str) -> None:
    writer = SQLiteBackend(db_path, signing_key=b"first-signing-key-0123456789")
    await writer.set("k", make_value(b"signed"), 600)
    await writer.aclose()
    reader = SQLiteBackend(db_path, signing_key=b"second-signing-key-0123456789")
    with pytest.raises(CorruptEntry):
        await reader.get("k")
    await reader.aclose()
    same = SQLiteBackend(db_path, signing_key=b"first-signing-key-0123456789")
    stored = await same.get("k")
    assert stored is not None
    assert stored.data == b"signed"
    await same.aclose()


async def test_two_instances_share_one_file(db_path: str) -> None:
    first, second = SQLiteBackend(db_path), SQLiteBackend(db_path)
    await first.set("shared", make_value(b"from first"), 600)
    stored = await second.get("shared")
    assert stored is not None
    assert stored.data == b"from first"
    token = await second.acquire_lock("shared", 30)
    assert token
    assert await first.acquire_lock("shared", 30) is None
    await first.aclose()
    await second.aclose()


async def test_get_many_beyond_one_query_chunk(file_backend: SQLiteBackend) -> None:
    keys = [f"k{n}" for n in range(2000)]
    await file_backend.set_many({k: (make_value(k.encode()), 600.0) for k in keys[::2]})
    results = await file_backend.get_many(keys)
    assert [r.data if r else None for r in results] == [
        k.encode() if n % 2 == 0 else None for n, k in enumerate(keys)
    ]


async def test_reads_are_not_blocked_by_another_process_writing(db_path: str) -> None:
    backend = SQLiteBackend(db_path)
    await backend.set("k", make_value(b"before"), 600)
    # Another connection holds the write lock, as another process mid-transaction would.
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("DELETE FROM hitbox_entries")
    stored = await asyncio.wait_for(backend.get("k"), timeout=2)
    assert stored is not None  # WAL: the reader sees the last committed state
    assert stored.data == b"before"
    write = asyncio.ensure_future(backend.set("k2", make_value(b"after"), 600))
    done, _ = await asyncio.wait({write}, timeout=0.2)
    assert not done  # the writer waits for the lock instead of failing
    other.execute("COMMIT")
    await asyncio.wait_for(write, timeout=5)
    assert await backend.get("k") is None
    assert await backend.get("k2") is not None
    other.close()
    await backend.aclose()


async def test_database_from_a_newer_schema_is_refused(db_path: str) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    backend = SQLiteBackend(db_path)
    with pytest.raises(sqlite3.DatabaseError, match="schema version 99"):
        await backend.get("k")
    await backend.aclose()


async def test_closed_backend_refuses_work(db_path: str) -> None:
    backend = SQLiteBackend(db_path)
    await backend.set("k", make_value(), 600)
    await backend.aclose()
    with pytest.raises(RuntimeError):
        await backend.set("k", make_value(), 600)


async def test_memory_database_is_private_to_the_backend() -> None:
    first, second = SQLiteBackend(":memory:"), SQLiteBackend(":memory:")
    await first.set("k", make_value(), 600)
    assert await first.get("k") is not None
    assert await second.get("k") is None
    await first.aclose()
    await second.aclose()
