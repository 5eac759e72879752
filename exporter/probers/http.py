"""The probe's view of the network layer: every request names the hop and phase it serves.

The network layer (`exporter.net`) knows nothing of hops and phases; this adapter stamps them on
whatever network error a request or its body raises, so `failure.py` can attribute it exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping

from ..net import Headers, NetError, Session
from ..net import Response as NetResponse
from ..net.tls import TLSInfo
from ..redact import Redactor
from .failure import Hop


class Response:
    """A response of one probe step; body errors carry the step's hop and phase."""

    __slots__ = ("_inner", "_where")

    def __init__(self, inner: NetResponse, hop: Hop, phase: str) -> None:
        self._inner = inner
        self._where = (hop, phase)

    @property
    def status(self) -> int:
        """The status code."""
        return self._inner.status

    @property
    def reason(self) -> str:
        """The reason phrase (HTTP/1.1 only)."""
        return self._inner.reason

    @property
    def headers(self) -> Headers:
        """The response headers."""
        return self._inner.headers

    @property
    def url(self) -> str:
        """The URL this response answered (after redirects)."""
        return self._inner.url

    @property
    def http_version(self) -> str:
        """HTTP/1.1 or HTTP/2."""
        return self._inner.http_version

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters."""
        return self._inner.content_type

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The decoded body as it arrives, within the size cap."""
        try:
            async for chunk in self._inner.iter_chunks():
                yield chunk
        except NetError as exc:
            exc.where = exc.where or self._where
            raise

    async def read(self) -> bytes:
        """The whole decoded body, within the size cap."""
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def aclose(self) -> None:
        """Release the connection."""
        await self._inner.aclose()


class ProbeHTTP:
    """One probe's HTTP client: the network session plus hop and phase attribution."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
        hop: Hop = "client_to_upstream",
        phase: str = "request",
        follow_redirects: bool = False,
        within_origin: bool = False,
    ) -> Response:
        """Send one request for `phase` at `hop`; see `exporter.net.Session.request`."""
        try:
            inner = await self.session.request(
                method,
                url,
                headers=headers,
                body=body,
                follow_redirects=follow_redirects,
                within_origin=within_origin,
            )
        except NetError as exc:
            exc.where = exc.where or (hop, phase)
            raise
        return Response(inner, hop, phase)

    @property
    def tls(self) -> TLSInfo | None:
        """The TLS details of the probe's first TLS connection, if any."""
        return self.session.tls

    @property
    def setup_seconds(self) -> float:
        """Seconds spent on DNS, connect and TLS so far."""
        return self.session.setup_seconds

    @property
    def current_setup(self) -> str | None:
        """The connection set-up phase under way (dns, connect, tls), if any."""
        return self.session.current_setup

    @property
    def last_data_at(self) -> float:
        """When bytes last arrived from the target (perf_counter)."""
        return self.session.last_data_at

    def start_step(self) -> None:
        """A new step begins: its time starts when its first request bytes are written."""
        self.session.wire.step_first_send = None

    @property
    def step_first_send(self) -> tuple[float, float] | None:
        """(when the step's first request bytes were written, set-up seconds by then)."""
        wire = self.session.wire
        if wire.step_first_send is None:
            return None
        return wire.step_first_send, wire.step_setup_at_send

    @property
    def connections_opened(self) -> int:
        """How many connections the probe opened."""
        return self.session.connections_opened

    @property
    def http_version(self) -> str | None:
        """The HTTP version the last response used, if any."""
        return self.session.http_version

    @property
    def redactor(self) -> Redactor:
        """What scrubs the credentials the probe sent from any text."""
        return self.session.redactor

    async def aclose(self) -> None:
        """Close the probe's connections."""
        await self.session.aclose()
