"""Write prometheusrule.yaml: the shipped alert rules (grafana/rules/mcp-exporter.rules.yml) as a
Prometheus Operator PrometheusRule.

    python deploy/prometheus-operator/generate_prometheusrule.py          # rewrite the file
    python deploy/prometheus-operator/generate_prometheusrule.py --check  # exit 1 if it is stale

The rule groups are copied unchanged; tests/test_deploy_manifests.py fails when the two differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RULES = ROOT / "grafana" / "rules" / "mcp-exporter.rules.yml"
OUTPUT = HERE / "prometheusrule.yaml"

HEADER = """\
# Generated from grafana/rules/mcp-exporter.rules.yml by
# deploy/prometheus-operator/generate_prometheusrule.py: edit the rules file, then run the script.
# Your Prometheus resource must select this object (spec.ruleSelector / ruleNamespaceSelector;
# kube-prometheus-stack wants the label `release: <its release name>`).
"""


class _Dumper(yaml.SafeDumper):
    """Long strings as block scalars, so the generated file reads like the rules file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else (">" if len(value) > 80 else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(rules_text: str) -> str:
    """The PrometheusRule manifest for the rules file's text."""
    rules: dict[str, Any] = yaml.safe_load(rules_text)
    manifest = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "mcp-exporter",
            "labels": {
                "app.kubernetes.io/name": "mcp-exporter",
                "app.kubernetes.io/component": "alert-rules",
            },
        },
        "spec": {"groups": rules["groups"]},
    }
    body = yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    wanted = render(RULES.read_text(encoding="utf-8"))
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if args.check:
        if current != wanted:
            print(
                f"{OUTPUT.relative_to(ROOT)} is out of date with {RULES.relative_to(ROOT)}: run "
                f"python {Path(__file__).resolve().relative_to(ROOT)}",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != wanted:
        OUTPUT.write_text(wanted, encoding="utf-8")
        print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
