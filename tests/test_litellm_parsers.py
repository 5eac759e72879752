"""The LiteLLM parsers and diagnoses on recorded answers and on hostile input (no peer)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.config import LiteLLMGateway, masked_dump, parse
from exporter.litellm.diagnosis import (
    ISSUES,
    GatewayAnswer,
    classify_gateway_failure,
    diagnose,
    outcome_failure,
    tool_error_reason,
)
from exporter.litellm.headers import (
    AUTH_TYPES,
    MAX_SERVERS,
    RESOLUTIONS,
    DebugHeaders,
    Outcome,
    enum_label,
    gateway_headers,
    parse_debug_headers,
    parse_resolutions,
    parse_server_outcomes,
)
from exporter.probers.failure import REASONS, ProbeFailure
from exporter.probers.www_authenticate import Challenge
from exporter.report import next_step

CAPTURES = Path(__file__).parent / "testdata" / "litellm"
LABEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def captured(scenario: str, rpc_method: str) -> dict[str, Any]:
    """One recorded exchange (tests/testdata/litellm/<scenario>.json) by JSON-RPC method."""
    doc = json.loads((CAPTURES / f"{scenario}.json").read_text())
    for exchange in doc["exchanges"]:
        body = exchange["request"].get("body")
        if isinstance(body, dict) and body.get("method") == rpc_method:
            response: dict[str, Any] = exchange["response"]
            return response
    raise AssertionError(f"{scenario} has no {rpc_method}")


def headers_of(response: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in response["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


def result_of(response: dict[str, Any]) -> Any:
    for line in response["body"].splitlines():
        if line.startswith("data:"):
            return json.loads(line[5:])["result"]
    return json.loads(response["body"])["result"]


def test_single_server_answer() -> None:
    """tools/list on /mcp/open: no-auth, auth type none, no token, the outbound URL."""
    debug = parse_debug_headers(headers_of(captured("layout_mcp_server", "tools/list")))
    assert debug.resolution == "no-auth"
    assert debug.server_auth_type == "none"
    assert debug.oauth2_state == "none"
    assert debug.inbound_auth == ("x-litellm-api-key",)
    assert debug.outbound_url is not None
    assert debug.outbound_url.startswith("http://127.0.0.1:")
    assert debug.resolutions == {}


def test_initialize_is_unresolved() -> None:
    """LiteLLM reports `unresolved` on initialize, which is why the probe reads tools/list."""
    debug = parse_debug_headers(headers_of(captured("layout_mcp_server", "initialize")))
    assert debug.resolution == "unresolved"


def test_aggregate_answer_per_server_and_outcomes() -> None:
    """/mcp: `multiple`, seven per-server resolutions keyed by id, an outcome per server."""
    response = captured("aggregate_mcp", "tools/list")
    debug = parse_debug_headers(headers_of(response))
    assert debug.resolution == "multiple"
    assert debug.server_auth_type == "unset"
    assert debug.outbound_url is None
    assert len(debug.resolutions) == 7
    assert "resolution-failed" in debug.resolutions.values()
    assert all(len(server) == 32 for server in debug.resolutions)
    outcomes = parse_server_outcomes(result_of(response))
    assert outcomes["open"] == Outcome("ok", tool_count=4)
    assert outcomes["authcode"] == Outcome("auth_required", http_status=401)


def test_server_ids_name_the_per_server_series() -> None:
    """A configured server_ids entry replaces the opaque id."""
    raw = '{"23e2f969dd99d9f604009aa6d6133d25":"no-auth","c7":"static-token"}'
    assert parse_resolutions(raw, {"23e2f969dd99d9f604009aa6d6133d25": "open"}) == {
        "open": "no-auth",
        "c7": "static-token",
    }


def test_passthrough_key_flag() -> None:
    """The SAME_AS_LITELLM_KEY suffix is the same_as_litellm_key state."""
    debug = parse_debug_headers(
        headers_of(captured("passthrough_key_as_authorization", "tools/list"))
    )
    assert debug.oauth2_state == "same_as_litellm_key"
    assert debug.resolution == "oauth2-passthrough"
    assert debug.inbound_auth == ("authorization",)


def test_stopped_upstream_outcome() -> None:
    """A stopped upstream: `unreachable` -> upstream_unreachable at gateway_to_upstream."""
    outcomes = parse_server_outcomes(result_of(captured("upstream_stopped", "tools/list")))
    assert outcomes == {"flaky": Outcome("unreachable")}
    failure = outcome_failure(outcomes, frozenset())
    assert failure is not None
    assert (failure.hop, failure.phase, failure.reason) == (
        "gateway_to_upstream",
        "tools_list",
        "upstream_unreachable",
    )
    assert outcome_failure(outcomes, frozenset({"flaky"})) is None


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("no-auth", "no-auth"),
        (" Static-Token ", "static-token"),
        ("future-mode", "future-mode"),
        ("Bearer sk-1234 secret", "other"),
        ("x" * 200, "other"),
        ("", "other"),
    ],
)
def test_enum_label(raw: str, label: str) -> None:
    """Known values pass, unknown well-formed values are kept, anything else is `other`."""
    assert enum_label(raw, RESOLUTIONS) == label


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ConnectError: All connection attempts failed", "upstream_unreachable"),
        (
            "HTTPStatusError: Client error '401 Unauthorized' for url 'http://x/mcp'",
            "auth_required",
        ),
        ("HTTPStatusError: Server error '500 Internal Server Error' for url", "http_status"),
        ("MCPError: SSE stream ended without a response", "sse_protocol_error"),
        ("Error executing tool fail", None),
        # LiteLLM's own deadline for the upstream call (its 504 {"error": "timeout"}).
        ("Error: timeout", "timeout"),
        # An upstream tool's own text that merely mentions a timeout is the tool's error.
        ("Error: timeout while asking the database", None),
    ],
)
def test_tool_error_text(text: str, reason: str | None) -> None:
    """LiteLLM's isError texts name the upstream's failure when they can."""
    assert tool_error_reason(text) == reason


def answer(status: int, body: str = "", **kw: Any) -> GatewayAnswer:
    values: dict[str, Any] = {
        "challenge": None,
        "gateway_url": "http://127.0.0.1:4000/mcp/s",
        "key_sent": True,
        "user_token_sent": False,
    } | kw
    return GatewayAnswer(status=status, body=body, **values)


@pytest.mark.parametrize(
    ("given", "expected", "found"),
    [
        (
            answer(400, '{"detail":"No connected db."}'),
            ("client_to_gateway", "token_rejected"),
            set(),
        ),
        (
            answer(500, "MCP request failed No module named 'prisma'", key_sent=False),
            ("client_to_gateway", "auth_required"),
            set(),
        ),
        (
            answer(404, "MCP server, toolset, or access group 'x' not found"),
            ("client_to_gateway", "http_status"),
            {"unknown_server"},
        ),
        (answer(403), ("client_to_gateway", "forbidden"), {"unknown_server"}),
        (
            answer(
                401, challenge=Challenge("bearer", {"authorization_uri": "http://127.0.0.1:4000/x"})
            ),
            ("client_to_gateway", "auth_required"),
            {"no_oauth2_token"},
        ),
        (
            answer(
                401, challenge=Challenge("bearer", {"resource_metadata": "http://127.0.0.1:9/x"})
            ),
            ("gateway_to_upstream", "auth_required"),
            {"no_oauth2_token"},
        ),
        (answer(401), ("client_to_gateway", "token_rejected"), set()),
        (answer(502, "bad gateway"), ("client_to_gateway", "http_status"), set()),
    ],
)
def test_gateway_error_answers(
    given: GatewayAnswer, expected: tuple[str, str], found: set[str]
) -> None:
    """LiteLLM's own error statuses become a hop, a fixed reason and issues."""
    original = ProbeFailure("client_to_gateway", "initialize", "http_status", "x")
    failure, issues = classify_gateway_failure(original, given)
    assert (failure.hop, failure.reason) == expected
    assert failure.phase == "initialize"
    assert issues == found


