"""The network layer's own errors.

They say what went wrong on the wire (name resolution, connect, TLS, the proxy, HTTP framing,
size caps) and nothing about MCP: `exporter/probers/failure.py` alone maps them to a probe's
(hop, phase, reason). `protocol_error` turns the HTTP parser's complaints into them, and `shown`
is how their messages name a URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit


class NetError(OSError):
    """Base class: `detail` is a readable one-line description for logs and reports.

    An OSError, as socket and TLS errors are, so code that treats "the network failed" as one
    case keeps doing so. `where` is the (hop, phase) of the request that failed, set by the
    caller that knows them; the network layer itself never sets it.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.where: tuple[str, str] | None = None

    def __str__(self) -> str:
        return self.detail


class InvalidURL(NetError):
    """The URL cannot be requested (scheme, host, characters)."""


class InvalidRequest(NetError):
    """A request header or value cannot be sent (line breaks, non-Latin-1)."""


class DNSFailed(NetError):
    """The target's name did not resolve."""


class ConnectRefused(NetError):
    """The TCP connection was refused, reset or the host was unreachable."""


class ConnectTimedOut(NetError):
    """The TCP connection attempt timed out (the operating system gave up)."""


class TLSFailed(NetError):
    """The TLS handshake failed (certificate, protocol, or the peer closed during it)."""


class HTTP2Required(NetError):
    """The module requires HTTP/2 and the server did not negotiate it."""


class ProxyFailed(NetError):
    """The proxy could not be reached or refused to carry the request (CONNECT not 2xx)."""


class ConnectionDropped(NetError):
    """The server closed the connection after the request went out, before a full answer.

    The request is not sent again: a POST may already have had its effect (a tool ran).
    """


class ProtocolViolation(NetError):
    """The answer is not valid HTTP (malformed status line, conflicting lengths, bad framing)."""


class NotHTTP(ProtocolViolation):
    """The server did not answer with an HTTP status line at all."""


class TooLarge(NetError):
    """The answer's headers or (decoded) body exceed the configured cap."""


class TooManyRedirects(NetError):
    """More redirects than the configured cap."""


def protocol_error(exc: Exception) -> NetError:
    """The error for httpcore's RemoteProtocolError `exc`, by what its text says went wrong."""
    text = str(exc) or type(exc).__name__
    if "disconnected without sending a response" in text or "peer closed" in text.lower():
        return ConnectionDropped(
            "the server closed the connection after the request went out, before answering"
        )
    if "buffer too long" in text.lower():
        return TooLarge("response headers or framing exceed the HTTP parser's 100 KiB limit")
    if "status line" in text.lower() or "h11 only supports" in text.lower():
        return NotHTTP(f"the server did not answer with HTTP: {text.splitlines()[0][:120]}")
    return ProtocolViolation(f"invalid HTTP answer: {text.splitlines()[0][:200]}")


def shown(url: str) -> str:
    """A URL for messages: no userinfo, no query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"[:200]
