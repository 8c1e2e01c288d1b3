"""The envelope codec: byte layout, round trips, validation, signing, and fuzzing."""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from typing import Any

import pytest
from hitbox import NO_VALUE, CachedValue, ConfigError, CorruptEntry, SerializationError
from hitbox.codec import FORMAT_VERSION, MAGIC, EnvelopeCodec
from hypothesis import given, settings
from hypothesis import strategies as st

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
PLAIN = EnvelopeCodec()
SIGNED = EnvelopeCodec(KEY)
HEADER = struct.Struct(">4sBBdddH")

ENTRY = CachedValue(b"payload \x00\xff", 100.0, 160.0, 190.5, ("user:42", "café"))


def _forge(
    *,
    magic: bytes = MAGIC,
    version: int = FORMAT_VERSION,
    flags: int = 0,
    times: tuple[float, float, float] = (1.0, 2.0, 3.0),
    tags: list[bytes] | None = None,
    tag_count: int | None = None,
    payload: bytes = b"x",
    payload_length: int | None = None,
    key: bytes | None = None,
) -> bytes:
    """Hand-built envelope bytes, so tests can break one field at a time."""
    tags = tags or []
    count = len(tags) if tag_count is None else tag_count
    body = HEADER.pack(magic, version, flags | (1 if key else 0), *times, count)
    body += b"".join(struct.pack(">H", len(tag)) + tag for tag in tags)
    length = len(payload) if payload_length is None else payload_length
    body += struct.pack(">I", length) + payload
    if key is not None:
        body += hmac.new(key, body, hashlib.sha256).digest()
    return body


# -- layout and round trips --------------------------------------------------------------


def test_layout_is_the_documented_one() -> None:
    data = PLAIN.encode(ENTRY)
    assert data == _forge(
        times=(100.0, 160.0, 190.5), tags=[b"user:42", "café".encode()], payload=b"payload \x00\xff"
    )
    magic, version, flags, created, fresh, stale, count = HEADER.unpack_from(data)
    assert (magic, version, flags, count) == (b"\x89HBX", 1, 0, 2)
    assert (created, fresh, stale) == (100.0, 160.0, 190.5)
    assert len(data) == 32 + (2 + 7) + (2 + 5) + 4 + 10


def test_signed_layout_appends_hmac_of_everything_before() -> None:
    data = SIGNED.encode(ENTRY)
    body, signature = data[:-32], data[-32:]
    assert body[5] == 0x01
    assert signature == hmac.new(KEY, body, hashlib.sha256).digest()


@pytest.mark.parametrize("codec", [PLAIN, SIGNED], ids=["plain", "signed"])
@pytest.mark.parametrize(
    "entry",
    [
        ENTRY,
        CachedValue(b"", 0.0, 0.0, 0.0),
        CachedValue(b"\x00" * 1_000_000, -5.5, 1e9, 1e300, ("",)),
        CachedValue(b"t", 1.0, 2.0, 3.0, tuple(f"tag{i}" for i in range(300))),
        CachedValue(b"v", 1.0, 2.0, 3.0, ("x" * 65535,)),
    ],
    ids=["tags", "empty", "large", "many-tags", "longest-tag"],
)
def test_round_trip(codec: EnvelopeCodec, entry: CachedValue) -> None:
    decoded = codec.decode(codec.encode(entry))
    assert decoded == entry
    assert type(decoded.data) is bytes


def test_decoded_object_is_not_encoded() -> None:
    entry = CachedValue(b"d", 1.0, 2.0, 3.0, value={"decoded": "object"})
    decoded = PLAIN.decode(PLAIN.encode(entry))
    assert decoded.value is NO_VALUE
    assert PLAIN.encode(entry) == PLAIN.encode(entry.without_value())


def test_accepts_any_bytes_buffer() -> None:
    data = PLAIN.encode(ENTRY)
    loose: Any = bytearray(data)  # backends may hand over bytearray or memoryview
    assert PLAIN.decode(loose) == ENTRY
    loose = memoryview(data)
    assert PLAIN.decode(loose) == ENTRY


# -- validation --------------------------------------------------------------------------

