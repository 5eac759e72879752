"""The probe's OAuth steps and their probe_oauth_* metrics.

Discovery and the client-credentials token request both record their work here, on the probe's
`OAuthFindings`: which steps were expected and whether each passed, how long each took without
connection set-up, and what the documents revealed (resource match, PKCE, registration, default
endpoints, token cache and error). Whichever prober did OAuth work writes the metrics once, at the
end of the probe, with `write_oauth_metrics`; a probe that did none writes none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from .context import ProbeContext
from .failure import Hop
from .findings import OAuthFindings

# The label values of probe_oauth_registration_supported{method} and
# probe_oauth_resource_match{match}: every value is written, 1 for the observed ones.
REGISTRATION_METHODS: Final = ("cimd", "dcr")
RESOURCE_MATCHES: Final = ("exact", "prefix", "none")


def oauth_state(ctx: ProbeContext) -> OAuthFindings:
    """The probe's OAuth findings, turned into metrics once by `write_oauth_metrics`."""
    if ctx.oauth is None:
        ctx.oauth = OAuthFindings()
    return ctx.oauth


def expect_steps(ctx: ProbeContext, *steps: str) -> None:
    """Steps that will be reported (0 until they pass), in the order given."""
    recorded = oauth_state(ctx).steps
    for step in steps:
        recorded.setdefault(step, False)


@contextmanager
def oauth_step(ctx: ProbeContext, step: str, hop: Hop) -> Iterator[None]:
    """Time one OAuth step (without connection set-up) and record whether it passed."""
    ctx.hop = hop
    ctx.phase = step
    http = ctx.http
    setup_before = http.setup_seconds
    started = time.perf_counter()
    state = oauth_state(ctx)
    ok = False
    try:
        yield
        ok = True
    finally:
        elapsed = time.perf_counter() - started - (http.setup_seconds - setup_before)
        state.seconds[step] = state.seconds.get(step, 0.0) + max(0.0, elapsed)
        state.steps[step] = ok
        ctx.steps[step] = ok


def write_oauth_metrics(ctx: ProbeContext) -> None:
    """The probe_oauth_* metrics of whatever OAuth work the probe did (none: no metrics)."""
    state = ctx.oauth
    if state is None:
        return
    reg = ctx.registry
    for step, ok in state.steps.items():
        reg.set(
            "probe_oauth_step_success",
            "Whether each OAuth step passed.",
            1 if ok else 0,
            {"step": step},
        )
    for step, seconds in state.seconds.items():
        reg.set(
            "probe_oauth_step_duration_seconds",
            "Duration of each OAuth step, without connection set-up.",
            seconds,
            {"step": step},
        )
    gauges = state
    if gauges.resource_match is not None:
        for match in RESOURCE_MATCHES:
            reg.set(
                "probe_oauth_resource_match",
                "How the protected-resource metadata's resource matches the target (1 for the "
                "observed kind).",
                1 if gauges.resource_match == match else 0,
                {"match": match},
            )
    if gauges.pkce_s256 is not None:
        reg.set(
            "probe_oauth_pkce_s256_supported",
            "Whether the authorization server advertises PKCE with S256.",
            1 if gauges.pkce_s256 else 0,
        )
    if gauges.registration is not None:
        for method in REGISTRATION_METHODS:
            reg.set(
                "probe_oauth_registration_supported",
                "Client registration methods the authorization server advertises.",
                1 if method in gauges.registration else 0,
                {"method": method},
            )
    if gauges.default_endpoints is not None:
        reg.set(
            "probe_oauth_default_endpoints_assumed",
            "1 when no metadata was found and the 2025-03-26 default endpoints were assumed.",
            1 if gauges.default_endpoints else 0,
        )
    if gauges.token_from_cache is not None:
        reg.set(
            "probe_oauth_token_from_cache",
            "1 if the probe reused a cached client-credentials token, 0 if it requested one.",
            1 if gauges.token_from_cache else 0,
        )
    if gauges.token_error is not None:
        reg.set(
            "probe_oauth_token_error_info",
            "The OAuth error code of a failed token request.",
            1,
            {"error": gauges.token_error},
        )
