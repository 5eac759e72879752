"""Authorization diagnosis through a real LiteLLM 1.106.0 (tests/peers/litellm_proxy.py).

Who sent which credential decides the reason: a 401 from the upstream to a credential the gateway
attached (its debug headers say so) is `token_rejected` at `gateway_to_upstream`; without one it
is `auth_required`. The gateway's own failed token request is `token_fetch_failed` with the issue
`m2m_token_fetch_failed`, never `no_oauth2_token`. Discovery after an auth failure starts from the
challenge already received and changes nothing about the diagnosis. Every hop a request crossed is
recorded whichever step failed.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from exporter import report
from exporter.config import parse
from exporter.probe import run_probe
from tests.conftest import ExporterFactory
from tests.peers.litellm_proxy import (
    BEARER_TOKEN,
    HEADER_NAME,
    HEADER_VALUE,
    PASSTHROUGH_TOKEN,
    WRONG_BEARER_TOKEN,
    LiteLLMProxy,
)
from tests.test_litellm import gateway, hops, issues, module, resolution
from tests.test_probe_mcp import failure

pytestmark = pytest.mark.timeout(180)

FIX_CREDENTIAL = "correct the server's credential"
DISCOVERY = {"url_policy": {"allow_http_loopback": True}}


def with_discovery(block: dict[str, Any]) -> dict[str, Any]:
    """The module with discovery_on_auth_failure on (loopback metadata allowed)."""
    block["mcp"]["discovery_on_auth_failure"] = True
    block["discovery"] = DISCOVERY
    return block


def upstream_authorizations(proxy: LiteLLMProxy, server: str, since: int) -> list[str | None]:
    """The Authorization headers the upstream received since event `since`."""
    events = proxy.upstreams[server].events("http")[since:]
    return [e["headers"].get("authorization") for e in events if e["path"] == "/mcp"]


async def test_refused_static_token_is_token_rejected_upstream(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """The upstream refuses the bearer_token LiteLLM has configured: LiteLLM still answers 200
    (tools: [], outcome auth_required 401), its debug headers say static-token, so the
    credential was sent: token_rejected at gateway_to_upstream, and the fix is the server's
    credential, not adding one."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy))
    since = len(litellm_proxy.upstreams["wrongbearer"].events("http"))
    m = await exporter.probe(litellm_proxy.mcp_url("wrongbearer"), "gw")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "token_rejected")
    assert resolution(m) == "static-token"
    assert m['probe_litellm_upstream_status{server="wrongbearer",status="auth_required"}'] == 1
    assert issues(m) == {"empty_tool_list_upstream_failed"}
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}
    # The gateway did send its (stale) token, which the upstream refused.
    assert f"Bearer {WRONG_BEARER_TOKEN}" in upstream_authorizations(
        litellm_proxy, "wrongbearer", since
    )
    config = parse(yaml.safe_dump({"modules": {"gw": module(litellm_proxy)}}), "t")
    outcome = await run_probe(litellm_proxy.mcp_url("wrongbearer"), config.modules["gw"], 30)
    data = report.as_dict(outcome)
    assert FIX_CREDENTIAL in data["failure"]["next"]
    assert FIX_CREDENTIAL in data["failure"]["detail"]
    assert "add" not in data["failure"]["next"].split(":")[0]
    assert WRONG_BEARER_TOKEN not in report.render(outcome)


