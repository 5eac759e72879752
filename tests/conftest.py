"""Shared fixtures: the exporter in-process, and the real peers (see tests/peers/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import STATE, create_app
from exporter.state import Settings, State

pytest_plugins = [
    "tests.peers.mcp_servers",
    "tests.exporter_process",
    "tests.peers.oauth",
    "tests.peers.litellm_proxy",
]


@dataclass
class Exporter:
    """A running exporter app and a client for it."""

    server: TestServer
    client: ClientSession

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def state(self) -> State:
        return self.server.app[STATE]

    async def get(self, path: str, **params: str) -> tuple[int, str]:
        async with self.client.get(f"{self.base}{path}", params=params) as resp:
            return resp.status, await resp.text()

    async def probe(self, target: str, module: str = "mcp", **params: str) -> dict[str, float]:
        """Probe and parse the metrics into {'name{labels}': value}."""
        status, text = await self.get("/probe", target=target, module=module, **params)
        assert status == 200, text
        return parse_metrics(text)


def parse_metrics(text: str) -> dict[str, float]:
    """Samples keyed by their exposition text (name, then the labels in the order written).

    prometheus_client's parser reads the text, so output it cannot parse fails the test."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


ExporterFactory = Callable[..., Awaitable[Exporter]]


@pytest.fixture
async def make_exporter(tmp_path: Path) -> AsyncIterator[ExporterFactory]:
    """Start exporters with a given config text (or the built-in default)."""
    started: list[Exporter] = []

    async def factory(config: str | None = None, **settings: object) -> Exporter:
        path = None
        if config is not None:
            path = tmp_path / f"config-{len(started)}.yml"
            path.write_text(config)
        app = create_app(Settings(config_file=path, **settings))  # type: ignore[arg-type]
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        exporter = Exporter(server, ClientSession())
        started.append(exporter)
        return exporter

    yield factory
    for exporter in started:
        await exporter.client.close()
        await exporter.server.close()


@pytest.fixture
async def exporter(make_exporter: ExporterFactory) -> Exporter:
    """An exporter with the built-in default config."""
    return await make_exporter()
