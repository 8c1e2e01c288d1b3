"""Memcached-safe keys: any string in, at most 250 printable ASCII bytes out, no collisions.

memcached's text protocol allows keys of up to 250 bytes without spaces or control
characters. :func:`encode_key` maps every Hitbox key (any Unicode string) to such a key,
injectively:

* ``<prefix><kind>:<escaped>`` when it fits, where ``escaped`` is the key with every byte
  outside ``!``..``~`` (and ``%`` itself) percent-encoded from UTF-8 — readable in
  ``memcached-tool`` dumps, and reversible, so two keys never share an escaped form;
* ``<prefix><kind>#<sha256 hex>`` otherwise. The ``#`` (versus ``:``) keeps hashed keys
  apart from escaped ones; two hashed keys collide only if SHA-256 does.

``kind`` separates entries (``v``) from lock leases (``l``) under the same Hitbox key.
"""

from __future__ import annotations

import hashlib
from typing import Final
from urllib.parse import quote

__all__ = ["ENTRY", "LOCK", "MAX_KEY_LENGTH", "encode_key", "is_safe_prefix"]

MAX_KEY_LENGTH: Final = 250
"""memcached's key length limit, in bytes."""

ENTRY: Final = "v"
"""Kind of the key under which an entry's envelope is stored."""

LOCK: Final = "l"
"""Kind of the key under which a lock lease is stored."""

# Printable ASCII without space and without "%", which is the escape character.
_SAFE_CHARS: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


def _is_safe(text: str) -> bool:
    return text.isascii() and text.isprintable() and " " not in text and "%" not in text


def is_safe_prefix(prefix: str) -> bool:
    """Whether ``prefix`` may start stored keys as is (printable ASCII, no space or ``%``)."""
    return prefix == "" or _is_safe(prefix)


def encode_key(key: str, prefix: str = "", kind: str = ENTRY) -> bytes:
    """The memcached key for Hitbox ``key`` (see the module docstring for the scheme)."""
    escaped = key if _is_safe(key) else quote(key, safe=_SAFE_CHARS, errors="surrogatepass")
    if len(prefix) + len(kind) + 1 + len(escaped) <= MAX_KEY_LENGTH:
        return f"{prefix}{kind}:{escaped}".encode("ascii")
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}{kind}#{digest}".encode("ascii")
