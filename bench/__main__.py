"""The benchmark: fidelity, capacity, versus blackbox_exporter, scale, start-up.

    python -m bench            # the full run, a few minutes; writes bench/results.json and .md
    python -m bench --quick    # a smoke run under a minute; writes to a temporary directory

Everything runs on 127.0.0.1. On a machine with two or more CPUs the exporter (and blackbox)
run pinned to one CPU and the stub servers, the load generator and the bare client to another, so
that the load never takes CPU from what is measured; every process's CPU time is read from the
kernel's accounting in /proc.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import procs
from .procs import Proc
from .report import evaluate, table

REPO = Path(__file__).resolve().parent.parent
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
FIDELITY_DELAY_MS = 20.0
SCALE_DELAY_MS = 20.0
TOOLS_LIST_BODY = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
DISCOVER_BODY = (
    '{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{'
    '"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    '"io.modelcontextprotocol/clientInfo":{"name":"mcp-exporter","version":"0.1.0"},'
    '"io.modelcontextprotocol/clientCapabilities":{}}}}'
)

EXPORTER_CONFIG = """\
modules:
  # A full MCP probe: initialize, notifications/initialized, tools/list, DELETE of the session.
  bench_full:
    prober: mcp
    timeout: 10s
    mcp:
      transport: streamable_http
      protocol_version: "2025-11-25"
      steps: [tools_list]
  # The one-request module: the stateless revision's server/discover and nothing else.
  bench_single:
    prober: mcp
    timeout: 10s
    mcp:
      transport: streamable_http
      protocol_version: "2026-07-28"
      steps: []
