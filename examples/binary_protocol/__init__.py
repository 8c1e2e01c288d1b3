"""A custom length-prefixed binary protocol over asyncio streams, cached with Hitbox.

``protocol.py`` is the wire format and a pipelining client; ``server.py`` is the glue
that puts a :class:`hitbox.Cache` in front of the server's lookup function. Hitbox has no
code for this protocol: a request becomes a :class:`hitbox.CacheableRequest`.
"""

from __future__ import annotations

from .protocol import Client, Op, ProtocolError, Status
from .server import CachingServer, Lookup

__all__ = ["CachingServer", "Client", "Lookup", "Op", "ProtocolError", "Status"]
