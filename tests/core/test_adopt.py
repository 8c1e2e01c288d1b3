"""The machine's adopt hook: how waiters take (or refuse) their leader's value."""

from __future__ import annotations

import asyncio
from typing import Any

from hitbox import ManualClock, Policy
from hitbox.engine._counters import Counters
from hitbox.engine._machine import REFUSED, Call, Machine
from hitbox.fsm import Run, State

from tests.core.test_fsm import FakeIo


def _machine(adopt: Any) -> tuple[Machine, FakeIo]:
    clock = ManualClock()
    io = FakeIo(clock)
    return Machine(io, clock, Counters(), adopt=adopt), io


async def _gathered(machine: Machine, calls: list[Call]) -> tuple[list[Any], list[Run]]:
    runs = [Run() for _ in calls]
    results = await asyncio.gather(*(machine.run(c, r) for c, r in zip(calls, runs, strict=True)))
    return list(results), runs


async def test_waiters_take_what_adopt_returns_or_call_the_upstream_alone() -> None:
    upstream_calls: list[str] = []
    gate = asyncio.Event()

    def make(name: str) -> Call:
        async def upstream() -> str:
            upstream_calls.append(name)
            await gate.wait()
            return f"value-for-{name}"

        return Call("k", Policy(ttl=60), upstream, context=name)

    def adopt(call: Call, value: Any) -> Any:
        # Only callers whose context starts like the leader's may reuse its value.
        return f"{value} seen by {call.context}" if call.context[0] == "a" else REFUSED

    machine, _ = _machine(adopt)
    calls = [make("a1"), make("a2"), make("b1")]
    task = asyncio.ensure_future(_gathered(machine, calls))
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    results, runs = await task
    assert results == ["value-for-a1", "value-for-a1 seen by a2", "value-for-b1"]
    assert upstream_calls == ["a1", "b1"]
    assert runs[1].path == [State.PENDING, State.MISS, State.LOCKED, State.RESPONSE]
    assert runs[2].path == [State.PENDING, State.MISS, State.LOCKED, State.RESPONSE]
    assert machine.counters.upstream_calls == 2


async def test_with_adopt_waiters_are_handed_values_that_were_not_stored() -> None:
    """Without the hook a refused value makes waiters retry one leader at a time; with
    it they hear at once, and the hook decides (here: nobody reuses it)."""
    seen: list[Any] = []
    gate = asyncio.Event()
    calls_made = 0

    async def upstream() -> None:
        nonlocal calls_made
        calls_made += 1
        await gate.wait()

    def adopt(call: Call, value: Any) -> Any:
        seen.append(value)
        return REFUSED

    machine, io = _machine(adopt)
    calls = [Call("k", Policy(ttl=60), upstream) for _ in range(3)]
    task = asyncio.ensure_future(_gathered(machine, calls))
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    results, _ = await task
    assert results == [None, None, None]
    assert seen == [None, None]  # both waiters were handed the leader's None
    assert calls_made == 3
    assert io.stored == []


async def test_the_upstream_can_let_waiters_go_early_through_its_flight() -> None:
    release = asyncio.Event()

    async def leader_upstream() -> str:
        assert leader.flight is not None
        leader.flight.resolve("early")
        await release.wait()
        return "late"

    async def waiter_upstream() -> str:
        return "own"

    leader = Call("k", Policy(ttl=60), leader_upstream)
    waiter = Call("k", Policy(ttl=60), waiter_upstream)
    machine, _ = _machine(lambda call, value: REFUSED if value == "early" else value)
    first = asyncio.ensure_future(machine.run(leader, Run()))
    await asyncio.sleep(0)
    assert await machine.run(waiter, Run()) == "own"  # did not wait for the leader's end
    assert not first.done()
    release.set()
    assert await first == "late"