"""


def _blackbox_config() -> str:
    def module(name: str, body: str) -> str:
        return f"""\
  {name}:
    prober: http
    timeout: 10s
    http:
      method: POST
      headers:
        Content-Type: application/json
        Accept: application/json, text/event-stream
      body: '{body}'
      valid_status_codes: [200]
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ['"result"']
"""

    return (
        "modules:\n"
        + module("jsonrpc_tools_list", TOOLS_LIST_BODY)
        + module("jsonrpc_discover", DISCOVER_BODY)
    )


class Bench:
    """One benchmark run: its processes, its settings and its results."""

    def __init__(self, args: argparse.Namespace, run_dir: Path) -> None:
        self.quick: bool = args.quick
        self.run_dir = run_dir
        available = procs.cpus()
        self.cpu_count = len(available)
        pin = not args.no_pin and len(available) >= 2
        self.measured_cpu = available[0] if pin else None
        self.load_cpu = available[1] if pin else None
        self.config = run_dir / "exporter.yml"
        self.config.write_text(EXPORTER_CONFIG)
        self.blackbox_config = run_dir / "blackbox.yml"
        self.blackbox_config.write_text(_blackbox_config())
        bindir = Path(sys.executable).parent
        script = bindir / "mcp-exporter"
        self.exporter_dir: Path = args.exporter_dir or REPO
        if args.exporter_dir is not None or not script.exists():
            # `python -m exporter` from that directory imports its own copy of the package.
            self.exporter_argv = [sys.executable, "-m", "exporter"]
        else:
            self.exporter_argv = [str(script)]
        self.levels: list[int] | None = args.levels
        self.results: dict[str, Any] = {}

    # -- processes ----------------------------------------------------------------------------

    def exporter(
        self, name: str = "exporter", directory: Path | None = None
    ) -> tuple[Proc, int, float]:
        exporter_argv = self.exporter_argv
        if directory is not None:
            exporter_argv = [sys.executable, "-m", "exporter"]
        argv = [
            *exporter_argv,
            f"--config.file={self.config}",
            # Port 0: the kernel picks a free port, found from the process's own sockets.
            "--web.listen-address=127.0.0.1:0",
        ]
        started = time.perf_counter()
        proc = procs.start(
            name,
            argv,
            cpu=self.measured_cpu,
            log_dir=self.run_dir,
            cwd=directory or self.exporter_dir,
        )
        port = procs.wait_listening(proc)
        procs.wait_ready(port, "/-/ready", proc)
        ready = time.perf_counter() - started
        return proc, port, ready

    def stub(self, name: str, delay_ms: float, record: bool = False) -> tuple[Proc, int]:
        argv = [sys.executable, "-m", "bench.stub", "--port", "0", "--delay-ms", str(delay_ms)]
        if record:
            argv.append("--record")
        proc = procs.start(
            name, argv, cpu=self.load_cpu, log_dir=self.run_dir, stdout_pipe=True, cwd=REPO
        )
        assert proc.popen.stdout is not None
        port = int(proc.popen.stdout.readline())
        return proc, port

    def load(
        self, spec: dict[str, Any], watch: Sequence[Proc], *, beside: list[str] | None = None
    ) -> dict[str, Any]:
        """Run the load generator; sample CPU of `watch` at its START and END marks.

        `beside` is the argv of a process (the bare client) run during the window.
        """
        argv = [sys.executable, "-m", "bench.load", json.dumps(spec)]
        gen = procs.start(
            "load", argv, cpu=self.load_cpu, log_dir=self.run_dir, stdout_pipe=True, cwd=REPO
        )
        side: Proc | None = None
        try:
            assert gen.popen.stdout is not None
            line = gen.popen.stdout.readline().strip()
            if line != "START":
                raise RuntimeError(f"load generator: expected START, got {line!r}")
            before = {p.name: p.cpu() for p in watch}
            busy_before = procs.cpu_busy(self.measured_cpu)
            started = time.perf_counter()
            if beside is not None:
                side = procs.start(
                    "bare",
                    beside,
                    cpu=self.load_cpu,
                    log_dir=self.run_dir,
                    stdout_pipe=True,
                    cwd=REPO,
                )
            line = gen.popen.stdout.readline().strip()
            if line != "END":
                raise RuntimeError(f"load generator: expected END, got {line!r}")
            elapsed = time.perf_counter() - started
            after = {p.name: p.cpu() for p in watch}
            busy_after = procs.cpu_busy(self.measured_cpu)
            mem = {p.name: procs.rss_bytes(p.pid) for p in watch}
            result: dict[str, Any] = json.loads(gen.popen.stdout.readline())
            gen.popen.wait(timeout=30)
        finally:
            gen.stop()
        result["cpu"] = {name: after[name] - before[name] for name in before}
        result["cpu"]["load"] = result.pop("cpu_seconds")
        if self.measured_cpu is not None:
            # Time the measured CPU spent on anything but the watched processes pinned to it:
            # other work on the shared machine, which slows what is measured.
            pinned = sum(
                result["cpu"][p.name] for p in watch if p.name.startswith(("exporter", "blackbox"))
            )
            result["noise_on_measured_cpu"] = (
                max(0.0, (busy_after - busy_before) - pinned) / elapsed
            )
        result["rss_bytes"] = mem
        result["elapsed"] = elapsed
        if side is not None:
            assert side.popen.stdout is not None
            result["bare"] = json.loads(side.popen.stdout.readline())["records"]
            side.stop()
        return result

    def bare(self, spec: dict[str, Any]) -> list[list[Any]]:
        argv = self.bare_argv(spec)
        out = subprocess.run(argv, cwd=REPO, check=True, capture_output=True, text=True)
        records: list[list[Any]] = json.loads(out.stdout)["records"]
        return records

    def bare_argv(self, spec: dict[str, Any]) -> list[str]:
        argv = [sys.executable, "-m", "bench.bare", json.dumps(spec)]
        if self.load_cpu is not None:
            argv = ["taskset", "-c", str(self.load_cpu), *argv]
        if procs.NICE:
            argv = ["nice", "-n", str(procs.NICE), *argv]
        return argv

    # -- sections -----------------------------------------------------------------------------

    def startup(self) -> None:
        runs = []
        for i in range(3 if self.quick else 7):
            proc, _, ready = self.exporter(f"exporter-startup-{i}")
            runs.append(ready)
            proc.stop()
        self.results["startup"] = {
            "runs_seconds": runs,
            "median_seconds": sorted(runs)[len(runs) // 2],
            "max_seconds": max(runs),
            "note": "from just before fork/exec to the first 200 from /-/ready, polled every 2 ms",
        }
        _say(f"start-up: median {self.results['startup']['median_seconds'] * 1000:.0f} ms")

    def fidelity(self) -> None:
        count = 30 if self.quick else 200
        duration = 3.0 if self.quick else 20.0
        stub, stub_port = self.stub("stub-fidelity", FIDELITY_DELAY_MS, record=True)
        exporter, port, _ = self.exporter("exporter-fidelity")
        with procs.running(stub, exporter):
            target = f"http://127.0.0.1:{stub_port}"
            # No load: one probe at a time through the exporter, then the bare client.
            idle = self.load(
                {
                    "mode": "closed",
                    "port": port,
                    "path": _probe_path(f"{target}/nl/{{i}}", "bench_full"),
                    "concurrency": 1,
                    "warmup": 0.5,
                    "duration": count * 0.09,
                    "phases": True,
                },
                [exporter, stub],
            )
            bare_idle = self.bare({"port": stub_port, "path": "/bnl/{i}", "count": count})
            # Under load: 200 full probes/s, the bare client probing 20 times a second beside.
            rate = 200.0
            loaded = self.load(
                {
                    "mode": "open",
                    "port": port,
                    "path": _probe_path(f"{target}/ld/{{i}}", "bench_full"),
                    "rate": rate,
                    "warmup": 1.0,
                    "duration": duration,
                    "phases": True,
                    "timeout_header": "10",
                },
                [exporter, stub],
                beside=self.bare_argv(
                    {
                        "port": stub_port,
                        "path": "/bld/{i}",
                        "count": int(duration * 20),
                        "interval": 0.05,
                        "duration": duration - 0.5,
                    }
                ),
            )
            stub_records = json.loads(procs.http_get(stub_port, "/__stub/delays"))
        actual = {(path, method): seconds for path, method, seconds in stub_records}
        self.results["fidelity"] = {
            "delay_ms": FIDELITY_DELAY_MS,
            "no_load": {
                "exporter": _phase_errors(_exporter_phases(idle, "/nl/{i}"), actual),
                "bare_client": _phase_errors(bare_idle, actual),
                "probes": len(idle["records"]),
                "exporter_cpu_seconds": idle["cpu"][exporter.name],
            },
            "under_load": {
                "rate_per_second": rate,
                "achieved_per_second": loaded["completed_in_window"] / loaded["window_seconds"],
                "exporter": _phase_errors(_exporter_phases(loaded, "/ld/{i}"), actual),
                "bare_client": _phase_errors(loaded.get("bare", []), actual),
                "probes": len(loaded["records"]),
                "failed": sum(1 for r in loaded["records"] if not r[5]),
                "probe_latency": _quantiles([r[3] for r in loaded["records"] if r[3] is not None]),
                "cpu_seconds": loaded["cpu"],
                "window_seconds": loaded["elapsed"],
                "other_load_on_measured_cpu": loaded.get("noise_on_measured_cpu"),
            },
        }
        fid = self.results["fidelity"]
        _say(
            "fidelity p99 overhead: no load "
            f"{fid['no_load']['exporter']['worst_p99_ms']:.2f} ms (bare "
            f"{fid['no_load']['bare_client']['worst_p99_ms']:.2f}), 200/s "
            f"{fid['under_load']['exporter']['worst_p99_ms']:.2f} ms (bare "
            f"{fid['under_load']['bare_client']['worst_p99_ms']:.2f})"
        )

    def capacity(self) -> None:
        levels = self.levels or ([32] if self.quick else [1, 4, 16, 32, 64, 128, 256])
        duration = 2.0 if self.quick else 6.0
        stub, stub_port = self.stub("stub-fast", 0.0)
        exporter, port, _ = self.exporter("exporter-capacity")
        rows = []
        with procs.running(stub, exporter):
            target = f"http://127.0.0.1:{stub_port}/cap/{{i}}"
            for concurrency in levels:
                result = self.load(
                    {
                        "mode": "closed",
                        "port": port,
                        "path": _probe_path(target, "bench_full"),
                        "concurrency": concurrency,
                        "warmup": 0.5 if self.quick else 1.0,
                        "duration": duration,
                    },
                    [exporter, stub],
                )
                rows.append(_throughput_row(result, concurrency, exporter.name))
                _say(
                    f"capacity c={concurrency}: {rows[-1]['probes_per_second']:.0f}/s, "
                    f"{rows[-1]['cpu_ms_per_probe']:.2f} ms CPU/probe, "
                    f"p99 {rows[-1]['latency']['p99'] * 1000:.1f} ms"
                )
            stub_stats = json.loads(procs.http_get(stub_port, "/__stub/stats"))
        best = max(rows, key=lambda r: r["probes_per_second"])
        self.results["capacity"] = {
            "levels": rows,
            "max_probes_per_second": best["probes_per_second"],
            "cpu_ms_per_probe_at_max": best["cpu_ms_per_probe"],
            "min_cpu_ms_per_probe": min(r["cpu_ms_per_probe"] for r in rows if r["probes"] > 0),
            # What one core would carry at the measured CPU cost, whatever else ran beside.
            "cpu_bound_probes_per_second": 1000 / best["cpu_ms_per_probe"],
            "stub_sessions_left_open": stub_stats["sessions_open"],
        }

    def versus_blackbox(self) -> None:
        duration = 2.0 if self.quick else 8.0
        rate = 200.0
        stub, stub_port = self.stub("stub-blackbox", 0.0)
        exporter, port, _ = self.exporter("exporter-single")
        blackbox = procs.start(
            "blackbox",
            [
                BLACKBOX,
                f"--config.file={self.blackbox_config}",
                "--web.listen-address=127.0.0.1:0",
            ],
            cpu=self.measured_cpu,
            log_dir=self.run_dir,
        )
        bb_port = procs.wait_listening(blackbox)
        runs: dict[str, Any] = {}
        with procs.running(stub, exporter, blackbox):
            procs.wait_ready(bb_port, "/-/healthy", blackbox)
            target = f"http://127.0.0.1:{stub_port}/bb/{{i}}"
            cases = [
                ("mcp_exporter_discover", exporter, port, "bench_single"),
                ("blackbox_tools_list", blackbox, bb_port, "jsonrpc_tools_list"),
                ("blackbox_discover", blackbox, bb_port, "jsonrpc_discover"),
            ]
            modes: list[tuple[str, dict[str, Any]]] = [
                ("rate", {"mode": "open", "rate": rate, "warmup": 1.0})
            ]
            if not self.quick:
                modes.append(("max", {"mode": "closed", "concurrency": 32, "warmup": 1.0}))
            for mode, extra in modes:
                for name, proc, proc_port, module in cases:
                    result = self.load(
                        {
                            "port": proc_port,
                            "path": _probe_path(target, module),
                            "duration": duration,
                            "timeout_header": "10",
                            **extra,
                        },
                        [proc, stub],
                    )
                    row = _throughput_row(result, extra.get("concurrency", 0), proc.name)
                    row["rss_bytes"] = result["rss_bytes"][proc.name]
                    runs[f"{name}@{mode}"] = row
                    _say(
                        f"{name} ({mode}): {row['probes_per_second']:.0f}/s, "
                        f"{row['cpu_ms_per_probe']:.3f} ms CPU/probe, failed {row['failed']}"
                    )
        ours = runs["mcp_exporter_discover@rate"]["cpu_ms_per_probe"]
        theirs = runs["blackbox_tools_list@rate"]["cpu_ms_per_probe"]
        theirs_same = runs["blackbox_discover@rate"]["cpu_ms_per_probe"]
        self.results["versus_blackbox"] = {
            "rate_per_second": rate,
            "runs": runs,
            "cpu_ratio": ours / theirs if theirs else None,
            "cpu_ratio_same_request": ours / theirs_same if theirs_same else None,
            "blackbox_version": _blackbox_version(),
            "note": (
                "ours: module bench_single (protocol 2026-07-28, steps []) = one POST "
                "server/discover; blackbox: http prober POST of tools/list (and of the same "
                "server/discover body), body regexp '\"result\"'. Both on a fresh connection."
            ),
        }

    def scale(self) -> None:
        targets = 10_000
        cycle = 30.0
        duration = 8.0 if self.quick else 90.0
        stub, stub_port = self.stub("stub-scale", SCALE_DELAY_MS)
        exporter, port, _ = self.exporter("exporter-scale")
        with procs.running(stub, exporter):
            fds_before = procs.open_fds(exporter.pid)
            rss_before = procs.rss_bytes(exporter.pid)
            result = self.load(
                {
                    "mode": "open",
                    "port": port,
                    "path": _probe_path(f"http://127.0.0.1:{stub_port}/target/{{t}}", "bench_full"),
                    "targets": targets,
                    "rate": targets / cycle,
                    "warmup": 0.0,
                    "duration": duration,
                    "timeout_header": "10",
                    "drain": 12,
                },
                [exporter, stub],
            )
            fds_end = procs.open_fds(exporter.pid)
            drained = _wait_drained(port, 60.0)
            fds_after = procs.open_fds(exporter.pid)
            rss_after = procs.rss_bytes(exporter.pid)
            peak = procs.peak_rss_bytes(exporter.pid)
            stub_stats = json.loads(procs.http_get(stub_port, "/__stub/stats"))
        records = result["records"]
        timeout = 10.0
        answered = [r for r in records if r[3] is not None and r[4] == 200]
        on_time = [r for r in answered if r[5] and r[3] <= timeout]
        late = [r for r in answered if r[3] > timeout]
        distinct = len({r[0] % targets for r in records})
        self.results["scale"] = {
            "targets": targets,
            "cycle_seconds": cycle,
            "window_seconds": duration,
            "distinct_targets_probed": distinct,
            "probes_scheduled": len(records),
            "probes_on_time": len(on_time),
            "probes_late": len(late),
            "probes_failed_or_dropped": len(records) - len(on_time) - len(late),
            "probe_latency": _quantiles([r[3] for r in answered]),
            "send_lateness": _quantiles([r[2] for r in records]),
            "rss_bytes_before": rss_before,
            "rss_bytes_end": result["rss_bytes"]["exporter-scale"],
            "rss_bytes_after_drain": rss_after,
            "rss_bytes_peak": peak,
            "fds_before": fds_before,
            "fds_end_of_window": fds_end,
            "fds_after_drain": fds_after,
            "drain_seconds": drained,
            "max_in_flight": result["max_in_flight"],
            "other_load_on_measured_cpu": result.get("noise_on_measured_cpu"),
            "cpu_seconds": result["cpu"],
            "exporter_cpu_ms_per_probe": 1000
            * result["cpu"]["exporter-scale"]
            / max(1, len(records)),
            "stub_sessions_left_open": stub_stats["sessions_open"],
            "on_time_definition": (
                f"HTTP 200, probe_success 1, answered within the {timeout:g}s scrape timeout"
            ),
        }
        sc = self.results["scale"]
        _say(
            f"scale: {sc['probes_on_time']}/{sc['probes_scheduled']} on time, p99 "
            f"{sc['probe_latency'].get('p99', 0) * 1000:.1f} ms, "
            f"RSS {sc['rss_bytes_end'] / 2**20:.0f} MiB, "
            f"fds {fds_before}->{fds_end}->{fds_after}"
        )

    def machine(self) -> dict[str, Any]:
        model = ""
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
        import aiohttp

        return {
            "cpus": self.cpu_count,
            "cpu_model": model,
            "memory_bytes": mem_kib * 1024,
            "kernel": platform.release(),
            "python": platform.python_version(),
            "aiohttp": aiohttp.__version__,
            "nice": procs.NICE,
            "pinning": (
                f"exporter and blackbox_exporter on CPU {self.measured_cpu}; stubs, load generator "
                f"and bare client on CPU {self.load_cpu}"
                if self.measured_cpu is not None
                else "none"
            ),
        }


def _probe_path(target: str, module: str) -> str:
    # {i} / {t} stay unescaped for str.format in the load generator.
    quoted = quote(target, safe="{}")
    return f"/probe?module={module}&target={quoted}"


_METHOD_PHASE = {
    "initialize": "initialize",
    "notifications/initialized": "initialized",
    "tools/list": "tools_list",
    "DELETE": "session_delete",
    "server/discover": "discover",
}
_PHASES = ("initialize", "initialized", "tools_list", "session_delete")


def _exporter_phases(result: dict[str, Any], path: str) -> list[tuple[str, str, float]]:
    """(target path, phase, seconds) from the probe answers' probe_mcp_phase_duration_seconds."""
    out = []
    for record in result["records"]:
        i, phases = record[0], record[6]
        if not phases:
            continue
        for phase in _PHASES:
            if phase in phases:
                out.append((path.format(i=i), phase, phases[phase]))
    return out


