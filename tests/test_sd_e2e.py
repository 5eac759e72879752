"""End to end: a real Prometheus discovers every MCP server of a real LiteLLM through the
exporter's /sd (examples/prometheus-litellm-sd.yml), probes each one through the gateway and its
upstream directly, scrapes the gateway's health view, and the boards' panels for them return data.

Only what a short test must change is rewritten: addresses become free ports on 127.0.0.1, the
example gateway URL the peer's, intervals one second (two for probes through the gateway).
"""

from __future__ import annotations

import copy
import json
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.peers.litellm_proxy import UPSTREAM_KINDS, LiteLLMProxy
from tests.peers.mcp_servers import free_port
from tests.test_dashboards import (
    TimeRange,
    grafana_variable_value,
    interpolate,
    load_board,
    promql_metric_names,
    queries,
    variables,
)
from tests.test_e2e_prometheus import ROOT, Process, binary, http_get, start, wait_for

pytestmark = pytest.mark.timeout(240)

EXAMPLE = ROOT / "examples" / "prometheus-litellm-sd.yml"
EXAMPLE_EXPORTER = "127.0.0.1:9675"
EXAMPLE_GATEWAY = "http://litellm.internal:4000"
KEY_ENV = "LITELLM_SD_KEY"
# Every server of the LiteLLM peer's config: discovery must list each of them.
SERVERS = tuple(UPSTREAM_KINDS)
JOBS = ("mcp_probe_gateway_servers", "mcp_probe_gateway_upstreams", "mcp_probe_gateway_health")
NEW_METRICS = {
    "probe_litellm_server_health",
    "mcp_exporter_sd_refreshes_total",
    "mcp_exporter_sd_last_refresh_successful",
    "mcp_exporter_sd_last_success_timestamp_seconds",
    "mcp_exporter_sd_targets",
}


def prometheus_config(exporter: str, gateway: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    jobs = []
    for original in config["scrape_configs"]:
        job = copy.deepcopy(original)
        job.update(scrape_interval="2s", scrape_timeout="2s")
        for sd in job.get("http_sd_configs", []):
            sd["url"] = sd["url"].replace(EXAMPLE_EXPORTER, exporter)
            sd["refresh_interval"] = "1s"
        for static in job.get("static_configs", []):
            static["targets"] = [gateway if t == EXAMPLE_GATEWAY else t for t in static["targets"]]
        for relabel in job.get("relabel_configs", []):
            if relabel.get("replacement") == EXAMPLE_EXPORTER:
                relabel["replacement"] = exporter
        jobs.append(job)
    jobs.append({"job_name": "mcp_exporter", "static_configs": [{"targets": [exporter]}]})
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": jobs,
    }


