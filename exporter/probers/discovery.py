"""The `discovery` prober: authorization discovery as the MCP specification defines it.

An unauthenticated MCP request must be answered with 401 and a Bearer challenge; the
protected-resource metadata (RFC 9728) is found from the challenge's `resource_metadata`, else at
the path-inserted and then the root well-known URL; its first authorization server's metadata
(RFC 8414 or OpenID Connect Discovery) is found in the order of the 2025-11-25 revision. Each
document is checked as a client would check it before trusting it.

URLs that come from a target's responses (the challenge, `authorization_servers`, redirects,
endpoints in metadata) pass the module's `url_policy` before they are fetched.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

from ..config import DiscoveryModule, DiscoveryProber, ResponseURLPolicy
from ..policy import is_loopback_host
from .context import ProbeContext
from .failure import AUTH_HOP, Hop, ProbeFailure
from .findings import OAuthFindings
from .prober import Prober, write_exchange_metrics
from .www_authenticate import AuthChallenge, Challenge, bearer_challenge, parse_www_authenticate

DISCOVERY_STEPS: Final = ("www_authenticate", "protected_resource", "authorization_server")
REGISTRATION_METHODS: Final = ("cimd", "dcr")
RESOURCE_MATCHES: Final = ("exact", "prefix", "none")
AS_REQUIRED: Final = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "response_types_supported",
)
# Endpoints in authorization-server metadata that clients send requests (and secrets) to.
AS_ENDPOINTS: Final = (
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "jwks_uri",
    "revocation_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "device_authorization_endpoint",
    "pushed_authorization_request_endpoint",
)
_REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})
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


@dataclass(frozen=True, slots=True)
class Fetched:
    """One metadata fetch: the final URL and status, and the JSON object or why there is none."""

    url: str
    status: int | None
    document: dict[str, Any] | None
    problem: str


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


class ResponseURLs:
    """Fetches URLs a target handed out, within the module's policy and fetch budget."""

    def __init__(self, ctx: ProbeContext, policy: ResponseURLPolicy) -> None:
        self.ctx = ctx
        self.policy = policy
        self.max_redirects = ctx.module.config.limits.max_redirects

    def scheme_refusal(self, url: str) -> str | None:
        """Why the URL's scheme is refused, or None. Plain http is allowed only to a loopback
        address or a localhost name (RFC 6761; the connection's address is checked to be
        loopback too) and only with url_policy.allow_http_loopback."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            return "not a valid URL"
        scheme = parts.scheme.lower()
        if scheme == "https" and host:
            return None
        if scheme != "http":
            return f"https is required, not {scheme[:20] or 'no scheme'}"
        if not is_loopback_host(host):
            return (
                "https is required: http is allowed only for loopback addresses and localhost "
                "names when url_policy.allow_http_loopback is on"
            )
        if not self.policy.allow_http_loopback:
            return (
                f"https is required: http to loopback host {host[:100]} needs "
                "url_policy.allow_http_loopback: true"
            )
        return None

    def check(self, url: str, hop: Hop, phase: str) -> None:
        """Refuse a URL from a response that the policy does not allow."""
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        shown = _shown(url)
        if not host:
            raise ProbeFailure(hop, phase, "target_not_allowed", f"{shown}: not an absolute URL")
        why = self.scheme_refusal(url)
        if why is not None:
            raise ProbeFailure(hop, phase, "target_not_allowed", f"{shown}: {why}")
        allowed = self.policy.allowed_hosts
        if allowed is not None and host not in allowed:
            raise ProbeFailure(
                hop,
                phase,
                "target_not_allowed",
                f"{shown}: host {host[:100]} is not in url_policy.allowed_hosts",
            )

    def _count(self, url: str, hop: Hop, phase: str) -> None:
        state = oauth_state(self.ctx)
        state.fetches += 1
        if state.fetches > self.policy.max_fetches:
            raise ProbeFailure(
                hop,
                phase,
                "target_not_allowed",
                f"{_shown(url)}: more than {self.policy.max_fetches} fetches in one probe "
                "(url_policy.max_fetches)",
            )

    async def get_json(self, url: str, hop: Hop, phase: str, *, from_response: bool) -> Fetched:
        """GET a metadata document, following redirects that pass the policy one by one."""
        ctx = self.ctx
        for _ in range(self.max_redirects + 1):
            if from_response:
                self.check(url, hop, phase)
            self._count(url, hop, phase)
            try:
                ctx.record_request("GET", url, {"Accept": "application/json"}, None, phase)
                response = await ctx.http.request(
                    "GET", url, headers={"Accept": "application/json"}, hop=hop, phase=phase
                )
            except (OSError, asyncio.IncompleteReadError) as exc:
                return Fetched(url, None, None, f"{type(exc).__name__}: {exc}"[:200])
            try:
                location = response.headers.get("location")
                if response.status in _REDIRECT_CODES and location:
                    ctx.log.debug("metadata redirect", url=_shown(url), status=response.status)
                    url = urljoin(url, location)
                    # Every hop of a redirect chain is a URL the server chose.
                    from_response = True
                    continue
                if response.status != 200:
                    return Fetched(url, response.status, None, f"HTTP {response.status}")
                body = await response.read()
            except (OSError, asyncio.IncompleteReadError) as exc:
                return Fetched(url, None, None, f"{type(exc).__name__}: {exc}"[:200])
            finally:
                await response.aclose()
            try:
                document = json.loads(body)
            except ValueError:
                return Fetched(
                    url, 200, None, f"not JSON (content type {response.content_type or 'none'})"
                )
            if not isinstance(document, dict):
                return Fetched(url, 200, None, "not a JSON object")
            return Fetched(url, 200, document, "")
        return Fetched(url, None, None, f"more than {self.max_redirects} redirects")


def _shown(url: str) -> str:
    """A URL for logs: no query string or user info."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))[:300]
    except ValueError:
        return "<invalid URL>"


