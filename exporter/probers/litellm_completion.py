"""LiteLLM embedded MCP calls: a `/v1/chat/completions` or `/v1/responses` request during which
the gateway calls an MCP tool, answered by a probe model that never reaches a provider.

One non-streaming request (phase `completion_request`, hop `client_to_gateway`) carries one MCP
tool (`server_url: litellm_proxy/mcp/<server>`, `require_approval: never`) and a prompt naming the
tool with a per-probe nonce in its arguments. Inside that request LiteLLM lists the server's tools,
asks the model (turn 1), calls the tool the model chose on the upstream, and asks the model again
with the result (turn 2). The answer reveals the listing, the calls and their results:

- chat completions: `choices[0].message.provider_specific_fields` with `mcp_list_tools`,
  `mcp_tool_calls` and `mcp_call_results` (LiteLLM omits `mcp_list_tools` when nothing was listed);
- responses: `output` items `mcp_tools_fetched` (a JSON list of Python `repr` strings of the tools)
  and `tool_execution_results` (a JSON string of `[{tool_call_id, name, result}]`), present only
  when a tool was called; the top-level `tools` is what LiteLLM offered the model (the server's
  tools as functions, `[]` when it listed none).

When the answer shows no tools listed (chat without `mcp_list_tools`, which LiteLLM sends whenever
it listed any; responses without MCP items and with `tools: []`, which is also what LiteLLM's
string `mock_response` answers), the probe asks the gateway's own MCP endpoint for the server's
tools (`tools/list` on `/mcp/<server>`, with the key): its `server_outcomes` name why the
upstream listed nothing (`unreachable`, a 401 to the gateway's credential, ...), exactly as the
`mcp` prober with a `litellm` block does; a healthy listing there means the model was offered
nothing although the server works.

LiteLLM 1.106.0 answers every tool and upstream failure with HTTP 200 and the failure as the
result text, and a model failure on either turn with 500. The failure is placed where it happened:

| where | hop | phase |
|---|---|---|
| the gateway refused the request (key, model) | `client_to_gateway` | `completion_request` |
| no tools listed, or not the expected one | `gateway_to_upstream` | `tools_list` |
| the model did not call the tool once (turn 1) | `client_to_gateway` | `model_first_turn` |
| transport error during the call, or the tool failed | `gateway_to_upstream` | `tool_call` |
| the model failed after the tool answered (turn 2) | `client_to_gateway` | `model_second_turn` |

The model turns are the gateway's own work (the probe model lives in its config), hence hop
`client_to_gateway`. A 500 names its turn only when the model's error says "before the tool call"
or "after the tool call" (the probe provider documented in the README does); otherwise it stays at
`completion_request`.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ..config import NONCE, LiteLLMCompletionModule, LiteLLMCompletionProber, LiteLLMGateway
from ..litellm.diagnosis import (
    ISSUES,
    GatewayAnswer,
    classify_gateway_failure,
    outcome_failure,
    tool_error_reason,
)
from ..litellm.headers import (
    gateway_headers,
    name_label,
    parse_debug_headers,
    parse_server_outcomes,
)
from ..mcp.transport import StreamableHTTP
from .context import ProbeContext
from .failure import GATEWAY_HOP, UPSTREAM_HOP, ProbeFailure
from .findings import CompletionReport
from .oauth_metrics import write_oauth_metrics
from .prober import Prober, write_exchange_metrics

PHASE_REQUEST: Final = "completion_request"
PHASE_LIST: Final = "tools_list"
PHASE_FIRST_TURN: Final = "model_first_turn"
PHASE_CALL: Final = "tool_call"
PHASE_SECOND_TURN: Final = "model_second_turn"

ENDPOINT_PATHS: Final = {"chat_completions": "/v1/chat/completions", "responses": "/v1/responses"}
_MAX_ITEMS: Final = 1000
_DETAIL_MAX: Final = 300
_REPR_NAME_RE: Final = re.compile(r"""^name=(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")
# LiteLLM's text when its tool lookup failed (a KeyError): the upstream was never contacted.
_LOOKUP_FAILED_RE: Final = re.compile(r"^Error executing tool: '")
_TURN_RE: Final = re.compile(r"\b(before|after) the (?:mcp )?tool call\b", re.IGNORECASE)


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


@dataclass(frozen=True, slots=True)
class GatewayListing:
    """The gateway's own `tools/list` of the server, asked when the answer listed nothing."""

    tools: list[str]
    # The upstream's failure as the gateway's server outcomes name it, if any.
    failure: ProbeFailure | None


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
            for t in listed[:_MAX_ITEMS]
            if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ]
    else:
        # LiteLLM sends mcp_list_tools whenever it listed a tool (even if none was called), so
        # a completion without it listed nothing.
        out.listed = []
    if isinstance(calls, list):
        out.calls = [
            _text(c.get("function", {}).get("name"))
            for c in calls[:_MAX_ITEMS]
            if isinstance(c, dict) and isinstance(c.get("function"), dict)
        ]
    out.results = _results(results)
    return out


