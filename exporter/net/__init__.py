"""The network layer: httpx's transport stack (httpcore, h11, h2) under a backend of our own.

Nothing here knows MCP: requests go out, answers come back, and failures are this package's own
error types (`errors`), which `exporter/probers/failure.py` maps to a probe's hop, phase and reason.
"""

from .errors import NetError
from .proxy import ProxySettings
from .response import Headers, Limits, Response
from .session import HTTPVersion, Session, requestable
from .tls import TLSInfo

__all__ = [
    "HTTPVersion",
    "Headers",
    "Limits",
    "NetError",
    "ProxySettings",
    "Response",
    "Session",
    "TLSInfo",
    "requestable",
]
