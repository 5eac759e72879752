"""Spec deviations: what the probe tolerates but the MCP specification forbids, as signals.

A fixed list of rules, each tied to the sentence of the specification it checks. Passive rules
are observed on the probe's own conversation; active rules (`mcp.spec_checks: true`) cost one
extra request each, sent after the configured steps. Every rule is written on every mcp probe,
0 or 1, so a rule's absence never has to be told from a rule not broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .context import ProbeContext

# An MCP-Protocol-Version no server supports (sent by the active checks, exporter/probers/
# spec_checks.py).
UNSUPPORTED_VERSION: Final = "1999-01-01"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: its name (the `rule` label), whether it needs spec_checks, and its source."""

    name: str
    active: bool
    reference: str
    meaning: str


RULES: Final = (
    Rule(
        "notification_not_202",
        False,
        "basic/transports.mdx (2025-03-26 on), Sending Messages to the Server: notifications "
        "accepted MUST get 202 Accepted",
        "notifications/initialized was accepted with a 2xx other than 202",
    ),
    Rule(
        "notification_response_body",
        False,
        "basic/transports.mdx, Sending Messages to the Server: 202 Accepted with no body",
        "the answer to notifications/initialized carried a body",
    ),
    Rule(
        "ping_result_not_empty",
        False,
        "basic/utilities/ping.mdx: the receiver MUST respond promptly with an empty response",
        "ping was answered with a non-empty result",
    ),
    Rule(
        "session_delete_rejected",
        False,
        "basic/transports.mdx, Session Management: DELETE ends the session, or the server "
        "answers 405 when clients may not end sessions",
        "DELETE of the session was answered with neither a 2xx nor 405",
    ),
    Rule(
        "protocol_version_header_ignored",
        True,
        "basic/transports.mdx (2025-06-18 on), Protocol Version Header: an invalid or "
        "unsupported MCP-Protocol-Version MUST be answered with 400 Bad Request",
        f"a ping with MCP-Protocol-Version: {UNSUPPORTED_VERSION} was not answered with 400",
    ),
    Rule(
        "invalid_origin_accepted",
        True,
        "basic/transports.mdx (2025-11-25), Security Warning: a present but invalid Origin "
        "MUST be answered with 403 Forbidden",
        "a ping with a foreign Origin header was not answered with 403",
    ),
    Rule(
        "session_not_terminated",
        True,
        "basic/transports.mdx, Session Management: once a session is terminated, requests "
        "with its id MUST be answered with 404 Not Found",
        "after an accepted DELETE, a ping with the old session id was not answered with 404",
    ),
)
RULE_NAMES: Final = tuple(rule.name for rule in RULES)


def observe(ctx: ProbeContext, rule: str, **fields: Any) -> None:
    """Record that the target broke `rule` (a name of RULES)."""
    assert rule in RULE_NAMES, rule
    seen = ctx.mcp.deviations
    if rule not in seen:
        seen.add(rule)
        ctx.log.warning("spec deviation", rule=rule, **fields)


def check_ping_result(ctx: ProbeContext, result: dict[str, Any]) -> None:
    """ping's result must be empty (a `_meta` member is the protocol's own, not content)."""
    if any(key != "_meta" for key in result):
        observe(ctx, "ping_result_not_empty", keys=",".join(sorted(result))[:80])


def write_deviations(ctx: ProbeContext) -> None:
    """probe_mcp_spec_deviation: every rule, 1 if the target broke it in this probe, else 0."""
    seen = ctx.mcp.deviations
    for name in RULE_NAMES:
        ctx.registry.set(
            "probe_mcp_spec_deviation",
            "Whether the target broke each rule of the fixed list of spec rules (1) or not (0).",
            1 if name in seen else 0,
            {"rule": name},
        )
