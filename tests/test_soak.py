"""A bounded soak: a real exporter process probes healthy, failing and hostile targets at a steady
rate. No probe outlives its timeout, memory and descriptors stay flat, /metrics stays fast.

It runs in the normal suite (about 75 s). MCP_EXPORTER_SOAK_SECONDS lengthens it for a local run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests import fakes, hostile
from tests.conftest import parse_metrics
from tests.exporter_process import ExporterProcess
from tests.peers.mcp_servers import Peer, free_port
from tests.test_probe_mcp import failure

pytestmark = pytest.mark.timeout(240)

SOAK_SECONDS = float(os.environ.get("MCP_EXPORTER_SOAK_SECONDS", "60"))
RATE = 8.0  # probes per second, started on a fixed schedule whatever the answers take
WARMUP_FRACTION = 0.25  # memory is compared from the end of the warm-up on
# Tolerances, stated: resident memory may grow by at most this much after warm-up, and
# descriptors at rest may exceed those at rest before the soak by at most this many.
RSS_GROWTH_BYTES = 16 * 1024 * 1024
FD_SLACK = 4
METRICS_P99_SECONDS = 0.25
PROBE_MARGIN = 0.5  # probe_duration_seconds may pass the timeout by closing connections only
WALL_MARGIN = 1.5  # the HTTP round trip to the exporter under load, on top

TIMEOUTS = {"ok": 5.0, "hostile": 2.0}
CONFIG = f"""
modules:
  ok:
    prober: mcp
    timeout: {TIMEOUTS["ok"]}s
  hostile:
    prober: mcp
    timeout: {TIMEOUTS["hostile"]}s
    mcp:
      transport: streamable_http
      limits: {{max_response_bytes: 1MiB, max_header_bytes: 16KiB, max_redirects: 3}}
