"""The litellm_completion prober against a real LiteLLM 1.106.0 (tests/peers/litellm_proxy.py).

Each scenario makes the gateway call an MCP tool in the middle of a `/v1/chat/completions` or
`/v1/responses` request answered by a probe model, and asserts where the probe places the failure
(hop, phase, reason) and what the upstream saw. Facts: tests/testdata/litellm/OBSERVED.md, §6.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from exporter import report
from exporter.config import parse
from exporter.litellm.completion import (
    parse_chat_completion,
    parse_response,
    repr_tool_name,
    result_failure,
)
from exporter.probe import ProbeOutcome, run_probe
from tests.conftest import ExporterFactory
from tests.peers.litellm_proxy import MOCK_TOOL_TEXT, LiteLLMProxy, Upstream

pytestmark = pytest.mark.timeout(180)

ENDPOINTS = ["chat_completions", "responses"]
NONCE_RE = re.compile(r"nonce=(mcp-probe-[0-9a-f]{16})")


def module(proxy: LiteLLMProxy, **block: Any) -> dict[str, Any]:
    """A litellm_completion module with the custom probe model and the master key."""
    settings: dict[str, Any] = {
        "model": proxy.custom_model,
        "server": "open",
        "tool": "echo",
        "arguments": {"text": "{nonce}"},
        "api_key": proxy.master_key,
    } | block
    if settings["api_key"] is None:
        del settings["api_key"]
    return {"prober": "litellm_completion", "timeout": "30s", "litellm_completion": settings}


async def probe(proxy: LiteLLMProxy, **block: Any) -> ProbeOutcome:
    config = parse(yaml.safe_dump({"modules": {"m": module(proxy, **block)}}), "test")
    return await run_probe(proxy.base_url, config.modules["m"], 30)


def where(outcome: ProbeOutcome) -> tuple[str, str, str] | None:
    failure = outcome.failure
    return None if failure is None else (failure.hop, failure.phase, failure.reason)


def hop(outcome: ProbeOutcome, name: str) -> float | None:
    return outcome.registry.value("probe_hop_success", {"hop": name})


def nonce_of(outcome: ProbeOutcome) -> str:
    found = NONCE_RE.search("\n".join(outcome.log.lines))
    assert found is not None
    return found.group(1)


def calls_with(upstream: Upstream, tool: str, key: str, value: str) -> list[dict[str, Any]]:
    return [c for c in upstream.tool_calls(tool) if c["arguments"].get(key) == value]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_healthy_call_reaches_the_upstream_exactly_once(
    litellm_proxy: LiteLLMProxy, endpoint: str
) -> None:
    """The tool is listed, called once with the probe's nonce, and echoes it: success."""
    outcome = await probe(litellm_proxy, endpoint=endpoint)
    assert outcome.success, outcome.failure
    nonce = nonce_of(outcome)
    assert len(calls_with(litellm_proxy.upstreams["open"], "echo", "text", nonce)) == 1
    reg = outcome.registry
    assert reg.value("probe_litellm_completion_tools") == 4
    assert reg.value("probe_litellm_completion_tool_listed") == 1
    assert reg.value("probe_litellm_completion_tool_calls") == 1
    assert reg.value("probe_litellm_completion_attempted_retries") == 0
    gateway_seconds = reg.value("probe_litellm_completion_gateway_duration_seconds")
    assert gateway_seconds is not None
    assert 0 < gateway_seconds < 30
    phase = reg.value("probe_mcp_phase_duration_seconds", {"phase": "completion_request"})
    assert phase is not None
    assert phase > 0
    assert reg.value("probe_http_status_code") == 200
    assert hop(outcome, "client_to_gateway") == 1
    assert hop(outcome, "gateway_to_upstream") == 1


async def test_each_probe_sends_a_new_nonce(litellm_proxy: LiteLLMProxy) -> None:
    """Two probes carry two different nonces, each reaching the upstream once."""
    first, second = await probe(litellm_proxy), await probe(litellm_proxy)
    assert first.success
    assert second.success
    assert nonce_of(first) != nonce_of(second)
    for outcome in (first, second):
        calls = calls_with(litellm_proxy.upstreams["open"], "echo", "text", nonce_of(outcome))
        assert len(calls) == 1


