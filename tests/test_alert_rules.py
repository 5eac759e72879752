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
    "MCPCertificateExpiringVerySoon": "mcp-exporter-target",
    "MCPCertificateExpired": "mcp-exporter-target",
    "MCPProbeErrorBudgetBurn": "mcp-exporter-target",
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
README = ROOT / "README.md"
# The SRE workbook's multi-window, multi-burn-rate pairs: (long, short) window and burn rate.
BURN_RATE_PAIRS = {("1h", "5m"): 14.4, ("6h", "30m"): 6.0, ("1d", "2h"): 3.0, ("3d", "6h"): 1.0}
SLO_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


def all_rules() -> list[dict[str, Any]]:
    """Every rule of the shipped file, recording and alerting."""
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of the shipped file."""
    return [rule for rule in all_rules() if "alert" in rule]


def recorded_names() -> set[str]:
    """The series the recording rules write."""
    return {rule["record"] for rule in all_rules() if "record" in rule}


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)


def test_promtool_check_rules_accepts_the_rules() -> None:
    """`promtool check rules` finds the file valid and every rule in it."""
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(all_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """`promtool test rules` passes: labels and rendered annotations are as expected."""
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_promised_alert_exists_once() -> None:
    """The file has exactly the alerts the product promises, each defined once (the burn-rate
    alert once per window pair)."""
    names = [rule["alert"] for rule in alert_rules() if rule["alert"] != "MCPProbeErrorBudgetBurn"]
    assert sorted([*names, "MCPProbeErrorBudgetBurn"]) == sorted(ALERTS)


def test_recording_rules_give_the_error_ratio_over_every_slo_window() -> None:
    """Per window of the burn-rate pairs, one recording rule for the failed fraction of probes and
    one for the number of probes (how much of the window a target's history fills)."""
    records = {r["record"]: r["expr"] for r in all_rules() if "record" in r}
    ratios = {f"target:probe_success:error_ratio{w}": w for w in SLO_WINDOWS}
    samples = {f"target:probe_success:samples{w}": w for w in SLO_WINDOWS}
    assert sorted(records) == sorted(ratios | samples)
    for name, window in ratios.items():
        assert records[name] == f'1 - avg_over_time(probe_success{{job=~"mcp_probe.*"}}[{window}])'
    for name, window in samples.items():
        assert records[name] == f'count_over_time(probe_success{{job=~"mcp_probe.*"}}[{window}])'


def test_burn_rate_alerts_are_the_sre_workbook_pairs() -> None:
    """MCPProbeErrorBudgetBurn pages on 14.4x over 1h and 5m, 6x over 6h and 30m, opens a ticket
    on 3x over 1d and 2h, 1x over 3d and 6h, against the objective 99.5%."""
    burns = [r for r in alert_rules() if r["alert"] == "MCPProbeErrorBudgetBurn"]
    pairs = {}
    for rule in burns:
        long, short = rule["labels"]["long_window"], rule["labels"]["short_window"]
        factors = re.findall(
            rf"target:probe_success:error_ratio({long}|{short}) > \(([\d.]+) \* \(1 - 0\.995\)\)",
            rule["expr"],
        )
        assert sorted(w for w, _ in factors) == sorted([long, short]), rule["expr"]
        assert len({f for _, f in factors}) == 1
        pairs[(long, short)] = float(factors[0][1])
        page = rule["labels"]["severity"] == "critical"
        assert page == (pairs[(long, short)] >= 6), rule["labels"]
    assert pairs == BURN_RATE_PAIRS


def test_certificate_expiry_alerts_are_tiered() -> None:
    """Under 20 days a warning, under 3 days critical, expired critical: one tier at a time."""
    exprs = {r["alert"]: (r["expr"], r["labels"]["severity"]) for r in alert_rules()}
    assert exprs["MCPCertificateExpiringSoon"] == (
        'probe_ssl_earliest_cert_expiry{job=~"mcp_probe.*"} - time() < 20 * 86400 >= 3 * 86400',
        "warning",
    )
    assert exprs["MCPCertificateExpiringVerySoon"] == (
        'probe_ssl_earliest_cert_expiry{job=~"mcp_probe.*"} - time() < 3 * 86400 > 0',
        "critical",
    )
    assert exprs["MCPCertificateExpired"][1] == "critical"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_links_its_runbook_in_the_readme(rule: dict[str, Any]) -> None:
    """runbook_url opens the README's Runbooks subsection named after the alert."""
    url = urlsplit(rule["annotations"]["runbook_url"])
    assert url.scheme == "https"
    assert url.path.endswith("/README.md")
    assert url.fragment == rule["alert"].lower()
    text = README.read_text()
    assert url.fragment in github_anchors(text)
    runbooks = text[text.index("\n## Runbooks\n") :]
    runbooks = runbooks[: runbooks.find("\n## ", 1) if "\n## " in runbooks[1:] else None]
    section = runbooks.split(f"\n### {rule['alert']}\n", 1)[1].split("\n### ", 1)[0]
    assert len(section.split()) >= 40, "a runbook says what to check, hop by hop"


def test_probe_alerts_read_only_the_probe_jobs() -> None:
    """Every probe_* selector of the alerts carries the probe job selector, so probe_success from
    other exporters (blackbox_exporter) does not page as an MCP failure."""
    for rule in alert_rules():
        for match in re.finditer(r"(?<![\w:])(probe_\w+)(\{[^}]*\})?", rule["expr"]):
            assert match.group(2), rule["alert"]
            assert 'job=~"mcp_probe.*"' in match.group(2), rule["alert"]


def test_unit_tests_cover_every_alert_firing_and_not_firing() -> None:
    """For each alert, promtool's tests expect it to fire at one time and not at another."""
    doc = yaml.safe_load(RULE_TESTS.read_text())
    assert [(RULE_TESTS.parent / f).resolve() for f in doc["rule_files"]] == [RULES]
    firing: set[str] = set()
    silent: set[str] = set()
    for test in doc["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    assert doc["group_eval_order"][0] == "mcp-exporter.slo.rules"
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
    known = KNOWN_METRICS | recorded_names()
    assert names <= known, sorted(names - known)
