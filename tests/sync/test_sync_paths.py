"""Every state path of the machine, from sync functions: the async tests' scenarios
(``tests/core/test_fsm_paths.py``) with ``def`` functions and threads, asserting the same
paths. The upstream runs in the calling thread; a refresh runs off it.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter

import pytest
from hitbox import CachedValue, ManualClock

from tests.core._cache_fakes import DictBackend, EventRecorder, LockingDictBackend, make_cache
from tests.core.test_fsm_paths import PATHS, UpstreamError, _two_processes
from tests.sync._support import Runner, advance, drain, wait_until


def test_cold_miss_then_hit_upstream_in_the_calling_thread() -> None:
    rec = EventRecorder()
    cache = make_cache(recorder=rec)
    threads: list[threading.Thread] = []

    @cache.cached
    def double(x: int) -> int:
        threads.append(threading.current_thread())
        return x * 2

    assert double(21) == 42
    assert double(21) == 42
    assert rec.paths() == [PATHS["cold_miss"], PATHS["hit"]]
    assert threads == [threading.current_thread()]
    assert cache.stats().hits == 1
    assert cache.stats().misses == 1
    cache.close()


def test_stale_is_served_and_refreshed_off_the_calling_thread() -> None:
    rec, clock = EventRecorder(), ManualClock()
    cache = make_cache(clock=clock, recorder=rec, ttl=10, max_stale=10)
    versions = itertools.count(1)
    threads: list[threading.Thread] = []

    @cache.cached
    def version() -> int:
        threads.append(threading.current_thread())
        return next(versions)

    assert version() == 1
    advance(cache, clock, 15)
    assert version() == 1  # stale, served at once
    drain(cache)
    assert version() == 2  # the refresh stored a new value
    assert rec.paths("cached") == [PATHS["cold_miss"], PATHS["stale"], PATHS["hit"]]
    assert rec.paths("refresh") == [PATHS["refresh"]]
    assert cache.stats().refreshes == 1
    assert threads[0] is threading.current_thread()
    assert threads[1] is not threading.current_thread()
    cache.close()


def test_backend_error_goes_straight_to_upstream() -> None:
    rec = EventRecorder()
    backend = DictBackend()
    backend.failing = True
    cache = make_cache(backend, recorder=rec)

    @cache.cached
    def answer() -> int:
        return 42

    assert answer() == 42
    assert rec.paths() == [PATHS["backend_error"]]
    assert "connection refused" in (rec.events[0].error or "")
    cache.close()


@pytest.mark.parametrize(("age", "name"), [(1, "undecodable_hit"), (15, "undecodable_stale")])
def test_undecodable_entry_is_a_miss(age: float, name: str) -> None:
    rec, clock = EventRecorder(), ManualClock()
    backend = DictBackend(stores_objects=False, clock=clock)
    cache = make_cache(backend, clock=clock, recorder=rec, ttl=10, max_stale=10)

    @cache.cached
    def answer() -> int:
        return 42

    key = answer.cache_key()
    now = clock.now()
    backend.store[key] = (CachedValue(b"\xff\x00garbage", now, now + 10, now + 20), now + 100)
    advance(cache, clock, age)
    assert answer() == 42
    assert rec.paths() == [PATHS[name]]
    assert cache.stats().errors == 1
    cache.close()


def test_waiter_gets_the_leaders_value() -> None:
    rec = EventRecorder()
    cache = make_cache(recorder=rec)
    entered, gate = threading.Event(), threading.Event()
    calls = 0

    @cache.cached
    def slow() -> str:
        nonlocal calls
        calls += 1
        entered.set()
        gate.wait()
        return "value"

    leader = Runner(slow)
    entered.wait()
    waiter = Runner(slow)
    wait_until(lambda: cache.stats().locked == 1)
    gate.set()
    assert leader.result() == waiter.result() == "value"
    assert calls == 1
    assert Counter(rec.paths()) == Counter([PATHS["cold_miss"], PATHS["waiter"]])
    cache.close()


def test_waiter_retries_when_the_leader_fails() -> None:
    rec = EventRecorder()
    cache = make_cache(recorder=rec)
    entered, gate = threading.Event(), threading.Event()
    calls = 0

    @cache.cached
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            gate.wait()
            raise UpstreamError("first call fails")
        return "second"

    leader = Runner(flaky)
    entered.wait()
    waiter = Runner(flaky)
    wait_until(lambda: cache.stats().locked == 1)
    gate.set()
    with pytest.raises(UpstreamError):
        leader.result()
    assert waiter.result() == "second"
    leader_event = next(e for e in rec.events if e.upstream_error)
    assert leader_event.path == PATHS["cold_miss"]
    assert PATHS["waiter_retry"] in rec.paths()
    cache.close()


def test_stale_if_error_serves_the_old_value() -> None:
    rec, clock = EventRecorder(), ManualClock()
    cache = make_cache(clock=clock, recorder=rec, ttl=10, stale_if_error=100)
    fail = False

    @cache.cached
    def price() -> int:
        if fail:
            raise UpstreamError("upstream down")
        return 7

    assert price() == 7
    advance(cache, clock, 20)
    fail = True
    assert price() == 7
    assert rec.paths()[-1] == PATHS["stale_if_error"]
    assert rec.events[-1].upstream_error == "UpstreamError: upstream down"
    advance(cache, clock, 200)  # beyond the stale-if-error window: the error surfaces
    with pytest.raises(UpstreamError, match="upstream down"):
        price()
    cache.close()


def test_lock_failure_is_a_backend_error() -> None:
    rec, clock = EventRecorder(), ManualClock()
    backend = LockingDictBackend(clock=clock)
    backend.lock_failing = True
    cache = make_cache(backend, clock=clock, recorder=rec, lock="distributed")

    @cache.cached
    def answer() -> int:
        return 42

    assert answer() == 42
    assert rec.paths() == [PATHS["lock_error"]]
    cache.close()


def test_lock_failure_then_upstream_failure_serves_stale() -> None:
    rec, clock = EventRecorder(), ManualClock()
    backend = LockingDictBackend(clock=clock)
    cache = make_cache(
        backend, clock=clock, recorder=rec, lock="distributed", ttl=10, stale_if_error=100
    )
    fail = False

    @cache.cached
    def answer() -> int:
        if fail:
            raise UpstreamError("down")
        return 42

    assert answer() == 42
    advance(cache, clock, 20)
    backend.lock_failing, fail = True, True
    assert answer() == 42
    assert rec.paths()[-1] == PATHS["lock_error_stale"]
    cache.close()


def test_polling_failure_is_a_backend_error() -> None:
    clock = ManualClock()
    backend_a, backend_b = _two_processes(clock)
    rec = EventRecorder()
    cache_a = make_cache(backend_a, clock=clock, lock="distributed")
    cache_b = make_cache(backend_b, clock=clock, recorder=rec, lock="distributed")
    entered, gate = threading.Event(), threading.Event()

    def compute() -> int:
        entered.set()
        gate.wait()
        return 1

    fn_a = cache_a.cached(key="k")(compute)

    @cache_b.cached(key="k")
    def fn_b() -> int:
        return 2

    task_a = Runner(fn_a)
    entered.wait()
    task_b = Runner(fn_b)
    wait_until(lambda: cache_b.stats().locked == 1)  # B found the lock taken and is polling
    backend_b.failing = True
    advance(cache_b, clock, 0.01)
    assert task_b.result() == 2
    assert rec.paths() == [PATHS["poll_error"]]
    gate.set()
    assert task_a.result() == 1
    cache_a.close()
    cache_b.close()


def test_waiter_times_out_and_falls_back_to_stale() -> None:
    rec, clock = EventRecorder(), ManualClock()
    cache = make_cache(clock=clock, recorder=rec, ttl=10, stale_if_error=100, lock_timeout=1)
    calls = 0
    entered, gate = threading.Event(), threading.Event()

    @cache.cached
    def value() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            return "old"
        if calls == 2:
            entered.set()
            gate.wait()
            return "never shared in time"
        raise UpstreamError("upstream down")

    assert value() == "old"
    advance(cache, clock, 20)
    leader = Runner(value)
    entered.wait()
    waiter = Runner(value)
    wait_until(lambda: cache.stats().locked == 1)
    advance(cache, clock, 1.5)
    assert waiter.result() == "old"
    assert rec.paths()[-1] == PATHS["waiter_timeout_stale"]
    gate.set()
    leader.result()
    cache.close()


def test_local_single_flight_holds_while_the_backend_is_down() -> None:
    rec = EventRecorder()
    backend = DictBackend()
    backend.failing = True
    cache = make_cache(backend, recorder=rec)
    entered, gate = threading.Event(), threading.Event()

    @cache.cached
    def slow() -> int:
        entered.set()
        gate.wait()
        return 5

    leader = Runner(slow)
    entered.wait()
    waiters = [Runner(slow) for _ in range(2)]
    wait_until(lambda: cache.stats().locked == 2)
    gate.set()
    assert [leader.result()] + [w.result() for w in waiters] == [5, 5, 5]
    assert Counter(rec.paths()) == Counter(
        [PATHS["backend_error"], PATHS["error_waiter"], PATHS["error_waiter"]]
    )
    assert cache.stats().upstream_calls == 1
    cache.close()
