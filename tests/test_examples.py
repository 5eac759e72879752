"""The shipped examples: Prometheus and Alertmanager accept them, the probe jobs use the blackbox
relabeling, and the compose demo stack wires the same files together (read, since no Docker engine
runs here)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tests.test_alert_rules import ALERTS, alert_rules
from tests.test_dashboards import BOARDS, PROVISIONING

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PROMETHEUS = EXAMPLES / "prometheus.yml"
ALERTMANAGER = EXAMPLES / "alertmanager.yml"
COMPOSE = EXAMPLES / "compose.yml"
EXPORTER_ADDRESS = "127.0.0.1:9675"

# The blackbox relabeling every probe job carries.
PROBE_RELABELING = [
    {"source_labels": ["__address__"], "target_label": "__param_target"},
    {"source_labels": ["__param_target"], "target_label": "instance"},
    {"source_labels": ["__param_module"], "target_label": "module"},
    {"target_label": "__address__", "replacement": EXPORTER_ADDRESS},
]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def jobs() -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in load(PROMETHEUS)["scrape_configs"]}


def probe_jobs() -> dict[str, dict[str, Any]]:
    return {name: job for name, job in jobs().items() if job.get("metrics_path") == "/probe"}


def targets(job: dict[str, Any]) -> list[str]:
    return [t for sc in job.get("static_configs", []) for t in sc.get("targets") or []]


def duration(text: str) -> float:
    """A Prometheus duration such as 15s, 1m30s, 500ms, in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    assert "".join(n + u for n, u in parts) == text, text
    return sum(float(n) * units[u] for n, u in parts)


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)


