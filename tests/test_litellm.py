"""The mcp prober through a real LiteLLM 1.106.0 gateway (tests/peers/litellm_proxy.py).

Every scenario asserts the gateway's auth resolution, the detected issues and the hop that failed
(or that every exercised hop worked). Facts about LiteLLM: tests/testdata/litellm/OBSERVED.md.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import yaml

from exporter import report
from exporter.config import parse
from exporter.litellm.diagnosis import (
    ISSUES,
)
from exporter.litellm.headers import (
    RESOLUTIONS,
)
from exporter.probe import run_probe
from tests.conftest import Exporter, ExporterFactory
from tests.peers.litellm_proxy import HEADER_NAME, HEADER_VALUE, LiteLLMProxy
from tests.test_probe_mcp import failure

USER_TOKEN = "user-oauth-token-" + "u" * 12 + "3456"


def module(proxy: LiteLLMProxy, **litellm: Any) -> dict[str, Any]:
    """A gateway module: the master key in x-litellm-api-key, debug on, unless overridden."""
    mcp: dict[str, Any] = {"transport": "streamable_http", "steps": ["tools_list"]}
    for key in ("steps", "bearer_token", "tool_call", "expect"):
        if key in litellm:
            mcp[key] = litellm.pop(key)
    block: dict[str, Any] = {"api_key": proxy.master_key} | litellm
    if block["api_key"] is None:
        del block["api_key"]
    mcp["litellm"] = block
    return {"prober": "mcp", "timeout": "30s", "mcp": mcp}


async def gateway(make_exporter: ExporterFactory, **modules: dict[str, Any]) -> Exporter:
    return await make_exporter(yaml.safe_dump({"modules": modules}))


def issues(m: dict[str, float]) -> set[str]:
    """The issues reported as 1; every known issue must be present as a series."""
    for issue in ISSUES:
        assert f'probe_litellm_issue{{issue="{issue}"}}' in m
    return {i for i in ISSUES if m[f'probe_litellm_issue{{issue="{i}"}}'] == 1}


def resolution(m: dict[str, float]) -> str | None:
    """The resolution reported as 1 (and every known one present as 0 or 1)."""
    found = [
        key.split('"')[1]
        for key, value in m.items()
        if key.startswith("probe_litellm_auth_resolution{") and value == 1
    ]
    if not found:
        assert not any(k.startswith("probe_litellm_auth_resolution{") for k in m)
        return None
    for known in RESOLUTIONS:
        assert f'probe_litellm_auth_resolution{{resolution="{known}"}}' in m
    assert len(found) == 1
    return found[0]


def hops(m: dict[str, float]) -> dict[str, float]:
    return {
        key.split('"')[1]: value for key, value in m.items() if key.startswith("probe_hop_success{")
    }


def state(m: dict[str, float], name: str, label: str) -> str | None:
    ones = [k.split('"')[1] for k, v in m.items() if k.startswith(f"{name}{{{label}=") and v == 1]
    return ones[0] if ones else None


@pytest.mark.parametrize("layout", ["mcp/{server}", "{server}/mcp"])
async def test_no_auth_server_in_both_layouts(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy, layout: str
) -> None:
    """An auth_type none server: no-auth, outcome ok with its tool count, both hops work."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy))
    m = await exporter.probe(litellm_proxy.mcp_url("open", layout), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "no-auth"
    assert m['probe_litellm_server_auth_type_info{auth_type="none"}'] == 1
    assert state(m, "probe_litellm_oauth2_token_state", "state") == "none"
    assert m['probe_litellm_upstream_status{server="open",status="ok"}'] == 1
    assert m['probe_litellm_upstream_tools{server="open"}'] == 4
    assert issues(m) == set()
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 1}
    assert m["probe_mcp_tools"] == 4


