"""A small HTTP/1.1 client made for probing.

Why not a general-purpose client: a probe must time DNS, TCP connect and the TLS handshake
separately and exactly, apply the target policy to the address it actually connects to, stop
reading at a size cap, and cost little CPU per request. One `HTTPSession` lives for one probe:
requests within it share keep-alive connections (as a real client's session would), and nothing
survives into the next probe.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urljoin, urlsplit

from ..redact import Redactor, header_secrets
from .failure import Hop, ProbeFailure

DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_READ_CHUNK: Final = 65536
# What a chunk costs beyond its bytes, in bytes' worth of work (for yielding to the loop).
_CHUNK_OVERHEAD: Final = 512
_REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})

# Called with (phase, seconds) for dns, connect and tls.
PhaseRecorder = Callable[[str, float], None]
# Called with (url, host, ip, port); raises ProbeFailure(target_not_allowed) to refuse.
AddressPolicy = Callable[[str, str, str, int], None]
# Called with the URL of every request, redirects included, before anything is sent.
URLPolicy = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what a target may send back."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_redirects: int = 5


@dataclass(slots=True)
class TLSInfo:
    """What the TLS handshake revealed, for probe_ssl_* and probe_tls_version_info."""

    version: str
    cert_not_after: float | None


@dataclass(slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
        host = parts.hostname
        if not host:
            raise ValueError("URL has no host")
        return cls(scheme, host, parts.port or DEFAULT_PORTS[scheme])

    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


class Headers:
    """Response headers: case-insensitive, repeated fields kept in order."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self._items:
            if key == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self._items if k == lname]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


