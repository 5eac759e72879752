"""CPU per probe inside one process, without the HTTP server in front: the probe path alone.

    python -m bench.inprocess --old DIR [--probes 300] [--rounds 7]

Each checkout (this one and DIR) runs `run_probe` in a loop on uvloop against the zero-delay stub
in its own process, full probe and single request, and reports the median CPU milliseconds per
probe over the rounds. Writes bench/out/inprocess.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parent.parent

# Runs inside the measured checkout (PYTHONPATH): only its own exporter package is imported.
_LOOP = """
import asyncio, json, statistics, subprocess, sys, time
import uvloop
from exporter.config import parse
from exporter.probe import run_probe

MODULES = '''
modules:
  full:
    prober: mcp
    timeout: 10s
    mcp: {transport: streamable_http, protocol_version: "2025-11-25", steps: [tools_list]}
  single:
    prober: mcp
    timeout: 10s
    mcp: {transport: streamable_http, protocol_version: "2026-07-28", steps: []}
'''

async def main(probes, rounds, repo):
    stub = subprocess.Popen([sys.executable, "-m", "bench.stub", "--port", "0"],
                            stdout=subprocess.PIPE, cwd=repo)
    port = int(stub.stdout.readline())
    config = parse(MODULES, "bench")
    url = f"http://127.0.0.1:{port}/mcp"
    out = {}
    try:
        for name in ("full", "single"):
            module = config.modules[name]
            for _ in range(probes):
                outcome = await run_probe(url, module, 10)
            assert outcome.success, outcome.failure
            costs = []
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(probes):
                    await run_probe(url, module, 10)
                costs.append((time.process_time() - started) / probes * 1000)
            out[name] = {"median_ms": statistics.median(costs), "rounds_ms": costs}
    finally:
        stub.kill()
    print(json.dumps(out))

uvloop.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
"""


def _measure(checkout: Path, probes: int, rounds: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    result = subprocess.run(
        [sys.executable, "-c", _LOOP, str(probes), str(rounds), str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=checkout,
    )
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def main(argv: list[str] | None = None) -> int:
    """Entry point: python -m bench.inprocess."""
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("--old", type=Path, required=True, help="checkout of the older commit")
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    results = {
        "this": _measure(REPO, args.probes, args.rounds),
        "old": _measure(args.old.resolve(), args.probes, args.rounds),
        "old_checkout": str(args.old),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "inprocess.json").write_text(json.dumps(results, indent=2))
    for name in ("full", "single"):
        this = results["this"][name]["median_ms"]  # type: ignore[index]
        old = results["old"][name]["median_ms"]  # type: ignore[index]
        print(f"{name}: this {this:.3f} ms, old {old:.3f} ms, ratio {this / old:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
