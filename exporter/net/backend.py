"""The network backend under httpcore: our own DNS, policy, connect and TLS, each timed.

httpcore asks its backend for a TCP stream and, on https, for TLS on top of it. Doing both here
means the probe measures exactly what a client pays (name resolution, TCP connect, handshake),
every resolved address is checked against the target policy before anything is sent to it, and
the moment response bytes arrive is stamped in the protocol callback, before the waiting
coroutine runs: phase times then exclude the exporter's own event-loop lag.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, cast

import httpcore

from .errors import (
    ConnectionDropped,
    ConnectRefused,
    ConnectTimedOut,
    DNSFailed,
    HTTP2Required,
    ProxyFailed,
    TLSFailed,
)
from .tls import TLSInfo, tls_info

# Called with (url, host, ip, port) for every address before connecting; raises to refuse.
AddressCheck = Callable[[str, str, str, int], None]
# Pause reading from the socket when this much is buffered and unread (a fast, huge answer).
_HIGH_WATER: Final = 256 * 1024
# Writes gathered before they go out even though nothing is read yet (a large request body).
_COALESCE: Final = 64 * 1024


@dataclass
class WireState:
    """What one probe's connections observed, shared by its backend and session."""

    record_phase: Callable[[str, float], None]
    setup_seconds: float = 0.0
    # The connection phase under way (dns, connect, tls, proxy_connect), to attribute a timeout.
    current_setup: str | None = None
    # perf_counter() when bytes last arrived on any of this probe's connections.
    last_data_at: float = 0.0
    # perf_counter() when the current step's first request bytes were written (None: not yet),
    # and the set-up time accrued by then: a step is timed from its request on the wire.
    step_first_send: float | None = None
    step_setup_at_send: float = 0.0
    connections_opened: int = 0
    tls: TLSInfo | None = None
    # (host, port) -> the URL being requested there, for the policy's address check.
    urls: dict[tuple[str, int], str] = field(default_factory=dict)

    def record(self, phase: str, seconds: float) -> None:
        """Count `seconds` of connection set-up for `phase` (dns, connect, tls, ...)."""
        self.setup_seconds += seconds
        self.record_phase(phase, seconds)


class _Protocol(asyncio.Protocol):
    """Buffers received bytes and stamps their arrival."""

    def __init__(self, state: WireState) -> None:
        self._state = state
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._state.last_data_at = time.perf_counter()
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read(self, max_bytes: int) -> bytes:
        while not self.buffer:
            if self.eof:
                if isinstance(self.error, ssl.SSLError):
                    # TLS 1.3 servers refuse a client certificate after the handshake, with an
                    # alert that arrives on the first read: still the TLS layer's verdict.
                    raise TLSFailed(f"TLS alert from the server: {_reason(self.error)}")
                if self.error is not None:
                    raise ConnectionDropped(f"connection lost: {_reason(self.error)}")
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if self._paused and len(self.buffer) < _HIGH_WATER // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def drain(self) -> None:
        if self._drain is not None:
            await self._drain


class Stream(httpcore.AsyncNetworkStream):
    """A TCP (or TLS) connection as httpcore sees it."""

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _Protocol,
        state: WireState,
        require_http2: bool,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._state = state
        self._require_http2 = require_http2
        self._pending = bytearray()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """The next bytes from the peer; held request bytes go out first."""
        if self._pending:
            await self._flush()
        return await self._protocol.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Queue request bytes; they are sent when the answer is read or enough gathered."""
        # httpcore writes a request's head and body separately; each write to a socket is a
        # system call that wakes the server. Writes are held until the answer is read (or
        # enough has gathered), so a request leaves in one segment, as a hand-tuned client's.
        if not buffer:
            return
        self._pending += buffer
        if len(self._pending) >= _COALESCE:
            await self._flush()

    async def _flush(self) -> None:
        data, self._pending = bytes(self._pending), bytearray()
        if self._transport.is_closing():
            raise ConnectionDropped("the server closed the connection before the request went out")
        state = self._state
        if state.step_first_send is None:
            state.step_first_send = time.perf_counter()
            state.step_setup_at_send = state.setup_seconds
        self._transport.write(data)
        await self._protocol.drain()

    async def aclose(self) -> None:
        """Close the connection without waiting on the peer."""
        self._pending.clear()
        if not self._transport.is_closing():
            # A TLS close_notify exchange would wait on the peer; the probe is over.
            if self._transport.get_extra_info("sslcontext") is not None:
                self._transport.abort()
            else:
                self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Upgrade to TLS (through a proxy's tunnel), timed as the tls phase."""
        if self._pending:
            await self._flush()  # a proxy's CONNECT, sent before the tunnel's handshake
        loop = asyncio.get_running_loop()
        state = self._state
        state.current_setup = "tls"
        started = time.perf_counter()
        try:
            transport = await loop.start_tls(
                self._transport, self._protocol, ssl_context, server_hostname=server_hostname
            )
        except (ssl.SSLError, ssl.CertificateError) as exc:
            self._transport.abort()
            raise TLSFailed(f"TLS handshake failed: {_reason(exc)}") from None
        except (OSError, ConnectionError) as exc:
            self._transport.abort()
            raise TLSFailed(f"connection closed during the TLS handshake: {_reason(exc)}") from None
        finally:
            state.record("tls", time.perf_counter() - started)
        # Cleared only on success: a deadline that cancels the handshake must find it named.
        state.current_setup = None
        if transport is None:  # pragma: no cover - only when the loop is closing
            raise TLSFailed("TLS could not be started")
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            state.tls = tls_info(ssl_object)
            if self._require_http2 and ssl_object.selected_alpn_protocol() != "h2":
                transport.abort()
                raise HTTP2Required(
                    "the server did not negotiate HTTP/2 (ALPN "
                    f"{ssl_object.selected_alpn_protocol() or 'none'}) and the module requires it"
                )
        return Stream(transport, self._protocol, state, self._require_http2)

    def get_extra_info(self, info: str) -> Any:
        """What httpcore asks of a connection: readability, the TLS object, addresses."""
        if info == "is_readable":
            # An idle keep-alive connection with data or EOF pending cannot be reused.
            return bool(self._protocol.buffer) or self._protocol.eof
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        return self._transport.get_extra_info(info)


