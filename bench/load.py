"""The load generator: drives `/probe` (or blackbox's `/probe`) closed-loop or at a fixed rate.

Runs as its own process: python -m bench.load '<json spec>'. It prints `START` when the measured
window opens and `END` when it closes (the orchestrator samples CPU counters of every process at
those two lines), then one JSON line with what it measured. Only probes *scheduled* inside the
window are counted, and the window's throughput counts probes *completed* inside it.

Spec keys: mode (closed|open), port, path (with {i} for the probe number and {t} for the target
number), targets (distinct targets; probe i uses target i % targets), warmup, duration,
concurrency (closed), rate (open), timeout_header (X-Prometheus-Scrape-Timeout-Seconds),
phases (parse probe_mcp_phase_duration_seconds of every answer), drain (seconds to wait for
probes still in flight after the window).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from typing import Any

from .client import HTTPError, Pool

_perf = time.perf_counter
_PHASE_RE = re.compile(
    rb'^probe_mcp_phase_duration_seconds\{phase="([a-z_]+)"\} (\S+)$', re.MULTILINE
)
_SUCCESS_RE = re.compile(rb"^probe_success (\S+)$", re.MULTILINE)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


class Run:
    """One measured run and its records."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.pool = Pool(int(spec["port"]))
        self.path: str = spec["path"]
        self.targets: int = int(spec.get("targets") or 0)
        self.headers = (
            f"X-Prometheus-Scrape-Timeout-Seconds: {spec['timeout_header']}\r\n"
            if spec.get("timeout_header")
            else ""
        )
        self.want_phases = bool(spec.get("phases"))
        self.window_start = 0.0
        self.window_end = float("inf")
        # One record per probe scheduled inside the window:
        # [i, scheduled offset, send lateness, latency or None, status, success, phases or None]
        self.records: list[list[Any]] = []
        self.completed_in_window = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def _path(self, i: int) -> str:
        t = i % self.targets if self.targets else i
        return self.path.format(i=i, t=t)

    async def one(self, i: int, scheduled: float) -> None:
        sent = _perf()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        status = 0
        body = b""
        try:
            status, body = await self.pool.get(self._path(i), self.headers)
        except (HTTPError, OSError) as exc:
            body = str(exc).encode()
        finally:
            self.in_flight -= 1
        done = _perf()
        if self.window_start <= done <= self.window_end:
            self.completed_in_window += 1
        if not (self.window_start <= scheduled < self.window_end):
            return
        success = None
        phases = None
        if status == 200:
            match = _SUCCESS_RE.search(body)
            success = match is not None and float(match.group(1)) == 1.0
            if self.want_phases:
                phases = {m.group(1).decode(): float(m.group(2)) for m in _PHASE_RE.finditer(body)}
        elif status == 0:
            success = False
        self.records.append(
            [
                i,
                scheduled - self.window_start,
                sent - scheduled,
                done - sent,
                status,
                success,
                phases,
            ]
        )

    async def closed(self) -> None:
        concurrency = int(self.spec["concurrency"])
        counter = iter(range(10**12))
        stop_at = self.window_end

        async def worker() -> None:
            while True:
                now = _perf()
                if now >= stop_at:
                    return
                await self.one(next(counter), now)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def open(self) -> None:
        rate = float(self.spec["rate"])
        t0 = self.window_start - float(self.spec.get("warmup", 0))
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while True:
            scheduled = t0 + i / rate
            if scheduled >= self.window_end:
                break
            delay = scheduled - _perf()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(i, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        drain = float(self.spec.get("drain", 15))
        if tasks:
            await asyncio.wait(tasks, timeout=drain)

    async def run(self) -> dict[str, Any]:
        warmup = float(self.spec.get("warmup", 0))
        duration = float(self.spec["duration"])
        now = _perf()
        self.window_start = now + warmup
        self.window_end = self.window_start + duration
        signals = asyncio.create_task(self._signals())
        cpu_at: list[float] = []
        if self.spec["mode"] == "closed":
            await self.closed()
        else:
            await self.open()
        await signals
        cpu_at = self._cpu_marks
        self.pool.close()
        return {
            "records": self.records,
            "completed_in_window": self.completed_in_window,
            "window_seconds": duration,
            "connections_opened": self.pool.opened,
            "max_in_flight": self.max_in_flight,
            "cpu_seconds": cpu_at[1] - cpu_at[0] if len(cpu_at) == 2 else None,
        }

    async def _signals(self) -> None:
        self._cpu_marks: list[float] = []
        for mark, at in (("START", self.window_start), ("END", self.window_end)):
            delay = at - _perf()
            if delay > 0:
                await asyncio.sleep(delay)
            self._cpu_marks.append(_cpu())
            sys.stdout.write(mark + "\n")
            sys.stdout.flush()


def main() -> None:
    """Entry point: python -m bench.load '<json spec>'."""
    spec = json.loads(sys.argv[1])
    result = asyncio.run(Run(spec).run())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