async def test_static_bearer_server(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """A bearer_token server: static-token resolution, the upstream accepts LiteLLM's token."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy))
    m = await exporter.probe(litellm_proxy.mcp_url("bearer"), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "static-token"
    assert m['probe_litellm_server_auth_type_info{auth_type="bearer_token"}'] == 1
    assert issues(m) == set()
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 1}


async def test_per_request_header_reaches_the_upstream(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """upstream_headers are sent as x-mcp-{server}-{header}: per-request-header resolution."""
    exporter = await gateway(
        make_exporter,
        gw=module(litellm_proxy, upstream_headers={"headers": {HEADER_NAME: HEADER_VALUE}}),
    )
    m = await exporter.probe(litellm_proxy.mcp_url("headers"), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "per-request-header"
    assert m['probe_litellm_upstream_status{server="headers",status="ok"}'] == 1
    assert issues(m) == set()
    seen = [
        e["headers"].get(HEADER_NAME)
        for e in litellm_proxy.upstreams["headers"].events("http")
        if e["rpc_method"] == "tools/list"
    ]
    assert seen[-1] == HEADER_VALUE


async def test_per_request_header_missing_is_an_upstream_auth_failure(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Without the header LiteLLM lists no tools (200); the outcome names gateway_to_upstream."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy))
    m = await exporter.probe(litellm_proxy.mcp_url("headers"), "gw")
    assert m["probe_success"] == 0
    assert failure(m) == ("gateway_to_upstream", "tools_list", "auth_required")
    assert resolution(m) == "no-auth"
    assert m['probe_litellm_upstream_status{server="headers",status="auth_required"}'] == 1
    assert issues(m) == {"empty_tool_list_upstream_failed"}
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}


async def test_client_credentials_server(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """An oauth2 client_credentials server: LiteLLM fetches an M2M token; with
    expect_user_token that is flagged, without it nothing is."""
    exporter = await gateway(
        make_exporter,
        gw=module(litellm_proxy),
        user=module(litellm_proxy, expect_user_token=True),
    )
    url = litellm_proxy.mcp_url("m2m")
    m = await exporter.probe(url, "gw")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "m2m-client-credentials"
    assert m['probe_litellm_server_auth_type_info{auth_type="oauth2"}'] == 1
    assert issues(m) == set()
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 1}
    m = await exporter.probe(url, "user")
    assert m["probe_success"] == 1
    assert issues(m) == {"m2m_instead_of_user_token"}


async def test_static_authorization_for_an_oauth_server(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """x-mcp-m2m-authorization overrides LiteLLM's OAuth for an oauth2 server: flagged."""
    exporter = await gateway(
        make_exporter,
        gw=module(
            litellm_proxy, upstream_headers={"m2m": {"authorization": "Bearer static-123456"}}
        ),
    )
    m = await exporter.probe(litellm_proxy.mcp_url("m2m"), "gw")
    assert resolution(m) == "per-request-header"
    assert "static_authorization_blocks_oauth" in issues(m)
    # The upstream rejects the static token the gateway sent: LiteLLM's outcome says so.
    assert failure(m) == ("gateway_to_upstream", "tools_list", "token_rejected")


async def test_authorization_code_server_without_stored_token(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """LiteLLM's own 401 (authorization_uri) for an unauthorized oauth2 server: auth_required
    at client_to_gateway and no_oauth2_token; no debug headers, so no resolution."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy))
    m = await exporter.probe(litellm_proxy.mcp_url("authcode"), "gw")
    assert failure(m) == ("client_to_gateway", "initialize", "auth_required")
    assert resolution(m) is None
    assert issues(m) == {"no_oauth2_token"}
    assert hops(m) == {"client_to_gateway": 0}


async def test_passthrough_with_the_key_as_authorization_leaks_it(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """true_passthrough with the gateway key only in Authorization: SAME_AS_LITELLM_KEY, and
    the upstream really receives the key, so key_leaking_to_upstream is raised."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy, key_header="authorization"))
    upstream = litellm_proxy.upstreams["passthrough"]
    before = len(upstream.events("http"))
    m = await exporter.probe(litellm_proxy.mcp_url("passthrough"), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "oauth2-passthrough"
    assert m['probe_litellm_server_auth_type_info{auth_type="true_passthrough"}'] == 1
    assert state(m, "probe_litellm_oauth2_token_state", "state") == "same_as_litellm_key"
    assert issues(m) == {"key_leaking_to_upstream"}
    # Only this probe's requests: other tests send other credentials to the same upstream.
    sent = [e["headers"].get("authorization") for e in upstream.events("http")[before:]]
    assert sent
    assert f"Bearer {litellm_proxy.master_key}" in sent


async def test_passthrough_with_a_user_token_is_healthy(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Key in x-litellm-api-key and the user's token in Authorization: present, no issue."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy, bearer_token=USER_TOKEN))
    m = await exporter.probe(litellm_proxy.mcp_url("passthrough"), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "oauth2-passthrough"
    assert state(m, "probe_litellm_oauth2_token_state", "state") == "present"
    assert issues(m) == set()
    text = (
        await exporter.get(
            "/probe", target=litellm_proxy.mcp_url("passthrough"), module="gw", debug="true"
        )
    )[1]
    assert USER_TOKEN not in text
    assert litellm_proxy.master_key not in text


async def test_passthrough_without_a_token_is_the_upstreams_challenge(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Without Authorization LiteLLM relays the upstream's 401: gateway_to_upstream."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy))
    m = await exporter.probe(litellm_proxy.mcp_url("passthrough"), "gw")
    assert failure(m) == ("gateway_to_upstream", "initialize", "auth_required")
    assert issues(m) == {"no_oauth2_token"}


def server_id(proxy: LiteLLMProxy, name: str, auth_type: str) -> str:
    """LiteLLM's stable id of a config server (OBSERVED.md section 4)."""
    url = proxy.upstreams[name].url
    return hashlib.sha256(f"{name}|{url}|http|{auth_type}|".encode()).hexdigest()[:32]


async def test_aggregate_over_selected_servers(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """/mcp with x-mcp-servers: `multiple`, a per-server resolution series (named through
    server_ids, else the opaque id) and an outcome per server."""
    open_id = server_id(litellm_proxy, "open", "none")
    exporter = await gateway(
        make_exporter,
        gw=module(litellm_proxy, servers=["open", "bearer", "m2m"], server_ids={open_id: "open"}),
    )
    m = await exporter.probe(litellm_proxy.mcp_url(), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "multiple"
    per_server = {
        k.split('"')[1]: k.split('"')[3]
        for k in m
        if k.startswith("probe_litellm_server_auth_resolution{")
    }
    assert per_server["open"] == "no-auth"
    assert sorted(per_server.values()) == ["m2m-client-credentials", "no-auth", "static-token"]
    assert all(len(s) == 32 for s in per_server if s != "open")
    for server in ("open", "bearer", "m2m"):
        assert m[f'probe_litellm_upstream_status{{server="{server}",status="ok"}}'] == 1
        assert m[f'probe_litellm_upstream_tools{{server="{server}"}}'] == 4
    assert m["probe_mcp_tools"] == 12
    assert issues(m) == set()


async def test_hashed_server_ids_named_from_the_gateways_list(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """With resolve_server_ids the per-server resolutions carry LiteLLM's server names, read from
    its /v1/mcp/server, without a hand-written server_ids map (one extra request, phase
    server_list); a configured name still wins."""
    open_id = server_id(litellm_proxy, "open", "none")
    exporter = await gateway(
        make_exporter,
        gw=module(litellm_proxy, servers=["open", "bearer", "m2m"], resolve_server_ids=True),
        pinned=module(
            litellm_proxy,
            servers=["open", "bearer", "m2m"],
            resolve_server_ids=True,
            server_ids={open_id: "mine"},
        ),
    )
    for name, expected in (("gw", "open"), ("pinned", "mine")):
        m = await exporter.probe(litellm_proxy.mcp_url(), name)
        assert m["probe_success"] == 1, failure(m)
        per_server = {
            k.split('"')[1]: k.split('"')[3]
            for k in m
            if k.startswith("probe_litellm_server_auth_resolution{")
        }
        assert per_server == {
            expected: "no-auth",
            "bearer": "static-token",
            "m2m": "m2m-client-credentials",
        }
        assert m['probe_mcp_phase_duration_seconds{phase="server_list"}'] > 0


async def test_aggregate_over_every_server(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """/mcp over all servers: the OAuth servers' auth_required fails gateway_to_upstream unless
    ignored; authcode's resolution-failed is reported as an issue either way."""
    headers = {"headers": {HEADER_NAME: HEADER_VALUE}}
    exporter = await gateway(
        make_exporter,
        strict=module(litellm_proxy, upstream_headers=headers),
        lenient=module(
            litellm_proxy,
            upstream_headers=headers,
            # The servers whose credentials are missing or wrong on purpose (the peer's list).
            ignore_upstreams=[
                "authcode",
                "passthrough",
                "wrongbearer",
                "m2mbad",
                "m2mdown",
                "strictpass",
            ],
        ),
    )
    m = await exporter.probe(litellm_proxy.mcp_url(), "strict")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "auth_required")
    assert m['probe_litellm_upstream_status{server="authcode",status="auth_required"}'] == 1
    assert m['probe_litellm_upstream_status{server="open",status="ok"}'] == 1
    assert "auth_resolution_failed" in issues(m)
    m = await exporter.probe(litellm_proxy.mcp_url(), "lenient")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) == "multiple"
    assert m['probe_litellm_server_auth_type_info{auth_type="unset"}'] == 1
    # m2mbad's refused token request shows as resolution-failed with an internal outcome.
    assert issues(m) == {"auth_resolution_failed", "m2m_token_fetch_failed"}
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 1}


async def test_wrong_key_is_token_rejected_at_the_gateway(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """LiteLLM's 400 "No connected db." for an unknown key: token_rejected, client_to_gateway."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy, api_key="sk-not-the-key"))
    m = await exporter.probe(litellm_proxy.mcp_url("open"), "gw")
    assert failure(m) == ("client_to_gateway", "initialize", "token_rejected")
    assert m["probe_http_status_code"] == 400
    assert resolution(m) is None
    assert issues(m) == set()
    assert hops(m) == {"client_to_gateway": 0}


async def test_missing_key_is_auth_required_at_the_gateway(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """No key: LiteLLM answers 500 (its anonymous lookup fails); auth_required at the gateway."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy, api_key=None))
    m = await exporter.probe(litellm_proxy.mcp_url("open"), "gw")
    assert failure(m) == ("client_to_gateway", "initialize", "auth_required")
    assert m["probe_http_status_code"] == 500
    assert hops(m) == {"client_to_gateway": 0}


@pytest.mark.parametrize(
    ("layout", "servers", "reason"),
    [
        ("mcp/{server}", [], "forbidden"),
        ("{server}/mcp", [], "http_status"),
        (None, ["nosuchserver"], "forbidden"),
    ],
)
async def test_unknown_server_name(
    make_exporter: ExporterFactory,
    litellm_proxy: LiteLLMProxy,
    layout: str | None,
    servers: list[str],
    reason: str,
) -> None:
    """An unknown server: 403 on /mcp/{s} and with x-mcp-servers, 404 on /{s}/mcp; the issue
    unknown_server at client_to_gateway either way."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy, servers=servers))
    url = litellm_proxy.mcp_url("nosuchserver", layout) if layout else litellm_proxy.mcp_url()
    m = await exporter.probe(url, "gw")
    assert failure(m) == ("client_to_gateway", "initialize", reason)
    assert issues(m) == {"unknown_server"}
    assert hops(m) == {"client_to_gateway": 0}


async def test_stopped_upstream_behind_a_running_gateway(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """With the upstream down LiteLLM still answers 200 with no tools: upstream_unreachable at
    gateway_to_upstream; the direct probe of the reported URL fails at client_to_upstream."""
    direct = {"url_policy": {"allow_http_loopback": True}}
    exporter = await gateway(
        make_exporter,
        gw=module(litellm_proxy, direct_probe=direct),
        call=module(
            litellm_proxy,
            steps=["tool_call"],
            tool_call={"name": "flaky-echo", "arguments": {"text": "x"}},
        ),
    )
    url = litellm_proxy.mcp_url("flaky")
    with litellm_proxy.upstreams["flaky"].stopped():
        m = await exporter.probe(url, "gw")
        called = await exporter.probe(url, "call")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "upstream_unreachable")
    assert m['probe_litellm_upstream_status{server="flaky",status="unreachable"}'] == 1
    assert issues(m) == {"empty_tool_list_upstream_failed"}
    assert resolution(m) == "no-auth"
    assert hops(m) == {
        "client_to_gateway": 1,
        "gateway_to_upstream": 0,
        "client_to_upstream": 0,
    }
    assert failure(called) == ("gateway_to_upstream", "tool_call", "upstream_unreachable")
    m = await exporter.probe(url, "gw")
    assert m["probe_success"] == 1, failure(m)
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 1, "client_to_upstream": 1}
    assert m['probe_mcp_phase_duration_seconds{phase="upstream_initialize"}'] > 0


async def test_direct_probe_with_its_own_credentials(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """A configured upstream URL is probed with the direct_probe's own bearer token."""
    from tests.peers.litellm_proxy import BEARER_TOKEN

    upstream = litellm_proxy.upstreams["bearer"].url
    exporter = await gateway(
        make_exporter,
        good=module(litellm_proxy, direct_probe={"url": upstream, "bearer_token": BEARER_TOKEN}),
        bad=module(litellm_proxy, direct_probe={"url": upstream}),
    )
    m = await exporter.probe(litellm_proxy.mcp_url("bearer"), "good")
    assert m["probe_success"] == 1, failure(m)
    assert hops(m)["client_to_upstream"] == 1
    m = await exporter.probe(litellm_proxy.mcp_url("bearer"), "bad")
    assert failure(m) == ("client_to_upstream", "upstream_initialize", "auth_required")
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 1, "client_to_upstream": 0}


async def test_debug_output_and_report_name_the_remediation(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """The issue's one-line remediation is in /probe?debug=true; secrets are not."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy, key_header="authorization"))
    status, text = await exporter.get(
        "/probe", target=litellm_proxy.mcp_url("passthrough"), module="gw", debug="true"
    )
    assert status == 200
    assert f"litellm issue key_leaking_to_upstream: {ISSUES['key_leaking_to_upstream']}" in text
    assert litellm_proxy.master_key not in text
    assert litellm_proxy.master_key[-4:] + "\n" not in text


async def test_no_debug_headers_without_the_opt_in(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """debug: false sends no opt-in, so there is no resolution but outcomes still count."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy, debug=False))
    m = await exporter.probe(litellm_proxy.mcp_url("open"), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert resolution(m) is None
    assert issues(m) == set()
    assert m['probe_litellm_upstream_status{server="open",status="ok"}'] == 1


async def test_one_shot_report_shows_gateway_findings(litellm_proxy: LiteLLMProxy) -> None:
    """The one-shot report lists the resolution, each upstream, the issues with their
    remediation, and every hop; --json carries the same under `litellm`."""
    config = parse(
        yaml.safe_dump({"modules": {"gw": module(litellm_proxy, key_header="authorization")}}),
        "t",
    )
    outcome = await run_probe(litellm_proxy.mcp_url("passthrough"), config.modules["gw"], 30)
    text = report.render(outcome)
    assert "litellm     resolution oauth2-passthrough, server auth_type true_passthrough" in text
    assert "upstream  passthrough" in text
    assert "issues    key_leaking_to_upstream" in text
    assert (
        f"note        litellm issue key_leaking_to_upstream: {ISSUES['key_leaking_to_upstream']}"
        in text
    )
    assert "hop         client_to_gateway      ok" in text
    data = json.loads(report.render(outcome, as_json=True))
    assert data["litellm"]["issues"] == ["key_leaking_to_upstream"]
    assert data["hops"] == {"client_to_gateway": True, "gateway_to_upstream": True}
    assert litellm_proxy.master_key not in text
