"""Processes of the benchmark: start them pinned to a CPU, read their own accounting from /proc."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# The benchmark's processes run ahead of other work on a shared machine when we may raise their
# priority (root): the background load then takes only what they leave. Set by the orchestrator.
# Under sched_autogroup (the default for desktop-like kernels) nice orders only the processes of
# one session, so it does not keep other sessions' load off the measured CPU.
NICE = 0
STARTED: list[Proc] = []


def cpus() -> list[int]:
    """CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


def listening_ports(pid: int) -> list[int]:
    """TCP ports the process listens on (from its socket fds and /proc/net/tcp{,6})."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                # fields: sl, local_address, rem_address, st, ..., inode (index 9)
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_listening(proc: Proc, timeout: float = 15.0, poll: float = 0.002) -> int:
    """The port `proc` listens on, once it does (it was started on port 0: no race for ports)."""
    started = time.perf_counter()
    while True:
        ports = listening_ports(proc.pid)
        if ports:
            return ports[0]
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} before listening")
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{proc.name} did not listen within {timeout}s")
        time.sleep(poll)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, from /proc/<pid>/stat (the kernel's own accounting)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_busy(cpu: int | None) -> float:
    """Seconds CPU `cpu` (or all CPUs) spent busy since boot, from /proc/stat."""
    name = "cpu" if cpu is None else f"cpu{cpu}"
    with open("/proc/stat") as f:
        for line in f:
            fields = line.split()
            if fields[0] == name:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
                return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
    return 0.0


def rss_bytes(pid: int) -> int:
    """Resident set size now."""
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def peak_rss_bytes(pid: int) -> int:
    """Peak resident set size (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def open_fds(pid: int) -> int:
    """Open file descriptors."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    """Threads of the process."""
    return len(os.listdir(f"/proc/{pid}/task"))


def http_ok(port: int, path: str, timeout: float = 0.5) -> bool:
    """GET path on 127.0.0.1:port answers 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            head = sock.recv(64)
        return head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200"))
    except OSError:
        return False


def http_get(port: int, path: str, timeout: float = 10.0) -> bytes:
    """GET path and return the body (the stub's answers carry Content-Length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += sock.recv(65536)
        head, _, body = raw.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            data = sock.recv(1 << 20)
            if not data:
                break
            body += data
    return body


@dataclass
class Proc:
    """A started process and what it is for."""

    name: str
    popen: subprocess.Popen[Any]
    log: IO[Any] | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.log is not None:
            self.log.close()


def start(
    name: str,
    argv: list[str],
    *,
    cpu: int | None,
    log_dir: Path,
    stdout_pipe: bool = False,
    cwd: Path | None = None,
) -> Proc:
    """Start argv pinned to `cpu`, at priority NICE (taskset and nice exec: same pid)."""
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    if NICE:
        argv = ["nice", "-n", str(NICE), *argv]
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed by Proc.stop
    popen = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE if stdout_pipe else log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        text=stdout_pipe,
    )
    proc = Proc(name, popen, log)
    STARTED.append(proc)
    return proc


def stop_all() -> None:
    """Stop every process still running (a section that failed half-way leaves none behind)."""
    for proc in STARTED:
        proc.stop()
    STARTED.clear()


def wait_ready(
    port: int, path: str, proc: Proc, timeout: float = 15.0, poll: float = 0.002
) -> float:
    """Seconds until GET path answers 200; raises if the process dies or time runs out."""
    started = time.perf_counter()
    while True:
        if http_ok(port, path):
            return time.perf_counter() - started
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode} before it was ready"
            )
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{proc.name} not ready on :{port}{path} within {timeout}s")
        time.sleep(poll)


@contextlib.contextmanager
def running(*procs: Proc) -> Any:
    """Stop the processes however the block ends."""
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()
