"""The issue's targets checked against a run's results, and the short table of them."""

from __future__ import annotations

from typing import Any, Final

MIB: Final = 2**20

# Each target by name: what it measures, its limit, the unit and the comparison.
TARGETS: Final = {
    "fidelity_no_load_p99": (
        "phase time minus true delay, p99, worst phase, no load",
        2.0,
        "ms",
        "<=",
    ),
    "fidelity_200_per_s_p99": (
        "phase time minus true delay, p99, worst phase, at 200 probes/s",
        5.0,
        "ms",
        "<=",
    ),
    "capacity": ("full MCP probes/s from one process", 400.0, "/s", ">="),
    "cpu_per_full_probe": ("exporter CPU per full probe at max throughput", 2.0, "ms", "<="),
    "cpu_vs_blackbox": ("CPU per single-request probe / blackbox's", 1.5, "x", "<="),
    "scale_late_or_dropped": ("10,000 targets @30s: probes late or dropped", 0.0, "", "<="),
    "scale_rss": ("10,000 targets @30s: RSS at the end", 200.0, "MiB", "<"),
    "scale_fd_growth": ("10,000 targets @30s: fd growth after the run", 0.0, "", "<="),
    "startup": ("start-up to /-/ready, median", 1000.0, "ms", "<"),
}


