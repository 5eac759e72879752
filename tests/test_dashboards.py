"""Lint of the shipped Grafana boards: no Grafana server runs here, so the rules a board must follow
are checked on its JSON, and its queries are parsed by promtool after Grafana's substitutions.

The helpers that substitute variables as Grafana does are shared with tests/test_e2e_prometheus.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DASHBOARDS = ROOT / "grafana" / "dashboards"
PROVISIONING = ROOT / "grafana" / "provisioning"

# The boards and their stable uids (alert rules and data links point at these).
BOARDS = {
    "mcp-overview.json": "mcp-exporter-overview",
    "mcp-target.json": "mcp-exporter-target",
    "mcp-gateway-auth.json": "mcp-exporter-gateway-auth",
}

# The metric names of the product contract (DESIGN.md, "Metrics"; the README's metric reference,
# which test_the_contract_is_the_readmes_metric_reference keeps in step with these lists): the probe
# registry, stored by Prometheus with the scrape's job/instance labels ...
PROBE_METRICS = frozenset(
    {
        "probe_success",
        "probe_duration_seconds",
        "probe_timeout_seconds",
        "probe_failure_info",
        "probe_mcp_phase_duration_seconds",
        "probe_mcp_step_success",
        "probe_http_status_code",
        "probe_mcp_server_info",
        "probe_mcp_capability",
        "probe_mcp_tools",
        "probe_mcp_resources",
        "probe_mcp_prompts",
        "probe_mcp_tools_fingerprint",
        "probe_mcp_tools_definition_bytes",
        "probe_mcp_tools_without_description",
        "probe_mcp_tool_schemas_invalid",
        "probe_mcp_tools_duplicate_names",
        "probe_mcp_spec_deviation",
        "probe_mcp_jsonrpc_error_code",
        "probe_ssl_earliest_cert_expiry",
        "probe_tls_version_info",
        "probe_http_version",
        "probe_oauth_step_success",
        "probe_oauth_step_duration_seconds",
        "probe_oauth_pkce_s256_supported",
        "probe_oauth_registration_supported",
        "probe_oauth_resource_match",
        "probe_oauth_default_endpoints_assumed",
        "probe_oauth_token_from_cache",
        "probe_oauth_token_error_info",
        "probe_litellm_auth_resolution",
        "probe_litellm_server_auth_resolution",
        "probe_litellm_server_auth_type_info",
        "probe_litellm_oauth2_token_state",
        "probe_litellm_issue",
        "probe_litellm_upstream_status",
        "probe_litellm_upstream_tools",
        "probe_litellm_server_health",
        "probe_litellm_completion_tools",
        "probe_litellm_completion_tool_listed",
        "probe_litellm_completion_tool_calls",
        "probe_litellm_completion_gateway_duration_seconds",
        "probe_litellm_completion_attempted_retries",
        "probe_hop_success",
    }
)
# ... and the exporter's own /metrics (the histogram as its exposed series).
EXPORTER_METRICS = frozenset(
    {
        "mcp_exporter_build_info",
        "mcp_exporter_config_last_reload_successful",
        "mcp_exporter_config_last_reload_success_timestamp_seconds",
        "mcp_exporter_probes_total",
        "mcp_exporter_probe_duration_seconds_bucket",
        "mcp_exporter_probe_duration_seconds_sum",
        "mcp_exporter_probe_duration_seconds_count",
        "mcp_exporter_probes_in_flight",
        "mcp_exporter_module_unknown_total",
        "mcp_exporter_probes_rejected_total",
        "mcp_exporter_sd_refreshes_total",
        "mcp_exporter_sd_last_refresh_successful",
        "mcp_exporter_sd_last_success_timestamp_seconds",
        "mcp_exporter_sd_targets",
    }
)
# Series Prometheus writes itself for every scrape target.
PROMETHEUS_SERIES = frozenset({"up"})
KNOWN_METRICS = PROBE_METRICS | EXPORTER_METRICS | PROMETHEUS_SERIES

DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_INTERVALS = frozenset({"__rate_interval", "__range", "__interval"})
PANEL_TYPES = frozenset(
    {"row", "stat", "timeseries", "state-timeline", "table", "bargauge", "piechart"}
)

# --------------------------------------------------------------------------------------------
# PromQL: the metric names a query reads.

_PROMQL_KEYWORDS = frozenset(
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
        "and", "or", "unless", "inf", "nan", "atan2",
    }
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\$\{?\w+(?::\w+)?\}?", " ", text)  # Grafana variables
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):  # a function or aggregation
            continue
        if word.lower() in _PROMQL_KEYWORDS:
            continue
        if match.start() > 0 and text[match.start() - 1].isdigit():
            continue  # an exponent or duration suffix: 1e3, 5m
        names.add(word)
    return names


# --------------------------------------------------------------------------------------------
# The boards and Grafana's substitutions.


@dataclass(frozen=True)
class Query:
    """One query of one panel."""

    board: str
    panel: str
    ref_id: str
    expr: str
    instant: bool

    @property
    def name(self) -> str:
        return f"{self.board} / {self.panel} / {self.ref_id}"


def load_board(name: str) -> dict[str, Any]:
    """A board's JSON."""
    board: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return board


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def query_panels(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Panels that run queries (all but rows)."""
    return [p for p in panels(board) if p["type"] != "row"]


def queries(name: str) -> list[Query]:
    """Every query of every panel of a board."""
    board = load_board(name)
    return [
        Query(board["uid"], p["title"], t["refId"], t["expr"], bool(t.get("instant")))
        for p in query_panels(board)
        for t in p["targets"]
    ]


def variables(board: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The board's template variables by name."""
    return {v["name"]: v for v in board["templating"]["list"]}


def grafana_regular_escape(value: str) -> str:
    """Grafana's escaping of a single-value variable in a Prometheus query."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def grafana_regex_escape(value: str) -> str:
    """Grafana's escaping of a multi-value or include-all variable's value in a Prometheus query:
    regex metacharacters get a backslash, itself escaped for the PromQL string."""
    value = value.replace("\\", "\\" * 4)
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value)


def grafana_variable_value(variable: Mapping[str, Any], selected: Sequence[str]) -> str:
    """What Grafana writes in a Prometheus query for a variable with these selected values."""
    if not variable.get("multi") and not variable.get("includeAll"):
        assert len(selected) == 1, f"${variable['name']} takes one value"
        return grafana_regular_escape(selected[0])
    escaped = [grafana_regex_escape(v) for v in selected]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def seconds_to_hms(seconds: float) -> str:
    """Grafana's rangeUtil.secondsToHms: the largest whole unit."""
    for unit, size in (("y", 31536000), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


def round_interval(ms: float) -> int:
    """Grafana's rangeUtil.roundInterval (milliseconds), up to an hour."""
    table = [
        (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
        (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
        (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000),
        (1050000, 900000), (1500000, 1200000), (2700000, 1800000),
    ]  # fmt: skip
    for limit, value in table:
        if ms < limit:
            return value
    return 3600000


@dataclass(frozen=True)
class TimeRange:
    """A dashboard time range and what Grafana derives from it for a Prometheus datasource."""

    start: float
    end: float
    scrape_interval: float  # the datasource's timeInterval
    max_data_points: int = 1000

    @property
    def interval(self) -> float:
        """$__interval in seconds: the rounded range / points, at least the scrape interval."""
        ms = round_interval((self.end - self.start) * 1000 / self.max_data_points)
        return max(ms / 1000, self.scrape_interval)

    def builtins(self) -> dict[str, str]:
        """$__interval, $__rate_interval and $__range as Grafana writes them."""
        rate = max(self.interval + self.scrape_interval, 4 * self.scrape_interval)
        return {
            "__interval": seconds_to_hms(self.interval),
            "__rate_interval": f"{int(rate) if rate == int(rate) else rate}s",
            "__range": f"{round(self.end - self.start)}s",
        }


_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]")


def variable_references(text: str) -> set[str]:
    """Names of the Grafana variables a query refers to."""
    return {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(text)}


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """Replace $name, ${name} and [[name]] by already-escaped values."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3) or match.group(4)
        assert name in values, f"${name} is not defined"
        return values[name]

    return _VARIABLE.sub(replace, text)


# --------------------------------------------------------------------------------------------
# The README's metric reference.


def readme_metric_reference() -> tuple[set[str], set[str]]:
    """The metric names the README's metric reference documents: the probe registry's table, and
    the exporter's own metrics in the paragraph after it (a histogram as its exposed series)."""
    text = README.read_text()
    start = text.index("\n## Metric reference\n")
    end = text.index("\n## ", start + 1)
    section = text[start:end]
    table, _, after = section.partition("\nExporter (`/metrics`):")
    assert after, "the metric reference has no paragraph on the exporter's own metrics"
    probe = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            probe |= set(re.findall(r"`(\w+)`", first_cell))
    paragraph = after.split("\n\n")[0]
    exporter = set()
    for name in re.findall(r"`(mcp_exporter_\w+)(?:\{[^}]*\})?`", paragraph):
        histogram = f"`{name}` (histogram"
        if histogram in paragraph:
            exporter |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            exporter.add(name)
    return probe, exporter


# --------------------------------------------------------------------------------------------

ALL_QUERIES = [q for name in BOARDS for q in queries(name)]


@pytest.fixture(params=sorted(BOARDS))
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_board(request.param)


def test_the_three_boards_ship_with_stable_unique_uids() -> None:
    """The overview, target and gateway-and-auth boards exist under their fixed uids."""
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == sorted(BOARDS)
    for name, uid in BOARDS.items():
        board = load_board(name)
        assert board["uid"] == uid
        assert board["id"] is None, "a fixed id would clash on import"
        assert board["title"].startswith("MCP exporter / ")
        assert "mcp-exporter" in board["tags"]


def test_boards_have_no_import_placeholders(board: dict[str, Any]) -> None:
    """A board loads by provisioning as it is: no __inputs, no ${DS_...} placeholders."""
    text = json.dumps(board)
    assert "__inputs" not in board
    assert "${DS_" not in text


def test_every_panel_uses_the_datasource_variable(board: dict[str, Any]) -> None:
    """Every panel, query and query variable reads from the `datasource` variable."""
    ds = variables(board)["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    for panel in query_panels(board):
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE_REF, panel["title"]
    for variable in variables(board).values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE_REF, variable["name"]


def test_boards_offer_job_and_target_variables(board: dict[str, Any]) -> None:
    """Each board filters by job and target; the overview also by exporter instance."""
    names = set(variables(board))
    assert {"datasource", "job", "target"} <= names
    if board["uid"] == "mcp-exporter-overview":
        assert "instance" in names
    target = variables(board)["target"]
    assert target["query"] == 'label_values(probe_success{job=~"$job"}, instance)'


def test_every_panel_has_a_unit_and_a_description(board: dict[str, Any]) -> None:
    """A reader sees what each panel means and in which unit."""
    for panel in query_panels(board):
        assert panel["type"] in PANEL_TYPES, panel["title"]
        assert panel.get("description", "").strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]


def test_panel_ids_are_unique_and_the_grid_has_no_overlap(board: dict[str, Any]) -> None:
    """Panels sit side by side on the 24-column grid without covering each other."""
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(board):
        g = panel["gridPos"]
        assert g["x"] >= 0, panel["title"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_variables_are_defined_and_matched_as_grafana_escapes_them(
    board: dict[str, Any],
) -> None:
    """Multi-value variables are matched with =~ (Grafana regex-escapes them), single-value ones
    with = (Grafana does not), and every referenced variable exists."""
    defined = variables(board)
    texts = [t["expr"] for p in query_panels(board) for t in p["targets"]]
    texts += [v["query"] for v in defined.values() if v["type"] == "query"]
    for text in texts:
        for name in variable_references(text):
            assert name in defined or name in GRAFANA_INTERVALS, f"${name} in {text}"
        for match in re.finditer(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', text):
            used = variable_references(match.group(3))
            for name in used - GRAFANA_INTERVALS:
                variable = defined[name]
                multi = variable.get("multi") or variable.get("includeAll")
                want = ("=~", "!~") if multi else ("=", "!=")
                assert match.group(2) in want, f"${name} matched with {match.group(2)}: {text}"


def test_every_rate_uses_rate_interval_and_no_range_is_hard_coded() -> None:
    """rate, irate and increase take $__rate_interval; other ranges a Grafana interval variable."""
    for query in ALL_QUERIES:
        for fn, window in re.findall(r"\b(rate|irate|increase)\s*\([^\[]*\[([^\]]*)\]", query.expr):
            assert window == "$__rate_interval", f"{fn} over [{window}] in {query.name}"
        for window in re.findall(r"\[([^\]]*)\]", query.expr):
            assert window.lstrip("$") in GRAFANA_INTERVALS, f"[{window}] in {query.name}"


def test_every_query_reads_only_metrics_of_the_contract() -> None:
    """Each query reads at least one metric, and only metrics the exporter (or Prometheus) makes."""
    for query in ALL_QUERIES:
        names = promql_metric_names(query.expr)
        assert names, f"no metric found in {query.name}: {query.expr}"
        assert names <= KNOWN_METRICS, f"{sorted(names - KNOWN_METRICS)} in {query.name}"


def test_every_metric_of_the_contract_is_on_a_board() -> None:
    """Nothing the exporter measures is left off the boards."""
    shown = set().union(*(promql_metric_names(q.expr) for q in ALL_QUERIES))
    histogram = {
        "mcp_exporter_probe_duration_seconds_sum",
        "mcp_exporter_probe_duration_seconds_count",
    }
    assert sorted((PROBE_METRICS | EXPORTER_METRICS) - histogram - shown) == []


def test_the_contract_is_the_readmes_metric_reference() -> None:
    """The metric lists the boards and the end-to-end test are checked against are exactly what the
    README's metric reference documents: a metric added there needs a panel, and a panel reads only
    documented metrics."""
    probe, exporter = readme_metric_reference()
    assert sorted(probe ^ PROBE_METRICS) == []
    assert sorted(exporter ^ EXPORTER_METRICS) == []


def test_metric_name_extraction() -> None:
    """The extractor the lint relies on finds metrics and skips functions, labels and keywords."""
    expr = (
        'histogram_quantile(0.9, sum by (le, module) (rate(a_bucket{job=~"x|y", le!="1e3"}[5m])))'
        " / on(instance) group_left(version) b_info * 1e3 > bool 2 unless c offset 5m"
        ' or label_replace(d, "x", "$1", "y", "(.*)") - time() + max_over_time(e[$__range:])'
    )
    assert promql_metric_names(expr) == {"a_bucket", "b_info", "c", "d", "e"}


def test_grafana_escaping() -> None:
    """Values are escaped the way Grafana's Prometheus datasource does it."""
    url = "http://127.0.0.1:9676/mcp?x=(1)"
    assert grafana_regex_escape(url) == r"http://127\\.0\\.0\\.1:9676/mcp\\?x=\\(1\\)"
    multi = {"name": "target", "multi": True, "includeAll": True}
    single = {"name": "target", "multi": False, "includeAll": False}
    assert grafana_variable_value(multi, ["a.b", "c"]) == r"(a\\.b|c)"
    assert grafana_variable_value(multi, ["a.b"]) == r"a\\.b"
    assert grafana_variable_value(single, ["a.b"]) == "a.b"
    tr = TimeRange(start=0, end=3600, scrape_interval=15)
    assert tr.builtins() == {"__interval": "15s", "__rate_interval": "60s", "__range": "3600s"}
    assert TimeRange(0, 40, 1).builtins()["__rate_interval"] == "4s"


def test_every_query_parses_after_grafana_substitution(tmp_path: Path) -> None:
    """promtool accepts every query once its variables carry escaped URL values."""
    values = ["http://127.0.0.1:9676/mcp", "https://gw.example:4000/git-hub/mcp?tenant=a"]
    rules = []
    for name in BOARDS:
        board = load_board(name)
        substitutions = TimeRange(0, 6 * 3600, 15).builtins()
        for var in variables(board).values():
            selected = values if var.get("multi") else values[:1]
            substitutions[var["name"]] = grafana_variable_value(var, selected)
        for i, query in enumerate(queries(name)):
            rules.append(
                {
                    "record": f"check:{board['uid'].replace('-', '_')}:{i}",
                    "expr": interpolate(query.expr, substitutions),
                }
            )
    path = tmp_path / "queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_data_links_point_at_shipped_boards(board: dict[str, Any]) -> None:
    """Links from one board to another use a uid that exists."""
    for uid in re.findall(r"/d/([\w-]+)", json.dumps(board)):
        assert uid in BOARDS.values(), uid


def test_provisioning_loads_the_boards_and_the_datasource() -> None:
    """Grafana's provisioning files name a Prometheus datasource and the boards' folder."""
    ds = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    assert ds["apiVersion"] == 1
    (prom,) = ds["datasources"]
    assert prom["type"] == "prometheus"
    assert prom["jsonData"]["timeInterval"]
    dash = yaml.safe_load((PROVISIONING / "dashboards" / "mcp-exporter.yml").read_text())
    (provider,) = dash["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
