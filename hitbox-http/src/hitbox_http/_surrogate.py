"""``Surrogate-Control``: the origin's instructions to its own surrogates (W3C Edge
Architecture Specification 1.0, §3).

A shared cache in front of its origin (the proxy, the middleware) is that origin's
surrogate. When ``HttpPolicy.surrogate_control`` is on, a ``Surrogate-Control`` field
addressed to it takes precedence over ``Cache-Control`` and ``Expires`` for what it
stores and for how long, and the field is removed before the response leaves — it is
meant for surrogates, not for clients or caches further down.

The content-free subset is understood: ``max-age=N`` (a ``+M`` extension is ignored, so
nothing is served stale on its account) and ``no-store``. ``no-store-remote`` addresses
surrogates far from the origin and is ignored; ``content="..."`` (ESI) is not processed.
A directive targeted with ``;token`` applies only when ``token`` is the cache's
``cache_name``. Privacy is never weakened: ``Cache-Control: private`` still keeps the
response out of the shared cache.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from hitbox_http._config import HttpPolicy
from hitbox_http._directives import ResponseDirectives
from hitbox_http._headers import Headers, split_list

__all__ = ["SURROGATE_CONTROL", "acts_as_surrogate", "outgoing_headers", "surrogate_directives"]

SURROGATE_CONTROL: Final = "surrogate-control"


def acts_as_surrogate(policy: HttpPolicy) -> bool:
    """Whether the cache reads (and removes) ``Surrogate-Control``: a shared cache with
    ``surrogate_control`` on. A private cache is not its origin's surrogate."""
    return policy.shared and policy.surrogate_control


def outgoing_headers(headers: Headers, policy: HttpPolicy) -> Headers:
    """``headers`` as they may leave this cache: without ``Surrogate-Control`` when the
    cache acts as a surrogate (it is kept in storage, where freshness is read from it)."""
    return headers.without(SURROGATE_CONTROL) if acts_as_surrogate(policy) else headers


def surrogate_directives(headers: Headers, policy: HttpPolicy) -> ResponseDirectives | None:
    """The directives ``Surrogate-Control`` gives this cache, or ``None`` when it gives
    none (absent, or nothing addressed to this cache): ``Cache-Control`` then applies."""
    lines = headers.get_all(SURROGATE_CONTROL)
    if not lines:
        return None
    pairs: list[tuple[str, str | None]] = []
    for line in lines:
        for member in split_list(line):
            directive, _, target = member.partition(";")
            target = target.strip(" \t")
            if target and target.lower() != policy.cache_name.lower():
                continue  # addressed to another surrogate
            name, sep, argument = directive.partition("=")
            name = name.strip(" \t").lower()
            if name == "max-age" and sep:
                # "max-age=N+M": M is how long a stale object may be served while it
                # is revalidated; not served stale here, so only N counts.
                pairs.append(("max-age", argument.strip(" \t").partition("+")[0]))
            elif name == "no-store":
                pairs.append(("no-store", None))
    if not pairs:
        return None
    directives = ResponseDirectives.from_pairs(pairs)
    cache_control = ResponseDirectives.parse(headers.get_all("cache-control"))
    return dataclasses.replace(
        directives, private=cache_control.private, private_fields=cache_control.private_fields
    )
