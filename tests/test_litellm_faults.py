"""Upstream faults behind a real LiteLLM 1.106.0 (tests/peers/litellm_faults.py).

Upstreams that answer 500, HTML, 403, 429 or 404, a host name that does not resolve, a listing
or a tool call slower than LiteLLM's own deadlines, stdio servers, an access group, and names in
`x-mcp-servers` LiteLLM drops silently. LiteLLM answers 200 for all of them; the probe must name
the hop and the reason. Facts: tests/testdata/litellm/OBSERVED.md, section 9.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.conftest import Exporter, ExporterFactory
from tests.peers.litellm_faults import (
    GROUP,
    FaultGateway,
    start_fault_gateway,
    stop_fault_gateway,
)
from tests.peers.litellm_proxy import LITELLM_PYTHON
from tests.test_litellm import issues, resolution
from tests.test_probe_mcp import failure

pytestmark = pytest.mark.timeout(180)

DIRECT = {"url_policy": {"allow_http_loopback": True}}


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultGateway]:
    """A running LiteLLM in front of the fault upstreams (module scope: ~10 s to start)."""
    if not LITELLM_PYTHON.exists():
        pytest.skip("LiteLLM peer not installed: run `bash tests/peers/litellm/install.sh`")
    gateway = start_fault_gateway(tmp_path_factory.mktemp("litellm-faults"))
    try:
        yield gateway
    finally:
        stop_fault_gateway(gateway)


def module(gw: FaultGateway, **litellm: Any) -> dict[str, Any]:
    """A gateway module with the master key in x-litellm-api-key and debug on."""
    mcp: dict[str, Any] = {"transport": "streamable_http", "steps": ["tools_list"]}
    for key in ("steps", "tool_call"):
        if key in litellm:
            mcp[key] = litellm.pop(key)
    mcp["litellm"] = {"api_key": gw.master_key} | litellm
    return {"prober": "mcp", "timeout": "30s", "mcp": mcp}


async def exporter_for(make_exporter: ExporterFactory, **modules: dict[str, Any]) -> Exporter:
    return await make_exporter(yaml.safe_dump({"modules": modules}))


def hops(m: dict[str, float]) -> dict[str, float]:
    return {k.split('"')[1]: v for k, v in m.items() if k.startswith("probe_hop_success{")}


@pytest.mark.parametrize(
    ("server", "status", "reason", "resolved"),
    [
        ("status500", "upstream_error", "http_status", "no-auth"),
        ("html", "internal", "http_status", "no-auth"),
        ("forbidden", "forbidden", "forbidden", "no-auth"),
        ("ratelimit", "upstream_error", "http_status", "no-auth"),
        ("notfound", "internal", "http_status", "no-auth"),
        ("nxdomain", "unreachable", "upstream_unreachable", "no-auth"),
        ("slowlist", "timeout", "timeout", "no-auth"),
        ("stdiodead", "internal", "http_status", "not-applicable"),
    ],
)
async def test_upstream_fault_on_the_listing(
    make_exporter: ExporterFactory,
    faults: FaultGateway,
    server: str,
    status: str,
    reason: str,
    resolved: str,
) -> None:
    """LiteLLM answers tools/list 200 with no tools and a classified outcome (a 429 is
    `upstream_error`, not `rate_limited`; HTML, a 404 and a dead stdio command are `internal`
    without a status); the probe fails at gateway_to_upstream with the outcome's reason."""
    exporter = await exporter_for(make_exporter, gw=module(faults))
    m = await exporter.probe(faults.mcp_url(server), "gw")
    assert failure(m) == ("gateway_to_upstream", "tools_list", reason)
    assert m[f'probe_litellm_upstream_status{{server="{server}",status="{status}"}}'] == 1
    assert resolution(m) == resolved
    assert issues(m) == {"empty_tool_list_upstream_failed"}
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}
    assert m["probe_mcp_tools"] == 0


