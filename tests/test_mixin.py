"""The monitoring mixin (grafana/mixin/): the committed boards and rules are exactly its output, and
a user's own selectors, labels and cluster setting give boards and alerts that still work."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.test_dashboards import (
    BOARDS,
    KNOWN_METRICS,
    TimeRange,
    grafana_variable_value,
    interpolate,
    promql_metric_names,
    variable_references,
)

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "grafana" / "mixin" / "build.py"

# What a kube-prometheus user with a multi-cluster Prometheus might set.
CUSTOM = {
    "probeSelector": 'job="probe/monitoring/mcp-servers"',
    "exporterSelector": 'job="monitoring/mcp-exporter"',
    "targetLabel": "target",
    "moduleLabel": "probe_module",
    "showMultiCluster": True,
    "clusterLabel": "k8s_cluster",
    "grafanaURL": "https://grafana.example.org",
    "runbookURL": "https://wiki.example.org/mcp",
    "severities": {"page": "P1", "ticket": "P3", "info": "P5"},
    "sloObjective": 0.99,
    "sloRulesInterval": "1m",
}


def _build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mixin_build", BUILD)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _build()


def test_committed_files_are_the_mixins_output() -> None:
    """Regenerating with the default config changes no committed board, rules file or manifest."""
    files = build.render()
    assert {p.parent for p in files} == {
        Path("grafana/dashboards"),
        Path("grafana/rules"),
        Path("deploy/prometheus-operator"),
    }
    assert sorted(p.name for p in files if p.suffix == ".json") == sorted(BOARDS)
    stale = [str(p) for p, text in files.items() if (ROOT / p).read_text(encoding="utf-8") != text]
    assert stale == [], "run: python grafana/mixin/build.py"


def test_check_mode_fails_on_a_hand_edit(tmp_path: Path) -> None:
    """build.py --check exits 1 and names the file when a generated file was edited by hand."""
    for path, text in build.render().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    check = [sys.executable, str(BUILD), "--check", "--out", str(tmp_path)]
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
    edited = tmp_path / "grafana/rules/mcp-exporter.rules.yml"
    edited.write_text(edited.read_text().replace("for: 2m", "for: 1m", 1), encoding="utf-8")
    result = subprocess.run(check, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "grafana/rules/mcp-exporter.rules.yml differs" in result.stderr


@pytest.fixture(scope="module")
def custom() -> dict[Path, str]:
    return dict(build.render(CUSTOM))


def _rules(files: dict[Path, str]) -> list[dict[str, Any]]:
    doc = yaml.safe_load(files[Path("grafana/rules/mcp-exporter.rules.yml")])
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_custom_rules_pass_promtool_and_use_the_selectors(
    custom: dict[Path, str], tmp_path: Path
) -> None:
    """With a user's config, promtool accepts the rules; every probe series is read through the
    probe selector, the exporter's through the exporter selector, and nothing of the defaults
    (job names, label names, URLs, severities) is left."""
    path = tmp_path / "rules.yml"
    path.write_text(custom[Path("grafana/rules/mcp-exporter.rules.yml")], encoding="utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = yaml.safe_dump(_rules(custom))
    for default in ("mcp_probe", 'job="mcp_exporter"', "localhost:3000", "severity: critical"):
        assert default not in text, default
    for rule in _rules(custom):
        for match in re.finditer(
            r"(?<![\w:])((?:probe|mcp_exporter)_\w+|up)(\{[^}]*\})?", rule["expr"]
        ):
            exporter = match.group(1).startswith("mcp_exporter")
            wanted = CUSTOM["exporterSelector"] if exporter else CUSTOM["probeSelector"]
            if match.group(1) == "up":
                assert match.group(2) in (
                    f"{{{CUSTOM['exporterSelector']}}}",
                    f"{{{CUSTOM['probeSelector']}}}",
                )
            else:
                assert match.group(2), (rule.get("alert"), match.group(0))
                assert wanted in match.group(2), (rule.get("alert"), match.group(0))
        if "alert" not in rule:
            continue
        assert (
            rule["labels"]["severity"] in {"P1", "P3", "P5"} or "{{" in rule["labels"]["severity"]
        )
        annotations = rule["annotations"]
        assert annotations["runbook_url"] == f"https://wiki.example.org/mcp#{rule['alert'].lower()}"
        assert annotations["dashboard_url"].startswith("https://grafana.example.org/d/")
        assert "var-cluster={{ $labels.k8s_cluster }}" in annotations["dashboard_url"]
    groups = yaml.safe_load(custom[Path("grafana/rules/mcp-exporter.rules.yml")])["groups"]
    assert [g.get("interval") for g in groups if g["name"] == "mcp-exporter.slo.rules"] == ["1m"]
    burn = [r for r in _rules(custom) if r.get("alert") == "MCPProbeErrorBudgetBurn"]
    assert all("(1 - 0.99)" in r["expr"] for r in burn)


def test_custom_alert_renders_the_users_labels(custom: dict[Path, str], tmp_path: Path) -> None:
    """promtool: MCPProbeFailing for a series labelled the user's way fires with the user's
    severity, finds the failure's hop through the cluster and target labels, and links the
    cluster's board."""
    (tmp_path / "rules.yml").write_text(
        custom[Path("grafana/rules/mcp-exporter.rules.yml")], encoding="utf-8"
    )
    labels = 'job="probe/monitoring/mcp-servers",k8s_cluster="eu1",target="http://a.example/mcp"'
    other = 'job="probe/monitoring/mcp-servers",k8s_cluster="us1",target="http://a.example/mcp"'
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"probe_success{{{labels}}}", "values": "0x5"},
                    {
                        "series": f'probe_failure_info{{{labels},hop="client_to_upstream",'
                        'phase="connect",reason="connect_refused"}',
                        "values": "1x5",
                    },
                    {"series": f"probe_success{{{other}}}", "values": "1x5"},
                    {
                        "series": f'probe_failure_info{{{other},hop="exporter",'
                        'phase="policy",reason="target_not_allowed"}',
                        "values": "1x5",
                    },
                    {"series": 'probe_success{job="mcp_probe",instance="x"}', "values": "0x5"},
                ],
                "alert_rule_test": [{"eval_time": "3m", "alertname": "MCPProbeFailing"}],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test), encoding="utf-8")
    result = subprocess.run(
        ["promtool", "test", "rules", str(tmp_path / "test.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    # No expectation was given: promtool prints what fired, which is what is checked here.
    got = result.stdout + result.stderr
    fired = got.split("got:[", 1)[1]
    assert fired.count("Labels:{") == 1, got
    assert 'k8s_cluster="eu1"' in fired
    assert 'severity="P1"' in fired
    assert "at hop client_to_upstream, phase connect, reason connect_refused" in fired
    assert "MCP probe of http://a.example/mcp is failing" in fired
    assert "var-cluster=eu1" in fired


def test_custom_boards_have_the_cluster_variable_and_use_it_everywhere(
    custom: dict[Path, str], tmp_path: Path
) -> None:
    """With multi-cluster on, every board has a cluster variable, every query selects the
    cluster, the target label and the selectors of the config, and promtool parses every query
    after Grafana's substitution."""
    rules: list[dict[str, str]] = []
    for name in BOARDS:
        board = json.loads(custom[Path("grafana/dashboards") / name])
        variables = {v["name"]: v for v in board["templating"]["list"]}
        cluster = variables["cluster"]
        assert cluster["query"] == (
            'label_values(probe_success{job="probe/monitoring/mcp-servers"}, k8s_cluster)'
        )
        assert not cluster["multi"]
        assert variables["job"]["query"] == (
            'label_values(probe_success{k8s_cluster="$cluster", '
            'job="probe/monitoring/mcp-servers"}, job)'
        )
        assert variables["target"]["query"].endswith(", target)")
        substitutions = TimeRange(0, 6 * 3600, 15).builtins()
        for var in variables.values():
            substitutions[var["name"]] = grafana_variable_value(var, ["v"])
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                assert 'k8s_cluster="$cluster"' in expr, expr
                assert "instance=" not in expr.replace('instance=~"$instance"', ""), expr
                assert promql_metric_names(expr) <= KNOWN_METRICS
                assert variable_references(expr) - set(substitutions) == set()
                rules.append(
                    {"record": f"check:{len(rules)}", "expr": interpolate(expr, substitutions)}
                )
                names = promql_metric_names(expr)
                if all(n.startswith("probe_") for n in names):
                    # The probe series' labels are the user's ...
                    assert "{{instance}}" not in target.get("legendFormat", ""), expr
                    assert CUSTOM["exporterSelector"] not in expr
                else:
                    # ... the exporter's own series keep the exporter's labels.
                    assert all(n.startswith("mcp_exporter_") for n in names), expr
                    assert CUSTOM["exporterSelector"] in expr
                    assert "probe_module" not in expr
                    assert "{{target}}" not in target.get("legendFormat", "")
        text = json.dumps(board)
        for link in re.findall(r'"url": "(/d/[^"]*)"', text):
            assert "var-cluster=${cluster}" in link, link
            assert "${__field.labels.target:percentencode}" in link, link
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_operator_rule_has_the_same_groups(custom: dict[Path, str]) -> None:
    """The PrometheusRule carries exactly the rules file's groups, with the custom config too."""
    rules = yaml.safe_load(custom[Path("grafana/rules/mcp-exporter.rules.yml")])
    manifest = yaml.safe_load(custom[Path("deploy/prometheus-operator/prometheusrule.yaml")])
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["spec"]["groups"] == rules["groups"]
