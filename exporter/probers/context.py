"""What every prober receives: the target, the module, the registry, the log and the clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..config import RuntimeModule
from ..history import ProbeLog
from ..metrics import ProbeRegistry
from .failure import Hop
from .http import HTTPSession, Limits


@dataclass
class ProbeContext:
    """One probe's state. Created fresh for every probe; nothing in it outlives the probe."""

    target: str
    module: RuntimeModule
    registry: ProbeRegistry
    log: ProbeLog
    timeout: float
    hop: Hop = "client_to_upstream"
    phase: str = "connect"
    phase_seconds: dict[str, float] = field(default_factory=dict)
    steps: dict[str, bool] = field(default_factory=dict)
    hops: dict[str, bool] = field(default_factory=dict)
    jsonrpc_error_code: int = 0
    last_status: int | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    _http: HTTPSession | None = None

    @property
    def http(self) -> HTTPSession:
        """The probe's HTTP session, created on first use with the module's TLS and limits."""
        if self._http is None:
            module = self.module.config
            limits = module.limits
            self._http = HTTPSession(
                record_phase=self._record_connection_phase,
                limits=Limits(
                    max_body_bytes=limits.max_response_bytes,
                    max_header_bytes=limits.max_header_bytes,
                    max_redirects=limits.max_redirects,
                ),
                ssl_context=self.module.ssl_context,
                server_name=module.tls_config.server_name,
                address_policy=self.module.policy.check_address,
                url_policy=self.module.policy.check_url,
            )
        return self._http

    def _record_connection_phase(self, phase: str, seconds: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + seconds
        self.log.debug("connection phase", phase=phase, seconds=round(seconds, 6))
        now = time.time()
        self.log.span(self.hop, phase, now - seconds, now, seconds)

    @contextmanager
    def step(self, phase: str, hop: Hop | None = None) -> Iterator[None]:
        """Time one exchange as `phase`, excluding connection set-up done inside it.

        The current hop and phase are what a timeout or crash is attributed to.
        """
        if hop is not None:
            self.hop = hop
        self.phase = phase
        setup_before = self._http.setup_seconds if self._http is not None else 0.0
        span_hop = self.hop
        wall_started = time.time()
        started = time.perf_counter()
        try:
            yield
        finally:
            ended = time.perf_counter()
            # The phase ends when its answer arrived, not when this coroutine got to run again.
            arrived = self._http.last_data_at if self._http is not None else 0.0
            if started <= arrived <= ended:
                ended = arrived
            elapsed = ended - started
            setup_after = self._http.setup_seconds if self._http is not None else 0.0
            elapsed = max(0.0, elapsed - (setup_after - setup_before))
            self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + elapsed
            # Connection set-up inside the step comes first and has spans of its own: the
            # step's bar is its own time, ending when its answer arrived.
            wall_ended = wall_started + (ended - started)
            self.log.span(span_hop, phase, wall_ended - elapsed, wall_ended, elapsed)

    def note(self, text: str) -> None:
        """A remark for the one-shot report and debug output (e.g. what to check next)."""
        self.notes.append(text)

    def release(self) -> None:
        """Drop the HTTP session once the probe's metrics are written.

        The session refers back to this context (it records connection phases here); letting
        go of it keeps a finished probe free of reference cycles, so its memory is returned at
        once instead of by the garbage collector's slow full collections.
        """
        self._http = None

    async def aclose(self) -> None:
        """Close the probe's connections."""
        if self._http is not None:
            await self._http.aclose()
