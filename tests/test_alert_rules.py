"""The shipped Prometheus alert rules: valid, unit-tested by promtool for every alert firing and not
firing, annotated with what to check, and linked to the right board."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.test_dashboards import BOARDS, KNOWN_METRICS, load_board, promql_metric_names, variables

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "grafana" / "rules" / "mcp-exporter.rules.yml"
RULE_TESTS = ROOT / "grafana" / "rules" / "mcp-exporter.rules.test.yml"

# Every alert the product promises, and the board its dashboard_url opens.
ALERTS = {
    "MCPProbeFailing": "mcp-exporter-target",
    "MCPProbeScrapeFailing": "mcp-exporter-overview",
    "MCPProbePhaseSlow": "mcp-exporter-target",
    "MCPToolListChanged": "mcp-exporter-target",
    "MCPToolListGrew": "mcp-exporter-target",
    "MCPToolSchemaInvalid": "mcp-exporter-target",
    "MCPSpecDeviation": "mcp-exporter-target",
    "MCPProtocolVersionBelowFloor": "mcp-exporter-target",
    "MCPCertificateExpiringSoon": "mcp-exporter-overview",
    "MCPGatewayAuthMisconfigured": "mcp-exporter-gateway-auth",
    "MCPUpstreamHopDown": "mcp-exporter-gateway-auth",
    "MCPGatewayUpstreamNotOk": "mcp-exporter-gateway-auth",
    "MCPGatewayServerUnhealthy": "mcp-exporter-gateway-auth",
    "MCPOAuthDiscoveryBroken": "mcp-exporter-gateway-auth",
    "MCPOAuthTokenFetchFailing": "mcp-exporter-gateway-auth",
    "MCPOAuthPKCEUnsupported": "mcp-exporter-gateway-auth",
    "MCPOAuthRegistrationMissing": "mcp-exporter-gateway-auth",
    "MCPExporterConfigReloadFailed": "mcp-exporter-overview",
    "MCPServiceDiscoveryFailing": "mcp-exporter-overview",
    "MCPExporterDown": "mcp-exporter-overview",
    "MCPExporterNotScraped": "mcp-exporter-overview",
}
SEVERITIES = {"critical", "warning", "info"}


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of the shipped file."""
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)


def test_promtool_check_rules_accepts_the_rules() -> None:
    """`promtool check rules` finds the file valid and every rule in it."""
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """`promtool test rules` passes: labels and rendered annotations are as expected."""
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_promised_alert_exists_once() -> None:
    """The file has exactly the alerts the product promises, each defined once."""
    names = [rule["alert"] for rule in alert_rules()]
    assert sorted(names) == sorted(ALERTS)


def test_unit_tests_cover_every_alert_firing_and_not_firing() -> None:
    """For each alert, promtool's tests expect it to fire at one time and not at another."""
    doc = yaml.safe_load(RULE_TESTS.read_text())
    assert [(RULE_TESTS.parent / f).resolve() for f in doc["rule_files"]] == [RULES]
    firing: set[str] = set()
    silent: set[str] = set()
    for test in doc["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    assert sorted(firing) == sorted(ALERTS)
    assert sorted(silent) == sorted(ALERTS)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_says_what_to_check_and_links_its_board(rule: dict[str, Any]) -> None:
    """Each alert has a severity, a summary, a description with the checks to make, and a
    dashboard_url to its board, passing only variables that board has."""
    labels, annotations = rule["labels"], rule["annotations"]
    severity = labels["severity"]
    assert severity in SEVERITIES or "{{" in severity
    assert annotations["summary"].strip()
    assert len(annotations["description"].split()) >= 20, "a description says what to check"
    assert re.search(
        r"\b[Cc]heck\b|\b[Rr]un\b|\b[Ee]nable\b|\b[Uu]pgrade\b", annotations["description"]
    )
    url = urlsplit(annotations["dashboard_url"])
    assert url.scheme == "http"
    uid = url.path.removeprefix("/d/")
    assert uid == ALERTS[rule["alert"]]
    board = next(load_board(name) for name, u in BOARDS.items() if u == uid)
    for param in parse_qs(url.query):
        assert param.removeprefix("var-") in variables(board), param


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_reads_only_metrics_of_the_contract(rule: dict[str, Any]) -> None:
    """Expressions and the queries inside annotations use the exporter's metric names."""
    names = promql_metric_names(rule["expr"])
    for annotation in rule["annotations"].values():
        for query in re.findall(r'printf "([^"]*(?:\\"[^"]*)*)"', annotation):
            names |= promql_metric_names(query.replace("%q", '"x"'))
    assert names
    assert names <= KNOWN_METRICS, sorted(names - KNOWN_METRICS)
