"""Both HTTP stacks side by side: this checkout against an older one, and both against
blackbox_exporter doing the same single request, on http and on https, in paired windows.

    python -m bench.stacks --old DIR [--rounds 6] [--window 2] [--concurrency 16]

DIR is a checkout of an earlier commit (for example the last one with the hand-written client:
`git worktree add /tmp/old f15f595`). The three processes run at once, pinned to the same CPU, and
the load generator drives them in turn in short windows against one zero-delay stub per scheme, so
all see the same background load. For each window pair the ratio of CPU seconds per probe is kept;
the medians are the answer. Writes bench/out/stacks.json and stacks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import trustme

from . import procs
from .__main__ import BLACKBOX, DISCOVER_BODY, Bench, _probe_path

OUT = Path(__file__).resolve().parent / "out"


def _configs(ca_file: Path) -> tuple[str, str]:
    exporter = ""
    for scheme in ("http", "https"):
        tls = f"\n      tls_config: {{ca_file: {ca_file}}}" if scheme == "https" else ""
        exporter += f"""
  full_{scheme}:
    prober: mcp
    timeout: 10s
    mcp:
      transport: streamable_http
      protocol_version: "2025-11-25"
      steps: [tools_list]{tls}
  single_{scheme}:
    prober: mcp
    timeout: 10s
    mcp:
      transport: streamable_http
      protocol_version: "2026-07-28"
      steps: []{tls}
"""
    blackbox = f"""
modules:
  discover:
    prober: http
    timeout: 10s
    http:
      method: POST
      headers:
        Content-Type: application/json
        Accept: application/json, text/event-stream
      body: '{DISCOVER_BODY}'
      valid_status_codes: [200]
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ['"result"']
      tls_config: {{ca_file: {ca_file}}}
