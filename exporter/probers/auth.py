"""Credentials for the mcp prober, and what a 401 or 403 from the target means.

OAuth 2.0 client credentials (RFC 6749 section 4.4): the token comes from `oauth2.token_url` or
the token endpoint that authorization discovery finds, carries the RFC 8707 `resource` of the
target, and is cached per module and target until shortly before it expires (the cache lives on
the loaded module, so a config load empties it). The token request is the `token` step at hop
`client_to_auth_server`; a refused request is `token_fetch_failed` with the OAuth error code in
`probe_oauth_token_error_info{error}`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import time
from typing import Final
from urllib.parse import quote, quote_plus, urlencode

from ..client_assertion import ASSERTION_TYPE, client_assertion, load_signing_key
from ..config import SCOPE_PATTERN, MCPModule, OAuth2ClientCredentials
from ..tokens import CachedToken
from .context import ProbeContext
from .discovery import Discovered, discover
from .failure import AUTH_HOP, Hop, ProbeFailure
from .oauth_metadata import canonical_resource
from .oauth_metrics import expect_steps, oauth_state, oauth_step
from .response_urls import ResponseURLs
from .www_authenticate import Challenge

# RFC 6749 section 5.2, plus RFC 8707's invalid_target; anything else is reported as `other`,
# and a refusal without an error code as `none`.
TOKEN_ERRORS: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
    }
)
NO_ERROR_CODE: Final = "none"
AUTH_REASONS: Final = frozenset(
    {"auth_required", "token_rejected", "forbidden", "insufficient_scope"}
)
_SCOPE_TOKEN_RE: Final = re.compile(SCOPE_PATTERN)
# Tokens without expires_in are reused this long.
DEFAULT_LIFETIME: Final = 60.0
# Stop using a token this long before it expires (at most a tenth of its lifetime).
EXPIRY_MARGIN: Final = 30.0


def classify_challenge(
    ctx: ProbeContext,
    status: int,
    challenge: Challenge | None,
    hop: Hop,
    phase: str,
    sent_credentials: bool,
) -> ProbeFailure:
    """A 401 or 403 from the target as a failure reason (RFC 6750 section 3.1, MCP 2025-11-25)."""
    error = (challenge.error or "")[:64] if challenge is not None else ""
    described = f" ({error})" if error else ""
    if challenge is not None and challenge.scope:
        ctx.note(f"the server challenged for scope {challenge.scope[:200]!r}")
    if challenge is not None and challenge.error_description:
        ctx.note(f"the server said: {' '.join(challenge.error_description.split())[:200]}")
    if status == 401:
        if sent_credentials:
            return ProbeFailure(
                hop, phase, "token_rejected", f"401: the credentials were rejected{described}"
            )
        return ProbeFailure(hop, phase, "auth_required", "401: the server requires authorization")
    if challenge is not None and challenge.error == "insufficient_scope":
        scope = f"; it wants scope {challenge.scope[:200]!r}" if challenge.scope else ""
        return ProbeFailure(
            hop, phase, "insufficient_scope", f"403: the token lacks a required scope{scope}"
        )
    return ProbeFailure(hop, phase, "forbidden", f"403: forbidden{described}")


def _cache_key(ctx: ProbeContext) -> str:
    return canonical_resource(ctx.target)


async def client_credentials_header(ctx: ProbeContext, oauth2: OAuth2ClientCredentials) -> str:
    """The Authorization header value, from the cache or a new token request."""
    expect_steps(ctx, "token")
    gauges = oauth_state(ctx)
    cache = ctx.module.tokens
    key = _cache_key(ctx)
    cached = cache.get(key)
    if cached is None:
        async with cache.lock(key):
            cached = cache.get(key)
            if cached is None:
                gauges.token_from_cache = False
                cached = await _fetch_token(ctx, oauth2)
                cache.put(key, cached)
                return f"Bearer {cached.access_token}"
    gauges.token_from_cache = True
    oauth_state(ctx).steps["token"] = True
    ctx.steps["token"] = True
    ctx.log.info("using cached token", seconds_left=round(cached.use_until - time.monotonic(), 1))
    return f"Bearer {cached.access_token}"


def forget_token(ctx: ProbeContext) -> None:
    """Drop the cached token after the target rejected it, so the next probe asks again."""
    ctx.module.tokens.forget(_cache_key(ctx))


async def _fetch_token(ctx: ProbeContext, oauth2: OAuth2ClientCredentials) -> CachedToken:
    settings = ctx.module.config_as(MCPModule).discovery
    endpoint = oauth2.token_url
    issuer: str | None = None
    found: Discovered | None = None
    if endpoint is None:
        found = await discover(ctx, settings, require_auth=False, for_token=True)
        endpoint, issuer = found.token_endpoint, found.issuer
        assert endpoint is not None
        # The endpoint came from the target's metadata: it passes the policy first.
        ResponseURLs(ctx, settings.url_policy).check(endpoint, AUTH_HOP, "token")
    form: list[tuple[str, str]] = [("grant_type", "client_credentials")]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    # What the curl replay must hide, as it appears in the form-encoded body.
    hidden: list[tuple[str, str]]
    if oauth2.auth_method == "private_key_jwt":
        assertion = _client_assertion(oauth2, endpoint, issuer)
        # A signed assertion is a credential until it expires: scrubbed like any other.
        ctx.http.redactor.add(assertion[-1][1])
        form += assertion
        hidden = [("OAUTH_CLIENT_ASSERTION", quote_plus(assertion[-1][1]))]
    else:
        assert oauth2.client_secret is not None  # the config requires it for these methods
        secret = oauth2.client_secret.reveal()
        hidden = [("OAUTH_CLIENT_SECRET", quote_plus(secret))]
        if oauth2.auth_method == "client_secret_basic":
            # RFC 6749 section 2.3.1: both parts form-encoded before Base64.
            pair = f"{quote(oauth2.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form += [("client_id", oauth2.client_id), ("client_secret", secret)]
    scope = _requested_scope(ctx, oauth2, found)
    if scope:
        form.append(("scope", scope))
    if oauth2.send_resource:
        form.append(("resource", oauth2.resource or canonical_resource(ctx.target)))
    body = urlencode(form).encode()
    with oauth_step(ctx, "token", AUTH_HOP):
        ctx.record_request("POST", endpoint, headers, body, "token", secrets=hidden)
        response = await ctx.http.request(
            "POST", endpoint, headers=headers, body=body, hop=AUTH_HOP, phase="token"
        )
        try:
            raw = await response.read()
        finally:
            await response.aclose()
        token, lifetime = _token_from(ctx, response.status, raw)
    ctx.hops[AUTH_HOP] = True
    margin = min(EXPIRY_MARGIN, lifetime / 10)
    ctx.log.info(
        "token issued", auth_method=oauth2.auth_method, expires_in_seconds=round(lifetime, 1)
    )
    return CachedToken(token, time.monotonic() + lifetime - margin, endpoint)


def _requested_scope(
    ctx: ProbeContext, oauth2: OAuth2ClientCredentials, found: Discovered | None
) -> str | None:
    """The configured scopes; unset, the MCP specification's scope selection from what
    discovery saw: the 401 challenge's scope, else all of the protected resource's
    scopes_supported, else no scope parameter."""
    if oauth2.scopes is not None:
        return " ".join(oauth2.scopes)
    if found is None:
        return None
    # Both come from the target: only well-formed scope tokens, within a sane length, are sent.
    if found.challenge is not None and found.challenge.scope:
        scope = " ".join(found.challenge.scope.split())
        if _valid_scope(scope):
            ctx.note(f"requested the scope the server challenged for: {scope!r}")
            return scope
        ctx.note("the challenge's scope is not a valid scope list; trying scopes_supported")
    supported = (found.protected_resource or {}).get("scopes_supported")
    if isinstance(supported, list) and supported and all(isinstance(s, str) for s in supported):
        scope = " ".join(supported)
        if _valid_scope(scope):
            ctx.note(f"requested the protected resource's scopes_supported: {scope[:200]!r}")
            return scope
        ctx.note("scopes_supported is not a valid scope list; no scope requested")
    return None


def _valid_scope(scope: str) -> bool:
    return len(scope) <= 1000 and all(_SCOPE_TOKEN_RE.match(token) for token in scope.split(" "))


def _client_assertion(
    oauth2: OAuth2ClientCredentials, endpoint: str, issuer: str | None
) -> list[tuple[str, str]]:
    """RFC 7523 section 2.2 form parameters: a fresh assertion for every token request."""
    audience = oauth2.assertion_audience
    if audience == "token_endpoint":
        audience = endpoint
    elif audience == "issuer":
        # Only reachable through discovery (the config refuses issuer with a token_url).
        assert issuer is not None
        audience = issuer
    assert oauth2.private_key is not None
    try:
        # Read at every request, as every secret file is, so that a rotated key takes effect.
        key = load_signing_key(oauth2.private_key.reveal(), oauth2.signing_algorithm)
    except (OSError, KeyError, ValueError) as exc:
        raise ProbeFailure(
            "exporter", "token", "internal", f"oauth2.private_key: {str(exc).strip(chr(39))}"
        ) from None
    assertion = client_assertion(
        client_id=oauth2.client_id,
        audience=audience,
        key=key,
        algorithm=oauth2.signing_algorithm,
        key_id=oauth2.key_id,
        lifetime=oauth2.assertion_lifetime,
    )
    return [
        ("client_id", oauth2.client_id),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ]


def _token_from(ctx: ProbeContext, status: int, raw: bytes) -> tuple[str, float]:
    gauges = oauth_state(ctx)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        doc = {}
    if status != 200 or "error" in doc:
        code = doc.get("error")
        label = code if code in TOKEN_ERRORS else (NO_ERROR_CODE if code is None else "other")
        gauges.token_error = label
        description = doc.get("error_description")
        detail = f"the token endpoint answered {status}"
        if isinstance(code, str):
            detail += f" with error {code[:64]!r}"
        if isinstance(description, str):
            detail += f": {' '.join(description.split())[:200]}"
        raise ProbeFailure(AUTH_HOP, "token", "token_fetch_failed", detail)
    token = doc.get("access_token")
    token_type = doc.get("token_type")
    if not isinstance(token, str) or not token or any(not 0x21 <= ord(c) <= 0x7E for c in token):
        gauges.token_error = NO_ERROR_CODE
        raise ProbeFailure(
            AUTH_HOP, "token", "token_fetch_failed", "the token response has no usable access_token"
        )
    if isinstance(token_type, str) and token_type.lower() != "bearer":
        gauges.token_error = NO_ERROR_CODE
        raise ProbeFailure(
            AUTH_HOP,
            "token",
            "token_fetch_failed",
            f"the token type is {token_type[:32]!r}, not Bearer",
        )
    expires_in = doc.get("expires_in")
    # Within a float's range: 10**400 does not convert, and infinity is no lifetime.
    if (
        isinstance(expires_in, int | float)
        and not isinstance(expires_in, bool)
        and 0 < expires_in <= sys.float_info.max
    ):
        return token, float(expires_in)
    ctx.note(f"the token response has no expires_in; the token is reused for {DEFAULT_LIFETIME:g}s")
    return token, DEFAULT_LIFETIME


async def after_auth_failure(ctx: ProbeContext, failure: ProbeFailure) -> None:
    """What follows a 401/403 from the target: forget a rejected token, and run discovery when
    the module asks for it (its own failure becomes a note; the probe keeps the auth failure).

    Discovery starts from the challenge that answered the failed request (the MCP spec's MUST
    for its resource_metadata), never from a fresh request: that could be answered otherwise
    (an `initialize` let through, a gateway wanting its key) and would overwrite what the probe
    reports about the failure (its status, the hop's result)."""
    if failure.reason not in AUTH_REASONS:
        return
    settings = ctx.module.config_as(MCPModule).mcp
    if settings.oauth2 is not None and failure.reason == "token_rejected":
        forget_token(ctx)
    if not settings.discovery_on_auth_failure or ctx.discovery_ran:
        return
    ctx.discovery_ran = True
    hop, phase, status = ctx.hop, ctx.phase, ctx.last_status
    try:
        await discover(
            ctx,
            ctx.module.config_as(MCPModule).discovery,
            require_auth=True,
            for_token=False,
            received=ctx.auth_challenge,
        )
    except ProbeFailure as discovery_failure:
        if discovery_failure.hop != "exporter":
            ctx.hops[discovery_failure.hop] = False
        ctx.note(
            f"discovery after the auth failure: {discovery_failure.reason} at "
            f"{discovery_failure.hop}/{discovery_failure.phase}: {discovery_failure.detail}"
        )
    except (OSError, asyncio.IncompleteReadError) as exc:
        ctx.note(f"discovery after the auth failure could not connect: {type(exc).__name__}")
    else:
        ctx.note("discovery after the auth failure: the authorization metadata is healthy")
    finally:
        ctx.hop, ctx.phase, ctx.last_status = hop, phase, status
