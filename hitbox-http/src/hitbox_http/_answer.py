"""What the HTTP cache answers with (:class:`Answer`, :class:`Streamed`), and helpers for
response bodies that arrive in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import final

from hitbox_http._decisions import ResponsePlan
from hitbox_http._headers import Headers
from hitbox_http._models import Response, StoredResponse

__all__ = ["Answer", "Streamed", "chain", "close_body", "read_all", "read_prefix"]


@final
@dataclass(slots=True)
class Streamed:
    """A response whose body arrives in chunks; iterate ``body`` to the end or close it."""

    status: int
    headers: Headers
    body: AsyncIterator[bytes]


@final
@dataclass(slots=True)
class Answer:
    """What a request is answered with.

    Exactly one of ``response`` (complete, send it), ``stream`` (its body still arrives
    from the origin) is set — or neither, when the integration already sent the answer to
    its client while it arrived. ``plan`` is the cache's plan for the origin's response
    (``None`` for answers from the cache) and ``kept`` the stored responses the answer
    writes or was served from: what requests waiting on it may reuse.
    """

    response: Response | None = None
    stream: Streamed | None = None
    plan: ResponsePlan | None = None
    kept: tuple[StoredResponse, ...] = ()

    def streamed(self) -> Streamed:
        """The answer as a :class:`Streamed` (a pull-style origin's answers always are)."""
        if self.stream is not None:
            return self.stream
        assert self.response is not None, "an answer already sent has no body to stream"
        return Streamed(self.response.status, self.response.headers, _once(self.response.body))


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


async def close_body(body: AsyncIterator[bytes]) -> None:
    """Close ``body`` if it can be closed (an async generator, an httpx stream)."""
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


async def read_all(body: AsyncIterator[bytes], limit: int) -> bytes | None:
    """The whole body, or ``None`` if it is longer than ``limit`` (it is still drained)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in body:
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
    finally:
        await close_body(body)
    return b"".join(chunks) if size <= limit else None


async def read_prefix(
    body: AsyncIterator[bytes], limit: int
) -> tuple[list[bytes], AsyncIterator[bytes] | None]:
    """The chunks of ``body`` up to ``limit`` bytes, and ``None`` if that was all of it,
    else the iterator still holding the rest."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in body:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return chunks, body
    except BaseException:
        await close_body(body)
        raise
    await close_body(body)
    return chunks, None


async def chain(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks in ``head``, then those of ``rest`` (closed at the end)."""
    try:
        for chunk in head:
            yield chunk
        async for chunk in rest:
            yield chunk
    finally:
        await close_body(rest)
