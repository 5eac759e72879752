"""LiteLLM's completion API with one embedded MCP tool: the request and what its answer says.

The request is a non-streaming `/v1/chat/completions` or `/v1/responses` body with one MCP tool
(`server_url: litellm_proxy/mcp/<server>`, `require_approval: never`) and a prompt naming the tool
with a per-probe nonce in its arguments; the endpoints' URLs (and the gateway's own `/mcp/<server>`)
are derived from the target's base URL. Inside that request LiteLLM lists the server's tools, asks
the model, calls the tool the model chose and asks the model again; the answer reveals the
listing, the calls and their results, read here into an `EmbeddedCall` without ever raising:

- chat completions: `choices[0].message.provider_specific_fields` with `mcp_list_tools`,
  `mcp_tool_calls` and `mcp_call_results` (LiteLLM omits `mcp_list_tools` when nothing was listed);
- responses: `output` items `mcp_tools_fetched` (a JSON list of Python `repr` strings of the tools)
  and `tool_execution_results` (a JSON string of `[{tool_call_id, name, result}]`), present only
  when a tool was called; the top-level `tools` is what LiteLLM offered the model (the server's
  tools as functions, `[]` when it listed none).

LiteLLM 1.106.0 answers every tool and upstream failure with HTTP 200 and the failure as the
result text; `result_failure` reads which failure that text reports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ..config import NONCE, LiteLLMCompletionProber
from .diagnosis import tool_error_reason

ENDPOINT_PATHS: Final = {"chat_completions": "/v1/chat/completions", "responses": "/v1/responses"}
# The most items read from any list of an answer.
MAX_ITEMS: Final = 1000
_REPR_NAME_RE: Final = re.compile(r"""^name=(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")
# LiteLLM's text when its tool lookup failed (a KeyError): the upstream was never contacted.
_LOOKUP_FAILED_RE: Final = re.compile(r"^Error executing tool: '")


def substitute(value: Any, nonce: str) -> Any:
    """`value` with `{nonce}` replaced in every string, recursively."""
    if isinstance(value, str):
        return value.replace(NONCE, nonce)
    if isinstance(value, list):
        return [substitute(v, nonce) for v in value]
    if isinstance(value, dict):
        return {substitute(k, nonce): substitute(v, nonce) for k, v in value.items()}
    return value


def request_body(settings: LiteLLMCompletionProber, nonce: str) -> dict[str, Any]:
    """The non-streaming request: the prompt and one MCP tool the gateway runs itself."""
    arguments = json.dumps(substitute(settings.arguments, nonce), separators=(", ", ": "))
    prompt = (
        settings.prompt.replace("{server}", settings.server)
        .replace("{tool}", settings.tool)
        .replace("{arguments}", arguments)
        .replace(NONCE, nonce)
    )
    tool = {
        "type": "mcp",
        "server_label": settings.server,
        "server_url": f"litellm_proxy/mcp/{settings.server}",
        "require_approval": "never",
    }
    body: dict[str, Any] = {"model": settings.model, "tools": [tool], "stream": False}
    if settings.endpoint == "responses":
        body["input"] = prompt
    else:
        body["messages"] = [{"role": "user", "content": prompt}]
    return body


def mcp_url(target: str, server: str) -> str:
    """The gateway's MCP endpoint of one server (`/mcp/<server>`) under the target's base URL."""
    parts = urlsplit(target)
    base = parts.path.rstrip("/")
    for path in ENDPOINT_PATHS.values():
        # A target that names the endpoint, with or without /v1 (as endpoint_url accepts).
        base = base.removesuffix(path).removesuffix(path.removeprefix("/v1"))
    base = base.removesuffix("/v1")
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/mcp/{server}", "", ""))


def endpoint_url(target: str, endpoint: str) -> str:
    """The endpoint's URL under the gateway's base URL (kept if the target already names it)."""
    path = ENDPOINT_PATHS[endpoint]
    parts = urlsplit(target)
    base = parts.path.rstrip("/")
    if base.endswith(path.removeprefix("/v1")):
        return target
    return urlunsplit((parts.scheme, parts.netloc, base + path, parts.query, ""))


@dataclass
class EmbeddedCall:
    """What one answer says about the MCP work the gateway did inside it."""

    # Tool names (as the model sees them, `<server>-<tool>`) LiteLLM listed; None: not reported.
    listed: list[str] | None = None
    # The MCP tool calls the gateway executed, by name, in order.
    calls: list[str] = field(default_factory=list)
    # (name, result text) of each executed call.
    results: list[tuple[str, str]] = field(default_factory=list)
    # Whether the answer carries any MCP field at all.
    mcp_reported: bool = False
    # The answer's own completion status (responses: `status`; chat: `finish_reason`).
    status: str | None = None
    # Responses: the function tools LiteLLM offered the model (top-level `tools`); None when
    # `tools` is absent or still holds an unexpanded MCP tool.
    offered: list[str] | None = None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_chat_completion(doc: object) -> EmbeddedCall:
    """The MCP fields of a chat completion (`provider_specific_fields`). Never raises."""
    out = EmbeddedCall()
    choices = doc.get("choices") if isinstance(doc, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if isinstance(choice, dict):
        out.status = _text(choice.get("finish_reason")) or None
    fields = message.get("provider_specific_fields") if isinstance(message, dict) else None
    if not isinstance(fields, dict):
        return out
    listed, calls, results = (
        fields.get("mcp_list_tools"),
        fields.get("mcp_tool_calls"),
        fields.get("mcp_call_results"),
    )
    out.mcp_reported = any(v is not None for v in (listed, calls, results))
    if isinstance(listed, list):
        out.listed = [
            _text(t.get("function", {}).get("name"))
            for t in listed[:MAX_ITEMS]
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
    else:
        # LiteLLM sends mcp_list_tools whenever it listed a tool (even if none was called), so
        # a completion without it listed nothing.
        out.listed = []
    if isinstance(calls, list):
        out.calls = [
            _text(c.get("function", {}).get("name"))
            for c in calls[:MAX_ITEMS]
            if isinstance(c, dict) and isinstance(c.get("function"), dict)
        ]
    out.results = _results(results)
    return out


def _results(items: object) -> list[tuple[str, str]]:
    if not isinstance(items, list):
        return []
    return [
        (_text(r.get("name")), _text(r.get("result")) or json.dumps(r.get("result")))
        for r in items[:MAX_ITEMS]
        if isinstance(r, dict)
    ]


def _item_text(item: dict[str, Any]) -> str | None:
    content = item.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        text = content[0].get("text")
        return text if isinstance(text, str) else None
    return None


def repr_tool_name(text: str) -> str | None:
    """The `name` of a tool in LiteLLM's `repr` form (`name='open-echo' title=None ...`)."""
    match = _REPR_NAME_RE.match(text)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def parse_response(doc: object) -> EmbeddedCall:
    """The MCP items of a `/v1/responses` answer. Never raises."""
    out = EmbeddedCall()
    if not isinstance(doc, dict):
        return out
    out.status = _text(doc.get("status")) or None
    out.offered = _offered(doc.get("tools"))
    output = doc.get("output")
    if not isinstance(output, list):
        return out
    for item in output[:MAX_ITEMS]:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        text = _item_text(item)
        if kind == "mcp_tools_fetched":
            out.mcp_reported = True
            listed = _json(text)
            names = [repr_tool_name(t) for t in listed if isinstance(t, str)] if listed else []
            out.listed = [n for n in names if n is not None]
        elif kind == "tool_execution_results":
            out.mcp_reported = True
            out.results = _results(_json(text))
            out.calls = [name for name, _ in out.results]
    return out


def _offered(tools: object) -> list[str] | None:
    """The names of the function tools in a response's `tools`; None if it is not a list or
    still holds an MCP tool (LiteLLM did not expand it)."""
    if not isinstance(tools, list):
        return None
    names: list[str] = []
    for tool in tools[:MAX_ITEMS]:
        if not isinstance(tool, dict) or tool.get("type") == "mcp":
            return None
        if tool.get("type") == "function" and isinstance(tool.get("name"), str):
            names.append(tool["name"])
    return names


def _json(text: str | None) -> list[Any]:
    if text is None:
        return []
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return []
    return value[:MAX_ITEMS] if isinstance(value, list) else []


def result_failure(text: str) -> tuple[str, str] | None:
    """(reason, what happened) for a result text that reports a failure, else None.

    LiteLLM turns every exception of the call into text: its own lookup failure, the transport's
    exception (`ConnectError: ...`, `HTTPStatusError: ...`, `MCPError: ...`), or the SDK's
    `Error executing tool <name>` when the tool itself raised.
    """
    if _LOOKUP_FAILED_RE.match(text):
        return "tool_error", "the gateway could not find the tool when executing it"
    reason = tool_error_reason(text)
    if reason is not None:
        return reason, "the gateway's call to the upstream failed"
    if text.startswith("MCPError:"):
        return "jsonrpc_error", "the upstream answered the call with an MCP error"
    if text.startswith("Error"):
        return "tool_error", "the tool reported an error"
    return None