def gw(**kw: Any) -> LiteLLMGateway:
    return LiteLLMGateway.model_validate(kw)


@pytest.mark.parametrize(
    ("debug", "gateway", "outcomes", "tools", "found"),
    [
        (
            DebugHeaders(resolution="no-auth", oauth2_state="none", server_auth_type="none"),
            gw(),
            {},
            4,
            set(),
        ),
        (
            DebugHeaders(
                resolution="oauth2-passthrough",
                oauth2_state="same_as_litellm_key",
                server_auth_type="true_passthrough",
            ),
            gw(),
            {},
            4,
            {"key_leaking_to_upstream"},
        ),
        (
            DebugHeaders(
                resolution="oauth2-passthrough",
                oauth2_state="none",
                server_auth_type="true_passthrough",
            ),
            gw(),
            {},
            4,
            {"no_oauth2_token"},
        ),
        (
            DebugHeaders(
                resolution="m2m-client-credentials", oauth2_state="none", server_auth_type="oauth2"
            ),
            gw(expect_user_token=True),
            {},
            4,
            {"m2m_instead_of_user_token"},
        ),
        (
            DebugHeaders(resolution="static-token", oauth2_state="none", server_auth_type="oauth2"),
            gw(),
            {},
            4,
            {"static_authorization_blocks_oauth"},
        ),
        (
            DebugHeaders(resolution="no-auth", oauth2_state="none", server_auth_type="none"),
            gw(),
            {"s": Outcome("unreachable")},
            0,
            {"empty_tool_list_upstream_failed"},
        ),
        (
            DebugHeaders(resolution="multiple", resolutions={"a": "resolution-failed"}),
            gw(),
            {},
            4,
            {"auth_resolution_failed"},
        ),
        (DebugHeaders(), gw(), {}, 4, {"debug_headers_missing"}),
        (DebugHeaders(), gw(debug=False), {}, 4, set()),
    ],
)
def test_diagnoses(
    debug: DebugHeaders,
    gateway: LiteLLMGateway,
    outcomes: dict[str, Outcome],
    tools: int,
    found: set[str],
) -> None:
    """Each known misconfiguration is recognised from what the gateway shows."""
    assert diagnose(debug, outcomes, gateway, tools_listed=tools, answered=True) == found
    assert found <= set(ISSUES)


