"""The OAuth metadata rules of MCP authorization discovery, apart from fetching.

Where the documents are looked for (RFC 9728's protected-resource URLs, the 2025-11-25 order of
RFC 8414 and OpenID Connect authorization-server URLs), how a resource is compared with the target
(RFC 8707's canonical form), and what a client checks in each document before trusting it: the
protected resource's `resource` and `authorization_servers`, the authorization server's required
fields, its `issuer` and its endpoints' schemes, and the PKCE and registration it advertises. A
failed check raises the `ProbeFailure` discovery reports; what was observed is recorded on the
probe's OAuth findings for the probe_oauth_* metrics.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ..config import DiscoveryProber
from .context import ProbeContext
from .failure import AUTH_HOP, Hop, ProbeFailure
from .oauth_metrics import oauth_state
from .response_urls import Fetched, ResponseURLs, shown_url

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


def check_protected_resource(
    ctx: ProbeContext, settings: DiscoveryProber, fetched: Fetched, hop: Hop
) -> dict[str, Any]:
    """Check RFC 9728 metadata as a client would before trusting it; returns the document.

    It needs a `resource` that matches the target (by prefix only if discovery.resource_match
    allows it) and at least one authorization server, of which discovery checks the first.
    """
    doc = fetched.document
    assert doc is not None
    where = f"protected-resource metadata at {shown_url(fetched.url)}"
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
            f"{where}: resource {shown_url(resource)} does not match the target "
            f"{shown_url(ctx.target)} (discovery.resource_match: {settings.resource_match})",
        )
    if match == "prefix":
        ctx.note(f"resource {shown_url(resource)} matches the target by prefix only")
    if len(servers) > 1:
        ctx.note(f"{len(servers)} authorization servers listed; the first one was checked")
    return doc


def check_authorization_server(
    ctx: ProbeContext, urls: ResponseURLs, doc: dict[str, Any], issuer: str, *, legacy: bool
) -> str:
    """Check authorization-server metadata: its required fields, the issuer it names against
    the one it was found under, and every endpoint's scheme. Returns the issuer it names."""
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
            ctx.note(f"the metadata at the server's origin names issuer {shown_url(stated)!r}")
        issuer = stated
    elif not isinstance(stated, str) or not _same_issuer(stated, issuer):
        raise ProbeFailure(
            AUTH_HOP,
            phase,
            "metadata_invalid",
            f"authorization-server metadata names issuer {str(stated)[:200]!r}, "
            f"not {shown_url(issuer)!r} under which it was found",
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
                f"{name} {shown_url(str(value))} is refused: {why}",
            )
    return issuer


def _same_issuer(a: str, b: str) -> bool:
    # RFC 8414 wants identical strings; a trailing slash on a path-less issuer is how URL
    # libraries (pydantic's AnyHttpUrl among them) print it, so it is not a mismatch.
    return a == b or (a.rstrip("/") == b.rstrip("/") and not urlsplit(a).path.strip("/"))


def _below_origin(url: str, origin: str) -> bool:
    """Whether `url` has the scheme and authority of `origin`."""
    try:
        a, b = urlsplit(url), urlsplit(origin)
        return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())
    except ValueError:
        return False


def check_capabilities(
    ctx: ProbeContext, settings: DiscoveryProber, doc: dict[str, Any], for_token: bool
) -> None:
    """Record the PKCE and client registration the authorization server advertises, and fail
    a module that requires them (not when the metadata is wanted only for a token)."""
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