def _results(items: object) -> list[tuple[str, str]]:
    if not isinstance(items, list):
        return []
    return [
        (_text(r.get("name")), _text(r.get("result")) or json.dumps(r.get("result")))
        for r in items[:_MAX_ITEMS]
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
    for item in output[:_MAX_ITEMS]:
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
    for tool in tools[:_MAX_ITEMS]:
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
    return value[:_MAX_ITEMS] if isinstance(value, list) else []


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
class _Findings:
    call: EmbeddedCall | None = None
    listing: GatewayListing | None = None
    gateway_seconds: float | None = None
    retries: int | None = None


async def probe_litellm_completion(ctx: ProbeContext) -> None:
    """One embedded MCP call through LiteLLM; raise ProbeFailure where it broke."""
    settings = ctx.module.config_as(LiteLLMCompletionModule).litellm_completion
    assert settings is not None
    findings = _Findings()
    try:
        await _probe(ctx, settings, findings)
    finally:
        record(ctx, settings, findings)


async def _probe(ctx: ProbeContext, settings: LiteLLMCompletionProber, findings: _Findings) -> None:
    nonce = f"mcp-probe-{secrets.token_hex(8)}"
    url = endpoint_url(ctx.target, settings.endpoint)
    gateway = LiteLLMGateway(
        api_key=settings.api_key,
        key_header=settings.key_header,
        debug=False,
        upstream_headers={settings.server: settings.upstream_headers},
    )
    headers = {
        **gateway_headers(gateway),
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    body = json.dumps(request_body(settings, nonce)).encode()
    ctx.log.info(
        "requesting a completion with an MCP tool",
        endpoint=settings.endpoint,
        model=settings.model,
        server=settings.server,
        tool=settings.tool,
        nonce=nonce,
    )
    with ctx.step(PHASE_REQUEST, GATEWAY_HOP):
        ctx.record_request("POST", url, headers, body, PHASE_REQUEST)
        response = await ctx.http.request(
            "POST", url, headers=headers, body=body, hop=GATEWAY_HOP, phase=PHASE_REQUEST
        )
        ctx.last_status = response.status
        raw = await response.read()
    findings.gateway_seconds = _header_number(
        response.headers.get("x-litellm-response-duration-ms")
    )
    if findings.gateway_seconds is not None:
        findings.gateway_seconds /= 1000
    retries = _header_number(response.headers.get("x-litellm-attempted-retries"))
    findings.retries = int(retries) if retries is not None else None
    text = raw.decode("utf-8", "replace")
    if response.status != 200:
        raise _status_failure(ctx, settings, response.status, text)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise ProbeFailure(
            GATEWAY_HOP,
            PHASE_REQUEST,
            "not_mcp",
            f"the answer is not JSON ({response.content_type or 'no content type'})",
        ) from None
    ctx.hops[GATEWAY_HOP] = True
    parse = parse_response if settings.endpoint == "responses" else parse_chat_completion
    call = findings.call = parse(doc)
    if not call.listed and not call.offered:
        findings.listing = await gateway_listing(ctx, settings, gateway)
    check(ctx, settings, call, nonce, findings)


async def gateway_listing(
    ctx: ProbeContext, settings: LiteLLMCompletionProber, gateway: LiteLLMGateway
) -> GatewayListing | None:
    """The server's tools and outcome from the gateway's MCP endpoint (LiteLLM answers a
    `tools/list` without a session), or None when that cannot be asked."""
    url = mcp_url(ctx.target, settings.server)
    headers = gateway_headers(
        LiteLLMGateway(
            api_key=gateway.api_key,
            key_header=gateway.key_header,
            debug=True,
            upstream_headers=gateway.upstream_headers,
        )
    )
    transport = StreamableHTTP(ctx, url, headers, GATEWAY_HOP)
    # A side question: the status reported stays that of the completion request.
    status, challenge = ctx.last_status, ctx.auth_challenge
    try:
        with ctx.step(PHASE_LIST, GATEWAY_HOP):
            result = await transport.call("tools/list", {}, PHASE_LIST)
    except ProbeFailure as exc:
        ctx.log.info("the gateway's own listing of the server failed", error=exc.detail[:200])
        return _refused_listing(ctx, settings, url, exc)
    except (OSError, asyncio.IncompleteReadError) as exc:
        ctx.log.info("the gateway's own listing of the server failed", error=str(exc)[:200])
        return None
    finally:
        ctx.last_status, ctx.auth_challenge = status, challenge
    tools = result.get("tools")
    names = [
        str(t.get("name"))
        for t in (tools if isinstance(tools, list) else [])[:_MAX_ITEMS]
        if isinstance(t, dict)
    ]
    outcomes = parse_server_outcomes(result)
    debug = parse_debug_headers(transport.response_headers)
    sent = frozenset({name_label(settings.server)} if settings.upstream_headers else set())
    failure = outcome_failure(outcomes, frozenset(), debug, sent)
    ctx.log.info(
        "the gateway's own listing of the server",
        tools=len(names),
        outcomes={k: o.status for k, o in sorted(outcomes.items())},
    )
    return GatewayListing(names, failure)


def _refused_listing(
    ctx: ProbeContext, settings: LiteLLMCompletionProber, url: str, refused: ProbeFailure
) -> GatewayListing | None:
    """LiteLLM's own 401 to the listing: the server needs a user token it did not have (an
    oauth2 server not authorized in LiteLLM, or a passthrough server's relayed challenge), or
    refused the one passed through. Read as the mcp prober reads it, placed at the listing."""
    received = ctx.auth_challenge
    if ctx.last_status != 401 or received is None:
        return None
    answer = GatewayAnswer(
        status=401,
        body="",
        challenge=received.bearer,
        gateway_url=url,
        key_sent=settings.api_key is not None,
        user_token_sent=False,
        authorization_sent=settings.key_header == "authorization" and settings.api_key is not None,
    )
    failure, issues = classify_gateway_failure(refused, answer)
    if failure is refused:
        return None
    for issue in sorted(issues):
        ctx.note(f"litellm issue {issue}: {ISSUES[issue]}")
    return GatewayListing(
        [],
        ProbeFailure(
            UPSTREAM_HOP,
            PHASE_LIST,
            failure.reason,
            f"the gateway's listing of server {settings.server!r} got {failure.detail}",
        ),
    )


def _header_number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < 1e9 else None


def _error_message(text: str) -> str:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return text.strip()[:_DETAIL_MAX]
    error = doc.get("error") if isinstance(doc, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str):
        return message[:_DETAIL_MAX]
    detail = doc.get("detail") if isinstance(doc, dict) else None
    return json.dumps(detail if detail is not None else doc)[:_DETAIL_MAX]


def _status_failure(
    ctx: ProbeContext, settings: LiteLLMCompletionProber, status: int, text: str
) -> ProbeFailure:
    message = _error_message(text)
    key_sent = settings.api_key is not None
    if status == 500 and key_sent:
        turn = _TURN_RE.search(message)
        if turn is None:
            ctx.note(
                "the gateway answered 500: the model (or LiteLLM around it) failed, on a turn the "
                "answer does not name; see the gateway's log for the call id"
            )
            return ProbeFailure(GATEWAY_HOP, PHASE_REQUEST, "http_status", f"500: {message}")
        after = turn.group(1).lower() == "after"
        ctx.note(
            "the probe model failed "
            + ("after the MCP tool answered (turn 2)" if after else "before the MCP call (turn 1)")
            + ": check the probe model in LiteLLM's model_list"
        )
        return ProbeFailure(
            GATEWAY_HOP,
            PHASE_SECOND_TURN if after else PHASE_FIRST_TURN,
            "http_status",
            f"500: {message}",
        )
    if status == 500:
        return ProbeFailure(
            GATEWAY_HOP,
            PHASE_REQUEST,
            "auth_required",
            "500: no gateway key was sent (LiteLLM fails looking up an anonymous caller); "
            "set litellm_completion.api_key",
        )
    if status == 400 and "invalid model name" in message.lower():
        ctx.note(
            f"LiteLLM has no model {settings.model!r}: add the probe model to its model_list "
            "(see the README, LiteLLM embedded MCP calls)"
        )
        return ProbeFailure(GATEWAY_HOP, PHASE_REQUEST, "http_status", f"400: {message}")
    generic = ProbeFailure(GATEWAY_HOP, PHASE_REQUEST, "http_status", f"{status}: {message}")
    answer = GatewayAnswer(
        status=status,
        body=text[:4000],
        challenge=None,
        gateway_url=ctx.target,
        key_sent=key_sent,
        user_token_sent=False,
    )
    failure, issues = classify_gateway_failure(generic, answer)
    if "unknown_server" in issues:
        ctx.note(
            f"the gateway has no MCP server {settings.server!r}, or the key may not use it: "
            "compare with LiteLLM's mcp_servers and the key's allowed servers"
        )
    return failure


def expected_text(settings: LiteLLMCompletionProber, nonce: str) -> tuple[str | None, str | None]:
    """(text the result must contain, regex it must match), with the nonce filled in."""
    expect = settings.expect
    contains = expect.text_contains
    if contains is None and expect.text_regex is None and settings.sends_nonce:
        contains = NONCE
    regex = expect.text_regex.replace(NONCE, re.escape(nonce)) if expect.text_regex else None
    return (contains.replace(NONCE, nonce) if contains is not None else None), regex


def check(
    ctx: ProbeContext,
    settings: LiteLLMCompletionProber,
    call: EmbeddedCall,
    nonce: str,
    findings: _Findings,
) -> None:
    """Success only when the tool was listed, called once, and returned the expected result."""
    name = f"{settings.server}-{settings.tool}"
    server = settings.server
    listing = findings.listing
    if not call.listed and call.offered:
        # Responses without MCP items: the tools LiteLLM offered the model are its listing.
        call.listed = list(call.offered)
    if not call.listed:
        if listing is not None and listing.failure is not None:
            # The gateway's own listing names why the upstream listed nothing.
            call.listed = []
            ctx.hops[UPSTREAM_HOP] = False
            failure = listing.failure
            raise ProbeFailure(
                UPSTREAM_HOP,
                PHASE_LIST,
                failure.reason,
                f"the gateway offered the model no tools of server {server!r}; {failure.detail}",
            )
        responses_without_mcp = settings.endpoint == "responses" and not call.mcp_reported
        if listing is not None and name in listing.tools:
            if responses_without_mcp:
                raise ProbeFailure(
                    GATEWAY_HOP,
                    PHASE_FIRST_TURN,
                    "expectation_failed",
                    "the answer carries no MCP items although the gateway lists the tool: "
                    "LiteLLM did not run the MCP tool (a string mock_response answers "
                    "/v1/responses before any MCP work)",
                )
            raise ProbeFailure(
                GATEWAY_HOP,
                PHASE_FIRST_TURN,
                "expectation_failed",
                f"the gateway lists {name!r} on its MCP endpoint but offered the model no tools "
                "of the server in this request",
            )
        if listing is not None and listing.tools:
            raise ProbeFailure(
                UPSTREAM_HOP,
                PHASE_LIST,
                "expectation_failed",
                f"tool {name!r} is not among the {len(listing.tools)} tools the gateway lists",
            )
        if listing is None and responses_without_mcp and call.offered is None:
            raise ProbeFailure(
                GATEWAY_HOP,
                PHASE_FIRST_TURN,
                "expectation_failed",
                "the answer carries no MCP items: LiteLLM did not run the MCP tool (a string "
                "mock_response answers /v1/responses before any MCP work)",
            )
        call.listed = []
        ctx.hops[UPSTREAM_HOP] = False
        raise ProbeFailure(
            UPSTREAM_HOP,
            PHASE_LIST,
            "upstream_unreachable",
            f"the gateway listed no tools of server {server!r}: the upstream is down or "
            "refused the gateway (an mcp module with a litellm block shows its outcome)",
        )
    listed = call.listed
    if name not in listed:
        raise ProbeFailure(
            UPSTREAM_HOP,
            PHASE_LIST,
            "expectation_failed",
            f"tool {name!r} is not among the {len(listed)} tools the gateway listed",
        )
    count = call.calls.count(name)
    if count != 1:
        others = sorted(set(call.calls) - {name})
        what = f"called {name!r} {count} times"
        if others:
            what += f" and {', '.join(others)[:_DETAIL_MAX]}"
        raise ProbeFailure(
            GATEWAY_HOP,
            PHASE_FIRST_TURN,
            "expectation_failed",
            f"the model {what}; expected exactly one call (check the prompt, or mock_tool_calls "
            "of the probe model)",
        )
    result = next((text for n, text in call.results if n == name), None)
    if result is None:
        ctx.hops[UPSTREAM_HOP] = False
        raise ProbeFailure(
            UPSTREAM_HOP, PHASE_CALL, "tool_error", f"the gateway reports no result for {name!r}"
        )
    shown = " ".join(result.split())[:_DETAIL_MAX]
    failed = result_failure(result)
    if failed is not None:
        reason, what = failed
        ctx.hops[UPSTREAM_HOP] = False
        raise ProbeFailure(UPSTREAM_HOP, PHASE_CALL, reason, f"{what}: {shown}")
    contains, regex = expected_text(settings, nonce)
    if contains is not None and contains not in result:
        raise ProbeFailure(
            UPSTREAM_HOP,
            PHASE_CALL,
            "expectation_failed",
            f"the result does not contain {contains!r}: {shown}",
        )
    if regex is not None and re.search(regex, result) is None:
        raise ProbeFailure(
            UPSTREAM_HOP,
            PHASE_CALL,
            "expectation_failed",
            f"the result does not match {regex!r}: {shown}",
        )
    ctx.hops[UPSTREAM_HOP] = True
    if settings.endpoint == "responses" and call.status not in (None, "completed"):
        raise ProbeFailure(
            GATEWAY_HOP,
            PHASE_SECOND_TURN,
            "expectation_failed",
            f"the response's status is {call.status!r} after the tool answered",
        )
    ctx.log.info("the gateway called the MCP tool once", tool=name, listed=len(listed))


def record(ctx: ProbeContext, settings: LiteLLMCompletionProber, findings: _Findings) -> None:
    """The probe_litellm_completion_* metrics, written once."""
    reg = ctx.registry
    name = f"{settings.server}-{settings.tool}"
    call = findings.call
    if call is not None and call.listed is not None:
        reg.set(
            "probe_litellm_completion_tools",
            "Tools the gateway listed for the model from the probed MCP server.",
            len(call.listed),
        )
        reg.set(
            "probe_litellm_completion_tool_listed",
            "Whether the probed tool was among the listed tools.",
            1 if name in call.listed else 0,
        )
    if call is not None:
        reg.set(
            "probe_litellm_completion_tool_calls",
            "How many times the gateway called the probed tool during the request.",
            call.calls.count(name),
        )
    if findings.gateway_seconds is not None:
        reg.set(
            "probe_litellm_completion_gateway_duration_seconds",
            "The request's duration as the gateway reports it (x-litellm-response-duration-ms).",
            findings.gateway_seconds,
        )
    if findings.retries is not None:
        reg.set(
            "probe_litellm_completion_attempted_retries",
            "Retries the gateway made (x-litellm-attempted-retries); each repeats the MCP call.",
            findings.retries,
        )
    ctx.completion = CompletionReport(
        endpoint=settings.endpoint,
        model=settings.model,
        tool=name,
        listed=len(call.listed) if call is not None and call.listed is not None else None,
        calls=call.calls.count(name) if call is not None else None,
    )


def write_completion_metrics(ctx: ProbeContext) -> None:
    """The exchange; the prober's own metrics are written by `record` as the probe ends."""
    write_exchange_metrics(ctx)
    write_oauth_metrics(ctx)


PROBER: Final = Prober(probe_litellm_completion, write_completion_metrics)
