"""End to end: a real Prometheus scrapes the real exporter through examples/prometheus.yml's
relabeling, probing a healthy MCP server over http and over https, a closed port, an
OAuth-protected MCP server (authorization discovery, and MCP with a client-credentials token from a
real authorization server, once with the right secret and once with a wrong one), an MCP server
without OAuth metadata (discovery's 2025-03-26 fallback), and a real LiteLLM proxy (the aggregate
`/mcp` over three upstreams with different auth, and an MCP call inside a chat completion); the
boards' queries return data, the shipped rules evaluate, and the probe-failing alert travels through
a real Alertmanager to a webhook this test runs.

Only what a short test must change is rewritten: addresses become free ports on 127.0.0.1,
intervals become one second (two for the LiteLLM jobs), every rule's `for` becomes one second, and
the exporter's built-in config lets the discovery module follow http metadata URLs on loopback and
gains the modules of the extra jobs: the test client's credentials (right and wrong), the discovery
fallback, and the LiteLLM modules the example's gateway jobs name (the gateway key from the
environment, as in config/example.yml's advice).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme
import yaml

from tests.peers.litellm_proxy import LiteLLMProxy
from tests.peers.mcp_servers import free_port
from tests.peers.oauth import (
    DEFAULT_CLIENT,
    AuthorizationServerPeer,
    OAuthMCPServerPeer,
    start_authorization_server,
    start_mcp_server,
)
from tests.test_dashboards import (
    BOARDS,
    PROBE_METRICS,
    Query,
    TimeRange,
    grafana_variable_value,
    interpolate,
    load_board,
    promql_metric_names,
    queries,
    variables,
)
from tests.test_litellm import server_id

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
RULES = ROOT / "grafana" / "rules" / "mcp-exporter.rules.yml"
EXAMPLE_EXPORTER = "127.0.0.1:9675"
EXAMPLE_HEALTHY = "http://127.0.0.1:9676/mcp"
EXAMPLE_FAILING = "http://127.0.0.1:9677/mcp"
SCRAPE_INTERVAL = 1.0
# A LiteLLM probe takes ~0.2 s warm, longer under load: the gateway jobs get 1.5 s to answer.
LITELLM_SCRAPE_INTERVAL = 2.0
DEADLINE = 45.0
# The gateway key reaches the exporter's config through the environment, never inline.
GATEWAY_KEY_ENV = "LITELLM_PROBE_KEY"
# The upstreams behind the aggregate /mcp, with their auth_type in LiteLLM's config: no auth, a
# static token LiteLLM holds, and a client-credentials token LiteLLM fetches (resolution
# `multiple`, one per-server resolution each).
GATEWAY_SERVERS = {"open": "none", "bearer": "bearer_token", "m2m": "oauth2"}
# The jobs added to the example's, by module.
EXTRA_JOBS = {
    "mcp_probe_oauth": "mcp_oauth",
    "mcp_probe_oauth_refused": "mcp_oauth_refused",
    "mcp_probe_discovery_legacy": "discovery_legacy",
}
LITELLM_JOBS = ("mcp_probe_gateway", "mcp_probe_completion")
PROBE_JOBS = sorted(
    ["mcp_probe", "mcp_probe_discovery", "mcp_probe_full", *LITELLM_JOBS, *EXTRA_JOBS]
)

pytestmark = pytest.mark.timeout(180)

# Metrics these probes cannot produce, with the reason: their panels must show nothing here (so
# this list stays true); tests/test_sd_e2e.py scrapes them from a real Prometheus.
_SD = "service discovery and the litellm_health module: tests/test_sd_e2e.py"
NEEDS_ANOTHER_TARGET: dict[str, str] = {
    "probe_litellm_server_health": _SD,
    "mcp_exporter_sd_refreshes_total": _SD,
    "mcp_exporter_sd_last_refresh_successful": _SD,
    "mcp_exporter_sd_last_success_timestamp_seconds": _SD,
    "mcp_exporter_sd_targets": _SD,
}

# An MCP server from the official SDK, served over https with a certificate of the test's CA.
TLS_SERVER = textwrap.dedent(
    """
    import sys

    import uvicorn
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    port, certfile, keyfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = MCPServer("e2e-tls-server", version="1.0.0")

    @server.tool()
    def echo(text: str) -> str:
        \"\"\"Return the text.\"\"\"
        return text

    app = server.streamable_http_app(
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning",
                ssl_certfile=certfile, ssl_keyfile=keyfile)
    """
)

T = TypeVar("T")


# --- processes and HTTP ------------------------------------------------------------------------


@dataclass
class Process:
    """A process this test started, with its output in a log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} (exit {self.proc.poll()}) ---\n" + "\n".join(text)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(
    what: str, check: Callable[[], T | None], processes: list[Process], timeout: float = DEADLINE
) -> T:
    """Poll until check() returns something truthy; fail with every process's log tail."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        for process in processes:
            if process.proc.poll() is not None:
                pytest.fail(f"{process.name} exited while waiting for {what}\n{process.tail()}")
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(0.25)
    logs = "\n".join(p.tail() for p in processes)
    pytest.fail(f"timed out waiting for {what} (last error: {last!r})\n{logs}")


@dataclass
class Webhook:
    """An HTTP receiver for Alertmanager's webhook notifications."""

    url: str
    notifications: list[dict[str, Any]] = field(default_factory=list)


