"""What :class:`~hitbox_http.HttpCacheSpec` decides: :class:`Hit`, :class:`Forward` and
:class:`ResponsePlan` — plain records the I/O layer acts on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from hitbox_http._cache_status import Forwarded
from hitbox_http._headers import Headers
from hitbox_http._models import Request, Response, StoredResponse

__all__ = ["Forward", "Hit", "ResponsePlan"]


@final
@dataclass(frozen=True, slots=True)
class Hit:
    """Answer from the cache: send ``response``.

    ``revalidate`` is set when the response was served stale under
    ``stale-while-revalidate``: send that conditional request in the background and pass
    its outcome to :meth:`HttpCacheSpec.on_response` with ``forward``. ``stale`` says the
    stored response was past its freshness lifetime (``max-stale`` or
    ``stale-while-revalidate``).
    """

    response: Response
    stored: StoredResponse | None
    revalidate: Forward | None = None
    stale: bool = False


@final
@dataclass(frozen=True, slots=True)
class Forward:
    """Send ``request`` to the origin.

    ``client`` is the request as received; ``fwd`` why it goes upstream (RFC 9211);
    ``candidates`` the stored responses being validated (also the stale-if-error
    fallbacks); ``may_store`` whether the response may be stored at all.
    """

    request: Request
    client: Request
    fwd: Forwarded
    candidates: tuple[StoredResponse, ...] = ()
    may_store: bool = False
    validating: bool = False


@final
@dataclass(frozen=True, slots=True)
class ResponsePlan:
    """What to do with the origin's response.

    Send ``status`` and ``headers`` to the client. The body is the origin's when
    ``body`` is ``None``, else ``body`` itself (a stored body, or ``b""`` for a 304 or a
    HEAD) — the origin's body is then still read when ``store`` wants it.
    If ``store`` is set, store it with the origin's complete body (see
    :meth:`StoredResponse.with_body`); write back ``updates``; drop every stored response
    of the URIs in ``invalidate``. If ``retry`` is set, nothing else applies: send that
    request instead and plan again with its response. ``stale`` says the answer is a
    stored response served because the origin failed (``stale-if-error``).
    """

    status: int
    headers: Headers
    body: bytes | None = None
    store: StoredResponse | None = None
    updates: tuple[StoredResponse, ...] = ()
    invalidate: tuple[str, ...] = ()
    retry: Forward | None = None
    stale: bool = False