@pytest.mark.parametrize(
    ("endpoint", "model"),
    [("chat_completions", "chat_model"), ("responses", "responses_model")],
)
async def test_mock_probe_models(litellm_proxy: LiteLLMProxy, endpoint: str, model: str) -> None:
    """The mock-based probe models (fixed mock_tool_calls) pass with a fixed expected text."""
    outcome = await probe(
        litellm_proxy,
        endpoint=endpoint,
        model=getattr(litellm_proxy, model),
        arguments={},
        expect={"text_contains": MOCK_TOOL_TEXT},
    )
    assert outcome.success, outcome.failure
    assert outcome.registry.value("probe_litellm_completion_tool_calls") == 1


async def test_key_in_authorization(litellm_proxy: LiteLLMProxy) -> None:
    """The gateway key sent as Authorization: Bearer works as well."""
    outcome = await probe(litellm_proxy, key_header="authorization")
    assert outcome.success, outcome.failure


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_upstream_down(litellm_proxy: LiteLLMProxy, endpoint: str) -> None:
    """A stopped upstream lists no tools, so the probe model (like a real one) calls none:
    LiteLLM answers 200 with only the model's message (responses: `tools: []`; chat: no
    mcp_list_tools). The gateway's own listing says `unreachable`: gateway_to_upstream fails at
    tools_list on both endpoints."""
    flaky = litellm_proxy.upstreams["flaky"]
    with flaky.stopped():
        outcome = await probe(litellm_proxy, endpoint=endpoint, server="flaky")
    assert where(outcome) == ("gateway_to_upstream", "tools_list", "upstream_unreachable")
    assert hop(outcome, "client_to_gateway") == 1
    assert hop(outcome, "gateway_to_upstream") == 0
    assert outcome.registry.value("probe_litellm_completion_tools") == 0
    assert outcome.registry.value("probe_litellm_completion_tool_listed") == 0
    assert outcome.registry.value("probe_litellm_completion_tool_calls") == 0
    assert outcome.registry.value("probe_http_status_code") == 200
    assert outcome.failure is not None
    assert "'flaky' as unreachable" in outcome.failure.detail
    assert calls_with(flaky, "echo", "text", nonce_of(outcome)) == []


@pytest.mark.parametrize(
    ("endpoint", "model"),
    [("chat_completions", "chat_model"), ("responses", "responses_model")],
)
async def test_upstream_down_with_mock_models(
    litellm_proxy: LiteLLMProxy, endpoint: str, model: str
) -> None:
    """The mock models call their fixed tool whatever was listed: named the same way."""
    with litellm_proxy.upstreams["flaky"].stopped():
        outcome = await probe(
            litellm_proxy,
            endpoint=endpoint,
            model=getattr(litellm_proxy, model),
            server="flaky",
            arguments={},
            expect={"text_contains": MOCK_TOOL_TEXT},
        )
    assert where(outcome) == ("gateway_to_upstream", "tools_list", "upstream_unreachable")
    assert hop(outcome, "client_to_gateway") == 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("block", "reason"),
    [
        ({"server": "wrongbearer"}, "token_rejected"),
        ({"server": "m2mbad"}, "token_fetch_failed"),
        ({"server": "headers", "upstream_headers": {"x-api-key": "wrong-0000"}}, "token_rejected"),
        ({"server": "strictpass", "key_header": "authorization"}, "token_rejected"),
        ({"server": "strictpass"}, "auth_required"),
        ({"server": "authcode"}, "auth_required"),
    ],
)
async def test_upstream_refusing_the_gateway(
    litellm_proxy: LiteLLMProxy, endpoint: str, block: dict[str, Any], reason: str
) -> None:
    """A server that lists nothing because it refused the gateway's credential (or the gateway
    had none, or got none): the reason the mcp prober gives, from the gateway's own listing
    (its outcome, or LiteLLM's 401 for a server that needs the user's token)."""
    outcome = await probe(litellm_proxy, endpoint=endpoint, **block)
    assert where(outcome) == ("gateway_to_upstream", "tools_list", reason)
    assert outcome.registry.value("probe_litellm_completion_tools") == 0
    assert outcome.registry.value("probe_http_status_code") == 200
    assert hop(outcome, "client_to_gateway") == 1
    if block == {"server": "strictpass"}:
        assert any("no_oauth2_token" in note for note in outcome.context.notes)