class Backend(httpcore.AsyncNetworkBackend):
    """One probe's backend: resolves, checks, connects; never shared between probes."""

    def __init__(
        self,
        state: WireState,
        check_address: AddressCheck | None,
        require_http2: bool = False,
        proxy: tuple[str, int] | None = None,
    ) -> None:
        self._state = state
        self._check_address = check_address
        self._require_http2 = require_http2
        self._proxy = proxy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve, check each address against the policy, connect: each phase timed."""
        if self._proxy is not None and (host, port) == self._proxy:
            return await self._connect_proxy(host, port)
        state = self._state
        loop = asyncio.get_running_loop()
        state.current_setup = "dns"
        started = time.perf_counter()
        try:
            addresses = await resolve(loop, host, port)
        finally:
            state.record("dns", time.perf_counter() - started)
        state.current_setup = None
        if self._check_address is not None:
            url = state.urls.get((host, port), f"http://{host}:{port}/")
            for ip in addresses:
                self._check_address(url, host, ip, port)
        state.current_setup = "connect"
        started = time.perf_counter()
        try:
            transport, protocol = await _connect_any(loop, addresses, port, state)
        finally:
            state.record("connect", time.perf_counter() - started)
        state.current_setup = None
        state.connections_opened += 1
        return Stream(transport, protocol, state, self._require_http2)

    async def _connect_proxy(self, host: str, port: int) -> httpcore.AsyncNetworkStream:
        """The proxy is the operator's own hop: no target policy, failures name the proxy."""
        state = self._state
        loop = asyncio.get_running_loop()
        state.current_setup = "proxy_connect"
        started = time.perf_counter()
        try:
            addresses = await resolve(loop, host, port)
            transport, protocol = await _connect_any(loop, addresses, port, state)
        except (DNSFailed, ConnectRefused, ConnectTimedOut) as exc:
            raise ProxyFailed(f"proxy {host}:{port}: {exc.detail}") from None
        finally:
            state.record("proxy_connect", time.perf_counter() - started)
        state.current_setup = None
        state.connections_opened += 1
        return Stream(transport, protocol, state, self._require_http2)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Refused: targets are http(s) URLs."""
        raise ConnectRefused("unix sockets are not probed")

    async def sleep(self, seconds: float) -> None:
        """Sleep on the running loop."""
        await asyncio.sleep(seconds)


async def resolve(loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[str]:
    """The addresses of `host`, in the resolver's order, without duplicates."""
    literal = host.strip("[]")
    try:
        return [str(ipaddress.ip_address(literal))]
    except ValueError:
        pass
    try:
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except socket.gaierror as exc:
        raise DNSFailed(f"name resolution failed: {exc.strerror or exc}") from None
    except UnicodeError:
        raise DNSFailed("name resolution failed: the host name is not valid IDNA") from None
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = str(sockaddr[0])
        if ip not in seen:
            seen.append(ip)
    if not seen:
        raise DNSFailed("name resolution returned no addresses")
    return seen


async def _connect_any(
    loop: asyncio.AbstractEventLoop, addresses: list[str], port: int, state: WireState
) -> tuple[asyncio.Transport, _Protocol]:
    """Connect to the first address that accepts, as clients do."""
    last: OSError | None = None
    for ip in addresses:
        protocol = _Protocol(state)
        try:
            transport, _ = await loop.create_connection(_factory(protocol), ip, port)
        except OSError as exc:
            last = exc
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return transport, protocol
    assert last is not None
    if isinstance(last, TimeoutError) or last.errno == errno.ETIMEDOUT:
        raise ConnectTimedOut("connect timed out")
    if isinstance(last, ConnectionRefusedError) or last.errno == errno.ECONNREFUSED:
        raise ConnectRefused("connection refused")
    if last.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
        raise ConnectRefused(f"host unreachable: {last.strerror}")
    raise ConnectRefused(f"socket error: {last.strerror or last}")


def _factory(protocol: _Protocol) -> Callable[[], _Protocol]:
    return lambda: protocol


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
