"""The exporter's HTTP surface: /probe errors, /metrics, /, /logs, /config, reloads, health."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from exporter.probe import parse_target
from tests.conftest import Exporter, ExporterFactory, parse_metrics
from tests.peers.mcp_servers import Peer, free_port


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "target parameter is missing"),
        ({"target": "ftp://x/mcp"}, "target scheme must be http or https, got 'ftp'"),
        ({"target": "no-scheme"}, "target scheme must be http or https, got 'none'"),
        ({"target": "http:///mcp"}, "target URL has no host"),
        ({"target": "http://u:p@127.0.0.1/mcp"}, "target URL must not carry credentials"),
        ({"target": "http://127.0.0.1:99999/"}, "target is not a valid URL"),
        ({"target": "http://127.0.0.1/", "module": "nope"}, "unknown module 'nope'"),
        # Not host names in any script: refused here rather than failing inside the prober.
        ({"target": "http://\ufffd/mcp"}, "target host '\ufffd' is not a valid host name"),
        ({"target": "http://a\u202eb/mcp"}, "target host 'a\\u202eb' is not a valid host name"),
        ({"target": "http://[::1%\u00e9]/mcp"}, "target IPv6 zone must be ASCII"),
    ],
)
async def test_bad_probe_requests(exporter: Exporter, params: dict[str, str], message: str) -> None:
    """Malformed /probe requests get a 400 with a one-line reason; the exporter keeps serving."""
    status, text = await exporter.get("/probe", **params)
    assert status == 400
    assert text.startswith(message)
    assert text.count("\n") == 1
    status, _ = await exporter.get("/-/healthy")
    assert status == 200


async def test_non_ascii_targets_are_sent_as_the_wire_carries_them(exporter: Exporter) -> None:
    """A host name in another script goes out in IDNA, the rest percent-encoded as UTF-8; the
    HTTP stack takes only ASCII, and refused such a target as target_not_allowed."""
    assert parse_target("http://\u4f8b\u3048.jp:8080/p\u00e4?q=\u00e9#f") == (
        "http://xn--r8jz45g.jp:8080/p%C3%A4?q=%C3%A9#f"
    )
    assert parse_target("http://127.0.0.1/a%20b") == "http://127.0.0.1/a%20b"
    metrics = await exporter.probe(f"http://127.0.0.1:{free_port()}/mcp\u00e9")
    assert (
        metrics[
            'probe_failure_info{hop="client_to_upstream",phase="connect",reason="connect_refused"}'
        ]
        == 1
    )


@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "\u0663", "\uff11", "9" * 5000, "-1"])
async def test_logs_id_must_be_ascii_digits(exporter: Exporter, value: str) -> None:
    """/logs?id= takes ASCII digits: others that str.isdigit() accepts, and numbers longer
    than int() converts, were a 500 (or another probe's log)."""
    await exporter.probe("http://127.0.0.1:1/mcp")
    status, text = await exporter.get("/logs", id=value)
    assert (status, text) == (400, "id parameter must be a probe number\n")


async def test_unknown_module_is_counted(exporter: Exporter) -> None:
    """An unknown module increments mcp_exporter_module_unknown_total."""
    await exporter.get("/probe", target="http://127.0.0.1/", module="nope")
    _, text = await exporter.get("/metrics")
    assert parse_metrics(text)["mcp_exporter_module_unknown_total"] == 1


async def test_scrape_timeout_header(exporter: Exporter) -> None:
    """The timeout is the scrape timeout minus the offset, capped by the module's."""
    url = f"{exporter.base}/probe"
    params = {"target": "http://127.0.0.1:1/mcp"}
    async with exporter.client.get(
        url, params=params, headers={"X-Prometheus-Scrape-Timeout-Seconds": "3"}
    ) as resp:
        assert parse_metrics(await resp.text())["probe_timeout_seconds"] == 2.5
    async with exporter.client.get(
        url, params=params, headers={"X-Prometheus-Scrape-Timeout-Seconds": "60"}
    ) as resp:
        assert parse_metrics(await resp.text())["probe_timeout_seconds"] == 10
    async with exporter.client.get(
        url, params=params, headers={"X-Prometheus-Scrape-Timeout-Seconds": "soon"}
    ) as resp:
        assert resp.status == 400


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e309", "1_0", "\u0663", "0x10"])
async def test_scrape_timeout_that_is_no_number(exporter: Exporter, value: str) -> None:
    """Infinite, digit-grouped or non-ASCII timeouts are a 400, not the module's timeout."""
    async with exporter.client.get(
        f"{exporter.base}/probe",
        params={"target": "http://127.0.0.1:1/mcp"},
        headers={"X-Prometheus-Scrape-Timeout-Seconds": value},
    ) as resp:
        assert resp.status == 400
        text = await resp.text()
    assert text.startswith("X-Prometheus-Scrape-Timeout-Seconds is not a number: ")
    assert text.count("\n") == 1


async def test_exporter_metrics(exporter: Exporter, sdk_stateful: Peer) -> None:
    """/metrics counts probes by module and result and never carries per-target series."""
    await exporter.probe(sdk_stateful.url)
    await exporter.probe("http://127.0.0.1:1/mcp")
    _, text = await exporter.get("/metrics")
    m = parse_metrics(text)
    assert m['mcp_exporter_probes_total{module="mcp",result="success"}'] == 1
    assert m['mcp_exporter_probes_total{module="mcp",result="failure"}'] == 1
    assert m['mcp_exporter_build_info{version="0.1.0"}'] == 1
    assert m["mcp_exporter_config_last_reload_successful"] == 1
    assert m["mcp_exporter_probes_in_flight"] == 0
    assert "127.0.0.1" not in text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by make test")
async def test_promtool_check_metrics(exporter: Exporter, sdk_stateful: Peer) -> None:
    """Both /metrics and a /probe response pass `promtool check metrics`."""
    _, probe_text = await exporter.get("/probe", target=sdk_stateful.url, module="mcp_full")
    _, failed_text = await exporter.get("/probe", target="http://127.0.0.1:1/")
    _, metrics_text = await exporter.get("/metrics")
    for text in (probe_text, failed_text, metrics_text):
        result = subprocess.run(
            ["promtool", "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


async def test_landing_page_and_logs(exporter: Exporter, sdk_stateful: Peer) -> None:
    """The landing page lists modules and recent probes, newest first, linking their logs."""
    await exporter.probe(sdk_stateful.url)
    await exporter.probe("http://127.0.0.1:1/mcp")
    status, page = await exporter.get("/")
    assert status == 200
    assert "mcp_full" in page
    assert page.index("connect_refused") < page.index(sdk_stateful.url)
    status, log = await exporter.get("/logs", id="0")
    assert status == 200
    assert "probe succeeded" in log
    assert (await exporter.get("/logs", id="999"))[0] == 404
    assert (await exporter.get("/logs", id="x"))[0] == 400


async def test_debug_output(exporter: Exporter, sdk_stateful: Peer) -> None:
    """debug=true returns the probe's log, its metrics and the module config."""
    status, text = await exporter.get("/probe", target=sdk_stateful.url, module="mcp", debug="true")
    assert status == 200
    assert "Logs for the probe:" in text
    assert "probe_success 1" in text
    assert "Module configuration (mcp):" in text
    assert "transport: auto" in text


async def test_reload_keeps_old_config_when_invalid(
    make_exporter: ExporterFactory, tmp_path: Path
) -> None:
    """POST /-/reload applies a valid file; an invalid one keeps the old config and says why."""
    exp = await make_exporter("modules: {first: {prober: mcp}}\n")
    config_file = exp.state.settings.config_file
    assert config_file is not None
    config_file.write_text("modules: {second: {prober: mcp}}\n")
    async with exp.client.post(f"{exp.base}/-/reload") as resp:
        assert resp.status == 200
    assert exp.state.config is not None
    assert set(exp.state.config.modules) == {"second"}
    config_file.write_text("modules: {third: {prober: mcp, bogus: 1}}\n")
    async with exp.client.post(f"{exp.base}/-/reload") as resp:
        assert resp.status == 500
        assert "modules.third.bogus: unknown key" in await resp.text()
    assert set(exp.state.config.modules) == {"second"}
    _, text = await exp.get("/metrics")
    assert parse_metrics(text)["mcp_exporter_config_last_reload_successful"] == 0
    _, page = await exp.get("/")
    assert "Last config reload failed" in page


async def test_reload_of_a_file_that_is_not_utf8(make_exporter: ExporterFactory) -> None:
    """Concurrent reloads of a binary file: each a 500 naming the file in one line, the old
    config stays, and the failure is counted (it was an unhandled error that left it at 1)."""
    exp = await make_exporter("modules: {first: {prober: mcp}}\n")
    config_file = exp.state.settings.config_file
    assert config_file is not None
    config_file.write_bytes(b"modules: {second: {prober: mcp}}\n\xff\n")

    async def reload() -> tuple[int, str]:
        async with exp.client.post(f"{exp.base}/-/reload") as resp:
            return resp.status, await resp.text()

    answers = await asyncio.gather(*(reload() for _ in range(5)))
    problem = f"{config_file}: not UTF-8 text (byte 33)"
    assert set(answers) == {
        (500, f"config reload failed; the previous config stays loaded:\n{problem}\n")
    }
    assert exp.state.config is not None
    assert set(exp.state.config.modules) == {"first"}
    assert exp.state.last_reload_error == problem
    _, text = await exp.get("/metrics")
    assert parse_metrics(text)["mcp_exporter_config_last_reload_successful"] == 0


async def test_health_endpoints(exporter: Exporter) -> None:
    """Liveness and readiness answer 200."""
    assert (await exporter.get("/-/healthy"))[0] == 200
    assert (await exporter.get("/-/ready"))[0] == 200
