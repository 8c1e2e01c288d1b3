"""Key strategies: unambiguous default keys, templates, prefixes, hashing, refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import hashlib
import pathlib
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import hitbox
import pydantic
import pytest
from hitbox.keys import DefaultKeyStrategy, KeyStrategy, register_builtin_key_strategies
from hitbox.plugins import KeyStrategyRegistry
from hypothesis import given
from hypothesis import strategies as st

MOD = __name__
STRATEGY = DefaultKeyStrategy()


def one(x: Any) -> None: ...


def pair(a: Any, b: Any = 2) -> None: ...


def user(user_id: int) -> None: ...


def variadic(a: int, /, b: str = "x", *args: Any, c: Any = None, **kw: Any) -> None: ...


ONE = STRATEGY.compile(one)
PAIR = STRATEGY.compile(pair)


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int
    label: str = dataclasses.field(default="", compare=False)


class Model(pydantic.BaseModel):
    id: int
    name: str


class Tenant:
    def __init__(self, slug: str) -> None:
        self.slug = slug

    def __cache_key__(self) -> str:
        return self.slug


class Opaque:
    pass


class Pretty:
    def __repr__(self) -> str:
        return "Pretty()"


# --- the default key ---------------------------------------------------------------------


def test_default_key_is_qualified_name_and_encoded_arguments() -> None:
    assert STRATEGY.compile(user)(42) == f"{MOD}.user:i42"
    assert ONE("a b") == f"{MOD}.one:s3:a b"
    assert PAIR(1) == f"{MOD}.pair:i1,i2"
    assert isinstance(STRATEGY, KeyStrategy)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((("a b",), {}), (("a", "b"), {})),
        (((1,), {}), (("1",), {})),
        (((True,), {}), ((1,), {})),
        (((1.0,), {}), ((1,), {})),
        ((((1, 2),), {}), (([1, 2],), {})),
        (((None,), {}), (("None",), {})),
        (((b"a",), {}), (("a",), {})),
        ((({"a": 1},), {}), (([("a", 1)],), {})),
        (((("a,b",),), {}), ((("a", "b"),), {})),
        ((("s1:a",), {}), (("a",), {})),
        (((Level.LOW,), {}), ((1,), {})),
        (((dt.date(2024, 1, 2),), {}), ((dt.datetime(2024, 1, 2),), {})),
        (((frozenset(),), {}), (({},), {})),
    ],
)
def test_distinct_arguments_give_distinct_keys(first: Any, second: Any) -> None:
    assert PAIR(*first[0], **first[1]) != PAIR(*second[0], **second[1])


def test_the_same_binding_gives_the_same_key() -> None:
    assert PAIR(1, 2) == PAIR(1) == PAIR(a=1) == PAIR(b=2, a=1)
    assert ONE({1, 2, 3}) == ONE(frozenset({3, 2, 1}))
    assert ONE({"b": 1, "a": 2}) == ONE({"a": 2, "b": 1})
    key = STRATEGY.compile(variadic)
    assert key(1) == key(1, "x") == key(1, b="x", c=None)
    assert key(1, "x", 3, z=1, y=2) == key(1, "x", 3, y=2, z=1)
    assert key(1, "x", 3) != key(1, "x", c=3)


MISSING = object()


def with_defaults(x: Any = MISSING, tags: tuple[str, ...] = (), n: int = 1000) -> None: ...


def test_defaults_encode_like_passed_values_and_sentinels_are_cached() -> None:
    key = STRATEGY.compile(with_defaults)
    assert key() == key(MISSING, (), int("1000")) == f"{MOD}.with_defaults:~,(),i1000"
    assert key(None) != key()
    assert key(tags=("a",)) == key(MISSING, ("a",))
    with pytest.raises(hitbox.KeyStrategyError, match=r"argument 'x' is a builtins\.object"):
        key(object())  # only the sentinel itself is encodable
    with pytest.raises(hitbox.KeyStrategyError, match="argument 'tags' contains a builtins"):
        key(MISSING, (object(),))  # the sentinel is not blamed for another's failure


def test_supported_types_have_stable_documented_encodings() -> None:
    uid = uuid.UUID(int=1)
    cases = {
        None: "N",
        False: "F",
        -7: "i-7",
        0.5: "f0.5",
        b"\x00\xff": "b00ff",
        (1, "a"): "(i1,s1:a)",
        frozenset({2, 1}): "{i1,i2}",
        uid: f"u{uid}",
        decimal.Decimal("1.10"): "n1.10",
        dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC): "D2024-01-02T03:04:00+00:00",
        dt.time(1, 2): "t01:02:00",
        dt.timedelta(days=1, seconds=2): "p1_2_0",
        Color.RED: f"e{len(MOD) + 6}:{MOD}.Color3:RED",
        int: "c12:builtins.int",
    }
    for value, encoded in cases.items():
        assert ONE(value) == f"{MOD}.one:{encoded}", value
    assert ONE({"k": [1]}) == f"{MOD}.one:m{{s1:k=[i1]}}"
    assert ONE(pathlib.PurePosixPath("/a")).endswith(":P21:pathlib.PurePosixPath2:/a")


def test_huge_ints_do_not_break_the_fast_path() -> None:
    big = 10**5000  # str(big) raises ValueError under the default int_max_str_digits
    key = STRATEGY.compile(user)
    assert key(big) != key(big + 1)
    assert ONE(big) != ONE(big + 1)
    assert len(key(big)) == STRATEGY.max_length


def test_dataclasses_and_pydantic_models_are_keyed_by_field_values() -> None:
    assert ONE(Point(1, 2)) == ONE(Point(1, 2, label="ignored: compare=False"))
    assert ONE(Point(1, 2)) != ONE(Point(2, 1))
    assert ONE(Point(1, 2)) != ONE((1, 2))
    assert ONE(Model(id=1, name="a")) == ONE(Model(id=1, name="a"))
    assert ONE(Model(id=1, name="a")) != ONE(Model(id=1, name="b"))
    assert ONE(Model(id=1, name="a")) == f"{MOD}.one:o{len(MOD) + 6}:{MOD}.Model(i1,s1:a)"


def test_cache_key_hook_is_used_and_namespaced_by_type() -> None:
    assert ONE(Tenant("acme")) == ONE(Tenant("acme"))
    assert ONE(Tenant("acme")) != ONE("acme")
    assert ONE(Tenant("acme")).endswith("Tenant4:acme")


# --- refusals ------------------------------------------------------------------------------


def test_address_bearing_arguments_are_refused_with_a_fix() -> None:
    with pytest.raises(hitbox.KeyStrategyError) as info:
        STRATEGY.compile(user)(Opaque())
    assert str(info.value) == (
        f"cannot build a cache key for user(): argument 'user_id' is a {MOD}.Opaque, whose "
        'repr carries a memory address; pass a key template that picks stable fields (key="'
        '...{user_id.<field>}"), or give Opaque a __cache_key__(self) -> str method'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, Opaque()], "argument 'x' contains a tests.core.test_keys.Opaque, whose repr carries"),
        (Pretty(), "argument 'x' is a tests.core.test_keys.Pretty, which the default key strategy"),
        (one, "argument 'x' is a builtins.function, which the default key strategy cannot"),
    ],
)
def test_unencodable_arguments_are_refused(value: object, message: str) -> None:
    with pytest.raises(hitbox.KeyStrategyError, match=r"^cannot build a cache key for one") as info:
        ONE(value)
    assert message in str(info.value)


def test_self_containing_and_bad_hook_values_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(hitbox.KeyStrategyError, match="'x' is nested too deeply or contains"):
        ONE(loop)

    class BadHook:
        def __cache_key__(self) -> int:
            return 1

    with pytest.raises(hitbox.KeyStrategyError, match=r"whose __cache_key__\(\) returned int"):
        ONE(BadHook())


def test_callables_without_qualname_need_a_template() -> None:
    partial = functools.partial(pair, 1)
    with pytest.raises(hitbox.KeyStrategyError, match=r"has no __qualname__.*key template"):
        STRATEGY.compile(partial)
    assert STRATEGY.compile(partial, "p:{b}")(b=5) == "p:5"


def test_wrong_arguments_fail_like_the_decorated_function() -> None:
    with pytest.raises(TypeError, match=r"^user\(\) missing 1 required positional argument"):
        STRATEGY.compile(user)()


# --- methods and signatures ----------------------------------------------------------------


class Repo:
    def get(self, item_id: int) -> None: ...

    @classmethod
    def build(cls, name: str) -> None: ...

    @staticmethod
    def helper(self: int) -> None: ...


def test_methods_skip_self_and_cls() -> None:
    key = STRATEGY.compile(Repo.get)
    assert key(Repo(), 1) == key(Repo(), 1) == f"{MOD}.Repo.get:i1"
    assert STRATEGY.compile(Repo.__dict__["build"])(Repo, "a") == f"{MOD}.Repo.build:s1:a"
    assert STRATEGY.compile(Repo().get)(1) == f"{MOD}.Repo.get:i1"
    assert STRATEGY.compile(Repo.helper)(5) == f"{MOD}.Repo.helper:"


def test_parameter_names_cannot_break_the_generated_code() -> None:
    def tricky(
        type: str,
        len: int,
        str: Any = None,
        ValueError: int = 0,  # noqa: N803
        _hb_v1: int = 0,
    ) -> None: ...

    key = STRATEGY.compile(tricky)
    assert key("a", 1, 2, 3) == f"{MOD}.{tricky.__qualname__}:s1:a,i1,i2,i3,i0"
    assert key(10**5000, 1).startswith(f"{MOD}.{tricky.__qualname__}:I")


def test_lambdas_and_wrapped_functions() -> None:
    first = lambda x: x  # noqa: E731
    second = lambda x: x  # noqa: E731
    assert STRATEGY.compile(first)(1) != STRATEGY.compile(second)(1)

    @functools.wraps(user)
    def wrapper(*args: Any, **kwargs: Any) -> None: ...

    assert STRATEGY.compile(wrapper)(user_id=3) == f"{MOD}.user:i3"


# --- templates -----------------------------------------------------------------------------


def test_templates_render_like_the_same_f_string() -> None:
    key = STRATEGY.compile(pair, "user:{a}:{b}")
    assert key(42) == "user:42:2" == f"user:{42}:{2}"
    assert key("x", b=None) == "user:x:None"
    assert key(1.5, b=True) == "user:1.5:True"
    assert STRATEGY.compile(pair, "{a!r:>6}|{b:03d}")("q", 7) == "   'q'|007"
    odd = 'q"\\{{a}}\n\t{a}é'
    assert STRATEGY.compile(pair, odd)(1) == odd.format(a=1)
    assert STRATEGY.compile(pair, "constant")(1) == "constant"


def test_template_dotted_attributes_and_hooks() -> None:
    key = STRATEGY.compile(one, "user:{x.id}:{x.name}")
    assert key(Model(id=7, name="ann")) == "user:7:ann"
    assert STRATEGY.compile(one, "t:{x}")(Tenant("acme")) == "t:acme"
    with pytest.raises(hitbox.KeyStrategyError) as info:
        key(Tenant("acme"))
    assert str(info.value) == (
        "cannot build a cache key for one() from template 'user:{x.id}:{x.name}': "
        "AttributeError: 'Tenant' object has no attribute 'id'"
    )


class Broken:
    def __cache_key__(self) -> str:
        raise RuntimeError("no tenant")


@pytest.mark.parametrize(
    ("template", "value", "message"),
    [
        (None, Broken(), "encoding argument 'x' raised RuntimeError: no tenant"),
        ("t:{x}", Broken(), "from template 't:{x}': RuntimeError: no tenant"),
        ("t:{x:03d}", "abc", "from template 't:{x:03d}': ValueError: Unknown format code 'd'"),
        ("t:{x}", 10**5000, "from template 't:{x}': ValueError: Exceeds the limit (4300 digits)"),
    ],
    ids=["hook", "template-hook", "format-spec", "huge-int"],
)
def test_anything_raised_while_rendering_is_a_key_strategy_error(
    template: str | None, value: object, message: str
) -> None:
    # The cache fails open on KeyStrategyError only: the call then goes upstream uncached.
    with pytest.raises(hitbox.KeyStrategyError) as info:
        STRATEGY.compile(one, template)(value)
    assert message in str(info.value)
    with pytest.raises(hitbox.KeyStrategyError, match="from tag templates"):
        STRATEGY.compile_tags(one, ("a", template or "{x}"))(value)


def test_templates_refuse_address_bearing_values() -> None:
    with pytest.raises(hitbox.KeyStrategyError) as info:
        STRATEGY.compile(one, "o:{x}")(Opaque())
    assert str(info.value).startswith(
        f"cannot build a cache key for one(): {{x}} rendered a {MOD}.Opaque as '<{MOD}.Opaque "
        "object at 0x"
    )
    assert str(info.value).endswith(
        "which carries a memory address; pick a stable field ({x.<field>}) or give Opaque a "
        "__cache_key__(self) -> str method"
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "user:{uid}",
            "key template 'user:{uid}' for pair(): placeholder {uid}: 'uid' is not a "
            "parameter; parameters: a, b",
        ),
        ("{}", "placeholder {}: placeholders must be a parameter name with optional"),
        ("{0}", "placeholder {0}: placeholders must be a parameter name"),
        ("{a[0]}", "placeholder {a[0]}: placeholders must be a parameter name"),
        ("{a:{b}}", "placeholder {a}: nested placeholders in a format spec are not supported"),
        ("{a", "invalid key template '{a' for pair(): expected '}' before end of string"),
        ("", "key template for pair() must be a non-empty str, got ''"),
    ],
)
def test_bad_templates_fail_at_compile_time(template: str, message: str) -> None:
    with pytest.raises(hitbox.KeyStrategyError) as info:
        STRATEGY.compile(pair, template)
    assert message in str(info.value)


def test_tags_are_rendered_without_prefix_or_hashing() -> None:
    strategy = DefaultKeyStrategy(namespace="shop", version=2, max_length=80)
    tags = strategy.compile_tags(pair, ("user:{a}", "all", "long:{b}"))
    assert tags(1, b="x" * 100) == ("user:1", "all", "long:" + "x" * 100)
    assert strategy.compile_tags(pair, ())(1) == ()


# --- prefixes, hashing, options ------------------------------------------------------------


def test_namespace_and_version_prefixes() -> None:
    assert DefaultKeyStrategy(namespace="shop", version=3).compile(user)(1) == (
        f"shop:v3:{MOD}.user:i1"
    )
    assert DefaultKeyStrategy(version="2024").compile(user, "u:{user_id}")(1) == "v2024:u:1"
    assert DefaultKeyStrategy(namespace="shop").make_key("user:42") == "shop:user:42"
    assert STRATEGY.make_key("user:42") == "user:42"
    assert DefaultKeyStrategy(namespace="a", version=0).prefix == "a:v0:"


def test_long_keys_are_hashed_to_exactly_max_length() -> None:
    strategy = DefaultKeyStrategy(namespace="ns", max_length=100)
    assert strategy.make_key("k" * 96) == "ns:" + "k" * 96  # 99 characters: kept
    hashed = strategy.make_key("k" * 97)
    digest = hashlib.sha256(("ns:" + "k" * 97).encode()).hexdigest()
    assert hashed == "ns:" + "k" * 32 + "#" + digest
    assert len(hashed) == 100
    assert strategy.make_key("k" * 97) != strategy.make_key("k" * 98)
    assert len(strategy.compile(one)("x" * 500)) == 100
    for size in (5, 95, 96, 97, 300):  # a template key is what make_key gives its text
        assert strategy.compile(one, "u:{x}")("k" * size) == strategy.make_key("u:" + "k" * size)
    assert strategy.make_key("\ud800" * 200) != strategy.make_key("\ud801" * 200)


@pytest.mark.parametrize("raw", ["", None, 5, b"k"])
def test_make_key_refuses_non_keys(raw: Any) -> None:
    with pytest.raises(hitbox.KeyStrategyError, match="a cache key must be a non-empty str, got"):
        STRATEGY.make_key(raw)


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"namespace": "a b"}, "namespace", "must be a str without whitespace, got 'a b'"),
        ({"namespace": 3}, "namespace", "must be a str without whitespace, got 3"),
        ({"version": True}, "version", "must be an int >= 0 or a non-empty str"),
        ({"version": -1}, "version", "must be an int >= 0 or a non-empty str"),
        ({"version": ""}, "version", "without whitespace, got ''"),
        ({"max_length": 79}, "max_length", "must be an int >= 80, got 79"),
        ({"max_length": "200"}, "max_length", "must be an int >= 80, got '200'"),
        (
            {"prefix": "x"},
            "prefix",
            "unknown option of key strategy 'default', got 'x'; known: max_length, ",
        ),
    ],
)
def test_bad_options_raise_config_error_naming_field_and_value(
    options: dict[str, Any], field: str, message: str
) -> None:
    registry = KeyStrategyRegistry()
    register_builtin_key_strategies(registry)
    with pytest.raises(hitbox.ConfigError) as info:
        registry.get("default").factory(**options)
    assert str(info.value) == f"key_strategy.{field}: {message}" or message in str(info.value)
    assert str(info.value).startswith(f"key_strategy.{field}: ")
    assert info.value.field == f"key_strategy.{field}"
    assert info.value.value == options[field]


def test_registered_factory_builds_the_strategy() -> None:
    registry = KeyStrategyRegistry()
    register_builtin_key_strategies(registry)
    strategy = registry.get("default").factory(namespace="app", version=1, max_length=120)
    assert repr(strategy) == "DefaultKeyStrategy(namespace='app', version=1, max_length=120)"
    assert strategy.make_key("k") == "app:v1:k"


# --- collision freedom, with hypothesis ----------------------------------------------------

# Few characters, among them every separator of the encoding, so near-misses are common.
TEXT = st.text(alphabet="ab ,:=()[]{}si0123NTF\u00e9", max_size=6)
HASHABLE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | TEXT
    | st.binary(max_size=3)
    | st.sampled_from([Color.RED, Level.LOW]),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
VALUES = st.recursive(
    HASHABLE | st.floats() | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.sets(HASHABLE, max_size=3)
        | st.dictionaries(HASHABLE, inner, max_size=3)
    ),
    max_leaves=8,
)


def canonical(value: Any) -> Any:
    """The model: what the key must distinguish (type-aware, order-free for sets/dicts)."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(map(canonical, value)))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(map(canonical, value)))
    if isinstance(value, dict):
        return ("dict", frozenset((canonical(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


UNHASHED_PAIR = DefaultKeyStrategy(max_length=10**9).compile(pair)


class Decoder:
    """Parses default-key encodings back into ``canonical`` form: proof of injectivity."""

    ENUMS: ClassVar[dict[str, type[enum.Enum]]] = {f"{MOD}.Color": Color, f"{MOD}.Level": Level}

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def take(self, count: int) -> str:
        chunk = self.text[self.pos : self.pos + count]
        assert len(chunk) == count, self.text
        self.pos += count
        return chunk

    def sized(self) -> str:
        end = self.text.index(":", self.pos)
        length = int(self.text[self.pos : end])
        self.pos = end + 1
        return self.take(length)

    def scalar(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",=)]}":
            self.pos += 1
        return self.text[start : self.pos]

    def items(self, close: str, pairs: bool = False) -> list[Any]:
        found: list[Any] = []
        while self.text[self.pos] != close:
            if found:
                assert self.take(1) == ","
            found.append(self.pair() if pairs else self.value())
        self.pos += 1
        return found

    def pair(self) -> tuple[Any, Any]:
        key = self.value()
        assert self.take(1) == "="
        return key, self.value()

    def value(self) -> Any:
        tag = self.take(1)
        simple = {"N": ("NoneType", None), "T": ("bool", True), "F": ("bool", False)}
        if tag in simple:
            return simple[tag]
        parse: dict[str, Callable[[str], Any]] = {
            "i": int,
            "f": lambda text: repr(float(text)),
            "b": bytes.fromhex,
        }
        if tag in parse:
            return ({"i": "int", "f": "float", "b": "bytes"}[tag], parse[tag](self.scalar()))
        if tag == "d":
            return ("date", dt.date.fromisoformat(self.scalar()))
        if tag == "s":
            return ("str", self.sized())
        if tag == "e":
            cls = self.ENUMS[self.sized()]
            return (cls.__name__, cls[self.sized()])
        if tag in "([":
            kind = "tuple" if tag == "(" else "list"
            return (kind, tuple(self.items(")" if tag == "(" else "]")))
        if tag == "{":
            return ("set", frozenset(self.items("}")))
        assert tag == "m", self.text
        assert self.take(1) == "{", self.text
        return ("dict", frozenset(self.items("}", pairs=True)))


@given(VALUES, VALUES)
def test_default_keys_decode_back_to_the_arguments(a: Any, b: Any) -> None:
    decoder = Decoder(UNHASHED_PAIR(a, b).removeprefix(f"{MOD}.pair:"))
    first = decoder.value()
    assert decoder.take(1) == ","
    second = decoder.value()
    assert decoder.pos == len(decoder.text)
    assert (first, second) == (canonical(a), canonical(b))


@given(st.lists(st.tuples(VALUES, VALUES), min_size=2, max_size=8))
def test_keys_are_a_bijection_of_canonical_arguments(calls: list[tuple[Any, Any]]) -> None:
    keys: dict[Any, str] = {}
    for a, b in calls:
        model, key = canonical((a, b)), PAIR(a, b)
        assert keys.setdefault(model, key) == key  # same binding -> same key
        assert PAIR(b=b, a=a) == key
    assert len(set(keys.values())) == len(keys)  # distinct bindings -> distinct keys


@given(st.lists(TEXT, max_size=4), st.lists(TEXT, max_size=4))
def test_variadic_string_splits_never_collide(first: list[str], second: list[str]) -> None:
    key = STRATEGY.compile(variadic)
    assert (key(1, "x", *first) == key(1, "x", *second)) == (first == second)
    assert (ONE("".join(first)) == ONE(first)) is False