def canonical_resource(url: str) -> str:
    """RFC 8707 / MCP canonical form: lower-case scheme and host, no default port, no query or
    fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path, "", ""))


def resource_match(resource: str, target: str) -> str:
    """`exact`, `prefix` (same origin, the resource's path a prefix of the target's), or `none`."""
    try:
        have, want = canonical_resource(resource), canonical_resource(target)
    except ValueError:
        return "none"
    if have == want:
        return "exact"
    have_parts, want_parts = urlsplit(have), urlsplit(want)
    if (have_parts.scheme, have_parts.netloc) != (want_parts.scheme, want_parts.netloc):
        return "none"
    prefix = have_parts.path.rstrip("/")
    path = want_parts.path.rstrip("/")
    if path == prefix or path.startswith(prefix + "/"):
        return "prefix"
    return "none"


def protected_resource_urls(target: str) -> list[str]:
    """RFC 9728 well-known URLs: path-inserted, then root (one URL for a target without a path)."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/")
    root = urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-protected-resource", "", ""))
    if not path:
        return [root]
    return [root + path, root]


def authorization_server_urls(issuer: str) -> list[str]:
    """Metadata URLs in the order of the 2025-11-25 revision (RFC 8414, then OpenID Connect)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")

    def at(p: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, p, "", ""))

    if not path:
        return [
            at("/.well-known/oauth-authorization-server"),
            at("/.well-known/openid-configuration"),
        ]
    return [
        at(f"/.well-known/oauth-authorization-server{path}"),
        at(f"/.well-known/openid-configuration{path}"),
        at(f"{path}/.well-known/openid-configuration"),
    ]


def _same_issuer(a: str, b: str) -> bool:
    # RFC 8414 wants identical strings; a trailing slash on a path-less issuer is how URL
    # libraries (pydantic's AnyHttpUrl among them) print it, so it is not a mismatch.
    return a == b or (a.rstrip("/") == b.rstrip("/") and not urlsplit(a).path.strip("/"))


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
        _check_challenge(ctx, settings, hop, challenge)
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
        _check_challenge(ctx, settings, hop, challenge)
        ctx.log.info(
            "discovery starts from the challenge received",
            status=received.status,
            scope=(challenge.scope or "")[:200] or None,
        )
        return challenge


def _check_challenge(
    ctx: ProbeContext, settings: DiscoveryProber, hop: Hop, challenge: Challenge
) -> None:
    """What discovery requires of a Bearer challenge, wherever it came from."""
    if challenge.resource_metadata is None:
        if settings.require_resource_metadata_header:
            raise ProbeFailure(
                hop,
                "www_authenticate",
                "metadata_invalid",
                "the Bearer challenge has no resource_metadata "
                "(discovery.require_resource_metadata_header)",
            )
        ctx.note("the 401 challenge has no resource_metadata; trying the well-known URLs")
    ctx.log.info(
        "challenge",
        resource_metadata=_shown(challenge.resource_metadata or "") or None,
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
            return _check_protected_resource(ctx, settings, fetched, hop)
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
    ones before it did not. A 200 that is not a JSON object is invalid metadata, not a miss."""
    problems: list[str] = []
    label = phase.replace("_", "-")
    for url in candidates:
        fetched = await urls.get_json(url, hop, phase, from_response=url == header_url)
        found.tried.append(_shown(fetched.url))
        if fetched.status == 200 and fetched.document is None:
            raise ProbeFailure(
                hop,
                phase,
                "metadata_invalid",
                f"{label} metadata at {_shown(fetched.url)} is {fetched.problem}",
            )
        if fetched.document is not None:
            ctx.log.info(f"{label} metadata", url=_shown(fetched.url))
            return fetched, problems
        problems.append(f"{_shown(fetched.url)}: {fetched.problem}")
    return None, problems


