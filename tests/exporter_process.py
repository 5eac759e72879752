"""The exporter as a real process (`python -m exporter ...`), for what only a process shows:
flag parsing, signals, startup order, TLS on the listener, logs on stderr."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.peers.mcp_servers import free_port, wait_for_port


class ExporterProcess:
    """One exporter process listening on 127.0.0.1 on a free port, its stderr in a file;
    started (unless `wait` is false) once it listens and has loaded its config."""

    def __init__(
        self,
        *args: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.port = free_port()
        self.tls = tls
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                "--web.listen-address",
                f"127.0.0.1:{self.port}",
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        if wait:
            wait_for_port(self.port, self.proc)
            self.wait_until_ready()

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 20,
    ) -> tuple[int, str]:
        """Status and body of one request on a new connection; HTTP errors are answers too.
        `tls` overrides the client context given at start (other CA, client certificate)."""
        request = urllib.request.Request(
            f"{self.base}{path}", method=method, headers=dict(headers or {})
        )
        context = tls or self.tls
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def get(self, path: str, **kwargs: object) -> tuple[int, str]:
        return self.request(path, **kwargs)  # type: ignore[arg-type]

    def wait_until_ready(self, timeout: float = 30) -> None:
        """Until /-/ready says 200 (or, behind basic auth, the config is logged as loaded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited with {self.proc.returncode}:\n{self.log()}"
            status, _ = self.get("/-/ready", timeout=5)
            if status == 200:
                return
            if status == 401:
                self.wait_for_log("config loaded", timeout=deadline - time.monotonic())
                return
            time.sleep(0.05)
        raise AssertionError(f"not ready within {timeout}s:\n{self.log()}")

    def signal(self, number: signal.Signals) -> None:
        self.proc.send_signal(number)

    def log(self) -> str:
        """Everything the process has written so far."""
        self._log.flush()
        return self.log_path.read_text()

    def wait_for_log(self, text: str, timeout: float = 10) -> str:
        """The log once it contains `text` (AssertionError after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()):
            assert self.proc.poll() is None, f"exited with {self.proc.returncode}:\n{log}"
            assert time.monotonic() < deadline, f"{text!r} not logged:\n{log}"
            time.sleep(0.05)
        return log

    def stop(self, timeout: float = 15) -> str:
        """SIGTERM, wait for the exit, and return the whole log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
        return self.log_path.read_text()


StartExporter = Callable[..., ExporterProcess]


@pytest.fixture
def start_exporter(tmp_path: Path) -> Iterator[StartExporter]:
    """Start exporter processes with the given flags; each is stopped after the test."""
    started: list[ExporterProcess] = []

    def start(*args: str, **kwargs: object) -> ExporterProcess:
        log_path = tmp_path / f"exporter-{len(started)}.log"
        process = ExporterProcess(*args, log_path=log_path, **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
