"""LiteLLM's answer headers and _meta, read as bounded, sanitized values.

The `x-mcp-debug-*` headers LiteLLM sends with `x-litellm-mcp-debug: true` (how it resolved the
upstream credential, the server's auth type, the OAuth2 token state, the inbound credentials,
the outbound URL) and `_meta["litellm.ai/server_outcomes"]` of a `tools/list` result (per upstream
server `ok` with a tool count, or why not). Everything is bounded before it becomes a label;
masked credentials never become labels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from ..config import LiteLLMGateway

RESOLUTIONS: Final = (
    "unresolved",
    "no-auth",
    "static-token",
    "per-request-header",
    "oauth2-passthrough",
    "m2m-client-credentials",
    "stored-user-token",
    "token-exchange",
    "id-jag",
    "aws-sigv4",
    "extra-headers",
    "not-applicable",
    "resolution-failed",
    "multiple",
)
# `types/mcp.py:MCPAuth`, plus `unset` for LiteLLM's "(none)" (no server selected).
AUTH_TYPES: Final = (
    "none",
    "api_key",
    "bearer_token",
    "basic",
    "authorization",
    "oauth2",
    "aws_sigv4",
    "token",
    "oauth2_token_exchange",
    "oauth2_id_jag",
    "true_passthrough",
    "oauth_delegate",
    "unset",
)
TOKEN_STATES: Final = ("present", "none", "same_as_litellm_key")
# `faults/list_outcomes.py:ListFaultCategory`.
OUTCOME_STATUSES: Final = (
    "ok",
    "auth_required",
    "forbidden",
    "rate_limited",
    "timeout",
    "unreachable",
    "upstream_error",
    "internal",
)
_INBOUND_NAMES: Final = ("x-litellm-api-key", "authorization", "x-mcp-auth")
MAX_SERVERS: Final = 64
_MAX_HEADER: Final = 16 * 1024
_LABEL_MAX: Final = 64
_ENUM_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_NAME_BAD_RE: Final = re.compile(r"[^A-Za-z0-9_.-]")
_SAME_AS_KEY: Final = "SAME_AS_LITELLM_KEY"
_UNSET: Final = "(none)"


def enum_label(raw: str | None, known: tuple[str, ...]) -> str | None:
    """A label value for one of LiteLLM's enumerations: known values as they are, an unknown
    but well-formed value kept (LiteLLM grows these sets), anything else `other`."""
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in known:
        return value
    return value if _ENUM_RE.match(value) else "other"


def name_label(raw: str) -> str:
    """A server name or id as a label value: at most 64 of [A-Za-z0-9_.-], others as `_`."""
    cleaned = _NAME_BAD_RE.sub("_", raw[:_LABEL_MAX])
    return cleaned or "_"


@dataclass(frozen=True, slots=True)
class DebugHeaders:
    """LiteLLM's `x-mcp-debug-*` answer headers, parsed; None where a header was absent."""

    inbound_auth: tuple[str, ...] | None = None
    oauth2_state: str | None = None
    resolution: str | None = None
    resolutions: Mapping[str, str] = field(default_factory=dict)
    resolutions_truncated: bool = False
    outbound_url: str | None = None
    server_auth_type: str | None = None

    @property
    def present(self) -> bool:
        """Whether the gateway sent any debug header."""
        return any(
            v is not None
            for v in (
                self.inbound_auth,
                self.oauth2_state,
                self.resolution,
                self.outbound_url,
                self.server_auth_type,
            )
        )


def first_header(headers: Mapping[str, Any], name: str) -> str | None:
    """The first value of header `name` (lower case), if it is a string of bounded length."""
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            if not isinstance(value, str) or len(value) > _MAX_HEADER:
                return None
            return value
    return None


def token_state(raw: str | None) -> str | None:
    """`x-mcp-debug-oauth2-token` as `none`, `present` or `same_as_litellm_key`."""
    if raw is None:
        return None
    value = raw.strip()
    if value in ("", _UNSET):
        return "none"
    if _SAME_AS_KEY in value:
        return "same_as_litellm_key"
    return "present"


def parse_inbound_auth(raw: str | None) -> tuple[str, ...] | None:
    """Which credential headers the gateway saw (`name=masked; ...`); never the values."""
    if raw is None:
        return None
    names: list[str] = []
    for part in raw.split(";"):
        name = part.partition("=")[0].strip().lower()
        if name in _INBOUND_NAMES and name not in names:
            names.append(name)
    return tuple(names)