async def test_listing_timeout_names_the_gateways_deadline(
    make_exporter: ExporterFactory, faults: FaultGateway
) -> None:
    """A listing slower than LiteLLM's deadline: the detail names LiteLLM's settings, since the
    module's timeout (30 s here) was never reached."""
    exporter = await exporter_for(make_exporter, gw=module(faults))
    _, text = await exporter.get(
        "/probe", target=faults.mcp_url("slowlist"), module="gw", debug="true"
    )
    assert "LITELLM_MCP_TOOL_LISTING_TIMEOUT" in text


async def test_html_upstream_tells_apart_with_the_direct_probe(
    make_exporter: ExporterFactory, faults: FaultGateway
) -> None:
    """The gateway only says `internal`; the direct probe of the reported URL says not_mcp."""
    exporter = await exporter_for(make_exporter, gw=module(faults, direct_probe=DIRECT))
    m = await exporter.probe(faults.mcp_url("html"), "gw")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "http_status")
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0, "client_to_upstream": 0}
    _, text = await exporter.get("/probe", target=faults.mcp_url("html"), module="gw", debug="true")
    assert "direct probe of the upstream failed: not_mcp at upstream_initialize" in text


async def test_tool_call_slower_than_the_gateways_deadline_is_a_timeout(
    make_exporter: ExporterFactory, faults: FaultGateway
) -> None:
    """LiteLLM's own deadline for the call (the server's `timeout`) answers isError with the
    bare text `Error: timeout`: timeout at gateway_to_upstream, not tool_error; on the
    aggregate too."""
    call = {"name": "slowcall-nap", "arguments": {}}
    steps = ["tools_list", "tool_call"]
    exporter = await exporter_for(
        make_exporter,
        one=module(faults, steps=steps, tool_call=call),
        both=module(faults, steps=steps, tool_call=call, servers=["open", "slowcall"]),
    )
    for name, url in (("one", faults.mcp_url("slowcall")), ("both", faults.mcp_url())):
        m = await exporter.probe(url, name)
        assert failure(m) == ("gateway_to_upstream", "tool_call", "timeout"), name
        assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}, name
    _, text = await exporter.get(
        "/probe", target=faults.mcp_url("slowcall"), module="one", debug="true"
    )
    assert "LITELLM_MCP_CLIENT_TIMEOUT" in text


@pytest.mark.parametrize("steps", [["tool_call"], ["tools_list", "tool_call"]])
async def test_tool_the_gateway_does_not_have(
    make_exporter: ExporterFactory, faults: FaultGateway, steps: list[str]
) -> None:
    """A tool name no upstream offers: LiteLLM answers `Tool '<tool>' not found` without calling
    anything while its listing is healthy, so the gateway refused the probe's name:
    client_to_gateway, and gateway_to_upstream works."""
    call = {"name": "open-nosuchtool", "arguments": {}}
    exporter = await exporter_for(make_exporter, gw=module(faults, steps=steps, tool_call=call))
    before = len(faults.open_upstream.tool_calls())
    m = await exporter.probe(faults.mcp_url("open"), "gw")
    assert failure(m) == ("client_to_gateway", "tool_call", "tool_error")
    assert hops(m) == {"client_to_gateway": 0, "gateway_to_upstream": 1}
    assert m['probe_litellm_upstream_status{server="open",status="ok"}'] == 1
    assert issues(m) == set()
    assert len(faults.open_upstream.tool_calls()) == before
    _, text = await exporter.get("/probe", target=faults.mcp_url("open"), module="gw", debug="true")
    assert "the gateway lists no such tool" in text


