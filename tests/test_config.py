"""Configuration: each invalid file is rejected with its exact one-line message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config import (
    ConfigError,
    DiscoveryModule,
    LiteLLMHealthModule,
    MCPModule,
    load,
    masked_dump,
    parse,
)

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / "config" / "testdata"

INVALID = {
    "invalid-duration-inf.yml": "modules.m.timeout: invalid duration 'inf': expected e.g. 10s, "
    "500ms or 1m30s",
    "invalid-proxy-credentials-in-url.yml": "modules.m.mcp.http_client.proxy_url: proxy_url must "
    "not carry credentials; use proxy_username and proxy_password",
    "invalid-proxy-two-sources.yml": "modules.m.mcp.http_client: give proxy_url or "
    "proxy_from_environment, not both",
    "invalid-http-version.yml": "modules.m.mcp.http_client.http_version: '3' is not one of "
    "auto, 1.1 or 2",
    "invalid-bearer-and-header.yml": "modules.m.mcp: bearer_token and an Authorization header "
    "contradict each other",
    "invalid-expect-without-list.yml": "modules.m.mcp: expect.min_tools and "
    "expect.required_tools need step tools_list",
    "invalid-no-modules.yml": "modules: at least one module is required",
    "invalid-handshake-none-auto.yml": "modules.m.mcp: handshake none needs transport "
    "streamable_http",
    "invalid-prober.yml": "modules.m.prober: 'http' is not one of mcp, discovery, "
    "litellm_completion or litellm_health",
    "invalid-health-without-block.yml": "modules.m: prober litellm_health needs a litellm_health "
    "block",
    "invalid-sd-url.yml": "service_discovery.litellm.gw.url: url must be an absolute http(s) URL",
    "invalid-sd-layout.yml": "service_discovery.litellm.gw.layout: 'mcp' is not one of "
    "mcp/{server} or {server}/mcp",
    "invalid-completion-api-key-env-unset.yml": "modules.m.litellm_completion.api_key: "
    "environment variable MCP_EXPORTER_TEST_UNSET_VARIABLE is not set",
    "invalid-completion-block-for-mcp.yml": "modules.m: the litellm_completion block belongs "
    "to prober litellm_completion, not mcp",
    "invalid-completion-block-missing.yml": "modules.m: prober litellm_completion needs a "
    "litellm_completion block",
    "invalid-completion-endpoint.yml": "modules.m.litellm_completion.endpoint: 'completions' "
    "is not one of chat_completions or responses",
    "invalid-completion-mcp-block.yml": "modules.m: the mcp block belongs to prober mcp, not "
    "litellm_completion",
    "invalid-completion-nonce-unsent.yml": "modules.m.litellm_completion: expect.text_contains "
    "uses {nonce} but the arguments never send it",
    "invalid-oauth2-and-bearer.yml": "modules.m.mcp: oauth2 and bearer_token or an "
    "Authorization header contradict each other",
    "invalid-oauth2-auth-method.yml": "modules.m.mcp.oauth2.auth_method: 'tls_client_auth' is "
    "not one of client_secret_basic, client_secret_post or private_key_jwt",
    "invalid-oauth2-secret-missing.yml": "modules.m.mcp.oauth2: auth_method client_secret_basic "
    "needs client_secret",
    "invalid-oauth2-jwt-key-missing.yml": "modules.m.mcp.oauth2: auth_method private_key_jwt "
    "needs private_key",
    "invalid-oauth2-jwt-with-secret.yml": "modules.m.mcp.oauth2: client_secret is given but "
    "auth_method private_key_jwt signs with private_key instead",
    "invalid-oauth2-jwt-key-not-pem.yml": "modules.m.mcp.oauth2.private_key: not a PEM private "
    "key (expected an unencrypted PKCS#8 -----BEGIN PRIVATE KEY----- or RSA/EC private key)",
    "invalid-oauth2-jwt-issuer-audience.yml": "modules.m.mcp.oauth2: assertion_audience issuer "
    "comes from discovery: omit token_url, or give the issuer's URL as assertion_audience",
    "invalid-oauth2-jwt-lifetime.yml": "modules.m.mcp.oauth2.assertion_lifetime: "
    "assertion_lifetime must be at most 10m: an assertion serves one token request",
    "invalid-oauth2-jwt-option-for-secret.yml": "modules.m.mcp.oauth2: key_id: only for "
    "auth_method private_key_jwt, not client_secret_basic",
    "invalid-oauth2-token-url-http.yml": "modules.m.mcp.oauth2.token_url: token_url must be "
    "https (http only to a loopback address or localhost name): the client's credentials travel "
    "in the request",
    "invalid-discovery-allowed-host-url.yml": "modules.m.discovery.url_policy.allowed_hosts: "
    "allowed_hosts entry 'https://auth.example.com/' must be a host name, not a URL",
    "invalid-discovery-block-unused.yml": "modules.m: the discovery block is used only with "
    "mcp.discovery_on_auth_failure or mcp.oauth2 without token_url",
    "invalid-discovery-max-fetches.yml": "modules.m.discovery.url_policy.max_fetches: Input "
    "should be greater than or equal to 1",
    "invalid-discovery-resource-match.yml": "modules.m.discovery.resource_match: 'origin' is "
    "not one of exact or prefix",
    "invalid-litellm-api-key-env-unset.yml": "modules.m.mcp.litellm.api_key: environment "
    "variable MCP_EXPORTER_TEST_UNSET_VARIABLE is not set",
    "invalid-litellm-direct-probe-two-credentials.yml": "modules.m.mcp.litellm.direct_probe: "
    "give only one of bearer_token, oauth2 or an Authorization header",
    "invalid-litellm-direct-probe-without-url.yml": "modules.m.mcp.litellm: direct_probe "
    "without url needs debug: the upstream URL comes from x-mcp-debug-outbound-url",
    "invalid-litellm-key-header-and-bearer.yml": "modules.m.mcp: litellm.key_header "
    "authorization contradicts bearer_token, oauth2 or an Authorization header (with a gateway "
    "they carry the user's token)",
    "invalid-litellm-server-name.yml": "modules.m.mcp.litellm.servers[1]: server name "
    "'my server' must be 1-64 letters, digits, _ . - (as in LiteLLM's mcp_servers)",
    "invalid-mcp-block-for-discovery.yml": "modules.m: the mcp block belongs to prober mcp, "
    "not discovery",
    "invalid-regex.yml": "modules.m.mcp.tool_call.expect.text_regex: invalid regular "
    "expression: missing ), unterminated subpattern at position 0",
    "invalid-secret-env-unset.yml": "modules.m.mcp.bearer_token: environment variable "
    "MCP_EXPORTER_TEST_UNSET_VARIABLE is not set",
    "invalid-secret-two-sources.yml": "modules.m.mcp.bearer_token: give exactly one of value, "
    "file, env",
    "invalid-size.yml": "modules.m.mcp.limits.max_response_bytes: invalid size '12 apples': "
    "expected bytes or e.g. 64KiB, 4MiB",
    "invalid-sse-version.yml": "modules.m.mcp: transport sse speaks protocol_version "
    "2024-11-05 only",
    "invalid-timeout.yml": "modules.m.timeout: invalid duration 'soon': expected e.g. 10s, "
    "500ms or 1m30s",
    "invalid-tls-pair.yml": "modules.m.mcp.tls_config: cert_file and key_file must be given "
    "together",
    "invalid-tool-call-missing.yml": "modules.m.mcp: step tool_call needs a tool_call block",
    "invalid-transport.yml": "modules.m.mcp.transport: 'websocket' is not one of auto, "
    "streamable_http or sse",
    "invalid-unknown-key.yml": "modules.m.mcp.trasnport: unknown key",
    "invalid-yaml.yml": "line 3 column 1: invalid YAML: expected the node content, but found "
    "'<stream end>'",
    "invalid-yaml-alias-bomb.yml": "invalid YAML: aliases expand to more than 100000 values",
}


def test_every_invalid_file_has_an_expected_message() -> None:
    """Each config/testdata/invalid-*.yml is paired with a message here, and vice versa."""
    names = {p.name for p in TESTDATA.glob("invalid-*.yml")}
    assert names == set(INVALID)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_config_message(name: str) -> None:
    """The file is rejected with exactly one line naming where and what."""
    with pytest.raises(ConfigError) as info:
        load(TESTDATA / name)
    assert info.value.problems == [INVALID[name]]
    assert str(info.value) == f"{TESTDATA / name}: {INVALID[name]}"


def test_default_and_example_configs_load() -> None:
    """The built-in default and the documented example are valid."""
    default = load(None)
    assert {"mcp", "mcp_full", "mcp_sse", "mcp_stateless", "discovery"} <= set(default.modules)
    example = load(ROOT / "config" / "example.yml")
    assert example.modules


def test_durations_and_sizes() -> None:
    """Prometheus-style durations and human sizes are understood."""
    cfg = parse(
        "modules: {m: {prober: mcp, timeout: 1m30s, mcp: {limits: {max_response_bytes: 2MiB}}}}",
        "t",
    )
    module = cfg.modules["m"].config
    assert isinstance(module, MCPModule)
    assert module.timeout == 90
    assert module.mcp.limits.max_response_bytes == 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "size"),
    [("100", 100), ("64KiB", 65536), ("64 kib", 65536), ("1.5MB", 1_500_000), ("1GiB", 1 << 30)],
)
def test_sizes_are_pydantic_byte_sizes(text: str, size: int) -> None:
    """Sizes are pydantic's ByteSize (units in either case, decimals) and /config shows the
    plain number of bytes."""
    cfg = parse(
        f"modules: {{m: {{prober: mcp, mcp: {{limits: {{max_header_bytes: {text}}}}}}}}}", "t"
    )
    module = cfg.modules["m"].config_as(MCPModule)
    assert module.mcp.limits.max_header_bytes == size
    assert f"max_header_bytes: {size}\n" in masked_dump(cfg.config)


@pytest.mark.parametrize("text", ["yes", "0", "-1", "1.5", "4 apples", "1e3", "''"])
def test_sizes_that_are_no_size(text: str) -> None:
    """A boolean, zero, a negative, a fraction of a byte or an unknown unit is refused in one
    line naming the key."""
    with pytest.raises(ConfigError) as info:
        parse(
            f"modules: {{m: {{prober: mcp, mcp: {{limits: {{max_header_bytes: {text}}}}}}}}}", "t"
        )
    [problem] = info.value.problems
    assert problem.startswith("modules.m.mcp.limits.max_header_bytes: "), problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{timeout: 5s}", "modules.m.prober: required key is missing"),
        (
            "{prober: 7}",
            "modules.m.prober: '7' is not one of mcp, discovery, "
            "litellm_completion or litellm_health",
        ),
        (
            "{prober: discovery, litellm_health: {}}",
            "modules.m: the litellm_health block belongs to prober litellm_health, not discovery",
        ),
        (
            "{prober: litellm_health, litellm_health: {}, discovery: {}}",
            "modules.m: the "
            "discovery block is used only with mcp.discovery_on_auth_failure or mcp.oauth2 without "
            "token_url",
        ),
        (
            "{prober: discovery, discovery: {timeoutt: 1}}",
            "modules.m.discovery.timeoutt: unknown key",
        ),
        (
            "{prober: litellm_health, litellm_health: {limits: {max_pages: 0}}}",
            "modules.m.litellm_health.limits.max_pages: Input should be greater than or equal to 1",
        ),
    ],
)
def test_module_union_problems(text: str, problem: str) -> None:
    """Each module is the model its `prober` names; problems name the YAML's own keys (the
    union's tag never shows in a location)."""
    with pytest.raises(ConfigError) as info:
        parse(f"modules: {{m: {text}}}", "t")
    assert info.value.problems == [problem]