async def test_the_same_upstream_accepts_the_right_token(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Control: `bearer` is the same kind of upstream with the right token configured."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy))
    m = await exporter.probe(litellm_proxy.mcp_url("bearer"), "gw")
    assert m["probe_success"] == 1, failure(m)
    assert BEARER_TOKEN != WRONG_BEARER_TOKEN


async def test_key_leaking_to_a_passthrough_server_that_refuses_it(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """The key sent as Authorization goes upstream on a true_passthrough server, which refuses
    it: token_rejected at gateway_to_upstream plus key_leaking_to_upstream, no no_oauth2_token."""
    exporter = await gateway(make_exporter, gw=module(litellm_proxy, key_header="authorization"))
    since = len(litellm_proxy.upstreams["strictpass"].events("http"))
    m = await exporter.probe(litellm_proxy.mcp_url("strictpass"), "gw")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "token_rejected")
    assert resolution(m) == "oauth2-passthrough"
    assert issues(m) == {"key_leaking_to_upstream", "empty_tool_list_upstream_failed"}
    assert f"Bearer {litellm_proxy.master_key}" in upstream_authorizations(
        litellm_proxy, "strictpass", since
    )


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("user-token-the-upstream-refuses-0000", ("gateway_to_upstream", "token_rejected")),
        (PASSTHROUGH_TOKEN, None),
        (None, ("gateway_to_upstream", "auth_required")),
    ],
)
async def test_user_token_through_a_passthrough_server(
    make_exporter: ExporterFactory,
    litellm_proxy: LiteLLMProxy,
    token: str | None,
    expected: tuple[str, str] | None,
) -> None:
    """A refused user token is token_rejected, the right one works, none is auth_required with
    no_oauth2_token (LiteLLM relays the upstream's 401 for initialize then)."""
    block = module(litellm_proxy, **({"bearer_token": token} if token else {}))
    exporter = await gateway(make_exporter, gw=block)
    m = await exporter.probe(litellm_proxy.mcp_url("strictpass"), "gw")
    got = failure(m)
    if expected is None:
        assert got is None
        assert m["probe_success"] == 1
        return
    assert got is not None
    assert (got[0], got[2]) == expected
    assert ("no_oauth2_token" in issues(m)) == (token is None)
    # Even a relayed 401 for initialize crossed the gateway.
    assert hops(m)["client_to_gateway"] == 1


async def test_refused_per_request_header_is_token_rejected(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """A wrong x-mcp-headers-x-api-key (per-request-header): token_rejected, on tools/list and
    on tools/call (whose text is LiteLLM's HTTPStatusError 401), while the missing header stays
    auth_required. LiteLLM calls the upstream only for a tool it has listed before (else it
    answers "Tool 'echo' not found"), so the right header lists the tools first, as before a
    credential is rotated."""
    wrong = {"headers": {HEADER_NAME: "not-the-header-value-0000"}}
    call = {"name": "headers-echo", "arguments": {"text": "x"}}
    exporter = await gateway(
        make_exporter,
        right=module(litellm_proxy, upstream_headers={"headers": {HEADER_NAME: HEADER_VALUE}}),
        listed=module(litellm_proxy, upstream_headers=wrong),
        called=module(litellm_proxy, upstream_headers=wrong, steps=["tool_call"], tool_call=call),
        missing=module(litellm_proxy, steps=["tool_call"], tool_call=call),
    )
    url = litellm_proxy.mcp_url("headers")
    assert (await exporter.probe(url, "right"))["probe_success"] == 1
    m = await exporter.probe(url, "listed")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "token_rejected")
    assert resolution(m) == "per-request-header"
    m = await exporter.probe(url, "called")
    assert failure(m) == ("gateway_to_upstream", "tool_call", "token_rejected")
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}
    m = await exporter.probe(url, "missing")
    assert failure(m) == ("gateway_to_upstream", "tool_call", "auth_required")
    assert resolution(m) == "no-auth"


@pytest.mark.parametrize("server", ["m2mbad", "m2mdown"])
async def test_m2m_token_endpoint_refuses_the_gateway(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy, server: str
) -> None:
    """LiteLLM's client-credentials request is refused (invalid_client) or cannot connect:
    resolution-failed and outcome internal. That is m2m_token_fetch_failed and
    token_fetch_failed at gateway_to_upstream; the client's OAuth flow (no_oauth2_token) has
    nothing to do with it, with or without a user token."""
    exporter = await gateway(
        make_exporter,
        gw=module(litellm_proxy),
        user=module(litellm_proxy, bearer_token="user-token-" + "u" * 20),
    )
    upstream = litellm_proxy.upstreams[server]
    since = len(upstream.events("token_request"))
    for name in ("gw", "user"):
        m = await exporter.probe(litellm_proxy.mcp_url(server), name)
        assert failure(m) == ("gateway_to_upstream", "tools_list", "token_fetch_failed")
        assert resolution(m) == "resolution-failed"
        assert m[f'probe_litellm_upstream_status{{server="{server}",status="internal"}}'] == 1
        assert issues(m) == {
            "m2m_token_fetch_failed",
            "auth_resolution_failed",
            "empty_tool_list_upstream_failed",
        }
        assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}
    # The gateway never reached the MCP endpoint with a token; m2mbad's endpoint refused it.
    assert not any(e["rpc_method"] == "tools/list" for e in upstream.events("http"))
    if server == "m2mbad":
        assert len(upstream.events("token_request")) > since
    config = parse(yaml.safe_dump({"modules": {"gw": module(litellm_proxy)}}), "t")
    outcome = await run_probe(litellm_proxy.mcp_url(server), config.modules["gw"], 30)
    assert "client_secret" in report.as_dict(outcome)["failure"]["next"]


