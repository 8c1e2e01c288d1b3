"""ReadCoalescer alone (no Redis): what is batched, shared, re-fetched and isolated."""

from __future__ import annotations

import asyncio

import pytest
from hitbox_redis._batching import PipelineBatcher, ReadCoalescer


class FakeStore:
    """A ``fetch`` that records every batch and can be held open or made to fail."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def fetch(self, keys: list[str]) -> list[str | None]:
        self.batches.append(list(keys))
        snapshot = [self.data.get(key) for key in keys]
        await asyncio.sleep(0)  # real I/O suspends at least once
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return snapshot


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


async def test_reads_of_one_turn_share_one_fetch(store: FakeStore) -> None:
    store.data = {f"k{i}": f"v{i}" for i in range(50)}
    reads = ReadCoalescer(store.fetch)
    results = await asyncio.gather(*(reads.get(f"k{i}") for i in range(50)))
    assert results == [f"v{i}" for i in range(50)]
    assert len(store.batches) == 1
    assert sorted(store.batches[0]) == sorted(store.data)


async def test_same_key_in_one_turn_is_fetched_once(store: FakeStore) -> None:
    store.data = {"hot": "v"}
    reads = ReadCoalescer(store.fetch)
    results = await asyncio.gather(*(reads.get("hot") for _ in range(20)), reads.get("cold"))
    assert results == ["v"] * 20 + [None]
    assert store.batches == [["hot", "cold"]]


async def test_sequential_reads_are_not_delayed_into_one_batch(store: FakeStore) -> None:
    store.data = {"a": "1", "b": "2"}
    reads = ReadCoalescer(store.fetch)
    assert await reads.get("a") == "1"
    assert await reads.get("b") == "2"
    assert store.batches == [["a"], ["b"]]


def test_a_lone_reader_goes_straight_out_once_it_had_no_company(store: FakeStore) -> None:
    store.data = {"a": "1"}
    reads = ReadCoalescer(store.fetch)
    first = reads.get("a")
    first.send(None)  # at start company is assumed: it yields before fetching
    assert store.batches == []
    first.send(None)
    assert store.batches == [["a"]]
    with pytest.raises(StopIteration):
        first.send(None)
    second = reads.get("a")
    second.send(None)  # the previous read went alone: straight to the fetch
    assert store.batches == [["a"], ["a"]]
    with pytest.raises(StopIteration) as done:
        second.send(None)
    assert done.value.value == "1"


async def test_after_lone_reads_a_burst_batches_behind_its_first_read(store: FakeStore) -> None:
    store.data = {f"k{i}": str(i) for i in range(10)}
    reads = ReadCoalescer(store.fetch)
    await reads.get("k0")
    await reads.get("k0")
    store.batches.clear()
    await asyncio.gather(*(reads.get(f"k{i}") for i in range(10)))
    assert [len(batch) for batch in store.batches] == [1, 9]
    await asyncio.gather(*(reads.get(f"k{i}") for i in range(10)))
    assert [len(batch) for batch in store.batches] == [1, 9, 10]


async def test_later_read_of_a_key_in_flight_shares_it(store: FakeStore) -> None:
    store.data = {"k": "old"}
    store.gate = asyncio.Event()
    reads = ReadCoalescer(store.fetch)
    first = asyncio.create_task(reads.get("k"))
    await asyncio.sleep(0.01)  # the fetch is now in flight
    second = asyncio.create_task(reads.get("k"))
    await asyncio.sleep(0)
    store.gate.set()
    assert await first == "old"
    assert await second == "old"
    assert store.batches == [["k"]]


async def test_a_lone_read_in_flight_is_shared_too(store: FakeStore) -> None:
    store.data = {"k": "v"}
    reads = ReadCoalescer(store.fetch)
    await reads.get("k")
    await reads.get("k")  # lone reads from now on
    store.batches.clear()
    store.gate = asyncio.Event()
    first = asyncio.create_task(reads.get("k"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(reads.get("k"))
    await asyncio.sleep(0.01)
    store.gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, second), 5) == ["v", "v"]
    assert store.batches == [["k"]]


async def test_forget_makes_the_next_read_fetch_afresh(store: FakeStore) -> None:
    store.data = {"k": "old"}
    store.gate = asyncio.Event()
    reads = ReadCoalescer(store.fetch)
    first = asyncio.create_task(reads.get("k"))
    await asyncio.sleep(0.01)
    store.data["k"] = "new"  # a write lands while the first read is in flight...
    reads.forget("k")  # ...and the backend detaches the key
    second = asyncio.create_task(reads.get("k"))
    await asyncio.sleep(0.01)
    store.gate.set()
    assert await first == "old"
    assert await second == "new"
    assert store.batches == [["k"], ["k"]]


async def test_errors_reach_every_reader_of_the_batch(store: FakeStore) -> None:
    store.error = ConnectionError("down")
    reads = ReadCoalescer(store.fetch)
    results = await asyncio.gather(*(reads.get(f"k{i}") for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    store.error = None
    store.data = {"k0": "back"}
    assert await reads.get("k0") == "back"


async def test_cancelling_a_follower_leaves_the_others(store: FakeStore) -> None:
    store.data = {"a": "1", "b": "2"}
    store.gate = asyncio.Event()
    reads = ReadCoalescer(store.fetch)
    leader = asyncio.create_task(reads.get("a"))
    follower = asyncio.create_task(reads.get("b"))
    other = asyncio.create_task(reads.get("b"))
    await asyncio.sleep(0.01)
    follower.cancel()
    store.gate.set()
    assert await leader == "1"
    assert await other == "2"
    with pytest.raises(asyncio.CancelledError):
        await follower


@pytest.mark.parametrize("when", ["before sending", "in flight"])
async def test_cancelled_leader_hands_over_to_its_followers(store: FakeStore, when: str) -> None:
    store.data = {"a": "1", "b": "2"}
    store.gate = asyncio.Event()
    reads = ReadCoalescer(store.fetch)
    leader = asyncio.create_task(reads.get("a"))
    await asyncio.sleep(0)  # the leader is now yielding, its batch open
    followers = [asyncio.create_task(reads.get(k)) for k in ("a", "b")]
    if when == "before sending":
        leader.cancel()
        await asyncio.sleep(0)
    else:
        await asyncio.sleep(0.01)
        leader.cancel()
    await asyncio.sleep(0.01)
    store.gate.set()
    assert await asyncio.wait_for(asyncio.gather(*followers), 5) == ["1", "2"]
    with pytest.raises(asyncio.CancelledError):
        await leader
    await reads.aclose()


async def test_max_batch_splits_large_turns(store: FakeStore) -> None:
    store.data = {f"k{i}": str(i) for i in range(10)}
    reads = ReadCoalescer(store.fetch, max_batch=4)
    results = await asyncio.gather(*(reads.get(f"k{i}") for i in range(10)))
    assert results == [str(i) for i in range(10)]
    assert [len(batch) for batch in store.batches] == [4, 4, 2]


async def test_get_many_joins_the_reads_of_its_turn(store: FakeStore) -> None:
    store.data = {f"k{i}": f"v{i}" for i in range(6)}
    reads = ReadCoalescer(store.fetch)
    single, many, other = await asyncio.gather(
        reads.get("k0"), reads.get_many(["k0", "k1", "k2"]), reads.get_many(["k3", "k9"])
    )
    assert (single, many, other) == ("v0", ["v0", "v1", "v2"], ["v3", None])
    assert store.batches == [["k0", "k1", "k2", "k3", "k9"]]


async def test_get_many_alone_leads_its_own_batches(store: FakeStore) -> None:
    store.data = {f"k{i}": str(i) for i in range(5)}
    reads = ReadCoalescer(store.fetch, max_batch=2)
    assert await reads.get_many([f"k{i}" for i in range(5)]) == ["0", "1", "2", "3", "4"]
    assert store.batches == [["k0", "k1"], ["k2", "k3"], ["k4"]]


async def test_get_many_shares_keys_in_flight_and_reports_errors(store: FakeStore) -> None:
    store.data = {"a": "1", "b": "2"}
    store.gate = asyncio.Event()
    reads = ReadCoalescer(store.fetch)
    first = asyncio.create_task(reads.get("a"))
    await asyncio.sleep(0.01)
    many = asyncio.create_task(reads.get_many(["a", "b"]))
    await asyncio.sleep(0.01)
    store.gate.set()
    assert await first == "1"
    assert await asyncio.wait_for(many, 5) == ["1", "2"]
    assert store.batches == [["a"], ["b"]]
    store.gate = None
    store.error = ConnectionError("down")
    with pytest.raises(ConnectionError):
        await reads.get_many(["a", "b"])


async def test_cancelled_get_many_hands_over_to_its_followers(store: FakeStore) -> None:
    store.data = {"a": "1", "b": "2"}
    store.gate = asyncio.Event()
    reads = ReadCoalescer(store.fetch)
    many = asyncio.create_task(reads.get_many(["a", "b"]))
    await asyncio.sleep(0)
    follower = asyncio.create_task(reads.get("b"))
    await asyncio.sleep(0.01)
    many.cancel()
    await asyncio.sleep(0.01)
    store.gate.set()
    assert await asyncio.wait_for(follower, 5) == "2"
    with pytest.raises(asyncio.CancelledError):
        await many
    await reads.aclose()


def test_max_batch_must_be_positive(store: FakeStore) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        ReadCoalescer(store.fetch, max_batch=0)


class FakePipeline:
    """An ``execute`` that records batches; commands named ``"fail"`` fail alone."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[object, ...]]] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def execute(self, commands: list[tuple[object, ...]]) -> list[object]:
        self.batches.append(list(commands))
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return [ValueError(f"bad {c}") if c[0] == "fail" else c[-1] for c in commands]


