"""/probe: parse target and module, run the prober with a deadline, answer with its registry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import structlog

from .config import RuntimeModule, module_yaml
from .history import ProbeLog
from .metrics import ProbeRegistry
from .probers.context import ProbeContext
from .probers.deviations import write_deviations
from .probers.discovery import probe_discovery, write_oauth_metrics
from .probers.failure import ProbeFailure, failure_from
from .probers.litellm import probe_litellm
from .probers.litellm_completion import probe_litellm_completion
from .probers.litellm_health import probe_litellm_health
from .probers.mcp import probe_mcp
from .redact import Redactor, display_url
from .replay import render as render_replay
from .untrusted import clean

ProbeFn = Callable[[ProbeContext], Awaitable[bool]]

PROBERS: Final[dict[str, ProbeFn]] = {
    "mcp": probe_mcp,
    "discovery": probe_discovery,
    "litellm_completion": probe_litellm_completion,
    "litellm_health": probe_litellm_health,
}
DEFAULT_MODULE: Final = "mcp"
_CLOSE_GRACE: Final = 1.0


def prober_for(module: RuntimeModule) -> ProbeFn:
    """The module's prober. An mcp module with a litellm block talks MCP through the gateway:
    the same conversation, plus the gateway's headers, debug headers and diagnoses."""
    if module.config.prober == "mcp" and module.config.mcp.litellm is not None:
        return probe_litellm
    return PROBERS[module.config.prober]


logger = structlog.get_logger("mcp_exporter.probe")


class BadRequest(Exception):
    """A /probe request that cannot run; the message is the one-line reason."""


