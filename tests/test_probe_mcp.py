"""The mcp prober against real MCP servers (SDK and server-everything) and a few fakes."""

from __future__ import annotations

import pytest

from tests import fakes
from tests.conftest import Exporter, ExporterFactory
from tests.peers.mcp_servers import Peer


def failure(metrics: dict[str, float]) -> tuple[str, str, str] | None:
    """The (hop, phase, reason) of probe_failure_info, if any."""
    for key in metrics:
        if key.startswith("probe_failure_info{"):
            labels = dict(
                part.split("=", 1) for part in key[len("probe_failure_info{") : -1].split(",")
            )
            return (
                labels["hop"].strip('"'),
                labels["phase"].strip('"'),
                labels["reason"].strip('"'),
            )
    return None


async def test_stateful_sse_server_full_conversation(
    exporter: Exporter, sdk_stateful: Peer
) -> None:
    """A stateful SDK server answering over SSE passes every list step and ping."""
    m = await exporter.probe(sdk_stateful.url, "mcp_full")
    assert m["probe_success"] == 1, failure(m)
    assert (
        m[
            'probe_mcp_server_info{server_name="sdk-test-server",server_version="9.9.9",'
            'protocol_version="2025-11-25",transport="streamable_http"}'
        ]
        == 1
    )
    assert m["probe_mcp_tools"] == 3
    assert m["probe_mcp_resources"] == 1
    assert m["probe_mcp_prompts"] == 1
    for step in ("tools_list", "ping", "resources_list", "prompts_list", "session_delete"):
        assert m[f'probe_mcp_step_success{{step="{step}"}}'] == 1
    assert m['probe_mcp_capability{capability="tools"}'] == 1
    assert m['probe_hop_success{hop="client_to_upstream"}'] == 1
    assert m["probe_http_status_code"] == 200
    assert m["probe_mcp_jsonrpc_error_code"] == 0
    for phase in ("dns", "connect", "initialize", "initialized", "tools_list", "session_delete"):
        assert m[f'probe_mcp_phase_duration_seconds{{phase="{phase}"}}'] > 0


async def test_session_is_deleted_and_headers_sent(exporter: Exporter, sdk_stateful: Peer) -> None:
    """The probe sends MCP-Protocol-Version after initialize and DELETEs its session."""
    before = len(sdk_stateful.requests())
    m = await exporter.probe(sdk_stateful.url)
    assert m["probe_success"] == 1
    seen = sdk_stateful.requests()[before:]
    methods = [r["method"] for r in seen if r["path"] == "/mcp"]
    assert methods == ["POST", "POST", "POST", "DELETE"]
    assert seen[0]["session"] is False
    assert all(r["session"] for r in seen[1:])
    assert seen[0]["protocol_version"] is None
    assert all(r["protocol_version"] == "2025-11-25" for r in seen[1:])


async def test_stateless_json_server(exporter: Exporter, sdk_stateless_json: Peer) -> None:
    """A stateless server answering JSON works; no session means no DELETE."""
    before = len(sdk_stateless_json.requests())
    m = await exporter.probe(sdk_stateless_json.url, "mcp_full")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_mcp_tools"] == 3
    seen = sdk_stateless_json.requests()[before:]
    assert "DELETE" not in [r["method"] for r in seen]


async def test_stateless_revision_discover(exporter: Exporter, sdk_stateless_json: Peer) -> None:
    """Protocol 2026-07-28: server/discover then tools/list, no initialize."""
    m = await exporter.probe(sdk_stateless_json.url, "mcp_stateless")
    assert m["probe_success"] == 1, failure(m)
    assert m['probe_mcp_phase_duration_seconds{phase="discover"}'] > 0
    assert 'probe_mcp_phase_duration_seconds{phase="initialize"}' not in m
    assert any('protocol_version="2026-07-28"' in k for k in m)


async def test_legacy_sse_explicit_and_auto(exporter: Exporter, sdk_legacy_sse: Peer) -> None:
    """The legacy HTTP+SSE server works with transport sse, and auto falls back to it."""
    m = await exporter.probe(sdk_legacy_sse.url, "mcp_sse")
    assert m["probe_success"] == 1, failure(m)
    assert any('transport="sse"' in k and 'protocol_version="2024-11-05"' in k for k in m)
    m = await exporter.probe(sdk_legacy_sse.url, "mcp")
    assert m["probe_success"] == 1, failure(m)
    assert any('transport="sse"' in k for k in m)


async def test_everything_streamable(exporter: Exporter, everything_http: Peer) -> None:
    """server-everything (streamableHttp) passes the full module."""
    m = await exporter.probe(everything_http.url, "mcp_full")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_mcp_tools"] >= 5
    assert any('server_name="mcp-servers/everything"' in k for k in m)
    assert m["probe_mcp_tools_fingerprint"] > 0


