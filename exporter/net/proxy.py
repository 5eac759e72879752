"""Which proxy, if any, carries a request: a module's proxy_url, or the environment's."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Proxies for one module, resolved once per config load."""

    # scheme of the target -> proxy URL without credentials (None: direct).
    proxies: Mapping[str, str | None]
    no_proxy: tuple[str, ...] = ()
    auth: tuple[str, str] | None = None

    def for_url(self, url: str) -> str | None:
        """The proxy URL for a request, or None to connect directly."""
        parts = urlsplit(url)
        proxy = self.proxies.get(parts.scheme.lower())
        if proxy is None:
            return None
        host = (parts.hostname or "").lower()
        if _bypassed(host, parts.port, self.no_proxy):
            return None
        return proxy


def split_credentials(proxy_url: str) -> tuple[str, tuple[str, str] | None]:
    """A proxy URL without userinfo, and the credentials it carried."""
    parts = urlsplit(proxy_url)
    if parts.username is None:
        return proxy_url, None
    netloc = parts.netloc.rpartition("@")[2]
    bare = parts._replace(netloc=netloc).geturl()
    return bare, (unquote(parts.username), unquote(parts.password or ""))


def from_environment(environ: Mapping[str, str] | None = None) -> ProxySettings:
    """HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY, in either case, as curl reads them."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name.lower()) or env.get(name.upper())
        return value.strip() or None if value else None

    auth: tuple[str, str] | None = None
    proxies: dict[str, str | None] = {}
    for scheme, names in (
        ("http", ("http_proxy", "all_proxy")),
        ("https", ("https_proxy", "all_proxy")),
    ):
        value = next((v for n in names if (v := get(n))), None)
        if value is None:
            proxies[scheme] = None
            continue
        if "://" not in value:
            value = f"http://{value}"
        bare, creds = split_credentials(value)
        proxies[scheme] = bare
        auth = auth or creds
    no_proxy = tuple(h.strip().lower() for h in (get("no_proxy") or "").split(",") if h.strip())
    return ProxySettings(proxies, no_proxy, auth)


def _bypassed(host: str, port: int | None, no_proxy: tuple[str, ...]) -> bool:
    """curl's NO_PROXY rules: `*`, exact names, domain suffixes (`.x` or `x`), IPs and CIDRs."""
    for entry in no_proxy:
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and port is not None and entry_port != str(port):
            continue
        name = name.strip("[]")
        try:
            network = ipaddress.ip_network(name, strict=False)
        except ValueError:
            network = None
        if network is not None:
            try:
                if ipaddress.ip_address(host.strip("[]")) in network:
                    return True
            except ValueError:
                pass
            continue
        suffix = name.lstrip(".")
        if host == suffix or host.endswith("." + suffix):
            return True
    return False
