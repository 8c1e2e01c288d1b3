"""Memcached key encoding: always valid for the protocol, never two keys on one slot."""

from __future__ import annotations

import string

from hitbox_memcached import encode_key
from hitbox_memcached._keys import ENTRY, LOCK, MAX_KEY_LENGTH, is_safe_prefix
from hypothesis import given
from hypothesis import strategies as st

_PROTOCOL_SAFE = set(range(0x21, 0x7F))


def _valid(encoded: bytes) -> bool:
    return 0 < len(encoded) <= MAX_KEY_LENGTH and set(encoded) <= _PROTOCOL_SAFE


def test_plain_keys_stay_readable() -> None:
    assert encode_key("user:42") == b"v:user:42"
    assert encode_key("user:42", "shop:") == b"shop:v:user:42"
    assert encode_key("user:42", kind=LOCK) == b"l:user:42"


def test_unsafe_characters_are_percent_encoded() -> None:
    assert encode_key("a b") == b"v:a%20b"
    assert encode_key("50%") == b"v:50%25"
    assert encode_key("caf\u00e9") == b"v:caf%C3%A9"
    assert encode_key("tab\tnl\n") == b"v:tab%09nl%0A"


def test_long_keys_are_hashed_and_fit() -> None:
    encoded = encode_key("x" * 1000, "p:")
    assert encoded.startswith(b"p:v#")
    assert len(encoded) == len("p:v#") + 64
    boundary = "y" * (MAX_KEY_LENGTH - 2)
    assert encode_key(boundary) == b"v:" + boundary.encode()
    assert encode_key(boundary + "y").startswith(b"v#")


def test_escaping_that_grows_past_the_limit_is_hashed() -> None:
    key = "\u4e2d" * 30  # 30 characters, 270 bytes once escaped
    assert encode_key(key).startswith(b"v#")


def test_entries_and_locks_never_share_a_key() -> None:
    assert encode_key("k", kind=ENTRY) != encode_key("k", kind=LOCK)
    assert encode_key("x" * 400, kind=ENTRY) != encode_key("x" * 400, kind=LOCK)


def test_a_key_that_looks_hashed_does_not_collide_with_a_hashed_one() -> None:
    hashed = encode_key("z" * 400)
    lookalike = hashed.decode()[2:]  # the "v#" marker stripped, hex digest kept
    assert encode_key("#" + lookalike) != hashed


def test_safe_prefixes() -> None:
    assert is_safe_prefix("")
    assert is_safe_prefix("shop:v2:")
    assert not is_safe_prefix("my shop")
    assert not is_safe_prefix("100%")
    assert not is_safe_prefix("caf\u00e9")


@given(st.text(max_size=400), st.sampled_from(["", "app:", "x" * 128]))
def test_every_key_encodes_to_a_valid_memcached_key(key: str, prefix: str) -> None:
    assert _valid(encode_key(key, prefix))


@given(st.text(max_size=300), st.text(max_size=300))
def test_distinct_keys_never_collide(first: str, second: str) -> None:
    if first != second:
        assert encode_key(first) != encode_key(second)


@given(st.text(alphabet=string.printable + "\u00e9\u4e2d\x00", max_size=20))
def test_percent_and_near_duplicates_stay_distinct(key: str) -> None:
    # "%41" escapes to "%2541", so it can never meet the key "A" written as "%41".
    variants = {key, key + "%", key.replace("%", "%25"), key + " ", key + "%20"}
    encoded = {encode_key(variant) for variant in variants}
    assert len(encoded) == len(variants)