async def test_writes_of_one_turn_are_one_pipeline_in_order() -> None:
    pipeline = FakePipeline()
    writes = PipelineBatcher(pipeline.execute)
    results = await asyncio.gather(*(writes.run("SET", "k", i) for i in range(30)))
    assert results == list(range(30))
    assert pipeline.batches == [[("SET", "k", i) for i in range(30)]]
    assert await writes.run("SET", "k", "later") == "later"
    assert len(pipeline.batches) == 2


async def test_a_failed_command_fails_only_its_caller() -> None:
    pipeline = FakePipeline()
    writes = PipelineBatcher(pipeline.execute)
    results = await asyncio.gather(
        writes.run("SET", "a", 1), writes.run("fail", "b"), writes.run("SET", "c", 3),
        return_exceptions=True,
    )  # fmt: skip
    assert results[0] == 1
    assert isinstance(results[1], ValueError)
    assert results[2] == 3


async def test_a_failed_pipeline_fails_every_caller() -> None:
    pipeline = FakePipeline()
    pipeline.error = ConnectionError("down")
    writes = PipelineBatcher(pipeline.execute)
    results = await asyncio.gather(
        *(writes.run("SET", i) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_a_cancelled_writer_neither_stops_nor_unsends_the_batch() -> None:
    pipeline = FakePipeline()
    pipeline.gate = asyncio.Event()
    writes = PipelineBatcher(pipeline.execute)
    first = asyncio.create_task(writes.run("SET", "a", 1))
    second = asyncio.create_task(writes.run("SET", "b", 2))
    await asyncio.sleep(0.01)
    first.cancel()
    pipeline.gate.set()
    assert await asyncio.wait_for(second, 5) == 2
    assert pipeline.batches == [[("SET", "a", 1), ("SET", "b", 2)]]
    await writes.aclose()


async def test_pipeline_max_batch_splits() -> None:
    pipeline = FakePipeline()
    writes = PipelineBatcher(pipeline.execute, max_batch=4)
    await asyncio.gather(*(writes.run("SET", i) for i in range(9)))
    assert [len(batch) for batch in pipeline.batches] == [4, 4, 1]