def test_promtool_check_config_accepts_the_prometheus_example() -> None:
    """`promtool check config` accepts the example, rule files included."""
    result = run("promtool", "check", "config", str(PROMETHEUS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_amtool_check_config_accepts_the_alertmanager_example() -> None:
    """`amtool check-config` accepts the Alertmanager example."""
    result = run("amtool", "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_probe_jobs_use_the_param_target_relabeling_for_several_modules() -> None:
    """Each probe job sends its targets as ?target= to the exporter, one module per job."""
    probes = probe_jobs()
    modules = {name: job["params"]["module"] for name, job in probes.items()}
    assert all(len(m) == 1 for m in modules.values()), modules
    assert {"mcp", "discovery"} <= {m[0] for m in modules.values()}
    for name, job in probes.items():
        assert name.startswith("mcp_probe"), "the alert rules select probe jobs by mcp_probe*"
        assert job["relabel_configs"] == PROBE_RELABELING, name


def test_the_exporter_job_scrapes_its_own_metrics() -> None:
    """The job mcp_exporter scrapes /metrics of the same exporter the probes go to."""
    job = jobs()["mcp_exporter"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert targets(job) == [EXPORTER_ADDRESS]


def test_probed_modules_are_built_in_and_fit_the_scrape_timeout() -> None:
    """Jobs with targets use modules of the built-in config, whose timeouts fit the scrape's."""
    builtin = load(ROOT / "exporter" / "default.yml")["modules"]
    config = load(PROMETHEUS)
    scrape_timeout = duration(config["global"]["scrape_timeout"])
    for name, job in probe_jobs().items():
        if not targets(job):
            continue
        (module,) = job["params"]["module"]
        assert module in builtin, f"{name} uses module {module}"
        # The exporter's deadline is the scrape timeout minus 0.5s, capped by the module's.
        assert duration(builtin[module]["timeout"]) <= scrape_timeout - 0.5, module


def test_gateway_jobs_name_the_modules_of_the_example_config() -> None:
    """Jobs whose module is not built in (the LiteLLM ones) name a module of config/example.yml
    with that prober, and ship without targets: the exporter needs that config file first."""
    builtin = load(ROOT / "exporter" / "default.yml")["modules"]
    documented = load(ROOT / "config" / "example.yml")["modules"]
    probers = {"mcp_probe_gateway": "mcp", "mcp_probe_completion": "litellm_completion"}
    for name, prober in probers.items():
        (module,) = probe_jobs()[name]["params"]["module"]
        assert module not in builtin, name
        assert documented[module]["prober"] == prober, name
        assert targets(probe_jobs()[name]) == [], name
    gateway = documented[probe_jobs()["mcp_probe_gateway"]["params"]["module"][0]]
    assert "litellm" in gateway["mcp"]


def test_the_demo_targets_are_the_demo_server_and_a_closed_port() -> None:
    """The mcp job probes the demo server and a port nothing listens on (the failing example)."""
    assert targets(jobs()["mcp_probe"]) == [
        "http://127.0.0.1:9676/mcp",
        "http://127.0.0.1:9677/mcp",
    ]


def test_grafana_rate_interval_matches_the_scrape_interval() -> None:
    """Grafana's timeInterval equals the scrape interval, so $__rate_interval covers 4 scrapes."""
    config = load(PROMETHEUS)
    datasources = load(PROVISIONING / "datasources" / "prometheus.yml")["datasources"]
    (prom,) = datasources
    interval = config["global"]["scrape_interval"]
    assert prom["jsonData"]["timeInterval"] == interval
    for job in jobs().values():
        assert job.get("scrape_interval", interval) == interval, job["job_name"]


def test_prometheus_loads_the_shipped_rules_and_alerts_alertmanager() -> None:
    """The rule file is the one in grafana/rules and alerts go to the example Alertmanager."""
    config = load(PROMETHEUS)
    rule_files = [(PROMETHEUS.parent / f).resolve() for f in config["rule_files"]]
    assert rule_files == [ROOT / "grafana" / "rules" / "mcp-exporter.rules.yml"]
    (am,) = config["alerting"]["alertmanagers"]
    assert am["static_configs"] == [{"targets": ["127.0.0.1:9093"]}]


def test_job_selectors_of_the_rules_match_the_example_jobs() -> None:
    """Every job matcher in an alert expression selects at least one job of the example."""
    names = list(jobs())
    for rule in alert_rules():
        for op, value in re.findall(r'job\s*(=~|=)\s*"([^"]*)"', rule["expr"]):
            if op == "=":
                assert value in names, rule["alert"]
            else:
                assert any(re.fullmatch(value, n) for n in names), rule["alert"]


def test_alertmanager_routes_and_inhibitions_name_real_alerts() -> None:
    """Matchers on alertname refer to alerts of the rule file; every receiver is a webhook."""
    config = load(ALERTMANAGER)
    assert {"alertname", "instance"} <= set(config["route"]["group_by"])
    matchers = [
        m for r in config["inhibit_rules"] for m in r["source_matchers"] + r["target_matchers"]
    ]
    matchers += [m for r in config["route"].get("routes", []) for m in r["matchers"]]
    for matcher in matchers:
        match = re.fullmatch(r'(\w+)\s*(?:=~|!~|!=|=)\s*"(.*)"', matcher)
        assert match, matcher
        name, value = match.groups()
        if name == "alertname":
            for alert in value.split("|"):
                assert alert in ALERTS, matcher
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    for receiver in receivers.values():
        assert receiver["webhook_configs"], receiver["name"]


# --- compose ---------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = load(COMPOSE)
    return doc


def mounts(service: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """Bind mounts of a service as (host path, container path); named volumes left out."""
    out = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out.append(((EXAMPLES / source).resolve(), PurePosixPath(target)))
    return out


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """The host file a container path of the service comes from."""
    path = PurePosixPath(container_path)
    for source, target in mounts(service):
        if path == target or target in path.parents:
            return source / path.relative_to(target)
    raise AssertionError(f"{container_path} is not mounted")


def flag(service: dict[str, Any], name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in service["command"] if a.startswith(f"--{name}=")]
    return str(value)


def test_compose_runs_the_whole_demo_stack() -> None:
    """Exporter (from the repo's Dockerfile), demo server, Prometheus, Alertmanager, Grafana."""
    services = compose()["services"]
    assert set(services) == {"exporter", "demo-server", "prometheus", "alertmanager", "grafana"}
    exporter = services["exporter"]
    dockerfile = EXAMPLES / exporter["build"]["context"] / exporter["build"]["dockerfile"]
    assert dockerfile.is_file()
    # The production image has no demo extra: the demo server needs the Dockerfile's demo stage.
    assert exporter["build"]["target"] == "demo"
    assert re.search(r"^FROM \S+ AS demo$", dockerfile.read_text(), re.MULTILINE)
    assert services["demo-server"]["image"] == exporter["image"]
    assert services["demo-server"]["command"][0] == "demo-server"
    for name, service in services.items():
        image = service["image"]
        if name not in ("exporter", "demo-server"):
            assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name} image is pinned"


def test_compose_services_share_the_exporters_network_namespace() -> None:
    """All services reach each other on 127.0.0.1, so the examples run unchanged; the ports
    are published on the exporter's service, on the host's loopback only."""
    services = compose()["services"]
    for name, service in services.items():
        if name != "exporter":
            assert service["network_mode"] == "service:exporter", name
            assert "ports" not in service, name
    published = {p.split(":")[1] for p in services["exporter"]["ports"]}
    assert published == {"9675", "9090", "9093", "3000"}
    assert all(p.startswith("127.0.0.1:") for p in services["exporter"]["ports"])
    demo_listen = services["demo-server"]["command"][-1]
    assert f"http://{demo_listen}/mcp" in targets(jobs()["mcp_probe"])
    assert flag(services["prometheus"], "web.listen-address") == ":9090"
    assert flag(services["alertmanager"], "web.listen-address") == ":9093"
    assert flag(services["alertmanager"], "cluster.listen-address") == ""
    datasource = load(PROVISIONING / "datasources" / "prometheus.yml")["datasources"][0]
    assert datasource["url"] == "http://127.0.0.1:9090"


def test_compose_prometheus_uses_the_example_and_the_rules() -> None:
    """Prometheus reads examples/prometheus.yml; its relative rule path resolves to the rules."""
    prometheus = compose()["services"]["prometheus"]
    config_path = flag(prometheus, "config.file")
    assert host_path(prometheus, config_path) == PROMETHEUS
    for rule_file in load(PROMETHEUS)["rule_files"]:
        in_container = PurePosixPath(config_path).parent / rule_file
        resolved = PurePosixPath(*_normalize(in_container.parts))
        assert host_path(prometheus, str(resolved)).is_file(), rule_file


def _normalize(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part == "..":
            out.pop()
        else:
            out.append(part)
    return out


def test_compose_alertmanager_uses_the_example() -> None:
    """Alertmanager reads examples/alertmanager.yml."""
    alertmanager = compose()["services"]["alertmanager"]
    assert host_path(alertmanager, flag(alertmanager, "config.file")) == ALERTMANAGER


def test_compose_grafana_is_provisioned_with_the_boards() -> None:
    """Grafana gets the provisioning files, and the provider's path holds the three boards."""
    grafana = compose()["services"]["grafana"]
    assert host_path(grafana, "/etc/grafana/provisioning") == PROVISIONING
    provider = load(PROVISIONING / "dashboards" / "mcp-exporter.yml")["providers"][0]
    board_dir = host_path(grafana, provider["options"]["path"])
    assert sorted(p.name for p in board_dir.glob("*.json")) == sorted(BOARDS)
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path(grafana, home).is_file()