"""
    return "modules:" + exporter, blackbox


def main(argv: list[str] | None = None) -> int:
    """Entry point: python -m bench.stacks."""
    parser = argparse.ArgumentParser(prog="python -m bench.stacks", description=__doc__)
    parser.add_argument("--old", type=Path, required=True, help="checkout of the older commit")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-stacks-"))
    settings = argparse.Namespace(quick=True, no_pin=False, exporter_dir=None, levels=None)
    bench = Bench(settings, run_dir)
    ca = trustme.CA()
    ca_file = run_dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf = ca.issue_cert("127.0.0.1")
    cert_file, key_file = run_dir / "stub.crt", run_dir / "stub.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert_file))
    leaf.private_key_pem.write_to_path(str(key_file))
    exporter_yml, blackbox_yml = _configs(ca_file)
    bench.config.write_text(exporter_yml)
    bench.blackbox_config.write_text(blackbox_yml)
    try:
        return _run(args, bench, run_dir, (cert_file, key_file))
    finally:
        procs.stop_all()


def _run(args: argparse.Namespace, bench: Bench, run_dir: Path, tls: tuple[Path, Path]) -> int:
    plain, plain_port = bench.stub("stub-http", 0.0)
    secure = procs.start(
        "stub-https",
        [
            sys.executable,
            "-m",
            "bench.stub",
            "--port=0",
            f"--tls-cert={tls[0]}",
            f"--tls-key={tls[1]}",
        ],
        cpu=bench.load_cpu,
        log_dir=run_dir,
        stdout_pipe=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert secure.popen.stdout is not None
    secure_port = int(secure.popen.stdout.readline())
    new, new_port, _ = bench.exporter("exporter-new")
    old, old_port, _ = bench.exporter("exporter-old", args.old.resolve())
    blackbox = procs.start(
        "blackbox",
        [BLACKBOX, f"--config.file={bench.blackbox_config}", "--web.listen-address=127.0.0.1:0"],
        cpu=bench.measured_cpu,
        log_dir=run_dir,
    )
    bb_port = procs.wait_listening(blackbox)
    ports = {"http": plain_port, "https": secure_port}
    cases = [
        ("new_full", new, new_port, "full"),
        ("old_full", old, old_port, "full"),
        ("new_single", new, new_port, "single"),
        ("old_single", old, old_port, "single"),
        ("blackbox_single", blackbox, bb_port, "discover"),
    ]
    samples: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    with procs.running(plain, secure, new, old, blackbox):
        procs.wait_ready(bb_port, "/-/healthy", blackbox)
        for _round in range(args.rounds):
            for scheme, port in ports.items():
                target = f"{scheme}://127.0.0.1:{port}/stacks/{{i}}"
                for name, proc, proc_port, module in cases:
                    mod = module if name.startswith("blackbox") else f"{module}_{scheme}"
                    spec: dict[str, Any] = {
                        "mode": "closed",
                        "port": proc_port,
                        "path": _probe_path(target, mod),
                        "concurrency": args.concurrency,
                        "warmup": 0.3,
                        "duration": args.window,
                        "timeout_header": "10",
                    }
                    result = bench.load(spec, [proc])
                    completed = max(1, result["completed_in_window"])
                    key = f"{name}@{scheme}"
                    samples.setdefault(key, []).append(1000 * result["cpu"][proc.name] / completed)
                    failures[key] = failures.get(key, 0) + sum(
                        1 for r in result["records"] if not r[5]
                    )
            print(
                " ".join(f"{k} {v[-1]:.3f}" for k, v in samples.items() if "http" in k), flush=True
            )
    summary = _summary(samples, failures, args)
    OUT.mkdir(exist_ok=True)
    (OUT / "stacks.json").write_text(json.dumps(summary, indent=2))
    (OUT / "stacks.md").write_text(_markdown(summary))
    print(_markdown(summary))
    return 0


def _summary(
    samples: dict[str, list[float]], failures: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    def ratio(a: str, b: str) -> float:
        pairs = zip(samples[a], samples[b], strict=True)
        return statistics.median(x / y for x, y in pairs)

    out: dict[str, Any] = {
        "old": str(args.old),
        "rounds": args.rounds,
        "window_seconds": args.window,
        "concurrency": args.concurrency,
        "cpu_ms_per_probe": {k: statistics.median(v) for k, v in samples.items()},
        "failures": failures,
        "ratios": {},
    }
    for scheme in ("http", "https"):
        bb = f"blackbox_single@{scheme}"
        out["ratios"][scheme] = {
            "new_single/blackbox_single": ratio(f"new_single@{scheme}", bb),
            "old_single/blackbox_single": ratio(f"old_single@{scheme}", bb),
            "new_full/blackbox_single": ratio(f"new_full@{scheme}", bb),
            "old_full/blackbox_single": ratio(f"old_full@{scheme}", bb),
            "new_full/old_full": ratio(f"new_full@{scheme}", f"old_full@{scheme}"),
        }
    return out


def _markdown(summary: dict[str, Any]) -> str:
    lines = [
        "# HTTP stacks side by side",
        "",
        f"Paired windows: {summary['rounds']} rounds of {summary['window_seconds']} s per case, "
        f"{summary['concurrency']} concurrent probes, one zero-delay stub per scheme; "
        f"old = `{summary['old']}`.",
        "",
        "| case | http ms CPU/probe | https ms CPU/probe |",
        "|---|---|---|",
    ]
    cpu = summary["cpu_ms_per_probe"]
    for name in ("new_full", "old_full", "new_single", "old_single", "blackbox_single"):
        lines.append(f"| {name} | {cpu[name + '@http']:.3f} | {cpu[name + '@https']:.3f} |")
    lines += ["", "| ratio (median of pairs) | http | https |", "|---|---|---|"]
    for key in summary["ratios"]["http"]:
        http, https = summary["ratios"]["http"][key], summary["ratios"]["https"][key]
        lines.append(f"| {key} | {http:.2f} | {https:.2f} |")
    failed = {k: v for k, v in summary["failures"].items() if v}
    lines += ["", f"Failed probes: {failed or 'none'}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
