"""URLs a target handed out, checked against a `url_policy` and fetched within it.

A target's responses name further URLs: the challenge's `resource_metadata`, the protected
resource's `authorization_servers`, redirects, endpoints in metadata, the upstream URL a LiteLLM
gateway reports. Each is an address the target chose, so before it is requested it must pass the
policy (discovery's, or the LiteLLM direct probe's): https, plain http only to loopback with
`allow_http_loopback`, and `allowed_hosts`. `ResponseURLs.get_json` fetches a metadata document
within the probe's budget of `max_fetches`, following redirects one checked hop at a time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

from ..config import ResponseURLPolicy
from ..policy import is_loopback_host
from ..untrusted import loads
from .context import ProbeContext
from .failure import Hop, ProbeFailure
from .oauth_metrics import oauth_state

_REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Fetched:
    """One metadata fetch: the final URL and status, and the JSON object or why there is none."""

    url: str
    status: int | None
    document: dict[str, Any] | None
    problem: str


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
        shown = shown_url(url)
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
                f"{shown_url(url)}: more than {self.policy.max_fetches} fetches in one probe "
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
                    ctx.log.debug("metadata redirect", url=shown_url(url), status=response.status)
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
                document = loads(body)
            except (ValueError, RecursionError):
                return Fetched(
                    url, 200, None, f"not JSON (content type {response.content_type or 'none'})"
                )
            if not isinstance(document, dict):
                return Fetched(url, 200, None, "not a JSON object")
            return Fetched(url, 200, document, "")
        return Fetched(url, None, None, f"more than {self.max_redirects} redirects")


def shown_url(url: str) -> str:
    """A URL for logs: no query string or user info."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))[:300]
    except ValueError:
        return "<invalid URL>"
