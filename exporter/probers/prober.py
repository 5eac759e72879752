"""The one shape of a prober, and the metrics every HTTP-speaking prober writes.

As in blackbox_exporter, the probe handler owns only what every probe has (success, duration,
timeout, the failure and the hops crossed); a prober owns everything else it measures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .context import ProbeContext


@dataclass(frozen=True, slots=True)
class Prober:
    """`run` holds the probe's conversation with the target and raises the typed failure
    (`ProbeFailure`) where it breaks; `write_metrics` turns the findings into the prober's
    own metrics once the probe is over, whether it failed or not."""

    run: Callable[[ProbeContext], Awaitable[None]]
    write_metrics: Callable[[ProbeContext], None]


def write_exchange_metrics(ctx: ProbeContext) -> None:
    """What every exchange with a target shows: phase times, the last status and JSON-RPC
    error, the HTTP and TLS versions and the certificate's expiry."""
    reg = ctx.registry
    for phase, seconds in ctx.phase_seconds.items():
        reg.set(
            "probe_mcp_phase_duration_seconds",
            "Duration of each phase of the probe.",
            seconds,
            {"phase": phase},
        )
    if ctx.last_status is not None:
        reg.set("probe_http_status_code", "Last HTTP status code from the target.", ctx.last_status)
    reg.set(
        "probe_mcp_jsonrpc_error_code",
        "Last JSON-RPC error code, 0 if none.",
        ctx.jsonrpc_error_code,
    )
    http = ctx.http_client
    if http is None:
        return
    if http.http_version:
        # As blackbox_exporter: 1.1 or 2 (1.0 for an HTTP/1.0 answer).
        number = {"HTTP/2": 2.0, "HTTP/1.1": 1.1, "HTTP/1.0": 1.0}.get(http.http_version)
        if number is not None:
            reg.set("probe_http_version", "The HTTP version of the last answer.", number)
    tls = http.tls
    if tls is not None:
        reg.set("probe_tls_version_info", "The TLS version used.", 1, {"version": tls.version})
        if tls.cert_not_after is not None:
            reg.set(
                "probe_ssl_earliest_cert_expiry",
                "Expiry of the server's certificate, in Unix seconds.",
                tls.cert_not_after,
            )