def test_gateway_headers() -> None:
    """Key as x-litellm-api-key (or Authorization), debug opt-in, servers, per-server headers."""
    headers = gateway_headers(
        gw(
            api_key="sk-abc",
            servers=["a", "b"],
            upstream_headers={"github": {"authorization": "Bearer gh"}},
        )
    )
    assert headers == {
        "x-litellm-api-key": "Bearer sk-abc",
        "x-litellm-mcp-debug": "true",
        "x-mcp-servers": "a,b",
        "x-mcp-github-authorization": "Bearer gh",
    }
    assert gateway_headers(gw(api_key="k", key_header="authorization", debug=False)) == {
        "Authorization": "Bearer k"
    }


def test_hostile_resolutions_are_bounded() -> None:
    """Deep nesting, non-objects, and more entries than allowed never raise and stay bounded."""
    assert parse_resolutions("[" * 100_000 + "]" * 100_000, {}) == {}
    assert parse_resolutions("[1, 2]", {}) == {}
    assert parse_resolutions("{", {}) == {}
    assert parse_resolutions("{" + " " * 20_000 + "}", {}) == {}
    many = json.dumps({f"id{i}": "no-auth" for i in range(200)})
    assert len(parse_resolutions(many, {})) == MAX_SERVERS
    named = parse_resolutions(json.dumps({"a b\n\x00": "Bearer sk-secret-value"}), {})
    assert named == {"a_b__": "other"}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)


def check_labels(debug: DebugHeaders) -> None:
    for server, resolution in debug.resolutions.items():
        assert LABEL_RE.match(server)
        assert resolution in RESOLUTIONS or re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", resolution)
    if debug.server_auth_type is not None:
        assert debug.server_auth_type in AUTH_TYPES or re.fullmatch(
            r"[a-z][a-z0-9_-]{0,39}", debug.server_auth_type
        )
    assert debug.oauth2_state in (None, "none", "present", "same_as_litellm_key")
    assert len(debug.resolutions) <= MAX_SERVERS


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=40), st.text(max_size=300) | st.lists(st.text(), max_size=3))
)
def test_debug_headers_never_raise(headers: dict[str, Any]) -> None:
    """Arbitrary header names and values parse to bounded labels."""
    check_labels(parse_debug_headers(headers))


