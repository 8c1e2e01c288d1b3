"""The table layout: how keys, entries and locks map to DynamoDB items, without any I/O.

One item per key, partition key ``pk`` (string), no sort key:

========================  ===========================================================
attribute                 meaning
========================  ===========================================================
``pk`` (S)                ``v:`` + cache key for entries, ``l:`` + cache key for locks;
                          keys over 1 KiB are replaced by their SHA-256 (``vh:``/``lh:``)
                          because DynamoDB caps partition keys at 2 KiB
``payload`` (B)           the envelope bytes (:class:`hitbox.codec.EnvelopeCodec`), maybe
                          compressed
``compression`` (S)       ``zlib`` or ``zstd`` when ``payload`` is compressed; absent
                          otherwise
``expires_at`` (N)        whole unix seconds, rounded up: the attribute DynamoDB's TTL
                          deletes by (it understands seconds only)
``expires_at_ms`` (N)     unix milliseconds: what reads and lock conditions compare
                          against, so TTLs below a second are honoured
``owner`` (S)             lock items only: the token of the lock's holder
========================  ===========================================================

DynamoDB's TTL deletes expired items lazily, up to days later, and returns them until
then, so every read checks ``expires_at_ms`` itself (:func:`is_expired`).
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Mapping
from typing import Any, Final

import hitbox

__all__ = [
    "MAX_DECOMPRESSED_SIZE",
    "compress",
    "data_pk",
    "decompress",
    "estimate_item_size",
    "expiry_attributes",
    "is_expired",
    "lock_pk",
    "payload_of",
]

PK: Final = "pk"
PAYLOAD: Final = "payload"
COMPRESSION: Final = "compression"
EXPIRES_AT: Final = "expires_at"
EXPIRES_AT_MS: Final = "expires_at_ms"
OWNER: Final = "owner"

MAX_DECOMPRESSED_SIZE: Final = 64 * 1024 * 1024
"""Refuse to inflate a payload beyond this (a compression bomb written by someone else)."""

_MAX_PLAIN_KEY_BYTES: Final = 1024


def _pk(prefix: str, key: str) -> str:
    encoded = key.encode("utf-8", "surrogatepass")
    if len(encoded) > _MAX_PLAIN_KEY_BYTES:
        return f"{prefix}h:{hashlib.sha256(encoded).hexdigest()}"
    return f"{prefix}:{key}"


def data_pk(key: str) -> str:
    """Partition key of the entry stored under cache key ``key``."""
    return _pk("v", key)


def lock_pk(key: str) -> str:
    """Partition key of the lock item for cache key ``key`` (never equal to a data pk)."""
    return _pk("l", key)


def expiry_attributes(expires_at: float) -> dict[str, dict[str, str]]:
    """The two expiry attributes of an item that expires at unix time ``expires_at``
    (none for ``math.inf``: an item without them never expires)."""
    if expires_at == math.inf:
        return {}
    return {
        EXPIRES_AT: {"N": str(math.ceil(expires_at))},
        EXPIRES_AT_MS: {"N": str(math.ceil(expires_at * 1000))},
    }


def is_expired(item: Mapping[str, Any], now: float) -> bool:
    """Whether ``item`` is past its expiry at ``now`` (an item without one never expires).

    Falls back to whole-second ``expires_at`` for items written by other tools.
    """
    try:
        if EXPIRES_AT_MS in item:
            return int(item[EXPIRES_AT_MS]["N"]) <= now * 1000
        if EXPIRES_AT in item:
            return float(item[EXPIRES_AT]["N"]) <= now
    except (KeyError, TypeError, ValueError) as exc:
        raise hitbox.CorruptEntry(f"item has a malformed expiry attribute: {exc}") from exc
    return False


def payload_of(item: Mapping[str, Any]) -> bytes:
    """The envelope bytes of a data item, decompressed; :class:`hitbox.CorruptEntry` if bad."""
    try:
        payload = item[PAYLOAD]["B"]
    except (KeyError, TypeError) as exc:
        raise hitbox.CorruptEntry("item has no binary 'payload' attribute") from exc
    if not isinstance(payload, bytes | bytearray):
        raise hitbox.CorruptEntry("item's 'payload' attribute is not binary")
    method = item.get(COMPRESSION)
    if method is None:
        return bytes(payload)
    try:
        name = method["S"]
    except (KeyError, TypeError) as exc:
        raise hitbox.CorruptEntry("item's 'compression' attribute is not a string") from exc
    return decompress(name, bytes(payload))


def compress(method: str, data: bytes) -> bytes:
    """``data`` compressed with ``method`` (``zlib`` or ``zstd``)."""
    if method == "zlib":
        return zlib.compress(data, 6)
    if method == "zstd":
        import zstandard

        compressed: bytes = zstandard.ZstdCompressor(level=3).compress(data)
        return compressed
    raise ValueError(f"unknown compression {method!r}")


def decompress(method: str, data: bytes) -> bytes:
    """Inflate ``data``; :class:`hitbox.CorruptEntry` if it is invalid or too large."""
    if method == "zlib":
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(data, MAX_DECOMPRESSED_SIZE)
        except zlib.error as exc:
            raise hitbox.CorruptEntry(f"zlib payload does not inflate: {exc}") from exc
        if inflater.unconsumed_tail:
            raise hitbox.CorruptEntry(f"zlib payload inflates beyond {MAX_DECOMPRESSED_SIZE} bytes")
        if not inflater.eof:
            raise hitbox.CorruptEntry("zlib payload is truncated")
        return out
    if method == "zstd":
        return _zstd_decompress(data)
    raise hitbox.CorruptEntry(f"item names an unknown compression {method!r}")


def _zstd_decompress(data: bytes) -> bytes:
    try:
        import zstandard
    except ImportError as exc:
        raise hitbox.CorruptEntry(
            "item is zstd-compressed but the zstandard package is not installed"
        ) from exc
    try:
        size = zstandard.frame_content_size(data)
        if size > MAX_DECOMPRESSED_SIZE:
            raise hitbox.CorruptEntry(f"zstd payload inflates to {size} bytes, beyond the limit")
        # size == -1: the frame does not say; max_output_size bounds the output then.
        out: bytes = zstandard.ZstdDecompressor().decompress(
            data, max_output_size=MAX_DECOMPRESSED_SIZE
        )
    except zstandard.ZstdError as exc:
        raise hitbox.CorruptEntry(f"zstd payload does not inflate: {exc}") from exc
    return out


def _number_size(text: str) -> int:
    # DynamoDB stores numbers as base-100 digits: about one byte per two digits, plus one.
    digits = sum(ch.isdigit() for ch in text)
    return (digits + 1) // 2 + 1


def estimate_item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """DynamoDB's size of ``item``: attribute names plus values, as the service counts them.

    Exact for strings and binaries; numbers are rounded up. Only the scalar types this
    backend writes are counted.
    """
    total = 0
    for name, value in item.items():
        total += len(name.encode("utf-8"))
        if "S" in value:
            total += len(value["S"].encode("utf-8", "surrogatepass"))
        elif "B" in value:
            total += len(value["B"])
        elif "N" in value:
            total += _number_size(value["N"])
        else:
            total += 1
    return total
