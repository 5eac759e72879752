"""What every prober receives: the target, the module, the registry, the log and the clock."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Final

from ..config import RuntimeModule
from ..history import ProbeLog
from ..metrics import ProbeRegistry
from ..net import Limits, Session
from ..redact import Redactor, query_secrets
from ..untrusted import clean
from .failure import Hop
from .findings import CompletionReport, GatewayReport, MCPFindings, OAuthFindings
from .http import ProbeHTTP
from .www_authenticate import AuthChallenge

# Enough for every step of a probe; a target that makes a probe loop cannot grow it unbounded.
_MAX_RECORDED_REQUESTS: Final = 64


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the probe sent it, for the replay commands (exporter/replay.py).

    `secrets` names credentials that travel outside the headers (a client secret in a form
    body): (shell variable, value).
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    phase: str
    secrets: tuple[tuple[str, str], ...] = ()


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
    # The last 401/403 challenge an MCP request got (what discovery after it starts from).
    auth_challenge: AuthChallenge | None = None
    notes: list[str] = field(default_factory=list)
    # What the probers found (typed: the contract between probers, report and debug output).
    mcp: MCPFindings = field(default_factory=MCPFindings)
    oauth: OAuthFindings | None = None
    gateway: GatewayReport | None = None
    completion: CompletionReport | None = None
    gateway_health: dict[str, str] | None = None
    # The hop of requests to the target, and headers a gateway prober adds to every request.
    target_hop: Hop = "client_to_upstream"
    target_headers: dict[str, str] = field(default_factory=dict)
    # Whether discovery already ran after an auth failure in this probe (it runs once).
    discovery_ran: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)
    _http: ProbeHTTP | None = None
    _configured: Redactor | None = None

    @property
    def http_client(self) -> ProbeHTTP | None:
        """The probe's HTTP client if a request was made (None: nothing was sent)."""
        return self._http

    @property
    def current_setup(self) -> str | None:
        """The connection phase under way (dns, connect, tls, proxy_connect), if any: what a
        deadline that ends the probe now is attributed to."""
        return self._http.current_setup if self._http is not None else None

    @property
    def http(self) -> ProbeHTTP:
        """The probe's HTTP client, created on first use with the module's TLS, limits, proxy."""
        if self._http is None:
            module = self.module.config
            limits = module.limits
            self._http = ProbeHTTP(
                Session(
                    record_phase=self._record_connection_phase,
                    limits=Limits(
                        max_body_bytes=limits.max_response_bytes,
                        max_header_bytes=limits.max_header_bytes,
                        max_redirects=limits.max_redirects,
                    ),
                    ssl_context=self.module.ssl_context,
                    server_name=module.tls_config.server_name,
                    check_address=self.module.policy.check_address,
                    check_url=self.module.policy.check_url,
                    http_version=module.http_client.http_version,
                    proxy=self.module.proxy,
                )
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
        if self._http is not None:
            self._http.start_step()
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
            setup_after = self._http.setup_seconds if self._http is not None else 0.0
            sent = self._http.step_first_send if self._http is not None else None
            if sent is not None and started <= sent[0] <= ended:
                # From the request on the wire: the exporter's own work before it (building
                # the request, a busy event loop) is not the target's time.
                elapsed = ended - sent[0] - (setup_after - sent[1])
            else:
                elapsed = ended - started - (setup_after - setup_before)
            elapsed = max(0.0, elapsed)
            self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + elapsed
            # Connection set-up inside the step comes first and has spans of its own: the
            # step's bar is its own time, ending when its answer arrived.
            wall_ended = wall_started + (ended - started)
            self.log.span(span_hop, phase, wall_ended - elapsed, wall_ended, elapsed)

    def configured_redactor(self) -> Redactor:
        """Scrubs the module's secrets and the credentials in the target's query string."""
        if self._configured is None:
            values = query_secrets(self.target)
            for secret in self.module.secrets:
                # An unreadable secret cannot have been sent, so there is nothing to scrub.
                with suppress(OSError, KeyError):
                    values.append(secret.reveal())
            self._configured = Redactor(values)
        return self._configured

    def redact(self, text: str) -> str:
        """`text` without any credential this probe has configured or has sent so far; for
        excerpts of a target's text, before they are cut to length."""
        # What was sent first: it knows whole header values ("Bearer ..."), the config only
        # the token, and the same order as the probe's final redactor keeps the masks alike.
        if self._http is not None:
            text = self._http.redactor(text)
        return self.configured_redactor()(text)

    def record_request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | None,
        phase: str,
        secrets: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Remember a request about to be sent, so the probe can be replayed with curl."""
        if len(self.requests) < _MAX_RECORDED_REQUESTS:
            items = headers.items() if isinstance(headers, Mapping) else headers
            self.requests.append(
                RecordedRequest(method, url, tuple(items), body, phase, tuple(secrets))
            )

    def note(self, text: str) -> None:
        """A remark for the one-shot report and debug output (e.g. what to check next)."""
        self.notes.append(clean(text, 1000, one_line=True))

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