def parse_target(raw: str | None) -> str:
    """Validate the target URL; raise BadRequest with a one-line reason."""
    if raw is None or raw.strip() == "":
        raise BadRequest("target parameter is missing")
    target = raw.strip()
    if len(target) > 2048:
        raise BadRequest("target is longer than 2048 characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        raise BadRequest("target contains whitespace or control characters")
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"target is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadRequest(f"target scheme must be http or https, got {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise BadRequest("target URL has no host")
    if parts.username is not None or parts.password is not None:
        raise BadRequest("target URL must not carry credentials; put them in the module")
    if port == 0:
        raise BadRequest("target port 0 is not valid")
    return target


def display_target(target: str) -> str:
    """The target as logs show it: without a query string, which may carry credentials."""
    return display_url(target)


def effective_timeout(header: str | None, module_timeout: float, offset: float) -> float:
    """Scrape timeout minus the offset, capped by the module's timeout (blackbox's rule)."""
    if header is None or header.strip() == "":
        return module_timeout
    try:
        scrape_timeout = float(header)
    except ValueError:
        raise BadRequest(
            f"X-Prometheus-Scrape-Timeout-Seconds is not a number: {header[:40]!r}"
        ) from None
    if not scrape_timeout > 0:
        raise BadRequest("X-Prometheus-Scrape-Timeout-Seconds must be positive")
    budget = scrape_timeout - offset
    if budget <= 0:
        budget = scrape_timeout
    return min(budget, module_timeout)


@dataclass(slots=True)
class ProbeOutcome:
    """What one probe produced."""

    success: bool
    registry: ProbeRegistry
    log: ProbeLog
    duration: float
    failure: ProbeFailure | None
    context: ProbeContext
    # Scrubs every credential of the probe; for surfaces that show the probe's findings.
    redact: Callable[[str], str] = str

    @property
    def reason(self) -> str:
        """The failure reason, '' on success."""
        return self.failure.reason if self.failure else ""


async def run_probe(target: str, module: RuntimeModule, budget: float) -> ProbeOutcome:
    """Run one probe from nothing and build its registry. Never raises for target behaviour."""
    registry = ProbeRegistry()
    log = ProbeLog()
    timeout = budget
    ctx = ProbeContext(target=target, module=module, registry=registry, log=log, timeout=timeout)
    prober = prober_for(module)
    log.info(
        "beginning probe",
        module=module.name,
        prober=module.config.prober,
        timeout_seconds=round(timeout, 3),
    )
    started = time.perf_counter()
    failure: ProbeFailure | None = None
    try:
        async with asyncio.timeout(timeout):
            await prober(ctx)
    except TimeoutError:
        failure = _timeout_failure(ctx, timeout)
    except ProbeFailure as exc:
        # The traceback and chained exceptions would tie this frame and every frame of the
        # probe into reference cycles that only the garbage collector frees (in long pauses).
        failure = exc.with_traceback(None)
        failure.__context__ = failure.__cause__ = None
    except Exception as exc:  # a prober bug or an unexpected error must not escape the probe
        failure = _unexpected_failure(ctx, exc)
    finally:
        try:
            async with asyncio.timeout(_CLOSE_GRACE):
                await ctx.aclose()
        except (TimeoutError, OSError):
            log.warning("closing connections took too long")
    duration = time.perf_counter() - started
    success = failure is None
    redact = _redactor(ctx)
    if failure is not None:
        # Redacted before it is bounded, so a cut cannot leave part of a secret behind.
        failure.detail = clean(redact(str(failure.detail)), 1000, one_line=True)
        failure.args = (failure.detail,)  # str(failure) is the same safe text
        log.error(
            "probe failed",
            hop=failure.hop,
            phase=failure.phase,
            reason=failure.reason,
            detail=failure.detail,
        )
    else:
        log.info("probe succeeded", duration_seconds=round(duration, 6))
    log.redactor = redact
    if ctx.notes:
        ctx.notes = [redact(note) for note in ctx.notes]
    _finish_registry(ctx, success, duration, failure)
    # A server can echo a credential into what becomes a label (its name, a header).
    registry.seal(redact)
    ctx.release()
    return ProbeOutcome(success, registry, log, duration, failure, ctx, redact)


def _redactor(ctx: ProbeContext) -> Callable[[str], str]:
    """Scrubs every credential this probe sent (tokens fetched on the way included) or has
    configured, and those in the target's query string. Built from the context's redactors,
    not the context: the log keeps this function, and the context keeps the log."""
    sent = ctx._http.redactor if ctx._http is not None else Redactor()
    configured = ctx.configured_redactor()

    def redact(text: str) -> str:
        return configured(sent(text))

    return redact


def _timeout_failure(ctx: ProbeContext, timeout: float) -> ProbeFailure:
    setup = ctx._http.current_setup if ctx._http is not None else None
    if setup == "connect":
        return ProbeFailure(
            ctx.hop,
            "connect",
            "connect_timeout",
            f"connect did not finish within the {timeout:.3g}s probe timeout",
        )
    phase = setup or ctx.phase
    return ProbeFailure(
        ctx.hop, phase, "timeout", f"{phase} did not finish within the {timeout:.3g}s probe timeout"
    )


def _unexpected_failure(ctx: ProbeContext, exc: Exception) -> ProbeFailure:
    setup = ctx._http.current_setup if ctx._http is not None else None
    failure = failure_from(exc, ctx.hop, ctx.phase, setup)
    if failure.reason == "internal":
        logger.error("prober error", exc_info=exc, phase=failure.phase, module=ctx.module.name)
    return failure


def _finish_registry(
    ctx: ProbeContext, success: bool, duration: float, failure: ProbeFailure | None
) -> None:
    """The metrics every probe has, written once, here."""
    reg = ctx.registry
    reg.set("probe_success", "Whether the probe succeeded.", 1 if success else 0)
    reg.set("probe_duration_seconds", "How long the probe took.", duration)
    reg.set("probe_timeout_seconds", "The probe's effective timeout.", ctx.timeout)
    if failure is not None:
        reg.set(
            "probe_failure_info",
            "The hop, phase and reason of the probe's failure.",
            1,
            {"hop": failure.hop, "phase": failure.phase, "reason": failure.reason},
        )
    for phase, seconds in ctx.phase_seconds.items():
        reg.set(
            "probe_mcp_phase_duration_seconds",
            "Duration of each phase of the probe.",
            seconds,
            {"phase": phase},
        )
    if ctx.module.config.prober == "mcp":
        steps = ctx.module.config.mcp.steps
        for step in steps:
            reg.set(
                "probe_mcp_step_success",
                "Whether each configured step passed.",
                1 if ctx.steps.get(step) else 0,
                {"step": step},
            )
        if "session_delete" in ctx.steps:
            reg.set(
                "probe_mcp_step_success",
                "Whether each configured step passed.",
                1 if ctx.steps["session_delete"] else 0,
                {"step": "session_delete"},
            )
        write_deviations(ctx)
    write_oauth_metrics(ctx)
    if ctx.last_status is not None:
        reg.set("probe_http_status_code", "Last HTTP status code from the target.", ctx.last_status)
    reg.set(
        "probe_mcp_jsonrpc_error_code",
        "Last JSON-RPC error code, 0 if none.",
        ctx.jsonrpc_error_code,
    )
    hops = dict(ctx.hops)
    if failure is not None and failure.hop != "exporter":
        hops[failure.hop] = False
    elif success:
        hops.setdefault(ctx.hop, True)
    for hop, ok in hops.items():
        reg.set(
            "probe_hop_success",
            "Whether each hop the probe exercised worked.",
            1 if ok else 0,
            {"hop": hop},
        )
    version = ctx._http.http_version if ctx._http is not None else None
    if version:
        # As blackbox_exporter: 1.1 or 2 (1.0 for an HTTP/1.0 answer).
        number = {"HTTP/2": 2.0, "HTTP/1.1": 1.1, "HTTP/1.0": 1.0}.get(version)
        if number is not None:
            reg.set("probe_http_version", "The HTTP version of the last answer.", number)
    tls = ctx._http.tls if ctx._http is not None else None
    if tls is not None:
        reg.set("probe_tls_version_info", "The TLS version used.", 1, {"version": tls.version})
        if tls.cert_not_after is not None:
            reg.set(
                "probe_ssl_earliest_cert_expiry",
                "Expiry of the server's certificate, in Unix seconds.",
                tls.cert_not_after,
            )


def replay_of(outcome: ProbeOutcome) -> Callable[[], str]:
    """The probe's curl replay, rendered when asked for (most probes' never are). Holds only
    what it needs, not the probe's context, so a kept history stays small."""
    requests = tuple(outcome.context.requests)
    module = outcome.context.module.config
    timeout = outcome.context.timeout
    scrub = outcome.log.redactor or (lambda text: text)
    return lambda: render_replay(requests, module, timeout, scrub)


def debug_output(outcome: ProbeOutcome, module: RuntimeModule) -> str:
    """The text /probe?debug=true returns: log, metrics, module config with secrets masked, and
    the curl commands that replay the probe."""
    notes = "".join(f"- {n}\n" for n in outcome.context.notes)
    replay = replay_of(outcome)()
    return (
        "Logs for the probe:\n"
        f"{outcome.log.text()}\n"
        + (f"Notes:\n{notes}\n" if notes else "")
        + "Metrics that would have been returned:\n"
        f"{outcome.registry.render()}\n"
        f"Module configuration ({module.name}):\n"
        f"{module_yaml(module.config)}" + (f"\nReplay:\n{replay}" if replay else "")
    )
