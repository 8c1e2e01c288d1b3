"""Calls made together share one trip to the worker threads, without sharing failures."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hitbox.testing import make_value
from hitbox_sqlite import SQLiteBackend, _store
from hitbox_sqlite._batcher import Batcher


async def test_concurrent_calls_run_as_few_jobs() -> None:
    jobs: list[list[int]] = []

    def job(items: Sequence[int]) -> list[int]:
        jobs.append(list(items))
        return [item * 2 for item in items]

    with ThreadPoolExecutor(1) as executor:
        batcher: Batcher[int, int] = Batcher(executor, job)
        results = await asyncio.gather(*(batcher.submit(n) for n in range(100)))
    assert results == [n * 2 for n in range(100)]
    assert len(jobs) < 10  # one per event-loop iteration, not one per call
    assert sorted(n for batch in jobs for n in batch) == list(range(100))


async def test_one_failing_item_fails_only_its_caller() -> None:
    def job(items: Sequence[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {item}") if item == 3 else item for item in items]

    with ThreadPoolExecutor(1) as executor:
        batcher: Batcher[int, int] = Batcher(executor, job)
        results = await asyncio.gather(
            *(batcher.submit(n) for n in range(6)), return_exceptions=True
        )
    assert results[:3] == [0, 1, 2]
    assert isinstance(results[3], ValueError)
    assert results[4:] == [4, 5]


async def test_a_failing_job_fails_the_whole_batch() -> None:
    def job(items: Sequence[int]) -> list[int]:
        raise OSError("disk gone")

    with ThreadPoolExecutor(1) as executor:
        batcher: Batcher[int, int] = Batcher(executor, job)
        results = await asyncio.gather(
            *(batcher.submit(n) for n in range(3)), return_exceptions=True
        )
    assert all(isinstance(result, OSError) for result in results)


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    with ThreadPoolExecutor(1) as executor:
        batcher: Batcher[int, int] = Batcher(executor, lambda items: list(items))
        doomed = asyncio.ensure_future(batcher.submit(1))
        kept = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)
        doomed.cancel()
        assert await kept == 2
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_bad_key_in_a_write_batch_fails_alone(db_path: str) -> None:
    backend = SQLiteBackend(db_path)
    good = [f"k{n}" for n in range(10)]
    bad = "surrogate\udc80"  # cannot be encoded for SQLite
    outcomes = await asyncio.gather(
        *(backend.set(key, make_value(key.encode(errors="replace")), 60) for key in [*good, bad]),
        return_exceptions=True,
    )
    assert outcomes[:10] == [None] * 10
    assert isinstance(outcomes[10], UnicodeEncodeError)
    assert all(v is not None for v in await backend.get_many(good))
    await backend.aclose()


async def test_concurrent_writes_share_transactions(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    transactions: list[int] = []
    apply_writes = _store.apply_writes

    def counting(conn: sqlite3.Connection, ops: Sequence[_store.WriteOp], *args: Any, **kw: Any):
        transactions.append(len(ops))
        return apply_writes(conn, ops, *args, **kw)

    monkeypatch.setattr(_store, "apply_writes", counting)
    backend = SQLiteBackend(db_path)
    await asyncio.gather(*(backend.set(f"k{n}", make_value(), 60) for n in range(200)))
    assert sum(transactions) == 200
    assert len(transactions) < 20  # not one transaction (and commit) per call
    assert len([v for v in await backend.get_many([f"k{n}" for n in range(200)]) if v]) == 200
    await backend.aclose()


@pytest.mark.timeout(30)
def test_backend_survives_event_loop_changes(db_path: str) -> None:
    backend = SQLiteBackend(db_path)

    async def write_then_abandon() -> None:
        await backend.set("k", make_value(b"first loop"), 60)
        # A read left pending when this loop ends must not wedge the next loop.
        asyncio.get_running_loop().create_task(backend.get("k"))

    async def read() -> bytes | None:
        stored = await asyncio.wait_for(backend.get("k"), timeout=5)
        return None if stored is None else stored.data

    asyncio.run(write_then_abandon())
    assert asyncio.run(read()) == b"first loop"
    assert asyncio.run(read()) == b"first loop"
    asyncio.run(backend.aclose())
