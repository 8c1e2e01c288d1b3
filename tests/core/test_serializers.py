"""Built-in serializers: round trips with and without type hints, refusals, garbage input."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import pickle
import threading
import uuid
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hitbox import SerializationError, Serializer, _serializer_base, serializers
from hitbox.plugins import SerializerRegistry
from hitbox.serializers import (
    CborSerializer,
    JsonSerializer,
    MsgpackSerializer,
    PickleSerializer,
    RawSerializer,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

CBOR, MSGPACK, JSON, RAW, PICKLE = (
    CborSerializer(),
    MsgpackSerializer(),
    JsonSerializer(),
    RawSerializer(),
    PickleSerializer(),
)
ALL = [CBOR, MSGPACK, JSON, RAW, PICKLE]
STRUCTURED = [CBOR, MSGPACK, JSON, PICKLE]  # everything but raw takes arbitrary values
BINARY = [CBOR, MSGPACK]

UTC = dt.UTC
PLUS_0530 = dt.timezone(dt.timedelta(hours=5, minutes=30))


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    city: str
    zip_code: str = Field(alias="zipCode")


class User(BaseModel):
    id: int
    name: str
    joined: dt.datetime
    last_login: dt.datetime | None
    birthday: dt.date
    token: uuid.UUID
    balance: Decimal
    avatar: bytes
    roles: set[str]
    pair: tuple[int, str]
    color: Color
    session: dt.timedelta
    big: int
    address: Address


@dataclasses.dataclass
class Order:
    order_id: int
    buyer: User
    lines: list[tuple[str, int]]
    placed: dt.datetime
    notes: dict[str, float] = dataclasses.field(default_factory=dict)


class Opaque:
    """A class no serializer but pickle knows."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque)

    __hash__ = object.__hash__


USER = User(
    id=7,
    name="Ada ✓",
    joined=dt.datetime(2024, 2, 29, 12, 30, 5, 123456, tzinfo=PLUS_0530),
    last_login=dt.datetime(2024, 3, 1, 8, 0, 0, 1),  # naive on purpose
    birthday=dt.date(1815, 12, 10),
    token=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    balance=Decimal("1234.5600"),
    avatar=b"PNG-ish ascii",  # UTF-8 so json can take it too
    roles={"admin", "dev"},
    pair=(1, "one"),
    color=Color.BLUE,
    session=dt.timedelta(days=-1, seconds=5, microseconds=7),
    big=2**100,
    address=Address(city="London", zipCode="NW1"),
)
ORDER = Order(1, USER, [("apple", 3), ("pear", 1)], dt.datetime(2024, 1, 1, tzinfo=UTC), {"x": 0.5})

# (value, type hint) pairs every structured serializer restores exactly.
TYPED_CASES: list[tuple[Any, Any]] = [
    (None, type(None)),
    (True, bool),
    (False, bool),
    (0, int),
    (-(2**200), int),
    (2**64, int),
    (1.5, float),
    (-0.0, float),
    (1e300, float),
    (float("inf"), float),
    ("", str),
    ("héllo ✓ \x00", str),
    (b"", bytes),
    (b"plain ascii", bytes),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), dt.datetime),
    (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS_0530), dt.datetime),
    (dt.datetime(2024, 1, 2, 3, 4, 5, 999999), dt.datetime),
    (dt.date(2024, 2, 29), dt.date),
    (dt.timedelta(days=3, microseconds=1), dt.timedelta),
    (uuid.UUID(int=2**127 + 5), uuid.UUID),
    (Decimal("-0.000123"), Decimal),
    (Color.RED, Color),
    ([1, "a", None], list[int | str | None]),
    ((1, "a", 2.5), tuple[int, str, float]),
    ({1, 2, 3}, set[int]),
    (frozenset({"a"}), frozenset[str]),
    ({"a": {"b": [1, 2]}, "c": {}}, dict[str, dict[str, list[int]]]),
    ({1: "one", 2: "two"}, dict[int, str]),
    ({"when": [dt.date(2020, 1, 1)], "ids": {uuid.UUID(int=1)}}, dict[str, Any]),
    (USER, User),
    (ORDER, Order),
    ([USER, USER], list[User]),
    ({"order": ORDER}, dict[str, Order]),
]


