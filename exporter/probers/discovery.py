"""The `discovery` prober: authorization discovery as the MCP specification defines it.

An unauthenticated MCP request must be answered with 401 and a Bearer challenge; the
protected-resource metadata (RFC 9728) is found from the challenge's `resource_metadata`, else at
the path-inserted and then the root well-known URL; its first authorization server's metadata
(RFC 8414 or OpenID Connect Discovery) is found in the order of the 2025-11-25 revision. Each
document is checked as a client would check it before trusting it (the rules are in
`oauth_metadata`).

URLs that come from a target's responses (the challenge, `authorization_servers`, redirects,
endpoints in metadata) pass the module's `url_policy` before they are fetched (`response_urls`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

from ..config import DiscoveryModule, DiscoveryProber
from .context import ProbeContext
from .failure import AUTH_HOP, Hop, ProbeFailure
from .oauth_metadata import (
    authorization_server_urls,
    check_authorization_server,
    check_capabilities,
    check_protected_resource,
    protected_resource_urls,
)
from .oauth_metrics import expect_steps, oauth_state, oauth_step, write_oauth_metrics
from .prober import Prober, write_exchange_metrics
from .response_urls import Fetched, ResponseURLs, shown_url
from .www_authenticate import AuthChallenge, Challenge, bearer_challenge, parse_www_authenticate

DISCOVERY_STEPS: Final = ("www_authenticate", "protected_resource", "authorization_server")
_PROBE_INITIALIZE: Final = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{},"clientInfo":{"name":"mcp-exporter","version":"discovery"}}}'
)


@dataclass
class Discovered:
    """What discovery found; `token_endpoint` is what the client-credentials flow needs."""

    challenge: Challenge | None = None
    protected_resource: dict[str, Any] | None = None
    issuer: str | None = None
    authorization_server: dict[str, Any] | None = None
    token_endpoint: str | None = None
    default_endpoints: bool = False
    tried: list[str] = field(default_factory=list)


async def probe_discovery(ctx: ProbeContext) -> None:
    """Run authorization discovery against ctx.target; raise ProbeFailure on the first defect."""
    await discover(
        ctx, ctx.module.config_as(DiscoveryModule).discovery, require_auth=None, for_token=False
    )


def write_discovery_metrics(ctx: ProbeContext) -> None:
    """The discovery prober's metrics: the exchange and the OAuth steps."""
    write_exchange_metrics(ctx)
    write_oauth_metrics(ctx)


async def discover(
    ctx: ProbeContext,
    settings: DiscoveryProber,
    *,
    require_auth: bool | None,
    for_token: bool,
    received: AuthChallenge | None = None,
) -> Discovered:
    """The whole chain. `require_auth` None means the module's setting; `for_token` skips the
    checks that matter only to interactive clients (PKCE, registration). With `received` (the
    401/403 an MCP request already got) discovery starts from that challenge instead of
    sending an unauthenticated request of its own."""
    hop = ctx.target_hop
    urls = ResponseURLs(ctx, settings.url_policy)
    found = Discovered()
    expect_steps(ctx, *DISCOVERY_STEPS)
    must_401 = settings.require_auth if require_auth is None else require_auth
    if received is not None:
        found.challenge = _received_challenge(ctx, settings, hop, received)
    else:
        found.challenge = await _challenge(ctx, settings, hop, must_401)
    header_url = found.challenge.resource_metadata if found.challenge is not None else None
    prm = await _protected_resource(ctx, settings, urls, hop, header_url, found)
    if prm is None:
        # The 2025-03-26 revision: no protected-resource metadata; the MCP server's origin is
        # the authorization server's base URL.
        parts = urlsplit(ctx.target)
        issuer = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        oauth_state(ctx).steps.pop("protected_resource", None)
        ctx.steps.pop("protected_resource", None)
        await _legacy_authorization_server(ctx, settings, urls, issuer, found, for_token)
        return found
    found.protected_resource = prm
    issuer = prm["authorization_servers"][0]
    await _authorization_server(ctx, settings, urls, issuer, found, for_token, legacy=False)
    return found