def start_webhook() -> tuple[Webhook, ThreadingHTTPServer]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, **json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    return Webhook(f"http://127.0.0.1:{port}", received), server


# --- the rewritten examples --------------------------------------------------------------------


def prometheus_config(
    exporter: str,
    alertmanager: str,
    targets: dict[str, str],
    https_target: str,
    oauth_target: str,
    legacy_target: str,
    proxy: LiteLLMProxy,
    rules: Path,
) -> dict[str, Any]:
    """examples/prometheus.yml with free ports and one-second intervals; the https target joins
    the `mcp` job, the OAuth-protected server the discovery job and two jobs of its own with the
    client-credentials modules, the server without OAuth metadata a job with the discovery
    fallback, and the LiteLLM proxy the example's gateway jobs (two-second intervals). The
    relabeling is untouched apart from the exporter's address."""
    config: dict[str, Any] = yaml.safe_load((EXAMPLES / "prometheus.yml").read_text())
    interval = f"{SCRAPE_INTERVAL:g}s"
    config["global"] = {
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "evaluation_interval": interval,
    }
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    config["rule_files"] = [str(rules)]
    jobs = []
    for original in config["scrape_configs"]:
        job = copy.deepcopy(original)
        for static in job.get("static_configs", []):
            assert all(t in targets for t in static["targets"]), static["targets"]
            static["targets"] = [targets[t] for t in static["targets"]]
        for relabel in job.get("relabel_configs", []):
            if relabel.get("replacement") == EXAMPLE_EXPORTER:
                relabel["replacement"] = exporter
        jobs.append(job)
    by_name = {j["job_name"]: j for j in jobs}
    by_name["mcp_probe"]["static_configs"][0]["targets"].append(https_target)
    by_name["mcp_probe_discovery"]["static_configs"] = [{"targets": [oauth_target]}]
    extra_targets = {
        "mcp_probe_oauth": oauth_target,
        "mcp_probe_oauth_refused": oauth_target,
        "mcp_probe_discovery_legacy": legacy_target,
    }
    extra = []
    for name, module in EXTRA_JOBS.items():
        job = copy.deepcopy(by_name["mcp_probe"])
        job.update(
            job_name=name,
            params={"module": [module]},
            static_configs=[{"targets": [extra_targets[name]]}],
        )
        extra.append(job)
    gateway_targets = {
        "mcp_probe_gateway": proxy.mcp_url(),  # the aggregate /mcp
        "mcp_probe_completion": proxy.base_url,
    }
    litellm_interval = f"{LITELLM_SCRAPE_INTERVAL:g}s"
    for name, url in gateway_targets.items():
        by_name[name]["static_configs"] = [{"targets": [url]}]
        by_name[name].update(scrape_interval=litellm_interval, scrape_timeout=litellm_interval)
    config["scrape_configs"] = [*jobs, *extra]
    return config