class _Connection:
    __slots__ = ("origin", "reader", "reusable", "writer")

    def __init__(
        self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.reusable = True

    def close(self) -> None:
        self.reusable = False
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort() if transport.get_extra_info("sslcontext") else transport.close()


class Response:
    """A response whose body is read on demand, within the session's size cap."""

    def __init__(
        self,
        session: HTTPSession,
        conn: _Connection,
        method: str,
        url: str,
        status: int,
        reason: str,
        headers: Headers,
        hop: Hop,
        phase: str,
    ) -> None:
        self._session = session
        self._conn = conn
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers
        self._hop: Hop = hop
        self._phase = phase
        self._done = False
        self._body_iter: AsyncIterator[bytes] | None = None

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' if absent)."""
        value = self.headers.get("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    def _has_body(self) -> bool:
        return not (self.method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives; raises response_too_large past the cap."""
        if self._body_iter is not None:
            raise RuntimeError("body already being read")
        self._body_iter = self._raw_chunks()
        total = 0
        cap = self._session.limits.max_body_bytes
        work = 0
        async for chunk in self._body_iter:
            total += len(chunk)
            if total > cap:
                self._conn.close()
                raise ProbeFailure(
                    self._hop,
                    self._phase,
                    "response_too_large",
                    f"response body from {self.url} exceeds {cap} bytes",
                )
            yield chunk
            # Reads return at once while data is buffered, so a fast target would hold the
            # event loop for its whole body; let other probes and /metrics in regularly.
            work += len(chunk) + _CHUNK_OVERHEAD
            if work >= _READ_CHUNK:
                work = 0
                await asyncio.sleep(0)
        self._finish()

    async def read(self) -> bytes:
        """Read the whole body (bounded by the session's cap)."""
        parts = [chunk async for chunk in self.iter_chunks()]
        return b"".join(parts)

    async def _raw_chunks(self) -> AsyncIterator[bytes]:
        reader = self._conn.reader
        if not self._has_body():
            return
        transfer = (self.headers.get("transfer-encoding") or "").lower()
        if "chunked" in transfer:
            async for part in self._chunked(reader):
                yield part
            return
        length_value = self.headers.get("content-length")
        if length_value is not None:
            length_text = length_value.strip()
            if not _is_digits(length_text, "0123456789"):
                self._conn.close()
                raise ProbeFailure(
                    self._hop, self._phase, "http_status", "invalid Content-Length header"
                )
            remaining = int(length_text)
            if remaining > self._session.limits.max_body_bytes:
                self._conn.close()
                raise ProbeFailure(
                    self._hop,
                    self._phase,
                    "response_too_large",
                    f"Content-Length {remaining} from {self.url} exceeds "
                    f"{self._session.limits.max_body_bytes} bytes",
                )
            async for data in self._exactly(reader, remaining):
                yield data
            return
        # Close-delimited body (HTTP/1.0 style): the connection ends with it.
        self._conn.reusable = False
        while True:
            data = await reader.read(_READ_CHUNK)
            if not data:
                return
            yield data

    async def _exactly(self, reader: asyncio.StreamReader, size: int) -> AsyncIterator[bytes]:
        """`size` bytes as they arrive; a connection that ends early is an incomplete read."""
        remaining = size
        while remaining > 0:
            data = await reader.read(min(remaining, _READ_CHUNK))
            if not data:
                self._conn.close()
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data

    async def _chunked(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            line = await self._line(reader)
            size_text = line.split(b";", 1)[0].strip().decode("latin-1")
            if not _is_digits(size_text, "0123456789abcdefABCDEF") or len(size_text) > 16:
                raise self._malformed()
            size = int(size_text, 16)
            if size == 0:
                # Trailers end with an empty line; together they are held to the header cap.
                trailers = 0
                while True:
                    try:
                        trailer = await self._line(reader)
                    except asyncio.IncompleteReadError:
                        return  # the body was complete; only the final CRLF is missing
                    if trailer in (b"\r\n", b"\n"):
                        return
                    trailers += len(trailer)
                    if trailers > self._session.limits.max_header_bytes:
                        raise self._line_too_long()
            if size > self._session.limits.max_body_bytes:
                self._conn.close()
                raise ProbeFailure(
                    self._hop,
                    self._phase,
                    "response_too_large",
                    f"chunk of {size} bytes from {self.url} exceeds the body cap",
                )
            async for data in self._exactly(reader, size):
                yield data
            if await reader.readexactly(2) != b"\r\n":
                raise self._malformed()

    async def _line(self, reader: asyncio.StreamReader) -> bytes:
        """One line of chunked framing, held to the header cap (readline would raise ValueError)."""
        try:
            return await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise self._line_too_long() from None
        except asyncio.IncompleteReadError:
            self._conn.close()
            raise

    def _malformed(self) -> ProbeFailure:
        self._conn.close()
        return ProbeFailure(self._hop, self._phase, "http_status", "malformed chunked encoding")

    def _line_too_long(self) -> ProbeFailure:
        self._conn.close()
        return ProbeFailure(
            self._hop,
            self._phase,
            "response_too_large",
            f"chunked framing from {self.url} exceeds "
            f"{self._session.limits.max_header_bytes} bytes",
        )

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        conn_header = (self.headers.get("connection") or "").lower()
        if conn_header == "close":
            self._conn.reusable = False
        self._session._release(self._conn)

    async def aclose(self) -> None:
        """Release the connection; an unread body makes it unusable, so it is closed."""
        if self._done:
            return
        self._done = True
        self._conn.close()
        self._session._release(self._conn)


class _TimedProtocol(asyncio.StreamReaderProtocol):
    """Notes when bytes arrive, before the waiting coroutine is resumed.

    On a busy event loop a coroutine resumes well after its data came in; timing a phase up to
    the arrival of its answer keeps the exporter's own load out of what it reports.
    """

    def __init__(self, reader: asyncio.StreamReader, session: HTTPSession) -> None:
        super().__init__(reader)
        self._session = session

    def data_received(self, data: bytes) -> None:
        self._session.last_data_at = time.perf_counter()
        super().data_received(data)


@dataclass
class HTTPSession:
    """One probe's HTTP client. Not shared between probes."""

    record_phase: PhaseRecorder
    limits: Limits = field(default_factory=Limits)
    ssl_context: ssl.SSLContext | None = None
    server_name: str | None = None
    address_policy: AddressPolicy | None = None
    url_policy: URLPolicy | None = None
    user_agent: str = "mcp-exporter"
    tls: TLSInfo | None = None
    connections_opened: int = 0
    setup_seconds: float = 0.0
    # The connection phase under way (dns, connect, tls), for attributing a timeout.
    current_setup: str | None = None
    # Every credential sent, so the probe's log and notes can be scrubbed of echoes.
    redactor: Redactor = field(default_factory=Redactor)
    # perf_counter() when bytes last arrived on any of this session's connections.
    last_data_at: float = 0.0
    _idle: dict[tuple[str, str, int], list[_Connection]] = field(default_factory=dict)
    _all: list[_Connection] = field(default_factory=list)

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
        """Send one request and return once the status line and headers have arrived.

        With `follow_redirects`, redirects are followed up to the redirect cap. With
        `within_origin` too, only a redirect that keeps the origin and the method is followed
        (a trailing-slash normalisation, say); any other is returned for the caller to report,
        so that credentials and the message never go where the module did not send them.
        """
        for _ in range(self.limits.max_redirects + 1):
            response = await self._request_once(method, url, headers, body, hop, phase)
            location = response.headers.get("location")
            if not (follow_redirects and response.status in _REDIRECT_CODES and location):
                return response
            try:
                next_url = urljoin(url, location)
                same_origin = Origin.of(next_url).key() == Origin.of(url).key()
            except ValueError:
                next_url, same_origin = "", False
            next_method, next_body = method, body
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                next_method, next_body = "GET", None
            if not next_url or (within_origin and not (same_origin and next_method == method)):
                return response
            await response.aclose()
            url, method, body = next_url, next_method, next_body
        raise ProbeFailure(
            hop, phase, "http_status", f"more than {self.limits.max_redirects} redirects"
        )

    async def _request_once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | None,
        hop: Hop,
        phase: str,
    ) -> Response:
        try:
            origin = Origin.of(url)
        except ValueError as exc:
            raise ProbeFailure(hop, phase, "target_not_allowed", f"{url}: {exc}") from None
        if self.url_policy is not None:
            self.url_policy(url)
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        header_items = headers.items() if isinstance(headers, Mapping) else headers
        host_header = origin.host if ":" not in origin.host else f"[{origin.host}]"
        if origin.port != DEFAULT_PORTS[origin.scheme]:
            host_header = f"{host_header}:{origin.port}"
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}"]
        names = set()
        for name, value in header_items:
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ProbeFailure(
                    "exporter", phase, "internal", f"header {name!r} contains a line break"
                )
            names.add(name.lower())
            lines.append(f"{name}: {value}")
            for secret in header_secrets(name, value):
                self.redactor.add(secret)
        if "user-agent" not in names:
            lines.append(f"User-Agent: {self.user_agent}")
        lines.append("Accept-Encoding: identity")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        payload = head + body if body else head

        conn, reused = await self._acquire(origin, url, hop)
        try:
            conn.writer.write(payload)
            status, reason, resp_headers = await self._read_head(conn, url, hop, phase)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            conn.close()
            if not reused:
                raise
            # A keep-alive connection the server had closed: one retry on a new one, as
            # browsers and HTTP libraries do for idempotent reuse failures.
            del exc
            conn, _ = await self._acquire(origin, url, hop, fresh=True)
            conn.writer.write(payload)
            status, reason, resp_headers = await self._read_head(conn, url, hop, phase)
        return Response(self, conn, method, url, status, reason, resp_headers, hop, phase)

    async def _read_head(
        self, conn: _Connection, url: str, hop: Hop, phase: str
    ) -> tuple[int, str, Headers]:
        reader = conn.reader
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                conn.close()
                raise ProbeFailure(
                    hop,
                    phase,
                    "response_too_large",
                    f"response headers from {url} exceed {self.limits.max_header_bytes} bytes",
                ) from None
            text = raw.decode("latin-1")
            status_line, _, rest = text.partition("\r\n")
            pieces = status_line.split(" ", 2)
            if (
                len(pieces) < 2
                or not pieces[0].startswith("HTTP/")
                or len(pieces[1]) != 3
                or not _is_digits(pieces[1], "0123456789")
            ):
                conn.close()
                raise ProbeFailure(
                    hop, phase, "not_mcp", f"{url} did not answer with HTTP: {status_line[:80]!r}"
                )
            status = int(pieces[1])
            items: list[tuple[str, str]] = []
            for line in rest.split("\r\n"):
                if not line:
                    continue
                name, sep, value = line.partition(":")
                if not sep:
                    continue
                items.append((name.strip().lower(), value.strip()))
            if status == 100:
                continue
            if pieces[0] == "HTTP/1.0":
                conn.reusable = False
            return status, pieces[2] if len(pieces) > 2 else "", Headers(items)

    async def _acquire(
        self, origin: Origin, url: str, hop: Hop, *, fresh: bool = False
    ) -> tuple[_Connection, bool]:
        idle = self._idle.get(origin.key())
        if idle and not fresh:
            conn = idle.pop()
            if not conn.writer.transport.is_closing() and not conn.reader.at_eof():
                return conn, True
            conn.close()
        conn = await self._connect(origin, url, hop)
        self._all.append(conn)
        return conn, False

    def _release(self, conn: _Connection) -> None:
        if conn.reusable and not conn.writer.transport.is_closing():
            self._idle.setdefault(conn.origin.key(), []).append(conn)
        else:
            conn.close()

    async def _connect(self, origin: Origin, url: str, hop: Hop) -> _Connection:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        self.current_setup = "dns"
        try:
            addresses = await self._resolve(origin, loop)
        finally:
            self._record("dns", time.perf_counter() - started)
        for ip, _family in addresses:
            if self.address_policy is not None:
                self.address_policy(url, origin.host, ip, origin.port)
        last_error: BaseException | None = None
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        started = time.perf_counter()
        self.current_setup = "connect"
        try:
            for ip, _family in addresses:
                try:
                    reader, writer = await self._open(loop, ip, origin.port)
                    break
                except OSError as exc:
                    last_error = exc
        finally:
            self._record("connect", time.perf_counter() - started)
        if writer is None or reader is None:
            assert last_error is not None
            raise last_error
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if origin.scheme == "https":
            started = time.perf_counter()
            self.current_setup = "tls"
            try:
                context = self.ssl_context or ssl.create_default_context()
                await writer.start_tls(context, server_hostname=self.server_name or origin.host)
            except BaseException:
                writer.transport.abort()
                raise
            finally:
                self._record("tls", time.perf_counter() - started)
            self._note_tls(writer)
        self.current_setup = None
        self.connections_opened += 1
        return _Connection(origin, reader, writer)

    async def _open(
        self, loop: asyncio.AbstractEventLoop, ip: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """asyncio.open_connection, with a protocol that notes when bytes arrive."""
        reader = asyncio.StreamReader(limit=self.limits.max_header_bytes, loop=loop)
        protocol = _TimedProtocol(reader, self)
        transport, _ = await loop.create_connection(lambda: protocol, ip, port)
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    def _note_tls(self, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        not_after = _der_not_after(der) if der else None
        self.tls = TLSInfo(version=ssl_object.version() or "unknown", cert_not_after=not_after)

    async def _resolve(
        self, origin: Origin, loop: asyncio.AbstractEventLoop
    ) -> list[tuple[str, int]]:
        try:
            ip = ipaddress.ip_address(origin.host)
        except ValueError:
            pass
        else:
            return [(str(ip), socket.AF_INET6 if ip.version == 6 else socket.AF_INET)]
        infos = await loop.getaddrinfo(
            origin.host, origin.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        seen: list[tuple[str, int]] = []
        for family, _type, _proto, _canon, sockaddr in infos:
            entry = (str(sockaddr[0]), int(family))
            if entry not in seen:
                seen.append(entry)
        return seen

    def _record(self, phase: str, seconds: float) -> None:
        self.setup_seconds += seconds
        self.record_phase(phase, seconds)

    async def aclose(self) -> None:
        """Close every connection this session opened."""
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()


def _is_digits(text: str, alphabet: str) -> bool:
    """Whether `text` is non-empty and uses only `alphabet` (str.isdigit accepts '²', int() not)."""
    return bool(text) and all(c in alphabet for c in text)


def _der_not_after(der: bytes) -> float | None:
    """The notAfter of a DER certificate, in Unix seconds (None if it cannot be read).

    Read from the DER form because getpeercert() is empty when verification is off
    (insecure_skip_verify), and an expiring certificate is worth knowing about then too.
    """
    try:
        _tag, start, _end = _der_item(der, 0)  # Certificate
        _tag, pos, tbs_end = _der_item(der, start)  # TBSCertificate
        if der[pos] == 0xA0:  # [0] version
            pos = _der_item(der, pos)[2]
        for _field in range(3):  # serialNumber, signature, issuer
            pos = _der_item(der, pos)[2]
        tag, pos, _end = _der_item(der, pos)  # validity
        if tag != 0x30 or pos >= tbs_end:
            return None
        pos = _der_item(der, pos)[2]  # notBefore
        tag, start, end = _der_item(der, pos)  # notAfter
        text = der[start:end].decode("ascii")
        if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ
            year = int(text[:2])
            text = f"{19 if year >= 50 else 20}{text}"
        elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
            return None
        moment = datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None
    return moment.timestamp()


def _der_item(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER item at `pos`."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length