"""
UP = "client_to_upstream"


@dataclass(frozen=True)
class Target:
    """A soak target: what to probe, with which module, and the expected failure (None: ok)."""

    name: str
    url: str
    module: str
    expected: tuple[str, str, str] | None


@dataclass
class Result:
    """One probe as the load generator saw it."""

    target: Target
    wall: float
    metrics: dict[str, float]


@dataclass
class Samples:
    """What the monitor saw of the exporter process over time."""

    rss: list[tuple[float, int]] = field(default_factory=list)
    fds: list[tuple[float, int]] = field(default_factory=list)
    metrics_latency: list[float] = field(default_factory=list)
    metrics_errors: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def soak_targets(healthy: Peer) -> AsyncIterator[list[Target]]:
    """Start the fake targets; yield the whole mix."""
    async with AsyncExitStack() as stack:

        async def fake(handler: fakes.Handler) -> str:
            return await stack.enter_async_context(fakes.serve(handler))

        async def raw(handler: hostile.RawHandler) -> str:
            return (await stack.enter_async_context(hostile.raw_serve(handler))).url

        deep = b'{"jsonrpc":"2.0","id":%(id)d,"result":' + hostile.nested(50_000).encode() + b"}"
        tls_silent = await stack.enter_async_context(hostile.silent_listener(scheme="https"))
        yield [
            Target("sdk_stateful", healthy.url, "ok", None),
            Target("fake_ok", await fake(hostile.mcp_server()), "hostile", None),
            Target("http10", await raw(hostile.http10()), "hostile", None),
            Target(
                "refused",
                f"http://127.0.0.1:{free_port()}/mcp",
                "hostile",
                (UP, "connect", "connect_refused"),
            ),
            Target("html", await fake(fakes.html_page()), "hostile", (UP, "initialize", "not_mcp")),
            Target(
                "jsonrpc_error",
                await fake(fakes.jsonrpc_error_on("tools/list")),
                "hostile",
                (UP, "tools_list", "jsonrpc_error"),
            ),
            Target(
                "sse_never_answers",
                await fake(hostile.sse_never_answers()),
                "hostile",
                (UP, "tools_list", "timeout"),
            ),
            Target(
                "slowloris_body",
                await raw(hostile.slowloris_body(0.05)),
                "hostile",
                (UP, "initialize", "timeout"),
            ),
            Target("tls_silent", tls_silent, "hostile", (UP, "tls", "timeout")),
            Target(
                "sse_flood",
                await fake(hostile.sse_flood()),
                "hostile",
                (UP, "tools_list", "response_too_large"),
            ),
            Target(
                "gigantic_json",
                await fake(hostile.gigantic_json(2 * 1024 * 1024)),
                "hostile",
                (UP, "initialize", "response_too_large"),
            ),
            Target(
                "deep_json",
                await fake(hostile.json_answer("initialize", deep)),
                "hostile",
                (UP, "initialize", "jsonrpc_invalid"),
            ),
            Target(
                "reset_mid_body",
                await raw(hostile.reset_mid_body()),
                "hostile",
                (UP, "initialize", "http_status"),
            ),
            Target(
                "redirect_loop",
                await fake(hostile.redirect(lambda request: str(request.url))),
                "hostile",
                (UP, "initialize", "http_status"),
            ),
        ]


@contextlib.contextmanager
def exporter_process(tmp_path: Path) -> Iterator[tuple[str, psutil.Process]]:
    """The exporter as a real process on a free port; yields its base URL and process."""
    config = tmp_path / "soak.yml"
    config.write_text(CONFIG)
    process = ExporterProcess(
        "--config.file",
        str(config),
        "--log.level",
        "warning",
        log_path=tmp_path / "exporter.log",
    )
    try:
        yield process.base, psutil.Process(process.proc.pid)
    finally:
        process.stop(timeout=20)


async def probe(client: aiohttp.ClientSession, base: str, target: Target) -> Result:
    """One /probe request, timed from outside."""
    started = time.monotonic()
    params = {"target": target.url, "module": target.module}
    async with client.get(f"{base}/probe", params=params) as response:
        text = await response.text()
        assert response.status == 200, text
    return Result(target, time.monotonic() - started, parse_metrics(text))


def monitor(base: str, process: psutil.Process, samples: Samples, stop: threading.Event) -> None:
    """Sample memory and descriptors each second and time /metrics four times a second.

    A thread of its own, so that the fake targets' work in the test's event loop does not
    count as the exporter's latency.
    """
    next_sample = 0.0
    while not stop.is_set():
        now = time.monotonic()
        if now >= next_sample:
            samples.rss.append((now, process.memory_info().rss))
            samples.fds.append((now, process.num_fds()))
            next_sample = now + 1.0
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
                response.read()
        except OSError as exc:
            samples.metrics_errors.append(repr(exc))
        samples.metrics_latency.append(time.monotonic() - started)
        stop.wait(0.25)


async def at_rest(client: aiohttp.ClientSession, base: str, process: psutil.Process) -> int:
    """Descriptors once no probe is in flight (waits for in-flight to reach 0)."""
    for _ in range(100):
        async with client.get(f"{base}/metrics") as response:
            exposition = parse_metrics(await response.text())
        if exposition.get("mcp_exporter_probes_in_flight") == 0:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    return int(process.num_fds())


def p99(values: list[float]) -> float:
    """The 99th percentile."""
    return (
        statistics.quantiles(values, n=100, method="inclusive")[98]
        if len(values) > 1
        else values[0]
    )


async def test_soak(tmp_path: Path, sdk_stateful: Peer) -> None:
    """Under a steady mix of good and hostile targets the exporter stays bounded and fast."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as client,
        soak_targets(sdk_stateful) as targets,
    ):
        with exporter_process(tmp_path) as (base, process):
            # Warm up every code path once, then take the descriptors at rest.
            await asyncio.gather(*(probe(client, base, t) for t in targets))
            fds_before = await at_rest(client, base, process)

            samples = Samples()
            stop = threading.Event()
            watcher = threading.Thread(target=monitor, args=(base, process, samples, stop))
            watcher.start()
            tasks: list[asyncio.Task[Result]] = []
            started = time.monotonic()
            count = int(SOAK_SECONDS * RATE)
            for i in range(count):
                delay = started + i / RATE - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(probe(client, base, targets[i % len(targets)])))
            results = await asyncio.gather(*tasks)
            load_seconds = time.monotonic() - started
            fds_after = await at_rest(client, base, process)
            stop.set()
            watcher.join()
            async with client.get(f"{base}/metrics") as response:
                own = parse_metrics(await response.text())

    wrong = Counter(
        (r.target.name, failure(r.metrics))
        for r in results
        if failure(r.metrics) != r.target.expected
        or r.metrics["probe_success"] != (r.target.expected is None)
    )
    assert not wrong, wrong

    slow = [
        (r.target.name, r.metrics["probe_duration_seconds"], r.wall)
        for r in results
        if r.metrics["probe_duration_seconds"] > TIMEOUTS[r.target.module] + PROBE_MARGIN
        or r.wall > TIMEOUTS[r.target.module] + PROBE_MARGIN + WALL_MARGIN
    ]
    assert not slow, slow

    rss_from = samples.rss[0][0] + WARMUP_FRACTION * (samples.rss[-1][0] - samples.rss[0][0])
    settled = [rss for t, rss in samples.rss if t >= rss_from]
    growth = max(settled) - settled[0]
    assert growth <= RSS_GROWTH_BYTES, f"RSS grew {growth / 2**20:.1f} MiB after warm-up"
    assert fds_after <= fds_before + FD_SLACK, (fds_before, fds_after)

    assert not samples.metrics_errors, samples.metrics_errors
    assert p99(samples.metrics_latency) <= METRICS_P99_SECONDS, sorted(samples.metrics_latency)[-5:]

    probes_total = sum(v for k, v in own.items() if k.startswith("mcp_exporter_probes_total{"))
    assert probes_total == count + len(targets)
    assert own["mcp_exporter_probes_in_flight"] == 0

    report = {
        "probes": count,
        "seconds": round(load_seconds, 1),
        "rss_mib": (round(settled[0] / 2**20, 1), round(max(settled) / 2**20, 1)),
        "fds": (fds_before, fds_after, max(n for _, n in samples.fds)),
        "metrics_p99_ms": round(p99(samples.metrics_latency) * 1000, 1),
        "metrics_median_ms": round(statistics.median(samples.metrics_latency) * 1000, 1),
        "metrics_max_ms": round(max(samples.metrics_latency) * 1000, 1),
        "max_probe_over_timeout_s": round(
            max(r.metrics["probe_duration_seconds"] - TIMEOUTS[r.target.module] for r in results),
            3,
        ),
    }
    print(f"soak: {report}")
