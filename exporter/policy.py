"""Target policy: which URLs and addresses a probe may reach.

An exporter that takes `?target=` from its query string is an SSRF surface. Rules are checked
before DNS (scheme, host, port) and again for every address a connection goes to (after DNS, and
on every redirect), so a name that resolves to a forbidden address is refused without a request.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from .probers.failure import ProbeFailure

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Link-local ranges hold the cloud metadata services (169.254.169.254, fd00:ec2::254 sits in
# fc00::/7 so it is listed explicitly, Alibaba's 100.100.100.200).
LINK_LOCAL_AND_METADATA: Final[tuple[IPNetwork, ...]] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),
)


# RFC 6761 section 6.3: `localhost` and every name under it are loopback names; resolvers
# should answer them with loopback addresses only. Labels are LDH (an odd byte is no such name).
_LOCALHOST_NAME: Final = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*localhost\.?$")


def is_localhost_name(host: str) -> bool:
    """`localhost` or a name under it (RFC 6761), case-insensitively, trailing dot allowed."""
    return len(host) <= 253 and _LOCALHOST_NAME.match(host.lower()) is not None


def is_loopback_host(host: str) -> bool:
    """A loopback address written as an address (127.0.0.0/8, ::1) or a localhost name.

    A name only says where the connection should go; the address check of every connection
    (`TargetPolicy.check_address`) refuses a localhost name that resolves to anything else.
    """
    if is_localhost_name(host):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Rule:
    """Matches when every field that is set matches (an empty rule matches everything)."""

    hosts: tuple[str, ...] = ()
    cidrs: tuple[IPNetwork, ...] = ()
    schemes: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()

    def matches_url(self, scheme: str, host: str, port: int) -> bool | None:
        """True/False on what can be told before DNS; None if it depends on the address."""
        if self.schemes and scheme not in self.schemes:
            return False
        if self.ports and port not in self.ports:
            return False
        if self.hosts and not any(fnmatch.fnmatchcase(host, p) for p in self.hosts):
            return False
        if self.cidrs:
            return None
        return True

    def matches(self, scheme: str, host: str, port: int, ip: str) -> bool:
        """Whether the rule matches a connection to `ip`."""
        verdict = self.matches_url(scheme, host, port)
        if verdict is not None:
            return verdict
        address = ipaddress.ip_address(ip)
        return any(address in net for net in self.cidrs)


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Deny rules win; if allow rules exist, one of them must match."""

    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()
    allow_link_local: bool = False

    def check_url(self, url: str) -> None:
        """Refuse what is decidable from the URL alone (before any DNS query)."""
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or (443 if scheme == "https" else 80)
        for rule in self.deny:
            if rule.matches_url(scheme, host, port) is True:
                _refuse(url, "matches a deny rule")
        if self.allow and all(rule.matches_url(scheme, host, port) is False for rule in self.allow):
            _refuse(url, "matches no allow rule")
        literal = _literal_ip(host)
        if literal is not None:
            self.check_address(url, host, literal, port)

    def check_address(self, url: str, host: str, ip: str, port: int) -> None:
        """Refuse a connection to `ip` (called for every resolved address and redirect)."""
        scheme = urlsplit(url).scheme.lower()
        host = host.lower()
        address = ipaddress.ip_address(ip)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
            ip = str(address)
        if not self.allow_link_local and any(address in net for net in LINK_LOCAL_AND_METADATA):
            _refuse(url, f"resolves to link-local or metadata address {ip}")
        # Whatever let a localhost name through (url_policy.allow_http_loopback, a token_url over
        # http) relied on it being loopback: a resolver that says otherwise is not believed.
        if is_localhost_name(host) and not address.is_loopback:
            _refuse(
                url,
                f"{host} is a localhost name (RFC 6761) but resolves to {ip}, "
                "which is not a loopback address",
            )
        for rule in self.deny:
            if rule.matches(scheme, host, port, ip):
                _refuse(url, f"address {ip} matches a deny rule")
        if self.allow and not any(rule.matches(scheme, host, port, ip) for rule in self.allow):
            _refuse(url, f"address {ip} matches no allow rule")


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def _refuse(url: str, why: str) -> None:
    shown = urlsplit(url)
    raise ProbeFailure(
        "exporter",
        "policy",
        "target_not_allowed",
        f"{shown.scheme}://{shown.netloc}{shown.path} refused by target policy: {why}",
    )


@dataclass(frozen=True, slots=True)
class PolicyChain:
    """Policies that must all accept: the global one, then the module's (which narrows it)."""

    policies: tuple[TargetPolicy, ...]
    # A verdict depends only on (scheme, host, port[, ip]), so acceptances are remembered: every
    # request of every probe to the same origin then skips the URL parsing and rule matching.
    # Refusals are not cached (they raise). A reload builds a new chain and so a new cache.
    _accepted: set[tuple[str, str, int, str]] = field(
        default_factory=set, compare=False, repr=False
    )

    def check_url(self, url: str) -> None:
        """See TargetPolicy.check_url."""
        parts = urlsplit(url)
        key = (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or 0, "")
        if key in self._accepted:
            return
        for policy in self.policies:
            policy.check_url(url)
        self._remember(key)

    def check_address(self, url: str, host: str, ip: str, port: int) -> None:
        """See TargetPolicy.check_address."""
        key = (url.partition(":")[0].lower(), host.lower(), port, ip)
        if key in self._accepted:
            return
        for policy in self.policies:
            policy.check_address(url, host, ip, port)
        self._remember(key)

    def _remember(self, key: tuple[str, str, int, str]) -> None:
        if len(self._accepted) >= 65536:
            self._accepted.clear()
        self._accepted.add(key)


def rule(
    hosts: Sequence[str] = (),
    cidrs: Sequence[str] = (),
    schemes: Sequence[str] = (),
    ports: Sequence[int] = (),
) -> Rule:
    """Build a rule from config values (CIDRs already validated)."""
    return Rule(
        hosts=tuple(h.lower() for h in hosts),
        cidrs=tuple(ipaddress.ip_network(c, strict=False) for c in cidrs),
        schemes=tuple(s.lower() for s in schemes),
        ports=tuple(ports),
    )