def _measured(results: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = dict.fromkeys(TARGETS)
    fid = results.get("fidelity")
    if fid:
        out["fidelity_no_load_p99"] = fid["no_load"]["exporter"]["worst_p99_ms"]
        out["fidelity_200_per_s_p99"] = fid["under_load"]["exporter"]["worst_p99_ms"]
    cap = results.get("capacity")
    if cap:
        out["capacity"] = cap["max_probes_per_second"]
        out["cpu_per_full_probe"] = cap["cpu_ms_per_probe_at_max"]
    bb = results.get("versus_blackbox")
    if bb:
        out["cpu_vs_blackbox"] = bb["cpu_ratio"]
    sc = results.get("scale")
    if sc:
        out["scale_late_or_dropped"] = sc["probes_late"] + sc["probes_failed_or_dropped"]
        out["scale_rss"] = sc["rss_bytes_end"] / MIB
        out["scale_fd_growth"] = max(0, sc["fds_after_drain"] - sc["fds_before"])
    st = results.get("startup")
    if st:
        out["startup"] = st["median_seconds"] * 1000
    return out


def evaluate(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its limit, the measured value and whether it passed (None: not run)."""
    out = {}
    for name, value in _measured(results).items():
        what, limit, unit, op = TARGETS[name]
        passed = None
        if value is not None:
            passed = {"<=": value <= limit, ">=": value >= limit, "<": value < limit}[op]
        out[name] = {
            "what": what,
            "limit": limit,
            "unit": unit,
            "op": op,
            "value": value,
            "pass": passed,
        }
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "not run"
    if unit in ("", "/s"):
        return f"{value:.0f}{unit}"
    return f"{value:.2f} {unit}" if unit != "x" else f"{value:.2f}x"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def table(results: dict[str, Any]) -> str:
    """Markdown: the targets, then one table per section."""
    machine = results["machine"]
    kind = "quick" if results.get("quick") else "full"
    lines = [
        f"# Benchmark results ({kind} run, {results['started']})",
        "",
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        f"aiohttp {machine['aiohttp']}, kernel {machine['kernel']}. Pinning: {machine['pinning']}; "
        f"nice {machine.get('nice', 0)}.",
        f"Command: `{results['command']}` ({results['seconds']} s). Exporter: "
        f"{results.get('exporter', 'working tree')}.",
        "",
        _row("target", "limit", "measured", ""),
        _row("---", "---", "---", "---"),
    ]
    for t in results["targets"].values():
        mark = {True: "pass", False: "**miss**", None: "-"}[t["pass"]]
        limit = f"{t['op']} {_fmt(t['limit'], t['unit'])}"
        lines.append(_row(t["what"], limit, _fmt(t["value"], t["unit"]), mark))
    fid = results.get("fidelity")
    if fid:
        lines += [
            "",
            f"## Fidelity (stub delay {fid['delay_ms']:g} ms; overhead = reported phase time "
            "minus the stub's own measured delay, ms)",
            "",
            _row("condition", "client", "phase", "p50", "p99", "max", "stub lateness p99"),
            _row(*["---"] * 7),
        ]
        for cond in ("no_load", "under_load"):
            for client in ("exporter", "bare_client"):
                for phase, q in fid[cond][client].items():
                    if phase == "worst_p99_ms":
                        continue
                    o = q["overhead_ms"]
                    lines.append(
                        _row(
                            cond.replace("_", " "),
                            client.replace("_", " "),
                            phase,
                            f"{o['p50']:.2f}",
                            f"{o['p99']:.2f}",
                            f"{o['max']:.2f}",
                            f"{q['stub_lateness_ms']['p99']:.2f}",
                        )
                    )
        for cond in ("no_load", "under_load"):
            ours = fid[cond]["exporter"]["worst_p99_ms"]
            floor = fid[cond]["bare_client"]["worst_p99_ms"]
            lines.append(
                f"\n{cond.replace('_', ' ').capitalize()}: worst-phase p99 {ours:.2f} ms through "
                f"the exporter, {floor:.2f} ms from the bare client (the floor on this machine "
                f"at that moment)."
            )
        ul = fid["under_load"]
        lines.append(
            f"\nUnder load: {ul['achieved_per_second']:.0f} probes/s achieved, "
            f"{ul['failed']} failed, /probe p99 {_ms(ul['probe_latency'].get('p99'))} ms; "
            f"other load on the exporter's CPU {_pct(ul.get('other_load_on_measured_cpu'))}."
        )
    cap = results.get("capacity")
    if cap:
        lines += [
            "",
            "## Capacity (full probes against a zero-delay stub, closed loop)",
            "",
            _row(
                "concurrency",
                "probes/s",
                "exporter CPU ms/probe",
                "exporter CPU use",
                "other load on its CPU",
                "p50 ms",
                "p99 ms",
                "RSS MiB",
                "stub CPU ms/probe",
                "load gen CPU ms/probe",
            ),
            _row(*["---"] * 10),
        ]
        for row in cap["levels"]:
            n = max(1, row["probes"])
            cpu = row["cpu_seconds"]
            stub = next((v for k, v in cpu.items() if k.startswith("stub")), 0.0)
            lines.append(
                _row(
                    row["concurrency"],
                    f"{row['probes_per_second']:.0f}",
                    f"{row['cpu_ms_per_probe']:.2f}",
                    _pct(row["cpu_utilisation"]),
                    _pct(row.get("other_load_on_measured_cpu")),
                    _ms(row["latency"].get("p50")),
                    _ms(row["latency"].get("p99")),
                    f"{row['rss_bytes'] / MIB:.0f}",
                    f"{1000 * stub / n:.2f}",
                    f"{1000 * (cpu.get('load') or 0) / n:.2f}",
                )
            )
    if cap and "cpu_bound_probes_per_second" in cap:
        lines.append(
            f"\nAt its CPU cost per probe, one fully available core would carry "
            f"{cap['cpu_bound_probes_per_second']:.0f} full probes/s (1000 / CPU ms per probe at "
            "the highest throughput measured)."
        )
    bb = results.get("versus_blackbox")
    if bb:
        lines += [
            "",
            "## Versus blackbox_exporter (one JSON-RPC POST per probe)",
            "",
            _row(
                "run",
                "probes/s",
                "CPU ms/probe",
                "CPU use",
                "other load on its CPU",
                "p50 ms",
                "p99 ms",
                "RSS MiB",
                "failed",
            ),
            _row(*["---"] * 9),
        ]
        for name, row in bb["runs"].items():
            lines.append(
                _row(
                    name,
                    f"{row['probes_per_second']:.0f}",
                    f"{row['cpu_ms_per_probe']:.3f}",
                    _pct(row["cpu_utilisation"]),
                    _pct(row.get("other_load_on_measured_cpu")),
                    _ms(row["latency"].get("p50")),
                    _ms(row["latency"].get("p99")),
                    f"{row['rss_bytes'] / MIB:.0f}",
                    row["failed"],
                )
            )
        lines.append(
            f"\nCPU ratio (ours / blackbox tools/list) {bb['cpu_ratio']:.2f}x; "
            f"same request body {bb['cpu_ratio_same_request']:.2f}x. {bb['note']}"
        )
    sc = results.get("scale")
    if sc:
        lat = sc["probe_latency"]
        lines += [
            "",
            f"## Scale ({sc['targets']} targets, {sc['cycle_seconds']:g} s cycle, "
            f"{sc['window_seconds']:g} s window)",
            "",
            f"- probes scheduled {sc['probes_scheduled']} ({sc['distinct_targets_probed']} "
            f"distinct targets): on time {sc['probes_on_time']}, late {sc['probes_late']}, "
            f"failed or dropped {sc['probes_failed_or_dropped']}",
            f"- /probe latency p50 {_ms(lat.get('p50'))} ms, p99 {_ms(lat.get('p99'))} ms, "
            f"max {_ms(lat.get('max'))} ms; load generator send lateness p99 "
            f"{_ms(sc['send_lateness'].get('p99'))} ms",
            f"- RSS before {sc['rss_bytes_before'] / MIB:.0f} MiB, end "
            f"{sc['rss_bytes_end'] / MIB:.0f} MiB, peak {sc['rss_bytes_peak'] / MIB:.0f} MiB",
            f"- open fds before {sc['fds_before']}, end of window {sc['fds_end_of_window']}, "
            f"after drain {sc['fds_after_drain']}; max probes in flight {sc['max_in_flight']}",
            f"- exporter CPU {sc['exporter_cpu_ms_per_probe']:.2f} ms/probe; other load on its "
            f"CPU {_pct(sc.get('other_load_on_measured_cpu'))}; stub sessions left open "
            f"{sc['stub_sessions_left_open']}",
        ]
    st = results.get("startup")
    if st:
        lines += [
            "",
            f"## Start-up: median {_ms(st['median_seconds'])} ms, max {_ms(st['max_seconds'])} ms "
            f"over {len(st['runs_seconds'])} starts ({st['note']})",
        ]
    return "\n".join(lines) + "\n"
