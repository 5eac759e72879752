"""The direct (unproxied) connections of one probe, reused per origin without a pool.

`Connections` opens httpcore's HTTP/1.1 or HTTP/2 connection (by ALPN, or as the module's HTTP
version requires) over our backend's streams, hands each request to an idle connection of its
origin or a new one, and closes them all when the probe's session ends. Proxied requests go
through httpcore's proxy pools instead (`session.py`).
"""

from __future__ import annotations

import contextlib
import ssl

import httpcore

from .backend import Backend


class Connections:
    """Direct connections of one probe, per origin: httpcore's HTTP/1.1 and HTTP/2 connections
    over our backend's streams, without a pool's bookkeeping.

    A probe sends a handful of requests in turn (the legacy transport's open event stream is the
    only concurrency), so reuse is simple: an idle connection of the origin if one is left,
    otherwise a new one. httpcore's pool would add locks, request queues and wrappers per request
    for cases a probe never has.
    """

    def __init__(
        self,
        backend: Backend,
        ssl_context: ssl.SSLContext | None,
        http1: bool,
        http2: bool,
        server_name: str | None,
    ) -> None:
        self._backend = backend
        self._ssl_context = ssl_context
        self._http1 = http1
        self._http2 = http2
        self._server_name = server_name
        self._open: list[httpcore.AsyncConnectionInterface] = []

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send on an idle connection to the origin, or on a new one."""
        origin = request.url.origin
        connection = None
        for candidate in list(self._open):
            if candidate.is_closed() or (candidate.is_idle() and candidate.has_expired()):
                self._open.remove(candidate)
                await candidate.aclose()
            elif (
                connection is None
                and candidate.can_handle_request(origin)
                and candidate.is_available()
            ):
                connection = candidate
        if connection is None:
            connection = await self._connect(origin)
            self._open.append(connection)
        return await connection.handle_async_request(request)

    async def _connect(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        host = origin.host.decode("ascii")
        stream = await self._backend.connect_tcp(host, origin.port)
        if origin.scheme == b"https":
            context = self._ssl_context or ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1", "h2"] if self._http2 else ["http/1.1"])
            stream = await stream.start_tls(context, server_hostname=self._server_name or host)
        ssl_object = stream.get_extra_info("ssl_object")
        negotiated_h2 = ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"
        if negotiated_h2 or (self._http2 and not self._http1):
            return httpcore.AsyncHTTP2Connection(origin=origin, stream=stream)
        return httpcore.AsyncHTTP11Connection(origin=origin, stream=stream)

    async def aclose(self) -> None:
        """Close every connection."""
        connections, self._open = self._open, []
        for connection in connections:
            with contextlib.suppress(OSError, httpcore.NetworkError):
                await connection.aclose()
