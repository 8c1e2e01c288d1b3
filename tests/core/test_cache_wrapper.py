"""The generated ``@cache.cached`` wrapper passes every kind of parameter through intact."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import hitbox
import pytest
from hitbox.serializers import CborSerializer

from tests.core._cache_fakes import DictBackend, EventRecorder, make_cache, plugin_manager


@pytest.mark.parametrize("listening", [False, True])  # fast path, and machine-only path
async def test_every_parameter_kind_reaches_the_upstream(listening: bool) -> None:
    cache = make_cache(DictBackend(), recorder=EventRecorder() if listening else None)
    seen: list[tuple[Any, ...]] = []

    @cache.cached
    async def everything(
        a: int, b: int = 2, /, c: int = 3, *rest: int, d: int, e: int = 5, **extra: int
    ) -> tuple[Any, ...]:
        seen.append((a, b, c, rest, d, e, extra))
        return (a, b, c, list(rest), d, e, extra)

    expected = (1, 20, 30, [40, 41], 4, 5, {"z": 9})
    assert await everything(1, 20, 30, 40, 41, d=4, z=9) == expected
    assert await everything(1, 20, 30, 40, 41, d=4, z=9) == expected  # a hit
    assert await everything(1, d=4) == (1, 2, 3, [], 4, 5, {})
    assert await everything(1, 2, 3, d=4, e=5) == (1, 2, 3, [], 4, 5, {})  # same key
    assert len(seen) == 2
    with pytest.raises(TypeError, match="everything"):
        await everything()  # type: ignore[call-arg]
    await cache.aclose()


async def test_parameters_named_like_the_wrappers_own_names() -> None:
    cache = make_cache()

    @cache.cached
    async def clash(key: str, entry: int, type: str, get: int, _hbw_value: int) -> str:
        return f"{key}{entry}{type}{get}{_hbw_value}"

    assert await clash("k", 1, "t", 2, 3) == "k1t23"
    assert await clash("k", 1, "t", 2, 3) == "k1t23"
    assert cache.stats().hits == 1
    await cache.aclose()


async def test_methods_are_cached_per_instance_key() -> None:
    cache = make_cache()

    class Repository:
        def __init__(self, name: str) -> None:
            self.name = name
            self.calls = 0

        @cache.cached(key="repo:{self.name}:{item}")
        async def load(self, item: int) -> str:
            self.calls += 1
            return f"{self.name}/{item}"

    first, second = Repository("a"), Repository("b")
    assert await first.load(1) == "a/1"
    assert await first.load(1) == "a/1"
    assert await second.load(1) == "b/1"
    assert (first.calls, second.calls) == (1, 1)
    await cache.aclose()


async def test_partials_are_cached() -> None:
    cache = make_cache()
    calls = 0

    async def base(x: int, y: int) -> int:
        nonlocal calls
        calls += 1
        return x + y

    bound = functools.partial(base, y=1)
    cached = cache.cached(key="sum:{x}")(bound)  # type: ignore[arg-type]
    assert await cached(1) == 2
    assert await cached(x=1) == 2
    assert calls == 1
    await cache.aclose()


class ArgsKeyStrategy:
    """A key strategy that needs no signature: the repr of the arguments."""

    def compile(self, func: Any, template: str | None = None) -> Any:
        return lambda *args, **kwargs: f"k:{args!r}:{sorted(kwargs.items())!r}"

    def compile_tags(self, func: Any, templates: tuple[str, ...]) -> Any:
        return lambda *args, **kwargs: templates

    def make_key(self, raw_key: str) -> str:
        return raw_key


@pytest.mark.parametrize("listening", [False, True])
async def test_callable_without_a_readable_signature_uses_the_generic_wrapper(
    listening: bool,
) -> None:

    plugins = plugin_manager(EventRecorder()) if listening else plugin_manager()
    cache = hitbox.Cache(
        DictBackend(), serializer=CborSerializer(), key_strategy=ArgsKeyStrategy(), plugins=plugins
    )
    calls = 0

    async def opaque(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        return len(args) + len(kwargs)

    opaque.__signature__ = "not a signature"  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        inspect.signature(opaque)
    cached = cache.cached(opaque)
    assert await cached(1, 2, x=3) == 3
    assert await cached(1, 2, x=3) == 3
    assert calls == 1
    await cache.aclose()
