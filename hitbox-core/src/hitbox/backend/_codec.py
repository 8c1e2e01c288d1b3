"""The envelope codec: a :class:`~hitbox.CachedValue` as bytes, for backends that store bytes.

Byte layout, version 1 (integers and floats big-endian)::

    offset  size  field
    0       4     magic            b"\\x89HBX" (non-ASCII first byte: text mangling shows)
    4       1     format version   1
    5       1     flags            bit 0: signed (HMAC-SHA256 trailer present); others 0
    6       8     created_at       float64, unix seconds
    14      8     fresh_until      float64
    22      8     stale_until      float64
    30      2     tag count        uint16
    32      ...   tags             per tag: uint16 length + that many bytes of UTF-8
    ...     4     payload length   uint32
    ...     n     payload          CachedValue.data (the serializer's bytes)
    ...     32    signature        HMAC-SHA256(signing key, every byte before it), if signed

``CachedValue.value`` (the decoded object an in-process backend may keep) is not encoded.

Decoding trusts nothing: lengths must add up exactly (no truncation, no trailing bytes),
the version must be known, times ordered ``created_at <= fresh_until <= stale_until``
(``created_at`` finite, the others finite or infinite, never NaN), tags valid UTF-8.
Any violation raises :class:`hitbox.CorruptEntry` naming the problem, which the state
machine treats as a miss; no other exception escapes :meth:`decode`.

Signing is fixed by configuration, never read from the stored value: a codec built with a
``signing_key`` verifies the signature (constant-time) before parsing anything else and
rejects unsigned entries; a codec without a key rejects signed entries rather than
skipping their check, so a misconfigured reader fails loudly (as a miss) instead of
silently trusting entries. The flag bit only lets the error say which mismatch it was.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from typing import Final, Protocol, final

from hitbox._errors import ConfigError, CorruptEntry, SerializationError
from hitbox.backend._value import CachedValue

__all__ = ["FORMAT_VERSION", "MAGIC", "MIN_KEY_LENGTH", "Codec", "EnvelopeCodec"]

MAGIC: Final = b"\x89HBX"
"""The first four bytes of every envelope."""

FORMAT_VERSION: Final = 1
"""The envelope format this codec writes and the only one it reads."""

MIN_KEY_LENGTH: Final = 16
"""Shortest accepted signing key, in bytes (32 random bytes are recommended)."""

_FLAG_SIGNED: Final = 0x01
_HEAD: Final = struct.Struct(">4sBBdddH")
_HEAD_SIZE: Final = _HEAD.size
_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_SIG_SIZE: Final = hashlib.sha256().digest_size
_MAX_TAGS: Final = 0xFFFF
_MAX_TAG_BYTES: Final = 0xFFFF
_MAX_PAYLOAD: Final = 0xFFFF_FFFF
_INF: Final = math.inf
# The frequent case (no tags) packs the whole header, payload length included, at once.
_HEAD_NO_TAGS: Final = struct.Struct(">4sBBdddHI")


def _times_problem(created_at: float, fresh_until: float, stale_until: float) -> str:
    """What is wrong with times that failed the ``_INF`` chain check (the slow path)."""
    if not math.isfinite(created_at) or any(math.isnan(t) for t in (fresh_until, stale_until)):
        return (
            f"non-finite time (created_at={created_at}, fresh_until={fresh_until}, "
            f"stale_until={stale_until}; only fresh_until and stale_until may be infinite)"
        )
    return (
        f"times out of order (created_at={created_at}, fresh_until={fresh_until}, "
        f"stale_until={stale_until}; need created_at <= fresh_until <= stale_until)"
    )


class Codec(Protocol):
    """What a bytes-storing backend needs from an entry codec; :class:`EnvelopeCodec` is
    the one every built-in backend uses, and a backend may take any other (a test double,
    an encrypting wrapper) that keeps this contract."""

    def encode(self, value: CachedValue, key: str | None = None) -> bytes:
        """The bytes of ``value``; a signature binds ``key`` when one is given."""
        ...

    def decode(self, data: bytes, key: str | None = None) -> CachedValue:
        """The entry in ``data``; raises :class:`hitbox.CorruptEntry` if it is malformed
        (or was signed for another key)."""
        ...


@final
class EnvelopeCodec:
    """Encodes :class:`~hitbox.CachedValue` records to bytes and decodes them, validating.

    ``signing_key`` (at least :data:`MIN_KEY_LENGTH` bytes) turns on HMAC-SHA256 signing
    of every entry and makes :meth:`decode` refuse unsigned or badly signed entries.
    Instances are immutable and safe to share between threads and tasks.
    """

    __slots__ = ("_key",)

    def __init__(self, signing_key: bytes | None = None) -> None:
        if signing_key is not None:
            if not isinstance(signing_key, bytes | bytearray):
                raise ConfigError(
                    f"signing_key must be bytes, got {type(signing_key).__name__}; "
                    f"encode text keys first (e.g. key.encode())",
                    field="signing_key",
                    value=type(signing_key).__name__,
                )
            if not bytes(signing_key).strip():
                raise ConfigError(
                    "signing_key is empty or blank; pass None to store entries unsigned",
                    field="signing_key",
                    value=f"<{len(signing_key)} bytes>",
                )
            if len(signing_key) < MIN_KEY_LENGTH:
                raise ConfigError(
                    f"signing_key is {len(signing_key)} bytes; use at least {MIN_KEY_LENGTH} "
                    f"(32 random bytes recommended, e.g. secrets.token_bytes(32))",
                    field="signing_key",
                    value=f"<{len(signing_key)} bytes>",
                )
            signing_key = bytes(signing_key)
        self._key = signing_key

    @property
    def signed(self) -> bool:
        """Whether this codec signs entries (and requires signatures when decoding)."""
        return self._key is not None

    def __repr__(self) -> str:
        return f"EnvelopeCodec(signed={self.signed})"

    def encode(self, value: CachedValue, key: str | None = None) -> bytes:
        """The envelope bytes of ``value`` (its ``value`` object, if any, is left out).

        With signing on, pass the storage ``key`` (and the same key to :meth:`decode`): the
        signature then covers it, so an entry copied under another key by someone who can
        write to the store fails verification instead of being served for that key. The
        key itself is not stored.

        Raises :class:`hitbox.SerializationError` for a record that :meth:`decode` would
        refuse: NaN or out-of-order times, an infinite ``created_at`` (``fresh_until`` and
        ``stale_until`` may be infinite), tags that are not encodable text or too many or
        too long, a payload over 4 GiB.
        """
        created_at = value.created_at
        fresh_until = value.fresh_until
        stale_until = value.stale_until
        # One chained comparison checks order and the times (NaN fails every comparison);
        # an entry fresh for ever (``Policy(ttl=math.inf)``) has infinite times.
        if not -_INF < created_at < _INF >= stale_until >= fresh_until >= created_at:
            problem = _times_problem(created_at, fresh_until, stale_until)
            raise SerializationError(f"cannot encode entry: {problem}")
        data = value.data
        if not isinstance(data, bytes):
            raise SerializationError(
                f"cannot encode entry: data is {type(data).__name__}, not bytes"
            )
        if len(data) > _MAX_PAYLOAD:
            raise SerializationError(
                f"cannot encode entry: payload of {len(data)} bytes exceeds 4 GiB"
            )
        flags = _FLAG_SIGNED if self._key is not None else 0
        tags = value.tags
        if not tags:
            body = (
                _HEAD_NO_TAGS.pack(
                    MAGIC, FORMAT_VERSION, flags,
                    created_at, fresh_until, stale_until, 0, len(data),
                )
                + data
            )  # fmt: skip
        else:
            body = self._encode_with_tags(value, flags, tags, data)
        if self._key is None:
            return body
        return body + self._signature(body, key)

    def _signature(self, body: bytes, key: str | None) -> bytes:
        assert self._key is not None
        if key is None:
            return hmac.digest(self._key, body, "sha256")
        # Length-prefixed, so no (key, body) pair can pose as another.
        raw_key = key.encode("utf-8", "surrogatepass")
        mac = hmac.new(self._key, _U32.pack(len(raw_key)) + raw_key, "sha256")
        mac.update(body)
        return mac.digest()

    @staticmethod
    def _encode_with_tags(
        value: CachedValue, flags: int, tags: tuple[str, ...], data: bytes
    ) -> bytes:
        if len(tags) > _MAX_TAGS:
            raise SerializationError(f"cannot encode entry: {len(tags)} tags exceed {_MAX_TAGS}")
        parts = [
            _HEAD.pack(
                MAGIC, FORMAT_VERSION, flags,
                value.created_at, value.fresh_until, value.stale_until, len(tags),
            )
        ]  # fmt: skip
        for tag in tags:
            try:
                raw = tag.encode("utf-8")
            except (AttributeError, UnicodeEncodeError) as exc:
                raise SerializationError(
                    f"cannot encode entry: tag {tag!r} is not encodable text"
                ) from exc
            if len(raw) > _MAX_TAG_BYTES:
                raise SerializationError(
                    f"cannot encode entry: tag {tag[:40]!r}... is {len(raw)} bytes, "
                    f"over {_MAX_TAG_BYTES}"
                )
            parts.append(_U16.pack(len(raw)))
            parts.append(raw)
        parts.append(_U32.pack(len(data)))
        parts.append(data)
        return b"".join(parts)

    def decode(self, data: bytes, key: str | None = None) -> CachedValue:
        """The record inside ``data``; :class:`hitbox.CorruptEntry` if anything is off.

        ``key`` must be the storage key given to :meth:`encode` (see there).
        """
        given: object = data  # backends are untyped code too: check, don't trust the hint
        if not isinstance(given, bytes):
            if not isinstance(given, bytearray | memoryview):
                raise CorruptEntry(f"envelope must be bytes, got {type(given).__name__}")
            data = bytes(given)
        size = len(data)
        if size < _HEAD_SIZE:
            raise CorruptEntry(
                f"truncated envelope: {size} bytes, the header alone is {_HEAD_SIZE}"
            )
        header = _HEAD.unpack_from(data)
        magic, version, flags, created_at, fresh_until, stale_until, tag_count = header
        if magic != MAGIC:
            raise CorruptEntry(f"not a hitbox envelope: starts with {magic!r}, expected {MAGIC!r}")
        if version != FORMAT_VERSION:
            raise CorruptEntry(
                f"unsupported envelope version {version} (this codec reads {FORMAT_VERSION})"
            )
        if flags & ~_FLAG_SIGNED:
            raise CorruptEntry(f"unknown envelope flags 0x{flags:02x}")
        end = size
        if self._key is not None:
            if not flags & _FLAG_SIGNED:
                raise CorruptEntry("unsigned envelope, but this codec requires signed entries")
            end = size - _SIG_SIZE
            if end < _HEAD_SIZE:
                raise CorruptEntry(
                    f"truncated envelope: {size} bytes cannot hold header and signature"
                )
            expected = self._signature(data[:end], key)
            if not hmac.compare_digest(expected, data[end:]):
                raise CorruptEntry("bad envelope signature (tampered, or signed with another key)")
        elif flags & _FLAG_SIGNED:
            raise CorruptEntry("signed envelope, but this codec has no signing key to verify it")
        if not -_INF < created_at < _INF >= stale_until >= fresh_until >= created_at:
            problem = _times_problem(created_at, fresh_until, stale_until)
            raise CorruptEntry(f"invalid envelope: {problem}")
        pos = _HEAD_SIZE
        tags: tuple[str, ...] = ()
        if tag_count:
            # Each tag needs at least its 2-byte length: refuse absurd counts before looping.
            if pos + 2 * tag_count + _U32.size > end:
                raise CorruptEntry(
                    f"truncated envelope: {tag_count} tags do not fit in {end} bytes"
                )
            tags, pos = _decode_tags(data, pos, end, tag_count)
        if pos + _U32.size > end:
            raise CorruptEntry("truncated envelope: payload length missing")
        (length,) = _U32.unpack_from(data, pos)
        pos += _U32.size
        if pos + length != end:
            if pos + length > end:
                raise CorruptEntry(
                    f"truncated envelope: payload of {length} bytes, {end - pos} present"
                )
            raise CorruptEntry(f"{end - pos - length} trailing bytes after the envelope payload")
        return CachedValue(data[pos:end], created_at, fresh_until, stale_until, tags)


def _decode_tags(data: bytes, pos: int, end: int, count: int) -> tuple[tuple[str, ...], int]:
    """``count`` length-prefixed UTF-8 tags from ``data[pos:end]`` and the position after."""
    tags = []
    for index in range(count):
        if pos + _U16.size > end:
            raise CorruptEntry(f"truncated envelope: tag {index} length missing")
        (length,) = _U16.unpack_from(data, pos)
        pos += _U16.size
        if pos + length > end:
            raise CorruptEntry(
                f"truncated envelope: tag {index} needs {length} bytes, {end - pos} present"
            )
        try:
            tags.append(data[pos : pos + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise CorruptEntry(f"tag {index} is not valid UTF-8") from None
        pos += length
    return tuple(tags), pos
