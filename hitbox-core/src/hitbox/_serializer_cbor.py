"""The ``cbor`` serializer (the default): CBOR (RFC 8949) through cbor2."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Mapping
from typing import Any, Final, final

import cbor2

from hitbox._serializer_base import (
    UNHANDLED,
    Base,
    as_fields,
    check_consumed,
    refusal,
    timedelta_of,
)

__all__ = ["CborSerializer"]

# CBOR has no tag for naive datetimes (tag 0 requires an offset) nor for durations; these
# private tags ("hb" + n) keep them round-tripping. cbor2 returns other unknown tags as-is.
_CBOR_NAIVE_DATETIME_TAG: Final = 0x6862_0001
_CBOR_TIMEDELTA_TAG: Final = 0x6862_0002


def _cbor_datetime(encoder: cbor2.CBOREncoder, value: Any) -> None:
    if value.utcoffset() is None:
        encoder.encode(cbor2.CBORTag(_CBOR_NAIVE_DATETIME_TAG, value.isoformat()))
    else:
        encoder.encode_datetime(value)


def _cbor_default(encoder: cbor2.CBOREncoder, value: Any) -> None:
    if isinstance(value, dt.timedelta):
        parts = [value.days, value.seconds, value.microseconds]
        encoder.encode(cbor2.CBORTag(_CBOR_TIMEDELTA_TAG, parts))
        return
    plain = as_fields(value)
    if plain is UNHANDLED:
        raise refusal("cbor", value)
    encoder.encode(plain)


def _cbor_tag_hook(tag: cbor2.CBORTag, immutable: bool) -> Any:
    if tag.tag == _CBOR_NAIVE_DATETIME_TAG:
        return dt.datetime.fromisoformat(tag.value)
    if tag.tag == _CBOR_TIMEDELTA_TAG:
        return timedelta_of(tag.value)
    return tag


_CBOR_ENCODERS: Final[Mapping[type, Callable[[cbor2.CBOREncoder, Any], None]]] = {
    dt.datetime: _cbor_datetime
}


@final
class CborSerializer(Base):
    """CBOR (RFC 8949) through cbor2: compact, binary, the default.

    Natively typed: bytes, big ints, datetimes (aware and naive; zone names become fixed
    offsets), date, timedelta, UUID, Decimal, set. Tuples come back as lists (except as
    map keys), models and dataclasses as dicts. Refuses other objects (``SerializationError``),
    strings with lone surrogates, and - on decode - nesting deeper than 400 levels.
    """

    __slots__ = ()
    name = "cbor"

    def _encode(self, value: Any) -> bytes:
        try:
            return cbor2.dumps(value, default=_cbor_default)
        except cbor2.CBOREncodeError:
            # cbor2 refuses naive datetimes before asking `default`; the `encoders` override
            # that handles them doubles the cost of every call, so only values that need it
            # take that path.
            return cbor2.dumps(value, default=_cbor_default, encoders=_CBOR_ENCODERS)

    def _decode(self, data: bytes) -> Any:
        stream = io.BytesIO(data)
        value = cbor2.CBORDecoder(stream, tag_hook=_cbor_tag_hook).decode()
        check_consumed(stream, data)
        return value
