"""``Backend.signed``: whether a backend's entries are signed, from its ``codec``.

``hitbox check`` reports it; the default reads the codec a backend names (``codec``), so
a backend that stores bytes says it by overriding one property.
"""

from __future__ import annotations

import hitbox
import pytest
from hitbox.backend import Backend, CachedValue, Codec, EnvelopeCodec

KEY = b"a-signing-key-of-32-characters!!"


class _BytesBackend(Backend):
    """Stores nothing; only says which codec it would store entries with."""

    def __init__(self, codec: Codec | None) -> None:
        self._codec = codec

    @property
    def codec(self) -> Codec | None:
        return self._codec

    async def get(self, key: str) -> CachedValue | None:
        return None

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        pass

    async def delete(self, key: str) -> None:
        pass


class _NoSignedCodec:
    """A codec of the user's own: the Codec protocol, no ``signed``."""

    def encode(self, value: CachedValue, key: str | None = None) -> bytes:
        return b""

    def decode(self, data: bytes, key: str | None = None) -> CachedValue:
        raise hitbox.CorruptEntry("never stored")


def test_a_backend_with_a_signing_codec_is_signed() -> None:
    assert _BytesBackend(EnvelopeCodec(KEY)).signed is True


def test_a_backend_with_a_plain_codec_is_unsigned() -> None:
    assert _BytesBackend(EnvelopeCodec(None)).signed is False


def test_a_backend_that_names_no_codec_does_not_say() -> None:
    backend = _BytesBackend(None)
    assert backend.codec is None
    assert backend.signed is None


def test_a_codec_without_signed_does_not_say() -> None:
    codec: Codec = _NoSignedCodec()
    assert _BytesBackend(codec).signed is None


@pytest.mark.parametrize(
    "url",
    [
        "memory://?mode=bytes",
        "example://",
        "sqlite://:memory:",
        "redis://127.0.0.1:1/0",
        "memcached://127.0.0.1:1",
        "dynamodb://Cache?region=eu-west-1&endpoint_url=http://127.0.0.1:1",
    ],
)
async def test_built_in_backends_say_whether_their_entries_are_signed(url: str) -> None:
    # Building a backend connects to nothing: no server needed.
    signed = hitbox.Cache.from_url(url, signing_key=KEY.decode())
    unsigned = hitbox.Cache.from_url(url)
    try:
        assert signed.backend.codec is not None
        assert signed.backend.signed is True
        assert unsigned.backend.signed is False
    finally:
        await signed.aclose()
        await unsigned.aclose()


def test_an_object_backend_has_no_codec() -> None:
    backend = hitbox.Cache.from_url("memory://").backend
    assert backend.stores_objects
    assert backend.codec is None
    assert backend.signed is None