def _case_id(case: tuple[Any, Any]) -> str:
    return type(case[0]).__name__


@pytest.mark.parametrize("serializer", STRUCTURED, ids=lambda s: s.name)
@pytest.mark.parametrize("case", TYPED_CASES, ids=_case_id)
def test_typed_round_trip_restores_value_and_type(serializer: Serializer, case: Any) -> None:
    value, hint = case
    restored = serializer.loads(serializer.dumps(value), type_hint=hint)
    if hint == dict[str, Any] and serializer is JSON:
        # JSON has no date, UUID or set: only a precise hint restores them.
        assert restored == {"when": ["2020-01-01"], "ids": [str(uuid.UUID(int=1))]}
        return
    assert restored == value
    assert type(restored) is type(value)


@pytest.mark.parametrize("serializer", BINARY, ids=lambda s: s.name)
def test_binary_formats_keep_scalar_types_without_hint(serializer: Serializer) -> None:
    value = {
        "aware": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=PLUS_0530),
        "naive": dt.datetime(2024, 1, 2, 3, 4, 5, 6),
        "date": dt.date(2024, 1, 2),
        "delta": dt.timedelta(seconds=-1),
        "uuid": uuid.UUID(int=42),
        "decimal": Decimal("1.10"),
        "bytes": b"\x00\xff",
        "set": {1, 2},
        "big": -(2**70),
        "nested": [[{"x": [None, True, 1.25]}]],
    }
    restored = serializer.loads(serializer.dumps(value))
    assert restored == value
    assert restored["aware"].utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert restored["naive"].tzinfo is None
    assert type(restored["date"]) is dt.date
    assert str(restored["decimal"]) == "1.10"


def test_cbor_returns_tuples_as_lists_and_msgpack_keeps_them() -> None:
    value = {"t": (1, 2), "keyed": {(1, 2): "tuple key"}}
    assert CBOR.loads(CBOR.dumps(value)) == {"t": [1, 2], "keyed": {(1, 2): "tuple key"}}
    assert MSGPACK.loads(MSGPACK.dumps(value)) == value


@pytest.mark.parametrize("serializer", [CBOR, MSGPACK, JSON], ids=lambda s: s.name)
def test_models_and_dataclasses_come_back_as_plain_data_without_hint(
    serializer: Serializer,
) -> None:
    plain = serializer.loads(serializer.dumps(ORDER))
    assert isinstance(plain, dict)
    assert plain["order_id"] == 1
    assert plain["buyer"]["name"] == "Ada ✓"
    assert plain["buyer"]["address"] == {"city": "London", "zipCode": "NW1"}  # by alias
    assert plain["buyer"]["color"] == "blue"


def test_json_without_hint_gives_json_primitives() -> None:
    value = {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "naive": dt.datetime(2024, 1, 2),
        "day": dt.date(2024, 1, 2),
        "id": uuid.UUID(int=1),
        "price": Decimal("9.99"),
        "tags": ("a", "b"),
        "by_int": {1: True},
        "text": b"bytes as text",
    }
    assert JSON.loads(JSON.dumps(value)) == {
        "when": "2024-01-02T03:04:05Z",
        "naive": "2024-01-02T00:00:00",
        "day": "2024-01-02",
        "id": "00000000-0000-0000-0000-000000000001",
        "price": "9.99",
        "tags": ["a", "b"],
        "by_int": {"1": True},
        "text": "bytes as text",
    }


def test_pickle_restores_exact_types_without_hint() -> None:
    value = {"opaque": Opaque(), "order": ORDER, "time": dt.time(1, 2)}
    restored = PICKLE.loads(PICKLE.dumps(value))
    assert restored == value
    assert type(restored["order"]) is Order
    assert PICKLE.loads(PICKLE.dumps(Opaque()), type_hint=Opaque) == Opaque()