def _phase_errors(
    samples: Sequence[Sequence[Any]], actual: dict[tuple[str, str], float]
) -> dict[str, Any]:
    """Per phase: reported minus the stub's own measured delay, and minus the configured delay."""
    by_phase: dict[str, dict[str, list[float]]] = {}
    index: dict[tuple[str, str], float] = {
        (path, _METHOD_PHASE.get(method, method)): seconds
        for (path, method), seconds in actual.items()
    }
    configured = FIDELITY_DELAY_MS / 1000
    for path, phase, seconds in samples:
        true = index.get((path, phase))
        if true is None:
            continue
        entry = by_phase.setdefault(phase, {"vs_actual": [], "vs_configured": [], "stub": []})
        entry["vs_actual"].append(seconds - true)
        entry["vs_configured"].append(seconds - configured)
        entry["stub"].append(true - configured)
    out: dict[str, Any] = {}
    worst = 0.0
    for phase in _PHASES:
        if phase not in by_phase:
            continue
        entry = by_phase[phase]
        q = {name: _quantiles(values, scale=1000) for name, values in entry.items()}
        out[phase] = {
            "overhead_ms": q["vs_actual"],
            "error_vs_configured_ms": q["vs_configured"],
            "stub_lateness_ms": q["stub"],
        }
        worst = max(worst, q["vs_actual"].get("p99", 0.0))
    out["worst_p99_ms"] = worst
    return out


