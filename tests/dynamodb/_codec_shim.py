"""TEMPORARY stand-in for hitbox.EnvelopeCodec until hitbox/codec.py lands. Delete then."""

from __future__ import annotations

import json
import struct

import hitbox

_HEADER = struct.Struct(">4sddd")


class ShimCodec:
    """Header of magic and three floats, JSON tags, then the data."""

    def __init__(self, signing_key: bytes | None = None) -> None:
        self.signing_key = signing_key

    def encode(self, value: hitbox.CachedValue) -> bytes:
        tags = json.dumps(list(value.tags)).encode()
        header = _HEADER.pack(b"HBX1", value.created_at, value.fresh_until, value.stale_until)
        return header + struct.pack(">I", len(tags)) + tags + value.data

    def decode(self, data: bytes) -> hitbox.CachedValue:
        try:
            magic, created, fresh, stale = _HEADER.unpack_from(data)
            if magic != b"HBX1":
                raise ValueError("bad magic")
            (length,) = struct.unpack_from(">I", data, _HEADER.size)
            start = _HEADER.size + 4
            tags = tuple(json.loads(data[start : start + length]))
            return hitbox.CachedValue(data[start + length :], created, fresh, stale, tags)
        except (struct.error, ValueError) as exc:
            raise hitbox.CorruptEntry(str(exc)) from exc