async def _challenge(
    ctx: ProbeContext, settings: DiscoveryProber, hop: Hop, require_auth: bool
) -> Challenge | None:
    """The unauthenticated MCP request and its 401 challenge."""
    with oauth_step(ctx, "www_authenticate", hop):
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        ctx.record_request("POST", ctx.target, headers, _PROBE_INITIALIZE, "www_authenticate")
        response = await ctx.http.request(
            "POST",
            ctx.target,
            headers=headers,
            body=_PROBE_INITIALIZE,
            hop=hop,
            phase="www_authenticate",
        )
        ctx.last_status = response.status
        session_id = response.headers.get("mcp-session-id")
        values = response.headers.get_all("www-authenticate")
        await response.aclose()
        ctx.hops[hop] = True
        if 200 <= response.status < 300:
            if session_id:
                await _end_session(ctx, session_id, hop)
            if require_auth:
                raise ProbeFailure(
                    hop,
                    "www_authenticate",
                    "expectation_failed",
                    f"the unauthenticated request was answered {response.status}: the server "
                    "does not require authorization (discovery.require_auth)",
                )
            ctx.note("the server answered without authorization; discovery used well-known URLs")
            return None
        if response.status == 403:
            raise ProbeFailure(
                hop, "www_authenticate", "forbidden", "the unauthenticated request got 403, not 401"
            )
        if response.status != 401:
            raise ProbeFailure(
                hop,
                "www_authenticate",
                "http_status",
                f"the unauthenticated request got {response.status}; expected 401",
            )
        challenge = bearer_challenge(parse_www_authenticate(values))
        if challenge is None:
            raise ProbeFailure(
                hop,
                "www_authenticate",
                "metadata_invalid",
                "401 without a Bearer challenge in WWW-Authenticate",
            )
        _check_challenge(ctx, settings, hop, challenge, 401)
        if challenge.scope:
            ctx.note(f"the server challenged for scope {challenge.scope[:200]!r}")
        return challenge


def _received_challenge(
    ctx: ProbeContext, settings: DiscoveryProber, hop: Hop, received: AuthChallenge
) -> Challenge | None:
    """The challenge an MCP request already got, checked as `_challenge` checks a fresh one.

    No request is sent: its resource_metadata and scope are the ones that answered the request
    that failed (a tools/list 401 names the scope tools/list needs; a fresh `initialize` may not
    be refused at all). The status and the hop's result stay those of the failed request.
    """
    with oauth_step(ctx, "www_authenticate", hop):
        challenge = received.bearer
        if challenge is None:
            if received.status == 403:
                ctx.note("the 403 carries no Bearer challenge; discovery used well-known URLs")
                return None
            raise ProbeFailure(
                hop,
                "www_authenticate",
                "metadata_invalid",
                f"{received.status} without a Bearer challenge in WWW-Authenticate",
            )
        _check_challenge(ctx, settings, hop, challenge, received.status)
        ctx.log.info(
            "discovery starts from the challenge received",
            status=received.status,
            scope=(challenge.scope or "")[:200] or None,
        )
        return challenge


def _check_challenge(
    ctx: ProbeContext, settings: DiscoveryProber, hop: Hop, challenge: Challenge, status: int
) -> None:
    """What discovery requires of a Bearer challenge, wherever it came from. resource_metadata
    is a MUST only on a 401 (2025-06-18); on an insufficient_scope 403 it is a SHOULD. An
    empty value names no URL, so it counts as absent."""
    if not challenge.resource_metadata:
        if settings.require_resource_metadata_header and status == 401:
            raise ProbeFailure(
                hop,
                "www_authenticate",
                "metadata_invalid",
                "the Bearer challenge has no resource_metadata "
                "(discovery.require_resource_metadata_header)",
            )
        ctx.note(f"the {status} challenge has no resource_metadata; trying the well-known URLs")
    ctx.log.info(
        "challenge",
        resource_metadata=shown_url(challenge.resource_metadata or "") or None,
        scope=(challenge.scope or "")[:200] or None,
        error=(challenge.error or "")[:64] or None,
    )


async def _end_session(ctx: ProbeContext, session_id: str, hop: Hop) -> None:
    try:
        ctx.record_request(
            "DELETE", ctx.target, {"Mcp-Session-Id": session_id}, None, "www_authenticate"
        )
        response = await ctx.http.request(
            "DELETE",
            ctx.target,
            headers={"Mcp-Session-Id": session_id},
            hop=hop,
            phase="www_authenticate",
        )
        await response.aclose()
    except (OSError, ProbeFailure):
        ctx.log.warning("could not delete the session the unauthenticated request opened")


