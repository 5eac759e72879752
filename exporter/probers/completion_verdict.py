"""The verdict on one `litellm_completion` probe: where its failure is placed, or success.

It turns the gateway's HTTP status and error message, what the answer says about the embedded
MCP call (`exporter.litellm.completion`) and, when the answer listed nothing, the gateway's own
listing of the server into the probe's one `ProbeFailure` (hop, phase, reason, detail), with
notes that tell the operator what to check. Success only when the tool was listed, called once,
and returned the expected result.

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

import json
import re
from dataclasses import dataclass
from typing import Final

from ..config import NONCE, LiteLLMCompletionProber
from ..litellm.completion import EmbeddedCall, result_failure
from ..litellm.diagnosis import GatewayAnswer, classify_gateway_failure
from .context import ProbeContext
from .failure import GATEWAY_HOP, UPSTREAM_HOP, ProbeFailure

PHASE_REQUEST: Final = "completion_request"
PHASE_LIST: Final = "tools_list"
PHASE_FIRST_TURN: Final = "model_first_turn"
PHASE_CALL: Final = "tool_call"
PHASE_SECOND_TURN: Final = "model_second_turn"

_DETAIL_MAX: Final = 300
_TURN_RE: Final = re.compile(r"\b(before|after) the (?:mcp )?tool call\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GatewayListing:
    """The gateway's own `tools/list` of the server, asked when the answer listed nothing."""

    tools: list[str]
    # The upstream's failure as the gateway's server outcomes name it, if any.
    failure: ProbeFailure | None


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


def status_failure(
    ctx: ProbeContext, settings: LiteLLMCompletionProber, status: int, text: str
) -> ProbeFailure:
    """The failure a non-200 answer to the completion request is: a model turn's 500, a missing
    gateway key, an unknown model, or LiteLLM's error reclassified by the guide's diagnoses."""
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
    listing: GatewayListing | None,
) -> None:
    """Success only when the tool was listed, called once, and returned the expected result."""
    name = f"{settings.server}-{settings.tool}"
    server = settings.server
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
