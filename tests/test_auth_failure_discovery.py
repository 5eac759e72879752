"""Discovery after an auth failure starts from the challenge the failed request received.

The peer is an SDK MCP server (tests/peers/upstreams.py, kind `listauth`) that answers
`initialize` without a token and wants one only for `tools/list` and `tools/call`; its 401 names
`resource_metadata` at a URL no well-known lookup finds, and `scope="mcp:tools"`. A client that
started over with a fresh unauthenticated `initialize` would be let in and conclude the server
needs no authorization; the MCP specification says the client MUST use the challenge it got.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ExporterFactory
from tests.peers.litellm_proxy import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, Upstream, free_port
from tests.test_probe_mcp import failure

pytestmark = pytest.mark.timeout(120)

CONFIG = """
modules:
  plain:
    prober: mcp
    mcp: {transport: streamable_http}
  disc:
    prober: mcp
    mcp: {transport: streamable_http, discovery_on_auth_failure: true}
    discovery:
      url_policy: {allow_http_loopback: true}
"""


@pytest.fixture(scope="module")
def listauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    work: Path = tmp_path_factory.mktemp("listauth")
    upstream = Upstream(
        name="listauth",
        kind="listauth",
        port=free_port(),
        events_path=work / "events.jsonl",
        log_path=work / "server.log",
        extra_args=("--client-id", OAUTH_CLIENT_ID, "--client-secret", OAUTH_CLIENT_SECRET),
    )
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()


def step(m: dict[str, float], name: str) -> float | None:
    return m.get(f'probe_oauth_step_success{{step="{name}"}}')


async def test_discovery_uses_the_tools_list_challenge(
    make_exporter: ExporterFactory, listauth: Upstream
) -> None:
    """initialize passes, tools/list gets 401: the probe's failure is that 401 with and without
    discovery, and discovery finds the metadata through the 401's resource_metadata."""
    exporter = await make_exporter(CONFIG)
    plain = await exporter.probe(listauth.url, "plain")
    since = len(listauth.events("http"))
    m = await exporter.probe(listauth.url, "disc")
    assert failure(plain) == failure(m) == ("client_to_upstream", "tools_list", "auth_required")
    assert m["probe_http_status_code"] == plain["probe_http_status_code"] == 401
    for name in ("www_authenticate", "protected_resource", "authorization_server"):
        assert step(m, name) == 1, name
    assert m['probe_hop_success{hop="client_to_auth_server"}'] == 1
    # No second, unauthenticated initialize: the probe's own requests and the metadata only.
    requests = [(e["method"], e["path"], e["rpc_method"]) for e in listauth.events("http")[since:]]
    initializes = [r for r in requests if r[2] == "initialize"]
    assert len(initializes) == 1
    assert ("GET", "/meta/protected-resource", None) in requests
    _, text = await exporter.get("/probe", target=listauth.url, module="disc", debug="true")
    assert "the authorization metadata is healthy" in text
    assert "does not require authorization" not in text
    assert "mcp:tools" in text