async def test_everything_sse(exporter: Exporter, everything_sse: Peer) -> None:
    """server-everything (sse) works over the legacy transport, also via auto."""
    m = await exporter.probe(everything_sse.url, "mcp_sse")
    assert m["probe_success"] == 1, failure(m)
    m = await exporter.probe(everything_sse.url, "mcp")
    assert m["probe_success"] == 1, failure(m)


async def test_fingerprint_is_stable(exporter: Exporter, everything_http: Peer) -> None:
    """The same tool list gives the same fingerprint on every probe."""
    a = await exporter.probe(everything_http.url)
    b = await exporter.probe(everything_http.url)
    assert a["probe_mcp_tools_fingerprint"] == b["probe_mcp_tools_fingerprint"]


TOOL_CONFIG = """
modules:
  echo:
    prober: mcp
    mcp:
      steps: [tools_list, tool_call]
      tool_call: {name: echo, arguments: {text: hello-probe}, expect: {text_regex: "^hello-probe$"}}
      expect: {min_tools: 2, required_tools: [echo, fail]}
  failing_tool:
    prober: mcp
    mcp:
      steps: [tool_call]
      tool_call: {name: fail, arguments: {message: broken}}
  wrong_text:
    prober: mcp
    mcp:
      steps: [tool_call]
      tool_call: {name: echo, arguments: {text: a}, expect: {text_regex: "^b$"}}
  needs_more_tools:
    prober: mcp
    mcp:
      expect: {min_tools: 50, required_tools: [nope]}
  slow:
    prober: mcp
    timeout: 1s
    mcp:
      steps: [tool_call]
      tool_call: {name: slow, arguments: {seconds: 5}}
  tiny:
    prober: mcp
    mcp:
      limits: {max_response_bytes: 200}
  modern_only:
    prober: mcp
    mcp: {protocol_version: "2026-07-28", transport: streamable_http}
  min_version:
    prober: mcp
    mcp:
      protocol_version: "2025-03-26"
      expect: {min_protocol_version: "2025-06-18"}
"""


@pytest.fixture
async def tool_exporter(make_exporter: ExporterFactory) -> Exporter:
    return await make_exporter(TOOL_CONFIG)


async def test_tool_call_with_expectations(tool_exporter: Exporter, sdk_stateful: Peer) -> None:
    """A tools/call whose text matches passes, with tool count and names expected."""
    m = await tool_exporter.probe(sdk_stateful.url, "echo")
    assert m["probe_success"] == 1, failure(m)
    assert m['probe_mcp_step_success{step="tool_call"}'] == 1


async def test_tool_returning_is_error(tool_exporter: Exporter, sdk_stateful: Peer) -> None:
    """A tool result with isError fails the probe as tool_error."""
    m = await tool_exporter.probe(sdk_stateful.url, "failing_tool")
    assert failure(m) == ("client_to_upstream", "tool_call", "tool_error")
    assert m['probe_mcp_step_success{step="tool_call"}'] == 0


async def test_tool_text_mismatch(tool_exporter: Exporter, sdk_stateful: Peer) -> None:
    """A result not matching text_regex is expectation_failed."""
    m = await tool_exporter.probe(sdk_stateful.url, "wrong_text")
    assert failure(m) == ("client_to_upstream", "tool_call", "expectation_failed")


async def test_tool_count_expectation(tool_exporter: Exporter, sdk_stateful: Peer) -> None:
    """Too few tools is expectation_failed in tools_list."""
    m = await tool_exporter.probe(sdk_stateful.url, "needs_more_tools")
    assert failure(m) == ("client_to_upstream", "tools_list", "expectation_failed")


async def test_server_slower_than_timeout(tool_exporter: Exporter, sdk_stateful: Peer) -> None:
    """A server slower than the timeout ends the probe on time as timeout in that phase."""
    m = await tool_exporter.probe(sdk_stateful.url, "slow")
    assert failure(m) == ("client_to_upstream", "tool_call", "timeout")
    assert m["probe_duration_seconds"] < 1.5
    assert m["probe_timeout_seconds"] == 1


async def test_response_over_size_limit(tool_exporter: Exporter, everything_http: Peer) -> None:
    """A body over limits.max_response_bytes stops the read: response_too_large."""
    m = await tool_exporter.probe(everything_http.url, "tiny")
    assert failure(m) is not None
    assert failure(m)[2] == "response_too_large"  # type: ignore[index]