def exporter_config(gateway: str) -> dict[str, Any]:
    """The built-in modules plus config/example.yml's litellm_server and litellm_health modules
    and its service_discovery source, with the key from the environment."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "exporter" / "default.yml").read_text())
    example: dict[str, Any] = yaml.safe_load((ROOT / "config" / "example.yml").read_text())
    key = {"env": KEY_ENV}
    for name in ("litellm_server", "litellm_health"):
        module = copy.deepcopy(example["modules"][name])
        block = module["mcp"]["litellm"] if name == "litellm_server" else module[name]
        block["api_key"] = key
        config["modules"][name] = module
    sd = copy.deepcopy(example["service_discovery"])
    sd["litellm"]["gateway"].update(url=gateway, api_key=key, refresh_interval="1s")
    config["service_discovery"] = sd
    return config


class Stack:
    def __init__(
        self,
        prometheus: str,
        exporter: str,
        proxy: LiteLLMProxy,
        processes: list[Process],
        started: float,
    ) -> None:
        self.prometheus = prometheus
        self.exporter = exporter
        self.proxy = proxy
        self.processes = processes
        self.started = started

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = urllib.parse.urlencode({"query": expr}).encode()
        request = urllib.request.Request(f"{self.prometheus}/api/v1/query", data=data)
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer = json.load(resp)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def by(self, expr: str, label: str) -> dict[str, float]:
        return {r["metric"][label]: float(r["value"][1]) for r in self.query(expr)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, litellm_proxy: LiteLLMProxy) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("sd-e2e")
    exporter = f"127.0.0.1:{free_port()}"
    prom_port = free_port()
    (work / "exporter.yml").write_text(yaml.safe_dump(exporter_config(litellm_proxy.base_url)))
    (work / "prometheus.yml").write_text(
        yaml.safe_dump(prometheus_config(exporter, litellm_proxy.base_url))
    )
    processes: list[Process] = []
    try:
        processes.append(
            start(
                "exporter",
                [
                    str(Path(sys.executable).parent / "mcp-exporter"),
                    f"--config.file={work / 'exporter.yml'}",
                    f"--web.listen-address={exporter}",
                ],
                work,
                **{KEY_ENV: litellm_proxy.master_key},
            )
        )
        wait_for("exporter", lambda: http_get(f"http://{exporter}/-/ready")[0] == 200, processes)
        started = time.time()
        processes.append(
            start(
                "prometheus",
                [
                    binary("prometheus"),
                    f"--config.file={work / 'prometheus.yml'}",
                    f"--storage.tsdb.path={work / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                work,
            )
        )
        prometheus = f"http://127.0.0.1:{prom_port}"
        wait_for("prometheus", lambda: http_get(f"{prometheus}/-/ready")[0] == 200, processes)
        yield Stack(prometheus, exporter, litellm_proxy, processes, started)
    finally:
        for process in reversed(processes):
            process.stop()


def test_prometheus_discovers_and_probes_every_server(stack: Stack) -> None:
    """Every server of the gateway is a target of the gateway job (its URL on the gateway, with
    mcp_server, mcp_transport, mcp_auth_type) and of the upstream job (its upstream URL); each is
    probed; the servers that need nothing the probe lacks succeed through the gateway."""

    def probed() -> dict[str, dict[str, float]] | None:
        results = {job: stack.by(f'probe_success{{job="{job}"}}', "mcp_server") for job in JOBS[:2]}
        return results if all(sorted(r) == sorted(SERVERS) for r in results.values()) else None

    results = wait_for("every server probed by both jobs", probed, stack.processes, timeout=90)
    for row in stack.query('up{job=~"mcp_probe_gateway_.*"}'):
        assert row["value"][1] == "1", row
    instances = stack.by('probe_success{job="mcp_probe_gateway_servers"}', "instance")
    assert sorted(instances) == sorted(stack.proxy.mcp_url(s) for s in SERVERS)
    upstreams = stack.by('probe_success{job="mcp_probe_gateway_upstreams"}', "instance")
    assert sorted(upstreams) == sorted(u.url for u in stack.proxy.upstreams.values())
    labels = {
        r["metric"]["mcp_server"]: (r["metric"]["mcp_transport"], r["metric"]["mcp_auth_type"])
        for r in stack.query('probe_success{job="mcp_probe_gateway_servers"}')
    }
    assert labels["bearer"] == ("http", "bearer_token")
    assert labels["m2m"] == ("http", "oauth2")
    # LiteLLM's first answers for a server are slow (it loads the server's tools): the healthy
    # servers succeed once it is warm.
    healthy = ("open", "bearer", "m2m", "flaky")

    def warm() -> dict[str, float] | None:
        found = stack.by('probe_success{job="mcp_probe_gateway_servers"}', "mcp_server")
        return found if all(found.get(s) == 1 for s in healthy) else None

    failures = [
        r["metric"] for r in stack.query('probe_failure_info{job="mcp_probe_gateway_servers"}')
    ]
    wait_for(f"healthy servers through the gateway ({failures})", warm, stack.processes, timeout=60)
    direct = results["mcp_probe_gateway_upstreams"]
    assert direct["open"] == 1
    assert direct["bearer"] == 0  # the token is LiteLLM's, not the direct probe's


def test_health_view_and_sd_metrics_are_stored(stack: Stack) -> None:
    """The health job stores each server's status by name; the exporter's SD metrics show one
    source with every server and successful refreshes."""

    def health() -> dict[str, float] | None:
        found = stack.by(
            'probe_litellm_server_health{job="mcp_probe_gateway_health", status="healthy"}',
            "server",
        )
        return found if sorted(found) == sorted(SERVERS) else None

    healthy = wait_for("the health view", health, stack.processes, timeout=60)
    assert healthy["open"] == 1
    assert stack.by("mcp_exporter_sd_targets", "source") == {"gateway": len(SERVERS)}
    assert stack.by("mcp_exporter_sd_last_refresh_successful", "source") == {"gateway": 1}
    refreshes = stack.by('mcp_exporter_sd_refreshes_total{result="success"}', "source")
    assert refreshes["gateway"] >= 1


@pytest.mark.parametrize("board_file", ["mcp-gateway-auth.json", "mcp-overview.json"])
def test_the_panels_of_the_new_metrics_return_data(stack: Stack, board_file: str) -> None:
    """Every panel query reading the health view or the SD metrics returns data, with the board's
    variables substituted as Grafana does."""
    board = load_board(board_file)
    wanted = [q for q in queries(board_file) if promql_metric_names(q.expr) & NEW_METRICS]
    assert wanted
    selected = {
        "job": list(JOBS),
        "target": [stack.proxy.base_url],
        "instance": [stack.exporter],
    }

    def missing() -> list[str]:
        tr = TimeRange(start=stack.started, end=time.time(), scrape_interval=1)
        values = tr.builtins() | {"datasource": "prometheus"}
        for name, variable in variables(board).items():
            if name in selected:
                values[name] = grafana_variable_value(variable, selected[name])
        out = []
        for query in wanted:
            expr = interpolate(query.expr, values)
            if query.instant:
                found = stack.query(expr)
            else:
                data = urllib.parse.urlencode(
                    {"query": expr, "start": tr.start, "end": tr.end, "step": tr.interval}
                ).encode()
                request = urllib.request.Request(
                    f"{stack.prometheus}/api/v1/query_range", data=data
                )
                with urllib.request.urlopen(request, timeout=10) as resp:
                    found = json.load(resp)["data"]["result"]
            if not found:
                out.append(query.name)
        return out

    deadline = time.monotonic() + 60
    while (absent := missing()) and time.monotonic() < deadline:
        time.sleep(1)
    assert absent == []
