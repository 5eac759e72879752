"""End to end: a real Prometheus scrapes the real exporter through examples/prometheus.yml's
relabeling, probing a healthy MCP server over http and over https, a closed port, and an
OAuth-protected MCP server (authorization discovery, and MCP with a client-credentials token from a
real authorization server); the boards' queries return data, the shipped rules evaluate, and the
probe-failing alert travels through a real Alertmanager to a webhook this test runs.

Only what a short test must change is rewritten: addresses become free ports on 127.0.0.1,
intervals become one second, every rule's `for` becomes one second, and the exporter's built-in
config lets the discovery module follow http metadata URLs on loopback and gains a module with the
test client's credentials.
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

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
RULES = ROOT / "grafana" / "rules" / "mcp-exporter.rules.yml"
EXAMPLE_EXPORTER = "127.0.0.1:9675"
EXAMPLE_HEALTHY = "http://127.0.0.1:9676/mcp"
EXAMPLE_FAILING = "http://127.0.0.1:9677/mcp"
SCRAPE_INTERVAL = 1.0
DEADLINE = 45.0

pytestmark = pytest.mark.timeout(110)

# Metrics these probes cannot produce: their panels must show nothing here (so this list stays
# true), and are proven by the lint in test_dashboards.py only.
NEEDS_ANOTHER_TARGET = dict.fromkeys(
    [
        "probe_litellm_auth_resolution",
        "probe_litellm_server_auth_type_info",
        "probe_litellm_oauth2_token_state",
        "probe_litellm_issue",
        "probe_litellm_upstream_status",
        "probe_litellm_upstream_tools",
    ],
    "needs a gateway target: a LiteLLM proxy probed by a module with the litellm options",
)

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

        def log_message(self, format: str, *args: Any) -> None:
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
    rules: Path,
) -> dict[str, Any]:
    """examples/prometheus.yml with free ports and one-second intervals; the https target joins
    the `mcp` job, the OAuth-protected server the discovery job and a job of its own with the
    client-credentials module. The relabeling is untouched apart from the exporter's address."""
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
    oauth_job = copy.deepcopy(by_name["mcp_probe"])
    oauth_job.update(
        job_name="mcp_probe_oauth",
        params={"module": ["mcp_oauth"]},
        static_configs=[{"targets": [oauth_target]}],
    )
    config["scrape_configs"] = [*jobs, oauth_job]
    return config


def alertmanager_config(webhook: str) -> dict[str, Any]:
    """examples/alertmanager.yml with one-second grouping and every webhook sent to the test."""
    config: dict[str, Any] = yaml.safe_load((EXAMPLES / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = f"{webhook}/{receiver['name']}"
    return config


def exporter_config(authorization_server: AuthorizationServerPeer) -> dict[str, Any]:
    """The built-in config, with http metadata URLs on loopback allowed for discovery (the peers
    serve http) and a module that fetches a client-credentials token from the peer."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "exporter" / "default.yml").read_text())
    discovery = config["modules"]["discovery"]["discovery"]
    discovery.setdefault("url_policy", {})["allow_http_loopback"] = True
    config["modules"]["mcp_oauth"] = {
        "prober": "mcp",
        "timeout": "10s",
        "mcp": {
            "oauth2": {
                "client_id": DEFAULT_CLIENT.client_id,
                "client_secret": DEFAULT_CLIENT.client_secret,
                "token_url": authorization_server.token_endpoint,
                "scopes": ["mcp:read"],
            }
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
    webhook: Webhook
    processes: list[Process]
    started: float

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
        return "\n".join(p.tail() for p in self.processes)


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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The demo MCP server, an https MCP server, a closed port, an OAuth-protected MCP server with
    its authorization server, the exporter, Alertmanager notifying the test's webhook, and
    Prometheus scraping it all."""
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
    exporter_file.write_text(yaml.safe_dump(exporter_config(authorization_server)))

    bin_dir = Path(sys.executable).parent
    processes: list[Process] = []
    try:
        oauth_server = start_mcp_server(authorization_server.issuer)
        prom_config = work / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                prometheus_config(
                    exporter, f"127.0.0.1:{ports['am']}", targets, https, oauth_server.url, rules
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
            wait_for(url, lambda url=url: http_get(url)[0] == 200, processes)
        # The servers listen before the first scrape, so no probe of theirs ever fails.
        for port in (ports["demo"], ports["tls"]):
            wait_for(f"port {port}", lambda port=port: listening(port), processes)
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
    jobs = ["mcp_exporter", "mcp_probe", "mcp_probe_discovery", "mcp_probe_full", "mcp_probe_oauth"]

    def scraped() -> dict[tuple[tuple[str, str], ...], float] | None:
        up = samples(stack, "up")
        everything = sorted({dict(k)["job"] for k in up}) == jobs and len(up) == 7
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
    shipped = [r["alert"] for g in fast_rules()["groups"] for r in g["rules"]]
    assert sorted(r["name"] for r in rules) == sorted(shipped)
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert broken == {}, stack.logs()


def test_probe_failing_alert_reaches_the_webhook_through_alertmanager(stack: Stack) -> None:
    """MCPProbeFailing fires for the closed port only, and Alertmanager delivers it to the
    critical route's webhook with the failure's hop, phase and reason in its description."""

    def delivered() -> dict[str, Any] | None:
        for notification in stack.webhook.notifications:
            for alert in notification["alerts"]:
                if alert["labels"]["alertname"] == "MCPProbeFailing":
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
    assert [dict(k)["instance"] for k in firing] == [stack.failing]
    status, body = http_get(f"{stack.alertmanager}/api/v2/alerts")
    assert status == 200
    in_am = [a["labels"]["instance"] for a in json.loads(body)]
    assert stack.failing in in_am
    assert stack.healthy not in in_am


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
    jobs = ["mcp_probe", "mcp_probe_discovery", "mcp_probe_full", "mcp_probe_oauth"]
    board = load_board("mcp-overview.json")
    defs = {name: v["query"] for name, v in variables(board).items() if v["type"] == "query"}
    wait_for(
        "every probe job",
        lambda: label_values(stack, defs["job"], stack.time_range()) == jobs,
        stack.processes,
    )
    tr = stack.time_range()
    everything = interpolate(defs["target"], {"job": "(" + "|".join(jobs) + ")"})
    assert label_values(stack, everything, tr) == sorted(
        [stack.healthy, stack.https, stack.failing, stack.oauth]
    )
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
        for url in (stack.healthy, stack.https, stack.failing, stack.oauth):
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
