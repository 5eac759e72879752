"""Target policy: denied targets are target_not_allowed and never receive a request."""

from __future__ import annotations

import pytest

from exporter.config import load
from exporter.probers.failure import ProbeFailure
from tests.conftest import ExporterFactory
from tests.peers.mcp_servers import Peer
from tests.test_probe_mcp import failure

POLICY = """
target_policy:
  deny:
    - {cidrs: ["10.0.0.0/8"]}
    - {hosts: ["*.blocked.invalid"]}
modules:
  open: {prober: mcp}
  https_only:
    prober: mcp
    target_policy: {allow: [{schemes: [https]}]}
  port_only:
    prober: mcp
    target_policy: {allow: [{cidrs: ["127.0.0.0/8"], ports: [1]}]}
  no_loopback:
    prober: mcp
    target_policy: {deny: [{cidrs: ["127.0.0.0/8", "::1/128"]}]}
"""


async def test_loopback_allowed_by_default(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """Without rules, an ordinary target is probed."""
    exp = await make_exporter(POLICY)
    assert (await exp.probe(sdk_stateful.url, "open"))["probe_success"] == 1


async def test_metadata_address_denied_by_default(make_exporter: ExporterFactory) -> None:
    """The cloud metadata address is refused without any request."""
    exp = await make_exporter(POLICY)
    m = await exp.probe("http://169.254.169.254/latest/meta-data", "open")
    assert failure(m) == ("exporter", "policy", "target_not_allowed")
    assert "probe_http_status_code" not in m
    m = await exp.probe("http://[fe80::1]/mcp", "open")
    assert failure(m) == ("exporter", "policy", "target_not_allowed")


async def test_host_and_cidr_deny(make_exporter: ExporterFactory) -> None:
    """Host patterns are refused before DNS; CIDRs after resolution."""
    exp = await make_exporter(POLICY)
    m = await exp.probe("http://mcp.blocked.invalid/mcp", "open")
    assert failure(m) == ("exporter", "policy", "target_not_allowed")
    assert 'probe_mcp_phase_duration_seconds{phase="dns"}' not in m
    m = await exp.probe("http://10.1.2.3/mcp", "open")
    assert failure(m) == ("exporter", "policy", "target_not_allowed")


async def test_module_policy_narrows(make_exporter: ExporterFactory, sdk_stateful: Peer) -> None:
    """A module's allow rules restrict schemes, ports and addresses; its denies add up."""
    exp = await make_exporter(POLICY)
    for module in ("https_only", "port_only", "no_loopback"):
        m = await exp.probe(sdk_stateful.url, module)
        assert failure(m) == ("exporter", "policy", "target_not_allowed"), module
    before = len(sdk_stateful.requests())
    await exp.probe(sdk_stateful.url.replace("127.0.0.1", "localhost"), "no_loopback")
    assert len(sdk_stateful.requests()) == before  # resolved to loopback: refused, not sent


@pytest.mark.parametrize(
    ("host", "ip", "allowed"),
    [
        ("localhost", "127.0.0.1", True),
        ("localhost", "::1", True),
        ("LocalHost.", "127.0.0.53", True),
        ("mcp.dev.localhost", "::ffff:127.0.0.1", True),
        ("localhost", "192.0.2.10", False),
        ("mcp.dev.localhost", "10.0.0.1", False),
        ("mcp.localhost", "2001:db8::1", False),
        # Not localhost names (RFC 6761 reserves only the name and its subdomains).
        ("localhost.example.com", "192.0.2.10", True),
        ("notlocalhost", "192.0.2.10", True),
    ],
)
def test_localhost_name_must_resolve_to_loopback(host: str, ip: str, allowed: bool) -> None:
    """Every connection to a localhost name must go to a loopback address, whatever the
    resolver answers, since the name was trusted as loopback (url_policy.allow_http_loopback,
    an http token_url)."""
    policy = load(None).modules["mcp"].policy
    url = f"http://{host}:8080/mcp"
    if allowed:
        policy.check_address(url, host, ip, 8080)
        return
    with pytest.raises(ProbeFailure) as info:
        policy.check_address(url, host, ip, 8080)
    assert (info.value.hop, info.value.phase, info.value.reason) == (
        "exporter",
        "policy",
        "target_not_allowed",
    )
    assert "is a localhost name (RFC 6761) but resolves to" in str(info.value)
    assert "not a loopback address" in str(info.value)