def _check_protected_resource(
    ctx: ProbeContext, settings: DiscoveryProber, fetched: Fetched, hop: Hop
) -> dict[str, Any]:
    doc = fetched.document
    assert doc is not None
    where = f"protected-resource metadata at {_shown(fetched.url)}"
    resource = doc.get("resource")
    if not isinstance(resource, str) or not resource:
        raise ProbeFailure(hop, "protected_resource", "metadata_invalid", f"{where} lacks resource")
    servers = doc.get("authorization_servers")
    if (
        not isinstance(servers, list)
        or not servers
        or not all(isinstance(s, str) and s for s in servers)
    ):
        raise ProbeFailure(
            hop,
            "protected_resource",
            "metadata_invalid",
            f"{where} has no authorization_servers (MCP requires at least one)",
        )
    match = resource_match(resource, ctx.target)
    oauth_state(ctx).resource_match = match
    if match == "none" or (match == "prefix" and settings.resource_match == "exact"):
        raise ProbeFailure(
            hop,
            "protected_resource",
            "metadata_invalid",
            f"{where}: resource {_shown(resource)} does not match the target "
            f"{_shown(ctx.target)} (discovery.resource_match: {settings.resource_match})",
        )
    if match == "prefix":
        ctx.note(f"resource {_shown(resource)} matches the target by prefix only")
    if len(servers) > 1:
        ctx.note(f"{len(servers)} authorization servers listed; the first one was checked")
    return doc


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
                f"no authorization-server metadata for {_shown(issuer)}: " + "; ".join(problems),
            )
        ctx.hops[AUTH_HOP] = True
        issuer = _check_authorization_server(ctx, urls, document, issuer, legacy=legacy)
    found.issuer = issuer
    found.authorization_server = document
    found.token_endpoint = str(document["token_endpoint"])
    _capabilities(ctx, settings, document, for_token)
    return True


def _check_authorization_server(
    ctx: ProbeContext, urls: ResponseURLs, doc: dict[str, Any], issuer: str, *, legacy: bool
) -> str:
    """Check the metadata; returns the issuer it names."""
    phase = "authorization_server"
    missing = [name for name in AS_REQUIRED if not doc.get(name)]
    if missing:
        raise ProbeFailure(
            AUTH_HOP,
            phase,
            "metadata_invalid",
            f"authorization-server metadata lacks {', '.join(missing)}",
        )
    stated = doc["issuer"]
    if legacy and isinstance(stated, str) and _below_origin(stated, issuer):
        # The 2025-03-26 revision looks the metadata up at the server's origin without knowing
        # the issuer, so it cannot demand RFC 8414's identity; one on the same origin is the
        # server's (an authorization server mounted under /oauth, say).
        if not _same_issuer(stated, issuer):
            ctx.note(f"the metadata at the server's origin names issuer {_shown(stated)!r}")
        issuer = stated
    elif not isinstance(stated, str) or not _same_issuer(stated, issuer):
        raise ProbeFailure(
            AUTH_HOP,
            phase,
            "metadata_invalid",
            f"authorization-server metadata names issuer {str(stated)[:200]!r}, "
            f"not {_shown(issuer)!r} under which it was found",
        )
    for name in AS_ENDPOINTS:
        value = doc.get(name)
        if value is None:
            continue
        why = urls.scheme_refusal(value) if isinstance(value, str) else "not a string"
        if why is not None:
            raise ProbeFailure(
                AUTH_HOP,
                phase,
                "metadata_invalid",
                f"{name} {_shown(str(value))} is refused: {why}",
            )
    return issuer


def _below_origin(url: str, origin: str) -> bool:
    """Whether `url` has the scheme and authority of `origin`."""
    try:
        a, b = urlsplit(url), urlsplit(origin)
        return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())
    except ValueError:
        return False


def _capabilities(
    ctx: ProbeContext, settings: DiscoveryProber, doc: dict[str, Any], for_token: bool
) -> None:
    gauges = oauth_state(ctx)
    methods = doc.get("code_challenge_methods_supported")
    s256 = isinstance(methods, list) and "S256" in methods
    gauges.pkce_s256 = s256
    registration = []
    if doc.get("client_id_metadata_document_supported") is True:
        registration.append("cimd")
    if isinstance(doc.get("registration_endpoint"), str):
        registration.append("dcr")
    gauges.registration = registration
    if not registration:
        ctx.note("no client registration advertised: clients need a pre-registered client id")
    if for_token:
        return
    if not s256 and settings.require_pkce:
        what = "absent" if methods is None else f"{str(methods)[:100]}, without S256"
        raise ProbeFailure(
            AUTH_HOP,
            "authorization_server",
            "pkce_unsupported",
            f"code_challenge_methods_supported is {what}",
        )
    if not registration and settings.require_registration:
        raise ProbeFailure(
            AUTH_HOP,
            "authorization_server",
            "metadata_invalid",
            "neither client_id_metadata_document_supported nor registration_endpoint "
            "(discovery.require_registration)",
        )


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
