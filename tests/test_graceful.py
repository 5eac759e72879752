"""Graceful behaviour: SIGTERM drains probes, reloads don't interrupt them, bugs are internal."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from exporter import probe as probe_module
from exporter.probers.context import ProbeContext
from exporter.probers.prober import Prober
from tests.conftest import ExporterFactory, parse_metrics
from tests.exporter_process import StartExporter
from tests.peers.mcp_servers import Peer
from tests.test_probe_mcp import failure

SLOW = """
modules:
  slow:
    prober: mcp
    timeout: 10s
    mcp:
      steps: [tool_call]
      tool_call: {name: slow, arguments: {seconds: 1.5}}
"""


def test_sigterm_drains_probes_in_flight(
    tmp_path: Path, start_exporter: StartExporter, sdk_stateful: Peer
) -> None:
    """A probe running when SIGTERM arrives still completes and is answered."""
    config = tmp_path / "c.yml"
    config.write_text(SLOW)
    process = start_exporter("--config.file", str(config))
    result: dict[str, str] = {}

    def scrape() -> None:
        result["body"] = process.get(f"/probe?module=slow&target={quote(sdk_stateful.url)}")[1]

    thread = threading.Thread(target=scrape)
    thread.start()
    time.sleep(0.7)
    process.signal(signal.SIGTERM)
    thread.join(timeout=20)
    assert process.proc.wait(timeout=20) == 0
    assert parse_metrics(result["body"])["probe_success"] == 1


async def test_reload_does_not_interrupt_probes(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """A reload mid-probe leaves the running probe on its module and it succeeds."""
    import asyncio

    exp = await make_exporter(SLOW)
    config_file = exp.state.settings.config_file
    assert config_file is not None
    task = asyncio.create_task(exp.probe(sdk_stateful.url, "slow"))
    await asyncio.sleep(0.5)
    config_file.write_text("modules: {other: {prober: mcp}}\n")
    async with exp.client.post(f"{exp.base}/-/reload") as resp:
        assert resp.status == 200
    m = await task
    assert m["probe_success"] == 1
    assert exp.state.config is not None
    assert set(exp.state.config.modules) == {"other"}


async def test_prober_bug_is_internal(
    make_exporter: ExporterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crashing prober gives reason internal at hop exporter, not a 500."""

    async def broken(_ctx: ProbeContext) -> None:
        raise KeyError("a bug")

    prober = Prober(broken, probe_module.PROBERS["mcp"].write_metrics)
    monkeypatch.setitem(probe_module.PROBERS, "mcp", prober)
    exp = await make_exporter()
    m = await exp.probe("http://127.0.0.1:1/mcp")
    assert failure(m) == ("exporter", "connect", "internal")
    assert (await exp.get("/-/healthy"))[0] == 200


async def test_concurrency_limit_gives_fast_503(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """Past --probes.max-concurrent a probe request gets an immediate 503 and is counted."""
    import asyncio

    exp = await make_exporter(SLOW, max_concurrent_probes=1)
    running = asyncio.create_task(exp.probe(sdk_stateful.url, "slow"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    status, text = await exp.get("/probe", target=sdk_stateful.url, module="slow")
    assert status == 503
    assert time.monotonic() - started < 0.5
    assert "too many concurrent probes" in text
    assert (await running)["probe_success"] == 1
    _, metrics = await exp.get("/metrics")
    assert parse_metrics(metrics)["mcp_exporter_probes_rejected_total"] == 1
