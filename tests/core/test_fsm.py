"""The state machine on its own: table, recorded runs, classification, and the algorithm
driven through a fake I/O layer with a manual clock (no backend, no cache object)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from hitbox import CachedValue, CorruptEntry, InvalidTransition, ManualClock, Policy, State
from hitbox._errors import BackendError
from hitbox.engine._counters import Counters
from hitbox.engine._machine import Call, Machine
from hitbox.fsm import TRANSITIONS, Run, classify

from tests.core._cache_fakes import settle


def test_response_is_terminal_and_every_state_is_reachable() -> None:
    assert TRANSITIONS[State.RESPONSE] == frozenset()
    reachable = {State.PENDING}
    frontier = [State.PENDING]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(State)


def test_run_records_its_path() -> None:
    run = Run()
    run.to(State.MISS)
    run.to(State.RESPONSE)
    assert run.path == [State.PENDING, State.MISS, State.RESPONSE]
    assert run.finished
    assert repr(run) == "Run(PENDING → MISS → RESPONSE)"


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ((), State.RESPONSE),  # PENDING must look at the backend first
        ((), State.LOCKED),
        ((State.HIT,), State.STALE),
        ((State.MISS, State.RESPONSE), State.HIT),  # nothing leaves RESPONSE
        ((State.ERROR,), State.MISS),
    ],
)
def test_invalid_transition_raises(path: tuple[State, ...], bad: State) -> None:
    run = Run()
    for state in path:
        run.to(state)
    with pytest.raises(InvalidTransition, match=f"→ {bad.name}"):
        run.to(bad)
    assert run.path == [State.PENDING, *path]  # the refused step is not recorded


def test_classify() -> None:
    entry = CachedValue(b"", 100.0, 110.0, 120.0)
    assert classify(None, 0.0) is State.MISS
    assert classify(entry, 109.9) is State.HIT
    assert classify(entry, 110.0) is State.STALE
    assert classify(entry, 119.9) is State.STALE
    assert classify(entry, 120.0) is State.MISS


class FakeIo:
    """Entries in a dict, values stored as-is; switches for failures."""

    can_lock = False

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.entries: dict[str, CachedValue] = {}
        self.read_error: Exception | None = None
        self.stored: list[tuple[str, Any]] = []

    async def read(self, call: Call) -> CachedValue | None:
        if self.read_error is not None:
            raise self.read_error
        return self.entries.get(call.key)

    def classify(self, entry: Any, call: Call, now: float) -> State:
        return classify(entry, now)

    def usable_on_error(self, entry: Any, call: Call, now: float) -> bool:
        return bool(now < entry.stale_until + call.policy.stale_if_error)

    def decode(self, entry: CachedValue, call: Call) -> Any:
        if entry.value == "corrupt":
            raise CorruptEntry("bad bytes")
        return entry.value

    async def store(self, call: Call, value: Any, created_at: float) -> bool:
        now = self.clock.now()
        fresh = now + call.policy.ttl
        self.entries[call.key] = CachedValue(
            b"", created_at, fresh, fresh + call.policy.max_stale, value=value
        )
        self.stored.append((call.key, value))
        return True

    async def acquire_lock(self, call: Call) -> str | None:
        raise AssertionError("not a locking backend")

    async def release_lock(self, call: Call, token: str) -> None:
        raise AssertionError("not a locking backend")

    async def delete(self, keys: Sequence[str]) -> bool:
        for key in keys:
            self.entries.pop(key, None)
        return True


def _machine() -> tuple[Machine, FakeIo, ManualClock]:
    clock = ManualClock()
    io = FakeIo(clock)
    return Machine(io, clock, Counters()), io, clock


def _call(upstream: Any, key: str = "k", **policy: Any) -> Call:
    return Call(key, Policy(**policy), upstream)


async def test_machine_miss_store_hit_stale() -> None:
    machine, io, clock = _machine()
    values = iter(["v1", "v2"])

    async def upstream() -> str:
        return next(values)

    call = _call(upstream, ttl=10, max_stale=5)
    runs = [Run() for _ in range(4)]
    assert await machine.run(call, runs[0]) == "v1"
    assert await machine.run(call, runs[1]) == "v1"
    await clock.advance(12)
    assert await machine.run(call, runs[2]) == "v1"  # stale; refresh scheduled
    await settle()
    assert await machine.run(call, runs[3]) == "v2"
    assert [r.path[1] for r in runs] == [State.MISS, State.HIT, State.STALE, State.HIT]
    assert io.stored == [("k", "v1"), ("k", "v2")]
    stats = machine.counters.snapshot()
    assert (stats.hits, stats.misses, stats.stale, stats.upstream_calls) == (2, 1, 1, 2)


async def test_machine_backend_error_and_corrupt_entry() -> None:
    machine, io, _clock = _machine()

    async def upstream() -> str:
        return "fresh"

    io.read_error = BackendError("get failed: timeout")
    run = Run()
    assert await machine.run(_call(upstream), run) == "fresh"
    assert run.path == [State.PENDING, State.ERROR, State.RESPONSE]
    assert run.error == "get failed: timeout"

    io.read_error = None
    io.entries["k"] = CachedValue(b"", 0, 1e12, 1e12, value="corrupt")
    run = Run()
    assert await machine.run(_call(upstream), run) == "fresh"
    assert run.path == [State.PENDING, State.HIT, State.MISS, State.RESPONSE]


async def test_machine_entry_with_wrong_field_types_is_corrupt() -> None:
    machine, io, _clock = _machine()

    async def upstream() -> str:
        return "fresh"

    io.entries["k"] = CachedValue(b"", 0, "soon", "later")  # type: ignore[arg-type]
    run = Run()
    assert await machine.run(_call(upstream), run) == "fresh"
    assert run.path == [State.PENDING, State.MISS, State.RESPONSE]
    assert "TypeError" in (run.error or "")


async def test_machine_single_flight_with_timeout_from_the_clock() -> None:
    machine, _io, clock = _machine()
    gate = asyncio.Event()
    calls = 0

    async def upstream() -> str:
        nonlocal calls
        calls += 1
        number = calls
        if number == 1:
            await gate.wait()
        return f"call{number}"

    call = _call(upstream, lock_timeout=2)
    leader_run, waiter_run = Run(), Run()
    leader = asyncio.create_task(machine.run(call, leader_run))
    await settle()
    waiter = asyncio.create_task(machine.run(call, waiter_run))
    await clock.advance(1.9)
    assert not waiter.done()  # still within lock_timeout
    await clock.advance(0.2)
    assert await waiter == "call2"  # gave up waiting and called upstream itself
    assert waiter_run.path == [State.PENDING, State.MISS, State.LOCKED, State.RESPONSE]
    gate.set()
    assert await leader == "call1"
    assert len(machine.flights) == 0
