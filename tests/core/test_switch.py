"""The testing switch: caching off (and back on) for a block, a session or by environment,
without touching the decorated code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import hitbox
import pytest


@pytest.fixture(autouse=True)
def _restore_switch() -> Iterator[None]:
    was_enabled = hitbox.caching_enabled()
    yield
    (hitbox.enable if was_enabled else hitbox.disable)()


@pytest.fixture(params=["object", "bytes"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[hitbox.Cache]:
    # object mode takes the wrapper's inline hit path; bytes mode goes through the machine
    async with hitbox.Cache.from_url(f"memory://?mode={request.param}") as built:
        yield built


def _counter(cache: hitbox.Cache) -> tuple[list[int], hitbox.CachedFunction[[int], int]]:
    calls: list[int] = []

    @cache.cached(key="n:{n}", ttl=60)
    async def square(n: int) -> int:
        calls.append(n)
        return n * n

    return calls, square


async def test_block_sends_every_call_upstream_then_caching_resumes(cache: hitbox.Cache) -> None:
    calls, square = _counter(cache)
    assert await square(3) == 9  # stored
    with hitbox.disabled():
        assert not hitbox.caching_enabled()
        assert [await square(3) for _ in range(3)] == [9, 9, 9]
        assert await square(4) == 16
    assert hitbox.caching_enabled()
    assert calls == [3, 3, 3, 3, 4]
    stats = cache.stats()
    assert stats.upstream_calls == 5
    assert stats.hits == 0
    assert await square(3) == 9  # the entry stored before the block is served again
    assert await square(4) == 16  # nothing was stored during the block: a miss
    assert calls == [3, 3, 3, 3, 4, 4]
    assert cache.stats().hits == 1


async def test_async_block_and_nesting(cache: hitbox.Cache) -> None:
    calls, square = _counter(cache)
    async with hitbox.disabled():
        with hitbox.enabled():  # a test of caching itself inside a disabled block
            await square(2)
            await square(2)
            assert calls == [2]
        assert not hitbox.caching_enabled()
        await square(2)
        assert calls == [2, 2]
    assert hitbox.caching_enabled()


async def test_block_is_restored_when_the_body_raises(cache: hitbox.Cache) -> None:
    with pytest.raises(RuntimeError), hitbox.disabled():
        raise RuntimeError("test failure")
    assert hitbox.caching_enabled()


async def test_session_switch(cache: hitbox.Cache) -> None:
    calls, square = _counter(cache)
    hitbox.disable()
    await square(5)
    await square(5)
    assert calls == [5, 5]
    hitbox.enable()
    await square(5)
    await square(5)
    assert calls == [5, 5, 5]


async def test_direct_access_and_fetch_while_disabled(cache: hitbox.Cache) -> None:
    @dataclass
    class Lookup:
        name: str

        def cache_key(self) -> str:
            return f"lookup:{self.name}"

        def cache_ttl(self) -> float:
            return 60.0

    answers = 0

    async def upstream(request: Lookup) -> str:
        nonlocal answers
        answers += 1
        return request.name.upper()

    assert await cache.set("k", "stored before")
    with hitbox.disabled():
        assert await cache.get("k", "default") == "default"
        assert await cache.set("k", "written while disabled") is False
        assert await cache.fetch(Lookup("a"), upstream) == "A"
        assert await cache.fetch(Lookup("a"), upstream) == "A"
    assert answers == 2
    assert await cache.get("k") == "stored before"
    assert await cache.fetch(Lookup("a"), upstream) == "A"
    assert answers == 3


def test_environment_variable_starts_the_process_disabled() -> None:
    code = (
        "import asyncio, hitbox\n"
        "cache = hitbox.Cache('memory')\n"
        "calls = []\n"
        "@cache.cached(key='k')\n"
        "async def f() -> int:\n"
        "    calls.append(1)\n"
        "    return 1\n"
        "async def main() -> None:\n"
        "    await f(); await f()\n"
        "    with hitbox.enabled():\n"
        "        await f(); await f()\n"
        "asyncio.run(main())\n"
        "print(hitbox.caching_enabled(), len(calls))\n"
    )
    for value, expected in (("1", "False 3"), ("true", "False 3"), ("0", "True 1"), ("", "True 1")):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "HITBOX_DISABLE": value},
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected, value


def test_environment_variable_is_not_a_setting() -> None:
    from hitbox.config import env_overrides

    assert env_overrides({"HITBOX_DISABLE": "1", "HITBOX_NAMESPACE": "x"}) == {"namespace": "x"}