def parse_resolutions(raw: str | None, server_ids: Mapping[str, str]) -> dict[str, str]:
    """`x-mcp-debug-auth-resolutions` (JSON: server id -> resolution) as server -> resolution.

    Ids are named by `server_ids` when configured, else kept as sanitized opaque ids; at most
    MAX_SERVERS entries. Malformed input yields {}: this never raises.
    """
    if raw is None or len(raw) > _MAX_HEADER:
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(doc, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in doc.items():
        if len(out) >= MAX_SERVERS:
            break
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        label = enum_label(value, RESOLUTIONS)
        if label is not None:
            out[name_label(server_ids.get(key, key))] = label
    return out


def _outbound_url(raw: str | None) -> str | None:
    if raw is None or len(raw) > 2048 or any(ord(c) < 0x21 or ord(c) > 0x7E for c in raw):
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return raw


def parse_debug_headers(
    headers: Mapping[str, Any], server_ids: Mapping[str, str] | None = None
) -> DebugHeaders:
    """The debug headers of one answer (header name -> value or list of values). Never raises."""
    auth_type = first_header(headers, "x-mcp-debug-server-auth-type")
    if auth_type is not None and auth_type.strip() == _UNSET:
        auth_type = "unset"
    return DebugHeaders(
        inbound_auth=parse_inbound_auth(first_header(headers, "x-mcp-debug-inbound-auth")),
        oauth2_state=token_state(first_header(headers, "x-mcp-debug-oauth2-token")),
        resolution=enum_label(first_header(headers, "x-mcp-debug-auth-resolution"), RESOLUTIONS),
        resolutions=parse_resolutions(
            first_header(headers, "x-mcp-debug-auth-resolutions"), server_ids or {}
        ),
        resolutions_truncated=(
            (first_header(headers, "x-mcp-debug-auth-resolutions-truncated") or "").strip().lower()
            == "true"
        ),
        outbound_url=_outbound_url(first_header(headers, "x-mcp-debug-outbound-url")),
        server_auth_type=enum_label(auth_type, AUTH_TYPES),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """One upstream's outcome in a `tools/list` answer, as the gateway reports it."""

    status: str
    tool_count: int | None = None
    http_status: int | None = None


def _bounded_int(value: object, low: int, high: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def parse_server_outcomes(result: object) -> dict[str, Outcome]:
    """`_meta["litellm.ai/server_outcomes"]` of a tools/list result, by sanitized server name.

    At most MAX_SERVERS servers; malformed entries are skipped. Never raises.
    """
    if not isinstance(result, dict):
        return {}
    meta = result.get("_meta")
    outcomes = meta.get("litellm.ai/server_outcomes") if isinstance(meta, dict) else None
    if not isinstance(outcomes, dict):
        return {}
    out: dict[str, Outcome] = {}
    for name, entry in outcomes.items():
        if len(out) >= MAX_SERVERS:
            break
        if not isinstance(name, str) or not isinstance(entry, dict):
            continue
        raw_status = entry.get("status")
        status = enum_label(raw_status if isinstance(raw_status, str) else None, OUTCOME_STATUSES)
        if status is None:
            continue
        out[name_label(name)] = Outcome(
            status,
            _bounded_int(entry.get("tool_count"), 0, 1_000_000),
            _bounded_int(entry.get("http_status"), 100, 599),
        )
    return out


def gateway_headers(gateway: LiteLLMGateway) -> dict[str, str]:
    """The request headers for the gateway: key, debug opt-in, server selection, per-server
    upstream credentials. Secrets are read now (files may rotate)."""
    headers: dict[str, str] = {}
    if gateway.api_key is not None:
        name = "Authorization" if gateway.key_header == "authorization" else "x-litellm-api-key"
        headers[name] = f"Bearer {gateway.api_key.reveal()}"
    if gateway.debug:
        headers["x-litellm-mcp-debug"] = "true"
    if gateway.servers:
        headers["x-mcp-servers"] = ",".join(gateway.servers)
    for server, values in gateway.upstream_headers.items():
        for header, secret in values.items():
            headers[f"x-mcp-{server}-{header}"] = secret.reveal()
    return headers