@pytest.mark.parametrize(
    ("server", "headers", "reason"),
    [
        ("wrongbearer", {}, "token_rejected"),
        ("headers", {}, "auth_required"),
        ("headers", {"headers": {HEADER_NAME: "not-the-header-value-0000"}}, "token_rejected"),
        ("m2mbad", {}, "token_fetch_failed"),
    ],
)
async def test_aggregate_failure_without_named_ids(
    make_exporter: ExporterFactory,
    litellm_proxy: LiteLLMProxy,
    server: str,
    headers: dict[str, dict[str, str]],
    reason: str,
) -> None:
    """On /mcp the per-server resolutions carry hashed ids; without server_ids the failed
    server's own resolution is asked from its URL, so the reason is as precise as there."""
    exporter = await gateway(
        make_exporter,
        gw=module(litellm_proxy, servers=["open", server], upstream_headers=headers),
    )
    m = await exporter.probe(litellm_proxy.mcp_url(), "gw")
    assert failure(m) == ("gateway_to_upstream", "tools_list", reason)
    assert resolution(m) == "multiple"
    # The metrics keep the aggregate answer: opaque ids, no extra series.
    per_server = [k for k in m if k.startswith("probe_litellm_server_auth_resolution{")]
    assert len(per_server) == 2


async def test_m2m_in_the_aggregate_with_named_ids(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Selected with the healthy m2m server on /mcp: the named per-server resolution ties the
    failure to m2mbad."""
    from tests.test_litellm import server_id

    ids = {server_id(litellm_proxy, name, "oauth2"): name for name in ("m2m", "m2mbad")}
    exporter = await gateway(
        make_exporter, gw=module(litellm_proxy, servers=["m2m", "m2mbad"], server_ids=ids)
    )
    m = await exporter.probe(litellm_proxy.mcp_url(), "gw")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "token_fetch_failed")
    assert m['probe_litellm_server_auth_resolution{server="m2mbad",resolution="resolution-failed"}']
    assert "m2m_token_fetch_failed" in issues(m)
    assert "no_oauth2_token" not in issues(m)


@pytest.mark.parametrize("server", ["authcode", "passthrough"])
async def test_discovery_on_auth_failure_keeps_the_diagnosis(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy, server: str
) -> None:
    """With discovery_on_auth_failure the reason, the status code and the issues are those of
    the 401 the gateway gave; discovery starts from that challenge (no fresh request, which
    LiteLLM would answer 500 for lack of the key)."""
    plain = module(litellm_proxy)
    exporter = await gateway(make_exporter, plain=plain, disc=with_discovery(module(litellm_proxy)))
    url = litellm_proxy.mcp_url(server)
    before = await exporter.probe(url, "plain")
    after = await exporter.probe(url, "disc")
    assert failure(after) == failure(before)
    assert failure(after) is not None
    assert failure(after)[2] == "auth_required"  # type: ignore[index]
    assert issues(after) == issues(before) == {"no_oauth2_token"}
    assert after["probe_http_status_code"] == before["probe_http_status_code"] == 401
    assert after['probe_oauth_step_success{step="www_authenticate"}'] == 1
    _, text = await exporter.get("/probe", target=url, module="disc", debug="true")
    assert "discovery after the auth failure" in text
    # The old fresh, keyless request got LiteLLM's 500 and reported that instead.
    assert "got 500" not in text


async def test_tool_call_failing_upstream_keeps_the_gateway_hop(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Whichever upstream failure a tools/call meets, the request crossed client_to_gateway."""
    calls = {
        "raises": {"name": "open-fail", "arguments": {"message": "x"}},
        "http500": {"name": "open-http500", "arguments": {}},
        "listed_then_raises": {"name": "open-fail", "arguments": {"message": "x"}},
    }
    modules = {
        name: module(
            litellm_proxy,
            steps=["tools_list", "tool_call"] if name.startswith("listed") else ["tool_call"],
            tool_call=call,
        )
        for name, call in calls.items()
    }
    modules["down"] = module(
        litellm_proxy, steps=["tool_call"], tool_call={"name": "flaky-echo", "arguments": {}}
    )
    exporter = await gateway(make_exporter, **modules)
    expected = {
        "raises": "tool_error",
        "http500": "http_status",
        "listed_then_raises": "tool_error",
    }
    for name, reason in expected.items():
        m = await exporter.probe(litellm_proxy.mcp_url("open"), name)
        assert failure(m) == ("gateway_to_upstream", "tool_call", reason), name
        assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}, name
    # LiteLLM calls the upstream only for a tool it has listed (else "Tool not found").
    listed = module(litellm_proxy)
    lister = await gateway(make_exporter, gw=listed)
    assert (await lister.probe(litellm_proxy.mcp_url("flaky"), "gw"))["probe_success"] == 1
    with litellm_proxy.upstreams["flaky"].stopped():
        m = await exporter.probe(litellm_proxy.mcp_url("flaky"), "down")
    assert failure(m) == ("gateway_to_upstream", "tool_call", "upstream_unreachable")
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}


