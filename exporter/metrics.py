"""Metrics: the per-probe registry and the exporter's own metrics.

A probe answers with a fresh `ProbeRegistry`, so no per-target state lives in globals. It is a
small text builder rather than a prometheus_client registry because a probe's metrics are
written once and rendered once; that keeps a probe's CPU cost low.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)

from . import __version__
from .untrusted import clean

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
# Label values often come from a target (server name, version, a gateway's header): bounded, so
# a hostile server cannot blow up the series size, and cleaned, so it always renders as UTF-8.
MAX_LABEL_VALUE_CHARS: Final = 256


def _label_value(value: str) -> str:
    if len(value) <= MAX_LABEL_VALUE_CHARS and value.isascii() and value.isprintable():
        return value
    return clean(str(value), MAX_LABEL_VALUE_CHARS, one_line=True)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@dataclass(slots=True)
class _Family:
    name: str
    help: str
    kind: str
    samples: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)


class ProbeRegistry:
    """The metrics of one probe, in insertion order, rendered as Prometheus text format."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def set(
        self,
        name: str,
        help_text: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        kind: str = "gauge",
    ) -> None:
        """Set one sample; a later call with the same labels replaces the value."""
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(name, help_text, kind)
        family.samples[tuple(labels.items()) if labels else ()] = float(value)

    def add(
        self, name: str, help_text: str, value: float, labels: Mapping[str, str] | None = None
    ) -> None:
        """Add to a sample (creating it at 0)."""
        key = tuple(labels.items()) if labels else ()
        family = self._families.get(name)
        current = family.samples.get(key, 0.0) if family else 0.0
        self.set(name, help_text, current + value, labels)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """A sample's value, or None."""
        family = self._families.get(name)
        if family is None:
            return None
        return family.samples.get(tuple(labels.items()) if labels else ())

    def seal(self, redact: Callable[[str], str]) -> None:
        """Scrub credentials from every label value (before rendering bounds their length, so
        a cut cannot leave part of a secret behind). Called once, when the probe is done."""
        for family in self._families.values():
            if not any(labels for labels in family.samples):
                continue
            sealed: dict[tuple[tuple[str, str], ...], float] = {}
            for labels, value in family.samples.items():
                sealed[tuple((k, redact(v)) for k, v in labels)] = value
            family.samples = sealed

    def names(self) -> Iterable[str]:
        """Metric names present."""
        return self._families.keys()

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        out: list[str] = []
        for family in self._families.values():
            out.append(f"# HELP {family.name} {family.help}\n# TYPE {family.name} {family.kind}\n")
            seen: set[str] = set()
            for labels, value in family.samples.items():
                if labels:
                    text = ",".join(f'{k}="{_escape(_label_value(v))}"' for k, v in labels)
                    # Values that differ only in what cleaning replaced or cut render the
                    # same; a duplicate series would make the whole scrape invalid.
                    if text in seen:
                        continue
                    seen.add(text)
                    out.append(f"{family.name}{{{text}}} {_format_value(value)}\n")
                else:
                    out.append(f"{family.name} {_format_value(value)}\n")
        return "".join(out)


class ExporterMetrics:
    """The exporter's own metrics (`/metrics`): never per-target series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        Info(
            "mcp_exporter_build",
            "Build information of the exporter.",
            registry=self.registry,
        ).info({"version": __version__})
        self.config_last_reload_successful = Gauge(
            "mcp_exporter_config_last_reload_successful",
            "Whether the last configuration reload succeeded (1) or failed (0).",
            registry=self.registry,
        )
        self.config_last_reload_success_timestamp = Gauge(
            "mcp_exporter_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration reload, in Unix seconds.",
            registry=self.registry,
        )
        self.probes = Counter(
            "mcp_exporter_probes",
            "Probes run, by module and result (success, failure).",
            ["module", "result"],
            registry=self.registry,
        )
        self.probe_duration = Histogram(
            "mcp_exporter_probe_duration_seconds",
            "Duration of probes, by module.",
            ["module"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.probes_in_flight = Gauge(
            "mcp_exporter_probes_in_flight",
            "Probes currently running.",
            registry=self.registry,
        )
        self.module_unknown = Counter(
            "mcp_exporter_module_unknown",
            "Probe requests naming a module that is not configured.",
            registry=self.registry,
        )
        self.probes_rejected = Counter(
            "mcp_exporter_probes_rejected",
            "Probe requests turned away because the concurrency limit was reached.",
            registry=self.registry,
        )
        self.sd_refreshes = Counter(
            "mcp_exporter_sd_refreshes",
            "Service-discovery refreshes of each source's target list, by result.",
            ["source", "result"],
            registry=self.registry,
        )
        self.sd_last_refresh_successful = Gauge(
            "mcp_exporter_sd_last_refresh_successful",
            "Whether the last refresh of the source succeeded (1) or failed (0, the last good "
            "list is served).",
            ["source"],
            registry=self.registry,
        )
        self.sd_last_success_timestamp = Gauge(
            "mcp_exporter_sd_last_success_timestamp_seconds",
            "Time of the source's last successful refresh, in Unix seconds.",
            ["source"],
            registry=self.registry,
        )
        self.sd_targets = Gauge(
            "mcp_exporter_sd_targets",
            "Targets in the source's last good list.",
            ["source"],
            registry=self.registry,
        )
