"""LiteLLM's management API for MCP servers: the server list and the gateway's health view.

Both answer without a database (checked with LiteLLM 1.106.0): `GET /v1/mcp/server` lists the
servers of its config (`server_id`, `server_name`, `url`, `transport`, `auth_type`, ...) and
`GET /v1/mcp/server/health` each one's `status` (`healthy`, `unhealthy`, `unknown`). The
answers are the gateway's: bounded, and only the fields named here are read (the list carries
credentials fields too, which are never looked at).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

from .failure import Hop, ProbeFailure
from .http import ProbeHTTP

SERVER_LIST_PATH: Final = "/v1/mcp/server"
SERVER_HEALTH_PATH: Final = "/v1/mcp/server/health"
HEALTH_STATUSES: Final = ("healthy", "unhealthy", "unknown")
# Per-server URL layouts of LiteLLM's MCP endpoint.
LAYOUTS: Final = ("mcp/{server}", "{server}/mcp")
_MAX_SERVERS: Final = 1000
_MAX_TEXT: Final = 128


@dataclass(frozen=True, slots=True)
class LiteLLMServer:
    """One MCP server as LiteLLM lists it."""

    server_id: str
    server_name: str  # printable and bounded, for labels
    url: str
    transport: str
    auth_type: str
    # The name exactly as LiteLLM routes it (bounded), for the server's URL on the gateway.
    route_name: str = ""


def _text(value: object, limit: int = _MAX_TEXT) -> str:
    """A bounded, printable label value ('' for anything but a string)."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable())[:limit]


def upstream_label(url: str) -> str:
    """The upstream URL without userinfo, query or fragment: those may carry credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not host:
        return ""
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return _text(urlunsplit((parts.scheme.lower(), netloc, parts.path, "", "")), 2048)


def _loads(body: bytes) -> Any:
    """JSON of a gateway answer; ValueError for any that does not parse (too deep included)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def parse_server_list(body: bytes) -> list[LiteLLMServer]:
    """The servers of a `/v1/mcp/server` answer; ValueError when it is not a list of them."""
    doc = _loads(body)
    if not isinstance(doc, list):
        raise ValueError("the server list is not a JSON array")
    servers = []
    for item in doc[:_MAX_SERVERS]:
        if not isinstance(item, dict):
            continue
        server_id = _text(item.get("server_id"))
        raw = item.get("server_name")
        name = _text(raw) or _text(item.get("alias")) or server_id
        if not name:
            continue
        route = raw[:256] if isinstance(raw, str) and raw else name
        url = item.get("url")
        servers.append(
            LiteLLMServer(
                server_id=server_id,
                server_name=name,
                url=upstream_label(url) if isinstance(url, str) else "",
                transport=_text(item.get("transport")) or "unknown",
                auth_type=_text(item.get("auth_type")) or "none",
                route_name=route,
            )
        )
    return servers


def selectable_names(body: bytes) -> frozenset[str]:
    """Every name `x-mcp-servers` may use for the servers of a `/v1/mcp/server` answer (server
    names, aliases, access groups), lower case as LiteLLM matches them; ValueError when the
    answer is not a list."""
    doc = json.loads(body)
    if not isinstance(doc, list):
        raise ValueError("the server list is not a JSON array")
    names: set[str] = set()
    for item in doc[:_MAX_SERVERS]:
        if not isinstance(item, dict):
            continue
        groups = item.get("mcp_access_groups")
        candidates = [item.get("server_name"), item.get("alias")]
        if isinstance(groups, list):
            candidates += groups[:_MAX_SERVERS]
        names |= {c[:256].lower() for c in candidates if isinstance(c, str) and c}
    return frozenset(names)


def parse_server_health(body: bytes) -> dict[str, str]:
    """server_id -> status of a `/v1/mcp/server/health` answer; ValueError if malformed."""
    doc = _loads(body)
    if not isinstance(doc, list):
        raise ValueError("the health answer is not a JSON array")
    health: dict[str, str] = {}
    for item in doc[:_MAX_SERVERS]:
        if isinstance(item, dict) and (server_id := _text(item.get("server_id"))):
            health[server_id] = _text(item.get("status"), 32) or "unknown"
    return health


def server_url(base_url: str, layout: str, server: str) -> str:
    """The gateway URL of one server's MCP endpoint in the given layout."""
    return base_url.rstrip("/") + "/" + layout.format(server=quote(server, safe=""))


def key_headers(api_key: str | None, key_header: str) -> dict[str, str]:
    """The gateway key as LiteLLM reads it (`Bearer` in either header)."""
    headers = {"Accept": "application/json"}
    if api_key is not None:
        headers[key_header] = f"Bearer {api_key}"
    return headers


async def get_json_body(
    http: ProbeHTTP, url: str, headers: dict[str, str], hop: Hop, phase: str
) -> bytes:
    """GET one management API document; a non-200 answer is a ProbeFailure."""
    response = await http.request("GET", url, headers=headers, hop=hop, phase=phase)
    try:
        body = await response.read()
    finally:
        await response.aclose()
    if response.status != 200:
        excerpt = " ".join(body[:200].decode("utf-8", "replace").split())
        reason = {401: "token_rejected", 403: "forbidden"}.get(response.status, "http_status")
        if response.status == 400 and "no connected db" in excerpt.lower():
            reason = "token_rejected"  # LiteLLM's answer to an unknown key without a database
        if response.status == 500 and api_key_missing(headers):
            reason = "auth_required"
        raise ProbeFailure(
            hop, phase, reason, f"{url_path(url)} answered {response.status}: {excerpt}"
        )
    return body


def api_key_missing(headers: dict[str, Any]) -> bool:
    """Whether the request carried no gateway key (LiteLLM then answers 500)."""
    return not any(k.lower() in ("x-litellm-api-key", "authorization") for k in headers)


def url_path(url: str) -> str:
    """A URL's path, for messages."""
    return urlsplit(url).path or "/"
