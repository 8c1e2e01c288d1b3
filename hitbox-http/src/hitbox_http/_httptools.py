"""uvicorn's httptools server, with the request target the client sent left visible.

uvicorn's :class:`~uvicorn.protocols.http.httptools_impl.HttpToolsProtocol` puts only
the path of an absolute-form target (``GET http://other.example/x``) into ``raw_path``,
so the proxy's edge check (:func:`hitbox_http._edge.refusal`: a request target must be a
path) could not see it and the request would be forwarded as ``/x``. This protocol puts
the target as received into ``raw_path`` whenever it is not a path; the proxy then
refuses it, as it does under h11. Imported only for ``hitbox proxy --http httptools``.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["TargetKeepingProtocol"]


class TargetKeepingProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that keeps a request target that is not a path."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        target = self.url
        if not target.startswith(b"/"):
            # The request's task was created above but has not run yet (tasks start on
            # the loop's next turn), and it reads this same scope.
            self.scope["raw_path"] = target
