"""One probe's HTTP client, on httpcore with our backend.

A `Session` lives for one probe: its requests share connections (HTTP/1.1 keep-alive or one
HTTP/2 connection per origin), as a real client's session would, and nothing survives into the
next probe. httpcore's connection pool is used directly rather than through `httpx.AsyncClient`:
the probe path needs none of the client's conveniences and every microsecond of it is paid per
target per scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal
from urllib.parse import urljoin, urlsplit

import h2.connection
import h2.exceptions
import httpcore

from ..redact import Redactor, header_secrets
from .backend import AddressCheck, Backend, WireState, resolve
from .connections import Connections
from .decoding import ACCEPT_ENCODING
from .errors import (
    ConnectionDropped,
    ConnectRefused,
    InvalidRequest,
    InvalidURL,
    NetError,
    ProtocolViolation,
    ProxyFailed,
    TooLarge,
    TooManyRedirects,
    protocol_error,
    shown,
)
from .proxy import ProxySettings
from .response import Headers, Limits, Response
from .tls import TLSInfo

DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})

# What a URL may hold to be sent on the request line: visible ASCII; and what h11 refuses there.
_REQUESTABLE_RE: Final = re.compile(r"[\x21-\x7e]+")
_UNSENDABLE_RE: Final = re.compile(r"[\x00-\x20\x7f]")

# Where h2 parses what the server sent (its protocol errors raised in there are the server's).
_RECEIVE_DATA: Final = h2.connection.H2Connection.receive_data.__code__

HTTPVersion = Literal["auto", "1.1", "2"]
# Direct connections, or one of httpcore's proxy pools.
_Pool = Connections | httpcore.AsyncHTTPProxy | httpcore.AsyncSOCKSProxy
# Called with the URL of every request, redirects included, before anything is sent; raises.
URLCheck = Callable[[str], None]


class Session:
    """One probe's HTTP client. Not shared between probes."""

    def __init__(
        self,
        *,
        record_phase: Callable[[str, float], None],
        limits: Limits,
        ssl_context: ssl.SSLContext | None,
        server_name: str | None = None,
        check_address: AddressCheck | None = None,
        check_url: URLCheck | None = None,
        http_version: HTTPVersion = "auto",
        proxy: ProxySettings | None = None,
        user_agent: str = "mcp-exporter",
    ) -> None:
        self.limits = limits
        self.wire = WireState(record_phase)
        self._ssl_context = ssl_context
        self._server_name = server_name
        self._check_address = check_address
        self._check_url = check_url
        self._http_version: HTTPVersion = http_version
        self._proxy = proxy
        self._user_agent = user_agent
        self._pools: dict[tuple[str | None, str], _Pool] = {}
        # Every credential sent, so the probe's log and notes can be scrubbed of echoes.
        self.redactor = Redactor()
        # The HTTP version of the last answer, for probe_http_version.
        self.http_version: str | None = None

    @property
    def tls(self) -> TLSInfo | None:
        """The TLS details of the session's first TLS connection, if any."""
        return self.wire.tls

    @property
    def setup_seconds(self) -> float:
        """Seconds spent on DNS, connect and TLS so far."""
        return self.wire.setup_seconds

    @property
    def current_setup(self) -> str | None:
        """The connection set-up phase under way (dns, connect, tls), if any."""
        return self.wire.current_setup

    @property
    def last_data_at(self) -> float:
        """When bytes last arrived on any connection (perf_counter)."""
        return self.wire.last_data_at

    @property
    def connections_opened(self) -> int:
        """How many connections the session opened."""
        return self.wire.connections_opened

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
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
            response = await self._send(method, url, headers, body)
            location = response.headers.get("location")
            if not (follow_redirects and response.status in _REDIRECT_CODES and location):
                return response
            try:
                next_url = urljoin(url, location)
                same_origin = _origin(next_url) == _origin(url)
            except (ValueError, InvalidURL):
                next_url, same_origin = "", False
            if not requestable(next_url):
                # A Location with spaces, controls or raw non-ASCII is no URL to follow.
                next_url = ""
            next_method, next_body = method, body
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                next_method, next_body = "GET", None
            if not next_url or (within_origin and not (same_origin and next_method == method)):
                return response
            await response.aclose()
            url, method, body = next_url, next_method, next_body
        raise TooManyRedirects(f"more than {self.limits.max_redirects} redirects")

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | None,
    ) -> Response:
        scheme, host, port = _origin(url)
        if self._check_url is not None:
            self._check_url(url)
        proxy_url = self._proxy.for_url(url) if self._proxy is not None else None
        if proxy_url is not None and self._check_address is not None:
            await _check_proxied_target(self._check_address, url, host, port)
        self.wire.urls[(host, port)] = url
        request_headers = self._headers(host, port, scheme, headers, body)
        if _UNSENDABLE_RE.search(url):
            # h11 would refuse the request target only once the request is being written.
            raise InvalidURL(
                f"{shown(url)} cannot be requested: it has spaces or control characters"
            )
        extensions: dict[str, object] = {}
        if self._server_name:
            extensions["sni_hostname"] = self._server_name
        try:
            request = httpcore.Request(
                method.encode("ascii"),
                url,
                headers=request_headers,
                content=body if body is not None else b"",
                extensions=extensions,
            )
        except (UnicodeError, ValueError, TypeError) as exc:
            raise InvalidURL(f"{shown(url)} cannot be requested: {exc}") from None
        pool = self._pool(proxy_url, scheme)
        try:
            raw = await pool.handle_async_request(request)
        except NetError:
            raise
        except httpcore.ProxyError as exc:
            raise ProxyFailed(f"the proxy refused the tunnel: {exc}") from None
        except httpcore.UnsupportedProtocol as exc:
            raise InvalidURL(f"{shown(url)}: {exc}") from None
        except httpcore.LocalProtocolError as exc:
            if not _received(exc):
                raise InvalidRequest(f"the request cannot be sent: {exc}") from None
            if isinstance(exc.args[0], h2.exceptions.DenialOfServiceError):
                raise TooLarge(
                    "response headers exceed the HTTP/2 parser's 64 KiB header list limit"
                ) from None
            raise ProtocolViolation(f"invalid HTTP/2 answer: {_first_line(exc)}") from None
        except ValueError as exc:
            # httpcore reads an HTTP/2 :status with int(): "abc" raises here.
            raise ProtocolViolation(f"invalid HTTP/2 answer: {_first_line(exc)}") from None
        except httpcore.RemoteProtocolError as exc:
            raise protocol_error(exc) from None
        except (httpcore.ReadError, httpcore.WriteError) as exc:
            raise ConnectionDropped(f"connection lost: {exc or type(exc).__name__}") from None
        except httpcore.ConnectError as exc:
            raise ConnectRefused(f"connect failed: {exc}") from None
        items = [(k.decode("latin-1").lower(), v.decode("latin-1").strip()) for k, v in raw.headers]
        size = sum(len(k) + len(v) + 4 for k, v in items)
        response = Response(raw, method, url, Headers(items), self.limits)
        self.http_version = response.http_version
        if size > self.limits.max_header_bytes:
            await response.aclose()
            raise TooLarge(
                f"response headers from {shown(url)} exceed {self.limits.max_header_bytes} bytes"
            )
        declared = response.headers.get("content-length")
        encoding = (response.headers.get("content-encoding") or "identity").strip().lower()
        cap = self.limits.max_body_bytes
        # Refused before reading: a body announced past the cap is never waited for. (h11 has
        # already refused a Content-Length that is not ASCII digits or that conflicts.)
        announced = declared is not None and declared.isascii() and declared.isdigit()
        if announced and encoding == "identity" and int(str(declared)) > cap:
            await response.aclose()
            raise TooLarge(f"Content-Length {declared} from {shown(url)} exceeds {cap} bytes")
        return response

    def _headers(
        self,
        host: str,
        port: int,
        scheme: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | None,
    ) -> list[tuple[bytes, bytes]]:
        host_header = host if ":" not in host else f"[{host}]"
        if port != DEFAULT_PORTS[scheme]:
            host_header = f"{host_header}:{port}"
        out = [(b"Host", host_header.encode("idna" if not host_header.isascii() else "ascii"))]
        names = set()
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            if any(c in name or c in value for c in "\r\n\0"):
                raise InvalidRequest(f"header {name[:60]!r} contains a line break")
            lname = name.lower()
            names.add(lname)
            for secret in header_secrets(name, value):
                self.redactor.add(secret)
            out.append((name.encode("latin-1", "replace"), value.encode("latin-1", "replace")))
        if "user-agent" not in names:
            out.append((b"User-Agent", self._user_agent.encode("latin-1", "replace")))
        if "accept-encoding" not in names:
            out.append((b"Accept-Encoding", ACCEPT_ENCODING.encode()))
        if body is not None:
            out.append((b"Content-Length", str(len(body)).encode()))
        return out

    def _pool(self, proxy_url: str | None, scheme: str) -> _Pool:
        key = (proxy_url, scheme if proxy_url is not None else "")
        existing = self._pools.get(key)
        if existing is not None:
            return existing
        version = self._http_version
        http1, http2 = version != "2", version != "1.1"
        pool: _Pool
        if proxy_url is None:
            backend = Backend(self.wire, self._check_address, require_http2=version == "2")
            pool = Connections(backend, self._ssl_context, http1, http2, self._server_name)
        else:
            assert self._proxy is not None
            parts = urlsplit(proxy_url)
            proxy_port = parts.port or DEFAULT_PORTS.get(parts.scheme, 1080)
            backend = Backend(
                self.wire,
                self._check_address,
                require_http2=version == "2",
                proxy=(parts.hostname or "", proxy_port),
            )
            auth = self._proxy.auth
            if auth is not None:
                self.redactor.add(auth[1])
            bare = f"{parts.scheme}://{_bracket(parts.hostname or '')}:{proxy_port}"
            if parts.scheme in ("socks5", "socks5h"):
                pool = httpcore.AsyncSOCKSProxy(
                    bare,
                    proxy_auth=auth,
                    ssl_context=self._ssl_context,
                    http1=http1,
                    http2=http2,
                    network_backend=backend,
                )
            else:
                pool = httpcore.AsyncHTTPProxy(
                    bare,
                    proxy_auth=auth,
                    ssl_context=self._ssl_context,
                    http1=http1,
                    http2=http2,
                    network_backend=backend,
                    # A forwarded request's connection is not reused: proxies such as tinyproxy
                    # close it after each answer without saying so, and a POST sent on a
                    # connection closing under it could not be sent again. CONNECT tunnels
                    # (https targets) stay open for the whole probe, like a direct connection.
                    keepalive_expiry=0.0 if scheme == "http" else None,
                )
        self._pools[key] = pool
        return pool

    async def aclose(self) -> None:
        """Close every connection this session opened."""
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            with contextlib.suppress(OSError, httpcore.NetworkError):
                await pool.aclose()


