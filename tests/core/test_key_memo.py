"""The key memo: keys of exact int/str arguments are built once and looked up after."""

from __future__ import annotations

from typing import Any

import hitbox
import pytest
from hitbox._key_codegen import KEY_MEMO_SIZE, KeyMemo
from hitbox.keys import DefaultKeyStrategy
from hitbox_memory import MemoryBackend


def memo_of(key_fn: Any) -> KeyMemo | None:
    memo: KeyMemo | None = key_fn.key_memo
    return memo


def get_item(item_id: int) -> str:
    return f"item {item_id}"


def test_a_one_parameter_key_function_gets_a_memo_and_stays_pure() -> None:
    key_fn = DefaultKeyStrategy(namespace="shop").compile(get_item)
    memo = memo_of(key_fn)
    assert memo is not None
    assert memo.parameter == "item_id"
    assert key_fn(7) == "shop:tests.core.test_key_memo.get_item:i7"
    assert memo.keys == {}  # only the decorator's wrapper fills it


def cached_get_item(cache: hitbox.Cache) -> Any:
    async def get_item(item_id: Any) -> str:
        return f"item {item_id}"

    return cache.cached(get_item)


@pytest.mark.asyncio
async def test_the_wrapper_remembers_exact_ints_and_strs() -> None:
    cached = cached_get_item(hitbox.Cache(MemoryBackend(), policy=hitbox.Policy(ttl=60)))
    memo = memo_of(cached.cache_key)
    assert memo is not None
    for argument in (7, "7", True, 7.0, 7, "7"):
        await cached(argument)
    assert memo.keys == {7: cached.cache_key(7), "7": cached.cache_key("7")}


@pytest.mark.asyncio
async def test_the_memo_is_bounded() -> None:
    cached = cached_get_item(hitbox.Cache(MemoryBackend(), policy=hitbox.Policy(ttl=60)))
    memo = memo_of(cached.cache_key)
    assert memo is not None
    for item_id in range(KEY_MEMO_SIZE * 2 + 5):
        assert await cached(item_id) == f"item {item_id}"
        assert len(memo.keys) <= KEY_MEMO_SIZE
    assert memo.keys[KEY_MEMO_SIZE * 2 + 4] == cached.cache_key(KEY_MEMO_SIZE * 2 + 4)


@pytest.mark.asyncio
async def test_long_keys_are_remembered_hashed() -> None:
    cache = hitbox.Cache(
        MemoryBackend(),
        key_strategy={"name": "default", "max_length": 80},
        policy=hitbox.Policy(ttl=60),
    )
    cached = cached_get_item(cache)
    long_argument = "x" * 200
    await cached(long_argument)
    memo = memo_of(cached.cache_key)
    assert memo is not None
    assert len(memo.keys[long_argument]) == 80
    assert memo.keys[long_argument] == cached.cache_key(long_argument)


class Shop:
    def __init__(self, name: str) -> None:
        self.name = name

    def price(self, item_id: int) -> int:
        return item_id

    def stock(self, item_id: int, store: str = "main") -> int:
        return item_id


def test_methods_remember_by_their_one_argument() -> None:
    memo = memo_of(DefaultKeyStrategy().compile(Shop.price))
    assert memo is not None
    assert memo.parameter == "item_id"


@pytest.mark.parametrize(
    ("func", "template"),
    [
        (Shop.stock, None),  # two key parameters
        (Shop.price, "{self.name}:{item_id}"),  # the instance is part of the key
        (lambda *ids: ids, None),  # *args
        (lambda **named: named, None),  # **kwargs
        (lambda: 1, None),  # nothing to remember by
    ],
)
def test_keys_of_more_than_one_value_are_not_remembered(func: Any, template: str | None) -> None:
    assert memo_of(DefaultKeyStrategy().compile(func, template)) is None


def test_a_template_on_one_parameter_is_remembered() -> None:
    key_fn = DefaultKeyStrategy().compile(Shop.price, "price:{item_id}")
    memo = memo_of(key_fn)
    assert memo is not None
    assert memo.parameter == "item_id"
    assert key_fn(Shop("a"), 3) == "price:3"


@pytest.mark.asyncio
async def test_cached_calls_with_equal_but_distinct_arguments_stay_apart() -> None:
    calls: list[object] = []
    cache = hitbox.Cache(MemoryBackend(), policy=hitbox.Policy(ttl=60))

    @cache.cached
    async def echo(value: Any) -> str:
        calls.append(value)
        return repr(value)

    results = [await echo(argument) for argument in (1, True, 1.0, "1", 1, True, 1.0, "1")]
    assert results == ["1", "True", "1.0", "'1'"] * 2
    assert calls == [1, True, 1.0, "1"]
    assert cache.stats().hits == 4


@pytest.mark.asyncio
async def test_a_custom_strategy_without_a_memo_still_works() -> None:
    class Plain:
        def compile(self, func: Any, template: str | None = None) -> Any:
            return lambda item_id: f"plain:{item_id}"

        def compile_tags(self, func: Any, templates: tuple[str, ...]) -> Any:
            return lambda item_id: ()

        def make_key(self, raw_key: str) -> str:
            return raw_key

    cache = hitbox.Cache(MemoryBackend(), key_strategy=Plain(), policy=hitbox.Policy(ttl=60))
    cached = cache.cached(get_item_async)
    assert [await cached(1), await cached(1)] == ["item 1", "item 1"]
    assert cached.cache_key(1) == "plain:1"
    assert cache.stats().hits == 1


async def get_item_async(item_id: int) -> str:
    return f"item {item_id}"


def test_sync_functions_keep_equal_but_distinct_arguments_apart() -> None:
    calls: list[object] = []
    with hitbox.Cache(MemoryBackend(), policy=hitbox.Policy(ttl=60)) as cache:

        @cache.cached
        def echo(value: Any) -> str:
            calls.append(value)
            return repr(value)

        results = [echo(argument) for argument in (1, True, "1", 1, True, "1")]
        assert results == ["1", "True", "'1'"] * 2
        assert calls == [1, True, "1"]
        assert cache.stats().hits == 3