async def test_modern_request_to_older_server(
    tool_exporter: Exporter, everything_http: Peer
) -> None:
    """A 2026-07-28 probe of a server that only speaks initialize says so."""
    m = await tool_exporter.probe(everything_http.url, "modern_only")
    assert failure(m) == ("client_to_upstream", "discover", "protocol_version_unsupported")


async def test_minimum_protocol_version(tool_exporter: Exporter, sdk_stateful: Peer) -> None:
    """A negotiated revision below expect.min_protocol_version fails."""
    m = await tool_exporter.probe(sdk_stateful.url, "min_version")
    assert failure(m) == ("client_to_upstream", "initialize", "protocol_version_unsupported")


async def test_connection_refused(exporter: Exporter) -> None:
    """Nothing listening: connect_refused in phase connect."""
    from tests.peers.mcp_servers import free_port

    m = await exporter.probe(f"http://127.0.0.1:{free_port()}/mcp")
    assert m["probe_success"] == 0
    assert failure(m) == ("client_to_upstream", "connect", "connect_refused")
    assert m['probe_hop_success{hop="client_to_upstream"}'] == 0


async def test_unresolvable_host(exporter: Exporter) -> None:
    """A name under .invalid: dns in phase dns."""
    m = await exporter.probe("http://mcp.example.invalid/mcp")
    assert failure(m) == ("client_to_upstream", "dns", "dns")


async def test_wrong_path_404(exporter: Exporter, sdk_stateful: Peer) -> None:
    """A 404 path (no legacy SSE there either) is http_status at initialize."""
    m = await exporter.probe(f"{sdk_stateful.base}/nope")
    assert failure(m) == ("client_to_upstream", "initialize", "http_status")
    assert m["probe_http_status_code"] == 404


async def test_html_page(exporter: Exporter) -> None:
    """A web page is not_mcp."""
    async with fakes.serve(fakes.html_page()) as url:
        m = await exporter.probe(url)
    assert failure(m) == ("client_to_upstream", "initialize", "not_mcp")


async def test_wrong_content_type(exporter: Exporter) -> None:
    """JSON labelled text/plain is not_mcp."""
    async with fakes.serve(fakes.wrong_content_type()) as url:
        m = await exporter.probe(url)
    assert failure(m) == ("client_to_upstream", "initialize", "not_mcp")


async def test_jsonrpc_error(exporter: Exporter) -> None:
    """A JSON-RPC error is jsonrpc_error, its code exported."""
    async with fakes.serve(fakes.jsonrpc_error_on("tools/list")) as url:
        m = await exporter.probe(url)
    assert failure(m) == ("client_to_upstream", "tools_list", "jsonrpc_error")
    assert m["probe_mcp_jsonrpc_error_code"] == -32603


async def test_server_requiring_a_session(exporter: Exporter) -> None:
    """A server that wants a session it never issued: session_missing."""
    async with fakes.serve(fakes.session_required()) as url:
        m = await exporter.probe(url)
    assert failure(m) == ("client_to_upstream", "tools_list", "session_missing")


async def test_stalled_sse_stream_ends_at_timeout(make_exporter: ExporterFactory) -> None:
    """An SSE answer that never completes ends at the probe timeout."""
    exp = await make_exporter("modules: {m: {prober: mcp, timeout: 0.5s}}\n")
    async with fakes.serve(fakes.stalls_after_headers(5)) as url:
        m = await exp.probe(url, "m")
    assert failure(m) == ("client_to_upstream", "initialize", "timeout")
    assert m["probe_duration_seconds"] < 1.0


HANDSHAKE_NONE = """
modules:
  bare:
    prober: mcp
    mcp:
      transport: streamable_http
      handshake: none
      steps: [tools_list, tool_call]
      tool_call: {name: echo, arguments: {text: hi}, expect: {text_regex: "^hi$"}}
      expect: {required_tools: [echo]}
"""


async def test_no_handshake_on_a_stateless_server(
    make_exporter: ExporterFactory, sdk_stateless_json: Peer
) -> None:
    """handshake none sends one POST per step and nothing else; a stateless server answers."""
    exp = await make_exporter(HANDSHAKE_NONE)
    before = len(sdk_stateless_json.requests())
    m = await exp.probe(sdk_stateless_json.url, "bare")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_mcp_tools"] == 3
    assert not any(k.startswith("probe_mcp_server_info") for k in m)
    seen = sdk_stateless_json.requests()[before:]
    assert [r["method"] for r in seen] == ["POST", "POST"]


async def test_no_handshake_on_a_stateful_server(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """A server that needs a session refuses requests without one: session_missing."""
    exp = await make_exporter(HANDSHAKE_NONE)
    m = await exp.probe(sdk_stateful.url, "bare")
    assert failure(m) == ("client_to_upstream", "tools_list", "session_missing")