NAN, INF = math.nan, math.inf

CORRUPT: list[tuple[str, bytes, str]] = [
    ("empty", b"", r"^truncated envelope: 0 bytes, the header alone is 32$"),
    ("short", MAGIC + b"\x01\x00", r"^truncated envelope: 6 bytes"),
    ("magic", _forge(magic=b"HBX1"), r"^not a hitbox envelope: starts with b'HBX1'"),
    ("version-0", _forge(version=0), r"^unsupported envelope version 0 \(this codec reads 1\)$"),
    ("version-2", _forge(version=2), r"^unsupported envelope version 2"),
    ("flags", _forge(flags=0x80), r"^unknown envelope flags 0x80$"),
    ("signed", _forge(key=KEY), r"^signed envelope, but this codec has no signing key"),
    ("nan", _forge(times=(NAN, 2.0, 3.0)), r"^invalid envelope: non-finite time \(created_at=nan"),
    ("inf", _forge(times=(INF, INF, INF)), r"^invalid envelope: non-finite time \(created_at=inf"),
    ("nan-stale", _forge(times=(1.0, 2.0, NAN)), r"^invalid envelope: non-finite time .*=nan"),
    ("order-1", _forge(times=(2.0, 1.0, 3.0)), r"^invalid envelope: times out of order"),
    ("order-2", _forge(times=(1.0, 3.0, 2.0)), r"^invalid envelope: times out of order"),
    ("utf8", _forge(tags=[b"ok", b"\xff\xfe"]), r"^tag 1 is not valid UTF-8$"),
    ("tag-count", _forge(tags=[b"a"], tag_count=60000), r"^truncated envelope: 60000 tags do not"),
    (
        "tag-len",
        _forge(tags=[b"abc"])[:32] + b"\x00\xff" + _forge(tags=[b"abc"])[34:],
        r"^truncated envelope: tag 0 needs 255 bytes, 8 present$",
    ),
    ("payload", _forge(payload=b"abc", payload_length=4), r"^truncated envelope: payload of 4"),
    ("trailing", _forge(payload=b"abc", payload_length=2), r"^1 trailing bytes after the envelope"),
    ("no-length", _forge()[:32], r"^truncated envelope: payload length missing$"),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_unsigned_codec_rejects(data: bytes, message: str) -> None:
    with pytest.raises(CorruptEntry, match=message):
        PLAIN.decode(data)


def test_forged_envelope_is_valid_when_nothing_is_broken() -> None:
    assert PLAIN.decode(_forge(tags=[b"t"])) == CachedValue(b"x", 1.0, 2.0, 3.0, ("t",))
    assert SIGNED.decode(_forge(tags=[b"t"], key=KEY)) == CachedValue(b"x", 1.0, 2.0, 3.0, ("t",))


def test_signed_codec_rejects_unsigned_entries() -> None:
    with pytest.raises(CorruptEntry, match=r"^unsigned envelope, but this codec requires signed"):
        SIGNED.decode(PLAIN.encode(ENTRY))


def test_signed_codec_rejects_other_keys_and_tampering() -> None:
    other = EnvelopeCodec(OTHER_KEY).encode(ENTRY)
    with pytest.raises(CorruptEntry, match=r"^bad envelope signature"):
        SIGNED.decode(other)
    tampered = bytearray(SIGNED.encode(ENTRY))
    tampered[40] ^= 0x01
    with pytest.raises(CorruptEntry, match=r"^bad envelope signature"):
        SIGNED.decode(bytes(tampered))


def test_signature_is_checked_before_the_body_is_trusted() -> None:
    # A correctly signed but invalid body can only come from a key holder; a body that
    # is invalid *and* unsigned-by-us must fail on the signature, not on parsing.
    forged = _forge(times=(3.0, 2.0, 1.0), key=OTHER_KEY)
    with pytest.raises(CorruptEntry, match=r"^bad envelope signature"):
        SIGNED.decode(forged)
    with pytest.raises(CorruptEntry, match=r"^truncated envelope: \d+ bytes cannot hold"):
        SIGNED.decode(_forge(key=KEY)[:40])


def test_non_bytes_input_is_corrupt() -> None:
    not_bytes: Any = "text"
    with pytest.raises(CorruptEntry, match=r"^envelope must be bytes, got str$"):
        PLAIN.decode(not_bytes)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (CachedValue(b"", NAN, 1.0, 2.0), r"^cannot encode entry: non-finite time"),
        (CachedValue(b"", INF, INF, INF), r"^cannot encode entry: non-finite time"),
        (CachedValue(b"", 3.0, 2.0, 4.0), r"^cannot encode entry: times out of order"),
        (CachedValue(b"", 1.0, 2.0, 3.0, ("\ud800",)), r"^cannot encode entry: tag '\\ud800'"),
        (CachedValue(b"", 1.0, 2.0, 3.0, ("x" * 65536,)), r"^cannot encode entry: tag 'xxx"),
    ],
    ids=["nan", "inf", "order", "surrogate", "long-tag"],
)
def test_encode_refuses_what_decode_would_reject(entry: CachedValue, message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        PLAIN.encode(entry)


@pytest.mark.parametrize("times", [(1.0, INF, INF), (1.0, 2.0, INF)])
def test_an_entry_fresh_or_usable_for_ever_round_trips(times: tuple[float, float, float]) -> None:
    entry = CachedValue(b"forever", *times, ("t",))
    for codec in (PLAIN, EnvelopeCodec(KEY)):
        assert codec.decode(codec.encode(entry, "k"), "k") == entry


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("a text key of enough length", r"^signing_key must be bytes, got str"),
        (b"short", r"^signing_key is 5 bytes; use at least 16"),
        (b"", r"^signing_key is empty or blank; pass None"),
        (b" " * 32, r"^signing_key is empty or blank; pass None"),
    ],
)
def test_signing_key_is_validated(key: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        EnvelopeCodec(key)
    assert info.value.field == "signing_key"


def test_codec_reports_its_mode() -> None:
    assert not PLAIN.signed
    assert SIGNED.signed
    assert repr(SIGNED) == "EnvelopeCodec(signed=True)"
    assert KEY.decode() not in repr(SIGNED)


# -- property tests ----------------------------------------------------------------------
# Each example checks many inputs (every cut, every byte, every version, both codecs), so
# the file covers tens of thousands of malformed envelopes in a few seconds.

_times = st.floats(allow_nan=False, allow_infinity=False, width=64)
BOTH = (PLAIN, SIGNED)


@st.composite
def cached_values(draw: st.DrawFn) -> CachedValue:
    created, fresh, stale = sorted(draw(st.tuples(_times, _times, _times)))
    tags = tuple(draw(st.lists(st.text(max_size=12), max_size=5)))
    return CachedValue(draw(st.binary(max_size=64)), created, fresh, stale, tags)


def _decode_or_corrupt(codec: EnvelopeCodec, data: bytes) -> CachedValue | None:
    """Decode; a CorruptEntry is fine, any other exception fails the test."""
    try:
        return codec.decode(data)
    except CorruptEntry:
        return None


@settings(max_examples=200, deadline=None)
@given(entry=cached_values())
def test_any_cached_value_round_trips(entry: CachedValue) -> None:
    for codec in BOTH:
        assert codec.decode(codec.encode(entry)) == entry


@settings(max_examples=1000, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_only_ever_raise_corrupt_entry(data: bytes) -> None:
    for codec in BOTH:
        _decode_or_corrupt(codec, data)


@settings(max_examples=500, deadline=None)
@given(version=st.integers(0, 255), flags=st.integers(0, 255), rest=st.binary(max_size=120))
def test_random_bodies_behind_a_valid_magic_only_raise_corrupt_entry(
    version: int, flags: int, rest: bytes
) -> None:
    data = MAGIC + bytes([version, flags]) + rest
    for codec in BOTH:
        decoded = _decode_or_corrupt(codec, data)
        if decoded is not None:
            assert (version, flags) == (FORMAT_VERSION, 1 if codec.signed else 0)
            assert decoded.created_at <= decoded.fresh_until <= decoded.stale_until


@settings(max_examples=100, deadline=None)
@given(entry=cached_values())
def test_every_truncation_is_corrupt(entry: CachedValue) -> None:
    for codec in BOTH:
        data = codec.encode(entry)
        for cut in range(len(data)):
            with pytest.raises(CorruptEntry):
                codec.decode(data[:cut])


@settings(max_examples=100, deadline=None)
@given(entry=cached_values(), bit=st.integers(0, 7))
def test_every_bit_flip_is_caught_by_the_signature(entry: CachedValue, bit: int) -> None:
    data = SIGNED.encode(entry)
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 1 << bit
        with pytest.raises(CorruptEntry):
            SIGNED.decode(bytes(flipped))


@settings(max_examples=100, deadline=None)
@given(entry=cached_values(), bit=st.integers(0, 7))
def test_bit_flips_in_unsigned_entries_never_crash(entry: CachedValue, bit: int) -> None:
    data = PLAIN.encode(entry)
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 1 << bit
        decoded = _decode_or_corrupt(PLAIN, bytes(flipped))
        # Unsigned, a flip inside a time, a tag or the payload can still be well formed;
        # one in the magic, version, flags or payload length never is.
        payload_start = len(data) - len(entry.data)
        if position < 6 or payload_start - 4 <= position < payload_start:
            assert decoded is None, position
        elif decoded is not None:
            assert decoded.created_at <= decoded.fresh_until <= decoded.stale_until


@settings(max_examples=30, deadline=None)
@given(entry=cached_values())
def test_every_wrong_version_is_rejected(entry: CachedValue) -> None:
    for codec in BOTH:
        data = bytearray(codec.encode(entry))
        for version in set(range(256)) - {FORMAT_VERSION}:
            data[4] = version
            with pytest.raises(CorruptEntry, match=rf"^unsupported envelope version {version} "):
                codec.decode(bytes(data))


@settings(max_examples=100, deadline=None)
@given(entry=cached_values(), signature=st.binary(min_size=32, max_size=32))
def test_bad_signatures_are_rejected(entry: CachedValue, signature: bytes) -> None:
    data = SIGNED.encode(entry)
    with pytest.raises(CorruptEntry, match=r"^bad envelope signature"):
        SIGNED.decode(data[:-32] + signature)


@settings(max_examples=50, deadline=None)
@given(entry=cached_values())
def test_signed_and_unsigned_never_mix(entry: CachedValue) -> None:
    with pytest.raises(CorruptEntry, match=r"^signed envelope, but this codec has no signing key"):
        PLAIN.decode(SIGNED.encode(entry))
    with pytest.raises(CorruptEntry, match=r"^unsigned envelope, but this codec requires"):
        SIGNED.decode(PLAIN.encode(entry))


class TestSignatureBindsStorageKey:
    """A signed entry moved under another key by a store writer must not verify."""

    SIGNING_KEY = b"k" * 32

    def _value(self) -> CachedValue:
        return CachedValue(b"private to user 1", 1.0, 2.0, 3.0, ("user:1",))

    def test_same_key_round_trips(self) -> None:
        codec = EnvelopeCodec(self.SIGNING_KEY)
        data = codec.encode(self._value(), key="user:1:profile")
        assert codec.decode(data, key="user:1:profile") == self._value()

    @pytest.mark.parametrize("other", ["user:2:profile", "", None, "user:1:profile "])
    def test_entry_copied_to_another_key_is_corrupt(self, other: str | None) -> None:
        codec = EnvelopeCodec(self.SIGNING_KEY)
        data = codec.encode(self._value(), key="user:1:profile")
        with pytest.raises(CorruptEntry, match="bad envelope signature"):
            codec.decode(data, key=other)

    def test_unbound_entry_does_not_verify_under_a_key(self) -> None:
        codec = EnvelopeCodec(self.SIGNING_KEY)
        with pytest.raises(CorruptEntry, match="bad envelope signature"):
            codec.decode(codec.encode(self._value()), key="user:1:profile")

    def test_unsigned_codec_ignores_the_key(self) -> None:
        codec = EnvelopeCodec()
        data = codec.encode(self._value(), key="a")
        assert codec.decode(data, key="b") == self._value()
