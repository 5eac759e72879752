"""Paired comparison of two exporter checkouts' CPU per full probe, robust to a busy machine.

    python -m bench.ab DIR_A DIR_B [--rounds 10] [--window 2] [--concurrency 32]

Both exporters run at once, pinned to the same CPU; the load generator drives them in
alternating short windows against one zero-delay stub, so both see the same background load.
Each pair of windows gives a ratio B/A of CPU seconds per probe; the median ratio is the answer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from . import procs
from .__main__ import Bench, _probe_path


def main(argv: list[str] | None = None) -> int:
    """Entry point: python -m bench.ab."""
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--module", default="bench_full")
    args = parser.parse_args(argv)
    settings = argparse.Namespace(quick=True, no_pin=False, exporter_dir=None, levels=None)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    bench = Bench(settings, run_dir)
    try:
        return _compare(args, bench)
    finally:
        procs.stop_all()


def _compare(args: argparse.Namespace, bench: Bench) -> int:
    stub, stub_port = bench.stub("stub-ab", 0.0)
    a, a_port, _ = bench.exporter("exporter-a", args.a.resolve())
    b, b_port, _ = bench.exporter("exporter-b", args.b.resolve())
    per: dict[str, list[float]] = {"a": [], "b": []}
    ratios: list[float] = []
    with procs.running(stub, a, b):
        path = _probe_path(f"http://127.0.0.1:{stub_port}/ab/{{i}}", args.module)
        for _round in range(args.rounds):
            costs: dict[str, float] = {}
            for name, proc, port in (("a", a, a_port), ("b", b, b_port)):
                spec: dict[str, Any] = {
                    "mode": "closed",
                    "port": port,
                    "path": path,
                    "concurrency": args.concurrency,
                    "warmup": 0.3,
                    "duration": args.window,
                }
                result = bench.load(spec, [proc])
                completed = result["completed_in_window"]
                costs[name] = 1000 * result["cpu"][proc.name] / max(1, completed)
                failed = sum(1 for r in result["records"] if not r[5])
                if failed:
                    print(f"{name}: {failed} probes failed", flush=True)
                per[name].append(costs[name])
            ratios.append(costs["b"] / costs["a"])
            print(f"a {costs['a']:.3f} ms  b {costs['b']:.3f} ms  b/a {ratios[-1]:.3f}", flush=True)
    summary = {
        "a": str(args.a),
        "b": str(args.b),
        "a_median_ms": statistics.median(per["a"]),
        "b_median_ms": statistics.median(per["b"]),
        "a_min_ms": min(per["a"]),
        "b_min_ms": min(per["b"]),
        "median_ratio_b_over_a": statistics.median(ratios),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