def test_raw_passes_bytes_through() -> None:
    data = b"\x00\x01 raw \xff"
    assert RAW.dumps(data) is data
    assert RAW.dumps(bytearray(data)) == data
    assert RAW.dumps(memoryview(data)) == data
    assert RAW.loads(data) == data
    loose: Any = bytearray(data)  # backends may hand over any buffer
    assert type(RAW.loads(loose)) is bytes
    assert RAW.loads(b"caf\xc3\xa9", type_hint=str) == "café"


REFUSALS: list[tuple[Serializer, Any, str]] = [
    (CBOR, object(), r"^cbor serializer cannot encode a value of type object; it supports None,"),
    (CBOR, dt.time(1, 2), r"^cbor serializer cannot encode a value of type datetime\.time; "),
    (CBOR, {"deep": [Opaque()]}, r"^cbor serializer cannot encode a value of type .*\.Opaque; "),
    (CBOR, "\ud800", r"^cbor serializer cannot encode a value of type str: .*surrogates"),
    (MSGPACK, object(), r"^msgpack serializer cannot encode a value of type object; it supports"),
    (MSGPACK, [(Opaque(),)], r"^msgpack serializer cannot encode a value of type .*\.Opaque; "),
    (MSGPACK, "\ud800", r"^msgpack serializer cannot encode a value of type str: .*surrogates"),
    (JSON, object(), r"^json serializer cannot encode a value of type object: .*unknown type"),
    (JSON, {"a": Opaque()}, r"^json serializer cannot encode a value of type dict: .*Opaque"),
    (JSON, b"\xff\xfe", r"^json serializer cannot encode a value of type bytes: .*utf-8"),
    (JSON, "\ud800", r"^json serializer cannot encode a value of type str: .*surrogates"),
    (RAW, "text", r"^raw serializer cannot encode a value of type str: it stores bytes only"),
    (RAW, 42, r"^raw serializer cannot encode a value of type int: it stores bytes only"),
    (RAW, None, r"^raw serializer cannot encode a value of type NoneType: "),
    (RAW, {"a": 1}, r"^raw serializer cannot encode a value of type dict: "),
    (PICKLE, lambda: 1, r"^pickle serializer cannot encode a value of type function: "),
    (PICKLE, threading.Lock(), r"^pickle serializer cannot encode a value of type .*lock: "),
]


@pytest.mark.parametrize(
    ("serializer", "value", "message"),
    REFUSALS,
    ids=[f"{s.name}-{type(v).__name__}" for s, v, _ in REFUSALS],
)
def test_refusals_raise_one_line_serialization_error(
    serializer: Serializer, value: Any, message: str
) -> None:
    with pytest.raises(SerializationError, match=message) as info:
        serializer.dumps(value)
    assert type(info.value) is SerializationError
    assert "\n" not in str(info.value)


GARBAGE: list[tuple[Serializer, bytes, str]] = [
    (CBOR, b"", r"^cbor serializer cannot decode 0 bytes: premature end"),
    (CBOR, b"\xff", r"^cbor serializer cannot decode 1 bytes: "),
    (CBOR, b"\x01\x02", r"^cbor serializer cannot decode 2 bytes: 1 trailing bytes"),
    (CBOR, b"\x81" * 500 + b"\x00", r"^cbor serializer cannot decode 501 bytes: .*depth"),
    (MSGPACK, b"", r"^msgpack serializer cannot decode 0 bytes: "),
    (MSGPACK, b"\xc1", r"^msgpack serializer cannot decode 1 bytes: "),
    (MSGPACK, b"\x01\x02", r"^msgpack serializer cannot decode 2 bytes: .*extra data"),
    (MSGPACK, b"\xd4\x01\xff", r"^msgpack serializer cannot decode 3 bytes: "),  # bad datetime ext
    (JSON, b"", r"^json serializer cannot decode 0 bytes: EOF"),
    (JSON, b"[1] 2", r"^json serializer cannot decode 5 bytes: trailing characters"),
    (PICKLE, b"", r"^pickle serializer cannot decode 0 bytes: "),
    (PICKLE, pickle.dumps(1) + b"x", r"^pickle serializer cannot decode \d+ bytes: 1 trailing"),
]