async def _protected_resource(
    ctx: ProbeContext,
    settings: DiscoveryProber,
    urls: ResponseURLs,
    hop: Hop,
    header_url: str | None,
    found: Discovered,
) -> dict[str, Any] | None:
    """RFC 9728 metadata, validated; None only in fallback mode when none exists."""
    candidates = [header_url] if header_url else protected_resource_urls(ctx.target)
    with oauth_step(ctx, "protected_resource", hop):
        fetched, problems = await _first_document(
            ctx, urls, candidates, hop, "protected_resource", found, header_url
        )
        if fetched is not None:
            return check_protected_resource(ctx, settings, fetched, hop)
        if settings.default_endpoints_fallback:
            ctx.note("no protected-resource metadata; falling back to the 2025-03-26 discovery")
            return None
        raise ProbeFailure(
            hop,
            "protected_resource",
            "metadata_unreachable",
            "no protected-resource metadata: " + "; ".join(problems),
        )


async def _first_document(
    ctx: ProbeContext,
    urls: ResponseURLs,
    candidates: list[str],
    hop: Hop,
    phase: str,
    found: Discovered,
    header_url: str | None = None,
) -> tuple[Fetched | None, list[str]]:
    """The first candidate URL that serves a JSON document, in the spec's order, and why the
    ones before it did not. A 200 that is not a JSON object (a web app's catch-all page, say)
    does not stop the search, as clients go on to the next URL; it is reported as invalid
    metadata when no later URL serves a document."""
    problems: list[str] = []
    invalid: ProbeFailure | None = None
    label = phase.replace("_", "-")
    for url in candidates:
        fetched = await urls.get_json(url, hop, phase, from_response=url == header_url)
        found.tried.append(shown_url(fetched.url))
        if fetched.document is not None:
            ctx.log.info(f"{label} metadata", url=shown_url(fetched.url))
            return fetched, problems
        if fetched.status == 200 and invalid is None:
            invalid = ProbeFailure(
                hop,
                phase,
                "metadata_invalid",
                f"{label} metadata at {shown_url(fetched.url)} is {fetched.problem}",
            )
        problems.append(f"{shown_url(fetched.url)}: {fetched.problem}")
    if invalid is not None:
        raise invalid
    return None, problems


async def _authorization_server(
    ctx: ProbeContext,
    settings: DiscoveryProber,
    urls: ResponseURLs,
    issuer: str,
    found: Discovered,
    for_token: bool,
    *,
    legacy: bool,
) -> bool:
    """Fetch and check the authorization server's metadata. With `legacy`, a missing document
    is not an error (the caller assumes default endpoints) and False is returned."""
    with oauth_step(ctx, "authorization_server", AUTH_HOP):
        if not legacy:
            urls.check(issuer, AUTH_HOP, "authorization_server")
        candidates = (
            [urljoin(issuer, "/.well-known/oauth-authorization-server")]
            if legacy
            else authorization_server_urls(issuer)
        )
        fetched, problems = await _first_document(
            ctx, urls, candidates, AUTH_HOP, "authorization_server", found
        )
        document = fetched.document if fetched is not None else None
        if document is None:
            if legacy:
                return False
            raise ProbeFailure(
                AUTH_HOP,
                "authorization_server",
                "metadata_unreachable",
                f"no authorization-server metadata for {shown_url(issuer)}: " + "; ".join(problems),
            )
        ctx.hops[AUTH_HOP] = True
        issuer = check_authorization_server(ctx, urls, document, issuer, legacy=legacy)
    found.issuer = issuer
    found.authorization_server = document
    found.token_endpoint = str(document["token_endpoint"])
    check_capabilities(ctx, settings, document, for_token)
    return True


async def _legacy_authorization_server(
    ctx: ProbeContext,
    settings: DiscoveryProber,
    urls: ResponseURLs,
    issuer: str,
    found: Discovered,
    for_token: bool,
) -> None:
    gauges = oauth_state(ctx)
    if await _authorization_server(ctx, settings, urls, issuer, found, for_token, legacy=True):
        gauges.default_endpoints = False
        return
    # 2025-03-26: without metadata, clients use /authorize, /token and /register on the base URL.
    gauges.default_endpoints = True
    oauth_state(ctx).steps["authorization_server"] = True
    ctx.steps["authorization_server"] = True
    found.issuer = issuer
    found.default_endpoints = True
    found.token_endpoint = urljoin(issuer, "/token")
    ctx.note("no authorization-server metadata; assuming the default endpoints /authorize, /token")


PROBER: Final = Prober(probe_discovery, write_discovery_metrics)