def test_module_models_by_prober() -> None:
    """The prober names the model; each model carries only its own prober's block."""
    cfg = parse(
        """
modules:
  a: {prober: mcp}
  b: {prober: discovery}
  c: {prober: litellm_health, litellm_health: {}}
  d: {prober: mcp, mcp: {litellm: {}}}
""",
        "t",
    )
    kinds = {name: type(m.config) for name, m in cfg.modules.items()}
    assert kinds == {
        "a": MCPModule,
        "b": DiscoveryModule,
        "c": LiteLLMHealthModule,
        "d": MCPModule,
    }
    assert cfg.modules["d"].config.prober_kind == "litellm_gateway"
    with pytest.raises(TypeError):
        cfg.modules["b"].config_as(MCPModule)
    assert "litellm_completion" not in masked_dump(cfg.config)


def test_secrets_are_masked_in_dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inline, file and env secrets are masked; ordinary header values stay readable."""
    token_file = tmp_path / "token"
    token_file.write_text("file-secret-value\n")
    monkeypatch.setenv("MCP_TEST_TOKEN", "env-secret-value")
    cfg = parse(
        f"""
modules:
  a: {{prober: mcp, mcp: {{bearer_token: inline-secret-value,
       headers: {{x-mcp-servers: github, x-api-key: {{env: MCP_TEST_TOKEN}}}}}}}}
  b: {{prober: mcp, mcp: {{bearer_token: {{file: {token_file}}}}}}}