async def test_unprefixed_tool_name_on_a_server_url_reaches_the_upstream(
    make_exporter: ExporterFactory, faults: FaultGateway
) -> None:
    """Control: on /mcp/{server} LiteLLM also takes the bare tool name, so a call that fails in
    the upstream stays at gateway_to_upstream."""
    call = {"name": "echo", "arguments": {"text": "bare"}}
    exporter = await exporter_for(
        make_exporter, gw=module(faults, steps=["tools_list", "tool_call"], tool_call=call)
    )
    m = await exporter.probe(faults.mcp_url("open"), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert any(c["arguments"] == {"text": "bare"} for c in faults.open_upstream.tool_calls())


async def test_unknown_name_among_known_ones_in_x_mcp_servers(
    make_exporter: ExporterFactory, faults: FaultGateway
) -> None:
    """LiteLLM answers 403 only when no x-mcp-servers name is usable; one unknown name among
    known ones is dropped silently (200, no outcome for it). The probe checks the names without
    an outcome against the gateway's server list: forbidden at client_to_gateway with
    unknown_server. An access group (its servers have the outcomes) is a known name, and names
    that all have outcomes cost no extra request."""
    exporter = await exporter_for(
        make_exporter,
        typo=module(faults, servers=["open", "nosuchserver"]),
        group=module(faults, servers=[GROUP], ignore_upstreams=["status500"]),
        named=module(faults, servers=["open", "jsonmcp"]),
    )
    m = await exporter.probe(faults.mcp_url(), "typo")
    assert failure(m) == ("client_to_gateway", "tools_list", "forbidden")
    assert issues(m) == {"unknown_server"}
    assert m['probe_litellm_upstream_status{server="open",status="ok"}'] == 1
    assert hops(m) == {"client_to_gateway": 0, "gateway_to_upstream": 1}
    m = await exporter.probe(faults.mcp_url(), "group")
    assert m["probe_success"] == 1, failure(m)
    assert issues(m) == set()
    assert m['probe_litellm_upstream_status{server="status500",status="upstream_error"}'] == 1
    assert m['probe_mcp_phase_duration_seconds{phase="server_list"}'] > 0
    m = await exporter.probe(faults.mcp_url(), "named")
    assert m["probe_success"] == 1, failure(m)
    assert 'probe_mcp_phase_duration_seconds{phase="server_list"}' not in m


@pytest.mark.parametrize("url", ["mcp/" + GROUP, GROUP + "/mcp", "group-header"])
async def test_access_group_with_a_failing_member(
    make_exporter: ExporterFactory, faults: FaultGateway, url: str
) -> None:
    """An access group, in either path layout or in x-mcp-servers, is an aggregate of its
    servers: the failing member fails gateway_to_upstream, the healthy one is listed."""
    servers = [GROUP] if url == "group-header" else []
    exporter = await exporter_for(make_exporter, gw=module(faults, servers=servers))
    target = faults.mcp_url() if url == "group-header" else f"{faults.base_url}/{url}"
    m = await exporter.probe(target, "gw")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "http_status")
    assert resolution(m) == "multiple"
    assert m['probe_litellm_upstream_status{server="open",status="ok"}'] == 1
    assert m["probe_mcp_tools"] == 4
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}


async def test_stdio_and_json_answering_upstreams_are_healthy(
    make_exporter: ExporterFactory, faults: FaultGateway
) -> None:
    """A stdio server resolves `not-applicable` (no credential, auth type unset) and a server
    answering application/json instead of SSE works through the gateway, tool call included."""
    exporter = await exporter_for(
        make_exporter,
        stdio=module(
            faults,
            steps=["tools_list", "tool_call"],
            tool_call={"name": "stdio-echo", "arguments": {"text": "over stdio"}},
        ),
        json=module(
            faults,
            steps=["tools_list", "tool_call"],
            tool_call={"name": "jsonmcp-nap", "arguments": {}},
        ),
    )
    m = await exporter.probe(faults.mcp_url("stdio"), "stdio")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "not-applicable"
    assert m['probe_litellm_server_auth_type_info{auth_type="unset"}'] == 1
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 1}
    m = await exporter.probe(faults.mcp_url("jsonmcp"), "json")
    assert m["probe_success"] == 1, failure(m)
    assert any(r["rpc_method"] == "tools/call" for r in faults.requests("jsonmcp"))
