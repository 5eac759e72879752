"""/probe: parse target and module, run the prober with a deadline, answer with its registry."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

import structlog

from .config import RuntimeModule, module_yaml
from .history import ProbeLog
from .metrics import ProbeRegistry
from .probers import discovery, litellm_completion, litellm_gateway, litellm_health, mcp
from .probers.context import ProbeContext
from .probers.failure import ProbeFailure, failure_from
from .probers.prober import Prober
from .redact import Redactor, display_url
from .replay import render as render_replay
from .untrusted import clean

# Every prober, by the name the module's config gives it (Module.prober_kind).
PROBERS: Final[dict[str, Prober]] = {
    "mcp": mcp.PROBER,
    "litellm_gateway": litellm_gateway.PROBER,
    "discovery": discovery.PROBER,
    "litellm_completion": litellm_completion.PROBER,
    "litellm_health": litellm_health.PROBER,
}
DEFAULT_MODULE: Final = "mcp"
_CLOSE_GRACE: Final = 1.0


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
    return target if target.isascii() else _ascii_target(parts)


# Every printable ASCII character: only what is outside ASCII is percent-encoded.
_PRINTABLE: Final = "".join(chr(c) for c in range(0x21, 0x7F))


def _ascii_target(parts: SplitResult) -> str:
    """A target with non-ASCII text as the wire carries it: the host name in IDNA (A-labels),
    the rest percent-encoded as UTF-8, as a browser or curl sends it. The HTTP stack accepts
    only ASCII URLs and would otherwise fail every such probe as an internal error."""
    netloc = parts.netloc
    if not netloc.isascii():
        if netloc.startswith("["):
            raise BadRequest("target IPv6 zone must be ASCII")
        host = parts.hostname or ""
        try:
            netloc = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadRequest(f"target host {host[:100]!r} is not a valid host name") from None
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
    try:
        path, query, fragment = (
            quote(part, safe=_PRINTABLE) for part in (parts.path, parts.query, parts.fragment)
        )
    except UnicodeEncodeError:
        raise BadRequest("target is not valid UTF-8") from None
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def display_target(target: str) -> str:
    """The target as logs show it: without a query string, which may carry credentials."""
    return display_url(target)


def effective_timeout(header: str | None, module_timeout: float, offset: float) -> float:
    """Scrape timeout minus the offset, capped by the module's timeout (blackbox's rule)."""
    if header is None or header.strip() == "":
        return module_timeout
    # float() alone also takes "1_0", other scripts' digits and "inf".
    scrape_timeout = _number(header) if header.isascii() and "_" not in header else None
    if scrape_timeout is None:
        raise BadRequest(f"X-Prometheus-Scrape-Timeout-Seconds is not a number: {header[:40]!r}")
    if not scrape_timeout > 0:
        raise BadRequest("X-Prometheus-Scrape-Timeout-Seconds must be positive")
    budget = scrape_timeout - offset
    if budget <= 0:
        budget = scrape_timeout
    return min(budget, module_timeout)


def _number(text: str) -> float | None:
    """The number `text` spells, NaN included (refused later as not positive); None if it is
    no number or infinite."""
    try:
        value = float(text)
    except ValueError:
        return None
    return None if value == math.inf else value


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
    prober = PROBERS[module.config.prober_kind]
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
            await prober.run(ctx)
    except TimeoutError:
        failure = _timeout_failure(ctx, timeout)
    except ProbeFailure as exc:
        # The traceback and chained exceptions would tie this frame and every frame of the
        # probe into reference cycles that only the garbage collector frees (in long pauses).
        failure = exc.with_traceback(None)
        failure.__context__ = failure.__cause__ = None
    except Exception as exc:  # noqa: BLE001 - a prober bug or any error must not escape the probe
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
    prober.write_metrics(ctx)
    _finish_registry(ctx, success, duration, failure)
    # A server can echo a credential into what becomes a label (its name, a header).
    registry.seal(redact)
    ctx.release()
    return ProbeOutcome(success, registry, log, duration, failure, ctx, redact)


def _redactor(ctx: ProbeContext) -> Callable[[str], str]:
    """Scrubs every credential this probe sent (tokens fetched on the way included) or has
    configured, and those in the target's query string. Built from the context's redactors,
    not the context: the log keeps this function, and the context keeps the log."""
    sent = ctx.http_client.redactor if ctx.http_client is not None else Redactor()
    configured = ctx.configured_redactor()

    def redact(text: str) -> str:
        return configured(sent(text))

    return redact


def _timeout_failure(ctx: ProbeContext, timeout: float) -> ProbeFailure:
    setup = ctx.current_setup
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
    setup = ctx.current_setup
    failure = failure_from(exc, ctx.hop, ctx.phase, setup)
    if failure.reason == "internal":
        logger.error("prober error", exc_info=exc, phase=failure.phase, module=ctx.module.name)
    return failure


def _finish_registry(
    ctx: ProbeContext, success: bool, duration: float, failure: ProbeFailure | None
) -> None:
    """The metrics every probe has, written once, here; the prober wrote its own."""
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