""",
        "t",
    )
    dump = masked_dump(cfg.config)
    for secret in ("inline-secret-value", "file-secret-value", "env-secret-value"):
        assert secret not in dump
    assert "github" in dump
    assert "<secret from env MCP_TEST_TOKEN>" in dump
    assert f"<secret from file {token_file}>" in dump


def test_config_check_command() -> None:
    """--config.check exits 0 for a valid file and 1 with the message for an invalid one."""
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(ROOT / "config" / "example.yml"),
            "--config.check",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(TESTDATA / "invalid-unknown-key.yml"),
            "--config.check",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "modules.m.mcp.trasnport: unknown key" in bad.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"modules: {m: {prober: mcp}}\n\xff\xfe\n", "not UTF-8 text (byte 28)"),
        (bytes(range(256)), "not UTF-8 text (byte 128)"),
    ],
)
def test_a_file_that_is_not_utf8(tmp_path: Path, content: bytes, problem: str) -> None:
    """A binary or Latin-1 file is one line naming the file, not a traceback."""
    path = tmp_path / "config.yml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.problems == [problem]


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        (
            '{bearer_token: {file: "/tmp/a\\0b"}}',
            "modules.m.mcp.bearer_token: cannot read secret file '/tmp/a\\x00b': "
            "embedded null byte",
        ),
        (
            '{tls_config: {ca_file: "/tmp/a\\0b"}}',
            "modules.m.mcp.tls_config: cannot load certificates: embedded null byte",
        ),
    ],
)
def test_a_nul_in_a_file_name(block: str, problem: str) -> None:
    """No file has a NUL in its name: one line naming the key, not a traceback."""
    with pytest.raises(ConfigError) as info:
        parse(f"modules: {{m: {{prober: mcp, mcp: {block}}}}}\n", "src")
    assert info.value.problems == [problem]


def test_a_secret_file_that_is_not_utf8(tmp_path: Path) -> None:
    """A binary secret file is a problem of its key at load."""
    secret = tmp_path / "token"
    secret.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as info:
        parse(f"modules: {{m: {{prober: mcp, mcp: {{bearer_token: {{file: {secret}}}}}}}}}\n", "s")
    assert info.value.problems == [
        f"modules.m.mcp.bearer_token: cannot read secret file {secret}: not UTF-8 text"
    ]


def test_a_file_too_large_to_be_a_config(tmp_path: Path) -> None:
    """/dev/zero was read until memory ran out, and a file of hundreds of MiB took minutes."""
    path = tmp_path / "config.yml"
    path.write_bytes(b"modules: {m: {prober: mcp}}\n#" + b"x" * (16 * 1024 * 1024))
    for source in (path, Path("/dev/zero")):
        with pytest.raises(ConfigError) as info:
            load(source)
        assert info.value.problems == ["larger than 16 MiB"]
