"""Random interleavings against a simple model (hypothesis).

Hypothesis draws a policy and a program of steps: concurrent calls of a cached function
on a few keys, clock advances, backend failures and hangs, upstream failures, key and
tag invalidations. The program runs against a real :class:`hitbox.Cache` over an in-test
backend with a manual clock; then every answer is checked against what the model allows:

- an answer for key ``k`` is a value the upstream produced for ``k``;
- it is not older than the policy allows: returned before the value's production ended
  plus ``ttl + max_stale + stale_if_error``;
- a call issued after an invalidation of its key (or tag) was confirmed gets a value
  whose upstream call started at or after the invalidation was issued;
- the only exception a caller sees is the upstream's own; never a backend error;
- nothing is left running after ``aclose()``.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from hitbox import ManualClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core._cache_fakes import DictBackend, leftover_tasks, make_cache, settle

KEYS = ("a", "b", "c")
UPSTREAM_SECONDS = 0.3


class UpstreamFailedError(Exception):
    pass


step = st.one_of(
    st.tuples(st.just("call"), st.sampled_from(KEYS)),
    st.tuples(st.just("call"), st.sampled_from(KEYS)),
    st.tuples(st.just("advance"), st.sampled_from([0.05, 0.3, 1.0, 2.5, 6.0])),
    st.tuples(st.just("backend"), st.sampled_from(["ok", "ok", "fail", "hang"])),
    st.tuples(st.just("upstream"), st.sampled_from(["ok", "ok", "fail"])),
    st.tuples(st.just("invalidate"), st.sampled_from(KEYS)),
    st.tuples(st.just("invalidate_tag"), st.sampled_from(KEYS)),
)

policies = st.fixed_dictionaries(
    {
        "ttl": st.sampled_from([1.0, 4.0]),
        "max_stale": st.sampled_from([0.0, 2.0]),
        "stale_if_error": st.sampled_from([0.0, 3.0]),
        "lock": st.sampled_from(["none", "local", "local"]),
        "lock_timeout": st.sampled_from([0.5, 2.0]),
        "backend_timeout": st.just(0.25),
        "failure_threshold": st.sampled_from([1, 3]),
        "cooldown": st.sampled_from([0.5, 2.0]),
    }
)


@dataclass
class Produced:
    key: str
    started_step: int
    finished_at: float | None = None


@dataclass
class World:
    clock: ManualClock
    step: int = 0
    upstream_failing: bool = False
    produced: dict[int, Produced] = field(default_factory=dict)
    answers: list[tuple[str, int, Any, float]] = field(default_factory=list)
    invalidations: list[tuple[str, int, int]] = field(default_factory=list)
    """(key, step it was issued at, step it was confirmed at)"""


async def run_program(
    program: list[tuple[str, Any]], policy: dict[str, Any], is_local: bool, use_tags: bool
) -> World:
    clock = ManualClock()
    world = World(clock)
    backend = DictBackend(is_local=is_local, clock=clock)
    backend.yielding = not is_local  # remote-like: every operation gives up the loop
    cache = make_cache(backend, clock=clock, **policy)
    sequence = itertools.count(1)

    async def item(key: str) -> list[Any]:
        number = next(sequence)
        world.produced[number] = Produced(key, world.step)
        failing = world.upstream_failing
        await clock.sleep(UPSTREAM_SECONDS)
        if failing:
            raise UpstreamFailedError(key)
        world.produced[number].finished_at = clock.now()
        return [key, number]

    tags = ["tag:{key}"] if use_tags else []
    cached_item = cache.cached(key="item:{key}", tags=tags)(item)

    async def call(key: str, issued: int) -> None:
        try:
            value = await cached_item(key)
        except UpstreamFailedError:
            value = "failed"
        world.answers.append((key, issued, value, clock.now()))

    async def invalidate(method: Any, name: str, key: str) -> None:
        # A task, not awaited inline: on a hanging backend it completes when the clock
        # passes its timeout, which only a later step does.
        started = world.step
        if await method(name):
            world.invalidations.append((key, started, world.step))

    tasks = []
    for world.step, (kind, arg) in enumerate(program, start=1):
        if kind == "call":
            tasks.append(asyncio.create_task(call(arg, world.step)))
            await settle()
        elif kind == "advance":
            await clock.advance(arg)
        elif kind == "backend":
            # An in-process backend never blocks by contract: "hang" means "fail" there.
            backend.failing = arg == "fail" or (arg == "hang" and is_local)
            backend.hanging = arg == "hang" and not is_local
        elif kind == "upstream":
            world.upstream_failing = arg == "fail"
        elif kind == "invalidate":
            tasks.append(asyncio.create_task(invalidate(cache.invalidate, f"item:{arg}", arg)))
            await settle()
        elif kind == "invalidate_tag" and use_tags:
            tasks.append(asyncio.create_task(invalidate(cache.invalidate_tags, f"tag:{arg}", arg)))
            await settle()
    world.step += 1
    await clock.advance(60)  # let every call finish: timeouts fire, upstreams return
    # Every call must finish once the clock has passed all timeouts; a stranded caller is
    # a bug the test must report, not a hang (the guard is real time, the test's is fake).
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    except TimeoutError:
        raise AssertionError("calls still waiting after every timeout passed") from None
    await cache.aclose()
    await settle()
    assert not leftover_tasks()
    assert cache.background_tasks == 0
    return world


def check(world: World, policy: dict[str, Any]) -> None:
    window = policy["ttl"] + policy["max_stale"] + policy["stale_if_error"]
    for key, issued, value, returned_at in world.answers:
        if value == "failed":
            continue
        answered_key, number = value
        produced = world.produced[number]
        assert answered_key == key == produced.key
        assert produced.finished_at is not None
        assert returned_at <= produced.finished_at + window + 1e-9, (key, issued, number)
        for invalidated_key, issued_at, confirmed_at in world.invalidations:
            if invalidated_key == key and issued > confirmed_at:
                assert produced.started_step >= issued_at, (
                    f"call of {key!r} issued at step {issued} got value #{number} from an "
                    f"upstream call started at step {produced.started_step}, before the "
                    f"invalidation issued at step {issued_at} (confirmed at {confirmed_at})"
                )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    program=st.lists(step, min_size=1, max_size=30),
    policy=policies,
    is_local=st.booleans(),
    use_tags=st.booleans(),
)
def test_random_interleavings_match_the_model(
    program: list[tuple[str, Any]], policy: dict[str, Any], is_local: bool, use_tags: bool
) -> None:
    world = asyncio.run(run_program(program, policy, is_local, use_tags))
    check(world, policy)
    assert len(world.answers) == sum(1 for kind, _ in program if kind == "call")


def test_the_model_catches_a_cache_that_ignores_invalidation(monkeypatch: Any) -> None:
    """The check is not vacuous: with invalidation of in-flight calls switched off,
    a known interleaving violates it."""
    from hitbox.engine._flights import FlightTable

    monkeypatch.setattr(FlightTable, "invalidate", lambda self, key: [])
    program: list[tuple[str, Any]] = [("call", "a"), ("invalidate", "a"), ("advance", 0.3)]
    program += [("call", "a"), ("advance", 0.05)]
    policy = {"ttl": 4.0, "max_stale": 0.0, "stale_if_error": 0.0, "lock": "local"}
    policy |= {"lock_timeout": 2.0, "backend_timeout": 0.25}
    policy |= {"failure_threshold": 3, "cooldown": 2.0}
    world = asyncio.run(run_program(program, policy, is_local=True, use_tags=False))
    with pytest.raises(AssertionError, match="before the invalidation"):
        check(world, policy)
