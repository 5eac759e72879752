"""Health check of the LiteLLM test peer: the proxy starts and proxies MCP to its SDK upstreams."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx2 as httpx
import pytest

from tests.peers.litellm_proxy import LiteLLMProxy

pytestmark = pytest.mark.timeout(180)

ACCEPT = "application/json, text/event-stream"


def _rpc_message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a streamable-HTTP answer (JSON body or the SSE event carrying it)."""
    if response.headers.get("content-type", "").startswith("application/json"):
        message: dict[str, Any] = response.json()
        return message
    for line in response.text.splitlines():
        if line.startswith("data:") and line[5:].strip():
            data: dict[str, Any] = json.loads(line[5:])
            if "id" in data:
                return data
    raise AssertionError(f"no JSON-RPC response in {response.text!r}")


def _session(proxy: LiteLLMProxy, client: httpx.Client, url: str) -> dict[str, str]:
    """Initialize an MCP session through the proxy; the headers for later requests."""
    headers = proxy.key_headers() | {"accept": ACCEPT}
    init = client.post(
        url,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "peer-check", "version": "0"},
            },
        },
    )
    assert init.status_code == 200, init.text
    version = _rpc_message(init)["result"]["protocolVersion"]
    headers |= {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": version}
    notified = client.post(
        url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
    )
    assert notified.status_code == 202
    return headers


def test_proxy_is_ready(litellm_proxy: LiteLLMProxy) -> None:
    """The proxy answers its liveness endpoint on 127.0.0.1 and every upstream is running."""
    assert litellm_proxy.base_url.startswith("http://127.0.0.1:")
    response = httpx.get(f"{litellm_proxy.base_url}/health/liveliness", timeout=10)
    assert response.status_code == 200
    assert all(up.running for up in litellm_proxy.upstreams.values())


@pytest.mark.parametrize("layout", ["mcp/{server}", "{server}/mcp"])
def test_tools_list_through_proxy_returns_upstream_tools(
    litellm_proxy: LiteLLMProxy,
    layout: str,
) -> None:
    """tools/list through the proxy lists the upstream's tools, prefixed with the server name."""
    url = litellm_proxy.mcp_url("open", layout)
    with httpx.Client(timeout=30) as client:
        headers = _session(litellm_proxy, client, url)
        listed = client.post(
            url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        )
        client.delete(url, headers=headers)
    assert listed.status_code == 200
    result = _rpc_message(listed)["result"]
    assert {t["name"] for t in result["tools"]} == {
        "open-echo",
        "open-fail",
        "open-crash",
        "open-http500",
    }
    assert result["_meta"]["litellm.ai/server_outcomes"] == {
        "open": {"status": "ok", "tool_count": 4}
    }
    assert listed.headers["x-mcp-debug-auth-resolution"] == "no-auth"


def test_tool_call_reaches_the_upstream_exactly_once(litellm_proxy: LiteLLMProxy) -> None:
    """A tools/call with a nonce through the proxy is recorded once by the upstream."""
    nonce = "nonce-" + uuid.uuid4().hex
    url = litellm_proxy.mcp_url("open")
    with httpx.Client(timeout=30) as client:
        headers = _session(litellm_proxy, client, url)
        called = client.post(
            url,
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "open-echo", "arguments": {"text": nonce}},
            },
        )
        client.delete(url, headers=headers)
    assert _rpc_message(called)["result"]["content"][0]["text"] == nonce
    calls = [
        c
        for c in litellm_proxy.upstreams["open"].tool_calls("echo")
        if c["arguments"]["text"] == nonce
    ]
    assert len(calls) == 1


def test_stopped_upstream_is_reported_unreachable(litellm_proxy: LiteLLMProxy) -> None:
    """With 'flaky' stopped, LiteLLM answers 200 with no tools and outcome `unreachable`."""
    url = litellm_proxy.mcp_url("flaky")
    flaky = litellm_proxy.upstreams["flaky"]
    with flaky.stopped(), httpx.Client(timeout=30) as client:
        assert not flaky.running
        headers = _session(litellm_proxy, client, url)
        listed = client.post(
            url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        )
    assert flaky.running
    result = _rpc_message(listed)["result"]
    assert result["tools"] == []
    assert result["_meta"]["litellm.ai/server_outcomes"] == {"flaky": {"status": "unreachable"}}


def test_chat_completion_probe_model_calls_the_tool(litellm_proxy: LiteLLMProxy) -> None:
    """The deterministic probe model calls the MCP tool once and answers with the tool's output."""
    nonce = "nonce-" + uuid.uuid4().hex
    response = httpx.post(
        f"{litellm_proxy.base_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {litellm_proxy.master_key}"},
        json={
            "model": litellm_proxy.custom_model,
            "messages": [{"role": "user", "content": f'call open-echo {{"text": "{nonce}"}}'}],
            "tools": [
                {
                    "type": "mcp",
                    "server_label": "open",
                    "server_url": "litellm_proxy/mcp/open",
                    "require_approval": "never",
                }
            ],
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    message = response.json()["choices"][0]["message"]
    assert message["content"] == nonce
    results = message["provider_specific_fields"]["mcp_call_results"]
    assert [(r["name"], r["result"]) for r in results] == [("open-echo", nonce)]
    calls = [
        c
        for c in litellm_proxy.upstreams["open"].tool_calls("echo")
        if c["arguments"]["text"] == nonce
    ]
    assert len(calls) == 1