@pytest.mark.parametrize(
    ("serializer", "data", "message"), GARBAGE, ids=[f"{s.name}-{d[:6]!r}" for s, d, _ in GARBAGE]
)
def test_garbage_raises_serialization_error(
    serializer: Serializer, data: bytes, message: str
) -> None:
    with pytest.raises(SerializationError, match=message):
        serializer.loads(data)


@pytest.mark.parametrize("serializer", STRUCTURED, ids=lambda s: s.name)
def test_typed_restore_failure_names_type_and_field(serializer: Serializer) -> None:
    data = serializer.dumps({"id": "not a number"})
    with pytest.raises(SerializationError) as info:
        serializer.loads(data, type_hint=User)
    message = str(info.value)
    assert message.startswith(f"{serializer.name} serializer cannot restore the stored value as ")
    assert "test_serializers.User: " in message
    assert "validation error(s), first at id: " in message


def test_hint_pydantic_cannot_handle_is_a_serialization_error() -> None:
    with pytest.raises(
        SerializationError, match=r"^cbor serializer cannot restore values as .*Opaque"
    ):
        CBOR.loads(CBOR.dumps({}), type_hint=Opaque)


def test_type_adapters_are_built_once_per_type() -> None:
    data = CBOR.dumps([USER])
    CBOR.loads(data, type_hint=list[User])
    before = _serializer_base.cached_adapter.cache_info()
    for _ in range(5):
        CBOR.loads(data, type_hint=list[User])
    after = _serializer_base.cached_adapter.cache_info()
    assert after.hits == before.hits + 5
    assert after.misses == before.misses


def test_serializers_satisfy_the_protocol_and_are_stateless() -> None:
    for serializer in ALL:
        assert isinstance(serializer, Serializer)
        assert not hasattr(serializer, "__dict__")
        assert repr(serializer) == f"{type(serializer).__name__}()"


def test_register_builtin_serializers() -> None:
    registry = SerializerRegistry()
    serializers.register_builtin_serializers(registry)
    assert registry.names() == ["cbor", "json", "msgpack", "pickle", "raw"]
    for spec in registry.specs():
        assert spec.factory().name == spec.name
        assert spec.description
    assert "explicit only" in registry.get("pickle").description


# -- property tests ----------------------------------------------------------------------

_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**130), max_value=2**130)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.datetimes(timezones=st.none() | st.just(UTC) | st.just(PLUS_0530))
    | st.dates()
    | st.uuids()
)
VALUES = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("serializer", [CBOR, MSGPACK, PICKLE], ids=lambda s: s.name)
@settings(max_examples=150, deadline=None)
@given(value=VALUES)
def test_arbitrary_values_round_trip(serializer: Serializer, value: Any) -> None:
    assert serializer.loads(serializer.dumps(value)) == value


class _NoImportUnpickler(pickle.Unpickler):
    """Refuses every global, so fuzzing pickle can never import or call anything."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"fuzzing: global {module}.{name} refused")


@pytest.mark.parametrize("serializer", ALL, ids=lambda s: s.name)
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64), hint=st.sampled_from([None, User, list[int], dict[str, Any]]))
def test_loads_of_random_bytes_raises_only_serialization_error(
    serializer: Serializer, data: bytes, hint: Any
) -> None:
    with (
        mock.patch.object(pickle, "Unpickler", _NoImportUnpickler),
        contextlib.suppress(SerializationError),
    ):
        serializer.loads(data, type_hint=hint)


@pytest.mark.parametrize("serializer", [CBOR, MSGPACK, JSON], ids=lambda s: s.name)
@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(0, 7), cut=st.integers(min_value=0))
def test_loads_of_damaged_encodings_raises_only_serialization_error(
    serializer: Serializer, position: int, bit: int, cut: int
) -> None:
    data = bytearray(serializer.dumps(USER))
    data[position % len(data)] ^= 1 << bit
    damaged = bytes(data[: len(data) - cut % len(data)])
    for hint in (None, User):
        with contextlib.suppress(SerializationError):
            serializer.loads(damaged, type_hint=hint)
