"""How long a fresh hit's answer stays the same, byte for byte: :func:`unchanged_until`.

A server that answers the same request again and again (the same method, target and
field lines) may keep the answer it computed, instead of running RFC 9111 again per
request, for as long as nothing the answer depends on changes:

- the stored entries read for it: the caller reads them again and keeps the answer only
  while each read returns the very same object (:meth:`HttpStore.unchanged`);
- time. The answer depends on the clock only through the stored response's current age
  (RFC 9111 §4.2.3), and every use of it is monotonic in the age: the freshness and
  request-directive comparisons each flip at most once as the age grows, ``Age`` is the
  age rounded down and ``Cache-Status``'s ``ttl`` the remaining lifetime rounded down.
  So if the spec gives the same answer at two instants, it gives that answer all the
  time between them. :func:`unchanged_until` picks the instant just before ``Age`` or
  ``ttl`` would next change, asks the spec there, and returns it when the answer is the
  same (else the answer is not kept: something flips in between).

Nothing here decides anything itself: the decision stays :class:`HttpCacheSpec`'s.
"""

from __future__ import annotations

import math
from typing import Final

from hitbox_http._decisions import Hit
from hitbox_http._freshness import assess
from hitbox_http._models import Request
from hitbox_http._spec import HttpCacheSpec
from hitbox_http._store import Lookup

__all__ = ["unchanged_until"]

_MARGIN: Final = 1e-3
"""Seconds kept clear of the next change (clock reads are not exact)."""


def unchanged_until(
    spec: HttpCacheSpec, request: Request, lookup: Lookup, hit: Hit, now: float
) -> float:
    """Until when ``request`` gets ``hit``'s response again from the entries ``lookup``
    read (``now`` or earlier: not at all), given the spec gave it at ``now`` or later."""
    stored = hit.stored
    if stored is None or hit.revalidate is not None:
        return now
    assessment = assess(stored, spec.policy)
    age = assessment.current_age(stored, now)
    remaining = assessment.freshness_lifetime - age
    # Age shows floor(age), ttl floor(remaining): the next whole second of either.
    step = min(math.floor(age) + 1.0 - age, remaining - math.floor(remaining) or 1.0)
    until = now + step - _MARGIN
    if until <= now:
        return now
    later = HttpCacheSpec(spec.policy, clock=lambda: until).on_request(
        request, lookup.responses, variants_exist=lookup.found_any
    )
    if (
        isinstance(later, Hit)
        and later.stored is stored
        and later.revalidate is None
        and later.response == hit.response
    ):
        return until
    return now
