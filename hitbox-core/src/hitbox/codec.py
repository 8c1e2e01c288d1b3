"""The envelope codec: a :class:`~hitbox.CachedValue` as bytes, for backends that store bytes.

The public path of :class:`EnvelopeCodec` and the :class:`Codec` protocol (also on the
backend authors' face, :mod:`hitbox.backend`). They live in ``hitbox.backend._codec``,
which documents the byte layout: the face imports them from there, so the codec and the
face do not import each other.
"""

from hitbox.backend._codec import FORMAT_VERSION, MAGIC, MIN_KEY_LENGTH, Codec, EnvelopeCodec

__all__ = ["FORMAT_VERSION", "MAGIC", "MIN_KEY_LENGTH", "Codec", "EnvelopeCodec"]
