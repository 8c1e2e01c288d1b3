"""Key layout: cluster hash slots, and lock keys that live in their data key's slot.

Redis Cluster places a key by the CRC16 of its *hash tag* -- the text between the first
``{`` and the next ``}`` when that text is not empty -- or of the whole key otherwise.
A lock key built here always hashes to the same slot as its data key, so a lock and its
entry sit on one node (and one shard's failover moves both together). Lock keys are also
distinct for distinct data keys: each of the three layouts below carries its own marker.
"""

from __future__ import annotations

from binascii import crc_hqx
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["HASH_SLOTS", "group_by_slot", "hash_tag", "key_slot", "lock_key"]

HASH_SLOTS = 16384
"""Number of hash slots in a Redis Cluster."""


def hash_tag(key: str) -> str | None:
    """The key's hash tag (text inside its first non-empty ``{...}``), or ``None``."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end < 0 or end == start + 1:
        return None
    return key[start + 1 : end]


def key_slot(key: str) -> int:
    """The cluster hash slot of ``key`` (the same computation as Redis itself)."""
    raw = key.encode()
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return crc_hqx(raw, 0) % HASH_SLOTS


def lock_key(key: str, prefix: str) -> str:
    """The key of the lock guarding ``key``; it hashes to ``key``'s slot.

    ``prefix`` must contain no braces (the config validates that). Three layouts:

    - the key has a hash tag: ``prefix + "t:" + key`` keeps that tag as the first one;
    - the key has none and no ``}``: ``prefix + "k:{" + key + "}"`` tags the whole key;
    - otherwise (a ``}`` would end such a tag early): ``prefix + "s:{" + t + "}" + key``
      where ``t`` is a short tag that hashes to the key's slot.
    """
    if hash_tag(key) is not None:
        return f"{prefix}t:{key}"
    if key and "}" not in key:
        return f"{prefix}k:{{{key}}}"
    return f"{prefix}s:{{{_slot_tag(key_slot(key))}}}{key}"


@lru_cache(maxsize=1024)
def _slot_tag(slot: int) -> str:
    """The shortest decimal string whose CRC16 falls in ``slot`` (found by search).

    Every slot is reached by a number below 110,000, so one search costs tens of
    milliseconds at worst; it runs only for keys with an unmatched ``}``, once per slot.
    """
    number = 0
    while True:
        text = str(number)
        if crc_hqx(text.encode(), 0) % HASH_SLOTS == slot:
            return text
        number += 1


def group_by_slot(keys: Iterable[str]) -> dict[int, list[str]]:
    """``keys`` grouped by hash slot, each group in first-seen order."""
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(key_slot(key), []).append(key)
    return groups