async def _check_proxied_target(check: AddressCheck, url: str, host: str, port: int) -> None:
    """Through a proxy the target's address is the proxy's business, but the policy still holds.

    An address literal is checked as it is; a name is resolved here and every address checked
    when it resolves (a proxy network may have no local DNS: then the URL rules alone apply).
    """
    try:
        addresses = await resolve(asyncio.get_running_loop(), host, port)
    except NetError:
        return
    for ip in addresses:
        check(url, host, ip, port)


def _received(exc: httpcore.LocalProtocolError) -> bool:
    """Whether h2 raised `exc` on what the server sent: httpcore reports every h2 protocol
    error as local, a server's oversized header block, push or bad settings included."""
    cause = exc.args[0] if exc.args else None
    if not isinstance(cause, h2.exceptions.ProtocolError):
        return False
    frame = cause.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code is _RECEIVE_DATA:
            return True
        frame = frame.tb_next
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def requestable(url: str) -> bool:
    """Whether `url` can go on the request line as it is: visible ASCII only (RFC 3986)."""
    return _REQUESTABLE_RE.fullmatch(url) is not None


def _origin(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL(f"unsupported URL scheme {parts.scheme[:20]!r}")
    host = parts.hostname
    if not host:
        raise InvalidURL("URL has no host")
    return scheme, host, port or DEFAULT_PORTS[scheme]


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
