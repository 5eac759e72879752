"""/sd without a real gateway: what no LiteLLM here does (refusing connections, answering
garbage, odd server names) and config reloads. The real gateway: tests/test_litellm_sd_health.py."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from tests import fakes
from tests.conftest import ExporterFactory, parse_metrics


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but never listening: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def config(url: str, name: str = "gw") -> str:
    return f"""
modules:
  m: {{prober: mcp}}
service_discovery:
  litellm:
    {name}: {{url: "{url}", api_key: "sk-sd-test-key-0123456789", timeout: 2s}}
"""


def sd_metrics(text: str) -> dict[str, float]:
    return {k: v for k, v in parse_metrics(text).items() if k.startswith("mcp_exporter_sd_")}


async def test_a_refused_connection_is_a_503_and_a_failed_refresh(
    make_exporter: ExporterFactory, closed_port: int
) -> None:
    """No gateway listening: one line naming the reason, counted as a failed refresh."""
    exporter = await make_exporter(config(f"http://127.0.0.1:{closed_port}"))
    status, text = await exporter.get("/sd", source="gw")
    assert status == 503
    assert text.startswith("no target list from source 'gw' yet: connect_refused: ")
    assert text.count("\n") == 1
    _, metrics = await exporter.get("/metrics")
    m = sd_metrics(metrics)
    assert m['mcp_exporter_sd_refreshes_total{result="failure",source="gw"}'] == 1
    assert m['mcp_exporter_sd_last_refresh_successful{source="gw"}'] == 0


def gateway_answering(body: Any) -> fakes.Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body)

    return handler


@pytest.mark.parametrize(
    "body",
    [{"servers": []}, "not a list", None, 7],
)
async def test_an_answer_that_is_no_server_list_is_a_failure(
    make_exporter: ExporterFactory, body: Any
) -> None:
    """A JSON answer that is not a list of servers is a failed refresh, not an empty list."""
    async with fakes.serve(gateway_answering(body), path="/v1/mcp/server") as url:
        exporter = await make_exporter(config(url.removesuffix("/v1/mcp/server")))
        status, text = await exporter.get("/sd", source="gw")
    assert status == 503
    assert "invalid server list" in text


async def test_odd_server_names_and_urls_are_quoted_and_bounded(
    make_exporter: ExporterFactory,
) -> None:
    """Names become one URL path segment, label values stay printable and bounded, upstream URLs
    lose userinfo and query (credentials), and entries without a name or of the wrong type are
    skipped."""
    servers = [
        {
            "server_id": "a1",
            "server_name": "a/b c?\u202e\n",
            "url": "https://u:p@up.example/mcp?k=1",
            "transport": "http",
            "auth_type": "none",
        },
        {"server_id": "b2", "server_name": "x" * 500, "url": "stdio", "transport": "stdio"},
        {"server_id": 5, "server_name": None},
        "junk",
    ]
    async with fakes.serve(gateway_answering(servers), path="/v1/mcp/server") as url:
        base = url.removesuffix("/v1/mcp/server")
        exporter = await make_exporter(config(base))
        status, text = await exporter.get("/sd", source="gw")
    assert status == 200
    groups = json.loads(text)
    assert len(groups) == 2
    first, second = groups
    assert first["targets"] == [f"{base}/mcp/a%2Fb%20c%3F%E2%80%AE%0A"]  # as LiteLLM routes it
    assert first["labels"]["mcp_server"] == "a/b c?"
    assert first["labels"]["__meta_litellm_upstream_url"] == "https://up.example/mcp"
    assert len(second["labels"]["mcp_server"]) == 128
    assert second["labels"]["__meta_litellm_upstream_url"] == ""
    assert second["labels"]["mcp_auth_type"] == "none"
    assert "sk-sd-test-key" not in text


async def test_a_reload_drops_a_removed_sources_list_and_metrics(
    make_exporter: ExporterFactory, closed_port: int, tmp_path: Any
) -> None:
    """After a reload without the source, /sd does not know it and its metrics are gone."""
    exporter = await make_exporter(config(f"http://127.0.0.1:{closed_port}"))
    assert (await exporter.get("/sd", source="gw"))[0] == 503
    path = exporter.state.settings.config_file
    assert path is not None
    path.write_text(config(f"http://127.0.0.1:{closed_port}", name="other"))
    assert await exporter.state.reload()
    assert (await exporter.get("/sd", source="gw"))[0] == 404
    _, metrics = await exporter.get("/metrics")
    assert not any('source="gw"' in k for k in sd_metrics(metrics))
