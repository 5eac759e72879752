"""Targets from the gateway (/sd, Prometheus HTTP service discovery) and the gateway's own health
view (the litellm_health prober), against the real LiteLLM 1.106.0 peer."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp import web

from tests.conftest import ExporterFactory, parse_metrics
from tests.peers.litellm_proxy import LiteLLMProxy

pytestmark = pytest.mark.timeout(180)

KEY_ENV = "SD_TEST_LITELLM_KEY"
# The auth_type of each peer server in LiteLLM's config (tests/peers/litellm_proxy.py).
AUTH_TYPES = {
    "open": "none",
    "bearer": "bearer_token",
    "headers": "none",
    "m2m": "oauth2",
    "authcode": "oauth2",
    "passthrough": "true_passthrough",
    "flaky": "none",
    "wrongbearer": "bearer_token",
    "m2mbad": "oauth2",
    "strictpass": "true_passthrough",
    "m2mdown": "oauth2",
}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch, litellm_proxy: LiteLLMProxy) -> None:
    monkeypatch.setenv(KEY_ENV, litellm_proxy.master_key)


def config(gateway_url: str, refresh: str = "60s", key: str = f"{{env: {KEY_ENV}}}") -> str:
    return f"""
modules:
  health:
    prober: litellm_health
    litellm_health: {{api_key: {key}}}
service_discovery:
  litellm:
    gateway:
      url: {gateway_url}
      api_key: {key}
      refresh_interval: {refresh}
    slash:
      url: {gateway_url}/
      api_key: {key}
      layout: "{{server}}/mcp"
