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


def classify(exc: BaseException) -> Classified:
    """Map an exception that escaped a probe step onto a failure reason."""
    leaf = root_cause(exc)
    if isinstance(leaf, ProbeFailure):
        return Classified(leaf.reason, leaf.detail)
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