@settings(max_examples=300, deadline=None)
@given(
    resolution=st.text(max_size=100),
    resolutions=JSON.map(json.dumps) | st.text(max_size=200),
    auth_type=st.text(max_size=100),
    token=st.text(max_size=100),
    url=st.text(max_size=100),
)
def test_litellm_headers_with_hostile_values(
    resolution: str, resolutions: str, auth_type: str, token: str, url: str
) -> None:
    """Hostile values in each x-mcp-debug-* header never raise and stay bounded."""
    debug = parse_debug_headers(
        {
            "x-mcp-debug-auth-resolution": resolution,
            "x-mcp-debug-auth-resolutions": resolutions,
            "x-mcp-debug-server-auth-type": auth_type,
            "x-mcp-debug-oauth2-token": token,
            "x-mcp-debug-outbound-url": url,
            "x-mcp-debug-inbound-auth": token,
        }
    )
    check_labels(debug)
    assert debug.inbound_auth is not None
    assert set(debug.inbound_auth) <= {"x-litellm-api-key", "authorization", "x-mcp-auth"}
    if debug.outbound_url is not None:
        assert debug.outbound_url.startswith(("http://", "https://", "HTTP", "Http"))


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_server_outcomes_never_raise(result: Any) -> None:
    """Arbitrary JSON in (or instead of) the tools/list result yields bounded outcomes."""
    for wrapped in (result, {"_meta": {"litellm.ai/server_outcomes": result}}):
        outcomes = parse_server_outcomes(wrapped)
        assert len(outcomes) <= MAX_SERVERS
        for server, outcome in outcomes.items():
            assert LABEL_RE.match(server)
            assert re.fullmatch(r"[a-z][a-z0-9_-]{0,39}|other", outcome.status)
        failure = outcome_failure(outcomes, frozenset())
        assert failure is None or failure.reason in REASONS


def test_litellm_secrets_are_masked_in_dump() -> None:
    """The gateway key and every upstream or direct-probe credential are masked in /config."""
    config = parse(
        yaml.safe_dump(
            {
                "modules": {
                    "m": {
                        "prober": "mcp",
                        "mcp": {
                            "litellm": {
                                "api_key": "sk-gateway-secret-1",
                                "servers": ["github"],
                                "upstream_headers": {
                                    "github": {"authorization": "Bearer upstream-secret-2"}
                                },
                                "direct_probe": {
                                    "url": "https://mcp.example.com/mcp",
                                    "bearer_token": "direct-secret-3",
                                },
                            }
                        },
                    }
                }
            }
        ),
        "t",
    )
    dump = masked_dump(config.config)
    for secret in ("sk-gateway-secret-1", "upstream-secret-2", "direct-secret-3"):
        assert secret not in dump
    assert "github" in dump


def test_selectable_names_of_the_server_list() -> None:
    """x-mcp-servers may name a server, its alias or an access group; case-insensitively."""
    from exporter.probers.litellm_servers import selectable_names

    body = json.dumps(
        [
            {"server_name": "Open", "alias": "o", "mcp_access_groups": ["Probe-Group"]},
            {"server_name": "html", "alias": None, "mcp_access_groups": [None, 3]},
            "not a server",
        ]
    ).encode()
    assert selectable_names(body) == {"open", "o", "probe-group", "html"}
    with pytest.raises(ValueError, match="not a JSON array"):
        selectable_names(b"{}")


def test_next_steps_at_the_gateway_name_its_own_settings() -> None:
    """A timeout beyond the gateway points at LiteLLM's deadlines, not the module's timeout; a
    tool error at the gateway mentions LiteLLM's <server>-<tool> names; elsewhere the general
    advice stands."""
    assert "LITELLM_MCP_CLIENT_TIMEOUT" in next_step("gateway_to_upstream", "timeout")
    assert "raise the module timeout" in next_step("client_to_gateway", "timeout")
    assert "<server>-<tool>" in next_step("client_to_gateway", "tool_error")
    assert "<server>-<tool>" not in next_step("client_to_upstream", "tool_error")