"""


def health_of(metrics: dict[str, float]) -> dict[str, str]:
    """server -> the status reported 1."""
    out = {}
    for key, value in metrics.items():
        if key.startswith("probe_litellm_server_health{") and value == 1:
            labels = dict(
                p.split("=", 1) for p in key[len("probe_litellm_server_health{") : -1].split(",")
            )
            out[labels["server"].strip('"')] = labels["status"].strip('"')
    return out


async def test_health_view_names_every_server(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """One scrape reports every configured server by name (not its hashed id) with the status the
    gateway reports; a stopped upstream becomes unhealthy; every known status is written 0/1."""
    exporter = await make_exporter(config(litellm_proxy.base_url))
    m = await exporter.probe(litellm_proxy.base_url, "health")
    assert m["probe_success"] == 1
    health = health_of(m)
    assert sorted(health) == sorted(AUTH_TYPES)
    for server in ("open", "bearer", "flaky"):
        assert health[server] == "healthy"
    assert health["headers"] == "unhealthy"  # it needs the per-request header LiteLLM lacks
    for server in AUTH_TYPES:
        for status in ("healthy", "unhealthy", "unknown"):
            assert f'probe_litellm_server_health{{server="{server}",status="{status}"}}' in m
    with litellm_proxy.upstreams["flaky"].stopped():
        stopped = await exporter.probe(litellm_proxy.base_url, "health")
    assert stopped["probe_success"] == 1
    assert health_of(stopped)["flaky"] == "unhealthy"


async def test_health_view_with_a_wrong_key_fails_at_the_gateway(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """A key LiteLLM does not know is refused (400 No connected db.): token_rejected."""
    exporter = await make_exporter(config(litellm_proxy.base_url, key="sk-not-the-key-0123456789"))
    m = await exporter.probe(litellm_proxy.base_url, "health")
    assert m["probe_success"] == 0
    assert (
        m['probe_failure_info{hop="client_to_gateway",phase="server_list",reason="token_rejected"}']
        == 1
    )


async def test_sd_lists_one_target_per_server(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """/sd answers in http_sd_configs format: each server's gateway URL in the source's layout,
    its name, transport and auth type, and the upstream URL for a second job."""
    exporter = await make_exporter(config(litellm_proxy.base_url))
    status, text = await exporter.get("/sd", source="gateway")
    assert status == 200
    groups = json.loads(text)
    by_server = {g["labels"]["mcp_server"]: g for g in groups}
    assert sorted(by_server) == sorted(AUTH_TYPES)
    for name, group in by_server.items():
        assert group["targets"] == [litellm_proxy.mcp_url(name)]
        labels = group["labels"]
        assert labels["mcp_transport"] == "http"
        assert labels["mcp_auth_type"] == AUTH_TYPES[name]
        assert labels["__meta_litellm_upstream_url"] == litellm_proxy.upstreams[name].url
        assert len(labels["__meta_litellm_server_id"]) == 32
        assert all(isinstance(v, str) for v in labels.values())
    status, text = await exporter.get("/sd", source="slash")
    assert status == 200
    targets = sorted(t for g in json.loads(text) for t in g["targets"])
    assert targets == sorted(f"{litellm_proxy.base_url}/{n}/mcp" for n in AUTH_TYPES)
    assert litellm_proxy.master_key not in text


async def test_sd_unknown_and_missing_source(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """An unknown source is a one-line 404, a missing one a one-line 400."""
    exporter = await make_exporter(config(litellm_proxy.base_url))
    assert await exporter.get("/sd", source="nope") == (404, "unknown source 'nope'\n")
    assert await exporter.get("/sd") == (400, "source parameter is missing\n")


@dataclass
class Gateway:
    """A reverse proxy to the real gateway that a test can make answer 502 (an outage)."""

    url: str = ""
    down: bool = False


@asynccontextmanager
async def forwarding_gateway(upstream: str) -> AsyncIterator[Gateway]:
    gateway = Gateway()

    async def handler(request: web.Request) -> web.StreamResponse:
        if gateway.down:
            return web.Response(status=502, text="bad gateway")

        def fetch() -> tuple[int, bytes]:
            forwarded = urllib.request.Request(
                upstream + request.path_qs,
                # Not Accept-Encoding: the body is relayed without the answer's Content-Encoding.
                headers={
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() not in ("host", "accept-encoding")
                },
            )
            with urllib.request.urlopen(forwarded, timeout=10) as resp:
                return resp.status, resp.read()

        status, body = await asyncio.to_thread(fetch)
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    gateway.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield gateway
    finally:
        await runner.cleanup()


def sd_metrics(text: str) -> dict[str, float]:
    return {k: v for k, v in parse_metrics(text).items() if k.startswith("mcp_exporter_sd_")}


async def test_a_failing_gateway_keeps_the_last_good_list(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Within the refresh interval the cached list is served without asking the gateway; once it
    fails, the last good list stays served, and the exporter's metrics count the failure, keep
    the last success time and the target count; the next success clears it."""
    async with forwarding_gateway(litellm_proxy.base_url) as gateway:
        exporter = await make_exporter(config(gateway.url, refresh="300ms"))
        status, first = await exporter.get("/sd", source="gateway")
        assert status == 200
        assert len(json.loads(first)) == len(AUTH_TYPES)
        _, text = await exporter.get("/metrics")
        m = sd_metrics(text)
        assert m['mcp_exporter_sd_refreshes_total{result="success",source="gateway"}'] == 1
        assert m['mcp_exporter_sd_last_refresh_successful{source="gateway"}'] == 1
        assert m['mcp_exporter_sd_targets{source="gateway"}'] == len(AUTH_TYPES)
        succeeded_at = m['mcp_exporter_sd_last_success_timestamp_seconds{source="gateway"}']

        gateway.down = True
        assert await exporter.get("/sd", source="gateway") == (200, first)  # cached
        await asyncio.sleep(0.4)
        assert await exporter.get("/sd", source="gateway") == (200, first)  # last good
        _, text = await exporter.get("/metrics")
        m = sd_metrics(text)
        assert m['mcp_exporter_sd_refreshes_total{result="failure",source="gateway"}'] == 1
        assert m['mcp_exporter_sd_refreshes_total{result="success",source="gateway"}'] == 1
        assert m['mcp_exporter_sd_last_refresh_successful{source="gateway"}'] == 0
        assert m['mcp_exporter_sd_last_success_timestamp_seconds{source="gateway"}'] == succeeded_at
        assert m['mcp_exporter_sd_targets{source="gateway"}'] == len(AUTH_TYPES)

        gateway.down = False
        await asyncio.sleep(0.4)
        assert (await exporter.get("/sd", source="gateway"))[0] == 200
        _, text = await exporter.get("/metrics")
        assert sd_metrics(text)['mcp_exporter_sd_last_refresh_successful{source="gateway"}'] == 1


async def test_a_source_never_answered_is_a_503(
    make_exporter: ExporterFactory, litellm_proxy: LiteLLMProxy
) -> None:
    """Without any good list (the key is refused), /sd answers 503 with the reason, so Prometheus
    keeps its previous targets."""
    exporter = await make_exporter(config(litellm_proxy.base_url, key="sk-not-the-key-0123456789"))
    status, text = await exporter.get("/sd", source="gateway")
    assert status == 503
    assert text.startswith("no target list from source 'gateway' yet: token_rejected: ")
    assert text.count("\n") == 1
    assert "sk-not-the-key" not in text