async def test_healthy_probe_asks_the_gateway_nothing_else(litellm_proxy: LiteLLMProxy) -> None:
    """The gateway's listing is asked only when the answer listed nothing."""
    outcome = await probe(litellm_proxy, endpoint="responses")
    assert outcome.success, outcome.failure
    assert (
        outcome.registry.value("probe_mcp_phase_duration_seconds", {"phase": "tools_list"}) is None
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_tool_raises(litellm_proxy: LiteLLMProxy, endpoint: str) -> None:
    """The tool's own exception reaches the probe as tool_error at the call; the call happened."""
    outcome = await probe(
        litellm_proxy, endpoint=endpoint, tool="fail", arguments={"message": "{nonce}"}
    )
    assert where(outcome) == ("gateway_to_upstream", "tool_call", "tool_error")
    assert outcome.failure is not None
    assert "Error executing tool fail" in outcome.failure.detail
    assert len(calls_with(litellm_proxy.upstreams["open"], "fail", "message", nonce_of(outcome)))
    assert hop(outcome, "client_to_gateway") == 1
    assert hop(outcome, "gateway_to_upstream") == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_wrong_tool_name(litellm_proxy: LiteLLMProxy, endpoint: str) -> None:
    """A tool the server does not have is not listed (responses: not among the offered `tools`,
    so the model answers with text): expectation_failed at tools_list."""
    outcome = await probe(litellm_proxy, endpoint=endpoint, tool="nosuchtool", arguments={})
    assert where(outcome) == ("gateway_to_upstream", "tools_list", "expectation_failed")
    assert outcome.failure is not None
    assert "'open-nosuchtool' is not among the 4 tools" in outcome.failure.detail
    assert outcome.registry.value("probe_litellm_completion_tools") == 4
    assert outcome.registry.value("probe_litellm_completion_tool_listed") == 0
    assert hop(outcome, "client_to_gateway") == 1
    assert hop(outcome, "gateway_to_upstream") == 0
    assert litellm_proxy.upstreams["open"].tool_calls("nosuchtool") == []


async def test_upstream_answers_500_to_the_call(litellm_proxy: LiteLLMProxy) -> None:
    """HTTP 500 from the upstream during the call: http_status at tool_call."""
    outcome = await probe(litellm_proxy, tool="http500", arguments={})
    assert where(outcome) == ("gateway_to_upstream", "tool_call", "http_status")
    assert outcome.failure is not None
    assert "HTTPStatusError" in outcome.failure.detail
    assert hop(outcome, "client_to_gateway") == 1


async def test_upstream_dies_mid_call(litellm_proxy: LiteLLMProxy) -> None:
    """The upstream process exiting during the call: sse_protocol_error at tool_call."""
    flaky = litellm_proxy.upstreams["flaky"]
    try:
        outcome = await probe(litellm_proxy, server="flaky", tool="crash", arguments={})
    finally:
        flaky.stop()
        flaky.start()
    assert where(outcome) == ("gateway_to_upstream", "tool_call", "sse_protocol_error")
    assert outcome.failure is not None
    assert "MCPError: SSE stream ended without a response" in outcome.failure.detail
    assert len(flaky.tool_calls("crash")) >= 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_model_fails_before_the_call(litellm_proxy: LiteLLMProxy, endpoint: str) -> None:
    """A 500 from the model's first turn is placed at model_first_turn; no tool call happened."""
    before = len(litellm_proxy.upstreams["open"].tool_calls())
    outcome = await probe(litellm_proxy, endpoint=endpoint, prompt="fail")
    assert where(outcome) == ("client_to_gateway", "model_first_turn", "http_status")
    assert outcome.registry.value("probe_http_status_code") == 500
    assert hop(outcome, "client_to_gateway") == 0
    assert len(litellm_proxy.upstreams["open"].tool_calls()) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_model_fails_after_the_call(litellm_proxy: LiteLLMProxy, endpoint: str) -> None:
    """A 500 from the second turn is placed at model_second_turn; the tool ran exactly once."""
    outcome = await probe(
        litellm_proxy,
        endpoint=endpoint,
        prompt="fail-after call {server}-{tool} {arguments}",
    )
    assert where(outcome) == ("client_to_gateway", "model_second_turn", "http_status")
    assert len(calls_with(litellm_proxy.upstreams["open"], "echo", "text", nonce_of(outcome))) == 1
    assert any("turn 2" in note for note in outcome.context.notes)


@pytest.mark.parametrize(
    ("api_key", "expected"),
    [
        ("sk-not-a-key-" + "x" * 20, ("client_to_gateway", "completion_request", "token_rejected")),
        (None, ("client_to_gateway", "completion_request", "auth_required")),
    ],
)
async def test_gateway_refuses_the_key(
    litellm_proxy: LiteLLMProxy, api_key: str | None, expected: tuple[str, str, str]
) -> None:
    """A wrong or missing key fails at the gateway before any MCP work."""
    outcome = await probe(litellm_proxy, api_key=api_key)
    assert where(outcome) == expected
    assert hop(outcome, "client_to_gateway") == 0
    assert outcome.registry.value("probe_litellm_completion_tool_calls") is None


async def test_unknown_probe_model(litellm_proxy: LiteLLMProxy) -> None:
    """A model the gateway does not have: http_status at the request, with a note to add it."""
    outcome = await probe(litellm_proxy, model="no-such-probe-model")
    assert where(outcome) == ("client_to_gateway", "completion_request", "http_status")
    assert any("model_list" in note for note in outcome.context.notes)


async def test_unknown_server(litellm_proxy: LiteLLMProxy) -> None:
    """An MCP server the gateway does not have (403 from LiteLLM): forbidden at the request."""
    outcome = await probe(litellm_proxy, server="nosuchserver")
    assert where(outcome) == ("client_to_gateway", "completion_request", "forbidden")


async def test_probe_endpoint_and_report(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Through /probe the metrics carry the completion phase; the report names the phases."""
    exporter = await make_exporter(yaml.safe_dump({"modules": {"c": module(litellm_proxy)}}))
    metrics = await exporter.probe(litellm_proxy.base_url, module="c")
    assert metrics["probe_success"] == 1
    assert 'probe_mcp_phase_duration_seconds{phase="completion_request"}' in metrics
    config = parse(yaml.safe_dump({"modules": {"c": module(litellm_proxy, tool="http500")}}), "t")
    outcome = await run_probe(litellm_proxy.base_url, config.modules["c"], 30)
    text = report.render(outcome)
    assert "completion_request" in text
    assert "gateway_to_upstream" in text
    assert "tool_call" in text
    assert "completion  chat_completions model mcp-probe, tool open-http500: listed 4 tools" in text
    assert report.as_dict(outcome)["completion"]["calls"] == 1


def test_parsers_ignore_malformed_answers() -> None:
    """Malformed or hostile answers parse to nothing, never raise."""
    doc: object
    for doc in (
        None,
        [],
        {"choices": "x"},
        {"choices": [{"message": {"provider_specific_fields": 1}}]},
    ):
        call = parse_chat_completion(doc)
        assert call.calls == []
        assert call.results == []
    for doc in (None, {"output": "x"}, {"output": [{"type": "mcp_tools_fetched", "content": 3}]}):
        call = parse_response(doc)
        assert call.calls == []
    odd = {"output": [{"type": "tool_execution_results", "content": [{"text": "[{]"}]}]}
    assert parse_response(odd).results == []


def test_repr_tool_names() -> None:
    """Tool names are read from LiteLLM's repr strings in either quoting."""
    assert repr_tool_name("name='open-echo' title=None description='x'") == "open-echo"
    assert repr_tool_name('name="it\'s" title=None') == "it's"
    assert repr_tool_name("title=None") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Error executing tool: 'flaky-echo'", "tool_error"),
        ("ConnectError: All connection attempts failed", "upstream_unreachable"),
        ("HTTPStatusError: Client error '401 Unauthorized' for url 'x'", "auth_required"),
        ("HTTPStatusError: Server error '500 Internal Server Error' for url 'x'", "http_status"),
        ("MCPError: SSE stream ended without a response", "sse_protocol_error"),
        ("Error: upstream authentication required (HTTP 401)", "auth_required"),
        ("Error: upstream authentication required (HTTP 403)", "forbidden"),
        ("MCPError: Invalid params", "jsonrpc_error"),
        ("Error executing tool fail", "tool_error"),
        ("mcp-probe-0123456789abcdef", None),
    ],
)
def test_result_text_classification(text: str, reason: str | None) -> None:
    """LiteLLM's result texts map onto the fixed reasons."""
    found = result_failure(text)
    assert (found[0] if found else None) == reason
