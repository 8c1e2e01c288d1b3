"""The byte format of stored HTTP entries, kept in :attr:`hitbox.CachedValue.data`.

Two kinds of entry live under a URL's primary key:

- a response record (``HXR1``): status, times, URL, selecting header values, header
  fields and body — one stored response;
- a variant index (``HXV1``): for a URL whose responses carry ``Vary``, the secondary
  keys of its variants (most recent first) and the field names each was selected by.

All integers are big-endian; strings are length-prefixed. Decoding checks every length
and refuses trailing bytes: anything malformed raises :class:`hitbox.CorruptEntry`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, final

import hitbox

from hitbox_http._headers import Headers
from hitbox_http._models import StoredResponse

__all__ = ["Variant", "VariantIndex", "decode_entry", "encode_index", "encode_response"]

_RESPONSE_MAGIC: Final = b"HXR1"
_INDEX_MAGIC: Final = b"HXV1"
_HEAD: Final = struct.Struct(">4sHdd")
_U8: Final = struct.Struct(">B")
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_F64: Final = struct.Struct(">d")


@final
@dataclass(frozen=True, slots=True)
class Variant:
    """One stored variant of a URL: its secondary key and the fields that selected it."""

    key: str
    names: tuple[str, ...]
    stored_at: float


@final
@dataclass(frozen=True, slots=True)
class VariantIndex:
    """The variants stored for one URL, most recent first."""

    variants: tuple[Variant, ...]


def _text(out: list[bytes], value: str, size: struct.Struct) -> None:
    data = value.encode("utf-8", "surrogatepass")
    out.append(size.pack(len(data)))
    out.append(data)


def encode_response(stored: StoredResponse) -> bytes:
    """``stored`` as bytes (see the module docstring for the layout)."""
    out = [_HEAD.pack(_RESPONSE_MAGIC, stored.status, stored.request_time, stored.response_time)]
    _text(out, stored.url, _U32)
    out.append(_U16.pack(len(stored.vary)))
    for name, value in stored.vary:
        _text(out, name, _U16)
        out.append(_U8.pack(value is not None))
        _text(out, value or "", _U32)
    out.append(_U16.pack(len(stored.headers)))
    for name, value in stored.headers:
        _text(out, name, _U16)
        _text(out, value, _U32)
    out.append(_U32.pack(len(stored.body)))
    out.append(stored.body)
    return b"".join(out)


def encode_index(index: VariantIndex) -> bytes:
    """``index`` as bytes."""
    out = [_INDEX_MAGIC, _U16.pack(len(index.variants))]
    for variant in index.variants:
        _text(out, variant.key, _U16)
        out.append(_F64.pack(variant.stored_at))
        out.append(_U16.pack(len(variant.names)))
        for name in variant.names:
            _text(out, name, _U16)
    return b"".join(out)


@final
class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, size: struct.Struct) -> int:
        if self.pos + size.size > len(self.data):
            raise hitbox.CorruptEntry("HTTP entry is truncated")
        (value,) = size.unpack_from(self.data, self.pos)
        self.pos += size.size
        return int(value)

    def float(self) -> float:
        if self.pos + 8 > len(self.data):
            raise hitbox.CorruptEntry("HTTP entry is truncated")
        (value,) = _F64.unpack_from(self.data, self.pos)
        self.pos += 8
        return float(value)

    def raw(self, size: struct.Struct) -> bytes:
        length = self.unpack(size)
        end = self.pos + length
        if end > len(self.data):
            raise hitbox.CorruptEntry("HTTP entry is truncated")
        value = self.data[self.pos : end]
        self.pos = end
        return value

    def text(self, size: struct.Struct) -> str:
        try:
            return self.raw(size).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise hitbox.CorruptEntry("HTTP entry holds invalid text") from None

    def done(self) -> None:
        if self.pos != len(self.data):
            raise hitbox.CorruptEntry("HTTP entry has trailing bytes")


def _decode_response(reader: _Reader) -> StoredResponse:
    _, status, request_time, response_time = _HEAD.unpack_from(reader.data, 0)
    reader.pos = _HEAD.size
    url = reader.text(_U32)
    vary: list[tuple[str, str | None]] = []
    for _ in range(reader.unpack(_U16)):
        name = reader.text(_U16)
        present = reader.unpack(_U8)
        value = reader.text(_U32)
        vary.append((name, value if present else None))
    items: list[tuple[str, str]] = []
    for _ in range(reader.unpack(_U16)):
        name = reader.text(_U16)
        items.append((name, reader.text(_U32)))
    body = reader.raw(_U32)
    reader.done()
    if not 100 <= status <= 999:
        raise hitbox.CorruptEntry(f"HTTP entry has an impossible status {status}")
    return StoredResponse(
        status, Headers(items), body, request_time, response_time, url, tuple(vary)
    )


def _decode_index(reader: _Reader) -> VariantIndex:
    reader.pos = 4
    variants: list[Variant] = []
    for _ in range(reader.unpack(_U16)):
        key = reader.text(_U16)
        stored_at = reader.float()
        names = tuple(reader.text(_U16) for _ in range(reader.unpack(_U16)))
        variants.append(Variant(key, names, stored_at))
    reader.done()
    return VariantIndex(tuple(variants))


def decode_entry(data: bytes) -> StoredResponse | VariantIndex:
    """A response record or a variant index from bytes; :class:`hitbox.CorruptEntry` if
    the bytes are neither."""
    reader = _Reader(bytes(data))
    magic = reader.data[:4]
    if magic == _RESPONSE_MAGIC and len(reader.data) >= _HEAD.size:
        return _decode_response(reader)
    if magic == _INDEX_MAGIC:
        return _decode_index(reader)
    raise hitbox.CorruptEntry("not an HTTP cache entry (unknown magic)")