@pytest.mark.parametrize(
    ("server", "block", "reason"),
    [
        ("wrongbearer", {}, "token_rejected"),
        ("m2mbad", {}, "token_fetch_failed"),
        ("strictpass", {"key_header": "authorization"}, "token_rejected"),
        ("headers", {}, "auth_required"),
    ],
)
async def test_tool_call_of_a_tool_the_gateway_could_never_list(
    make_exporter: ExporterFactory,
    litellm_proxy: LiteLLMProxy,
    server: str,
    block: dict[str, Any],
    reason: str,
) -> None:
    """A tool_call-only module: LiteLLM answers "Tool '<tool>' not found" without calling the
    upstream when its listing of the server fails; the gateway's own listing names why, at
    the tool_call phase, and the upstream ran no tool. (A server LiteLLM listed before, as
    `headers` and `strictpass` may be in this session, is called and refuses: its error text
    and the debug headers give the same reason.)"""
    call = {"name": f"{server}-echo", "arguments": {"text": "x"}}
    exporter = await gateway(
        make_exporter, gw=module(litellm_proxy, steps=["tool_call"], tool_call=call, **block)
    )
    m = await exporter.probe(litellm_proxy.mcp_url(server), "gw")
    assert failure(m) == ("gateway_to_upstream", "tool_call", reason)
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}
    if server in ("wrongbearer", "m2mbad"):  # never listed: the side listing was asked
        # The outcome the gateway's listing gave is reported like a tools_list step's.
        statuses = [k for k, v in m.items() if k.startswith("probe_litellm_upstream_status{") and v]
        assert len(statuses) == 1
        assert f'server="{server}"' in statuses[0]
    assert litellm_proxy.upstreams[server].tool_calls() == []


async def test_listing_expectation_on_a_failed_upstream_names_the_upstream(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """expect.min_tools on an empty listing: the upstream's outcome explains it."""
    block = module(litellm_proxy, expect={"min_tools": 1})
    exporter = await gateway(make_exporter, gw=block)
    m = await exporter.probe(litellm_proxy.mcp_url("wrongbearer"), "gw")
    assert failure(m) == ("gateway_to_upstream", "tools_list", "token_rejected")
    assert hops(m) == {"client_to_gateway": 1, "gateway_to_upstream": 0}


def test_every_issue_is_documented_with_its_fix() -> None:
    """Each issue has a row (hop, when, fix) in the README's LiteLLM table; the alert rules
    name a fix for the new ones."""
    from pathlib import Path

    from exporter.litellm.diagnosis import (
        ISSUES,
    )

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`")
        for line in readme.splitlines()
        if line.startswith("  | `") and line.count("|") == 5
    }
    assert set(ISSUES) <= rows
    rules = (root / "grafana" / "rules" / "mcp-exporter.rules.yml").read_text()
    assert '"m2m_token_fetch_failed"' in rules
