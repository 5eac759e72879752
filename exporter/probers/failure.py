"""The fixed failure reasons, hops and the mapping from exceptions to them.

Reasons and hops are a contract with the dashboards and alert rules: grow them deliberately and
document each one in the README's metric reference.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from dataclasses import dataclass
from typing import Final, Literal

from ..net import errors as net

Hop = Literal[
    "client_to_upstream",
    "client_to_gateway",
    "gateway_to_upstream",
    "client_to_auth_server",
    "exporter",
]
HOPS: Final[tuple[Hop, ...]] = (
    "client_to_upstream",
    "client_to_gateway",
    "gateway_to_upstream",
    "client_to_auth_server",
    "exporter",
)

# The hops by role, for the probers that name them.
DIRECT_HOP: Final[Hop] = "client_to_upstream"
GATEWAY_HOP: Final[Hop] = "client_to_gateway"
UPSTREAM_HOP: Final[Hop] = "gateway_to_upstream"
AUTH_HOP: Final[Hop] = "client_to_auth_server"

REASONS: Final[frozenset[str]] = frozenset(
    {
        "dns",
        "connect_refused",
        "connect_timeout",
        "tls",
        "timeout",
        "http_status",
        "auth_required",
        "forbidden",
        "insufficient_scope",
        "token_rejected",
        "token_fetch_failed",
        "not_mcp",
        "sse_protocol_error",
        "jsonrpc_error",
        "jsonrpc_invalid",
        "protocol_version_unsupported",
        "session_missing",
        "session_expired",
        "initialize_invalid",
        "capability_missing",
        "expectation_failed",
        "tool_error",
        "upstream_unreachable",
        "metadata_unreachable",
        "metadata_invalid",
        "pkce_unsupported",
        "target_not_allowed",
        "response_too_large",
        "internal",
    }
)


class ProbeFailure(Exception):
    """A probe step failed: which hop, which phase, which reason, and a readable detail.

    `detail` is for logs and reports only; it never becomes a label value.
    """

    def __init__(self, hop: Hop, phase: str, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown failure reason {reason!r}")
        super().__init__(detail)
        self.hop: Hop = hop
        self.phase = phase
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Classified:
    """What an unexpected exception means for the probe."""

    reason: str
    detail: str


def root_cause(exc: BaseException) -> BaseException:
    """Unwrap exception groups and chained causes down to the first leaf.

    Gateways built on anyio report `ExceptionGroup(... ConnectError)`; the leaf is what happened.
    """
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
            continue
        if isinstance(exc, ProbeFailure):
            return exc
        nxt = exc.__cause__
        if nxt is not None and not isinstance(exc, OSError | ssl.SSLError):
            exc = nxt
            continue
        break
    return exc


# Network errors: (reason, the connection phase they belong to, or None for the request's own).
_NET: Final[tuple[tuple[type[net.NetError], str, str | None], ...]] = (
    (net.DNSFailed, "dns", "dns"),
    (net.ConnectTimedOut, "connect_timeout", "connect"),
    (net.ConnectRefused, "connect_refused", "connect"),
    (net.ProxyFailed, "connect_refused", "proxy_connect"),
    (net.TLSFailed, "tls", "tls"),
    (net.HTTP2Required, "tls", "tls"),
    (net.TooLarge, "response_too_large", None),
    (net.InvalidURL, "target_not_allowed", None),
    (net.InvalidRequest, "internal", None),
    (net.NotHTTP, "not_mcp", None),
    (net.ConnectionDropped, "http_status", None),
    (net.ProtocolViolation, "http_status", None),
    (net.TooManyRedirects, "http_status", None),
)


def failure_from(
    exc: BaseException, hop: Hop, phase: str, setup: str | None = None
) -> ProbeFailure:
    """The one mapping from an exception that ended a probe step to (hop, phase, reason).

    `hop` and `phase` are where the probe was; a network error that knows the request it
    failed (`where`) is attributed there, and a connection failure to its connection phase.
    `setup` is the connection phase under way, if any (dns, connect, tls, proxy_connect).
    """
    leaf = root_cause(exc)
    if isinstance(leaf, ProbeFailure):
        return leaf
    if isinstance(leaf, net.NetError):
        where_hop, where_phase = leaf.where if leaf.where is not None else (hop, phase)
        for kind, reason, own_phase in _NET:
            if isinstance(leaf, kind):
                at: Hop = "exporter" if reason == "internal" else _hop(where_hop, hop)
                return ProbeFailure(at, own_phase or where_phase, reason, leaf.detail)
    classified = classify(leaf)
    where = setup or phase
    if classified.reason in ("dns", "tls"):
        # A TLS 1.3 server rejects a client certificate after the handshake, with an alert
        # that arrives on the first read; it is still the tls phase that failed.
        where = classified.reason
    if classified.reason == "internal":
        return ProbeFailure("exporter", where, "internal", classified.detail)
    return ProbeFailure(hop, where, classified.reason, classified.detail)


def _hop(name: str, default: Hop) -> Hop:
    return next((h for h in HOPS if h == name), default)


def classify(exc: BaseException) -> Classified:
    """Map an exception that escaped a probe step onto a failure reason."""
    leaf = root_cause(exc)
    if isinstance(leaf, ProbeFailure):
        return Classified(leaf.reason, leaf.detail)
    if isinstance(leaf, net.NetError):
        reason = next((r for kind, r, _p in _NET if isinstance(leaf, kind)), "internal")
        return Classified(reason, leaf.detail)
    if isinstance(leaf, socket.gaierror):
        return Classified("dns", f"name resolution failed: {leaf.strerror or leaf}")
    if isinstance(leaf, ssl.SSLError | ssl.CertificateError):
        return Classified("tls", f"TLS handshake failed: {_first_line(leaf)}")
    if isinstance(leaf, ConnectionRefusedError):
        return Classified("connect_refused", "connection refused")
    if isinstance(leaf, TimeoutError | asyncio.TimeoutError):
        return Classified("timeout", "timed out")
    if isinstance(leaf, ConnectionResetError | BrokenPipeError | asyncio.IncompleteReadError):
        return Classified("http_status", f"connection closed by peer: {_first_line(leaf)}")
    if isinstance(leaf, OSError):
        if leaf.errno in (errno.ECONNREFUSED,):
            return Classified("connect_refused", "connection refused")
        if leaf.errno in (errno.ETIMEDOUT,):
            return Classified("connect_timeout", "connect timed out")
        if leaf.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            return Classified("connect_refused", f"host unreachable: {leaf.strerror}")
        return Classified("connect_refused", f"socket error: {leaf.strerror or leaf}")
    return Classified("internal", f"{type(leaf).__name__}: {_first_line(leaf)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