def _quantiles(values: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] * scale

    return {
        "count": n,
        "mean": sum(ordered) / n * scale,
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": ordered[-1] * scale,
    }


def _throughput_row(result: dict[str, Any], concurrency: int, name: str) -> dict[str, Any]:
    window = result["window_seconds"]
    completed = result["completed_in_window"]
    records = result["records"]
    cpu = result["cpu"]
    measured = cpu[name]
    return {
        "concurrency": concurrency,
        "probes": completed,
        "probes_per_second": completed / window,
        "failed": sum(1 for r in records if not r[5]),
        "cpu_ms_per_probe": 1000 * measured / completed if completed else float("nan"),
        "cpu_utilisation": measured / result["elapsed"],
        "latency": _quantiles([r[3] for r in records if r[3] is not None]),
        "rss_bytes": result["rss_bytes"][name],
        "cpu_seconds": cpu,
        "other_load_on_measured_cpu": result.get("noise_on_measured_cpu"),
    }


def _blackbox_version() -> str:
    try:
        out = subprocess.run([BLACKBOX, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def _wait_drained(port: int, limit: float) -> float | None:
    """Seconds until the exporter reports no probe in flight (None: not within `limit`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        text = procs.http_get(port, "/metrics").decode()
        for line in text.splitlines():
            if line.startswith("mcp_exporter_probes_in_flight ") and float(line.split()[1]) == 0:
                time.sleep(0.5)  # the last probes' sockets close just after their answers
                return time.perf_counter() - started
        time.sleep(0.2)
    return None


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


SECTIONS = ("startup", "fidelity", "capacity", "versus_blackbox", "scale")


def main(argv: list[str] | None = None) -> int:
    """Entry point: python -m bench."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in under a minute")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for results.json and results.md (default: bench/, or a temporary "
        "directory with --quick)",
    )
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable)"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="nice value of the benchmark's processes (negative values need root)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--exporter-dir",
        type=Path,
        default=None,
        help="run `python -m exporter` from this checkout (to compare a change with main)",
    )
    parser.add_argument(
        "--exporter-ref",
        default=None,
        help="run the exporter of this git commit (extracted with git archive), not the work tree",
    )
    parser.add_argument(
        "--levels",
        type=lambda v: [int(x) for x in v.split(",")],
        default=None,
        help="capacity concurrency levels, comma-separated",
    )
    args = parser.parse_args(argv)
    if shutil.which("taskset") is None:
        args.no_pin = True
    out_dir = args.out or (
        Path(tempfile.mkdtemp(prefix="bench-quick-")) if args.quick else REPO / "bench"
    )
    run_dir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    procs.NICE = args.nice
    exporter_source = "working tree"
    if args.exporter_ref is not None:
        commit = _git("rev-parse", "--short", args.exporter_ref)
        args.exporter_dir = run_dir / f"exporter-{commit}"
        args.exporter_dir.mkdir()
        archive = subprocess.run(
            ["git", "archive", commit, "exporter"], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(args.exporter_dir)], input=archive, check=True)
        exporter_source = f"commit {commit}"
    elif args.exporter_dir is not None:
        exporter_source = str(args.exporter_dir)
    else:
        dirty = _git("status", "--porcelain", "--", "exporter")
        exporter_source = f"working tree at {_git('rev-parse', '--short', 'HEAD')}" + (
            " with local changes" if dirty else ""
        )
    bench = Bench(args, run_dir)
    if bench.load_cpu is not None:
        os.sched_setaffinity(0, {bench.load_cpu})
    started = time.time()
    sections = args.only or list(SECTIONS)
    try:
        for section in sections:
            if section == "versus_blackbox" and not Path(BLACKBOX).exists():
                _say("blackbox_exporter is not installed; skipping the comparison")
                continue
            getattr(bench, section)()
    finally:
        procs.stop_all()
    results: dict[str, Any] = {
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "exporter": exporter_source,
        "machine": bench.machine(),
        **bench.results,
    }
    results["targets"] = evaluate(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    text = table(results)
    (out_dir / "results.md").write_text(text)
    print(text)
    _say(f"wrote {out_dir / 'results.json'} and {out_dir / 'results.md'} in {results['seconds']} s")
    if not args.keep_logs:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        _say(f"logs in {run_dir}")
    failed = [name for name, t in results["targets"].items() if t.get("pass") is False]
    if failed:
        _say(f"targets missed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