def alertmanager_config(webhook: str) -> dict[str, Any]:
    """examples/alertmanager.yml with one-second grouping and every webhook sent to the test."""
    config: dict[str, Any] = yaml.safe_load((EXAMPLES / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = f"{webhook}/{receiver['name']}"
    return config


def exporter_config(
    authorization_server: AuthorizationServerPeer, proxy: LiteLLMProxy
) -> dict[str, Any]:
    """The built-in config, with http metadata URLs on loopback allowed for discovery (the peers
    serve http), modules that fetch a client-credentials token from the peer with the right and a
    wrong secret, discovery with the 2025-03-26 fallback, and the example's LiteLLM modules."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "exporter" / "default.yml").read_text())
    modules = config["modules"]
    discovery = modules["discovery"]["discovery"]
    discovery.setdefault("url_policy", {})["allow_http_loopback"] = True
    oauth2 = {
        "client_id": DEFAULT_CLIENT.client_id,
        "client_secret": DEFAULT_CLIENT.client_secret,
        "token_url": authorization_server.token_endpoint,
        "scopes": ["mcp:read"],
    }
    modules["mcp_oauth"] = {"prober": "mcp", "timeout": "10s", "mcp": {"oauth2": oauth2}}
    refused = {**oauth2, "client_secret": "not-the-secret-" + "x" * 16}
    modules["mcp_oauth_refused"] = {"prober": "mcp", "timeout": "10s", "mcp": {"oauth2": refused}}
    modules["discovery_legacy"] = copy.deepcopy(modules["discovery"])
    modules["discovery_legacy"]["discovery"]["default_endpoints_fallback"] = True
    key = {"env": GATEWAY_KEY_ENV}
    modules["litellm_gateway"] = {
        "prober": "mcp",
        "timeout": "10s",
        "mcp": {
            "transport": "streamable_http",
            "steps": ["tools_list"],
            "litellm": {
                "api_key": key,
                "servers": list(GATEWAY_SERVERS),
                "server_ids": {
                    server_id(proxy, name, auth_type): name
                    for name, auth_type in GATEWAY_SERVERS.items()
                },
            },
        },
    }
    modules["litellm_completion"] = {
        "prober": "litellm_completion",
        "timeout": "10s",
        "litellm_completion": {
            "model": proxy.custom_model,
            "server": "open",
            "tool": "echo",
            "arguments": {"text": "{nonce}"},
            "api_key": key,
        },
    }
    return config


def fast_rules() -> dict[str, Any]:
    """The shipped rules with every `for` shortened to one second."""
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    return rules


# --- the stack ---------------------------------------------------------------------------------


@dataclass
class Stack:
    prometheus: str
    alertmanager: str
    exporter: str
    healthy: str
    failing: str
    https: str
    oauth: str
    legacy: str
    gateway: str
    completion: str
    litellm: LiteLLMProxy
    webhook: Webhook
    processes: list[Process]
    started: float

    @property
    def targets(self) -> list[str]:
        """Every probed URL (the instance label of the probe jobs), sorted."""
        urls = [self.healthy, self.https, self.failing, self.oauth, self.legacy, self.gateway]
        return sorted({*urls, self.completion})

    def api(self, path: str, **params: str) -> Any:
        """A Prometheus HTTP API call and its `data`; queries are POSTed, as Grafana sends them."""
        url = f"{self.prometheus}/api/v1/{path}"
        encoded = urllib.parse.urlencode(params)
        if path in ("query", "query_range"):
            request = urllib.request.Request(url, data=encoded.encode())
        else:
            request = urllib.request.Request(f"{url}?{encoded}")
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer = json.load(resp)
        assert answer["status"] == "success", answer
        return answer["data"]

    def time_range(self) -> TimeRange:
        return TimeRange(start=self.started, end=time.time(), scrape_interval=SCRAPE_INTERVAL)

    def run(self, query: Query, expr: str, tr: TimeRange) -> list[Any]:
        """Run a panel's query as Grafana does: instant at the range's end, or over the range with
        $__interval as the step."""
        if query.instant:
            result: list[Any] = self.api("query", query=expr, time=f"{tr.end:.3f}")["result"]
        else:
            result = self.api(
                "query_range",
                query=expr,
                start=f"{tr.start:.3f}",
                end=f"{tr.end:.3f}",
                step=f"{tr.interval:g}",
            )["result"]
        return result

    def logs(self) -> str:
        litellm = self.litellm.log_text().splitlines()[-30:]
        return "\n".join([*(p.tail() for p in self.processes), "--- litellm ---", *litellm])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(f"none of {names} on PATH: run `make peers`")


def start(name: str, cmd: list[str], workdir: Path, **env: str) -> Process:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            cwd=workdir,
        )
    return Process(name, proc, log)


def warm_up(exporter: str, target: str, module: str, processes: list[Process]) -> None:
    """One probe through the exporter before Prometheus scrapes: LiteLLM's first answers are slow
    (it loads each upstream's tools), and the scrapes should see it warm and healthy."""
    query = urllib.parse.urlencode({"target": target, "module": module})
    status, body = http_get(f"http://{exporter}/probe?{query}", timeout=30)
    if status != 200 or b"\nprobe_success 1" not in body:
        logs = "\n".join(p.tail() for p in processes)
        pytest.fail(
            f"{module} probe of {target}: {status}\n{body.decode(errors='replace')}\n{logs}"
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, litellm_proxy: LiteLLMProxy) -> Iterator[Stack]:
    """The demo MCP server, an https MCP server, a closed port, an OAuth-protected MCP server with
    its authorization server, an MCP server without OAuth metadata and the LiteLLM proxy (the
    session's), the exporter, Alertmanager notifying the test's webhook, and Prometheus scraping
    it all."""
    work = tmp_path_factory.mktemp("e2e")
    ports = {name: free_port() for name in ("demo", "tls", "exporter", "prom", "am")}
    # A port bound but never listening: connections are refused, and no other process can take it.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    ports["closed"] = closed.getsockname()[1]
    exporter = f"127.0.0.1:{ports['exporter']}"
    demo_listen = f"127.0.0.1:{ports['demo']}"
    healthy = f"http://{demo_listen}/mcp"
    failing = f"http://127.0.0.1:{ports['closed']}/mcp"
    https = f"https://127.0.0.1:{ports['tls']}/mcp"

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    server_cert = ca.issue_cert("127.0.0.1")
    (work / "server.pem").write_bytes(b"".join(p.bytes() for p in server_cert.cert_chain_pems))
    server_cert.private_key_pem.write_to_path(str(work / "server.key"))

    authorization_server = start_authorization_server()
    oauth_server: OAuthMCPServerPeer | None = None
    webhook, webhook_server = start_webhook()
    rules = work / "rules.yml"
    rules.write_text(yaml.safe_dump(fast_rules()))
    targets = {EXAMPLE_EXPORTER: exporter, EXAMPLE_HEALTHY: healthy, EXAMPLE_FAILING: failing}
    am_config = work / "alertmanager.yml"
    am_config.write_text(yaml.safe_dump(alertmanager_config(webhook.url)))
    exporter_file = work / "exporter.yml"
    exporter_file.write_text(yaml.safe_dump(exporter_config(authorization_server, litellm_proxy)))
    # LiteLLM's `bearer` upstream answers 401 and publishes no OAuth metadata: a 2025-03-26 server.
    legacy = litellm_proxy.upstreams["bearer"].url

    bin_dir = Path(sys.executable).parent
    processes: list[Process] = []
    try:
        oauth_server = start_mcp_server(authorization_server.issuer)
        prom_config = work / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                prometheus_config(
                    exporter,
                    f"127.0.0.1:{ports['am']}",
                    targets,
                    https,
                    oauth_server.url,
                    legacy,
                    litellm_proxy,
                    rules,
                )
            )
        )
        processes.append(
            start(
                "demo-server",
                [str(bin_dir / "mcp-exporter"), "demo-server", "--listen", demo_listen],
                work,
            )
        )
        processes.append(
            start(
                "tls-server",
                [sys.executable, "-c", TLS_SERVER, str(ports["tls"]), "server.pem", "server.key"],
                work,
            )
        )
        # The exporter trusts the test CA the way an operator adds a private CA, through
        # OpenSSL's SSL_CERT_FILE.
        processes.append(
            start(
                "exporter",
                [
                    str(bin_dir / "mcp-exporter"),
                    f"--config.file={exporter_file}",
                    f"--web.listen-address={exporter}",
                ],
                work,
                SSL_CERT_FILE=str(work / "ca.pem"),
                **{GATEWAY_KEY_ENV: litellm_proxy.master_key},
            )
        )
        processes.append(
            start(
                "alertmanager",
                [
                    binary("alertmanager", "prometheus-alertmanager"),
                    f"--config.file={am_config}",
                    f"--storage.path={work / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{ports['am']}",
                    "--cluster.listen-address=",
                ],
                work,
            )
        )
        for url in (f"http://{exporter}/-/ready", f"http://127.0.0.1:{ports['am']}/-/ready"):
            wait_for(url, lambda: http_get(url)[0] == 200, processes)  # noqa: B023 - waited for here
        # The servers listen before the first scrape, so no probe of theirs ever fails.
        for port in (ports["demo"], ports["tls"]):
            wait_for(f"port {port}", lambda: listening(port), processes)  # noqa: B023 - waited for here
        warm_up(exporter, litellm_proxy.mcp_url(), "litellm_gateway", processes)
        warm_up(exporter, litellm_proxy.base_url, "litellm_completion", processes)
        started = time.time()
        processes.append(
            start(
                "prometheus",
                [
                    binary("prometheus"),
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={work / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{ports['prom']}",
                ],
                work,
            )
        )
        prometheus = f"http://127.0.0.1:{ports['prom']}"
        wait_for("prometheus", lambda: http_get(f"{prometheus}/-/ready")[0] == 200, processes)
        yield Stack(
            prometheus=prometheus,
            alertmanager=f"http://127.0.0.1:{ports['am']}",
            exporter=exporter,
            healthy=healthy,
            failing=failing,
            https=https,
            oauth=oauth_server.url,
            legacy=legacy,
            gateway=litellm_proxy.mcp_url(),
            completion=litellm_proxy.base_url,
            litellm=litellm_proxy,
            webhook=webhook,
            processes=processes,
            started=started,
        )
    finally:
        for process in reversed(processes):
            process.stop()
        if oauth_server is not None:
            oauth_server.stop()
        authorization_server.stop()
        webhook_server.shutdown()
        webhook_server.server_close()
        closed.close()


# --- the tests ---------------------------------------------------------------------------------


def samples(stack: Stack, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
    result = stack.api("query", query=expr)["result"]
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def test_probes_are_scraped_through_the_example_relabeling(stack: Stack) -> None:
    """Each target becomes ?target= on the exporter, stored with instance=<url> and the module."""
    jobs = sorted(["mcp_exporter", *PROBE_JOBS])

    def scraped() -> dict[tuple[tuple[str, str], ...], float] | None:
        up = samples(stack, "up")
        everything = sorted({dict(k)["job"] for k in up}) == jobs and len(up) == 11
        return up if everything else None

    up = wait_for("a scrape of every target", scraped, stack.processes)
    assert all(v == 1.0 for v in up.values()), up
    results = {
        dict(k)["instance"]: v
        for k, v in samples(stack, 'probe_success{job="mcp_probe", module="mcp"}').items()
    }
    assert results == {stack.healthy: 1.0, stack.https: 1.0, stack.failing: 0.0}, stack.logs()
    reason = samples(stack, f'probe_failure_info{{instance="{stack.failing}"}}')
    assert [dict(k)["reason"] for k in reason] == ["connect_refused"]
    discovery = samples(stack, 'probe_success{job="mcp_probe_discovery", module="discovery"}')
    assert {dict(k)["instance"]: v for k, v in discovery.items()} == {stack.oauth: 1.0}
    token = samples(stack, 'probe_oauth_step_success{job="mcp_probe_oauth", step="token"}')
    assert list(token.values()) == [1.0]


def test_the_gateway_and_auth_jobs_probe_what_their_panels_show(stack: Stack) -> None:
    """The gateway job reports `multiple` with a named resolution per upstream, the embedded call
    succeeds, the wrong secret is refused with invalid_client, and the server without metadata
    gets the 2025-03-26 default endpoints."""

    def found() -> dict[str, dict[tuple[tuple[str, str], ...], float]] | None:
        queries = {
            "success": 'probe_success{job=~"mcp_probe_gateway|mcp_probe_completion"}',
            "per_server": 'probe_litellm_server_auth_resolution{job="mcp_probe_gateway"}',
            "calls": 'probe_litellm_completion_tool_calls{job="mcp_probe_completion"}',
            "refused": 'probe_oauth_token_error_info{job="mcp_probe_oauth_refused"}',
            "legacy": 'probe_oauth_default_endpoints_assumed{job="mcp_probe_discovery_legacy"}',
        }
        results = {name: samples(stack, expr) for name, expr in queries.items()}
        return results if all(results.values()) else None

    results = wait_for("the gateway and auth probes", found, stack.processes)
    success = {dict(k)["instance"]: v for k, v in results["success"].items()}
    assert success == {stack.gateway: 1.0, stack.completion: 1.0}, stack.logs()
    resolutions = {dict(k)["server"]: dict(k)["resolution"] for k in results["per_server"]}
    assert resolutions == {
        "open": "no-auth",
        "bearer": "static-token",
        "m2m": "m2m-client-credentials",
    }
    assert list(results["calls"].values()) == [1.0]
    assert [dict(k)["error"] for k in results["refused"]] == ["invalid_client"]
    assert {dict(k)["instance"]: v for k, v in results["legacy"].items()} == {stack.legacy: 1.0}


def test_the_exporter_stores_the_probe_metrics_of_the_contract(stack: Stack) -> None:
    """Every metric name of the contract the boards are built on is stored under that name,
    apart from those that need a target this test does not run."""

    def missing() -> list[str]:
        names = set(stack.api("label/__name__/values"))
        return sorted(PROBE_METRICS - names - set(NEEDS_ANOTHER_TARGET))

    deadline = time.monotonic() + DEADLINE
    while (absent := missing()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert absent == [], stack.logs()


def test_every_rule_evaluates_without_error(stack: Stack) -> None:
    """Prometheus loads every shipped rule and evaluates each one healthily."""

    def evaluated() -> list[dict[str, Any]] | None:
        groups = stack.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        done = all(not g["lastEvaluation"].startswith("0001") for g in groups)
        return rules if done and all(r["health"] != "unknown" for r in rules) else None

    rules = wait_for("rule evaluation", evaluated, stack.processes)
    shipped = [r.get("alert", r.get("record")) for g in fast_rules()["groups"] for r in g["rules"]]
    assert sorted(r["name"] for r in rules) == sorted(shipped)
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert broken == {}, stack.logs()


def test_probe_failing_alert_reaches_the_webhook_through_alertmanager(stack: Stack) -> None:
    """MCPProbeFailing fires for the closed port and the refused token only, and Alertmanager
    delivers it to the critical route's webhook with the failure's hop, phase and reason in its
    description."""

    def delivered() -> dict[str, Any] | None:
        for notification in stack.webhook.notifications:
            for alert in notification["alerts"]:
                labels = alert["labels"]
                if labels["alertname"] == "MCPProbeFailing" and labels["job"] == "mcp_probe":
                    return {"path": notification["path"], **alert}
        return None

    alert = wait_for("the webhook notification", delivered, stack.processes)
    assert alert["path"] == "/mcp-oncall"
    assert alert["status"] == "firing"
    assert alert["labels"] == {
        "alertname": "MCPProbeFailing",
        "instance": stack.failing,
        "job": "mcp_probe",
        "module": "mcp",
        "severity": "critical",
    }
    description = alert["annotations"]["description"]
    assert "at hop client_to_upstream, phase connect, reason connect_refused" in description
    assert alert["annotations"]["dashboard_url"].startswith(
        "http://localhost:3000/d/mcp-exporter-target?var-job=mcp_probe&var-target=http%3A%2F%2F"
    )
    firing = samples(stack, 'ALERTS{alertstate="firing", alertname="MCPProbeFailing"}')
    assert sorted((dict(k)["job"], dict(k)["instance"]) for k in firing) == [
        ("mcp_probe", stack.failing),
        ("mcp_probe_oauth_refused", stack.oauth),
    ]
    status, body = http_get(f"{stack.alertmanager}/api/v2/alerts")
    assert status == 200
    in_am = [a["labels"]["instance"] for a in json.loads(body)]
    assert stack.failing in in_am
    for healthy in (stack.healthy, stack.https, stack.legacy, stack.gateway, stack.completion):
        assert healthy not in in_am


def test_token_refusal_alert_names_the_oauth_error(stack: Stack) -> None:
    """The wrong secret's MCPOAuthTokenFetchFailing reaches the webhook with the authorization
    server's error code, read from probe_oauth_token_error_info."""

    def delivered() -> dict[str, Any] | None:
        for notification in stack.webhook.notifications:
            for alert in notification["alerts"]:
                if alert["labels"]["alertname"] == "MCPOAuthTokenFetchFailing":
                    return {"path": notification["path"], **alert}
        return None

    alert = wait_for("the token alert's notification", delivered, stack.processes)
    assert alert["path"] == "/mcp-oncall"
    assert alert["labels"]["job"] == "mcp_probe_oauth_refused"
    assert alert["labels"]["instance"] == stack.oauth
    description = alert["annotations"]["description"]
    assert "fails (the authorization server answered invalid_client), so" in description


def label_values(stack: Stack, definition: str, tr: TimeRange) -> list[str]:
    """Grafana's label_values(selector, label) variable query, through the series API."""
    assert definition.startswith("label_values("), definition
    assert definition.endswith(")"), definition
    selector, label = definition[len("label_values(") : -1].rsplit(",", 1)
    values: list[str] = stack.api(
        f"label/{label.strip()}/values",
        **{"match[]": selector.strip(), "start": f"{tr.start:.3f}", "end": f"{tr.end:.3f}"},
    )
    return sorted(values)


class NoValues(Exception):
    """A variable's query found nothing (yet)."""


def resolve(
    stack: Stack, board: dict[str, Any], tr: TimeRange, pick: dict[str, list[str]]
) -> dict[str, str]:
    """Every variable of a board as Grafana substitutes it: query variables take the values the
    datasource offers (or those in `pick`), escaped per their multi/include-all settings."""
    values = tr.builtins()
    values["datasource"] = "prometheus"
    for name, variable in variables(board).items():
        if variable["type"] != "query":
            continue
        offered = label_values(stack, interpolate(variable["query"], values), tr)
        if not offered:
            raise NoValues(f"${name} of {board['uid']} offers no value yet")
        selected = pick.get(name, offered)
        if not set(selected) <= set(offered):
            raise NoValues(f"${name} of {board['uid']} does not offer {selected} yet")
        values[name] = grafana_variable_value(variable, selected)
    return values


def needs_another_target(query: Query) -> str | None:
    """Why this query cannot return data here, or None when it must."""
    reasons = {NEEDS_ANOTHER_TARGET.get(m) for m in promql_metric_names(query.expr)}
    return "; ".join(sorted(r for r in reasons if r)) or None


def test_the_boards_offer_the_probed_jobs_targets_and_exporter(stack: Stack) -> None:
    """The job, target and instance variables list what Prometheus scraped."""
    board = load_board("mcp-overview.json")
    defs = {name: v["query"] for name, v in variables(board).items() if v["type"] == "query"}
    wait_for(
        "every probe job",
        lambda: label_values(stack, defs["job"], stack.time_range()) == PROBE_JOBS,
        stack.processes,
    )
    tr = stack.time_range()
    everything = interpolate(defs["target"], {"job": "(" + "|".join(PROBE_JOBS) + ")"})
    assert label_values(stack, everything, tr) == stack.targets
    assert label_values(stack, defs["instance"], tr) == [stack.exporter]


@pytest.mark.parametrize("board_file", sorted(BOARDS))
def test_every_panel_query_returns_data(stack: Stack, board_file: str) -> None:
    """Every query of every panel returns data with its variables substituted as Grafana does:
    with every target selected (multi-value boards) and with each target alone; the queries listed
    in NEEDS_ANOTHER_TARGET return nothing instead."""
    board = load_board(board_file)
    target = variables(board)["target"]
    multi = target["multi"] or target["includeAll"]

    def problems() -> list[str]:
        try:
            return queries_without_expected_data()
        except NoValues as exc:
            return [str(exc)]

    def queries_without_expected_data() -> list[str]:
        tr = stack.time_range()
        found = []
        if multi:
            values = resolve(stack, board, tr, {})
            for query in queries(board_file):
                data = bool(stack.run(query, interpolate(query.expr, values), tr))
                if data and needs_another_target(query):
                    found.append(f"{query.name}: data, yet listed as needing another target")
                elif not data and not needs_another_target(query):
                    found.append(f"{query.name}: no data with every target selected")
        answered: set[str] = set()
        for url in stack.targets:
            values = resolve(stack, board, tr, {"target": [url]})
            for query in queries(board_file):
                if stack.run(query, interpolate(query.expr, values), tr):
                    answered.add(query.name)
        found += [
            f"{q.name}: no data for any target alone"
            for q in queries(board_file)
            if q.name not in answered and not needs_another_target(q)
        ]
        return found

    deadline = time.monotonic() + DEADLINE
    while (found := problems()) and time.monotonic() < deadline:
        time.sleep(1)
    assert found == [], "\n".join(found) + "\n" + stack.logs()
